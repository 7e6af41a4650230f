//! Student t tests: one-sample, paired, Welch, and the paired TOST for equivalence.

use super::descriptive::{essentially_constant, shifted_moments};
use super::error::{check_finite, check_len};
use statrs::distribution::ContinuousCDF;

use super::{clamp_p, differences, student_t, t_p_value, Alternative, StatsError, TestResult};

/// One-sample Student t test of H0: mean(x) = `mu0`.
///
/// `t = (mean(x) - mu0) / (s / sqrt(n))`, where `s` is the sample standard
/// deviation, referred to a Student t distribution with `n - 1` degrees of
/// freedom. `estimate` is `mean(x)`.
///
/// Errors: fewer than 2 observations, non-finite data or `mu0`, zero variance.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R: t.test(c(0.7,-1.6,-0.2,-1.2,-0.1,3.4,3.7,0.8,0.0,2.0))  (sleep, group 1)
/// //    t = 1.3257, df = 9, p-value = 0.2176
/// let x = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
/// let r = one_sample_t_test(&x, 0.0, Alternative::TwoSided).unwrap();
/// assert!((r.statistic - 1.3257).abs() < TOLERANCE);
/// assert!((r.p_value - 0.2176).abs() < TOLERANCE);
/// ```
pub fn one_sample_t_test(x: &[f64], mu0: f64, alt: Alternative) -> Result<TestResult, StatsError> {
    if !mu0.is_finite() {
        return Err(StatsError::InvalidParameter {
            name: "mu0",
            value: mu0,
            reason: "must be finite",
        });
    }
    check_len("t test", x, 2)?;
    check_finite("x", x)?;
    let (t, df, m) = one_sample_t(x, mu0, "t test sample")?;
    Ok(TestResult {
        statistic: t,
        p_value: t_p_value(t, df, alt)?,
        n: x.len(),
        df: Some(df),
        estimate: m,
        alternative: alt,
        method: "one-sample Student t test",
    })
}

/// Returns (t, df, mean). Data must be finite with n >= 2.
fn one_sample_t(x: &[f64], mu0: f64, what: &'static str) -> Result<(f64, f64, f64), StatsError> {
    let n = x.len() as f64;
    let (m_shifted, ss) = shifted_moments(x, x[0]);
    let m = x[0] + m_shifted;
    let se = (ss / (n - 1.0) / n).sqrt();
    if essentially_constant(se) {
        return Err(StatsError::ZeroVariance { what, value: x[0] });
    }
    // mean − μ₀ without the rounding of the shifted mean back to x[0] + m.
    Ok((((x[0] - mu0) + m_shifted) / se, n - 1.0, m))
}

/// Paired Student t test on the differences `d_i = a_i - b_i`
/// (H0: mean difference = 0).
///
/// `t = mean(d) / (sd(d) / sqrt(n))` with `n - 1` degrees of freedom;
/// `estimate` is `mean(d)`. `Greater` tests `a > b`.
///
/// Errors: length mismatch, fewer than 2 pairs, non-finite values, all
/// differences equal.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R: with(sleep, t.test(extra[group == 1], extra[group == 2], paired = TRUE))
/// //    t = -4.0621, df = 9, p-value = 0.002833, mean difference -1.58
/// let g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
/// let g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
/// let r = paired_t_test(&g1, &g2, Alternative::TwoSided).unwrap();
/// assert!((r.statistic - (-4.0621)).abs() < TOLERANCE);
/// assert!((r.p_value - 0.002833).abs() < 1e-6);
/// assert_eq!(r.df, Some(9.0));
/// ```
pub fn paired_t_test(a: &[f64], b: &[f64], alt: Alternative) -> Result<TestResult, StatsError> {
    let d = differences(a, b)?;
    check_len("paired t test", &d, 2)?;
    let (t, df, m) = one_sample_t(&d, 0.0, "paired differences")?;
    Ok(TestResult {
        statistic: t,
        p_value: t_p_value(t, df, alt)?,
        n: d.len(),
        df: Some(df),
        estimate: m,
        alternative: alt,
        method: "paired Student t test",
    })
}

