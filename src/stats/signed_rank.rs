//! Average ranks and the Wilcoxon signed-rank test (exact null distribution
//! and the tie-corrected normal approximation).

use statrs::distribution::{ContinuousCDF, Normal};

use super::descriptive::median;
use super::error::check_finite;
use super::{clamp_p, continuous_p, differences, Alternative, StatsError, TestResult};

/// Ranks `1..=n` of the data, with tied values receiving the average of the
/// ranks they span (R's `rank(x, ties.method = "average")`, scipy's
/// `rankdata(x)`).
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// let r = ranks_average(&[10.0, 20.0, 10.0, 30.0]).unwrap();
/// assert_eq!(r, vec![1.5, 3.0, 1.5, 4.0]);
/// ```
pub fn ranks_average(x: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_finite("x", x)?;
    Ok(ranks_with_ties(x).0)
}

/// Average ranks plus the sizes of all tie groups (groups of size >= 2).
/// Input must be finite.
pub(super) fn ranks_with_ties(x: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let n = x.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut ranks = vec![0.0; n];
    let mut ties = Vec::new();
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && x[idx[end]] == x[idx[start]] {
            end += 1;
        }
        // positions start..end (0-based) hold ranks start+1..=end
        let avg = (start + 1 + end) as f64 / 2.0;
        for &i in &idx[start..end] {
            ranks[i] = avg;
        }
        if end - start > 1 {
            ties.push(end - start);
        }
        start = end;
    }
    (ranks, ties)
}

/// Largest number of non-zero differences for which [`wilcoxon_signed_rank`]
/// uses the exact null distribution (when there are no ties).
pub const WILCOXON_EXACT_MAX_N: usize = 50;

/// Exact null distribution of the Wilcoxon signed-rank statistic
/// `V = sum of ranks of positive differences` for `n` untied, non-zero
/// differences: `pmf[v] = P(V = v)`, `v = 0..=n(n+1)/2`.
///
/// Under H0 each rank `k` enters `V` independently with probability 1/2,
/// so the pmf is built by the dynamic programme
/// `p_k(v) = (p_{k-1}(v) + p_{k-1}(v - k)) / 2`, `p_0 = δ_0`
/// (O(n^3) time, exact up to floating-point rounding; no overflow for any n).
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// let pmf = signed_rank_null_pmf(3);
/// // subsets of {1,2,3} by sum: 0:{} 1:{1} 2:{2} 3:{3},{1,2} 4:{1,3} 5:{2,3} 6:{1,2,3}
/// assert_eq!(pmf, vec![0.125, 0.125, 0.125, 0.25, 0.125, 0.125, 0.125]);
/// assert!((signed_rank_null_pmf(20).iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// ```
pub fn signed_rank_null_pmf(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut pmf = vec![0.0; max + 1];
    pmf[0] = 1.0;
    let mut cur_max = 0;
    for k in 1..=n {
        cur_max += k;
        // in place, descending so pmf[v - k] is still the previous stage
        for v in (0..=cur_max).rev() {
            let with_k = if v >= k { pmf[v - k] } else { 0.0 };
            pmf[v] = 0.5 * (pmf[v] + with_k);
        }
    }
    pmf
}

/// Exact p-value of an observed signed-rank statistic `v` for `n` untied
/// non-zero differences (R's `psignrank` convention):
/// * `Greater`: `P(V >= v)`;
/// * `Less`: `P(V <= v)`;
/// * `TwoSided`: `min(1, 2 P(V >= v))` if `v > n(n+1)/4`, else `min(1, 2 P(V <= v))`.
///
/// Tails are summed directly (no `1 - x` cancellation).
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R: psignrank(39, 9, lower.tail = FALSE) = 0.01953125
/// assert!((signed_rank_exact_p(40.0, 9, Alternative::Greater).unwrap() - 0.01953125).abs() < 1e-12);
/// assert!(signed_rank_exact_p(f64::NAN, 9, Alternative::Greater).is_err());
/// ```
pub fn signed_rank_exact_p(v: f64, n: usize, alt: Alternative) -> Result<f64, StatsError> {
    check_statistic("v", v)?;
    let pmf = signed_rank_null_pmf(n);
    Ok(exact_p_from_pmf(&pmf, v, alt))
}

/// A signed-rank statistic (or tie term) must be a finite number.
fn check_statistic(name: &'static str, v: f64) -> Result<(), StatsError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(StatsError::NonFinite {
            name,
            index: 0,
            value: v,
        })
    }
}

fn exact_p_from_pmf(pmf: &[f64], v: f64, alt: Alternative) -> f64 {
    let max = (pmf.len() - 1) as f64;
    let upper = |v: f64| -> f64 {
        // P(V >= v)
        let start = v.ceil().max(0.0);
        if start > max {
            0.0
        } else {
            pmf[start as usize..].iter().sum()
        }
    };
    let lower = |v: f64| -> f64 {
        // P(V <= v)
        let end = v.floor();
        if end < 0.0 {
            0.0
        } else {
            pmf[..=(end.min(max) as usize)].iter().sum()
        }
    };
    clamp_p(match alt {
        Alternative::Greater => upper(v),
        Alternative::Less => lower(v),
        Alternative::TwoSided => {
            if v > max / 2.0 {
                2.0 * upper(v)
            } else {
                2.0 * lower(v)
            }
        }
    })
}

