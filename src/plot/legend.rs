//! Pixel-space drawing shared by all figures: text, lines with optional
//! dashes and halos, markers, and legends (boxed, or flowing in a strip).

use std::f64::consts::{FRAC_PI_2, TAU};

use plotters::element::{Circle, Cross, DashedPathElement, PathElement, Polygon, Rectangle};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontTransform, RGBColor, WHITE};

use super::style::{text_size, Style, TEXT};
use super::{Area, PlotError};

/// Marker shapes (contour overlays; line-chart markers cycle through them):
/// filled circle, diagonal cross (×), upward triangle, five-pointed star,
/// square, diamond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MarkerShape {
    #[default]
    Circle,
    Cross,
    Triangle,
    Star,
    Square,
    Diamond,
}

/// Marker shapes used in turn by line-chart series with markers.
pub(crate) const MARKER_CYCLE: [MarkerShape; 6] = {
    use MarkerShape::*;
    [Circle, Square, Triangle, Diamond, Star, Cross]
};

pub(crate) type Px = (i32, i32);

/// Where a line of text sits relative to its point: centred with the top
/// of its capitals there (titles); starting there, its visual middle
/// (between x-height and cap height) there (labels); or reading
/// bottom-to-top, centred on it, the tops of its letters there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    TopCentre,
    LeftMiddle,
    Up,
}

/// Baseline offset of plotters' top-anchored SVG text (`0.76em`, the em being
/// size / 1.24), per unit font size.
const TOP_DROP: f64 = 0.76 / 1.24;

/// Draws one line of text in the figure font. Sizes are plotters font sizes;
/// for DejaVu Sans the cap height is ≈ 0.63 of it.
pub(crate) fn draw_text(
    area: &Area,
    text: &str,
    (x, y): Px,
    size: f64,
    anchor: Anchor,
    style: &Style,
) -> Result<(), PlotError> {
    if text.is_empty() {
        return Ok(());
    }
    let (ts, size) = (style.font(size).color(&TEXT), size * style.scale);
    let top = |h| ts.pos(Pos::new(h, VPos::Top));
    let at = |cap: f64| (x, (y as f64 + cap * size - TOP_DROP * size).round() as i32);
    let (ts, at) = match anchor {
        Anchor::TopCentre => (top(HPos::Center), at(0.63)),
        Anchor::LeftMiddle => (top(HPos::Left), at(0.27)),
        Anchor::Up => {
            let up = top(HPos::Center).transform(FontTransform::Rotate270);
            (
                up,
                ((x as f64 + (0.66 - TOP_DROP) * size).round() as i32, y),
            )
        }
    };
    Ok(area.draw_text(text, &ts, at)?)
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
    Ok(area.draw(&PathElement::new(pts, color.stroke_width(width)))?)
}

/// How a data line is stroked: colour, dashes, and optionally a wider white
/// halo underneath that keeps it visible on any background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pen {
    pub color: RGBColor,
    pub dashed: bool,
    pub halo: bool,
}

impl Pen {
    pub fn new(color: RGBColor, dashed: bool, halo: bool) -> Pen {
        Pen {
            color,
            dashed,
            halo,
        }
    }

    /// Draws a polyline in pixel space, `style.line_width` wide.
    pub fn draw(&self, area: &Area, pts: &[Px], style: &Style) -> Result<(), PlotError> {
        if pts.len() < 2 {
            return Ok(());
        }
        let (dash, gap) = (style.px(8.0).max(2), style.px(5.0).max(2));
        let w = style.len(style.line_width) as u32;
        let halo = (WHITE, w + 2 * style.px(1.25).max(1) as u32);
        let layers = [halo, (self.color, w)];
        for &(color, w) in &layers[usize::from(!self.halo)..] {
            let (stroke, pts) = (color.stroke_width(w), pts.iter().copied());
            match self.dashed {
                true => area.draw(&DashedPathElement::new(pts, dash, gap, stroke)),
                false => area.draw(&PathElement::new(pts.collect::<Vec<_>>(), stroke)),
            }?;
        }
        Ok(())
    }
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
    /// Draws the marker centred on `c`: a filled shape with a hairline edge,
    /// or for the cross two bars over wider ones in the edge colour.
    pub fn draw(&self, area: &Area, c: Px, style: &Style) -> Result<(), PlotError> {
        let (r, hair) = (self.radius as f64, style.hair());
        // Vertices: count, radius of even and odd ones, x stretch, start (turns from the top).
        let (n, r_even, r_odd, sx, start) = match self.shape {
            MarkerShape::Square => (4, 1.27, 1.27, 1.0, 0.125),
            MarkerShape::Triangle => (3, 1.35, 1.35, 1.0, 0.0),
            MarkerShape::Diamond => (4, 1.3, 1.3, 0.73, 0.0),
            MarkerShape::Star => (10, 1.7, 0.7, 1.0, 0.0),
            MarkerShape::Circle => {
                area.draw(&Circle::new(c, self.radius, self.fill.filled()))?;
                let edge = Circle::new(c, self.radius, self.edge.stroke_width(hair));
                return Ok(area.draw(&edge)?);
            }
            MarkerShape::Cross => {
                let a = (r * 1.15).round() as i32;
                let w = ((r / 2.0).round() as u32).max(2 * hair);
                let edge = (self.edge != self.fill).then_some((self.edge, w + 2 * hair));
                for (color, width) in edge.into_iter().chain([(self.fill, w)]) {
                    area.draw(&Cross::new(c, a, color.stroke_width(width)))?;
                }
                return Ok(());
            }
        };
        let vertex = |k: usize| {
            let rad = r * [r_even, r_odd][k % 2];
            let a = TAU * (start + k as f64 / n as f64) - FRAC_PI_2;
            let (dx, dy) = (sx * rad * a.cos(), rad * a.sin());
            (c.0 + dx.round() as i32, c.1 + dy.round() as i32)
        };
        // The edge runs on past the start: closed, every corner a join.
        let pts: Vec<Px> = (0..n + 2).map(|k| vertex(k % n)).collect();
        area.draw(&Polygon::new(pts[..n].to_vec(), self.fill.filled()))?;
        Ok(area.draw(&PathElement::new(pts, self.edge.stroke_width(hair)))?)
    }
}

