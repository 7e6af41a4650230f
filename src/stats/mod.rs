//! Small, dependency-light statistics toolkit used to check claims numerically.
//!
//! Conventions used throughout:
//!
//! * Two-sample and paired tests are oriented like R's `t.test(x = a, y = b)`:
//!   [`Alternative::Greater`] means "the location of `a` exceeds that of `b`"
//!   (for paired data: the differences `a[i] - b[i]` are shifted above zero),
//!   [`Alternative::Less`] the opposite, and [`Alternative::TwoSided`] either.
//! * Two-sided p-values of symmetric statistics are `min(1, 2 * smaller tail)`.
//! * Every function validates its input and returns a typed [`StatsError`]
//!   instead of silently producing `NaN`.
//! * Randomised procedures ([`bootstrap_median_ci`]) draw from the crate's
//!   seeded ChaCha8 streams (`noise::rng_for(seed, noise::stream::BOOTSTRAP)`),
//!   so results depend only on the seed.
//!
//! Distribution functions (Student t, standard normal) come from `statrs`.
//! [`TOLERANCE`] is the absolute tolerance used by the documentation examples.

use statrs::distribution::{ContinuousCDF, StudentsT};

use error::{check_finite, check_same_len};

mod bootstrap;
mod convergence;
mod descriptive;
mod error;
mod multiple_testing;
mod regression;
mod signed_rank;
mod spearman;
mod t_tests;

pub use bootstrap::bootstrap_median_ci;
pub use convergence::{fit_convergence_order, ConvergenceOrder};
pub(crate) use descriptive::quantile_type7;
pub use descriptive::{mean, median, sample_variance};
pub use error::StatsError;
pub use multiple_testing::{holm, holm_reject};
pub use regression::{linear_fit, LinearFit};
pub use signed_rank::{
    ranks_average, signed_rank_exact_p, signed_rank_normal_p, signed_rank_null_pmf,
    wilcoxon_signed_rank, WILCOXON_EXACT_MAX_N,
};
pub use spearman::{spearman, Correlation, SPEARMAN_EXACT_MAX_N};
pub use t_tests::{equivalence_tost_paired, one_sample_t_test, paired_t_test, welch_t_test};

/// Absolute tolerance used by the documentation examples when comparing a
/// computed value with a published reference value (which are typically
/// printed with 4 significant digits).
pub const TOLERANCE: f64 = 1e-4;

/// Direction of the alternative hypothesis.
///
/// For tests on a location (mean, median, pseudo-median of differences,
/// correlation), `Greater` means the parameter exceeds its null value
/// (e.g. `a - b > 0`, `rho > 0`), `Less` that it falls short of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alternative {
    /// H1: parameter < null value (lower tail).
    Less,
    /// H1: parameter > null value (upper tail).
    Greater,
    /// H1: parameter != null value (both tails).
    TwoSided,
}

impl Alternative {
    /// The alternative obtained by swapping the roles of the two samples
    /// (`Less` <-> `Greater`, `TwoSided` unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use latedecay::stats::Alternative;
    /// assert_eq!(Alternative::Less.mirrored(), Alternative::Greater);
    /// assert_eq!(Alternative::TwoSided.mirrored(), Alternative::TwoSided);
    /// ```
    pub fn mirrored(self) -> Self {
        match self {
            Alternative::Less => Alternative::Greater,
            Alternative::Greater => Alternative::Less,
            Alternative::TwoSided => Alternative::TwoSided,
        }
    }
}

/// Outcome of a hypothesis test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// Test statistic (t for t tests, V = sum of positive ranks for the
    /// Wilcoxon signed-rank test).
    pub statistic: f64,
    /// p-value for the requested alternative, in `[0, 1]`.
    pub p_value: f64,
    /// Effective sample size (number of pairs / observations actually used;
    /// for the Wilcoxon test, the number of non-zero differences; for Welch,
    /// `n_a + n_b`).
    pub n: usize,
    /// Degrees of freedom of the reference distribution, if it has any.
    pub df: Option<f64>,
    /// Point estimate of the tested parameter (mean difference, mean,
    /// median difference, ...). See the individual functions.
    pub estimate: f64,
    /// Alternative the p-value refers to.
    pub alternative: Alternative,
    /// Human-readable name of the procedure actually used.
    pub method: &'static str,
}

impl TestResult {
    /// `true` if the null hypothesis is rejected at level `alpha`
    /// (i.e. `p_value < alpha`).
    ///
    /// # Examples
    ///
    /// ```
    /// use latedecay::stats::*;
    /// let r = one_sample_t_test(&[1.0, 2.0, 3.0, 4.0], 0.0, Alternative::TwoSided).unwrap();
    /// assert!(r.rejects(0.05));
    /// assert!(!r.rejects(0.01));
    /// ```
    pub fn rejects(&self, alpha: f64) -> bool {
        self.p_value < alpha
    }
}

// Reference distributions shared by the tests.

fn student_t(df: f64) -> Result<StudentsT, StatsError> {
    StudentsT::new(0.0, 1.0, df).map_err(|_| StatsError::InvalidParameter {
        name: "degrees of freedom",
        value: df,
        reason: "must be positive",
    })
}

fn clamp_p(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// p-value of a statistic with a continuous, symmetric-about-0 null
/// distribution given by its cdf and survival function.
fn continuous_p(cdf: f64, sf: f64, alt: Alternative) -> f64 {
    clamp_p(match alt {
        Alternative::Less => cdf,
        Alternative::Greater => sf,
        Alternative::TwoSided => 2.0 * cdf.min(sf),
    })
}

fn t_p_value(t: f64, df: f64, alt: Alternative) -> Result<f64, StatsError> {
    let dist = student_t(df)?;
    Ok(continuous_p(dist.cdf(t), dist.sf(t), alt))
}

fn differences(a: &[f64], b: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_same_len(a, b)?;
    check_finite("a", a)?;
    check_finite("b", b)?;
    Ok(a.iter().zip(b).map(|(x, y)| x - y).collect())
}
