//! Well-formedness checks of produced figure files (used by tests).

use std::path::Path;

use super::{io_err, PlotError};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Checks that `path` is a well-formed PNG: signature, an `IHDR` chunk first,
/// at least one `IDAT`, `IEND` last, and every chunk's CRC. Returns the image
/// dimensions `(width, height)` from the header.
pub fn check_png(path: impl AsRef<Path>) -> Result<(u32, u32), PlotError> {
    let path = path.as_ref();
    let bad = |reason: &str| PlotError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    if bytes.len() < 8 || bytes[..8] != PNG_SIGNATURE {
        return Err(bad("missing PNG signature"));
    }
    let mut pos = 8;
    let mut dims = None;
    let mut idat = false;
    let mut first = true;
    loop {
        if pos + 12 > bytes.len() {
            return Err(bad("truncated chunk (no IEND)"));
        }
        let len = be32(&bytes[pos..]) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let end = pos + 12 + len;
        if end > bytes.len() {
            return Err(bad("chunk runs past end of file"));
        }
        let data = &bytes[pos + 8..pos + 8 + len];
        if crc32(&bytes[pos + 4..pos + 8 + len]) != be32(&bytes[pos + 8 + len..]) {
            return Err(bad(&format!(
                "CRC mismatch in {} chunk",
                String::from_utf8_lossy(kind)
            )));
        }
        if first {
            if kind != b"IHDR" || len != 13 {
                return Err(bad("first chunk is not a 13-byte IHDR"));
            }
            let (w, h) = (be32(data), be32(&data[4..]));
            if w == 0 || h == 0 {
                return Err(bad("zero image dimension"));
            }
            dims = Some((w, h));
            first = false;
        }
        if kind == b"IDAT" {
            idat = true;
        }
        pos = end;
        if kind == b"IEND" {
            break;
        }
    }
    if !idat {
        return Err(bad("no IDAT chunk"));
    }
    if pos != bytes.len() {
        return Err(bad("trailing bytes after IEND"));
    }
    dims.ok_or_else(|| bad("no IHDR"))
}

fn attr(tag: &str, name: &str) -> Option<u32> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let rest = &tag[start..];
    let v = &rest[..rest.find('"')?];
    v.trim_end_matches("px")
        .parse::<f64>()
        .ok()
        .map(|f| f.round() as u32)
}

/// Checks that `path` is a plausible SVG document: non-empty UTF-8, starting
/// with `<svg` (or an XML declaration followed by `<svg`), ending with
/// `</svg>`. Returns the root element's `(width, height)` attributes.
pub fn check_svg(path: impl AsRef<Path>) -> Result<(u32, u32), PlotError> {
    let path = path.as_ref();
    let bad = |reason: &str| PlotError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(bad("empty file"));
    }
    let body = if t.starts_with("<?xml") {
        let end = t
            .find("?>")
            .ok_or_else(|| bad("unterminated XML declaration"))?;
        t[end + 2..].trim_start()
    } else {
        t
    };
    if !body.starts_with("<svg") {
        return Err(bad("does not start with <svg"));
    }
    if !body.ends_with("</svg>") {
        return Err(bad("does not end with </svg>"));
    }
    let tag_end = body
        .find('>')
        .ok_or_else(|| bad("unterminated <svg> tag"))?;
    let tag = &body[..tag_end];
    match (attr(tag, "width"), attr(tag, "height")) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(bad("root <svg> has no positive width/height")),
    }
}
