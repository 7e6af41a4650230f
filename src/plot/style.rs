//! Figure-wide look: palette, font sizes, figure dimensions.

use plotters::style::{FontDesc, FontFamily, FontStyle, RGBColor};

/// Font family name under which the embedded DejaVu Sans is registered.
pub const FONT_FAMILY: &str = "DejaVu Sans";

/// The Okabe–Ito colour-blind-safe palette, ordered for line plots on white
/// (blue, vermillion, bluish green, orange, reddish purple, sky blue, black,
/// yellow — yellow last as it is weak on white).
pub const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// Colour `i` of the palette (cycling).
pub fn palette_color(i: usize) -> RGBColor {
    OKABE_ITO[i % OKABE_ITO.len()]
}

pub(crate) const TEXT: RGBColor = RGBColor(0, 0, 0);
pub(crate) const REF_LINE: RGBColor = RGBColor(90, 90, 90);
pub(crate) const GRID_MAJOR: RGBColor = RGBColor(222, 222, 222);
pub(crate) const GRID_MINOR: RGBColor = RGBColor(240, 240, 240);
pub(crate) const MISSING: RGBColor = RGBColor(200, 200, 200);

/// Sizes of a figure at scale 1: lengths in pixels, font sizes in plotters
/// units (1.24 × the SVG font size); all are drawn `scale` times as large.
/// The default suits a 640×440 single-column figure still readable at
/// ~3.4 in; [`Style::scaled`] makes a larger one.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    /// Size of a line chart.
    pub width: u32,
    pub height: u32,
    /// Width of one contour panel (with its axis labels) and of a colour-bar
    /// column, height of a contour figure (with its legend strip).
    pub contour_panel_width: u32,
    pub colorbar_width: u32,
    pub contour_height: u32,
    /// Font sizes of titles, axis labels, tick labels, legends, annotations.
    pub title_font: f64,
    pub label_font: f64,
    pub tick_font: f64,
    pub legend_font: f64,
    pub annotation_font: f64,
    /// Stroke width of data lines, marker radius.
    pub line_width: u32,
    pub marker_size: u32,
    /// Opacity of confidence bands.
    pub band_alpha: f64,
    /// Target number of filled-contour levels (the count is chosen so that
    /// level boundaries are round numbers, typically 10–20).
    pub contour_levels: usize,
    /// Outer margin of the figure.
    pub margin: u32,
    /// Multiplier of every size above and of built-in paddings, tick
    /// lengths and hairlines.
    pub scale: f64,
    /// SVG units per output pixel: plotters rounds coordinates to whole
    /// units, so figures are drawn this much larger inside a `viewBox`.
    pub units_per_px: u32,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            width: 640,
            height: 440,
            contour_panel_width: 470,
            contour_height: 480,
            colorbar_width: 120,
            title_font: 21.0,
            label_font: 20.0,
            tick_font: 18.0,
            legend_font: 17.0,
            annotation_font: 17.0,
            line_width: 2,
            marker_size: 4,
            band_alpha: 0.22,
            contour_levels: 14,
            margin: 10,
            scale: 1.0,
            units_per_px: 4,
        }
    }
}

impl Style {
    /// A copy with every length and font size multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Style {
        let scale = self.scale * factor;
        Style {
            scale,
            ..self.clone()
        }
    }

    /// The figure font at `size` (at scale 1).
    pub(crate) fn font(&self, size: f64) -> FontDesc<'static> {
        let size = size * self.scale;
        FontDesc::new(FontFamily::Name(FONT_FAMILY), size, FontStyle::Normal)
    }

    /// A length of `v` pixels at scale 1.
    pub(crate) fn px(&self, v: f64) -> i32 {
        (v * self.scale).round() as i32
    }

    /// A length of the style (`margin`, `width`, ...), scaled; a non-zero
    /// one stays at least a pixel (a line at a small scale stays visible).
    pub(crate) fn len(&self, v: u32) -> i32 {
        if v == 0 {
            0
        } else {
            self.px(v as f64).max(1)
        }
    }

    /// Width of hairlines (axes, frames, grid, marker edges).
    pub(crate) fn hair(&self) -> u32 {
        self.scale.round().max(1.0) as u32
    }

    /// Length of tick marks (plotters puts tick labels at twice this).
    pub(crate) fn tick_len(&self) -> i32 {
        self.px(5.0).max(2)
    }
}

/// Pixel size of `text` in `font` (width, height).
pub(crate) fn text_size(font: &FontDesc, text: &str) -> (i32, i32) {
    if text.is_empty() {
        return (0, 0);
    }
    // Fails only without the font, which `ensure_fonts` has ruled out.
    let (w, h) = font.box_size(text).unwrap_or_default();
    (w as i32, h as i32)
}
