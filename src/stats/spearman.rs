//! Spearman rank correlation with exact (n ≤ 9, no ties) or t-approximation p-values.

use std::sync::OnceLock;

use super::error::{check_finite, check_len, check_same_len};
use super::signed_rank::ranks_with_ties;
use super::{clamp_p, t_p_value, Alternative, StatsError};

/// Largest `n` for which [`spearman`] uses the exact permutation distribution
/// (when there are no ties).
pub const SPEARMAN_EXACT_MAX_N: usize = 9;

/// Rank correlation with its p-value.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// Spearman's rho (Pearson correlation of the average ranks).
    pub rho: f64,
    /// p-value for `alternative` (H0: no association).
    pub p_value: f64,
    /// Number of pairs.
    pub n: usize,
    /// Alternative the p-value refers to (`Greater`: positive association).
    pub alternative: Alternative,
    /// Which null distribution was used.
    pub method: &'static str,
}

/// Spearman rank correlation of `x` and `y`.
///
/// `rho` is the Pearson correlation of the average ranks
/// ([`ranks_average`](super::ranks_average)); without ties this equals `1 - 6 S / (n^3 - n)` with
/// `S = sum (rank(x_i) - rank(y_i))^2`.
///
/// p-value:
/// * `n <= SPEARMAN_EXACT_MAX_N` (9) and no ties in `x` or `y`: exact
///   permutation distribution of `S` over all `n!` rankings (as R's
///   `cor.test(method = "spearman")`, which is exact for n <= 9):
///   `Greater` = `P(S <= s)`, `Less` = `P(S >= s)`, `TwoSided` = twice the
///   tail on the side of `s` relative to its mean `(n^3 - n)/6`, capped at 1.
/// * otherwise: `t = rho sqrt((n - 2)/(1 - rho^2))` referred to Student t
///   with `n - 2` df (scipy's `spearmanr`; `|rho| = 1` gives `t = ±inf`).
///
/// Errors: length mismatch, fewer than 3 pairs, non-finite values, constant
/// `x` or `y`.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R documentation of cor.test (Hollander & Wolfe p. 187):
/// // cor.test(x, y, method = "spearman", alternative = "greater")  ->  S = 48, p = 0.0484, rho = 0.6
/// let x = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1];
/// let y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8];
/// let c = spearman(&x, &y, Alternative::Greater).unwrap();
/// assert!((c.rho - 0.6).abs() < 1e-12);
/// assert!((c.p_value - 0.0484).abs() < TOLERANCE);
/// ```
pub fn spearman(x: &[f64], y: &[f64], alt: Alternative) -> Result<Correlation, StatsError> {
    check_same_len(x, y)?;
    check_len("Spearman correlation", x, 3)?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    let (rx, tx) = ranks_with_ties(x);
    let (ry, ty) = ranks_with_ties(y);
    if tx.first() == Some(&x.len()) {
        return Err(StatsError::ZeroVariance {
            what: "x (Spearman)",
            value: x[0],
        });
    }
    if ty.first() == Some(&y.len()) {
        return Err(StatsError::ZeroVariance {
            what: "y (Spearman)",
            value: y[0],
        });
    }
    let rho = pearson_unchecked(&rx, &ry).clamp(-1.0, 1.0);
    let n = x.len();
    if n <= SPEARMAN_EXACT_MAX_N && tx.is_empty() && ty.is_empty() {
        let s: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - b) * (a - b)).sum();
        let s = s.round() as usize;
        let counts = spearman_s_counts(n);
        let total: u64 = counts.iter().sum();
        let tail_le: u64 = counts[..=s.min(counts.len() - 1)].iter().sum();
        let tail_ge: u64 = counts[s.min(counts.len())..].iter().sum();
        let p_le = tail_le as f64 / total as f64;
        let p_ge = tail_ge as f64 / total as f64;
        let mean_s = ((n * n * n - n) as f64) / 6.0;
        let p = match alt {
            Alternative::Greater => p_le,
            Alternative::Less => p_ge,
            Alternative::TwoSided => {
                if s as f64 > mean_s {
                    2.0 * p_ge
                } else {
                    2.0 * p_le
                }
            }
        };
        Ok(Correlation {
            rho,
            p_value: clamp_p(p),
            n,
            alternative: alt,
            method: "Spearman rank correlation (exact permutation distribution)",
        })
    } else {
        let df = (n - 2) as f64;
        let denom = 1.0 - rho * rho;
        let t = if denom <= 0.0 {
            rho.signum() * f64::INFINITY
        } else {
            rho * (df / denom).sqrt()
        };
        Ok(Correlation {
            rho,
            p_value: t_p_value(t, df, alt)?,
            n,
            alternative: alt,
            method: "Spearman rank correlation (Student t approximation, n - 2 df)",
        })
    }
}

/// Pearson correlation of finite, non-constant data of equal length.
fn pearson_unchecked(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    sxy / (sxx * syy).sqrt()
}

/// `counts[s]` = number of permutations of `1..=n` with
/// `sum (i - perm(i))^2 = s`, for `n <= SPEARMAN_EXACT_MAX_N`; cached.
fn spearman_s_counts(n: usize) -> &'static [u64] {
    static CACHE: [OnceLock<Vec<u64>>; SPEARMAN_EXACT_MAX_N + 1] =
        [const { OnceLock::new() }; SPEARMAN_EXACT_MAX_N + 1];
    CACHE[n].get_or_init(|| {
        let max_s = (n * n * n - n) / 3;
        let mut counts = vec![0u64; max_s + 1];
        let mut perm: Vec<usize> = (0..n).collect();
        let s_of = |p: &[usize]| -> usize {
            p.iter()
                .enumerate()
                .map(|(i, &j)| i.abs_diff(j) * i.abs_diff(j))
                .sum()
        };
        counts[s_of(&perm)] += 1;
        // Heap's algorithm (iterative)
        let mut c = vec![0usize; n];
        let mut i = 1;
        while i < n {
            if c[i] < i {
                if i % 2 == 0 {
                    perm.swap(0, i);
                } else {
                    perm.swap(c[i], i);
                }
                counts[s_of(&perm)] += 1;
                c[i] += 1;
                i = 1;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        counts
    })
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn spearman_counts_total_is_factorial() {
        let mut f = 1u64;
        for n in 1..=SPEARMAN_EXACT_MAX_N {
            f *= n as u64;
            assert_eq!(spearman_s_counts(n).iter().sum::<u64>(), f);
        }
    }
}
