//! Multiple testing: Holm–Bonferroni adjusted p-values and rejections.

use super::error::check_finite;
use super::StatsError;

fn check_p_values(p: &[f64]) -> Result<(), StatsError> {
    check_finite("p_values", p)?;
    match p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        Some(i) => Err(StatsError::InvalidParameter {
            name: "p-value",
            value: p[i],
            reason: "must lie in [0, 1]",
        }),
        None => Ok(()),
    }
}

/// Holm–Bonferroni step-down adjusted p-values (R's
/// `p.adjust(p, method = "holm")`), returned in the input order.
///
/// With the p-values sorted ascending, `p_(1) <= ... <= p_(m)`:
/// `adj_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))`.
/// The adjusted values are monotone in the raw ones and never smaller.
///
/// Errors: a p-value that is NaN or outside `[0, 1]`. An empty input gives an
/// empty output.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") -> 0.03 0.06 0.06 0.02
/// let adj = holm(&[0.01, 0.04, 0.03, 0.005]).unwrap();
/// let expected = [0.03, 0.06, 0.06, 0.02];
/// assert!(adj.iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-12));
/// ```
pub fn holm(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_p_values(p_values)?;
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        let candidate = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(candidate);
        adjusted[i] = running;
    }
    Ok(adjusted)
}

/// Holm–Bonferroni rejections at family-wise error rate `alpha`:
/// step down through the sorted p-values rejecting while
/// `p_(j) <= alpha / (m - j + 1)`, the threshold being one correctly rounded
/// division (as statsmodels). This equals `holm(p)[i] <= alpha` except when
/// `(m - j + 1) · p_(j)` rounds across `alpha`: a p-value equal to its
/// threshold `alpha / k` is always rejected.
///
/// Errors: as [`holm`], plus `alpha` outside (0, 1).
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// let rej = holm_reject(&[0.01, 0.04, 0.03, 0.005], 0.05).unwrap();
/// assert_eq!(rej, vec![true, false, false, true]);
/// ```
pub fn holm_reject(p_values: &[f64], alpha: f64) -> Result<Vec<bool>, StatsError> {
    if !(alpha.is_finite() && alpha > 0.0 && alpha < 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "alpha",
            value: alpha,
            reason: "must lie strictly between 0 and 1",
        });
    }
    check_p_values(p_values)?;
    // Step down comparing each p-value with the correctly rounded threshold
    // α/k (statsmodels' `multipletests(method="holm")`), not k·p with α: the
    // product can round across α (11 · fl(0.05/11) > 0.05), so a p-value equal
    // to its threshold was not rejected for some m and rejected for others.
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut reject = vec![false; m];
    for (rank, &i) in order.iter().enumerate() {
        if p_values[i] <= alpha / (m - rank) as f64 {
            reject[i] = true;
        } else {
            break;
        }
    }
    Ok(reject)
}
