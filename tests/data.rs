//! Data: generation, normalization, closed-form test loss, CSV loading errors.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use std::io::Write;

use latedecay::data::{CsvConfig, DataConfig, Dataset, GroundTruth, Spectrum, SyntheticConfig};
use latedecay::io::read_matrix;
use latedecay::noise::rng_for;
use rand::RngExt;
use rand_distr::StandardNormal;

use crate::common;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    p
}

fn csv_cfg(x: std::path::PathBuf, y: std::path::PathBuf) -> CsvConfig {
    CsvConfig::new(x, y)
}

#[test]
fn synthetic_data_is_reproducible_and_interpolable() {
    let cfg = SyntheticConfig::default();
    let a = Dataset::synthetic(&cfg).unwrap();
    let b = Dataset::synthetic(&cfg).unwrap();
    assert_eq!(a.x, b.x);
    assert_eq!(a.y, b.y);
    // Noiseless: y = Xβ* exactly up to rounding, so R(β*) = 0.
    let bs = a.beta_star.clone().unwrap();
    assert!(a.test_loss(&bs).unwrap().abs() < 1e-30);
    assert_close!(a.null_risk().unwrap(), 1.5, abs = 1e-12);
    let other = Dataset::synthetic(&SyntheticConfig { seed: 1, ..cfg }).unwrap();
    assert_ne!(a.x, other.x);
}

#[test]
fn normalization_makes_column_moments_one_and_keeps_predictions() {
    let raw = Dataset::synthetic(&SyntheticConfig {
        n: 20,
        d: 50,
        spectrum: Spectrum::PowerLaw {
            exponent: 1.0,
            normalize_trace: false,
        },
        ..Default::default()
    })
    .unwrap();
    let norm = Dataset::synthetic(&SyntheticConfig {
        n: 20,
        d: 50,
        spectrum: Spectrum::PowerLaw {
            exponent: 1.0,
            normalize_trace: false,
        },
        normalize_columns: true,
        ..Default::default()
    })
    .unwrap();
    for c in &norm.column_moments {
        assert_close!(c, 1.0, abs = 1e-8);
    }
    // The normalized design is the raw one scaled by s_j (up to the 2⁻³⁰ grid),
    // and the population covariance in model coordinates is λ_j s_j².
    let lambda = latedecay::data::spectrum_diag(
        &Spectrum::PowerLaw {
            exponent: 1.0,
            normalize_trace: false,
        },
        50,
    );
    for j in 0..50 {
        let s = norm.column_scale[j];
        assert_close!(norm.x[(3, j)], raw.x[(3, j)] * s, abs = 1e-9 * (1.0 + s));
        assert_close!(norm.population_cov[j], lambda[j] * s * s, abs = 1e-12);
    }
    assert!(raw.column_scale.iter().all(|&s| s == 1.0));
}

#[test]
fn noiseless_sparse_targets_are_exact_in_every_precision() {
    use latedecay::scalar::{Mpfr, Real};
    let data = Dataset::synthetic(&SyntheticConfig {
        normalize_columns: true,
        ..Default::default()
    })
    .unwrap();
    let high = data.convert::<Mpfr>(512);
    let beta = high.beta_star.clone().unwrap();
    let mut r = vec![Mpfr::zero(512); high.n()];
    high.linear_residuals_into(&beta, &mut r);
    for ri in &r {
        assert!(ri.is_zero(), "y is not exactly Xβ*: {ri}");
    }
}

/// The closed-form R(β) agrees with a Monte Carlo estimate on 200k fresh test
/// points: the estimator's standard error is ≈ R·√(2/N) ≈ 0.3% of R, we allow 2%
/// (≈ 6 standard errors; false-failure probability < 1e-8 for the fixed seed).
#[test]
fn closed_form_test_loss_matches_monte_carlo() {
    let cfg = SyntheticConfig {
        n: 10,
        d: 8,
        spectrum: Spectrum::PowerLaw {
            exponent: 0.5,
            normalize_trace: true,
        },
        ground_truth: GroundTruth::Dense { scale: 2.0 },
        target_noise_sigma: 0.3,
        ..Default::default()
    };
    let data = Dataset::synthetic(&cfg).unwrap();
    let beta: Vec<f64> = (0..8).map(|j| 0.1 * j as f64).collect();
    let closed = data.test_loss(&beta).unwrap();
    let lambda = latedecay::data::spectrum_diag(&cfg.spectrum, 8);
    let bs = data.beta_star.clone().unwrap();
    let mut rng = rng_for(99, 7);
    let samples = 200_000;
    let mut acc = 0.0;
    for _ in 0..samples {
        let mut err = 0.0;
        for j in 0..8 {
            let z: f64 = rng.sample(StandardNormal);
            err += z * lambda[j].sqrt() * (beta[j] - bs[j]);
        }
        let eps: f64 = rng.sample(StandardNormal);
        err -= 0.3 * eps;
        acc += 0.5 * err * err;
    }
    let mc = acc / samples as f64;
    assert_close!(mc, closed, rel = 0.02, "MC {mc} vs closed form {closed}");
    // Negative control: forgetting the spectrum (Λ = I) is detected.
    let wrong: f64 = 0.5
        * beta
            .iter()
            .zip(&bs)
            .map(|(b, s)| (b - s) * (b - s))
            .sum::<f64>()
        + 0.045;
    assert!((mc - wrong).abs() > 0.02 * closed);
}

