//! Pixel-space drawing primitives shared by all figures: lines with optional
//! dashes and halos, markers, legends and text boxes.

use plotters::element::{Circle, DashedPathElement, PathElement, Polygon, Rectangle};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, RGBColor, ShapeStyle, WHITE};

use super::style::{text_size, Style, TEXT};
use super::{draw_err, Area, PlotError};

/// Marker shapes (contour overlays; line-chart markers cycle through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MarkerShape {
    /// Filled circle.
    #[default]
    Circle,
    /// Diagonal cross (×).
    Cross,
    /// Upward triangle.
    Triangle,
    /// Five-pointed star.
    Star,
    /// Square.
    Square,
    /// Diamond.
    Diamond,
}

/// Marker shapes used in turn by line-chart series with markers.
pub(crate) const MARKER_CYCLE: [MarkerShape; 6] = [
    MarkerShape::Circle,
    MarkerShape::Square,
    MarkerShape::Triangle,
    MarkerShape::Diamond,
    MarkerShape::Star,
    MarkerShape::Cross,
];

pub(crate) type Px = (i32, i32);

/// Baseline offset of plotters' top-anchored SVG text, per unit font size.
const TOP_DROP: f64 = 0.76 / 1.24;

/// Vertical alignment of a line of text relative to the given y.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VAlign {
    /// Top of capitals at y.
    Top,
    /// Visual middle (between x-height and cap height) at y.
    Middle,
}

/// Anchor of legend labels and colour-bar tick labels.
pub(crate) const MID_LEFT: (HPos, VAlign) = (HPos::Left, VAlign::Middle);

/// Draws one line of text in the figure font. Sizes are plotters font sizes;
/// for DejaVu Sans the cap height is ≈ 0.63 and the descender ≈ 0.20 of it.
/// plotters' SVG backend puts a top-anchored baseline `0.76em` down, the em
/// being size / 1.24.
pub(crate) fn draw_text(
    area: &Area,
    text: &str,
    (x, y): Px,
    size: f64,
    (h, v): (HPos, VAlign),
    style: &Style,
) -> Result<(), PlotError> {
    if text.is_empty() {
        return Ok(());
    }
    let baseline = y as f64
        + match v {
            VAlign::Top => 0.63 * size,
            VAlign::Middle => 0.27 * size,
        };
    let anchor = (baseline - TOP_DROP * size).round() as i32;
    let ts = style.font(size).color(&TEXT).pos(Pos::new(h, VPos::Top));
    area.draw_text(text, &ts, (x, anchor)).map_err(draw_err)
}

/// Draws text rotated to read bottom-to-top, centred vertically on `y`, with
/// the tops of its letters at `x_left`.
pub(crate) fn draw_text_up(
    area: &Area,
    text: &str,
    (x_left, y): Px,
    size: f64,
    style: &Style,
) -> Result<(), PlotError> {
    if text.is_empty() {
        return Ok(());
    }
    let anchor = (x_left as f64 + (0.66 - TOP_DROP) * size).round() as i32;
    let ts = style
        .font(size)
        .color(&TEXT)
        .transform(plotters::style::FontTransform::Rotate270)
        .pos(Pos::new(HPos::Center, VPos::Top));
    area.draw_text(text, &ts, (anchor, y)).map_err(draw_err)
}

/// Outline of the rectangle `a`–`b` as a path, since plotters' SVG
/// rectangles drop the stroke width; the first side is drawn twice so that
/// every corner is a join.
pub(crate) fn draw_outline(
    area: &Area,
    (a, b): (Px, Px),
    color: RGBColor,
    width: u32,
) -> Result<(), PlotError> {
    let pts = vec![a, (b.0, a.1), b, (a.0, b.1), a, (b.0, a.1)];
    area.draw(&PathElement::new(pts, stroke(color, width)))
        .map_err(draw_err)
}

