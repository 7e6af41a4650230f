//! Line charts: series with optional confidence bands, reference lines,
//! linear/log axes, and a legend and an annotation box placed where they
//! hide the least data.

use plotters::prelude::*;

use super::axes::{plot_top, Axes, Frame};
use super::geometry::{place_boxes, split_runs, Bounds, Occupancy};
use super::legend::{Legend, LegendEntry, MarkerStyle, Pen, Px, MARKER_CYCLE};
use super::style::{palette_color, Style, REF_LINE};
use super::ticks::padded_range;
use super::{display_name, extent, Area, Figure, PlotError};

/// A 2-D line chart written as SVG and PNG by [`LineChart::render`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineChart {
    pub axes: Axes,
    /// Data series, drawn in order (later on top).
    pub series: Vec<Series>,
    pub ref_lines: Vec<RefLine>,
    /// Lines of a boxed annotation (e.g. `"fitted order 1.002 ± 0.003"`).
    pub annotations: Vec<String>,
}

/// How a series is drawn: solid or dashed line, markers only (one per
/// point), or a solid line with markers (thinned to at most ~20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineKind {
    #[default]
    Solid,
    Dashed,
    MarkersOnly,
    LineAndMarkers,
}

/// One data series of a [`LineChart`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// Abscissae and ordinates, of equal length.
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// Optional shaded band `(lower, upper)`, each the same length as `xs`.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    pub kind: LineKind,
    /// Palette colour index; `None` uses the series' position in the chart.
    /// Series with markers also take their marker shape from this index.
    pub color_index: Option<usize>,
}

impl Series {
    /// A solid-line series.
    pub fn new(label: impl Into<String>, xs: Vec<f64>, ys: Vec<f64>) -> Self {
        Series {
            label: label.into(),
            xs,
            ys,
            ..Default::default()
        }
    }

    /// Adds a shaded band between `lower` and `upper`.
    pub fn with_band(mut self, lower: Vec<f64>, upper: Vec<f64>) -> Self {
        self.band = Some((lower, upper));
        self
    }

    pub fn with_kind(mut self, kind: LineKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn with_color(mut self, color_index: usize) -> Self {
        self.color_index = Some(color_index);
        self
    }
}

/// A horizontal reference line spanning the whole chart (shown in the legend).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefLine {
    /// Legend label (empty: not in the legend), ordinate, dashed or solid.
    pub label: String,
    pub y: f64,
    pub dashed: bool,
}

impl RefLine {
    pub fn new(label: impl Into<String>, y: f64, dashed: bool) -> Self {
        RefLine {
            label: label.into(),
            y,
            dashed,
        }
    }
}

/// A series in drawing space: its legend entry (which holds its pen and
/// marker), every how many points the marker is drawn, and runs of finite
/// points and of its band `(x, lower, upper)`, lower = -inf meaning "below the axis".
struct PSeries {
    entry: LegendEntry,
    color: RGBColor,
    every: usize,
    runs: Vec<Vec<(f64, f64)>>,
    band_runs: Vec<Vec<(f64, f64, f64)>>,
}

/// Validated input in drawing space.
struct Prepared {
    series: Vec<PSeries>,
    refs: Vec<RefLine>,
}

