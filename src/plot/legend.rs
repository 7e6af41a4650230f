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

/// Draws one line of text in the figure font. Sizes are plotters font sizes;
/// for DejaVu Sans the cap height is ≈ 0.63 and the descender ≈ 0.20 of it.
/// plotters' SVG backend puts a top-anchored baseline `0.76em` down, the em
/// being size / 1.24.
pub(crate) fn draw_text(
    area: &Area,
    text: &str,
    (x, y): Px,
    size: f64,
    h: HPos,
    v: VAlign,
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
pub(crate) fn draw_outline(area: &Area, (a, b): (Px, Px), color: RGBColor, width: u32) -> Result<(), PlotError> {
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

/// Draws a polyline in pixel space; `halo` first draws a wider white line
/// underneath so the line stays visible on any background.
pub(crate) fn draw_polyline(
    area: &Area,
    pts: &[Px],
    color: RGBColor,
    width: u32,
    dashed: bool,
    halo: bool,
    style: &Style,
) -> Result<(), PlotError> {
    if pts.len() < 2 {
        return Ok(());
    }
    let dash = style.px(8.0).max(2);
    let gap = style.px(5.0).max(2);
    let mut layers = Vec::with_capacity(2);
    if halo {
        layers.push(stroke(WHITE, width + 2 * style.px(1.25).max(1) as u32));
    }
    layers.push(stroke(color, width));
    for st in layers {
        if dashed {
            area.draw(&DashedPathElement::new(pts.iter().copied(), dash, gap, st))
        } else {
            area.draw(&PathElement::new(pts.to_vec(), st))
        }
        .map_err(draw_err)?;
    }
    Ok(())
}

fn star_points(c: Px, r_out: f64, r_in: f64) -> Vec<Px> {
    (0..10)
        .map(|k| {
            let r = if k % 2 == 0 { r_out } else { r_in };
            let a = -std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::PI / 5.0;
            (
                c.0 + (r * a.cos()).round() as i32,
                c.1 + (r * a.sin()).round() as i32,
            )
        })
        .collect()
}

fn filled_polygon(
    area: &Area,
    pts: Vec<Px>,
    fill: RGBColor,
    edge: RGBColor,
    style: &Style,
) -> Result<(), PlotError> {
    area.draw(&Polygon::new(pts.clone(), fill.filled()))
        .map_err(draw_err)?;
    let mut closed = pts;
    closed.push(closed[0]);
    area.draw(&PathElement::new(closed, stroke(edge, style.hair())))
        .map_err(draw_err)?;
    Ok(())
}

/// Draws a marker of radius `r` (pixels) centred on `c`.
pub(crate) fn draw_marker(
    area: &Area,
    c: Px,
    shape: MarkerShape,
    r: i32,
    fill: RGBColor,
    edge: RGBColor,
    style: &Style,
) -> Result<(), PlotError> {
    let rf = r as f64;
    let hair = style.hair();
    match shape {
        MarkerShape::Circle => {
            area.draw(&Circle::new(c, r, fill.filled()))
                .map_err(draw_err)?;
            area.draw(&Circle::new(c, r, stroke(edge, hair)))
                .map_err(draw_err)?;
        }
        MarkerShape::Square => {
            let h = (rf * 0.9).round() as i32;
            area.draw(&Rectangle::new(
                [(c.0 - h, c.1 - h), (c.0 + h, c.1 + h)],
                fill.filled(),
            ))
            .map_err(draw_err)?;
            draw_outline(area, ((c.0 - h, c.1 - h), (c.0 + h, c.1 + h)), edge, hair)?;
        }
        MarkerShape::Triangle => {
            let big = rf * 1.35;
            let pts = vec![
                (c.0, c.1 - big.round() as i32),
                (
                    c.0 + (big * 0.866).round() as i32,
                    c.1 + (big * 0.5).round() as i32,
                ),
                (
                    c.0 - (big * 0.866).round() as i32,
                    c.1 + (big * 0.5).round() as i32,
                ),
            ];
            filled_polygon(area, pts, fill, edge, style)?;
        }
        MarkerShape::Diamond => {
            let a = (rf * 1.3).round() as i32;
            let b = (rf * 0.95).round() as i32;
            let pts = vec![
                (c.0, c.1 - a),
                (c.0 + b, c.1),
                (c.0, c.1 + a),
                (c.0 - b, c.1),
            ];
            filled_polygon(area, pts, fill, edge, style)?;
        }
        MarkerShape::Star => {
            filled_polygon(area, star_points(c, rf * 1.7, rf * 0.7), fill, edge, style)?;
        }
        MarkerShape::Cross => {
            let a = (rf * 1.15).round() as i32;
            let w = ((rf / 2.0).round() as u32).max(2 * hair);
            let arms = [
                vec![(c.0 - a, c.1 - a), (c.0 + a, c.1 + a)],
                vec![(c.0 - a, c.1 + a), (c.0 + a, c.1 - a)],
            ];
            if edge != fill {
                for arm in &arms {
                    area.draw(&PathElement::new(arm.clone(), stroke(edge, w + 2 * hair)))
                        .map_err(draw_err)?;
                }
            }
            for arm in arms {
                area.draw(&PathElement::new(arm, stroke(fill, w)))
                    .map_err(draw_err)?;
            }
        }
    }
    Ok(())
}

/// What a legend entry shows next to its label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Glyph {
    /// A line sample, optionally dashed, with a marker and/or shaded band.
    Line {
        color: RGBColor,
        width: u32,
        dashed: bool,
        marker: Option<MarkerShape>,
        band_alpha: Option<f64>,
        halo: bool,
    },
    /// A single marker.
    Marker {
        fill: RGBColor,
        edge: RGBColor,
        shape: MarkerShape,
        radius: i32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub glyph: Glyph,
}

struct Metrics {
    sample_w: i32,
    row_h: i32,
    pad: i32,
    text_gap: i32,
}

fn metrics(style: &Style) -> Metrics {
    let font = style.font(style.legend_font);
    let (_, th) = text_size(&font, "Ag");
    Metrics {
        sample_w: style.px(34.0),
        row_h: (th as f64 * 1.3).round() as i32 + style.px(2.0),
        pad: style.px(7.0),
        text_gap: style.px(7.0),
    }
}

fn draw_glyph(
    area: &Area,
    glyph: &Glyph,
    x0: i32,
    cy: i32,
    sample_w: i32,
    style: &Style,
) -> Result<(), PlotError> {
    let cx = x0 + sample_w / 2;
    match glyph {
        Glyph::Line {
            color,
            width,
            dashed,
            marker,
            band_alpha,
            halo,
        } => {
            if let Some(a) = band_alpha {
                let h = style.px(6.0);
                area.draw(&Rectangle::new(
                    [(x0, cy - h), (x0 + sample_w, cy + h)],
                    color.mix(*a).filled(),
                ))
                .map_err(draw_err)?;
            }
            draw_polyline(
                area,
                &[(x0, cy), (x0 + sample_w, cy)],
                *color,
                *width,
                *dashed,
                *halo,
                style,
            )?;
            if let Some(shape) = marker {
                draw_marker(
                    area,
                    (cx, cy),
                    *shape,
                    style.marker_size as i32,
                    *color,
                    *color,
                    style,
                )?;
            }
        }
        Glyph::Marker {
            fill,
            edge,
            shape,
            radius,
        } => draw_marker(area, (cx, cy), *shape, *radius, *fill, *edge, style)?,
    }
    Ok(())
}

fn draw_label(
    area: &Area,
    text: &str,
    x: i32,
    cy: i32,
    size: f64,
    style: &Style,
) -> Result<(), PlotError> {
    draw_text(area, text, (x, cy), size, HPos::Left, VAlign::Middle, style)
}

/// Size of a boxed single-column legend.
pub(crate) fn legend_box_size(entries: &[LegendEntry], style: &Style) -> (i32, i32) {
    let m = metrics(style);
    let font = style.font(style.legend_font);
    let tw = entries
        .iter()
        .map(|e| text_size(&font, &e.label).0)
        .max()
        .unwrap_or(0);
    (
        2 * m.pad + m.sample_w + m.text_gap + tw,
        2 * m.pad + m.row_h * entries.len() as i32 - style.px(4.0),
    )
}

fn draw_box(
    area: &Area,
    top_left: Px,
    size: Px,
    style: &Style,
) -> Result<(), PlotError> {
    let br = (top_left.0 + size.0, top_left.1 + size.1);
    area.draw(&Rectangle::new([top_left, br], WHITE.mix(0.88).filled()))
        .map_err(draw_err)?;
    draw_outline(area, (top_left, br), RGBColor(150, 150, 150), style.hair())
}

/// Draws a boxed single-column legend with its top-left corner at `top_left`.
pub(crate) fn draw_legend_box(
    area: &Area,
    entries: &[LegendEntry],
    top_left: Px,
    style: &Style,
) -> Result<(), PlotError> {
    if entries.is_empty() {
        return Ok(());
    }
    let m = metrics(style);
    let size = legend_box_size(entries, style);
    draw_box(area, top_left, size, style)?;
    for (k, e) in entries.iter().enumerate() {
        let cy = top_left.1 + m.pad + m.row_h * k as i32 + (m.row_h - style.px(4.0)) / 2;
        let x0 = top_left.0 + m.pad;
        draw_glyph(area, &e.glyph, x0, cy, m.sample_w, style)?;
        draw_label(
            area,
            &e.label,
            x0 + m.sample_w + m.text_gap,
            cy,
            style.legend_font,
            style,
        )?;
    }
    Ok(())
}

/// Lays entries out in rows of at most `width` pixels; returns, per row, the
/// entries' widths.
fn strip_rows(entries: &[LegendEntry], width: i32, style: &Style) -> Vec<Vec<(usize, i32)>> {
    let m = metrics(style);
    let font = style.font(style.legend_font);
    let spacing = style.px(22.0);
    let mut rows: Vec<Vec<(usize, i32)>> = vec![];
    let mut cur: Vec<(usize, i32)> = vec![];
    let mut used = 0;
    for (k, e) in entries.iter().enumerate() {
        let w = m.sample_w + m.text_gap + text_size(&font, &e.label).0;
        let extra = if cur.is_empty() { w } else { w + spacing };
        if !cur.is_empty() && used + extra > width {
            rows.push(std::mem::take(&mut cur));
            used = 0;
            cur.push((k, w));
            used += w;
        } else {
            cur.push((k, w));
            used += extra;
        }
    }
    if !cur.is_empty() {
        rows.push(cur);
    }
    rows
}

/// Height of an unboxed, horizontally flowing legend strip.
pub(crate) fn legend_strip_height(entries: &[LegendEntry], width: i32, style: &Style) -> i32 {
    if entries.is_empty() {
        return 0;
    }
    let m = metrics(style);
    strip_rows(entries, width, style).len() as i32 * m.row_h + m.pad
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
    let m = metrics(style);
    let spacing = style.px(22.0);
    for (r, row) in strip_rows(entries, width, style).iter().enumerate() {
        let total: i32 = row.iter().map(|(_, w)| w).sum::<i32>() + spacing * (row.len() as i32 - 1);
        let mut x = x0 + (width - total).max(0) / 2;
        let cy = y0 + m.pad / 2 + m.row_h * r as i32 + m.row_h / 2;
        for &(k, w) in row {
            let e = &entries[k];
            draw_glyph(area, &e.glyph, x, cy, m.sample_w, style)?;
            draw_label(
                area,
                &e.label,
                x + m.sample_w + m.text_gap,
                cy,
                style.legend_font,
                style,
            )?;
            x += w + spacing;
        }
    }
    Ok(())
}

/// Size of a boxed block of text lines.
pub(crate) fn text_box_size(lines: &[String], style: &Style) -> (i32, i32) {
    let font = style.font(style.annotation_font);
    let (_, th) = text_size(&font, "Ag");
    let row_h = (th as f64 * 1.3).round() as i32;
    let pad = style.px(7.0);
    let tw = lines
        .iter()
        .map(|l| text_size(&font, l).0)
        .max()
        .unwrap_or(0);
    (
        2 * pad + tw,
        2 * pad + row_h * lines.len() as i32 - style.px(4.0),
    )
}

/// Draws a boxed block of text lines with its top-left corner at `top_left`.
pub(crate) fn draw_text_box(
    area: &Area,
    lines: &[String],
    top_left: Px,
    style: &Style,
) -> Result<(), PlotError> {
    if lines.is_empty() {
        return Ok(());
    }
    let font = style.font(style.annotation_font);
    let (_, th) = text_size(&font, "Ag");
    let row_h = (th as f64 * 1.3).round() as i32;
    let pad = style.px(7.0);
    draw_box(area, top_left, text_box_size(lines, style), style)?;
    for (k, l) in lines.iter().enumerate() {
        let cy = top_left.1 + pad + row_h * k as i32 + (row_h - style.px(4.0)) / 2;
        draw_label(area, l, top_left.0 + pad, cy, style.annotation_font, style)?;
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
    draw_text(
        area,
        text,
        (cx, top),
        style.title_font,
        HPos::Center,
        VAlign::Top,
        style,
    )
}