/// One row of a legend: a sample (band, line and/or marker) and its label;
/// rows without a sample are plain text (the annotation box of a line chart).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LegendEntry {
    pub label: String,
    /// Opacity of a band behind the line sample, in the line's colour.
    pub band_alpha: Option<f64>,
    pub line: Option<Pen>,
    pub marker: Option<MarkerStyle>,
}

impl LegendEntry {
    pub fn new(label: &str, line: Option<Pen>, marker: Option<MarkerStyle>) -> Self {
        let (label, band_alpha) = (label.to_string(), None);
        LegendEntry {
            label,
            band_alpha,
            line,
            marker,
        }
    }
}

/// A laid-out legend: where each entry's sample starts (its left end,
/// vertically centred) relative to the legend's top-left corner, and its size.
pub(crate) struct Legend<'a> {
    entries: &'a [LegendEntry],
    at: Vec<Px>,
    pub size: Px,
    boxed: bool,
    font: f64,
    sample_w: i32,
}

impl<'a> Legend<'a> {
    /// Unboxed rows flowing within `width`, each row centred; without a
    /// width, a boxed column, every entry a row of its own (of plain text,
    /// smaller, if none has a sample).
    pub fn flow(entries: &'a [LegendEntry], width: Option<i32>, style: &Style) -> Self {
        let sample = |e: &LegendEntry| e.line.is_some() || e.marker.is_some();
        let text = !entries.iter().any(sample);
        let (font, sample_w, extra) = match text {
            true => (style.annotation_font, 0, 0),
            false => (style.legend_font, style.px(41.0), style.px(2.0)),
        };
        let row_h = (text_size(&style.font(font), "Ag").1 as f64 * 1.3).round() as i32 + extra;
        let (pad, spacing, max_w) = (style.px(7.0), style.px(22.0), width.unwrap_or(0));
        let row_w =
            |r: &Vec<(usize, i32)>| r.iter().map(|(_, w)| w + spacing).sum::<i32>() - spacing;
        let mut rows: Vec<Vec<(usize, i32)>> = vec![];
        for (k, e) in entries.iter().enumerate() {
            let w = sample_w + text_size(&style.font(font), &e.label).0;
            match rows.last_mut() {
                Some(row) if row_w(row) + spacing + w <= max_w => row.push((k, w)),
                _ => rows.push(vec![(k, w)]),
            }
        }
        let (x0, y0) = match width {
            None => (pad, pad - style.px(2.0)),
            Some(_) => (0, pad / 2),
        };
        let (mut at, mut widest) = (vec![(0, 0); entries.len()], 0);
        for (r, row) in rows.iter().enumerate() {
            let total = row_w(row);
            let mut x = x0 + (max_w - total).max(0) / 2;
            for &(k, w) in row {
                at[k] = (x, y0 + row_h * r as i32 + row_h / 2);
                x += w + spacing;
            }
            widest = widest.max(total);
        }
        let n = rows.len() as i32;
        let size = match width {
            None => (2 * pad + widest, 2 * pad + row_h * n - style.px(4.0)),
            Some(w) => (w, if n == 0 { 0 } else { n * row_h + pad }),
        };
        Legend {
            entries,
            at,
            size,
            boxed: width.is_none(),
            font,
            sample_w,
        }
    }

    /// Draws the legend with its top-left corner at `(x, y)`.
    pub fn draw(&self, area: &Area, (x, y): Px, style: &Style) -> Result<(), PlotError> {
        if self.boxed {
            let corners = ((x, y), (x + self.size.0, y + self.size.1));
            let bg = Rectangle::new([corners.0, corners.1], WHITE.mix(0.88).filled());
            area.draw(&bg)?;
            draw_outline(area, corners, RGBColor(150, 150, 150), style.hair())?;
        }
        let sw = self.sample_w - style.px(7.0);
        for (e, &(dx, dy)) in self.entries.iter().zip(&self.at) {
            let (x0, cy) = (x + dx, y + dy);
            if let (Some(a), Some(pen)) = (e.band_alpha, e.line) {
                let h = style.px(6.0);
                let band =
                    Rectangle::new([(x0, cy - h), (x0 + sw, cy + h)], pen.color.mix(a).filled());
                area.draw(&band)?;
            }
            if let Some(pen) = e.line {
                pen.draw(area, &[(x0, cy), (x0 + sw, cy)], style)?;
            }
            if let Some(mk) = e.marker {
                mk.draw(area, (x0 + sw / 2, cy), style)?;
            }
            let at = (x0 + self.sample_w, cy);
            draw_text(area, &e.label, at, self.font, Anchor::LeftMiddle, style)?;
        }
        Ok(())
    }
}
