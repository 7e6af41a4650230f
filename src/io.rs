//! CSV in and out, in one place, on the `csv` crate.
//!
//! * Typed rows: [`write_rows`] writes `#[derive(Serialize)]` structs, one per
//!   row, with the field names as header (sweep results, compare tables).
//! * Figure data: [`write_columns`] writes named `f64` columns whose set is
//!   only known at run time (F5's series, F6's precisions); [`read_columns`]
//!   reads such a file back (`figures --f5-csv`, `--f6-csv`).
//! * Numeric data files without header: [`read_matrix`] / [`write_matrix`]
//!   (X, y, β*, θ).
//!
//! Numbers keep the exact text every earlier writer produced, because
//! committed CSVs must regenerate byte for byte and the csv crate's own f64
//! output (ryu: `3.0`, `1e-7`) differs: figure and table columns use
//! [`fmt_shortest`] (`3`, `1e-7`, `NaN`, `inf`), the sweep tables Rust's
//! `Display` ([`display`]), data matrices `{:e}`. Every reading error names the
//! file, the line, the column and the offending text.

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

/// Errors of CSV input and output; each names the file (and for bad cells the
/// line, column and value).
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// Cannot read a file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Cannot write a file (or create its directory).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed CSV (e.g. an unterminated quote), as the csv crate reports it.
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The csv crate's message, with its position.
        message: String,
    },
    /// A cell could not be parsed or is not finite.
    #[error("{path}: line {line}, column {column}: {reason} (value {value:?})")]
    BadCell {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column, or the column's header name.
        column: String,
        /// The text of the cell.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Rows of different lengths.
    #[error("{path}: line {line} has {found} columns but line {first_line} has {expected} (ragged rows)")]
    Ragged {
        /// The file.
        path: PathBuf,
        /// The offending line.
        line: usize,
        /// Its number of cells.
        found: usize,
        /// The line that set the width.
        first_line: usize,
        /// The width.
        expected: usize,
    },
    /// A file without a single data row.
    #[error("{} contains no data rows", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Columns to write have different lengths, or headers and columns differ
    /// in number.
    #[error("{what}: length mismatch (expected {expected}, found {found})")]
    LengthMismatch {
        /// Which vectors.
        what: String,
        /// Expected length.
        expected: usize,
        /// Actual length.
        found: usize,
    },
}

/// Shortest round-trip text of `v`: integers without a decimal point (`3`,
/// below 1e15), otherwise Rust's `{:?}` (`0.25`, `1e-7`); `NaN`, `inf`, `-inf`
/// for non-finite values. The format of every figure and table CSV.
///
/// ```
/// use latedecay::io::fmt_shortest;
/// assert_eq!(fmt_shortest(3.0), "3");
/// assert_eq!(fmt_shortest(1e-7), "1e-7");
/// assert_eq!(fmt_shortest(f64::NEG_INFINITY), "-inf");
/// ```
pub fn fmt_shortest(v: f64) -> String {
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

/// `serialize_with` for an f64 field in [`fmt_shortest`] form.
pub fn shortest<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_shortest(*v))
}

/// `serialize_with` for an f64 field in Rust's `Display` form (`0.0000001`,
/// `3`, `NaN`, `inf`): the format of the sweep tables.
pub fn display<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> IoError + '_ {
    move |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_write_err(path: &Path) -> impl Fn(csv::Error) -> IoError + '_ {
    move |e| match e.into_kind() {
        csv::ErrorKind::Io(source) => IoError::Write {
            path: path.to_path_buf(),
            source,
        },
        kind => IoError::Malformed {
            path: path.to_path_buf(),
            message: format!("{kind:?}"),
        },
    }
}

/// Write `bytes` to `path`, creating the parent directory if needed.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
    }
    std::fs::write(path, bytes).map_err(write_err(path))
}

/// Write typed rows under a header of their field names. The header is
/// written also when there are no rows (it is taken from `T::default()`).
pub fn write_rows<T: Serialize + Default>(
    path: impl AsRef<Path>,
    rows: &[T],
) -> Result<(), IoError> {
    let path = path.as_ref();
    let err = csv_write_err(path);
    let mut w = csv::Writer::from_writer(Vec::new());
    if rows.is_empty() {
        // The csv crate writes the header with the first row only: serialize
        // a default row and keep its header line.
        w.serialize(T::default()).map_err(&err)?;
        let text = w.into_inner().map_err(|e| err(e.into_error().into()))?;
        let header_end = text.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        return write_file(path, &text[..header_end]);
    }
    for r in rows {
        w.serialize(r).map_err(&err)?;
    }
    let text = w.into_inner().map_err(|e| err(e.into_error().into()))?;
    write_file(path, &text)
}

