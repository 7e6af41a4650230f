//! Grid, frame, tick marks and tick labels, drawn in pixel space so that
//! text placement is identical in the SVG and PNG outputs.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::element::{PathElement, Rectangle};
use plotters::prelude::DrawingArea;
use plotters::style::text_anchor::HPos;

use super::legend::{draw_text, draw_text_up, stroke, Target, VAlign};
use super::style::{Style, GRID_MAJOR, GRID_MINOR, TEXT};
use super::ticks::Ticks;
use super::{draw_err, PlotError};

/// A plotting area: its pixel extent and the drawing-space → pixel maps.
pub(crate) struct Frame<'a> {
    pub px_x: Range<i32>,
    pub px_y: Range<i32>,
    pub fx: &'a dyn Fn(f64) -> i32,
    pub fy: &'a dyn Fn(f64) -> i32,
}

impl Frame<'_> {
    fn left(&self) -> i32 {
        self.px_x.start
    }
    fn right(&self) -> i32 {
        self.px_x.end - 1
    }
    fn top(&self) -> i32 {
        self.px_y.start
    }
    fn bottom(&self) -> i32 {
        self.px_y.end - 1
    }
}

fn line<DB: Target>(
    root: &DrawingArea<DB, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    color: plotters::style::RGBColor,
    width: u32,
) -> Result<(), PlotError> {
    root.draw(&PathElement::new(vec![a, b], stroke(color, width)))
        .map_err(draw_err)
}

/// Light grid lines at minor ticks and slightly darker ones at major ticks.
pub(crate) fn draw_grid<DB: Target>(
    root: &DrawingArea<DB, Shift>,
    f: &Frame,
    xt: &Ticks,
    yt: &Ticks,
    style: &Style,
) -> Result<(), PlotError> {
    let w = style.hair();
    for (ticks, color) in [(&xt.minor, GRID_MINOR), (&xt.major, GRID_MAJOR)] {
        for &t in ticks {
            let x = (f.fx)(t);
            line(root, (x, f.top()), (x, f.bottom()), color, w)?;
        }
    }
    for (ticks, color) in [(&yt.minor, GRID_MINOR), (&yt.major, GRID_MAJOR)] {
        for &t in ticks {
            let y = (f.fy)(t);
            line(root, (f.left(), y), (f.right(), y), color, w)?;
        }
    }
    Ok(())
}

/// Frame around the plotting area, outward tick marks (minor ticks half
/// length) and tick labels on the bottom and left axes.
pub(crate) fn draw_axes<DB: Target>(
    root: &DrawingArea<DB, Shift>,
    f: &Frame,
    xt: &Ticks,
    yt: &Ticks,
    style: &Style,
) -> Result<(), PlotError> {
    let w = style.hair();
    let tl = style.tick_len();
    root.draw(&Rectangle::new(
        [(f.left(), f.top()), (f.right(), f.bottom())],
        stroke(TEXT, w),
    ))
    .map_err(draw_err)?;
    for (ticks, len) in [(&xt.minor, tl / 2), (&xt.major, tl)] {
        for &t in ticks {
            let x = (f.fx)(t);
            line(root, (x, f.bottom()), (x, f.bottom() + len), TEXT, w)?;
        }
    }
    for (ticks, len) in [(&yt.minor, tl / 2), (&yt.major, tl)] {
        for &t in ticks {
            let y = (f.fy)(t);
            line(root, (f.left() - len, y), (f.left(), y), TEXT, w)?;
        }
    }
    let gap = style.px(4.0);
    for (&t, l) in xt.major.iter().zip(&xt.labels) {
        draw_text(
            root,
            l,
            ((f.fx)(t), f.bottom() + tl + gap),
            style.tick_font,
            HPos::Center,
            VAlign::Top,
            style,
        )?;
    }
    for (&t, l) in yt.major.iter().zip(&yt.labels) {
        draw_text(
            root,
            l,
            (f.left() - tl - gap, (f.fy)(t)),
            style.tick_font,
            HPos::Right,
            VAlign::Middle,
            style,
        )?;
    }
    Ok(())
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

/// Axis titles: `x_label` centred under the plot with its descenders at
/// `x_label_bottom`; `y_label` reading upwards with its letter tops at
/// `y_label_left`.
pub(crate) fn draw_axis_titles<DB: Target>(
    root: &DrawingArea<DB, Shift>,
    f: &Frame,
    x_label: &str,
    y_label: &str,
    x_label_bottom: i32,
    y_label_left: i32,
    style: &Style,
) -> Result<(), PlotError> {
    draw_text(
        root,
        x_label,
        ((f.left() + f.right()) / 2, x_label_bottom),
        style.label_font,
        HPos::Center,
        VAlign::Bottom,
        style,
    )?;
    draw_text_up(
        root,
        y_label,
        (y_label_left, (f.top() + f.bottom()) / 2),
        style.label_font,
        style,
    )
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