#[test]
fn csv_round_trip_and_loading() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::design(4, 9);
    let xp = dir.path().join("X.csv");
    let yp = dir.path().join("y.csv");
    let bp = dir.path().join("beta.csv");
    latedecay::io::write_matrix(&xp, 9, data.x.as_slice()).unwrap();
    latedecay::io::write_matrix(&yp, 1, &data.y).unwrap();
    latedecay::io::write_matrix(&bp, 1, data.beta_star.as_ref().unwrap()).unwrap();
    let mut cfg = csv_cfg(xp, yp);
    cfg.beta_star = Some(bp);
    let loaded = Dataset::from_config(&DataConfig::Csv(cfg)).unwrap();
    assert_eq!(loaded.x, data.x);
    assert_eq!(loaded.y, data.y);
    assert_eq!(loaded.beta_star, data.beta_star);
}

#[test]
fn csv_errors_name_file_line_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let y = write(&dir, "y.csv", "1\n2\n");
    let cases = [
        ("ragged.csv", "1,2,3\n4,5\n", "line 2 has 2 columns"),
        (
            "word.csv",
            "1,2,3\n4,abc,6\n",
            "column 2: not a number (value \"abc\")",
        ),
        ("nan.csv", "1,2,NaN\n4,5,6\n", "NaN is not allowed"),
        ("inf.csv", "1,2,inf\n4,5,6\n", "infinite"),
        ("empty.csv", "\n\n", "no data rows"),
    ];
    for (name, text, expected) in cases {
        let x = write(&dir, name, text);
        let err = Dataset::from_csv(&csv_cfg(x, y.clone()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{name}: {err}");
        if name != "empty.csv" {
            assert!(err.contains(name), "{err}");
        }
    }
    // Mismatched sizes.
    let x = write(&dir, "x3.csv", "1,2,3\n4,5,6\n7,8,9\n");
    let err = Dataset::from_csv(&csv_cfg(x, y.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 rows") && err.contains("3 rows"), "{err}");
    let two_col_y = write(&dir, "y2.csv", "1,2\n3,4\n");
    let x = write(&dir, "x2.csv", "1,2,3\n4,5,6\n");
    let err = Dataset::from_csv(&csv_cfg(x.clone(), two_col_y))
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly one column"), "{err}");
    let mut cfg = csv_cfg(x.clone(), y.clone());
    cfg.beta_star = Some(write(&dir, "b.csv", "1\n2\n"));
    let err = Dataset::from_csv(&cfg).unwrap_err().to_string();
    assert!(err.contains("d = 3"), "{err}");
    // n ≥ d is refused where interpolation is required.
    let square = write(&dir, "sq.csv", "1,2\n3,4\n");
    let data = Dataset::from_csv(&csv_cfg(square, y)).unwrap();
    let err = data.require_overparameterized().unwrap_err().to_string();
    assert!(err.contains("n = 2") && err.contains("d = 2"), "{err}");
    // Missing file.
    let err = read_matrix(&dir.path().join("missing.csv"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn invalid_synthetic_fields_are_named() {
    let cases = [
        (
            SyntheticConfig {
                n: 0,
                ..Default::default()
            },
            "n = 0",
        ),
        (
            SyntheticConfig {
                ground_truth: GroundTruth::Sparse {
                    nonzeros: 200,
                    value: 1.0,
                },
                ..Default::default()
            },
            "ground_truth.nonzeros = 200",
        ),
        (
            SyntheticConfig {
                target_noise_sigma: -1.0,
                ..Default::default()
            },
            "target_noise_sigma = -1",
        ),
        (
            SyntheticConfig {
                spectrum: Spectrum::PowerLaw {
                    exponent: f64::NAN,
                    normalize_trace: false,
                },
                ..Default::default()
            },
            "spectrum.exponent = NaN",
        ),
    ];
    for (cfg, expected) in cases {
        let err = Dataset::synthetic(&cfg).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
}
