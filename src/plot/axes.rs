//! The axes of one plot and their frame, shared by line charts and contour
//! panels: ticks fitted to the label sizes (`ticks`), margins, plotters' mesh
//! (grid, tick marks, tick labels, axis descriptions), the title, and what
//! plotters' mesh lacks: the frame and the minor tick marks (it marks
//! labelled ticks only).

use std::ops::Range;

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::{ChartBuilder, ChartContext, PathElement, SVGBackend};
use plotters::style::Color;

use super::legend::{draw_outline, draw_text, Anchor};
use super::style::{text_size, Style, GRID_MAJOR, GRID_MINOR, TEXT};
use super::ticks::{ticks, Fit, Ticks};
use super::{Area, AxisScale, PlotError};

/// The title above a plot (may be empty), its axis labels and axis scales.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Axes {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: AxisScale,
    pub y_scale: AxisScale,
}

impl Axes {
    /// Linear unlabelled axes under `title`; [`Axes::x`] and [`Axes::y`] label them.
    pub fn new(title: impl Into<String>) -> Axes {
        Axes {
            title: title.into(),
            ..Default::default()
        }
    }

    /// With the x axis labelled `label`, on `scale`.
    pub fn x(mut self, label: impl Into<String>, scale: AxisScale) -> Axes {
        (self.x_label, self.x_scale) = (label.into(), scale);
        self
    }

    /// With the y axis labelled `label`, on `scale`.
    pub fn y(mut self, label: impl Into<String>, scale: AxisScale) -> Axes {
        (self.y_label, self.y_scale) = (label.into(), scale);
        self
    }

    /// A data point in drawing space, if both coordinates can be shown.
    pub(crate) fn forward(&self, (x, y): (f64, f64)) -> Option<(f64, f64)> {
        Some((self.x_scale.forward(x)?, self.y_scale.forward(y)?))
    }
}

/// A linear axis whose mesh lines are given ticks: major (bold, labelled)
/// and minor (light). Like plotters' `WithKeyPoints`, which however does
/// not work with `configure_mesh`.
pub(crate) struct Axis(RangedCoordf64, Ticks);

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        self.0.map(v, limit)
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let light = hint.weight().allow_light_points();
        if light { &self.1.minor } else { &self.1.major }.clone()
    }
    fn range(&self) -> Range<f64> {
        self.0.range()
    }
}

impl ValueFormatter<f64> for Axis {
    /// The label of the major tick at `v` (plotters' mesh asks for no other).
    fn format_ext(&self, v: &f64) -> String {
        let close = |m: &f64| (m - v).abs() <= 1e-9 * (1.0 + m.abs());
        let k = self.1.major.iter().position(close);
        k.map_or_else(String::new, |k| self.1.labels[k].clone())
    }
}

/// A plotters chart over drawing-space coordinates (log10 on log axes).
pub(crate) type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// Height reserved above the plots for titles (0 without one), plus the
/// half tick label that sticks out above the plot.
pub(crate) fn plot_top(style: &Style, has_title: bool) -> i32 {
    let title = style.px(0.9 * style.title_font) + style.px(10.0);
    let half_label = style.px(0.35 * style.tick_font) + style.px(2.0);
    style.len(style.margin) + if has_title { title } else { 0 } + half_label
}

/// Space taken by tick marks and labels next to an axis, whose labels are
/// `label` long across it.
pub(crate) fn tick_band(style: &Style, label: i32) -> i32 {
    style.tick_len() + style.px(4.0) + label
}

/// Space taken by an axis title across its axis.
pub(crate) fn axis_title_band(style: &Style) -> i32 {
    style.px(8.0) + style.px(0.87 * style.label_font)
}

fn label_w(style: &Style, label: &str) -> i32 {
    text_size(&style.font(style.tick_font), label).0
}

pub(crate) fn label_width(style: &Style, t: &Ticks) -> i32 {
    let widths = t.labels.iter().map(|l| label_w(style, l));
    widths.max().unwrap_or(0)
}

/// Ticks of a vertical axis (plot or colour bar) `len` units long over `r`:
/// labels one text height tall, at least 0.9 of that apart.
pub(crate) fn y_ticks(style: &Style, scale: AxisScale, r: (f64, f64), len: i32) -> Ticks {
    let tick_h = text_size(&style.font(style.tick_font), "0123456789").1 as f64;
    let fit = Fit {
        px_per_unit: len as f64 / (r.1 - r.0),
        extent: &|_| tick_h,
        gap: tick_h * 0.9,
        max_ticks: 7,
        scale: style.scale,
    };
    ticks(scale, r.0, r.1, &fit)
}

/// Layout of one plot inside an area: margins and ticks fitted to them.
pub(crate) struct Frame {
    axes: Axes,
    /// Area size; plot margins (top, bottom, left, right); label areas.
    size: (i32, i32),
    margins: [i32; 4],
    pub x_area: i32,
    y_area: i32,
    /// Axis ranges (drawing space) and their ticks.
    pub xr: (f64, f64),
    pub yr: (f64, f64),
    x_ticks: Ticks,
    y_ticks: Ticks,
}

