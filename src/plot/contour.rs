//! Filled-contour panels (one or more side by side) with a colour bar,
//! optional iso-lines and overlays (trajectories, markers, curves).
//!
//! Level sets and iso-lines come from the `contour` crate (marching squares,
//! linearly interpolated between cell centres); they are written as raw SVG
//! paths beneath plotters' layer because they have holes. The colour bar is
//! drawn here: its levels are round numbers shared with the fills.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use contour::ContourBuilder;
use plotters::prelude::*;

use super::axes::{self, Margins};
use super::geometry::{clip_polyline, split_runs, Bounds};
use super::legend::{
    draw_legend_strip, draw_outline, draw_text, draw_text_up, draw_title, legend_strip_height,
    stroke, Glyph, LegendEntry, MarkerShape, MarkerStyle, Pen, Px, MID_LEFT,
};
use super::style::{palette_color, Style, MISSING, TEXT};
use super::ticks::{nearest_nice_step, Ticks};
use super::{display_name, draw_err, write_figure, Area, AxisScale, PlotError};

/// A polyline drawn over a contour panel in a palette colour with a white
/// halo (e.g. an optimiser trajectory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathOverlay {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
    /// Palette colour index; `None` picks one that stands out on viridis.
    pub color_index: Option<usize>,
}

/// A single marker drawn over a contour panel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marker {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// Abscissa (data coordinates).
    pub x: f64,
    /// Ordinate (data coordinates).
    pub y: f64,
    /// Shape.
    pub shape: MarkerShape,
    /// Palette colour index of the fill; `None`: white fill, black edge.
    pub color_index: Option<usize>,
}

/// A black curve (with white halo) drawn over a contour panel, e.g. a
/// stability boundary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CurveOverlay {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
    /// Dashed (true) or solid (false).
    pub dashed: bool,
}

/// One filled-contour panel: values on a rectilinear grid plus overlays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContourPanel {
    /// Title above the panel (may be empty).
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Scale of the x axis (a log-spaced grid looks right on `Log10`).
    pub x_scale: AxisScale,
    /// Scale of the y axis.
    pub y_scale: AxisScale,
    /// Grid abscissae (cell centres), strictly increasing, at least 2.
    pub xs: Vec<f64>,
    /// Grid ordinates (cell centres), strictly increasing, at least 2.
    pub ys: Vec<f64>,
    /// `values[iy][ix]` at `(xs[ix], ys[iy])`. Non-finite values (and
    /// non-positive ones when `log_color`) are shown in grey.
    pub values: Vec<Vec<f64>>,
    /// Colour levels spaced in `log10(value)`.
    pub log_color: bool,
    /// Polyline overlays.
    pub paths: Vec<PathOverlay>,
    /// Marker overlays.
    pub markers: Vec<Marker>,
    /// Curve overlays.
    pub curves: Vec<CurveOverlay>,
}

/// One or more [`ContourPanel`]s side by side with colour bar(s) and a shared
/// legend strip underneath, written as SVG and PNG by [`ContourFigure::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContourFigure {
    /// Panels, left to right.
    pub panels: Vec<ContourPanel>,
    /// Label of the colour bar(s).
    pub colorbar_label: String,
    /// One colour scale (and one colour bar) for all panels; otherwise each
    /// panel gets its own scale and colour bar.
    pub shared_color_scale: bool,
    /// Draw thin iso-lines at the level boundaries (marching squares).
    pub iso_lines: bool,
}

impl Default for ContourFigure {
    fn default() -> Self {
        ContourFigure {
            panels: vec![],
            colorbar_label: String::new(),
            shared_color_scale: true,
            iso_lines: true,
        }
    }
}

/// Palette order for automatically coloured paths: colours that stand out
/// on viridis first.
const PATH_AUTO: [usize; 6] = [1, 4, 3, 5, 0, 2];

/// Discretised colour levels in colour space (log10 when `log`).
#[derive(Debug, Clone, Copy)]
struct Levels {
    b0: f64,
    step: f64,
    n: usize,
    log: bool,
}

