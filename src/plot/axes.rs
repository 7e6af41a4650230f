//! Chart frame and axes: plotters' mesh draws the grid, tick marks, tick
//! labels and axis descriptions at the ticks chosen by `ticks`; this module
//! adds the frame and the minor tick marks (plotters marks only labelled ones)
//! and sizes the label areas.

use std::ops::Range;

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::{ChartBuilder, ChartContext, PathElement, SVGBackend};
use plotters::style::Color;

use super::legend::{draw_outline, stroke};
use super::style::{text_size, Style, GRID_MAJOR, GRID_MINOR, TEXT};
use super::ticks::{ticks, Fit, Ticks};
use super::{draw_err, Area, AxisScale, PlotError};

/// A linear axis whose mesh lines are given ticks: major (bold, labelled)
/// and minor (light). Like plotters' `WithKeyPoints`, which however does
/// not work with `configure_mesh`.
pub(crate) struct Axis {
    inner: RangedCoordf64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(v, limit)
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let light = hint.weight().allow_light_points();
        if light { &self.minor } else { &self.major }.clone()
    }
    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// A plotters chart over drawing-space coordinates (log10 on log axes).
pub(crate) type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// Space around the plotting area of a chart, in drawing units.
pub(crate) struct Margins {
    pub top: i32,
    pub bottom: i32,
    pub left: i32,
    pub right: i32,
    /// Height of the x label area (tick labels and axis title).
    pub x_area: i32,
    /// Width of the y label area.
    pub y_area: i32,
}

/// Builds a chart over `xr` × `yr` whose mesh lines are the given ticks.
pub(crate) fn build<'a, 'b>(
    area: &'a Area<'b>,
    m: &Margins,
    (xr, yr): ((f64, f64), (f64, f64)),
    (xt, yt): (&Ticks, &Ticks),
) -> Result<Chart<'a, 'b>, PlotError> {
    let axis = |r: (f64, f64), t: &Ticks| Axis {
        inner: (r.0..r.1).into(),
        major: t.major.clone(),
        minor: t.minor.clone(),
    };
    ChartBuilder::on(area)
        .margin_top(m.top)
        .margin_bottom(m.bottom)
        .margin_left(m.left)
        .margin_right(m.right)
        .x_label_area_size(m.x_area)
        .y_label_area_size(m.y_area)
        .build_cartesian_2d(axis(xr, xt), axis(yr, yt))
        .map_err(draw_err)
}

/// The label of the major tick at `v`.
fn label_at(t: &Ticks, v: f64) -> String {
    let k = t
        .major
        .iter()
        .position(|&m| (m - v).abs() <= 1e-9 * (1.0 + m.abs()));
    k.map_or_else(String::new, |k| t.labels[k].clone())
}

/// Grid lines (when `grid`), labelled tick marks, tick labels and axis
/// descriptions, by plotters' mesh.
pub(crate) fn draw_mesh(
    chart: &mut Chart,
    (xt, yt): (&Ticks, &Ticks),
    (x_label, y_label): (&str, &str),
    grid: bool,
    style: &Style,
) -> Result<(), PlotError> {
    let (fx, fy) = (|v: &f64| label_at(xt, *v), |v: &f64| label_at(yt, *v));
    let hair = style.hair();
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style(style.font(style.tick_font).color(&TEXT))
        .axis_desc_style(style.font(style.label_font).color(&TEXT))
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_style(stroke(TEXT, hair))
        .set_all_tick_mark_size(style.tick_len())
        // plotters centres y labels 0.25 em below y; DejaVu digits need 0.33.
        .y_label_offset((0.068 * style.tick_font).round() as i32)
        .bold_line_style(GRID_MAJOR.stroke_width(hair))
        .light_line_style(GRID_MINOR.stroke_width(hair));
    if !grid {
        mesh.disable_mesh();
    }
    mesh.draw().map_err(draw_err)
}

