//! Paper-style figures: line charts (with confidence bands, reference lines and
//! log axes) and filled-contour panels (with trajectory / marker / curve overlays
//! and a colour bar), each written as both SVG and PNG (the CSV behind them: [`crate::io`]).
//!
//! Everything here takes plain data (`Vec<f64>` and friends) and depends on no
//! other module of the crate.
//!
//! Text is rendered with the DejaVu Sans font embedded through the `dejavu`
//! crate and registered with plotters' `ab_glyph` backend on first use
//! ([`ensure_fonts`]), so PNG output has readable text on a machine without any
//! system fonts. SVG output refers to the same family by name ("DejaVu Sans").
//!
//! ```no_run
//! use latedecay::plot::*;
//! let xs: Vec<f64> = (1..=50).map(|i| i as f64 * 1e-3).collect();
//! let ys: Vec<f64> = xs.iter().map(|x| x * x).collect();
//! let chart = LineChart {
//!     title: "Error vs step size".into(),
//!     x_label: "step size h".into(),
//!     y_label: "global error".into(),
//!     x_scale: AxisScale::Log10,
//!     y_scale: AxisScale::Log10,
//!     series: vec![Series::new("Euler", xs.clone(), ys.clone())],
//!     ref_lines: vec![RefLine::new("tolerance", 1e-5, true)],
//!     annotations: vec!["fitted order 2.000 ± 0.001".into()],
//! };
//! let written = chart.render("figures/error_vs_h").unwrap(); // .svg and .png
//! latedecay::io::write_columns("figures/error_vs_h.csv", &["h", "error"], &[xs, ys]).unwrap();
//! # let _ = written;
//! ```

mod axes;
mod check;
mod contour;
mod geometry;
mod legend;
mod line;
mod style;
mod ticks;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, DrawingBackend, IntoDrawingArea};
use plotters::style::{register_font, FontStyle};

pub use check::{check_png, check_svg};
pub use contour::{ContourFigure, ContourPanel, CurveOverlay, Marker, PathOverlay};
pub use legend::MarkerShape;
pub use line::{LineChart, LineKind, RefLine, Series};
pub use style::{palette_color, Style, FONT_FAMILY, OKABE_ITO};

/// Scale of an axis (or of the colour axis of a contour panel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AxisScale {
    /// Plain linear axis.
    #[default]
    Linear,
    /// Base-10 logarithmic axis; non-positive values are dropped.
    Log10,
}

impl AxisScale {
    /// Maps a data value into the (linear) drawing space of this scale:
    /// identity for `Linear`, `log10` for `Log10`. Returns `None` for values
    /// that cannot be shown (non-finite, or non-positive on a log scale).
    pub fn forward(self, v: f64) -> Option<f64> {
        match self {
            AxisScale::Linear if v.is_finite() => Some(v),
            AxisScale::Log10 if v.is_finite() && v > 0.0 => Some(v.log10()),
            _ => None,
        }
    }
}

/// Errors raised while validating plot input, drawing, or checking output files.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A chart was asked to render without any series / panels.
    #[error("{what}: nothing to plot (no series or panels given)")]
    NothingToPlot {
        /// The chart or figure concerned.
        what: String,
    },
    /// A series has no points at all.
    #[error("series `{label}` is empty")]
    EmptySeries {
        /// Label of the offending series.
        label: String,
    },
    /// Two vectors that must have the same length do not.
    #[error("{what}: length mismatch (expected {expected}, found {found})")]
    LengthMismatch {
        /// Description of the vectors concerned.
        what: String,
        /// Expected length.
        expected: usize,
        /// Actual length.
        found: usize,
    },
    /// All data points are unusable: non-finite, or non-positive on a log axis.
    #[error("{what}: no finite data to plot (non-finite values, and non-positive values on log axes, are dropped)")]
    NoFiniteData {
        /// Description of the data concerned.
        what: String,
    },
    /// A contour grid is malformed (wrong shape, non-monotone coordinates, ...).
    #[error("invalid grid: {0}")]
    InvalidGrid(String),
    /// Some other invalid input (e.g. a non-finite reference line).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// File-system error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The plotting backend failed.
    #[error("drawing failed: {0}")]
    Drawing(String),
    /// The embedded font could not be registered.
    #[error("font registration failed: {0}")]
    Font(String),
    /// A produced file is not well formed.
    #[error("malformed file {path}: {reason}")]
    Malformed {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

pub(crate) fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Drawing(e.to_string())
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PlotError + '_ {
    move |source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Registers the embedded DejaVu Sans font (regular, bold, oblique) under
/// [`FONT_FAMILY`] with plotters. Idempotent and thread-safe; called by every
/// `render` method, so callers normally never need it.
pub fn ensure_fonts() -> Result<(), PlotError> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            let fonts: [(FontStyle, &'static [u8]); 3] = [
                (FontStyle::Normal, dejavu::sans::regular()),
                (FontStyle::Bold, dejavu::sans::bold()),
                (FontStyle::Oblique, dejavu::sans::oblique()),
            ];
            for (style, bytes) in fonts {
                register_font(FONT_FAMILY, style, bytes)
                    .map_err(|_| format!("DejaVu Sans ({}) is not a valid font", style.as_str()))?;
            }
            Ok(())
        })
        .clone()
        .map_err(PlotError::Font)
}

/// `stem` + `.ext` (appended, so dots already in the stem are kept).
pub(crate) fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s: OsString = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Draws a PNG of `dims` pixels: `draw` renders at `style.png_supersample`
/// times the size (with a correspondingly scaled style), then the image is
/// box-filtered down, anti-aliasing thick lines and polygons.
pub(crate) fn render_png<F>(
    path: &Path,
    dims: (u32, u32),
    style: &Style,
    draw: F,
) -> Result<(), PlotError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>, &Style) -> Result<(), PlotError>,
{
    let s = style.png_supersample.clamp(1, 8);
    let (w, h) = (dims.0 * s, dims.1 * s);
    let mut big = vec![255u8; 3 * w as usize * h as usize];
    {
        let root = BitMapBackend::with_buffer(&mut big, (w, h)).into_drawing_area();
        draw(&root, &style.scaled(s as f64))?;
        root.present().map_err(draw_err)?;
    }
    let (s, w) = (s as usize, w as usize);
    let (dw, dh) = (dims.0 as usize, dims.1 as usize);
    let mut small = vec![0u8; 3 * dw * dh];
    let n = (s * s) as u32;
    for y in 0..dh {
        for x in 0..dw {
            for c in 0..3 {
                let mut acc = 0u32;
                for yy in 0..s {
                    let row = (y * s + yy) * w;
                    for xx in 0..s {
                        acc += big[3 * (row + x * s + xx) + c] as u32;
                    }
                }
                small[3 * (y * dw + x) + c] = ((acc + n / 2) / n) as u8;
            }
        }
    }
    let mut back = BitMapBackend::new(path, dims);
    back.blit_bitmap((0, 0), dims, &small).map_err(draw_err)?;
    back.present().map_err(draw_err)?;
    Ok(())
}

pub(crate) fn ensure_parent(path: &Path) -> Result<(), PlotError> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
    }
    Ok(())
}