pub(crate) fn stroke(color: RGBColor, width: u32) -> ShapeStyle {
    ShapeStyle {
        color: color.to_rgba(),
        filled: false,
        stroke_width: width,
    }
}

/// How a data line is stroked: colour, dashes, and optionally a wider white
/// halo underneath that keeps it visible on any background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pen {
    pub color: RGBColor,
    pub width: u32,
    pub dashed: bool,
    pub halo: bool,
}

impl Pen {
    /// A pen of the style's line width.
    pub fn new(color: RGBColor, dashed: bool, halo: bool, style: &Style) -> Pen {
        let width = style.line_width;
        Pen {
            color,
            width,
            dashed,
            halo,
        }
    }

    /// Draws a polyline in pixel space.
    pub fn draw(&self, area: &Area, pts: &[Px], style: &Style) -> Result<(), PlotError> {
        if pts.len() < 2 {
            return Ok(());
        }
        let (dash, gap) = (style.px(8.0).max(2), style.px(5.0).max(2));
        let mut layers = Vec::with_capacity(2);
        if self.halo {
            let w = self.width + 2 * style.px(1.25).max(1) as u32;
            layers.push(stroke(WHITE, w));
        }
        layers.push(stroke(self.color, self.width));
        for st in layers {
            if self.dashed {
                area.draw(&DashedPathElement::new(pts.iter().copied(), dash, gap, st))
            } else {
                area.draw(&PathElement::new(pts.to_vec(), st))
            }
            .map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Outline of a polygonal marker of radius `r` at `c`, `None` for a circle
/// or a cross.
fn marker_outline(shape: MarkerShape, c: Px, r: f64) -> Option<Vec<Px>> {
    let polar = |k: usize, n: usize, rad: f64| {
        let a = -std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::TAU / n as f64;
        (
            c.0 + (rad * a.cos()).round() as i32,
            c.1 + (rad * a.sin()).round() as i32,
        )
    };
    let (h, a, b) = (
        (r * 0.9).round() as i32,
        (r * 1.3).round() as i32,
        (r * 0.95).round() as i32,
    );
    Some(match shape {
        MarkerShape::Square => vec![
            (c.0 - h, c.1 - h),
            (c.0 + h, c.1 - h),
            (c.0 + h, c.1 + h),
            (c.0 - h, c.1 + h),
        ],
        MarkerShape::Triangle => (0..3).map(|k| polar(k, 3, r * 1.35)).collect(),
        MarkerShape::Diamond => vec![
            (c.0, c.1 - a),
            (c.0 + b, c.1),
            (c.0, c.1 + a),
            (c.0 - b, c.1),
        ],
        MarkerShape::Star => (0..10)
            .map(|k| polar(k, 10, if k % 2 == 0 { r * 1.7 } else { r * 0.7 }))
            .collect(),
        MarkerShape::Circle | MarkerShape::Cross => return None,
    })
}

/// A marker: shape, radius (pixels) and colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MarkerStyle {
    pub shape: MarkerShape,
    pub radius: i32,
    pub fill: RGBColor,
    pub edge: RGBColor,
}

impl MarkerStyle {
    /// Draws the marker centred on `c`.
    pub fn draw(&self, area: &Area, c: Px, style: &Style) -> Result<(), PlotError> {
        let MarkerStyle {
            shape,
            radius: r,
            fill,
            edge,
        } = *self;
        draw_marker(area, c, shape, r, (fill, edge), style)
    }
}

fn draw_marker(
    area: &Area,
    c: Px,
    shape: MarkerShape,
    r: i32,
    (fill, edge): (RGBColor, RGBColor),
    style: &Style,
) -> Result<(), PlotError> {
    let (rf, hair) = (r as f64, style.hair());
    if let Some(mut pts) = marker_outline(shape, c, rf) {
        area.draw(&Polygon::new(pts.clone(), fill.filled()))
            .map_err(draw_err)?;
        pts.extend_from_slice(&pts.clone()[..2]); // closed, every corner a join
        return area
            .draw(&PathElement::new(pts, stroke(edge, hair)))
            .map_err(draw_err);
    }
    if shape == MarkerShape::Circle {
        area.draw(&Circle::new(c, r, fill.filled()))
            .map_err(draw_err)?;
        return area
            .draw(&Circle::new(c, r, stroke(edge, hair)))
            .map_err(draw_err);
    }
    let a = (rf * 1.15).round() as i32;
    let w = ((rf / 2.0).round() as u32).max(2 * hair);
    let arms = [
        [(c.0 - a, c.1 - a), (c.0 + a, c.1 + a)],
        [(c.0 - a, c.1 + a), (c.0 + a, c.1 - a)],
    ];
    let layers = if edge != fill {
        vec![(edge, w + 2 * hair), (fill, w)]
    } else {
        vec![(fill, w)]
    };
    for (color, width) in layers {
        for arm in arms {
            area.draw(&PathElement::new(arm.to_vec(), stroke(color, width)))
                .map_err(draw_err)?;
        }
    }
    Ok(())
}

/// What a legend entry shows next to its label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Glyph {
    /// A line sample with optionally a marker (in the line's colour) and a
    /// shaded band of the given opacity.
    Line {
        pen: Pen,
        marker: Option<MarkerShape>,
        band_alpha: Option<f64>,
    },
    /// A single marker.
    Marker(MarkerStyle),
}

/// One row of a legend; entries without a glyph are plain text lines (the
/// annotation box of a line chart).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub glyph: Option<Glyph>,
}

