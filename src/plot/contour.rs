//! Filled-contour panels (one or more side by side) with a colour bar,
//! optional iso-lines and overlays (trajectories, markers, curves).
//!
//! Level sets come from the `contour` crate (marching squares, linearly
//! interpolated between cell centres); they are written as raw SVG paths
//! beneath plotters' layer because they have holes, and their outlines are
//! the iso-lines. The colour bar is drawn here by hand: its levels are round
//! numbers shared with the fills.

use std::fmt::Write;

use contour::ContourBuilder;
use plotters::prelude::*;

use super::axes::{axis_title_band, label_width, plot_top, tick_band, y_ticks, Axes, Chart, Frame};
use super::geometry::{clip_polyline, contains, split_runs, Bounds};
use super::legend::{draw_outline, draw_text, Anchor, Legend, LegendEntry};
use super::legend::{MarkerShape, MarkerStyle, Pen, Px};
use super::style::{palette_color, Style, MISSING, TEXT};
use super::ticks::nearest_nice_step;
use super::{display_name, extent, Area, AxisScale, Figure, PlotError};

/// One or more [`ContourPanel`]s side by side with colour bar(s) and a shared
/// legend strip underneath, written as SVG and PNG by [`ContourFigure::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContourFigure {
    /// Panels, left to right.
    pub panels: Vec<ContourPanel>,
    pub colorbar_label: String,
    /// One colour scale (and one colour bar) for all panels; otherwise each
    /// panel gets its own scale and colour bar.
    pub shared_color_scale: bool,
    /// Draw thin iso-lines at the level boundaries.
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

/// One filled-contour panel: values on a rectilinear grid plus overlays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContourPanel {
    /// Title and axes (a log-spaced grid looks right on `Log10`).
    pub axes: Axes,
    /// Grid abscissae and ordinates (cell centres), strictly increasing, at least 2.
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// `values[iy][ix]` at `(xs[ix], ys[iy])`. Non-finite values (and
    /// non-positive ones when `log_color`) are shown in grey.
    pub values: Vec<Vec<f64>>,
    /// Colour levels spaced in `log10(value)`.
    pub log_color: bool,
    /// Overlays: paths in order, below markers.
    pub paths: Vec<PathOverlay>,
    pub markers: Vec<Marker>,
}

/// A polyline drawn over a contour panel in a palette colour with a white
/// halo: an optimiser trajectory, or a curve such as a stability boundary
/// (black, palette colour 6).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathOverlay {
    /// Legend label (empty: not in the legend), points in data coordinates.
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Palette colour index; `None` picks one that stands out on viridis.
    pub color_index: Option<usize>,
    pub dashed: bool,
}

/// A single marker drawn over a contour panel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marker {
    /// Legend label (empty: not in the legend), position in data coordinates.
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub shape: MarkerShape,
    /// Palette colour index of the fill; `None`: white fill, black edge.
    pub color_index: Option<usize>,
}

/// Discretised colour levels in colour space (log10 when `log`): `n` levels
/// of `step` from `b0`.
#[derive(Debug, Clone, Copy)]
struct Levels {
    b0: f64,
    step: f64,
    n: usize,
    log: bool,
}

impl Levels {
    fn new((lo, hi): (f64, f64), target: usize, log: bool) -> Levels {
        let flat = hi - lo <= 1e-12 * lo.abs().max(1.0);
        let d = match () {
            _ if !flat => 0.0,
            _ if log || lo == 0.0 => 0.5,
            _ => 0.1 * lo.abs(),
        };
        let (lo, hi) = (lo - d, hi + d);
        let step = nearest_nice_step((hi - lo) / target.max(2) as f64);
        let b0 = (lo / step + 1e-9).floor() * step;
        let n = (((hi - b0) / step) - 1e-9).ceil().max(1.0) as usize;
        Levels { b0, step, n, log }
    }
    fn boundary(&self, k: usize) -> f64 {
        self.b0 + k as f64 * self.step
    }
    fn color(&self, k: usize) -> RGBColor {
        ViridisRGB::get_color((k as f64 + 0.5) / self.n as f64)
    }
}

/// A validated panel in drawing space: cell centres `gx`, `gy`, cell edges
/// `ex`, `ey`, values `tv[iy][ix]` in colour space (NaN where missing),
/// their range `vr` and the panel's ranges.
struct PPanel<'a> {
    src: &'a ContourPanel,
    gx: Vec<f64>,
    gy: Vec<f64>,
    ex: Vec<f64>,
    ey: Vec<f64>,
    tv: Vec<Vec<f64>>,
    vr: (f64, f64),
    bounds: Bounds,
}

