//! Paper-style figures: line charts (with confidence bands, reference lines and
//! log axes) and filled-contour panels (with trajectory / marker / curve overlays
//! and a colour bar), each written as both SVG and PNG (the CSV behind them:
//! [`crate::io`]). Everything here takes plain data and uses no other module.
//!
//! Each figure is drawn once, as SVG: plotters' `SVGBackend` draws the chart,
//! mesh (grid, tick marks, tick labels, axis descriptions) and the overlays;
//! filled contours and iso-lines come from the `contour` crate (marching
//! squares) and are written as SVG paths beneath that layer, because plotters
//! polygons cannot have holes. `resvg` rasterizes that SVG to the PNG, with
//! the DejaVu Sans font of the `dejavu` crate loaded from bytes, so the text
//! does not depend on the machine's fonts. plotters' coordinates are integers,
//! so figures are drawn at [`Style::units_per_px`] SVG units per output pixel
//! inside a `viewBox` of the nominal size: curves and markers stay sub-pixel exact.
//!
//! Hand-written, because no plotting library offers them: tick choice fitted
//! to the label widths (`ticks`), legend and annotation placement where they
//! hide the least data (`geometry`), legends flowing in a strip and the
//! edged polygon markers plotters lacks (star, diamond; `legend`), and the
//! discrete colour bar with its round level boundaries (`contour`).
//!
//! ```no_run
//! use latedecay::plot::*;
//! let xs: Vec<f64> = (1..=50).map(|i| i as f64 * 1e-3).collect();
//! let ys: Vec<f64> = xs.iter().map(|x| x * x).collect();
//! let chart = LineChart {
//!     axes: Axes::new("Error vs step size").x("h", AxisScale::Log10).y("error", AxisScale::Log10),
//!     series: vec![Series::new("Euler", xs, ys)],
//!     ref_lines: vec![RefLine::new("tolerance", 1e-5, true)],
//!     annotations: vec!["fitted order 2.000 ± 0.001".into()],
//! };
//! chart.render("figures/error_vs_h").unwrap(); // .svg and .png
//! ```

mod axes;
mod contour;
mod geometry;
mod legend;
mod line;
mod style;
mod ticks;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use plotters::coord::Shift;
use plotters::prelude::{DrawingArea, DrawingAreaErrorKind, IntoDrawingArea, SVGBackend};
use plotters::style::{register_font, FontStyle};
use resvg::{tiny_skia, usvg};

pub use axes::Axes;
pub use contour::{ContourFigure, ContourPanel, Marker, PathOverlay};
pub use legend::MarkerShape;
pub use line::{LineChart, LineKind, RefLine, Series};
pub use style::{palette_color, Style, FONT_FAMILY, OKABE_ITO};

/// Scale of an axis (or of the colour axis of a contour panel): linear, or
/// base-10 logarithmic (non-positive values are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AxisScale {
    #[default]
    Linear,
    Log10,
}

impl AxisScale {
    /// Maps a data value into the (linear) drawing space of this scale:
    /// identity, or `log10`; `None` for values that cannot be shown.
    pub fn forward(self, v: f64) -> Option<f64> {
        match self {
            AxisScale::Linear if v.is_finite() => Some(v),
            AxisScale::Log10 if v.is_finite() && v > 0.0 => Some(v.log10()),
            _ => None,
        }
    }

    pub(crate) fn from_log(log: bool) -> AxisScale {
        [AxisScale::Linear, AxisScale::Log10][log as usize]
    }
}

/// The range `(lo, hi)` of the finite values.
pub(crate) fn extent(vs: impl Iterator<Item = f64>) -> (f64, f64) {
    let all = (f64::INFINITY, f64::NEG_INFINITY);
    let finite = vs.filter(|v| v.is_finite());
    finite.fold(all, |e, v| (e.0.min(v), e.1.max(v)))
}

/// Errors raised while validating plot input, drawing, or checking output
/// files; each message names the offending item and value.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{what}: nothing to plot (no series or panels given)")]
    NothingToPlot { what: String },
    #[error("series `{label}` is empty")]
    EmptySeries { label: String },
    #[error("{what}: length mismatch (expected {expected}, found {found})")]
    LengthMismatch {
        what: String,
        expected: usize,
        found: usize,
    },
    #[error("{what}: no finite data to plot (non-finite values, and non-positive values on log axes, are dropped)")]
    NoFiniteData { what: String },
    /// A contour grid is malformed (wrong shape, non-monotone coordinates, ...).
    #[error("invalid grid: {0}")]
    InvalidGrid(String),
    /// Some other invalid input (e.g. a non-finite reference line).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("drawing failed: {0}")]
    Drawing(String),
    #[error("font registration failed: {0}")]
    Font(String),
    #[error("malformed file {path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// How errors name item `i` (a series or panel): its label, or `#i`.
pub(crate) fn display_name(label: &str, i: usize) -> String {
    if label.is_empty() {
        format!("#{i}")
    } else {
        label.to_string()
    }
}

pub(crate) fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Drawing(e.to_string())
}

/// Lets `?` turn plotters' drawing errors into [`PlotError::Drawing`].
impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        draw_err(e)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PlotError + '_ {
    let path = path.to_path_buf();
    move |source| PlotError::Io { path, source }
}