/// Normal-approximation p-value of a signed-rank statistic `v` (R's
/// `wilcox.test(..., exact = FALSE, correct = TRUE)`).
///
/// `z = (v - n(n+1)/4 - c) / sigma`, with
/// `sigma^2 = n(n+1)(2n+1)/24 - tie_term/48`, where
/// `tie_term = sum over tie groups of (t^3 - t)`, and continuity correction
/// `c = +0.5` (`Greater`), `-0.5` (`Less`), `0.5 * sign(v - n(n+1)/4)` (`TwoSided`).
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // Depression data of `wilcoxon_signed_rank`'s example (n = 9, V = 40, no ties):
/// // scipy.stats.wilcoxon(x, y, alternative='greater', method='asymptotic',
/// //                      correction=True).pvalue = 0.022005
/// let p = signed_rank_normal_p(40.0, 9, 0.0, Alternative::Greater).unwrap();
/// assert!((p - 0.022005).abs() < TOLERANCE);
/// ```
pub fn signed_rank_normal_p(
    v: f64,
    n: usize,
    tie_term: f64,
    alt: Alternative,
) -> Result<f64, StatsError> {
    check_statistic("v", v)?;
    check_statistic("tie_term", tie_term)?;
    if tie_term < 0.0 {
        return Err(StatsError::InvalidParameter {
            name: "tie_term",
            value: tie_term,
            reason: "must be a sum of t^3 - t >= 0",
        });
    }
    let nf = n as f64;
    let centre = nf * (nf + 1.0) / 4.0;
    let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
    let dev = v - centre;
    let correction = match alt {
        Alternative::Greater => 0.5,
        Alternative::Less => -0.5,
        Alternative::TwoSided => 0.5 * sign0(dev),
    };
    if var <= 0.0 {
        // degenerate (n = 0): no evidence either way
        return Ok(1.0);
    }
    let z = (dev - correction) / var.sqrt();
    let std_normal = Normal::standard();
    Ok(continuous_p(std_normal.cdf(z), std_normal.sf(z), alt))
}

fn sign0(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Wilcoxon signed-rank test on the paired differences `d_i = a_i - b_i`
/// (H0: the distribution of `d` is symmetric about 0).
///
/// * Zero differences are **dropped** (Wilcoxon's original treatment, R's and
///   scipy's default `zero_method = "wilcox"`), not ranked as in Pratt's
///   method; `n` in the result is the number of non-zero differences.
/// * `|d_i|` are ranked with average ranks for ties; the statistic is
///   `V = sum of ranks of positive d_i` (R's `V`, scipy's `r_plus`).
/// * If `n <= WILCOXON_EXACT_MAX_N` (50) and there are no ties among the
///   `|d_i|`, the p-value comes from the exact null distribution
///   ([`signed_rank_null_pmf`], [`signed_rank_exact_p`]). Unlike R, which
///   switches to the normal approximation whenever zeros were present, the
///   exact distribution for the reduced `n` is used (as scipy does).
/// * Otherwise the normal approximation with tie-corrected variance and
///   continuity correction is used ([`signed_rank_normal_p`]).
///
/// Ties are detected by exact floating-point equality of `|d_i|`.
/// `estimate` is the median of the non-zero differences.
/// `method` states which null distribution was used.
///
/// Errors: length mismatch, non-finite values, no non-zero difference.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R documentation of wilcox.test (Hollander & Wolfe depression data):
/// // wilcox.test(x, y, paired = TRUE, alternative = "greater")  ->  V = 40, p-value = 0.01953
/// let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
/// let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
/// let r = wilcoxon_signed_rank(&x, &y, Alternative::Greater).unwrap();
/// assert_eq!(r.statistic, 40.0);
/// assert!((r.p_value - 0.01953).abs() < TOLERANCE);
/// ```
pub fn wilcoxon_signed_rank(
    a: &[f64],
    b: &[f64],
    alt: Alternative,
) -> Result<TestResult, StatsError> {
    let d: Vec<f64> = differences(a, b)?
        .into_iter()
        .filter(|&x| x != 0.0)
        .collect();
    if d.is_empty() {
        return Err(StatsError::TooFewSamples {
            what: "Wilcoxon signed-rank test (non-zero differences)",
            needed: 1,
            got: 0,
        });
    }
    let n = d.len();
    let abs: Vec<f64> = d.iter().map(|x| x.abs()).collect();
    let (ranks, ties) = ranks_with_ties(&abs);
    let v: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let estimate = median(&d)?;
    let (p_value, method) = if n <= WILCOXON_EXACT_MAX_N && ties.is_empty() {
        (
            signed_rank_exact_p(v, n, alt)?,
            "Wilcoxon signed-rank test (exact null distribution, zeros dropped)",
        )
    } else {
        let tie_term: f64 = ties
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * t * t - t
            })
            .sum();
        (
            signed_rank_normal_p(v, n, tie_term, alt)?,
            "Wilcoxon signed-rank test (normal approximation, tie and continuity corrected, zeros dropped)",
        )
    };
    Ok(TestResult {
        statistic: v,
        p_value,
        n,
        df: None,
        estimate,
        alternative: alt,
        method,
    })
}