/// A grid axis in drawing space, or why it is not one.
fn grid_axis(v: &[f64], scale: AxisScale, name: &str) -> Result<Vec<f64>, String> {
    if v.len() < 2 {
        let n = v.len();
        return Err(format!("{name} needs at least 2 grid points, got {n}"));
    }
    let unshowable = |x| format!("{name} contains {x}, which cannot be shown on a {scale:?} axis");
    let g = v.iter().map(|&x| scale.forward(x).ok_or(x));
    let g: Vec<f64> = g.collect::<Result<_, _>>().map_err(unshowable)?;
    match g.windows(2).all(|w| w[1] > w[0]) {
        true => Ok(g),
        false => Err(format!("{name} must be strictly increasing")),
    }
}

/// Cell edges around centres `g`: midpoints, and half a cell beyond the ends.
fn edges(g: &[f64]) -> Vec<f64> {
    let n = g.len();
    let mids = g.windows(2).map(|w| (w[0] + w[1]) / 2.0);
    let first = g[0] - (g[1] - g[0]) / 2.0;
    let last = g[n - 1] + (g[n - 1] - g[n - 2]) / 2.0;
    std::iter::once(first).chain(mids).chain([last]).collect()
}

impl<'a> PPanel<'a> {
    fn new(p: &'a ContourPanel, idx: usize) -> Result<Self, PlotError> {
        let name = display_name(&p.axes.title, idx);
        let grid_err = |e: String| PlotError::InvalidGrid(format!("panel `{name}`: {e}"));
        let gx = grid_axis(&p.xs, p.axes.x_scale, "xs").map_err(grid_err)?;
        let gy = grid_axis(&p.ys, p.axes.y_scale, "ys").map_err(grid_err)?;
        let (nx, ny, rows) = (p.xs.len(), p.ys.len(), p.values.len());
        if rows != ny {
            let e = format!("values has {rows} rows but ys has {ny} points");
            return Err(grid_err(e));
        }
        if let Some((iy, row)) = p.values.iter().enumerate().find(|(_, r)| r.len() != nx) {
            let n = row.len();
            let e = format!("values row {iy} has {n} entries but xs has {nx} points");
            return Err(grid_err(e));
        }
        let cscale = AxisScale::from_log(p.log_color);
        let colour = |v: &f64| cscale.forward(*v).unwrap_or(f64::NAN);
        let row = |r: &Vec<f64>| r.iter().map(colour).collect();
        let tv: Vec<Vec<f64>> = p.values.iter().map(row).collect();
        let vr = extent(tv.iter().flatten().copied());
        if vr.0 > vr.1 {
            let what = format!("contour panel `{name}`");
            return Err(PlotError::NoFiniteData { what });
        }
        let (ex, ey) = (edges(&gx), edges(&gy));
        let bounds = ((ex[0], ex[nx]), (ey[0], ey[ny]));
        Ok(PPanel {
            src: p,
            gx,
            gy,
            ex,
            ey,
            tv,
            vr,
            bounds,
        })
    }

    /// A polyline in drawing space, split at unshowable points and clipped to the panel.
    fn transform(&self, pts: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let runs = split_runs(pts.iter().map(|&q| self.src.axes.forward(q)));
        let clip = |r: &Vec<_>| clip_polyline(r, self.bounds);
        runs.iter().flat_map(clip).collect()
    }

    /// Paths, then markers on top.
    fn draw_overlays(&self, root: &Area, chart: &Chart, st: &Style) -> Result<(), PlotError> {
        for (_, points, pen) in overlay_lines(self.src) {
            for run in self.transform(points) {
                let pts: Vec<Px> = run.iter().map(|q| chart.backend_coord(q)).collect();
                pen.draw(root, &pts, st)?;
            }
        }
        for mk in &self.src.markers {
            let at = self.src.axes.forward((mk.x, mk.y));
            if let Some(q) = at.filter(|&q| contains(self.bounds, q)) {
                marker_style(mk, st).draw(root, chart.backend_coord(&q), st)?;
            }
        }
        Ok(())
    }
}

impl ContourFigure {
    /// Pixel size `(width, height)` of the rendered figure for `style`.
    pub fn dimensions(&self, style: &Style) -> (u32, u32) {
        let n = self.panels.len() as u32;
        let bars = if self.shared_color_scale { 1 } else { n };
        let len = |v| style.len(v) as u32;
        let w = n * len(style.contour_panel_width) + bars * len(style.colorbar_width);
        (w, len(style.contour_height))
    }