impl LineChart {
    fn prepare(&self, style: &Style) -> Result<Prepared, PlotError> {
        if self.series.is_empty() {
            let what = match &self.axes.title[..] {
                "" => "line chart".to_string(),
                t => format!("line chart `{t}`"),
            };
            return Err(PlotError::NothingToPlot { what });
        }
        let (axes, sy) = (&self.axes, self.axes.y_scale);
        let mut series = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            let name = display_name(&s.label, i);
            if s.xs.is_empty() {
                return Err(PlotError::EmptySeries { label: name });
            }
            let same_len = |what, found| match found == s.xs.len() {
                true => Ok(()),
                false => Err(PlotError::LengthMismatch {
                    what: format!("series `{name}`: {what} vs xs"),
                    expected: s.xs.len(),
                    found,
                }),
            };
            same_len("ys", s.ys.len())?;
            let pts = s.xs.iter().zip(&s.ys);
            let runs = split_runs(pts.map(|(&x, &y)| axes.forward((x, y))));
            if runs.is_empty() {
                let what = format!("series `{name}`");
                return Err(PlotError::NoFiniteData { what });
            }
            let mut band_runs = vec![];
            if let Some((lo, hi)) = &s.band {
                same_len("band lower", lo.len())?;
                same_len("band upper", hi.len())?;
                let b = s.xs.iter().zip(lo.iter().zip(hi)).map(|(&x, (&l, &h))| {
                    let (x, h) = axes.forward((x, h))?;
                    // A finite lower end that is <= 0 on a log axis: below the axis.
                    let l = sy
                        .forward(l)
                        .or(l.is_finite().then_some(f64::NEG_INFINITY))?;
                    Some((x, l.min(h), h.max(l)))
                });
                band_runs = split_runs(b);
            }
            let ci = s.color_index.unwrap_or(i);
            let color = palette_color(ci);
            let n: usize = runs.iter().map(Vec::len).sum();
            let pen = Some(Pen::new(color, s.kind == LineKind::Dashed, false));
            let (line, every) = match s.kind {
                LineKind::MarkersOnly => (None, 1),
                LineKind::LineAndMarkers => (pen, n.div_ceil(20).max(1)),
                _ => (pen, 0),
            };
            let marker = (every > 0).then_some(MarkerStyle {
                shape: MARKER_CYCLE[ci % MARKER_CYCLE.len()],
                radius: style.len(style.marker_size),
                fill: color,
                edge: color,
            });
            let mut entry = LegendEntry::new(&s.label, line, marker);
            entry.band_alpha = (s.band.is_some() && line.is_some()).then_some(style.band_alpha);
            series.push(PSeries {
                entry,
                color,
                every,
                runs,
                band_runs,
            });
        }
        let mut refs = vec![];
        for r in &self.ref_lines {
            let (l, y) = (&r.label, r.y);
            let bad = format!("reference line `{l}` at y = {y} cannot be shown on a {sy:?} axis");
            let y = sy.forward(y).ok_or(PlotError::InvalidInput(bad))?;
            refs.push(RefLine { y, ..r.clone() });
        }
        Ok(Prepared { series, refs })
    }

    /// Where the data lies in the plotting area normalised to the unit
    /// square: bands weigh less than lines, markers and reference lines.
    fn occupancy(prep: &Prepared, xr: (f64, f64), yr: (f64, f64)) -> Occupancy {
        let mut occ = Occupancy::new(80, 56);
        let u = |x: f64| (x - xr.0) / (xr.1 - xr.0);
        let v = |y: f64| (y.max(yr.0) - yr.0) / (yr.1 - yr.0);
        let band_windows = prep.series.iter().flat_map(|s| &s.band_runs);
        for w in band_windows.flat_map(|r| r.windows(2)) {
            let du = (u(w[1].0) - u(w[0].0)).abs();
            let n = (du * 160.0).ceil().clamp(1.0, 400.0) as usize;
            for k in 0..=n {
                let t = k as f64 / n as f64;
                let x = w[0].0 + t * (w[1].0 - w[0].0);
                let lo = w[0].1.max(yr.0) + t * (w[1].1.max(yr.0) - w[0].1.max(yr.0));
                let hi = w[0].2 + t * (w[1].2 - w[0].2);
                occ.mark_segment((u(x), v(lo)), (u(x), v(hi)), 0.3);
            }
        }
        for s in &prep.series {
            for r in &s.runs {
                for w in r.windows(2).filter(|_| s.entry.line.is_some()) {
                    occ.mark_segment((u(w[0].0), v(w[0].1)), (u(w[1].0), v(w[1].1)), 1.0);
                }
                for (a, b) in r.iter().map(|&(x, y)| (u(x), v(y))) {
                    // A small cross: the point and its marker.
                    occ.mark_segment((a - 0.01, b), (a + 0.01, b), 1.0);
                    occ.mark_segment((a, b - 0.015), (a, b + 0.015), 1.0);
                }
            }
        }
        for r in &prep.refs {
            occ.mark_segment((0.0, v(r.y)), (1.0, v(r.y)), 1.0);
        }
        occ
    }

    /// The plot frame, and the legend and annotation box with their
    /// placement; when they would hide data, the y range grows upwards to
    /// make room above the data if that helps enough.
    fn layout(&self, prep: &Prepared, style: &Style) -> (Frame, Vec<(Vec<LegendEntry>, Bounds)>) {
        let top = plot_top(style, !self.axes.title.is_empty());
        let m = style.len(style.margin);
        let margins = (top, m / 2 + style.px(2.0), m + style.px(6.0));
        let bands = prep.series.iter().flat_map(|s| &s.band_runs).flatten();
        let pts = prep.series.iter().flat_map(|s| &s.runs).flatten();
        let x_ext = extent(pts.clone().map(|p| p.0).chain(bands.clone().map(|b| b.0)));
        let ys = pts.map(|p| p.1).chain(prep.refs.iter().map(|r| r.y));
        let y_ext = extent(ys.chain(bands.flat_map(|b| [b.1, b.2])));
        let xr = padded_range(x_ext.0, x_ext.1, self.axes.x_scale, 0.03);
        let yr = padded_range(y_ext.0, y_ext.1, self.axes.y_scale, 0.06);
        let size = (style.len(style.width), style.len(style.height));
        let fit = |yr| Frame::fit(style, size, margins, &self.axes, (xr, yr));
        let mut frame = fit(yr);

        let refs = prep.refs.iter().map(|r| {
            let pen = Pen::new(REF_LINE, r.dashed, false);
            LegendEntry::new(&r.label, Some(pen), None)
        });
        let legend = prep.series.iter().map(|s| s.entry.clone()).chain(refs);
        let note = |a: &String| LegendEntry::new(a, None, None);
        let legend: Vec<_> = legend.filter(|e| !e.label.is_empty()).collect();
        let mut boxes = vec![legend, self.annotations.iter().map(note).collect()];
        boxes.retain(|b: &Vec<_>| !b.is_empty());
        let (pw, ph) = frame.plot_size();
        let unit = |(w, h): Px| (w as f64 / pw as f64, h as f64 / ph as f64);
        let pad = style.px(9.0);
        let spec = |b: &Vec<_>| (unit(Legend::flow(b, None, style).size), unit((pad, pad)));
        let specs: Vec<_> = boxes.iter().map(spec).collect();
        let (mut placed, cost) = place_boxes(&Self::occupancy(prep, xr, yr), &specs);
        // One covered cell is the box's own padding touching a line: tolerated.
        let need = specs.iter().map(|(size, pad)| size.1 + 1.5 * pad.1);
        let need = need.fold(0.0, f64::max);
        if cost > 1.0 && !specs.is_empty() && need < 0.6 {
            let yr2 = (yr.0, yr.0 + (yr.1 - yr.0) / (1.0 - need));
            let (placed2, cost2) = place_boxes(&Self::occupancy(prep, xr, yr2), &specs);
            if cost2 < 0.5 * cost {
                (frame, placed) = (fit(yr2), placed2);
            }
        }
        (frame, boxes.into_iter().zip(placed).collect())
    }
}