/// Welch's unequal-variance two-sample t test (H0: mean(a) = mean(b)).
///
/// `t = (mean(a) - mean(b)) / sqrt(s_a^2/n_a + s_b^2/n_b)` with the
/// Welch–Satterthwaite degrees of freedom
/// `df = (s_a^2/n_a + s_b^2/n_b)^2 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1))`.
/// `estimate` is `mean(a) - mean(b)`; `n` is `n_a + n_b`.
///
/// Errors: either sample with fewer than 2 values, non-finite values, both
/// samples constant.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// // R: t.test(extra ~ group, data = sleep)
/// //    t = -1.8608, df = 17.776, p-value = 0.07939
/// let g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
/// let g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
/// let r = welch_t_test(&g1, &g2, Alternative::TwoSided).unwrap();
/// assert!((r.statistic - (-1.8608)).abs() < TOLERANCE);
/// assert!((r.df.unwrap() - 17.776).abs() < 1e-3);
/// assert!((r.p_value - 0.07939).abs() < TOLERANCE);
/// ```
pub fn welch_t_test(a: &[f64], b: &[f64], alt: Alternative) -> Result<TestResult, StatsError> {
    check_len("Welch t test (sample a)", a, 2)?;
    check_len("Welch t test (sample b)", b, 2)?;
    check_finite("a", a)?;
    check_finite("b", b)?;
    let (na, nb) = (a.len() as f64, b.len() as f64);
    // Both means in coordinates shifted by a[0]: the difference of means is
    // not swamped by the rounding of a large common offset.
    let shift = a[0];
    let (ma, ssa) = shifted_moments(a, shift);
    let (mb, ssb) = shifted_moments(b, shift);
    let (va, vb) = (ssa / (na - 1.0) / na, ssb / (nb - 1.0) / nb);
    let se2 = va + vb;
    if essentially_constant(se2.sqrt()) {
        return Err(StatsError::ZeroVariance {
            what: "both Welch samples",
            value: a[0],
        });
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    Ok(TestResult {
        statistic: t,
        p_value: t_p_value(t, df, alt)?,
        n: a.len() + b.len(),
        df: Some(df),
        estimate: ma - mb,
        alternative: alt,
        method: "Welch two-sample t test",
    })
}

/// Paired two one-sided tests (TOST) for equivalence of `a` and `b` within
/// `±margin`.
///
/// With `d_i = a_i - b_i`, `se = sd(d)/sqrt(n)` and `n - 1` degrees of freedom:
/// * lower test, H0: mu <= -margin: `t_L = (mean(d) + margin)/se`, `p_L = P(T >= t_L)`;
/// * upper test, H0: mu >= +margin: `t_U = (mean(d) - margin)/se`, `p_U = P(T <= t_U)`.
///
/// Equivalence is claimed when both are rejected, so `p_value = max(p_L, p_U)`;
/// `statistic` is the t of the binding (larger-p) test, `estimate` is
/// `mean(d)`. `alternative` is reported as `TwoSided` (the alternative is the
/// interval `(-margin, margin)`).
///
/// Errors: as [`paired_t_test`], plus `margin` not finite and positive.
///
/// # Examples
///
/// ```
/// use latedecay::stats::*;
/// let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let b = [1.1, 1.9, 3.05, 3.9, 5.1, 5.95];
/// // scipy: max(ttest_1samp(d, -0.5, alternative='greater').pvalue,
/// //            ttest_1samp(d,  0.5, alternative='less').pvalue) = 2.48388e-5
/// let r = equivalence_tost_paired(&a, &b, 0.5).unwrap();
/// assert!((r.p_value - 2.48388e-5).abs() < 1e-9);
/// ```
pub fn equivalence_tost_paired(
    a: &[f64],
    b: &[f64],
    margin: f64,
) -> Result<TestResult, StatsError> {
    if !(margin.is_finite() && margin > 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "margin",
            value: margin,
            reason: "must be finite and positive",
        });
    }
    let d = differences(a, b)?;
    check_len("paired TOST", &d, 2)?;
    let n = d.len() as f64;
    let (m_shifted, ss) = shifted_moments(&d, d[0]);
    let m = d[0] + m_shifted;
    let se = (ss / (n - 1.0) / n).sqrt();
    if essentially_constant(se) {
        return Err(StatsError::ZeroVariance {
            what: "paired differences",
            value: d[0],
        });
    }
    let df = n - 1.0;
    let dist = student_t(df)?;
    let t_lower = (m + margin) / se;
    let t_upper = (m - margin) / se;
    let p_lower = clamp_p(dist.sf(t_lower));
    let p_upper = clamp_p(dist.cdf(t_upper));
    let (statistic, p_value) = if p_lower >= p_upper {
        (t_lower, p_lower)
    } else {
        (t_upper, p_upper)
    };
    Ok(TestResult {
        statistic,
        p_value,
        n: d.len(),
        df: Some(df),
        estimate: m,
        alternative: Alternative::TwoSided,
        method: "paired TOST equivalence test (Student t)",
    })
}
