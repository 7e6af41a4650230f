//! Ordinary least squares with Student-t confidence intervals.

use statrs::distribution::ContinuousCDF;

use super::descriptive::shifted_moments;
use super::error::{check_confidence, check_finite, check_len, check_same_len};
use super::{student_t, StatsError};

/// Ordinary least-squares fit `y = intercept + slope * x`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    /// Estimated slope.
    pub slope: f64,
    /// Estimated intercept.
    pub intercept: f64,
    /// Standard error of the slope.
    pub slope_se: f64,
    /// Standard error of the intercept.
    pub intercept_se: f64,
    /// Student-t confidence interval for the slope.
    pub slope_ci: (f64, f64),
    /// Student-t confidence interval for the intercept.
    pub intercept_ci: (f64, f64),
    /// Coefficient of determination `1 - SSE/SST` (1 if `y` is constant).
    pub r_squared: f64,
    /// Residual standard error `sqrt(SSE / (n - 2))`.
    pub residual_se: f64,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Number of points.
    pub n: usize,
}

/// Ordinary least squares of `y` on `x` with an intercept, and Student-t
/// confidence intervals at level `confidence` with `n - 2` degrees of freedom.
///
/// With `Sxx = sum (x - x̄)^2`, `Sxy = sum (x - x̄)(y - ȳ)`:
/// `slope = Sxy / Sxx`, `intercept = ȳ - slope x̄`,
/// `s^2 = SSE / (n - 2)`, `se(slope) = s / sqrt(Sxx)`,
/// `se(intercept) = s sqrt(1/n + x̄^2 / Sxx)`,
/// CI = estimate ± `t_{(1+confidence)/2, n-2}` se, `R^2 = 1 - SSE / SST`.
///
/// Errors: length mismatch, fewer than 3 points, non-finite values, constant
/// `x`, `confidence` outside (0, 1).
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R: summary(lm(dist ~ speed, data = cars)) -> slope 3.9324 (se 0.4155),
/// //    intercept -17.5791, R^2 = 0.6511; confint: speed 3.096964 .. 4.767853
/// let speed = [4., 4., 7., 7., 8., 9., 10., 10., 10., 11., 11., 12., 12., 12., 12., 13.,
///     13., 13., 13., 14., 14., 14., 14., 15., 15., 15., 16., 16., 17., 17., 17., 18., 18.,
///     18., 18., 19., 19., 19., 20., 20., 20., 20., 20., 22., 23., 24., 24., 24., 24., 25.];
/// let dist = [2., 10., 4., 22., 16., 10., 18., 26., 34., 17., 28., 14., 20., 24., 28., 26.,
///     34., 34., 46., 26., 36., 60., 80., 20., 26., 54., 32., 40., 32., 40., 50., 42., 56.,
///     76., 84., 36., 46., 68., 32., 48., 52., 56., 64., 66., 54., 70., 92., 93., 120., 85.];
/// let f = linear_fit(&speed, &dist, 0.95).unwrap();
/// assert!((f.slope - 3.9324).abs() < TOLERANCE);
/// assert!((f.slope_ci.0 - 3.096964).abs() < 1e-5);
/// assert!((f.r_squared - 0.6511).abs() < TOLERANCE);
/// ```
pub fn linear_fit(x: &[f64], y: &[f64], confidence: f64) -> Result<LinearFit, StatsError> {
    check_confidence(confidence)?;
    check_same_len(x, y)?;
    check_len("linear fit", x, 3)?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    let n = x.len();
    let nf = n as f64;
    // scipy's `linregress` rule: all x identical is an error (checked on the
    // values themselves, before any rounding of their mean).
    if x.iter().all(|&v| v == x[0]) {
        return Err(StatsError::ZeroVariance {
            what: "x (linear fit)",
            value: x[0],
        });
    }
    // Means in coordinates shifted by the first point (stable for offsets).
    let (mx_s, _) = shifted_moments(x, x[0]);
    let (my_s, _) = shifted_moments(y, y[0]);
    let (mx, my) = (x[0] + mx_s, y[0] + my_s);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (da, db) = ((a - x[0]) - mx_s, (b - y[0]) - my_s);
        sxx += da * da;
        sxy += da * db;
        syy += db * db;
    }
    if sxx == 0.0 {
        return Err(StatsError::ZeroVariance {
            what: "x (linear fit)",
            value: x[0],
        });
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| {
            let r = b - intercept - slope * a;
            r * r
        })
        .sum();
    let df = nf - 2.0;
    let s2 = sse / df;
    let slope_se = (s2 / sxx).sqrt();
    let intercept_se = (s2 * (1.0 / nf + mx * mx / sxx)).sqrt();
    let q = student_t(df)?.inverse_cdf(0.5 + confidence / 2.0);
    let r_squared = if syy == 0.0 {
        1.0
    } else {
        (1.0 - sse / syy).clamp(0.0, 1.0)
    };
    Ok(LinearFit {
        slope,
        intercept,
        slope_se,
        intercept_se,
        slope_ci: (slope - q * slope_se, slope + q * slope_se),
        intercept_ci: (intercept - q * intercept_se, intercept + q * intercept_se),
        r_squared,
        residual_se: s2.sqrt(),
        confidence,
        n,
    })
}
