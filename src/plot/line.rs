//! Line charts: series with optional confidence bands, reference lines,
//! linear/log axes, automatic legend placement and an annotation box.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::axes::{self, Margins};
use super::geometry::{clip_polyline, place_boxes, split_runs, Bounds, Occupancy, Placed};
use super::legend::{
    draw_legend_box, draw_title, legend_box_size, Glyph, LegendEntry, MarkerShape, MarkerStyle,
    Pen, Px, MARKER_CYCLE,
};
use super::style::{palette_color, Style, REF_LINE};
use super::ticks::{padded_range, Ticks};
use super::{check_len, display_name, draw_err, write_figure, Area, AxisScale, PlotError};

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineKind {
    /// Solid line.
    #[default]
    Solid,
    /// Dashed line.
    Dashed,
    /// Markers only, one per point.
    MarkersOnly,
    /// Solid line with markers (thinned to at most ~20 markers).
    LineAndMarkers,
}

/// One data series of a [`LineChart`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend label (series with an empty label are left out of the legend).
    pub label: String,
    /// Abscissae.
    pub xs: Vec<f64>,
    /// Ordinates (same length as `xs`).
    pub ys: Vec<f64>,
    /// Optional shaded band `(lower, upper)`, each the same length as `xs`.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    /// Line / marker style.
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

    /// Sets the line kind.
    pub fn with_kind(mut self, kind: LineKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the palette colour index.
    pub fn with_color(mut self, color_index: usize) -> Self {
        self.color_index = Some(color_index);
        self
    }
}

/// A horizontal reference line spanning the whole chart (shown in the legend).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefLine {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// Ordinate of the line.
    pub y: f64,
    /// Dashed (true) or solid (false).
    pub dashed: bool,
}

impl RefLine {
    /// A reference line at `y`.
    pub fn new(label: impl Into<String>, y: f64, dashed: bool) -> Self {
        RefLine {
            label: label.into(),
            y,
            dashed,
        }
    }
}

/// A 2-D line chart written as SVG and PNG by [`LineChart::render`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineChart {
    /// Title above the plot (may be empty).
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Scale of the x axis.
    pub x_scale: AxisScale,
    /// Scale of the y axis.
    pub y_scale: AxisScale,
    /// Data series, drawn in order (later on top).
    pub series: Vec<Series>,
    /// Horizontal reference lines.
    pub ref_lines: Vec<RefLine>,
    /// Lines of text shown in a boxed corner annotation
    /// (e.g. `"fitted order 1.002 ± 0.003"`).
    pub annotations: Vec<String>,
}

struct PSeries {
    label: String,
    color: RGBColor,
    kind: LineKind,
    shape: MarkerShape,
    runs: Vec<Vec<(f64, f64)>>,
    /// (x, lower, upper) in drawing space; lower = -inf means "below the axis".
    band_runs: Vec<Vec<(f64, f64, f64)>>,
    has_band: bool,
}

impl PSeries {
    fn marker(&self, style: &Style) -> MarkerStyle {
        MarkerStyle {
            shape: self.shape,
            radius: style.marker_size as i32,
            fill: self.color,
            edge: self.color,
        }
    }
}

struct PRef {
    label: String,
    y: f64,
    dashed: bool,
}

struct Prepared {
    series: Vec<PSeries>,
    refs: Vec<PRef>,
    /// Raw (unpadded) data extent in drawing space.
    x_ext: (f64, f64),
    y_ext: (f64, f64),
}

struct Layout {
    margins: Margins,
    xr: (f64, f64),
    yr: (f64, f64),
    x_ticks: Ticks,
    y_ticks: Ticks,
    /// Legend and annotation box with their placement (normalised, y up).
    boxes: Vec<(Vec<LegendEntry>, Placed)>,
}

fn extend(ext: &mut (f64, f64), v: f64) {
    if v.is_finite() {
        ext.0 = ext.0.min(v);
        ext.1 = ext.1.max(v);
    }
}

impl LineChart {
    /// Renders with [`Style::default`] to `stem.svg` and `stem.png`
    /// (creating the parent directory if needed); returns both paths.
    pub fn render(&self, path_stem: impl AsRef<Path>) -> Result<Vec<PathBuf>, PlotError> {
        self.render_with_style(path_stem, &Style::default())
    }

    /// Renders with an explicit [`Style`].
    pub fn render_with_style(
        &self,
        path_stem: impl AsRef<Path>,
        style: &Style,
    ) -> Result<Vec<PathBuf>, PlotError> {
        let prep = self.prepare()?;
        let dims = (style.width, style.height);
        write_figure(path_stem.as_ref(), dims, style, |root, _, st| {
            self.draw(root, &prep, &self.layout(&prep, st), st)
        })
    }