    fn levels(&self, panels: &[PPanel], style: &Style) -> Result<Vec<Levels>, PlotError> {
        let target = style.contour_levels;
        if !self.shared_color_scale {
            let own = |p: &PPanel| Levels::new(p.vr, target, p.src.log_color);
            return Ok(panels.iter().map(own).collect());
        }
        let log = panels[0].src.log_color;
        if panels.iter().any(|p| p.src.log_color != log) {
            let e = "a shared colour scale needs the same log_color on every panel";
            return Err(PlotError::InvalidInput(e.into()));
        }
        let vr = extent(panels.iter().flat_map(|p| [p.vr.0, p.vr.1]));
        Ok(vec![Levels::new(vr, target, log); panels.len()])
    }

    /// Legend entries of all panels, each distinct one once.
    fn legend_entries(&self, style: &Style) -> Vec<LegendEntry> {
        let mut entries: Vec<LegendEntry> = vec![];
        let line = |(label, _, pen)| LegendEntry::new(label, Some(pen), None);
        let marker = |m: &Marker| LegendEntry::new(&m.label, None, Some(marker_style(m, style)));
        for p in &self.panels {
            let markers = p.markers.iter().map(marker);
            for e in overlay_lines(p).map(line).chain(markers) {
                if !e.label.is_empty() && !entries.contains(&e) {
                    entries.push(e);
                }
            }
        }
        entries
    }

    /// The colour bar left-aligned at `x_off`, spanning `y_top..y_bot`: one
    /// block per level, ticks and labels on its right, then its title.
    fn draw_colorbar(
        &self,
        root: &Area,
        lv: &Levels,
        (x_off, (y_top, y_bot)): (i32, (i32, i32)),
        st: &Style,
    ) -> Result<(), PlotError> {
        let (lo, hi) = (lv.b0, lv.boundary(lv.n));
        let t = y_ticks(st, AxisScale::from_log(lv.log), (lo, hi), y_bot - y_top);
        let tw = label_width(st, &t);
        let title_w = axis_title_band(st) * i32::from(!self.colorbar_label.is_empty());
        let (left, m) = (st.px(12.0), st.len(st.margin));
        let bar_w = st.len(st.colorbar_width) - left - m / 2 - tick_band(st, tw) - title_w;
        let x0 = x_off + left;
        let x1 = x0 + bar_w.clamp(st.px(10.0), st.px(22.0));
        let fy = |v: f64| (y_bot as f64 - (v - lo) / (hi - lo) * (y_bot - y_top) as f64).round();
        let fy = |v: f64| fy(v) as i32;
        // Each level reaches down to the bottom, painted top level first, so
        // that no anti-aliased seam shows between neighbouring levels.
        for k in (0..lv.n).rev() {
            let block = [(x0, fy(lv.boundary(k + 1))), (x1, y_bot)];
            root.draw(&Rectangle::new(block, lv.color(k).filled()))?;
        }
        let (hair, tl) = (st.hair(), st.tick_len());
        draw_outline(root, ((x0, y_top), (x1, y_bot)), TEXT, hair)?;
        for (ticks, len) in [(&t.minor, tl / 2), (&t.major, tl)] {
            for y in ticks.iter().map(|&v| fy(v)) {
                let mark = PathElement::new(vec![(x1, y), (x1 + len, y)], TEXT.stroke_width(hair));
                root.draw(&mark)?;
            }
        }
        let lx = x1 + tl + st.px(4.0);
        for (&v, l) in t.major.iter().zip(&t.labels) {
            draw_text(root, l, (lx, fy(v)), st.tick_font, Anchor::LeftMiddle, st)?;
        }
        let at = (lx + tw + st.px(8.0), (y_top + y_bot) / 2);
        let label = &self.colorbar_label;
        draw_text(root, label, at, st.label_font, Anchor::Up, st)
    }
}

impl Figure for ContourFigure {
    fn dims(&self, style: &Style) -> (u32, u32) {
        self.dimensions(style)
    }