impl LegendEntry {
    pub fn text(label: &str) -> Self {
        LegendEntry {
            label: label.to_string(),
            glyph: None,
        }
    }
}

struct Metrics {
    sample_w: i32,
    row_h: i32,
    pad: i32,
    font: f64,
}

impl Metrics {
    /// Legend rows, or plain text rows (smaller, no sample) when `text`.
    fn new(style: &Style, text: bool) -> Self {
        let font = if text {
            style.annotation_font
        } else {
            style.legend_font
        };
        let th = text_size(&style.font(font), "Ag").1 as f64 * 1.3;
        let (sample_w, extra) = if text {
            (0, 0)
        } else {
            (style.px(34.0) + style.px(7.0), style.px(2.0))
        };
        Metrics {
            sample_w,
            row_h: th.round() as i32 + extra,
            pad: style.px(7.0),
            font,
        }
    }
    fn width(&self, e: &LegendEntry, style: &Style) -> i32 {
        self.sample_w + text_size(&style.font(self.font), &e.label).0
    }
}

/// Draws one entry with its sample starting at `x0`, centred on `cy`.
fn draw_entry(
    area: &Area,
    e: &LegendEntry,
    (x0, cy): Px,
    m: &Metrics,
    style: &Style,
) -> Result<(), PlotError> {
    let sw = m.sample_w - style.px(7.0);
    let mid = (x0 + sw / 2, cy);
    match &e.glyph {
        Some(Glyph::Line {
            pen,
            marker,
            band_alpha,
        }) => {
            let color = pen.color;
            if let Some(a) = band_alpha {
                let h = style.px(6.0);
                let corners = [(x0, cy - h), (x0 + sw, cy + h)];
                area.draw(&Rectangle::new(corners, color.mix(*a).filled()))
                    .map_err(draw_err)?;
            }
            pen.draw(area, &[(x0, cy), (x0 + sw, cy)], style)?;
            if let Some(shape) = marker {
                let r = style.marker_size as i32;
                draw_marker(area, mid, *shape, r, (color, color), style)?;
            }
        }
        Some(Glyph::Marker(mk)) => mk.draw(area, mid, style)?,
        None => {}
    }
    let at = (x0 + m.sample_w, cy);
    draw_text(area, &e.label, at, m.font, MID_LEFT, style)
}

