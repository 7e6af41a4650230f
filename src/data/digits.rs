//! The UCI optical-recognition digits (1,797 8×8 images, 16 grey levels,
//! CC BY 4.0; Alpaydin & Kaynak 1998), embedded in the binary: the copy that
//! scikit-learn ships (`digits/digits.csv.gz`, attribution in
//! `digits/ATTRIBUTION.txt`), decompressed with `flate2` at load time.
//!
//! `[data] source = "digits"` turns them into a binary regression task with
//! ±1 targets: pixels scaled by 1/16 (exact), `n_train` images drawn by a
//! seeded permutation (`split_seed`) for training, all the others held out.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::DataError;
use crate::field_error::FieldError;

/// The gzip-compressed CSV (1,797 rows: 64 pixels 0–16, then the label).
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("digits/digits.csv.gz");
/// SHA-256 of the decompressed CSV.
pub const DIGITS_CSV_SHA256: &str =
    "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8";
/// Number of images.
pub const DIGITS_N: usize = 1797;
/// Pixels per image.
pub const DIGITS_D: usize = 64;

/// Which binary task the labels become (target +1 / −1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitsTask {
    /// Even digits (0, 2, 4, 6, 8) → +1, odd → −1 (the default; classes
    /// nearly balanced: 894 even, 903 odd).
    #[default]
    EvenOdd,
    /// Digits 0–4 → +1, 5–9 → −1 (901 vs 896).
    LowHigh,
}

impl DigitsTask {
    /// The ±1 target of a digit label.
    pub fn target(self, label: u8) -> f64 {
        let plus = match self {
            DigitsTask::EvenOdd => label.is_multiple_of(2),
            DigitsTask::LowHigh => label < 5,
        };
        if plus {
            1.0
        } else {
            -1.0
        }
    }
}

/// `[data] source = "digits"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsConfig {
    /// Binary task (default `even_odd`).
    #[serde(default)]
    pub task: DigitsTask,
    /// Training images n (the other 1,797 − n are held out).
    pub n_train: usize,
    /// Seed of the permutation that picks the training images.
    #[serde(default)]
    pub split_seed: u64,
}

/// The decompressed CSV text.
pub fn digits_csv_bytes() -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Io {
            path: "digits/digits.csv.gz (embedded)".into(),
            source,
        })?;
    Ok(out)
}

/// All images: (pixels/16 row-major, 1,797 × 64) and labels 0–9.
pub fn load_digits() -> Result<(Vec<f64>, Vec<u8>), DataError> {
    let bytes = digits_csv_bytes()?;
    let text = String::from_utf8_lossy(&bytes);
    let mut pixels = Vec::with_capacity(DIGITS_N * DIGITS_D);
    let mut labels = Vec::with_capacity(DIGITS_N);
    let bad = |line: usize, reason: String| {
        DataError::SizeMismatch(format!("embedded digits CSV, line {line}: {reason}"))
    };
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let cells: Vec<&str> = line.trim().split(',').collect();
        if cells.len() != DIGITS_D + 1 {
            return Err(bad(i + 1, format!("{} columns, expected 65", cells.len())));
        }
        for c in &cells[..DIGITS_D] {
            let v: f64 = c
                .trim()
                .parse()
                .map_err(|_| bad(i + 1, format!("pixel {c:?} is not a number")))?;
            pixels.push(v / 16.0);
        }
        let label: f64 = cells[DIGITS_D]
            .trim()
            .parse()
            .map_err(|_| bad(i + 1, "bad label".into()))?;
        labels.push(label as u8);
    }
    if labels.len() != DIGITS_N {
        return Err(bad(
            labels.len(),
            format!("{} rows, expected {DIGITS_N}", labels.len()),
        ));
    }
    Ok((pixels, labels))
}

/// Rows `0..n` in a seeded random order (Fisher–Yates on ChaCha8).
pub fn seeded_permutation(n: usize, seed: u64) -> Vec<usize> {
    use rand::RngExt;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// Check a digits config (n_train in 1 … 1,796).
pub fn validate(cfg: &DigitsConfig) -> Result<(), DataError> {
    if cfg.n_train == 0 || cfg.n_train >= DIGITS_N {
        return Err(DataError::InvalidField(FieldError::new(
            "data.n_train",
            cfg.n_train,
            format!(
                "must be in 1 … {} (the other images are held out)",
                DIGITS_N - 1
            ),
        )));
    }
    Ok(())
}