impl Frame {
    /// Fits a plot of `axes` over ranges `xr` × `yr` into an area of `size`
    /// with the plot `top` and `bottom` (above the x label area) from its
    /// edges and at least `right` from its right edge, more if the last x
    /// label needs it.
    pub fn fit(
        style: &Style,
        size: (i32, i32),
        (top, bottom, right): (i32, i32, i32),
        axes: &Axes,
        (xr, yr): ((f64, f64), (f64, f64)),
    ) -> Frame {
        let x_area = tick_band(style, style.px(0.63 * style.tick_font))
            + axis_title_band(style)
            + style.px(2.0);
        let left = style.len(style.margin) / 2 + style.px(2.0);
        let plot_h = (size.1 - top - x_area - bottom).max(50);
        let y_ticks = y_ticks(style, axes.y_scale, yr, plot_h);
        let y_area = tick_band(style, label_width(style, &y_ticks)) + axis_title_band(style);
        let mut f = Frame {
            axes: axes.clone(),
            size,
            margins: [top, bottom, left, right],
            x_area,
            y_area,
            xr,
            yr,
            x_ticks: Ticks::default(),
            y_ticks,
        };
        // The right margin depends on the last x label, which depends on the
        // plot width: two rounds settle it.
        for _ in 0..2 {
            let len = f.plot_size().0;
            let fit = Fit {
                px_per_unit: len as f64 / (xr.1 - xr.0),
                extent: &|l| label_w(style, l) as f64,
                gap: style.px(16.0) as f64,
                max_ticks: 9,
                scale: style.scale,
            };
            f.x_ticks = ticks(axes.x_scale, xr.0, xr.1, &fit);
            if let (Some(v), Some(l)) = (f.x_ticks.major.last(), f.x_ticks.labels.last()) {
                let dist = (xr.1 - v) * fit.px_per_unit;
                let overhang =
                    (label_w(style, l) as f64 / 2.0 - dist).ceil() as i32 + style.px(3.0);
                f.margins[3] = f.margins[3].max(overhang);
            }
        }
        f
    }

    pub fn plot_size(&self) -> (i32, i32) {
        let [top, bottom, left, right] = self.margins;
        let w = self.size.0 - left - self.y_area - right;
        let h = self.size.1 - top - self.x_area - bottom;
        (w.max(50), h.max(50))
    }

    /// Builds the chart on `area` (of the fitted size) and draws its mesh:
    /// grid lines when `grid`, labelled tick marks, tick labels, axis titles.
    pub fn chart<'a, 'b>(
        &self,
        area: &'a Area<'b>,
        grid: bool,
        style: &Style,
    ) -> Result<Chart<'a, 'b>, PlotError> {
        let axis = |r: (f64, f64), t: &Ticks| Axis((r.0..r.1).into(), t.clone());
        let [top, bottom, left, right] = self.margins;
        let mut chart = ChartBuilder::on(area)
            .margin_top(top)
            .margin_bottom(bottom)
            .margin_left(left)
            .margin_right(right)
            .x_label_area_size(self.x_area)
            .y_label_area_size(self.y_area)
            .build_cartesian_2d(axis(self.xr, &self.x_ticks), axis(self.yr, &self.y_ticks))?;
        let hair = style.hair();
        let mut mesh = chart.configure_mesh();
        mesh.label_style(style.font(style.tick_font).color(&TEXT))
            .axis_desc_style(style.font(style.label_font).color(&TEXT))
            .x_desc(&self.axes.x_label)
            .y_desc(&self.axes.y_label)
            .axis_style(TEXT.stroke_width(hair))
            .set_all_tick_mark_size(style.tick_len())
            // plotters centres y labels 0.25 em below y; DejaVu digits need 0.33.
            .y_label_offset(style.px(0.068 * style.tick_font))
            .bold_line_style(GRID_MAJOR.stroke_width(hair))
            .light_line_style(GRID_MINOR.stroke_width(hair));
        if !grid {
            mesh.disable_mesh();
        }
        mesh.draw()?;
        Ok(chart)
    }

    /// Draws on `root` the half-length minor tick marks, the frame around
    /// the plotting area and the title centred above it.
    pub fn close(&self, root: &Area, chart: &Chart, style: &Style) -> Result<(), PlotError> {
        let (px_x, px_y) = chart.plotting_area().get_pixel_range();
        let (l, r, t, b) = (px_x.start, px_x.end - 1, px_y.start, px_y.end - 1);
        let (w, len) = (style.hair(), style.tick_len() / 2);
        let line = |a, z| root.draw(&PathElement::new(vec![a, z], TEXT.stroke_width(w)));
        for &v in &self.x_ticks.minor {
            let x = chart.backend_coord(&(v, 0.0)).0;
            line((x, b), (x, b + len))?;
        }
        for &v in &self.y_ticks.minor {
            let y = chart.backend_coord(&(0.0, v)).1;
            line((l - len, y), (l, y))?;
        }
        draw_outline(root, ((l, t), (r, b)), TEXT, w)?;
        let at = ((l + r + 1) / 2, style.len(style.margin));
        let title = &self.axes.title;
        draw_text(root, title, at, style.title_font, Anchor::TopCentre, style)
    }
}
