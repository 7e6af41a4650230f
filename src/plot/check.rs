//! Well-formedness checks of produced figure files (used by tests): the PNG
//! must decode and the SVG must parse, with the embedded fonts, as an SVG
//! document.

use std::path::Path;

use resvg::{tiny_skia, usvg};

use super::{io_err, svg_options, PlotError};

fn malformed(path: &Path) -> impl FnOnce(String) -> PlotError + '_ {
    move |reason| PlotError::Malformed {
        path: path.to_path_buf(),
        reason,
    }
}

/// Checks that `path` decodes as a PNG (signature, chunk CRCs, image data).
/// Returns the image dimensions `(width, height)`.
pub fn check_png(path: impl AsRef<Path>) -> Result<(u32, u32), PlotError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let img = tiny_skia::Pixmap::decode_png(&bytes).map_err(|e| malformed(path)(e.to_string()))?;
    Ok((img.width(), img.height()))
}

/// Checks that `path` parses as an SVG document (well-formed XML with an
/// `<svg>` root of positive size). Returns the root element's
/// `(width, height)`, rounded to pixels.
pub fn check_svg(path: impl AsRef<Path>) -> Result<(u32, u32), PlotError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let tree = usvg::Tree::from_data(&bytes, &svg_options())
        .map_err(|e| malformed(path)(e.to_string()))?;
    let size = tree.size();
    Ok((size.width().round() as u32, size.height().round() as u32))
}
