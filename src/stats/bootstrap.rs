//! Percentile-bootstrap confidence intervals.

use rand::RngExt;

use super::descriptive::{median_in_place, quantile_type7};
use super::error::{check_confidence, check_finite, check_len};
use super::StatsError;
use crate::noise::{rng_for, stream};

/// Percentile-bootstrap confidence interval `(lo, hi)` for the median.
///
/// Draws `n_resamples` resamples of size `n` with replacement, computes each
/// resample's median, and returns the type-7 (linear interpolation)
/// quantiles of those medians at `(1 - confidence)/2` and
/// `(1 + confidence)/2`. Resampling draws its indices from the crate's
/// ChaCha8 stream [`stream::BOOTSTRAP`] of `seed` ([`rng_for`]), so the
/// result is a deterministic function of `(x, confidence, n_resamples, seed)`.
///
/// Errors: empty or non-finite `x`, `confidence` outside (0, 1),
/// `n_resamples == 0`.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// let x: Vec<f64> = (1..=21).map(f64::from).collect();
/// let (lo, hi) = bootstrap_median_ci(&x, 0.95, 2000, 42).unwrap();
/// assert!(lo < 11.0 && 11.0 < hi);
/// // deterministic given the seed
/// assert_eq!((lo, hi), bootstrap_median_ci(&x, 0.95, 2000, 42).unwrap());
/// ```
pub fn bootstrap_median_ci(
    x: &[f64],
    confidence: f64,
    n_resamples: usize,
    seed: u64,
) -> Result<(f64, f64), StatsError> {
    check_confidence(confidence)?;
    check_len("bootstrap", x, 1)?;
    check_finite("x", x)?;
    if n_resamples == 0 {
        return Err(StatsError::InvalidParameter {
            name: "n_resamples",
            value: 0.0,
            reason: "must be at least 1",
        });
    }
    let n = x.len();
    let mut rng = rng_for(seed, stream::BOOTSTRAP);
    let mut buf = vec![0.0; n];
    let mut medians = Vec::with_capacity(n_resamples);
    for _ in 0..n_resamples {
        for slot in buf.iter_mut() {
            // u64 draws: the same indices on every platform.
            *slot = x[rng.random_range(0..n as u64) as usize];
        }
        medians.push(median_in_place(&mut buf));
    }
    medians.sort_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    Ok((
        quantile_type7(&medians, alpha / 2.0),
        quantile_type7(&medians, 1.0 - alpha / 2.0),
    ))
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    /// With one resample both ends of the interval are that resample's median,
    /// and the resample is drawn from `rng_for(seed, stream::BOOTSTRAP)`.
    #[test]
    fn resamples_come_from_the_bootstrap_stream() {
        let x: Vec<f64> = (0..9).map(|i| f64::from(i * i)).collect();
        let seed = 11;
        let mut rng = rng_for(seed, stream::BOOTSTRAP);
        let mut resample: Vec<f64> = (0..x.len())
            .map(|_| x[rng.random_range(0..x.len() as u64) as usize])
            .collect();
        let expected = median_in_place(&mut resample);
        assert_eq!(
            bootstrap_median_ci(&x, 0.9, 1, seed).unwrap(),
            (expected, expected)
        );
        // Another stream of the same seed gives other resamples.
        let mut other = rng_for(seed, stream::SGD);
        let differs = (0..x.len())
            .any(|_| other.random_range(0..x.len() as u64) != rng.random_range(0..x.len() as u64));
        assert!(differs);
    }
}