/// Write `columns` (one `Vec` per column, all the same length) under the
/// header `headers`, numbers in [`fmt_shortest`] form, creating the parent
/// directory if needed.
pub fn write_columns(
    path: impl AsRef<Path>,
    headers: &[&str],
    columns: &[Vec<f64>],
) -> Result<(), IoError> {
    let path = path.as_ref();
    if headers.len() != columns.len() {
        return Err(IoError::LengthMismatch {
            what: format!("CSV {}: number of headers vs columns", path.display()),
            expected: headers.len(),
            found: columns.len(),
        });
    }
    let rows = columns.first().map_or(0, Vec::len);
    for (h, c) in headers.iter().zip(columns) {
        if c.len() != rows {
            return Err(IoError::LengthMismatch {
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
    let err = csv_write_err(path);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(headers).map_err(&err)?;
    for r in 0..rows {
        w.write_record(columns.iter().map(|c| fmt_shortest(c[r])))
            .map_err(&err)?;
    }
    let text = w.into_inner().map_err(|e| err(e.into_error().into()))?;
    write_file(path, &text)
}

/// Flattens a grid (`values[iy][ix]` over `xs` × `ys`) into long-format
/// columns `[x, y, value]`, ready for [`write_columns`].
pub fn grid_columns(xs: &[f64], ys: &[f64], values: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, IoError> {
    if values.len() != ys.len() {
        return Err(IoError::LengthMismatch {
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
            return Err(IoError::LengthMismatch {
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

/// The text of a CSV file and a reader over it (cells trimmed, rows of any
/// length, so that ragged rows get our message).
fn reader(path: &Path, has_headers: bool) -> Result<(Vec<u8>, csv::ReaderBuilder), IoError> {
    let text = std::fs::read(path).map_err(|source| IoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(has_headers)
        .flexible(true)
        .trim(csv::Trim::All);
    Ok((text, b))
}

/// 1-based line of a record: the csv crate's position of a record that
/// follows blank lines is that of the first blank line, so skip them.
fn record_line(text: &[u8], rec: &csv::StringRecord) -> usize {
    let Some(pos) = rec.position() else {
        return 0;
    };
    let start = (pos.byte() as usize).min(text.len());
    let blank = text[start..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    pos.line() as usize + blank
}

fn read_err(path: &Path) -> impl Fn(csv::Error) -> IoError + '_ {
    move |e| match e.into_kind() {
        csv::ErrorKind::Io(source) => IoError::Read {
            path: path.to_path_buf(),
            source,
        },
        csv::ErrorKind::Utf8 { pos, err } => IoError::Malformed {
            path: path.to_path_buf(),
            message: format!(
                "line {}: invalid UTF-8 in field {}",
                pos.map_or(0, |p| p.line()),
                err.field() + 1
            ),
        },
        kind => IoError::Malformed {
            path: path.to_path_buf(),
            message: format!("{kind:?}"),
        },
    }
}

/// Parse one cell: a finite number, else an error naming the place.
fn parse_cell(path: &Path, line: usize, column: String, cell: &str) -> Result<f64, IoError> {
    let bad = |reason| IoError::BadCell {
        path: path.to_path_buf(),
        line,
        column: column.clone(),
        value: cell.to_string(),
        reason,
    };
    let v: f64 = cell.parse().map_err(|_| bad("not a number"))?;
    if v.is_nan() {
        return Err(bad("NaN is not allowed"));
    }
    if !v.is_finite() {
        return Err(bad("infinite values are not allowed"));
    }
    Ok(v)
}

/// Read a header-less numeric CSV: returns (rows, columns, row-major values).
///
/// Errors name the file, line, column and offending text: ragged rows,
/// non-numbers, NaN or infinite values, empty files.
pub fn read_matrix(path: &Path) -> Result<(usize, usize, Vec<f64>), IoError> {
    let (text, builder) = reader(path, false)?;
    let mut rdr = builder.from_reader(text.as_slice());
    let mut values = Vec::new();
    let mut width: Option<(usize, usize)> = None;
    let mut rows = 0;
    for rec in rdr.records() {
        let rec = rec.map_err(read_err(path))?;
        let line = record_line(&text, &rec);
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // a line of blanks only
        }
        match width {
            None => width = Some((line, rec.len())),
            Some((first_line, c)) if c != rec.len() => {
                return Err(IoError::Ragged {
                    path: path.to_path_buf(),
                    line,
                    found: rec.len(),
                    first_line,
                    expected: c,
                })
            }
            _ => {}
        }
        for (k, cell) in rec.iter().enumerate() {
            values.push(parse_cell(path, line, (k + 1).to_string(), cell)?);
        }
        rows += 1;
    }
    match width {
        Some((_, c)) => Ok((rows, c, values)),
        None => Err(IoError::Empty {
            path: path.to_path_buf(),
        }),
    }
}

/// Write a header-less numeric CSV (row-major values, `cols` per row) in
/// `{:e}` form, which [`read_matrix`] reads back exactly.
pub fn write_matrix(path: &Path, cols: usize, values: &[f64]) -> Result<(), IoError> {
    let err = csv_write_err(path);
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in values.chunks(cols.max(1)) {
        w.write_record(row.iter().map(|v| format!("{v:e}")))
            .map_err(&err)?;
    }
    let text = w.into_inner().map_err(|e| err(e.into_error().into()))?;
    write_file(path, &text)
}

/// Read a numeric CSV with a header row: returns the headers and the columns.
/// `NaN` and `±inf` are accepted (figure data marks missing values so).
pub fn read_columns(path: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>), IoError> {
    let (text, builder) = reader(path, true)?;
    let mut rdr = builder.from_reader(text.as_slice());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(read_err(path))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut cols = vec![Vec::new(); headers.len()];
    for rec in rdr.records() {
        let rec = rec.map_err(read_err(path))?;
        let line = record_line(&text, &rec);
        if rec.len() != headers.len() {
            return Err(IoError::Ragged {
                path: path.to_path_buf(),
                line,
                found: rec.len(),
                first_line: 1,
                expected: headers.len(),
            });
        }
        for (k, cell) in rec.iter().enumerate() {
            let v: f64 = cell.parse().map_err(|_| IoError::BadCell {
                path: path.to_path_buf(),
                line,
                column: format!("`{}`", headers[k]),
                value: cell.to_string(),
                reason: "not a number",
            })?;
            cols[k].push(v);
        }
    }
    Ok((headers, cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize)]
    struct Row {
        #[serde(serialize_with = "shortest")]
        x: f64,
        #[serde(serialize_with = "display")]
        y: f64,
        n: u64,
    }

    #[test]
    fn rows_keep_the_number_formats_and_the_header_of_an_empty_table() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/rows.csv");
        let rows = [Row {
            x: 1e-7,
            y: 1e-7,
            n: 3,
        }];
        write_rows(&p, &rows).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "x,y,n\n1e-7,0.0000001,3\n"
        );
        write_rows::<Row>(&p, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x,y,n\n");
    }

    #[test]
    fn matrices_and_columns_round_trip_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        let v = [0.1, -2.5e-300, 3.0, 1.0 / 3.0];
        write_matrix(&p, 2, &v).unwrap();
        assert_eq!(read_matrix(&p).unwrap(), (2, 2, v.to_vec()));
        let c = dir.path().join("c.csv");
        write_columns(
            &c,
            &["a", "b,c"],
            &[vec![3.0, f64::NAN], vec![0.25, -1e300]],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&c).unwrap(),
            "a,\"b,c\"\n3,0.25\nNaN,-1e300\n"
        );
        let (h, cols) = read_columns(&c).unwrap();
        assert_eq!(h, ["a", "b,c"]);
        assert!(cols[0][0] == 3.0 && cols[0][1].is_nan() && cols[1] == [0.25, -1e300]);
    }

    #[test]
    fn reading_errors_name_file_line_column_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "eta,err\n0.5,1\n0.25,x\n").unwrap();
        let e = read_columns(&p).unwrap_err().to_string();
        assert!(
            e.contains("bad.csv")
                && e.contains("line 3")
                && e.contains("`err`")
                && e.contains("\"x\""),
            "{e}"
        );
        // Blank lines are skipped but counted.
        std::fs::write(&p, "\n1,2\n\n\n3\n").unwrap();
        let e = read_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("line 5 has 1 columns but line 2 has 2"), "{e}");
        std::fs::write(&p, "1,2\r\n\r\n3,x\r\n").unwrap();
        let e = read_matrix(&p).unwrap_err().to_string();
        assert!(e.contains("line 3, column 2: not a number"), "{e}");
    }
}