impl Figure for LineChart {
    fn dims(&self, style: &Style) -> (u32, u32) {
        let len = |v| style.len(v) as u32;
        (len(style.width), len(style.height))
    }

    /// Draws the chart. Nothing needs clipping: the ranges hold all the data.
    fn draw(&self, root: &Area, _: &mut String, style: &Style) -> Result<(), PlotError> {
        let prep = self.prepare(style)?;
        let (frame, boxes) = self.layout(&prep, style);
        let chart = frame.chart(root, true, style)?;
        let to_px = |p: (f64, f64)| -> Px { chart.backend_coord(&p) };
        let (xr, yr) = (frame.xr, frame.yr);
        for s in &prep.series {
            let fill = s.color.mix(style.band_alpha).filled();
            for r in s.band_runs.iter().filter(|r| r.len() > 1) {
                let at = |x, y: f64| to_px((x, y.clamp(yr.0, yr.1)));
                let mut poly: Vec<Px> = r.iter().map(|&(x, _, h)| at(x, h)).collect();
                poly.extend(r.iter().rev().map(|&(x, l, _)| at(x, l)));
                root.draw(&Polygon::new(poly, fill))?;
            }
        }
        for r in &prep.refs {
            let pen = Pen::new(REF_LINE, r.dashed, false);
            pen.draw(root, &[to_px((xr.0, r.y)), to_px((xr.1, r.y))], style)?;
        }
        for (s, pen) in prep.series.iter().filter_map(|s| Some((s, s.entry.line?))) {
            for r in &s.runs {
                if let [p] = r[..] {
                    // An isolated point of a line series: show it as a dot.
                    let rad = (style.len(style.line_width) + style.px(1.0)).max(2);
                    root.draw(&Circle::new(to_px(p), rad, s.color.filled()))?;
                }
                let pts: Vec<Px> = r.iter().map(|&p| to_px(p)).collect();
                pen.draw(root, &pts, style)?;
            }
        }
        for s in &prep.series {
            if let Some(m) = s.entry.marker {
                for &p in s.runs.iter().flatten().step_by(s.every) {
                    m.draw(root, to_px(p), style)?;
                }
            }
        }
        frame.close(root, &chart, style)?;
        let (px_x, px_y) = chart.plotting_area().get_pixel_range();
        let (pw, ph) = (px_x.end - px_x.start, px_y.end - px_y.start);
        for (entries, ((u0, _), (_, v1))) in &boxes {
            let x = px_x.start + (*u0 * pw as f64).round() as i32;
            let y = px_y.end - (*v1 * ph as f64).round() as i32;
            Legend::flow(entries, None, style).draw(root, (x, y), style)?;
        }
        Ok(())
    }
}