impl Levels {
    fn new(lo: f64, hi: f64, target: usize, log: bool) -> Levels {
        let (mut lo, mut hi) = (lo, hi);
        if hi - lo <= 1e-12 * lo.abs().max(1.0) {
            let d = if log || lo == 0.0 {
                0.5
            } else {
                0.1 * lo.abs()
            };
            lo -= d;
            hi += d;
        }
        let step = nearest_nice_step((hi - lo) / target.max(2) as f64);
        let b0 = (lo / step + 1e-9).floor() * step;
        let n = (((hi - b0) / step) - 1e-9).ceil().max(1.0) as usize;
        Levels { b0, step, n, log }
    }
    fn hi(&self) -> f64 {
        self.b0 + self.n as f64 * self.step
    }
    fn boundary(&self, k: usize) -> f64 {
        self.b0 + k as f64 * self.step
    }
    fn color(&self, k: usize) -> RGBColor {
        ViridisRGB::get_color((k as f64 + 0.5) / self.n as f64)
    }
}

/// A validated panel in drawing space.
struct PPanel<'a> {
    src: &'a ContourPanel,
    gx: Vec<f64>,
    gy: Vec<f64>,
    ex: Vec<f64>,
    ey: Vec<f64>,
    /// Values in colour space, NaN where missing.
    tv: Vec<Vec<f64>>,
    vmin: f64,
    vmax: f64,
}