fn read_checked<T, E: std::fmt::Display>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<T, PlotError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    parse(&bytes).map_err(|e| PlotError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Checks that `path` decodes as a PNG (signature, chunk CRCs, image data);
/// returns its `(width, height)`. Used by tests.
pub fn check_png(path: impl AsRef<Path>) -> Result<(u32, u32), PlotError> {
    let img = read_checked(path.as_ref(), tiny_skia::Pixmap::decode_png)?;
    Ok((img.width(), img.height()))
}

/// Checks that `path` parses, with the embedded fonts, as an SVG document of
/// positive size; returns its `(width, height)` rounded to pixels. Used by tests.
pub fn check_svg(path: impl AsRef<Path>) -> Result<(u32, u32), PlotError> {
    let tree = read_checked(path.as_ref(), |b| usvg::Tree::from_data(b, &svg_options()))?;
    let size = tree.size();
    Ok((size.width().round() as u32, size.height().round() as u32))
}

type FontBytes = fn() -> &'static [u8];

const DEJAVU: [(FontStyle, FontBytes); 3] = [
    (FontStyle::Normal, dejavu::sans::regular),
    (FontStyle::Bold, dejavu::sans::bold),
    (FontStyle::Oblique, dejavu::sans::oblique),
];

/// Registers the embedded DejaVu Sans font (regular, bold, oblique) under
/// [`FONT_FAMILY`] with plotters, which measures text with it for the layout.
/// Idempotent and thread-safe; called by every `render` method, so callers
/// normally never need it.
pub fn ensure_fonts() -> Result<(), PlotError> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    let register = || {
        for (style, bytes) in DEJAVU {
            let bad = |_| format!("DejaVu Sans ({}) is not a valid font", style.as_str());
            register_font(FONT_FAMILY, style, bytes()).map_err(bad)?;
        }
        Ok(())
    };
    let result = RESULT.get_or_init(register).clone();
    result.map_err(PlotError::Font)
}

/// usvg options whose font database holds only the embedded DejaVu Sans.
fn svg_options() -> usvg::Options<'static> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    let db = DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        for (_, bytes) in DEJAVU {
            db.load_font_data(bytes().to_vec());
        }
        Arc::new(db)
    });
    usvg::Options {
        font_family: FONT_FAMILY.to_string(),
        fontdb: db.clone(),
        ..Default::default()
    }
}

/// The plotters drawing area a figure is drawn on.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A figure as [`write_figure`] draws it.
pub(crate) trait Figure {
    /// Size in pixels for `style`.
    fn dims(&self, style: &Style) -> (u32, u32);
    /// Validates the input and draws it on `root`, with raw SVG beneath it
    /// in `under` (filled contours), in `style` scaled to the area's units.
    fn draw(&self, root: &Area, under: &mut String, style: &Style) -> Result<(), PlotError>;
}

/// The `render` methods of a [`Figure`] type, written once.
macro_rules! render_methods {
    ($figure:ty) => {
        impl $figure {
            /// Renders with [`Style::default`] to `stem.svg` and `stem.png`
            /// (creating the parent directory if needed); returns both paths.
            pub fn render(&self, path_stem: impl AsRef<Path>) -> Result<Vec<PathBuf>, PlotError> {
                write_figure(self, path_stem.as_ref(), &Style::default())
            }

            /// Renders with an explicit [`Style`].
            pub fn render_with_style(
                &self,
                path_stem: impl AsRef<Path>,
                style: &Style,
            ) -> Result<Vec<PathBuf>, PlotError> {
                write_figure(self, path_stem.as_ref(), style)
            }
        }
    };
}
render_methods!(LineChart);
render_methods!(ContourFigure);

/// Draws `fig` once as SVG and rasterizes it to PNG; returns
/// `[stem.svg, stem.png]`. plotters draws on an area of the figure's size ×
/// `units_per_px`, with `style` scaled to those units.
fn write_figure(fig: &impl Figure, stem: &Path, style: &Style) -> Result<Vec<PathBuf>, PlotError> {
    ensure_fonts()?;
    let dims = fig.dims(style);
    let k = style.units_per_px.clamp(1, 16);
    let (w, h) = (dims.0 * k, dims.1 * k);
    let (mut top, mut under) = (String::new(), String::new());
    {
        let root = SVGBackend::with_string(&mut top, (w, h)).into_drawing_area();
        fig.draw(&root, &mut under, &style.scaled(k as f64))?;
        root.present()?;
    }
    // plotters' layer without its own <svg> element, on top of the raw layer.
    let body = top.split_once('>').map_or("", |(_, b)| b.trim_end());
    let body = body.trim_end_matches("</svg>");
    // Round joins are inherited by every stroke: noisy trajectories reverse
    // sharply, where mitred joins throw spikes.
    let svg = format!(
        "<svg width=\"{}\" height=\"{}\" viewBox=\"0 0 {w} {h}\" \
         xmlns=\"http://www.w3.org/2000/svg\" stroke-linejoin=\"round\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#FFFFFF\"/>\n{under}{body}</svg>\n",
        dims.0, dims.1
    );
    // Suffixes are appended, so dots already in the stem are kept.
    let [svg_path, png_path] = ["svg", "png"].map(|ext| {
        let mut s: OsString = stem.as_os_str().to_owned();
        s.push(format!(".{ext}"));
        PathBuf::from(s)
    });
    if let Some(dir) = svg_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let tree = usvg::Tree::from_str(&svg, &svg_options()).map_err(draw_err)?;
    let mut pixmap = tiny_skia::Pixmap::new(dims.0, dims.1)
        .ok_or_else(|| PlotError::InvalidInput(format!("figure size {dims:?} is empty")))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let png = pixmap.encode_png().map_err(draw_err)?;
    std::fs::write(&svg_path, svg).map_err(io_err(&svg_path))?;
    std::fs::write(&png_path, png).map_err(io_err(&png_path))?;
    Ok(vec![svg_path, png_path])
}