/// Size of a boxed single-column legend (or text block when no entry has a
/// glyph).
pub(crate) fn legend_box_size(entries: &[LegendEntry], style: &Style) -> (i32, i32) {
    let m = Metrics::new(style, entries.iter().all(|e| e.glyph.is_none()));
    let tw = entries.iter().map(|e| m.width(e, style)).max().unwrap_or(0);
    (
        2 * m.pad + tw,
        2 * m.pad + m.row_h * entries.len() as i32 - style.px(4.0),
    )
}

/// Draws a boxed single-column legend with its top-left corner at `top_left`.
pub(crate) fn draw_legend_box(
    area: &Area,
    entries: &[LegendEntry],
    top_left: Px,
    style: &Style,
) -> Result<(), PlotError> {
    let m = Metrics::new(style, entries.iter().all(|e| e.glyph.is_none()));
    let size = legend_box_size(entries, style);
    let br = (top_left.0 + size.0, top_left.1 + size.1);
    area.draw(&Rectangle::new([top_left, br], WHITE.mix(0.88).filled()))
        .map_err(draw_err)?;
    draw_outline(area, (top_left, br), RGBColor(150, 150, 150), style.hair())?;
    for (k, e) in entries.iter().enumerate() {
        let cy = top_left.1 + m.pad + m.row_h * k as i32 + (m.row_h - style.px(4.0)) / 2;
        draw_entry(area, e, (top_left.0 + m.pad, cy), &m, style)?;
    }
    Ok(())
}

/// Lays entries out in rows of at most `width` pixels; returns, per row, the
/// entries' indices and widths.
fn strip_rows(entries: &[LegendEntry], width: i32, style: &Style) -> Vec<Vec<(usize, i32)>> {
    let (m, spacing) = (Metrics::new(style, false), style.px(22.0));
    let mut rows: Vec<Vec<(usize, i32)>> = vec![];
    let mut used = 0;
    for (k, e) in entries.iter().enumerate() {
        let w = m.width(e, style);
        match rows.last_mut() {
            Some(row) if used + spacing + w <= width => {
                row.push((k, w));
                used += spacing + w;
            }
            _ => {
                rows.push(vec![(k, w)]);
                used = w;
            }
        }
    }
    rows
}

/// Height of an unboxed, horizontally flowing legend strip.
pub(crate) fn legend_strip_height(entries: &[LegendEntry], width: i32, style: &Style) -> i32 {
    let m = Metrics::new(style, false);
    let rows = strip_rows(entries, width, style).len() as i32;
    if rows == 0 {
        0
    } else {
        rows * m.row_h + m.pad
    }
}

/// Draws a horizontally flowing legend strip, rows centred in `[x0, x0+width]`.
pub(crate) fn draw_legend_strip(
    area: &Area,
    entries: &[LegendEntry],
    x0: i32,
    y0: i32,
    width: i32,
    style: &Style,
) -> Result<(), PlotError> {
    let (m, spacing) = (Metrics::new(style, false), style.px(22.0));
    for (r, row) in strip_rows(entries, width, style).iter().enumerate() {
        let total: i32 = row.iter().map(|(_, w)| w + spacing).sum::<i32>() - spacing;
        let mut x = x0 + (width - total).max(0) / 2;
        let cy = y0 + m.pad / 2 + m.row_h * r as i32 + m.row_h / 2;
        for &(k, w) in row {
            draw_entry(area, &entries[k], (x, cy), &m, style)?;
            x += w + spacing;
        }
    }
    Ok(())
}

/// Draws `text` centred horizontally on `cx` with its top at `top`.
pub(crate) fn draw_title(
    area: &Area,
    text: &str,
    cx: i32,
    top: i32,
    style: &Style,
) -> Result<(), PlotError> {
    let anchor = (HPos::Center, VAlign::Top);
    draw_text(area, text, (cx, top), style.title_font, anchor, style)
}
