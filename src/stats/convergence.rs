//! Convergence orders: the least-squares slope p of log(error) on log(step
//! size), error ≈ C·hᵖ, with its Student-t confidence interval.
//!
//! The one order fitter of the crate: the error-vs-η tables of `compare`
//! (Monte Carlo SGD vs SME-1, SGD vs the slow flow), the exact weak orders of
//! `moments::weak_order` (C5, F6), claim C6 and the fitted orders in the F6
//! legend all call [`fit_convergence_order`]. Callers take the logarithms, in
//! any one base for both axes (the slope does not depend on it), so that
//! errors computed in MPFR can be taken to log₂ in their working precision.

use serde::Serialize;
use statrs::distribution::ContinuousCDF;

use super::{linear_fit, student_t, Alternative, StatsError, TestResult};

/// A fitted convergence order.
///
/// Serialized as `{order, ci, r_squared, points}` (the layout of the
/// `compare` reports); the standard error is not part of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvergenceOrder {
    /// The order p: slope of log error on log step size.
    pub order: f64,
    /// Student-t confidence interval of the order (n − 2 degrees of freedom).
    pub ci: (f64, f64),
    /// R² of the log–log fit.
    pub r_squared: f64,
    /// Number of points fitted.
    pub points: usize,
    /// Standard error of the order.
    #[serde(skip_serializing)]
    pub order_se: f64,
}

impl ConvergenceOrder {
    /// One-sided t test of H0: order ≤ 0 ("the error does not vanish as the
    /// step size goes to 0"): t = order / se with `points − 2` degrees of
    /// freedom, p = 1 − F_t(t). `estimate` is the order.
    ///
    /// # Examples
    /// ```
    /// use latedecay::stats::fit_convergence_order;
    /// let log_h = [-1.0f64, -2.0, -3.0, -4.0];
    /// let log_e = [-1.1, -2.0, -2.9, -4.05];
    /// let fit = fit_convergence_order(&log_h, &log_e, 0.95).unwrap();
    /// let test = fit.vanishing_error_test().unwrap();
    /// assert_eq!(test.df, Some(2.0));
    /// assert!(test.p_value < 1e-3);
    /// ```
    pub fn vanishing_error_test(&self) -> Result<TestResult, StatsError> {
        let df = (self.points - 2) as f64;
        let t = self.order / self.order_se;
        let p = 1.0 - student_t(df)?.cdf(t);
        Ok(TestResult {
            statistic: t,
            p_value: p,
            n: self.points,
            df: Some(df),
            estimate: self.order,
            alternative: Alternative::Greater,
            method: "one-sided t-test on the OLS slope",
        })
    }
}

/// Fit log error = c + p · log step size by least squares
/// ([`linear_fit`]) and return the order p with its CI at `confidence`.
///
/// Errors: as [`linear_fit`] (fewer than 3 points, non-finite logarithms,
/// all step sizes equal, `confidence` outside (0, 1)).
///
/// # Examples
/// ```
/// use latedecay::stats::fit_convergence_order;
/// // error = 3 h²: order 2 in any base.
/// let h = [0.1f64, 0.05, 0.025, 0.0125];
/// let ln_h: Vec<f64> = h.iter().map(|v| v.ln()).collect();
/// let ln_e: Vec<f64> = h.iter().map(|v| (3.0 * v * v).ln()).collect();
/// let fit = fit_convergence_order(&ln_h, &ln_e, 0.95).unwrap();
/// assert!((fit.order - 2.0).abs() < 1e-12 && fit.points == 4);
/// assert!(fit.ci.0 <= fit.order && fit.order <= fit.ci.1);
/// ```
pub fn fit_convergence_order(
    log_step_sizes: &[f64],
    log_errors: &[f64],
    confidence: f64,
) -> Result<ConvergenceOrder, StatsError> {
    let fit = linear_fit(log_step_sizes, log_errors, confidence)?;
    Ok(ConvergenceOrder {
        order: fit.slope,
        ci: fit.slope_ci,
        r_squared: fit.r_squared,
        points: fit.n,
        order_se: fit.slope_se,
    })
}
