//! Descriptive statistics: mean, variance, median and type-7 quantiles, and
//! the shifted moments the t tests and the regression build on.

use super::error::{check_finite, check_len};
use super::StatsError;

/// Mean and sum of squared deviations of finite, non-empty data, computed
/// in coordinates shifted by `shift` (a data value): `x_i − shift` is exact
/// for values within a factor 2 of the shift (Sterbenz) and small otherwise,
/// so no large offset is summed. Returns `(mean(x) − shift, Σ(x_i − mean)²)`;
/// data whose values are all equal give exactly `(x_0 − shift, 0)`.
pub(super) fn shifted_moments(x: &[f64], shift: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().map(|v| v - shift).sum::<f64>() / n;
    let ss = x
        .iter()
        .map(|v| {
            let dev = (v - shift) - m;
            dev * dev
        })
        .sum();
    (m, ss)
}

/// Zero spread: with [`shifted_moments`] this is exactly "all values are
/// equal" (a constant sample whose f64 mean does not round back to the value,
/// such as `[0.1; 3]`, still has zero spread). Data with a genuine spread, even
/// of a few ulps on a large offset, are not rejected.
pub(super) fn essentially_constant(se: f64) -> bool {
    se == 0.0
}

/// Arithmetic mean `sum(x) / n`.
///
/// Errors on an empty slice or non-finite values.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// assert!((mean(&[1.0, 2.0, 4.0]).unwrap() - 7.0 / 3.0).abs() < TOLERANCE);
/// assert!(mean(&[]).is_err());
/// ```
pub fn mean(x: &[f64]) -> Result<f64, StatsError> {
    check_len("mean", x, 1)?;
    check_finite("x", x)?;
    Ok(x.iter().sum::<f64>() / x.len() as f64)
}

/// Unbiased sample variance `sum((x_i - mean)^2) / (n - 1)` (two-pass
/// algorithm, so it is accurate even for data with a large offset).
///
/// Needs at least two observations.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // var(c(2, 4, 4, 4, 5, 5, 7, 9)) in R is 4.571429
/// let v = sample_variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
/// assert!((v - 4.571429).abs() < TOLERANCE);
/// ```
pub fn sample_variance(x: &[f64]) -> Result<f64, StatsError> {
    check_len("sample variance", x, 2)?;
    let m = mean(x)?;
    let ss: f64 = x.iter().map(|v| (v - m) * (v - m)).sum();
    Ok(ss / (x.len() - 1) as f64)
}

/// Sample median: the middle order statistic for odd `n`, the average of the
/// two middle order statistics for even `n`.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// assert_eq!(median(&[3.0, 1.0, 2.0]).unwrap(), 2.0);
/// assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]).unwrap(), 2.5);
/// ```
pub fn median(x: &[f64]) -> Result<f64, StatsError> {
    check_len("median", x, 1)?;
    check_finite("x", x)?;
    let mut v = x.to_vec();
    Ok(median_in_place(&mut v))
}

/// Median of finite, non-empty data; reorders `v`.
pub(super) fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        // largest element of the lower half
        let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + upper)
    }
}

/// Quantile of sorted data by linear interpolation between order statistics
/// (Hyndman & Fan type 7, R's and numpy's default); `sorted` is non-empty
/// and ascending, `p` ∈ [0, 1].
pub(crate) fn quantile_type7(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn quantile_type7_matches_r() {
        // R: quantile(c(1, 2, 3, 4), 0.25) = 1.75
        assert!((quantile_type7(&[1.0, 2.0, 3.0, 4.0], 0.25) - 1.75).abs() < 1e-12);
    }
}