    /// Panels left to right, each with its colour bar unless they share
    /// one after the last; the legend strip underneath.
    fn draw(&self, root: &Area, under: &mut String, st: &Style) -> Result<(), PlotError> {
        if self.panels.is_empty() {
            let what = "contour figure".to_string();
            return Err(PlotError::NothingToPlot { what });
        }
        let panels = (self.panels.iter().enumerate()).map(|(i, p)| PPanel::new(p, i));
        let panels: Vec<PPanel> = panels.collect::<Result<_, _>>()?;
        let levels = self.levels(&panels, st)?;
        let (w, h) = self.dimensions(st);
        let (w, h, m) = (w as i32, h as i32, st.len(st.margin));
        let entries = self.legend_entries(st);
        let strip = Legend::flow(&entries, Some(w - 2 * m), st);
        let size = (st.len(st.contour_panel_width), h - strip.size.1);
        let top = plot_top(st, self.panels.iter().any(|p| !p.axes.title.is_empty()));
        let bottom = (if strip.size.1 > 0 { 0 } else { m / 2 }) + st.px(2.0);
        let bar = st.len(st.colorbar_width) * i32::from(!self.shared_color_scale);
        for (i, (p, lv)) in panels.iter().zip(&levels).enumerate() {
            let x_off = i as i32 * (size.0 + bar);
            let frame = Frame::fit(st, size, (top, bottom, st.px(14.0)), &p.src.axes, p.bounds);
            let area = root.clone().shrink((x_off, 0), size);
            let chart = frame.chart(&area, false, st)?;
            let to_px = |q: (f64, f64)| chart.backend_coord(&q);
            fill_panel(under, p, lv, &to_px, self.iso_lines, st);
            p.draw_overlays(root, &chart, st)?;
            frame.close(root, &chart, st)?;
            if !self.shared_color_scale || i + 1 == panels.len() {
                let y = (top, size.1 - bottom - frame.x_area);
                self.draw_colorbar(root, lv, (x_off + size.0, y), st)?;
            }
        }
        strip.draw(root, (m, size.1), st)
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

/// Row-major values for marching squares: every missing (NaN) entry replaced
/// by the mean of its known neighbours, repeatedly, so that no level
/// interpolates towards NaN (missing cells are painted grey over the result);
/// then padded by a copy of the outermost cells, since marching squares
/// treats the outside of the grid as below every level and would cut off the
/// corner cells.
fn contour_values(tv: &[Vec<f64>]) -> Vec<f64> {
    let (ny, nx) = (tv.len(), tv[0].len());
    let mut v: Vec<f64> = tv.iter().flatten().copied().collect();
    while v.iter().any(|x| x.is_nan()) {
        let prev = v.clone();
        for (k, out) in v.iter_mut().enumerate().filter(|(_, x)| x.is_nan()) {
            let (iy, ix) = (k / nx, k % nx);
            let near = [
                (iy, ix.wrapping_sub(1)),
                (iy, ix + 1),
                (iy.wrapping_sub(1), ix),
                (iy + 1, ix),
            ];
            let at = |&(y, x): &(usize, usize)| (y < ny && x < nx).then(|| prev[y * nx + x]);
            let known: Vec<f64> = near.iter().filter_map(at).filter(|x| !x.is_nan()).collect();
            if !known.is_empty() {
                *out = known.iter().sum::<f64>() / known.len() as f64;
            }
        }
    }
    let at = |i: usize, n: usize| i.saturating_sub(1).min(n - 1);
    let rows = (0..ny + 2).flat_map(|iy| (0..nx + 2).map(move |ix| (at(iy, ny), at(ix, nx))));
    rows.map(|(iy, ix)| v[iy * nx + ix]).collect()
}

/// Appends the closed ring `pts` (SVG units) to an SVG path.
fn push_ring(d: &mut String, pts: impl Iterator<Item = Px>) {
    for (k, (x, y)) in pts.enumerate() {
        let _ = write!(d, "{}{x},{y}", if k == 0 { "M" } else { "L" });
    }
    d.push('Z');
}

/// Writes a panel's filled levels, iso-lines and missing cells as SVG:
/// the lowest colour over the whole panel, then each superlevel set
/// `{v ≥ boundary k}` (with its holes) in colour k on top, so that
/// anti-aliased edges blend neighbouring levels instead of showing seams.
/// The iso-lines are the outlines of those sets, clipped to the panel
/// because they also run along its edges, under the frame.
fn fill_panel(
    out: &mut String,
    p: &PPanel,
    lv: &Levels,
    to_px: &dyn Fn((f64, f64)) -> Px,
    iso: bool,
    st: &Style,
) {
    let (nx, ny, b) = (p.gx.len(), p.gy.len(), p.bounds);
    let rect = |d: &mut String, (x0, x1), (y0, y1)| {
        let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)];
        push_ring(d, corners.into_iter().map(to_px))
    };
    let mut panel = String::new();
    rect(&mut panel, b.0, b.1);
    let id = format!("iso{}", out.len()); // unique: `out` only grows
    let clip = format!("<clipPath id=\"{id}\"><path d=\"{panel}\"/></clipPath>\n");
    out.push_str(&clip);
    let mut put = |d: &str, attrs: String| {
        if !d.is_empty() {
            let _ = writeln!(out, "<path d=\"{d}\" {attrs}/>");
        }
    };
    let fill = |c: RGBColor| format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
    put(&panel, fill(lv.color(0)));
    let thresholds: Vec<f64> = (1..lv.n).map(|k| lv.boundary(k)).collect();
    let to_svg =
        |c: &contour::Pt| to_px((from_grid(c.x, &p.gx, &p.ex), from_grid(c.y, &p.gy, &p.ey)));
    let builder = ContourBuilder::new(nx + 2, ny + 2, true);
    // Errors only on a size mismatch, which PPanel::new rules out.
    let sets = builder.contours(&contour_values(&p.tv), &thresholds);
    let sets = sets.unwrap_or_default();
    let mut lines = String::new();
    for (k, set) in sets.iter().enumerate() {
        let mut d = String::new();
        for poly in set.geometry() {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                push_ring(&mut d, ring.0.iter().map(to_svg));
            }
        }
        put(&d, fill(lv.color(k + 1)) + " fill-rule=\"evenodd\"");
        lines.push_str(&d);
    }
    if iso {
        let stroke = "fill=\"none\" stroke=\"#000000\" stroke-opacity=\"0.28\"";
        let w = st.hair();
        let attrs = format!("clip-path=\"url(#{id})\" {stroke} stroke-width=\"{w}\"");
        put(&lines, attrs);
    }
    // Missing cells, one rectangle per run along a row.
    let mut d = String::new();
    for (iy, row) in p.tv.iter().enumerate() {
        let mut ix = 0;
        while let Some(start) = (ix..nx).find(|&j| row[j].is_nan()) {
            ix = (start..nx).find(|&j| !row[j].is_nan()).unwrap_or(nx);
            rect(&mut d, (p.ex[start], p.ex[ix]), (p.ey[iy], p.ey[iy + 1]));
        }
    }
    put(&d, fill(MISSING));
}