/// Frame around the plotting area and half-length minor tick marks.
pub(crate) fn draw_frame(
    area: &Area,
    chart: &Chart,
    (xt, yt): (&Ticks, &Ticks),
    style: &Style,
) -> Result<(), PlotError> {
    let (px_x, px_y) = chart.plotting_area().get_pixel_range();
    let (l, r, t, b) = (px_x.start, px_x.end - 1, px_y.start, px_y.end - 1);
    let (w, len) = (style.hair(), style.tick_len() / 2);
    let line = |a, z| area.draw(&PathElement::new(vec![a, z], stroke(TEXT, w)));
    for &v in &xt.minor {
        let x = chart.backend_coord(&(v, 0.0)).0;
        line((x, b), (x, b + len)).map_err(draw_err)?;
    }
    for &v in &yt.minor {
        let y = chart.backend_coord(&(0.0, v)).1;
        line((l - len, y), (l, y)).map_err(draw_err)?;
    }
    draw_outline(area, ((l, t), (r, b)), TEXT, w)
}

/// Vertical space below the plotting area taken by x tick marks and labels.
pub(crate) fn x_tick_band(style: &Style) -> i32 {
    style.tick_len() + style.px(4.0) + (0.63 * style.tick_font).round() as i32
}

/// Horizontal space left of the plotting area taken by y tick marks and labels
/// whose widest label is `label_w`.
pub(crate) fn y_tick_band(style: &Style, label_w: i32) -> i32 {
    style.tick_len() + style.px(4.0) + label_w
}

/// Height reserved above the plot for a title (0 without one).
pub(crate) fn title_band(style: &Style, has_title: bool) -> i32 {
    if has_title {
        (0.9 * style.title_font).round() as i32 + style.px(10.0)
    } else {
        0
    }
}

/// Top margin of the plotting area below a title band.
pub(crate) fn plot_top(style: &Style, title_band: i32) -> i32 {
    style.margin as i32 + title_band + (0.35 * style.tick_font).round() as i32 + style.px(2.0)
}

/// Label-area height under the plot: tick labels plus the axis title.
pub(crate) fn x_area(style: &Style) -> i32 {
    x_tick_band(style) + style.px(8.0) + (0.87 * style.label_font).round() as i32 + style.px(2.0)
}

/// Label-area width left of the plot: tick labels plus the axis title.
pub(crate) fn y_area(style: &Style, label_w: i32) -> i32 {
    y_tick_band(style, label_w) + style.px(8.0) + (0.87 * style.label_font).round() as i32
}

fn tick_label_w(style: &Style, label: &str) -> f64 {
    text_size(&style.font(style.tick_font), label).0 as f64
}

/// Ticks of a vertical axis (plot or colour bar) `len` units long over `r`:
/// labels one text height tall, at least 0.9 of that apart.
pub(crate) fn y_ticks(style: &Style, scale: AxisScale, r: (f64, f64), len: i32) -> Ticks {
    let (_, tick_h) = text_size(&style.font(style.tick_font), "0123456789");
    let fit = Fit {
        px_per_unit: len as f64 / (r.1 - r.0),
        extent: &|_| tick_h as f64,
        gap: tick_h as f64 * 0.9,
        max_ticks: 7,
        scale: style.scale,
    };
    ticks(scale, r.0, r.1, &fit)
}

/// Ticks of a horizontal axis `len` units long over `r`, fitted to the label widths.
pub(crate) fn x_ticks(style: &Style, scale: AxisScale, r: (f64, f64), len: i32) -> Ticks {
    let fit = Fit {
        px_per_unit: len as f64 / (r.1 - r.0),
        extent: &|l| tick_label_w(style, l),
        gap: style.px(16.0) as f64,
        max_ticks: 9,
        scale: style.scale,
    };
    ticks(scale, r.0, r.1, &fit)
}

/// Width of the widest tick label.
pub(crate) fn label_width(style: &Style, t: &Ticks) -> i32 {
    t.labels
        .iter()
        .map(|l| tick_label_w(style, l) as i32)
        .max()
        .unwrap_or(0)
}

/// Right margin needed for the last x tick label of an axis `len` units long
/// over `r` not to stick out of the figure (0 without ticks).
pub(crate) fn x_overhang(style: &Style, t: &Ticks, r: (f64, f64), len: i32) -> i32 {
    let (Some(v), Some(l)) = (t.major.last(), t.labels.last()) else {
        return 0;
    };
    let dist = (r.1 - v) / (r.1 - r.0) * len as f64;
    (tick_label_w(style, l) / 2.0 - dist).ceil() as i32 + style.px(3.0)
}