fn grid_axis(v: &[f64], scale: AxisScale, name: &str, panel: &str) -> Result<Vec<f64>, PlotError> {
    if v.len() < 2 {
        return Err(PlotError::InvalidGrid(format!(
            "panel `{panel}`: {name} needs at least 2 grid points, got {}",
            v.len()
        )));
    }
    let g: Vec<f64> = v
        .iter()
        .map(|&x| {
            scale.forward(x).ok_or_else(|| {
                PlotError::InvalidGrid(format!(
                    "panel `{panel}`: {name} contains {x}, which cannot be shown on a {scale:?} axis"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    if g.windows(2).any(|w| w[1] <= w[0]) {
        return Err(PlotError::InvalidGrid(format!(
            "panel `{panel}`: {name} must be strictly increasing"
        )));
    }
    Ok(g)
}

fn edges(g: &[f64]) -> Vec<f64> {
    let n = g.len();
    let mut e = Vec::with_capacity(n + 1);
    e.push(g[0] - (g[1] - g[0]) / 2.0);
    for w in g.windows(2) {
        e.push((w[0] + w[1]) / 2.0);
    }
    e.push(g[n - 1] + (g[n - 1] - g[n - 2]) / 2.0);
    e
}

impl<'a> PPanel<'a> {
    fn new(p: &'a ContourPanel, idx: usize) -> Result<Self, PlotError> {
        let name = display_name(&p.title, idx);
        let gx = grid_axis(&p.xs, p.x_scale, "xs", &name)?;
        let gy = grid_axis(&p.ys, p.y_scale, "ys", &name)?;
        if p.values.len() != p.ys.len() {
            return Err(PlotError::InvalidGrid(format!(
                "panel `{name}`: values has {} rows but ys has {} points",
                p.values.len(),
                p.ys.len()
            )));
        }
        let cscale = AxisScale::from_log(p.log_color);
        let mut tv = Vec::with_capacity(p.values.len());
        let (mut vmin, mut vmax) = (f64::INFINITY, f64::NEG_INFINITY);
        for (iy, row) in p.values.iter().enumerate() {
            if row.len() != p.xs.len() {
                return Err(PlotError::InvalidGrid(format!(
                    "panel `{name}`: values row {iy} has {} entries but xs has {} points",
                    row.len(),
                    p.xs.len()
                )));
            }
            let r: Vec<f64> = row
                .iter()
                .map(|&v| cscale.forward(v).unwrap_or(f64::NAN))
                .collect();
            for &v in &r {
                if !v.is_nan() {
                    vmin = vmin.min(v);
                    vmax = vmax.max(v);
                }
            }
            tv.push(r);
        }
        if vmin > vmax {
            return Err(PlotError::NoFiniteData {
                what: format!("contour panel `{name}`"),
            });
        }
        Ok(PPanel {
            src: p,
            ex: edges(&gx),
            ey: edges(&gy),
            gx,
            gy,
            tv,
            vmin,
            vmax,
        })
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            x0: self.ex[0],
            x1: *self.ex.last().unwrap(),
            y0: self.ey[0],
            y1: *self.ey.last().unwrap(),
        }
    }

    fn transform(&self, pts: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let (sx, sy) = (self.src.x_scale, self.src.y_scale);
        let b = self.bounds();
        split_runs(
            pts.iter()
                .map(|&(x, y)| Some((sx.forward(x)?, sy.forward(y)?))),
        )
        .into_iter()
        .flat_map(|r| clip_polyline(&r, &b))
        .collect()
    }
}

struct TickPlan {
    panels: Vec<(Ticks, Ticks)>,
    bars: Vec<Ticks>,
}

struct Geometry {
    width: i32,
    plot_region_h: i32,
    top: i32,
    bottom: i32,
    x_area: i32,
}

impl ContourFigure {
    /// Pixel size `(width, height)` of the rendered figure for `style`.
    pub fn dimensions(&self, style: &Style) -> (u32, u32) {
        let n = self.panels.len() as u32;
        let bars = if self.shared_color_scale { 1 } else { n };
        (
            n * style.contour_panel_width + bars * style.colorbar_width,
            style.contour_height,
        )
    }

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
        if self.panels.is_empty() {
            return Err(PlotError::NothingToPlot {
                what: "contour figure".into(),
            });
        }
        let panels: Vec<PPanel> = self
            .panels
            .iter()
            .enumerate()
            .map(|(i, p)| PPanel::new(p, i))
            .collect::<Result<_, _>>()?;
        let levels = self.levels(&panels, style)?;
        let dims = self.dimensions(style);
        write_figure(path_stem.as_ref(), dims, style, |root, under, st| {
            let entries = self.legend_entries(st);
            let geo = self.geometry(&entries, st);
            let plan = self.plan_ticks(&panels, &levels, &geo, st);
            let (pw, cbw) = (st.contour_panel_width as i32, st.colorbar_width as i32);
            for (i, p) in panels.iter().enumerate() {
                let step = if self.shared_color_scale {
                    pw
                } else {
                    pw + cbw
                };
                let x_off = i as i32 * step;
                self.draw_panel(root, under, p, &levels[i], &plan.panels[i], x_off, &geo, st)?;
                // A shared colour bar follows the last panel.
                if !self.shared_color_scale || i + 1 == panels.len() {
                    let bar = &plan.bars[i.min(plan.bars.len() - 1)];
                    self.draw_colorbar(root, &levels[i], bar, x_off + pw, &geo, st)?;
                }
            }
            let m = st.margin as i32;
            draw_legend_strip(root, &entries, m, geo.plot_region_h, geo.width - 2 * m, st)
        })
    }

    /// Colour levels per panel.
    fn levels(&self, panels: &[PPanel], style: &Style) -> Result<Vec<Levels>, PlotError> {
        if self.shared_color_scale {
            let log = panels[0].src.log_color;
            if panels.iter().any(|p| p.src.log_color != log) {
                return Err(PlotError::InvalidInput(
                    "a shared colour scale needs the same log_color on every panel".into(),
                ));
            }
            let lo = panels.iter().map(|p| p.vmin).fold(f64::INFINITY, f64::min);
            let hi = panels
                .iter()
                .map(|p| p.vmax)
                .fold(f64::NEG_INFINITY, f64::max);
            let l = Levels::new(lo, hi, style.contour_levels, log);
            Ok(vec![l; panels.len()])
        } else {
            Ok(panels
                .iter()
                .map(|p| Levels::new(p.vmin, p.vmax, style.contour_levels, p.src.log_color))
                .collect())
        }
    }

    /// Legend entries of all panels, each distinct one once.
    fn legend_entries(&self, style: &Style) -> Vec<LegendEntry> {
        let line = |color, dashed| Glyph::Line {
            pen: Pen::new(color, dashed, true, style),
            marker: None,
            band_alpha: None,
        };
        let mut entries: Vec<LegendEntry> = vec![];
        for p in &self.panels {
            let curves = p.curves.iter().map(|c| (&c.label, line(BLACK, c.dashed)));
            let paths = (p.paths.iter().enumerate())
                .map(|(k, o)| (&o.label, line(path_color(o, k), false)));
            let markers =
                (p.markers.iter()).map(|m| (&m.label, Glyph::Marker(marker_style(m, style))));
            for (label, glyph) in curves.chain(paths).chain(markers) {
                let e = LegendEntry {
                    label: label.clone(),
                    glyph: Some(glyph),
                };
                if !e.label.is_empty() && !entries.contains(&e) {
                    entries.push(e);
                }
            }
        }
        entries
    }

    fn geometry(&self, entries: &[LegendEntry], style: &Style) -> Geometry {
        let (w, h) = self.dimensions(style);
        let (w, h) = (w as i32, h as i32);
        let m = style.margin as i32;
        let strip = legend_strip_height(entries, w - 2 * m, style);
        let has_title = self.panels.iter().any(|p| !p.title.is_empty());
        Geometry {
            width: w,
            plot_region_h: h - strip,
            top: axes::plot_top(style, axes::title_band(style, has_title)),
            bottom: if strip > 0 {
                style.px(2.0)
            } else {
                m / 2 + style.px(2.0)
            },
            x_area: axes::x_area(style),
        }
    }

    /// Ticks of every panel (x, y) and colour bar.
    fn plan_ticks(
        &self,
        panels: &[PPanel],
        levels: &[Levels],
        geo: &Geometry,
        st: &Style,
    ) -> TickPlan {
        let pw = st.contour_panel_width as i32;
        let left = st.margin as i32 / 2 + st.px(2.0);
        let plot_h = geo.plot_region_h - geo.top - geo.x_area - geo.bottom;
        let panel_ticks = panels.iter().map(|p| {
            let b = p.bounds();
            let y_ticks = axes::y_ticks(st, p.src.y_scale, (b.y0, b.y1), plot_h);
            let y_area = axes::y_area(st, axes::label_width(st, &y_ticks));
            let plot_w = (pw - left - y_area - st.px(20.0)).max(40);
            (
                axes::x_ticks(st, p.src.x_scale, (b.x0, b.x1), plot_w),
                y_ticks,
            )
        });
        let n_bars = if self.shared_color_scale {
            1
        } else {
            levels.len()
        };
        let bars = levels[..n_bars].iter().map(|lv| {
            let scale = AxisScale::from_log(lv.log);
            axes::y_ticks(st, scale, (lv.b0, lv.hi()), plot_h)
        });
        TickPlan {
            panels: panel_ticks.collect(),
            bars: bars.collect(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_panel(
        &self,
        root: &Area,
        under: &mut String,
        p: &PPanel,
        lv: &Levels,
        (x_ticks, y_ticks): &(Ticks, Ticks),
        x_off: i32,
        geo: &Geometry,
        style: &Style,
    ) -> Result<(), PlotError> {
        let ticks = (x_ticks, y_ticks);
        let pw = style.contour_panel_width as i32;
        let m = style.margin as i32;
        let b = p.bounds();
        let y_area = axes::y_area(style, axes::label_width(style, y_ticks));
        let left = m / 2 + style.px(2.0);
        let plot_w = (pw - left - y_area - style.px(14.0)).max(40);
        let right = (style.px(14.0)).max(axes::x_overhang(style, x_ticks, (b.x0, b.x1), plot_w));
        let sub = root.clone().shrink((x_off, 0), (pw, geo.plot_region_h));
        let margins = Margins {
            top: geo.top,
            bottom: geo.bottom,
            left,
            right,
            x_area: geo.x_area,
            y_area,
        };
        let ranges = ((b.x0, b.x1), (b.y0, b.y1));
        let mut chart = axes::build(&sub, &margins, ranges, ticks)?;
        let labels = (p.src.x_label.as_str(), p.src.y_label.as_str());
        axes::draw_mesh(&mut chart, ticks, labels, false, style)?;
        let (px_x, _) = chart.plotting_area().get_pixel_range();
        let to_px = |(x, y): (f64, f64)| -> Px { chart.backend_coord(&(x, y)) };
        let (c0, c1) = (to_px((b.x0, b.y0)), to_px((b.x1, b.y1)));
        let frame = PxFrame {
            x: (b.x0, b.x1, c0.0 as f64, c1.0 as f64),
            y: (b.y0, b.y1, c0.1 as f64, c1.1 as f64),
        };
        fill_panel(under, p, lv, &frame, self.iso_lines, style);

        // Overlays: curves, then paths, then markers on top.
        for c in &p.src.curves {
            for run in p.transform(&c.points) {
                let pts: Vec<Px> = run.into_iter().map(to_px).collect();
                Pen::new(BLACK, c.dashed, true, style).draw(root, &pts, style)?;
            }
        }
        for (k, path) in p.src.paths.iter().enumerate() {
            let color = path_color(path, k);
            for run in p.transform(&path.points) {
                let pts: Vec<Px> = run.into_iter().map(to_px).collect();
                Pen::new(color, false, true, style).draw(root, &pts, style)?;
            }
        }
        for mk in &p.src.markers {
            let (sx, sy) = (p.src.x_scale, p.src.y_scale);
            if let (Some(x), Some(y)) = (sx.forward(mk.x), sy.forward(mk.y)) {
                if b.contains((x, y)) {
                    marker_style(mk, style).draw(root, to_px((x, y)), style)?;
                }
            }
        }
        axes::draw_frame(root, &chart, ticks, style)?;
        draw_title(root, &p.src.title, (px_x.start + px_x.end) / 2, m, style)
    }

    fn draw_colorbar(
        &self,
        root: &Area,
        lv: &Levels,
        t: &Ticks,
        x_off: i32,
        geo: &Geometry,
        style: &Style,
    ) -> Result<(), PlotError> {
        let cbw = style.colorbar_width as i32;
        let m = style.margin as i32;
        let (lo, hi) = (lv.b0, lv.hi());
        let tw = axes::label_width(style, t);
        let left = style.px(12.0);
        let title_w = if self.colorbar_label.is_empty() {
            0
        } else {
            style.px(8.0) + (0.87 * style.label_font).round() as i32
        };
        let label_area = axes::y_tick_band(style, tw) + title_w;
        let bar_w = (cbw - left - m / 2 - label_area).clamp(style.px(10.0), style.px(22.0));
        let x0 = x_off + left;
        let x1 = x0 + bar_w;
        let (y_top, y_bot) = (geo.top, geo.plot_region_h - geo.bottom - geo.x_area);
        let fy = |v: f64| -> i32 {
            (y_bot as f64 - (v - lo) / (hi - lo) * (y_bot - y_top) as f64).round() as i32
        };
        // Each level reaches down to the bottom, painted top level first, so
        // that no anti-aliased seam shows between neighbouring levels.
        for k in (0..lv.n).rev() {
            let ya = fy(lv.boundary(k + 1));
            root.draw(&Rectangle::new(
                [(x0, ya), (x1, y_bot)],
                lv.color(k).filled(),
            ))
            .map_err(draw_err)?;
        }
        let hair = style.hair();
        draw_outline(root, ((x0, y_top), (x1, y_bot)), TEXT, hair)?;
        let tl = style.tick_len();
        for (ticks, len) in [(&t.minor, tl / 2), (&t.major, tl)] {
            for &v in ticks {
                let y = fy(v);
                root.draw(&PathElement::new(
                    vec![(x1, y), (x1 + len, y)],
                    stroke(TEXT, hair),
                ))
                .map_err(draw_err)?;
            }
        }
        let lx = x1 + tl + style.px(4.0);
        for (&v, l) in t.major.iter().zip(&t.labels) {
            draw_text(root, l, (lx, fy(v)), style.tick_font, MID_LEFT, style)?;
        }
        draw_text_up(
            root,
            &self.colorbar_label,
            (lx + tw + style.px(8.0), (y_top + y_bot) / 2),
            style.label_font,
            style,
        )
    }
}

/// Affine map of one drawing-space axis onto SVG units:
/// `(data lo, data hi, unit at lo, unit at hi)`.
struct PxFrame {
    x: (f64, f64, f64, f64),
    y: (f64, f64, f64, f64),
}

impl PxFrame {
    fn map(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let f = |(a, b, pa, pb): (f64, f64, f64, f64), v: f64| pa + (v - a) / (b - a) * (pb - pa);
        (f(self.x, x), f(self.y, y))
    }
}

/// The `contour` crate's grid coordinate `u` (cell `i` spans `[i, i + 1]`,
/// its value sits at `i + 0.5`) on the grid padded by one cell on each side,
/// in drawing space: linear between cell centres `g`, out to the cell edges
/// `e` at both ends, and the padding collapsed onto those edges.
fn from_grid(u: f64, g: &[f64], e: &[f64]) -> f64 {
    let n = g.len();
    let u = (u - 1.0).clamp(0.0, n as f64);
    if u <= 0.5 {
        e[0] + u * 2.0 * (g[0] - e[0])
    } else if u >= n as f64 - 0.5 {
        g[n - 1] + (u - (n as f64 - 0.5)) * 2.0 * (e[n] - g[n - 1])
    } else {
        let i = ((u - 0.5).floor() as usize).min(n - 2);
        g[i] + (u - 0.5 - i as f64) * (g[i + 1] - g[i])
    }
}

/// Row-major values padded by a copy of the outermost cells, since marching
/// squares treats the outside of the grid as below every level and would cut
/// off the corner cells.
fn padded_values(tv: &[Vec<f64>]) -> Vec<f64> {
    let v = filled_values(tv);
    let (ny, nx) = (tv.len(), tv[0].len());
    let at = |i: usize, n: usize| i.saturating_sub(1).min(n - 1);
    let rows = (0..ny + 2).flat_map(|iy| (0..nx + 2).map(move |ix| (at(iy, ny), at(ix, nx))));
    rows.map(|(iy, ix)| v[iy * nx + ix]).collect()
}

/// Values with every missing (NaN) entry replaced by the mean of its known
/// neighbours, repeatedly, so marching squares never interpolates towards
/// NaN; the missing cells are painted grey over the result.
fn filled_values(tv: &[Vec<f64>]) -> Vec<f64> {
    let (ny, nx) = (tv.len(), tv[0].len());
    let mut v: Vec<f64> = tv.iter().flatten().copied().collect();
    while v.iter().any(|x| x.is_nan()) {
        let prev = v.clone();
        for (k, out) in v.iter_mut().enumerate().filter(|(_, x)| x.is_nan()) {
            let (iy, ix) = (k / nx, k % nx);
            let near = [
                (ix > 0).then(|| prev[k - 1]),
                (ix + 1 < nx).then(|| prev[k + 1]),
                (iy > 0).then(|| prev[k - nx]),
                (iy + 1 < ny).then(|| prev[k + nx]),
            ];
            let known: Vec<f64> = near.into_iter().flatten().filter(|x| !x.is_nan()).collect();
            if !known.is_empty() {
                *out = known.iter().sum::<f64>() / known.len() as f64;
            }
        }
    }
    v
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// Appends `ring` to an SVG path as a closed sub-path.
fn push_ring(d: &mut String, ring: impl Iterator<Item = (f64, f64)>) {
    for (k, (x, y)) in ring.enumerate() {
        let _ = write!(d, "{}{x:.1},{y:.1}", if k == 0 { "M" } else { "L" });
    }
    d.push('Z');
}

/// Appends the rectangle `[x0, x1] × [y0, y1]` (drawing space) mapped by `f`.
fn push_rect(d: &mut String, f: &PxFrame, (x0, x1, y0, y1): (f64, f64, f64, f64)) {
    let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)];
    push_ring(d, corners.into_iter().map(|c| f.map(c)));
}

/// Writes a panel's filled levels, iso-lines and missing cells as SVG:
/// the lowest colour over the whole panel, then each superlevel set
/// `{v ≥ boundary k}` (with its holes) in colour k on top, so that
/// anti-aliased edges blend neighbouring levels instead of showing seams.
fn fill_panel(out: &mut String, p: &PPanel, lv: &Levels, f: &PxFrame, iso: bool, style: &Style) {
    let (nx, ny) = (p.gx.len(), p.gy.len());
    let values = padded_values(&p.tv);
    let to_svg =
        |c: &contour::Pt| f.map((from_grid(c.x, &p.gx, &p.ex), from_grid(c.y, &p.gy, &p.ey)));
    let b = p.bounds();
    let mut rect = String::new();
    push_rect(&mut rect, f, (b.x0, b.x1, b.y0, b.y1));
    let _ = writeln!(out, "<path d=\"{rect}\" fill=\"{}\"/>", hex(lv.color(0)));
    let thresholds: Vec<f64> = (1..lv.n).map(|k| lv.boundary(k)).collect();
    let builder = ContourBuilder::new(nx + 2, ny + 2, true);
    // Errors only on a size mismatch, which PPanel::new rules out.
    for (k, c) in builder
        .contours(&values, &thresholds)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let mut d = String::new();
        for poly in c.geometry() {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                push_ring(&mut d, ring.0.iter().map(to_svg));
            }
        }
        if !d.is_empty() {
            let color = hex(lv.color(k + 1));
            let _ = writeln!(
                out,
                "<path d=\"{d}\" fill=\"{color}\" fill-rule=\"evenodd\"/>"
            );
        }
    }
    if iso {
        // Rings close around the padding, i.e. along the frame; skip that part.
        let on_edge = |a: &contour::Pt, z: &contour::Pt| {
            let out = |u: f64, n: usize| u <= 1.0 || u >= n as f64 + 1.0;
            (out(a.x, nx) && out(z.x, nx)) || (out(a.y, ny) && out(z.y, ny))
        };
        let mut d = String::new();
        for line in builder.lines(&values, &thresholds).unwrap_or_default() {
            for ls in line.geometry() {
                for (i, w) in ls.0.windows(2).enumerate() {
                    if on_edge(&w[0], &w[1]) {
                        continue;
                    }
                    let ((x0, y0), (x1, y1)) = (to_svg(&w[0]), to_svg(&w[1]));
                    if i == 0 || on_edge(&ls.0[i - 1], &w[0]) {
                        let _ = write!(d, "M{x0:.1},{y0:.1}");
                    }
                    let _ = write!(d, "L{x1:.1},{y1:.1}");
                }
            }
        }
        let _ = writeln!(
            out,
            "<path d=\"{d}\" fill=\"none\" stroke=\"#000000\" stroke-opacity=\"0.28\" stroke-width=\"{}\"/>",
            style.hair()
        );
    }
    // Missing cells, one rectangle per run along a row.
    let mut d = String::new();
    for (iy, row) in p.tv.iter().enumerate() {
        let mut ix = 0;
        while ix < nx {
            if !row[ix].is_nan() {
                ix += 1;
                continue;
            }
            let end = (ix..nx).find(|&j| !row[j].is_nan()).unwrap_or(nx);
            push_rect(&mut d, f, (p.ex[ix], p.ex[end], p.ey[iy], p.ey[iy + 1]));
            ix = end;
        }
    }
    if !d.is_empty() {
        let _ = writeln!(out, "<path d=\"{d}\" fill=\"{}\"/>", hex(MISSING));
    }
}

fn path_color(p: &PathOverlay, k: usize) -> RGBColor {
    palette_color(p.color_index.unwrap_or(PATH_AUTO[k % PATH_AUTO.len()]))
}

fn marker_style(m: &Marker, style: &Style) -> MarkerStyle {
    let (fill, edge) = match (m.color_index, m.shape) {
        (None, MarkerShape::Cross) => (BLACK, WHITE),
        (None, _) => (WHITE, BLACK),
        (Some(i), MarkerShape::Cross) => (palette_color(i), WHITE),
        (Some(i), _) => (palette_color(i), BLACK),
    };
    MarkerStyle {
        fill,
        edge,
        shape: m.shape,
        radius: style.marker_size as i32 + style.px(2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_round() {
        let l = Levels::new(0.013, 0.97, 14, false);
        assert!(l.n >= 8 && l.n <= 22, "{l:?}");
        assert!(l.b0 <= 0.013 && l.hi() >= 0.97);
        assert!((l.boundary(1) - l.b0 - l.step).abs() < 1e-12);
    }

    #[test]
    fn level_boundary_of_plane_is_interpolated() {
        // v = x on centres 0..4: the set {v >= 1.5} starts at x = 1.5.
        let g: Vec<f64> = (0..5).map(|i| i as f64).collect();
        let e = edges(&g);
        let padded = padded_values(&vec![g.clone(); 5]);
        assert_eq!(padded.len(), 49);
        let c = ContourBuilder::new(7, 7, true)
            .contours(&padded, &[1.5])
            .unwrap();
        let xs: Vec<f64> = c[0].geometry().0[0]
            .exterior()
            .0
            .iter()
            .map(|p| from_grid(p.x, &g, &e))
            .collect();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!((lo - 1.5).abs() < 1e-12, "{xs:?}");
        assert_eq!(hi, e[5]);
    }

    #[test]
    fn missing_values_take_their_neighbours() {
        let v = filled_values(&[vec![1.0, f64::NAN, 3.0], vec![f64::NAN, f64::NAN, 5.0]]);
        assert_eq!(&v[..3], &[1.0, 2.0, 3.0]);
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
    }
}
