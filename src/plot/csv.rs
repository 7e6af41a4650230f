//! Plain CSV writer for the data behind a figure.

use std::io::Write;
use std::path::Path;

use super::{ensure_parent, io_err, PlotError};

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Shortest round-trip representation; `NaN`, `inf`, `-inf` for non-finite values.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

/// Writes `columns` (one `Vec` per column, all the same length) under a header
/// row to `path` as comma-separated values, creating the parent directory if
/// needed. Values are written in shortest round-trip form (`1e-7`, `0.25`, `3`).
pub fn write_csv(
    path: impl AsRef<Path>,
    headers: &[&str],
    columns: &[Vec<f64>],
) -> Result<(), PlotError> {
    let path = path.as_ref();
    if headers.len() != columns.len() {
        return Err(PlotError::LengthMismatch {
            what: format!("CSV {}: number of headers vs columns", path.display()),
            expected: headers.len(),
            found: columns.len(),
        });
    }
    let rows = columns.first().map_or(0, Vec::len);
    for (h, c) in headers.iter().zip(columns) {
        if c.len() != rows {
            return Err(PlotError::LengthMismatch {
                what: format!(
                    "CSV {}: column `{h}` vs column `{}`",
                    path.display(),
                    headers[0]
                ),
                expected: rows,
                found: c.len(),
            });
        }
    }
    let mut out = String::with_capacity(16 * (rows + 1) * columns.len().max(1));
    out.push_str(
        &headers
            .iter()
            .map(|h| quote(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for r in 0..rows {
        for (k, c) in columns.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str(&number(c[r]));
        }
        out.push('\n');
    }
    ensure_parent(path)?;
    let mut f = std::fs::File::create(path).map_err(io_err(path))?;
    f.write_all(out.as_bytes()).map_err(io_err(path))?;
    Ok(())
}

/// Flattens a grid (`values[iy][ix]` over `xs` × `ys`) into long-format
/// columns `[x, y, value]`, ready for [`write_csv`].
pub fn grid_columns(
    xs: &[f64],
    ys: &[f64],
    values: &[Vec<f64>],
) -> Result<Vec<Vec<f64>>, PlotError> {
    if values.len() != ys.len() {
        return Err(PlotError::LengthMismatch {
            what: "grid: rows of values vs ys".into(),
            expected: ys.len(),
            found: values.len(),
        });
    }
    let n = xs.len() * ys.len();
    let (mut cx, mut cy, mut cv) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (iy, row) in values.iter().enumerate() {
        if row.len() != xs.len() {
            return Err(PlotError::LengthMismatch {
                what: format!("grid: row {iy} of values vs xs"),
                expected: xs.len(),
                found: row.len(),
            });
        }
        for (ix, &v) in row.iter().enumerate() {
            cx.push(xs[ix]);
            cy.push(ys[iy]);
            cv.push(v);
        }
    }
    Ok(vec![cx, cy, cv])
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_round_trip() {
        for v in [0.1, 1e-7, 3.0, -2.5, 1e300, 123456789.125] {
            assert_eq!(number(v).parse::<f64>().unwrap(), v);
        }
        assert_eq!(number(3.0), "3");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