    fn what(&self) -> String {
        if self.title.is_empty() {
            "line chart".to_string()
        } else {
            format!("line chart `{}`", self.title)
        }
    }

    fn prepare(&self) -> Result<Prepared, PlotError> {
        if self.series.is_empty() {
            return Err(PlotError::NothingToPlot { what: self.what() });
        }
        let (xs_, ys_) = (self.x_scale, self.y_scale);
        let mut x_ext = (f64::INFINITY, f64::NEG_INFINITY);
        let mut y_ext = (f64::INFINITY, f64::NEG_INFINITY);
        let mut series = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            let name = display_name(&s.label, i);
            if s.xs.is_empty() {
                return Err(PlotError::EmptySeries { label: name });
            }
            check_len(
                &format!("series `{name}`: ys vs xs"),
                s.xs.len(),
                s.ys.len(),
            )?;
            let pts: Vec<Option<(f64, f64)>> =
                s.xs.iter()
                    .zip(&s.ys)
                    .map(|(&x, &y)| Some((xs_.forward(x)?, ys_.forward(y)?)))
                    .collect();
            let runs = split_runs(pts.iter().copied());
            if runs.is_empty() {
                return Err(PlotError::NoFiniteData {
                    what: format!("series `{name}`"),
                });
            }
            for r in &runs {
                for &(x, y) in r {
                    extend(&mut x_ext, x);
                    extend(&mut y_ext, y);
                }
            }
            let mut band_runs = vec![];
            if let Some((lo, hi)) = &s.band {
                for (v, what) in [(lo, "band lower"), (hi, "band upper")] {
                    check_len(
                        &format!("series `{name}`: {what} vs xs"),
                        s.xs.len(),
                        v.len(),
                    )?;
                }
                let b = s.xs.iter().zip(lo.iter().zip(hi)).map(|(&x, (&l, &h))| {
                    let x = xs_.forward(x)?;
                    let h = ys_.forward(h)?;
                    let l = match ys_.forward(l) {
                        Some(l) => l,
                        None if l.is_finite() => f64::NEG_INFINITY, // <= 0 on log axis
                        None => return None,
                    };
                    Some((x, l.min(h), h.max(l)))
                });
                band_runs = split_runs(b);
                for r in &band_runs {
                    for &(x, l, h) in r {
                        extend(&mut x_ext, x);
                        extend(&mut y_ext, l);
                        extend(&mut y_ext, h);
                    }
                }
            }
            let ci = s.color_index.unwrap_or(i);
            series.push(PSeries {
                label: s.label.clone(),
                color: palette_color(ci),
                kind: s.kind,
                shape: MARKER_CYCLE[ci % MARKER_CYCLE.len()],
                runs,
                band_runs,
                has_band: s.band.is_some(),
            });
        }
        let mut refs = vec![];
        for r in &self.ref_lines {
            let y = ys_.forward(r.y).ok_or_else(|| {
                PlotError::InvalidInput(format!(
                    "reference line `{}` at y = {} cannot be shown on a {:?} axis",
                    r.label, r.y, ys_
                ))
            })?;
            extend(&mut y_ext, y);
            refs.push(PRef {
                label: r.label.clone(),
                y,
                dashed: r.dashed,
            });
        }
        Ok(Prepared {
            series,
            refs,
            x_ext,
            y_ext,
        })
    }

    fn occupancy(prep: &Prepared, xr: (f64, f64), yr: (f64, f64)) -> Occupancy {
        let mut occ = Occupancy::new(80, 56);
        let u = |x: f64| (x - xr.0) / (xr.1 - xr.0);
        let v = |y: f64| (y.max(yr.0) - yr.0) / (yr.1 - yr.0);
        for s in &prep.series {
            for r in &s.band_runs {
                for w in r.windows(2) {
                    let n = ((u(w[1].0) - u(w[0].0)).abs() * 160.0)
                        .ceil()
                        .clamp(1.0, 400.0) as usize;
                    for k in 0..=n {
                        let t = k as f64 / n as f64;
                        let x = w[0].0 + t * (w[1].0 - w[0].0);
                        let lo = w[0].1.max(yr.0) + t * (w[1].1.max(yr.0) - w[0].1.max(yr.0));
                        let hi = w[0].2 + t * (w[1].2 - w[0].2);
                        occ.mark_segment((u(x), v(lo)), (u(x), v(hi)), 0.3);
                    }
                }
            }
        }
        for s in &prep.series {
            for r in &s.runs {
                if s.kind != LineKind::MarkersOnly {
                    for w in r.windows(2) {
                        occ.mark_segment((u(w[0].0), v(w[0].1)), (u(w[1].0), v(w[1].1)), 1.0);
                    }
                }
                for &(x, y) in r {
                    let (a, b) = (u(x), v(y));
                    for (da, db) in [
                        (0.0, 0.0),
                        (0.01, 0.0),
                        (-0.01, 0.0),
                        (0.0, 0.015),
                        (0.0, -0.015),
                    ] {
                        occ.mark((a + da, b + db), 1.0);
                    }
                }
            }
        }
        for r in &prep.refs {
            occ.mark_segment((0.0, v(r.y)), (1.0, v(r.y)), 1.0);
        }
        occ
    }

    fn legend_entries(prep: &Prepared, style: &Style) -> Vec<LegendEntry> {
        let line = |color, dashed, marker, band: bool| Glyph::Line {
            pen: Pen::new(color, dashed, false, style),
            marker,
            band_alpha: band.then_some(style.band_alpha),
        };
        let series = prep.series.iter().map(|s| {
            let glyph = match s.kind {
                LineKind::MarkersOnly => Glyph::Marker(s.marker(style)),
                k => line(
                    s.color,
                    k == LineKind::Dashed,
                    (k == LineKind::LineAndMarkers).then_some(s.shape),
                    s.has_band,
                ),
            };
            (&s.label, glyph)
        });
        let refs = prep
            .refs
            .iter()
            .map(|r| (&r.label, line(REF_LINE, r.dashed, None, false)));
        series
            .chain(refs)
            .filter(|(label, _)| !label.is_empty())
            .map(|(label, glyph)| LegendEntry {
                label: label.clone(),
                glyph: Some(glyph),
            })
            .collect()
    }

    fn layout(&self, prep: &Prepared, style: &Style) -> Layout {
        let (w, h) = (style.width as i32, style.height as i32);
        let m = style.margin as i32;
        let top = axes::plot_top(style, axes::title_band(style, !self.title.is_empty()));
        let x_area = axes::x_area(style);
        let bottom = m / 2 + style.px(2.0);
        let left = m / 2 + style.px(2.0);
        let plot_h = (h - top - x_area - bottom).max(50);

        let xr = padded_range(prep.x_ext.0, prep.x_ext.1, self.x_scale, 0.03);
        let mut yr = padded_range(prep.y_ext.0, prep.y_ext.1, self.y_scale, 0.06);
        let y_ticks_for = |yr| axes::y_ticks(style, self.y_scale, yr, plot_h);
        // The right margin depends on the last x label, which depends on the
        // plot width: two rounds settle it.
        let x_layout = |y_ticks: &Ticks| {
            let y_area = axes::y_area(style, axes::label_width(style, y_ticks));
            let mut right = m + style.px(6.0);
            let mut x_ticks = Ticks::default();
            for _ in 0..2 {
                let plot_w = (w - left - y_area - right).max(50);
                x_ticks = axes::x_ticks(style, self.x_scale, xr, plot_w);
                right = right.max(axes::x_overhang(style, &x_ticks, xr, plot_w));
            }
            (y_area, right, x_ticks)
        };

        let mut y_ticks = y_ticks_for(yr);
        let (mut y_area, mut right, mut x_ticks) = x_layout(&y_ticks);

        // Legend and annotation placement.
        let notes = self
            .annotations
            .iter()
            .map(|a| LegendEntry::text(a))
            .collect();
        let mut boxes: Vec<Vec<LegendEntry>> = vec![Self::legend_entries(prep, style), notes];
        boxes.retain(|b| !b.is_empty());
        let plot_w = (w - left - y_area - right).max(50) as f64;
        let pad = style.px(9.0) as f64;
        let specs: Vec<_> = boxes
            .iter()
            .map(|b| {
                let (bw, bh) = legend_box_size(b, style);
                let size = (bw as f64 / plot_w, bh as f64 / plot_h as f64);
                (size, (pad / plot_w, pad / plot_h as f64))
            })
            .collect();
        let (mut placed, cost) = place_boxes(&Self::occupancy(prep, xr, yr), &specs);
        // One covered cell is the box's own padding touching a line: tolerated.
        if cost > 1.0 && !specs.is_empty() {
            // Try making head-room above the data for the boxes.
            let need = specs
                .iter()
                .map(|(size, pad)| size.1 + 1.5 * pad.1)
                .fold(0.0, f64::max);
            if need < 0.6 {
                let yr2 = (yr.0, yr.0 + (yr.1 - yr.0) / (1.0 - need));
                let (placed2, cost2) = place_boxes(&Self::occupancy(prep, xr, yr2), &specs);
                if cost2 < 0.5 * cost {
                    yr = yr2;
                    placed = placed2;
                    y_ticks = y_ticks_for(yr);
                    (y_area, right, x_ticks) = x_layout(&y_ticks);
                }
            }
        }
        Layout {
            margins: Margins {
                top,
                bottom,
                left,
                right,
                x_area,
                y_area,
            },
            xr,
            yr,
            x_ticks,
            y_ticks,
            boxes: boxes.into_iter().zip(placed).collect(),
        }
    }

    fn draw(
        &self,
        root: &Area,
        prep: &Prepared,
        lay: &Layout,
        style: &Style,
    ) -> Result<(), PlotError> {
        let (xr, yr) = (lay.xr, lay.yr);
        let ticks = (&lay.x_ticks, &lay.y_ticks);
        let mut chart = axes::build(root, &lay.margins, (xr, yr), ticks)?;
        let labels = (self.x_label.as_str(), self.y_label.as_str());
        axes::draw_mesh(&mut chart, ticks, labels, true, style)?;
        let (px_x, px_y) = chart.plotting_area().get_pixel_range();
        let to_px = |(x, y): (f64, f64)| -> Px { chart.backend_coord(&(x, y)) };
        let bounds = Bounds {
            x0: xr.0,
            x1: xr.1,
            y0: yr.0,
            y1: yr.1,
        };

        // Title, centred over the plotting area.
        draw_title(
            root,
            &self.title,
            (px_x.start + px_x.end) / 2,
            style.margin as i32,
            style,
        )?;

        // Bands.
        for s in &prep.series {
            let fill = s.color.mix(style.band_alpha).filled();
            for r in &s.band_runs {
                if r.len() < 2 {
                    continue;
                }
                let clampy = |y: f64| y.clamp(yr.0, yr.1);
                let mut poly: Vec<Px> = r.iter().map(|&(x, _, h)| to_px((x, clampy(h)))).collect();
                poly.extend(r.iter().rev().map(|&(x, l, _)| to_px((x, clampy(l)))));
                root.draw(&Polygon::new(poly, fill)).map_err(draw_err)?;
            }
        }
        // Reference lines.
        for r in &prep.refs {
            let pts = [to_px((xr.0, r.y)), to_px((xr.1, r.y))];
            Pen::new(REF_LINE, r.dashed, false, style).draw(root, &pts, style)?;
        }
        // Lines.
        for s in &prep.series {
            if s.kind == LineKind::MarkersOnly {
                continue;
            }
            for r in &s.runs {
                if r.len() == 1 {
                    // An isolated point of a line series: show it as a dot.
                    if bounds.contains(r[0]) {
                        let rad = (style.line_width as i32 + style.px(1.0)).max(2);
                        root.draw(&Circle::new(to_px(r[0]), rad, s.color.filled()))
                            .map_err(draw_err)?;
                    }
                    continue;
                }
                for piece in clip_polyline(r, &bounds) {
                    let pts: Vec<Px> = piece.into_iter().map(to_px).collect();
                    let pen = Pen::new(s.color, s.kind == LineKind::Dashed, false, style);
                    pen.draw(root, &pts, style)?;
                }
            }
        }
        // Markers.
        for s in &prep.series {
            let every = match s.kind {
                LineKind::MarkersOnly => 1,
                LineKind::LineAndMarkers => {
                    let n: usize = s.runs.iter().map(Vec::len).sum();
                    n.div_ceil(20).max(1)
                }
                _ => continue,
            };
            let pts = s.runs.iter().flatten().step_by(every);
            for &p in pts {
                if bounds.contains(p) {
                    s.marker(style).draw(root, to_px(p), style)?;
                }
            }
        }
        axes::draw_frame(root, &chart, ticks, style)?;

        // Legend and annotations.
        let (pw, ph) = (
            (px_x.end - px_x.start) as f64,
            (px_y.end - px_y.start) as f64,
        );
        let corner = |p: &Placed| -> Px {
            (
                px_x.start + (p.u0 * pw).round() as i32,
                px_y.end - ((p.v0 + p.h) * ph).round() as i32,
            )
        };
        for (entries, p) in &lay.boxes {
            draw_legend_box(root, entries, corner(p), style)?;
        }
        Ok(())
    }
}
