//! Filled-contour panels (one or more side by side) with a colour bar,
//! optional iso-lines and overlays (trajectories, markers, curves).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use super::axes::{self, Frame};
use super::geometry::{clip_polyline, split_runs, Bounds};
use super::legend::{
    draw_legend_strip, draw_marker, draw_polyline, draw_text, draw_text_up, draw_title,
    legend_strip_height, stroke, Glyph, LegendEntry, MarkerShape, Px, Target, VAlign,
};
use super::style::{palette_color, text_size, Style, MISSING, TEXT};
use super::ticks::{nearest_nice_step, ticks, Fit, Ticks};
use super::{draw_err, ensure_fonts, ensure_parent, render_png, with_suffix, AxisScale, PlotError};

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
    fn index(&self, v: f64) -> Option<usize> {
        if v.is_nan() {
            return None;
        }
        let k = ((v - self.b0) / self.step).floor();
        Some(k.clamp(0.0, (self.n - 1) as f64) as usize)
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
        let name = if p.title.is_empty() {
            format!("#{idx}")
        } else {
            p.title.clone()
        };
        let gx = grid_axis(&p.xs, p.x_scale, "xs", &name)?;
        let gy = grid_axis(&p.ys, p.y_scale, "ys", &name)?;
        if p.values.len() != p.ys.len() {
            return Err(PlotError::InvalidGrid(format!(
                "panel `{name}`: values has {} rows but ys has {} points",
                p.values.len(),
                p.ys.len()
            )));
        }
        let cscale = if p.log_color {
            AxisScale::Log10
        } else {
            AxisScale::Linear
        };
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

/// Iso-lines of `tv` (cell-centre grid `gx` × `gy`) at `level`, as polylines.
fn iso_lines(gx: &[f64], gy: &[f64], tv: &[Vec<f64>], level: f64) -> Vec<Vec<(f64, f64)>> {
    let nx = gx.len();
    let h_edge = |ix: usize, iy: usize| ((iy * nx + ix) * 2) as u64;
    let v_edge = |ix: usize, iy: usize| ((iy * nx + ix) * 2 + 1) as u64;
    let mut point: HashMap<u64, (f64, f64)> = HashMap::new();
    let mut adj: HashMap<u64, Vec<u64>> = HashMap::new();
    let lerp = |a: f64, b: f64| ((level - a) / (b - a)).clamp(0.0, 1.0);
    for iy in 0..gy.len() - 1 {
        for ix in 0..nx - 1 {
            let v00 = tv[iy][ix];
            let v10 = tv[iy][ix + 1];
            let v11 = tv[iy + 1][ix + 1];
            let v01 = tv[iy + 1][ix];
            if [v00, v10, v11, v01].iter().any(|v| v.is_nan()) {
                continue;
            }
            let above = |v: f64| v >= level;
            // Edges in order bottom, right, top, left.
            let cand = [
                (h_edge(ix, iy), v00, v10, true, ix, iy),
                (v_edge(ix + 1, iy), v10, v11, false, ix + 1, iy),
                (h_edge(ix, iy + 1), v01, v11, true, ix, iy + 1),
                (v_edge(ix, iy), v00, v01, false, ix, iy),
            ];
            let mut cut = [None; 4];
            let mut count = 0;
            for (k, &(id, a, b, horiz, ex, ey)) in cand.iter().enumerate() {
                if above(a) != above(b) {
                    let t = lerp(a, b);
                    let p = if horiz {
                        (gx[ex] + t * (gx[ex + 1] - gx[ex]), gy[ey])
                    } else {
                        (gx[ex], gy[ey] + t * (gy[ey + 1] - gy[ey]))
                    };
                    point.insert(id, p);
                    cut[k] = Some(id);
                    count += 1;
                }
            }
            let mut link = |a: Option<u64>, b: Option<u64>| {
                if let (Some(a), Some(b)) = (a, b) {
                    adj.entry(a).or_default().push(b);
                    adj.entry(b).or_default().push(a);
                }
            };
            match count {
                2 => {
                    let ids: Vec<u64> = cut.iter().flatten().copied().collect();
                    link(Some(ids[0]), Some(ids[1]));
                }
                4 => {
                    let center = (v00 + v10 + v11 + v01) / 4.0;
                    if above(center) == above(v00) {
                        link(cut[0], cut[1]);
                        link(cut[2], cut[3]);
                    } else {
                        link(cut[3], cut[0]);
                        link(cut[1], cut[2]);
                    }
                }
                _ => {}
            }
        }
    }
    // Walk chains: open ones (from degree-1 nodes) first, then cycles.
    let mut lines = vec![];
    let mut visited: HashMap<u64, bool> = HashMap::new();
    let mut starts: Vec<u64> = adj
        .iter()
        .filter(|(_, v)| v.len() == 1)
        .map(|(k, _)| *k)
        .collect();
    starts.sort_unstable();
    let mut rest: Vec<u64> = adj.keys().copied().collect();
    rest.sort_unstable();
    starts.extend(rest);
    for s in starts {
        if visited.get(&s).copied().unwrap_or(false) {
            continue;
        }
        let mut line = vec![point[&s]];
        visited.insert(s, true);
        let mut cur = s;
        loop {
            let next = adj[&cur]
                .iter()
                .copied()
                .find(|n| !visited.get(n).copied().unwrap_or(false));
            match next {
                Some(n) => {
                    visited.insert(n, true);
                    line.push(point[&n]);
                    cur = n;
                }
                None => {
                    // Close cycles.
                    if adj[&cur].contains(&s) && line.len() > 2 {
                        line.push(point[&s]);
                    }
                    break;
                }
            }
        }
        if line.len() > 1 {
            lines.push(line);
        }
    }
    lines
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
    tick_h: i32,
}

impl ContourFigure {
    /// A figure with a shared colour scale and iso-lines.
    pub fn new(panels: Vec<ContourPanel>, colorbar_label: impl Into<String>) -> Self {
        ContourFigure {
            panels,
            colorbar_label: colorbar_label.into(),
            ..Default::default()
        }
    }

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
        ensure_fonts()?;
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
        let plan = self.plan_ticks(&panels, &levels, style);
        let stem = path_stem.as_ref();
        let svg = with_suffix(stem, "svg");
        let png = with_suffix(stem, "png");
        ensure_parent(&svg)?;
        let dims = self.dimensions(style);
        {
            let root = SVGBackend::new(&svg, dims).into_drawing_area();
            self.draw(&root, &panels, &levels, &plan, style)?;
            root.present().map_err(draw_err)?;
        }
        render_png(&png, dims, style, |root, st| {
            self.draw(root, &panels, &levels, &plan, st)
        })?;
        Ok(vec![svg, png])
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

    fn legend_entries(&self, style: &Style) -> Vec<LegendEntry> {
        let mut entries: Vec<LegendEntry> = vec![];
        let mut push = |e: LegendEntry| {
            if !e.label.is_empty() && !entries.contains(&e) {
                entries.push(e);
            }
        };
        for p in &self.panels {
            for c in &p.curves {
                push(LegendEntry {
                    label: c.label.clone(),
                    glyph: curve_glyph(c, style),
                });
            }
            for (k, path) in p.paths.iter().enumerate() {
                push(LegendEntry {
                    label: path.label.clone(),
                    glyph: path_glyph(path, k, style),
                });
            }
            for m in &p.markers {
                push(LegendEntry {
                    label: m.label.clone(),
                    glyph: marker_glyph(m, style),
                });
            }
        }
        entries
    }

    fn geometry(&self, entries: &[LegendEntry], style: &Style) -> Geometry {
        let (w, h) = self.dimensions(style);
        let (w, h) = (w as i32, h as i32);
        let m = style.margin as i32;
        let (_, tick_h) = text_size(&style.font(style.tick_font), "0123456789");
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
            tick_h,
        }
    }

    /// Ticks of every panel (x, y) and colour bar, decided once at the SVG
    /// scale and reused for the supersampled PNG.
    fn plan_ticks(&self, panels: &[PPanel], levels: &[Levels], style: &Style) -> TickPlan {
        let entries = self.legend_entries(style);
        let geo = self.geometry(&entries, style);
        let pw = style.contour_panel_width as i32;
        let m = style.margin as i32;
        let tick_font = style.font(style.tick_font);
        let tick_w = |s: &str| text_size(&tick_font, s).0 as f64;
        let tick_hf = |_: &str| geo.tick_h as f64;
        let plot_h = geo.plot_region_h - geo.top - geo.x_area - geo.bottom;
        let y_fit = |span: f64| Fit {
            px_per_unit: plot_h as f64 / span,
            extent: &tick_hf,
            gap: geo.tick_h as f64 * 0.9,
            max_ticks: 7,
        };
        let mut out = TickPlan {
            panels: vec![],
            bars: vec![],
        };
        for p in panels {
            let b = p.bounds();
            let y_ticks = ticks(p.src.y_scale, b.y0, b.y1, &y_fit(b.y1 - b.y0));
            let y_tw = y_ticks
                .labels
                .iter()
                .map(|l| tick_w(l) as i32)
                .max()
                .unwrap_or(0);
            let left = m / 2 + style.px(2.0);
            let plot_w = (pw - left - axes::y_area(style, y_tw) - style.px(20.0)).max(40);
            let x_ticks = ticks(
                p.src.x_scale,
                b.x0,
                b.x1,
                &Fit {
                    px_per_unit: plot_w as f64 / (b.x1 - b.x0),
                    extent: &tick_w,
                    gap: style.px(16.0) as f64,
                    max_ticks: 9,
                },
            );
            out.panels.push((x_ticks, y_ticks));
        }
        let n_bars = if self.shared_color_scale {
            1
        } else {
            levels.len()
        };
        for lv in &levels[..n_bars] {
            let scale = if lv.log {
                AxisScale::Log10
            } else {
                AxisScale::Linear
            };
            let (lo, hi) = (lv.b0, lv.hi());
            out.bars.push(ticks(scale, lo, hi, &y_fit(hi - lo)));
        }
        out
    }

    fn draw<DB: Target>(
        &self,
        root: &DrawingArea<DB, Shift>,
        panels: &[PPanel],
        levels: &[Levels],
        plan: &TickPlan,
        style: &Style,
    ) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        let entries = self.legend_entries(style);
        let geo = self.geometry(&entries, style);
        let pw = style.contour_panel_width as i32;
        let cbw = style.colorbar_width as i32;
        for (i, p) in panels.iter().enumerate() {
            let x_off = if self.shared_color_scale {
                i as i32 * pw
            } else {
                i as i32 * (pw + cbw)
            };
            self.draw_panel(root, p, &levels[i], &plan.panels[i], x_off, &geo, style)?;
            if !self.shared_color_scale {
                self.draw_colorbar(root, &levels[i], &plan.bars[i], x_off + pw, &geo, style)?;
            }
        }
        if self.shared_color_scale {
            let x_off = panels.len() as i32 * pw;
            self.draw_colorbar(root, &levels[0], &plan.bars[0], x_off, &geo, style)?;
        }
        let m = style.margin as i32;
        draw_legend_strip(
            root,
            &entries,
            m,
            geo.plot_region_h,
            geo.width - 2 * m,
            style,
        )?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_panel<DB: Target>(
        &self,
        root: &DrawingArea<DB, Shift>,
        p: &PPanel,
        lv: &Levels,
        ticks_xy: &(Ticks, Ticks),
        x_off: i32,
        geo: &Geometry,
        style: &Style,
    ) -> Result<(), PlotError> {
        let pw = style.contour_panel_width as i32;
        let m = style.margin as i32;
        let b = p.bounds();
        let tick_font = style.font(style.tick_font);
        let tick_w = |s: &str| text_size(&tick_font, s).0 as f64;
        let (x_ticks, y_ticks) = ticks_xy;
        let y_tw = y_ticks
            .labels
            .iter()
            .map(|l| tick_w(l) as i32)
            .max()
            .unwrap_or(0);
        let y_area = axes::y_area(style, y_tw);
        let left = m / 2 + style.px(2.0);
        let mut right = style.px(14.0);
        if let (Some(t), Some(l)) = (x_ticks.major.last(), x_ticks.labels.last()) {
            let plot_w = (pw - left - y_area - right).max(40);
            let dist = (b.x1 - t) / (b.x1 - b.x0) * plot_w as f64;
            right = right.max((tick_w(l) / 2.0 - dist).ceil() as i32 + style.px(3.0));
        }

        let sub = root.clone().shrink((x_off, 0), (pw, geo.plot_region_h));
        let (xspec, yspec) = (b.x0..b.x1, b.y0..b.y1);
        let chart = ChartBuilder::on(&sub)
            .margin_top(geo.top)
            .margin_bottom(geo.bottom)
            .margin_left(left)
            .margin_right(right)
            .x_label_area_size(geo.x_area)
            .y_label_area_size(y_area)
            .build_cartesian_2d(xspec, yspec)
            .map_err(draw_err)?;
        let (px_x, px_y) = chart.plotting_area().get_pixel_range();
        let to_px = |(x, y): (f64, f64)| -> Px { chart.backend_coord(&(x, y)) };
        let fx = |x: f64| to_px((x, b.y0)).0;
        let fy = |y: f64| to_px((b.x0, y)).1;
        let frame = Frame {
            px_x: px_x.clone(),
            px_y: px_y.clone(),
            fx: &fx,
            fy: &fy,
        };
        let clamp_px = |(x, y): Px| -> Px {
            (
                x.clamp(px_x.start, px_x.end - 1),
                y.clamp(px_y.start, px_y.end - 1),
            )
        };

        // Filled levels. Cells bigger than ~2 px are subdivided and the
        // field bilinearly interpolated between cell centres, so coarse grids
        // still give smooth level boundaries (matching the iso-lines). Equal
        // levels along a row merge into one rectangle; each rectangle overlaps
        // its right/upper neighbour by one pixel so no seams show when the SVG
        // is scaled.
        let sub_x = subdivision(px_x.len(), p.gx.len(), style);
        let sub_y = subdivision(px_y.len(), p.gy.len(), style);
        let (fex, fsx) = refine(&p.ex, &p.gx, sub_x);
        let (fey, fsy) = refine(&p.ey, &p.gy, sub_y);
        let mut row_vals = vec![0.0; fsx.len()];
        for (jy, sy) in fsy.iter().enumerate() {
            for (v, sx) in row_vals.iter_mut().zip(&fsx) {
                *v = bilinear(&p.tv, sx, sy);
            }
            let mut ix = 0;
            while ix < row_vals.len() {
                let k = lv.index(row_vals[ix]);
                let mut end = ix + 1;
                while end < row_vals.len() && lv.index(row_vals[end]) == k {
                    end += 1;
                }
                let color = k.map_or(MISSING, |k| lv.color(k));
                let a = to_px((fex[ix], fey[jy + 1]));
                let c = to_px((fex[end], fey[jy]));
                let ul = clamp_px((a.0, a.1 - 1));
                let br = clamp_px((c.0 + 1, c.1));
                root.draw(&Rectangle::new([ul, br], color.filled()))
                    .map_err(draw_err)?;
                ix = end;
            }
        }

        // Iso-lines at the interior level boundaries.
        if self.iso_lines {
            let iso_style = ShapeStyle {
                color: BLACK.mix(0.28),
                filled: false,
                stroke_width: style.hair(),
            };
            for k in 1..lv.n {
                for line in iso_lines(&p.gx, &p.gy, &p.tv, lv.boundary(k)) {
                    for piece in clip_polyline(&line, &b) {
                        let pts: Vec<Px> = piece.into_iter().map(to_px).collect();
                        root.draw(&PathElement::new(pts, iso_style))
                            .map_err(draw_err)?;
                    }
                }
            }
        }

        // Overlays: curves, then paths, then markers on top.
        for c in &p.src.curves {
            for run in p.transform(&c.points) {
                let pts: Vec<Px> = run.into_iter().map(to_px).collect();
                draw_polyline(root, &pts, BLACK, style.line_width, c.dashed, true, style)?;
            }
        }
        for (k, path) in p.src.paths.iter().enumerate() {
            let color = path_color(path, k);
            for run in p.transform(&path.points) {
                let pts: Vec<Px> = run.into_iter().map(to_px).collect();
                draw_polyline(root, &pts, color, style.line_width, false, true, style)?;
            }
        }
        for mk in &p.src.markers {
            let (sx, sy) = (p.src.x_scale, p.src.y_scale);
            if let (Some(x), Some(y)) = (sx.forward(mk.x), sy.forward(mk.y)) {
                if b.contains((x, y)) {
                    if let Glyph::Marker {
                        fill,
                        edge,
                        shape,
                        radius,
                    } = marker_glyph(mk, style)
                    {
                        draw_marker(root, to_px((x, y)), shape, radius, fill, edge, style)?;
                    }
                }
            }
        }

        // Frame, ticks, labels, title.
        axes::draw_axes(root, &frame, x_ticks, y_ticks, style)?;
        axes::draw_axis_titles(
            root,
            &frame,
            &p.src.x_label,
            &p.src.y_label,
            geo.plot_region_h - geo.bottom,
            x_off + left,
            style,
        )?;
        draw_title(root, &p.src.title, (px_x.start + px_x.end) / 2, m, style)?;
        Ok(())
    }

    fn draw_colorbar<DB: Target>(
        &self,
        root: &DrawingArea<DB, Shift>,
        lv: &Levels,
        t: &Ticks,
        x_off: i32,
        geo: &Geometry,
        style: &Style,
    ) -> Result<(), PlotError> {
        let cbw = style.colorbar_width as i32;
        let m = style.margin as i32;
        let tick_font = style.font(style.tick_font);
        let (lo, hi) = (lv.b0, lv.hi());
        let tw = t
            .labels
            .iter()
            .map(|l| text_size(&tick_font, l).0)
            .max()
            .unwrap_or(0);
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
        for k in 0..lv.n {
            let (ya, yb) = (fy(lv.boundary(k + 1)), fy(lv.boundary(k)));
            root.draw(&Rectangle::new([(x0, ya), (x1, yb)], lv.color(k).filled()))
                .map_err(draw_err)?;
        }
        let hair = style.hair();
        root.draw(&Rectangle::new(
            [(x0, y_top), (x1, y_bot)],
            stroke(TEXT, hair),
        ))
        .map_err(draw_err)?;
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
            draw_text(
                root,
                l,
                (lx, fy(v)),
                style.tick_font,
                HPos::Left,
                VAlign::Middle,
                style,
            )?;
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

/// Subdivisions per grid cell so that sub-cells are about 2 px wide.
fn subdivision(plot_px: usize, cells: usize, style: &Style) -> usize {
    let cell_px = plot_px as f64 / cells.max(1) as f64;
    ((cell_px / (2.0 * style.scale)).ceil() as usize).clamp(1, 16)
}

/// Position of a sub-cell centre between grid centres: index of the lower
/// grid point and the interpolation weight (clamped, i.e. constant beyond the
/// outermost centres).
#[derive(Debug, Clone, Copy)]
struct Sample {
    i: usize,
    t: f64,
}

/// Refines cell edges `e` (len n+1) into `k` sub-cells each; returns the fine
/// edges and, for each sub-cell centre, where it falls on the centre grid `g`.
fn refine(e: &[f64], g: &[f64], k: usize) -> (Vec<f64>, Vec<Sample>) {
    let n = g.len();
    let mut edges = Vec::with_capacity((e.len() - 1) * k + 1);
    let mut samples = Vec::with_capacity((e.len() - 1) * k);
    for c in 0..n {
        for j in 0..k {
            let lo = e[c] + (e[c + 1] - e[c]) * j as f64 / k as f64;
            let mid = e[c] + (e[c + 1] - e[c]) * (j as f64 + 0.5) / k as f64;
            edges.push(lo);
            let i = if mid < g[c] {
                c.saturating_sub(1)
            } else {
                c.min(n - 2)
            };
            let t = ((mid - g[i]) / (g[i + 1] - g[i])).clamp(0.0, 1.0);
            samples.push(Sample { i, t });
        }
    }
    edges.push(e[n]);
    (edges, samples)
}

/// Bilinear interpolation of `tv[iy][ix]`; falls back to the nearest centre
/// when a neighbour is missing (NaN).
fn bilinear(tv: &[Vec<f64>], sx: &Sample, sy: &Sample) -> f64 {
    let (i, j) = (sx.i, sy.i);
    let v00 = tv[j][i];
    let v10 = tv[j][i + 1];
    let v01 = tv[j + 1][i];
    let v11 = tv[j + 1][i + 1];
    if v00.is_nan() || v10.is_nan() || v01.is_nan() || v11.is_nan() {
        let ni = if sx.t < 0.5 { i } else { i + 1 };
        let nj = if sy.t < 0.5 { j } else { j + 1 };
        return tv[nj][ni];
    }
    let a = v00 + sx.t * (v10 - v00);
    let b = v01 + sx.t * (v11 - v01);
    a + sy.t * (b - a)
}

fn path_color(p: &PathOverlay, k: usize) -> RGBColor {
    palette_color(p.color_index.unwrap_or(PATH_AUTO[k % PATH_AUTO.len()]))
}

fn path_glyph(p: &PathOverlay, k: usize, style: &Style) -> Glyph {
    Glyph::Line {
        color: path_color(p, k),
        width: style.line_width,
        dashed: false,
        marker: None,
        band_alpha: None,
        halo: true,
    }
}

fn curve_glyph(c: &CurveOverlay, style: &Style) -> Glyph {
    Glyph::Line {
        color: BLACK,
        width: style.line_width,
        dashed: c.dashed,
        marker: None,
        band_alpha: None,
        halo: true,
    }
}

fn marker_glyph(m: &Marker, style: &Style) -> Glyph {
    let (fill, edge) = match (m.color_index, m.shape) {
        (None, MarkerShape::Cross) => (BLACK, WHITE),
        (None, _) => (WHITE, BLACK),
        (Some(i), MarkerShape::Cross) => (palette_color(i), WHITE),
        (Some(i), _) => (palette_color(i), BLACK),
    };
    Glyph::Marker {
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
        assert_eq!(l.index(0.5).map(|k| k < l.n), Some(true));
        assert_eq!(l.index(f64::NAN), None);
    }

    #[test]
    fn iso_line_of_plane_is_straight() {
        let g: Vec<f64> = (0..5).map(|i| i as f64).collect();
        let tv: Vec<Vec<f64>> = g.iter().map(|_| g.clone()).collect(); // v = x
        let lines = iso_lines(&g, &g, &tv, 1.5);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), 5);
        assert!(lines[0].iter().all(|p| (p.0 - 1.5).abs() < 1e-12));
    }
}