/// The paths of a panel (by default in colours that stand out on viridis):
/// label, points and pen, all with a halo.
fn overlay_lines(p: &ContourPanel) -> impl Iterator<Item = (&str, &[(f64, f64)], Pen)> {
    const PATH_AUTO: [usize; 6] = [1, 4, 3, 5, 0, 2];
    p.paths.iter().enumerate().map(|(k, o)| {
        let color = palette_color(o.color_index.unwrap_or(PATH_AUTO[k % PATH_AUTO.len()]));
        (&o.label[..], &o.points[..], Pen::new(color, o.dashed, true))
    })
}

/// Markers over contours: white with a black edge by default, palette
/// colour fills otherwise; crosses with a white edge.
fn marker_style(m: &Marker, style: &Style) -> MarkerStyle {
    let fill = m.color_index.map_or(WHITE, palette_color);
    let (fill, edge) = match m.shape {
        MarkerShape::Cross if m.color_index.is_none() => (BLACK, WHITE),
        MarkerShape::Cross => (fill, WHITE),
        _ => (fill, BLACK),
    };
    let radius = style.len(style.marker_size) + style.px(2.0);
    MarkerStyle {
        shape: m.shape,
        radius,
        fill,
        edge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_round() {
        let l = Levels::new((0.013, 0.97), 14, false);
        assert!(l.n >= 8 && l.n <= 22, "{l:?}");
        assert!(l.b0 <= 0.013 && l.boundary(l.n) >= 0.97);
        assert!((l.boundary(1) - l.b0 - l.step).abs() < 1e-12);
    }

    #[test]
    fn level_boundary_of_plane_is_interpolated() {
        // v = x on centres 0..4: the set {v >= 1.5} starts at x = 1.5.
        let g: Vec<f64> = (0..5).map(|i| i as f64).collect();
        let e = edges(&g);
        let padded = contour_values(&vec![g.clone(); 5]);
        assert_eq!(padded.len(), 49);
        let c = ContourBuilder::new(7, 7, true)
            .contours(&padded, &[1.5])
            .unwrap();
        let ring = &c[0].geometry().0[0].exterior().0;
        let (lo, hi) = extent(ring.iter().map(|p| from_grid(p.x, &g, &e)));
        assert!((lo - 1.5).abs() < 1e-12 && hi == e[5], "{lo}, {hi}");
    }

    #[test]
    fn missing_values_take_their_neighbours() {
        let v = contour_values(&[vec![1.0, f64::NAN, 3.0], vec![f64::NAN, f64::NAN, 5.0]]);
        // Padded row 0 (a copy of row 0), and row 1 filled from its neighbours.
        assert_eq!(&v[..5], &[1.0, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!(&v[15..20], &[1.0, 1.0, 5.0, 5.0, 5.0]);
        assert!(v.iter().all(|x| x.is_finite()), "{v:?}");
    }
}
