//! Pre-registered statistical analyses of the decay study.
//!
//! **Trend** (C1–C4): a metric "decreases with the decay step T" when *all* of
//! the following reject at the claim's level (an intersection–union test, so
//! the claim's p-value is the largest component p-value):
//! 1. Spearman's ρ between T and the per-T median over seeds is negative
//!    (exact permutation p-value for ≤ 9 decay steps), with ρ ≤ `max_rho`;
//! 2. paired one-sided t test, earliest T > latest T, over seeds;
//! 3. Wilcoxon signed-rank (exact), earliest T > latest T;
//! 4. optionally a level test: one-sample one-sided t test that the mean of a
//!    metric at the latest T is below a bound (e.g. relative distance ≤ 5%).
//!
//! Effect-size criteria (not p-values): ρ ≤ `max_rho`, and the median at the
//! latest T is at most (1 − `min_relative_decrease`) times the median at the
//! earliest T. The Wilcoxon test of second-latest T > latest T is reported as
//! evidence only (not gating): it shows whether the metric is still moving at
//! the end of the grid or has reached its noise floor.
//!
//! Medians over seeds rather than pooled (T, seed) pairs enter the Spearman
//! test because runs with the same seed share their noise up to the earlier
//! decay step (common random numbers), so pooled pairs are not independent;
//! the per-T medians are one number per T and the seeds' dependence is
//! handled by the paired tests. Justification and power: `proofs/statistics.md`.

use serde::{Deserialize, Serialize};

use super::study::{DecayStudy, Metric};
use crate::stats::{
    equivalence_tost_paired, mean, median, one_sample_t_test, paired_t_test, spearman,
    wilcoxon_signed_rank, Alternative, StatsError, TestResult,
};

/// One component test of a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentTest {
    /// What was tested.
    pub name: String,
    /// Test statistic (t, V, ρ).
    pub statistic: f64,
    /// Point estimate (mean difference, median difference, ρ, mean).
    pub estimate: f64,
    /// p-value (1 when the test could not be computed).
    pub p_value: f64,
    /// Method, or why the test could not be computed.
    pub method: String,
    /// Whether the claim's intersection–union p-value includes this test
    /// (false: reported as evidence only).
    pub gating: bool,
}

impl ComponentTest {
    fn from_result(name: impl Into<String>, r: Result<TestResult, StatsError>) -> Self {
        let name = name.into();
        match r {
            Ok(t) => Self {
                name,
                statistic: t.statistic,
                estimate: t.estimate,
                p_value: t.p_value,
                method: t.method.to_string(),
                gating: true,
            },
            Err(e) => Self::failed(name, e),
        }
    }
    fn failed(name: String, e: StatsError) -> Self {
        Self {
            name,
            statistic: f64::NAN,
            estimate: f64::NAN,
            p_value: 1.0,
            method: format!("not computable: {e}"),
            gating: true,
        }
    }
}

/// What a trend claim requires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrendSpec {
    /// The metric that must decrease with T.
    pub metric: Metric,
    /// Spearman ρ of the medians must be ≤ this (effect size).
    pub max_rho: f64,
    /// The latest median must be ≤ (1 − this) × the earliest median.
    pub min_relative_decrease: f64,
    /// Optional level condition at the latest T: mean of `metric` < `bound`.
    pub level: Option<LevelSpec>,
}

/// Level condition at the latest decay step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelSpec {
    /// Metric.
    pub metric: Metric,
    /// Upper bound on its mean over seeds.
    pub bound: f64,
}

/// Result of [`analyze_trend`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendAnalysis {
    /// The specification.
    pub spec: TrendSpec,
    /// Decay steps.
    pub decay_steps: Vec<u64>,
    /// Median over seeds at each decay step.
    pub medians: Vec<f64>,
    /// Spearman ρ(T, median).
    pub rho: f64,
    /// Component tests.
    pub tests: Vec<ComponentTest>,
    /// Intersection–union p-value: the largest component p-value.
    pub p_value: f64,
    /// Mean of the level metric at the latest T (if a level is required).
    pub level_mean: Option<f64>,
    /// Largest value of the level metric over seeds at the latest T.
    pub level_max: Option<f64>,
    /// Whether the effect-size and level criteria hold (p-values aside).
    pub criteria_met: bool,
    /// Reasons a criterion failed.
    pub failures: Vec<String>,
}

/// Minimum number of distinct decay steps for a trend test.
pub const MIN_DECAY_STEPS: usize = 4;

/// Run the pre-registered trend analysis on one metric of a decay study.
pub fn analyze_trend(study: &DecayStudy, spec: &TrendSpec) -> TrendAnalysis {
    let values = study.values(spec.metric);
    let t: Vec<f64> = study.decay_steps.iter().map(|&x| x as f64).collect();
    let mut failures = Vec::new();
    let mut distinct = study.decay_steps.clone();
    distinct.dedup();
    if distinct.len() < MIN_DECAY_STEPS {
        failures.push(format!(
            "sweep.decay_steps = {:?} has {} distinct values; a trend needs ≥ {MIN_DECAY_STEPS}",
            study.decay_steps,
            distinct.len()
        ));
    }
    let medians: Vec<f64> = values
        .iter()
        .map(|v| median(v).unwrap_or(f64::NAN))
        .collect();
    let mut tests = Vec::new();
    let rho = match spearman(&t, &medians, Alternative::Less) {
        Ok(c) => {
            tests.push(ComponentTest {
                name: format!("Spearman ρ(T, median {})", spec.metric.symbol()),
                statistic: c.rho,
                estimate: c.rho,
                p_value: c.p_value,
                method: c.method.to_string(),
                gating: true,
            });
            c.rho
        }
        Err(e) => {
            tests.push(ComponentTest::failed(
                format!("Spearman ρ(T, median {})", spec.metric.symbol()),
                e,
            ));
            f64::NAN
        }
    };
    if !super::le(rho, spec.max_rho) {
        failures.push(format!("ρ = {rho:.3} > {}", spec.max_rho));
    }
    let k = values.len();
    let (first, last) = (&values[0], &values[k - 1]);
    tests.push(ComponentTest::from_result(
        "paired t, earliest T > latest T",
        paired_t_test(first, last, Alternative::Greater),
    ));
    tests.push(ComponentTest::from_result(
        "Wilcoxon, earliest T > latest T",
        wilcoxon_signed_rank(first, last, Alternative::Greater),
    ));
    for test in &tests[1..] {
        if !super::lt(0.0, test.estimate) {
            failures.push(format!(
                "{}: estimate {:.3e} not > 0",
                test.name, test.estimate
            ));
        }
    }
    let ratio = medians[k - 1] / medians[0];
    if !super::le(ratio, 1.0 - spec.min_relative_decrease) {
        failures.push(format!(
            "median at latest T / median at earliest T = {ratio:.3} > {}",
            1.0 - spec.min_relative_decrease
        ));
    }
    if k >= 3 {
        let mut late = ComponentTest::from_result(
            "Wilcoxon, second-latest T > latest T (evidence only)",
            wilcoxon_signed_rank(&values[k - 2], last, Alternative::Greater),
        );
        late.gating = false;
        tests.push(late);
    }
    let (mut level_mean, mut level_max) = (None, None);
    if let Some(level) = spec.level {
        let lv: Vec<f64> = study.results[k - 1]
            .iter()
            .map(|m| level.metric.of(m))
            .collect();
        let m = mean(&lv).unwrap_or(f64::NAN);
        level_mean = Some(m);
        level_max = Some(lv.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
        tests.push(ComponentTest::from_result(
            format!(
                "one-sample t, mean {} at latest T < {}",
                level.metric.symbol(),
                level.bound
            ),
            one_sample_t_test(&lv, level.bound, Alternative::Less),
        ));
        if !super::le(m, level.bound) {
            failures.push(format!(
                "mean {} at latest T = {m:.4e} > {}",
                level.metric.symbol(),
                level.bound
            ));
        }
    }
    let p_value = tests
        .iter()
        .filter(|t| t.gating)
        .map(|t| t.p_value)
        .fold(0.0, f64::max);
    TrendAnalysis {
        spec: *spec,
        decay_steps: study.decay_steps.clone(),
        medians,
        rho,
        criteria_met: failures.is_empty(),
        failures,
        tests,
        p_value,
        level_mean,
        level_max,
    }
}

/// Result of [`analyze_equivalence`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EquivalenceAnalysis {
    /// Metric compared between the earliest and the latest decay step.
    pub metric: Metric,
    /// Equivalence margin (absolute, in the metric's units).
    pub margin: f64,
    /// Mean of (earliest − latest).
    pub mean_difference: f64,
    /// The TOST.
    pub test: ComponentTest,
}

/// Paired TOST: the metric at the earliest and the latest decay step agree
/// within ±`margin`.
pub fn analyze_equivalence(study: &DecayStudy, metric: Metric, margin: f64) -> EquivalenceAnalysis {
    let values = study.values(metric);
    let (first, last) = (&values[0], &values[values.len() - 1]);
    let diffs: Vec<f64> = first.iter().zip(last).map(|(a, b)| a - b).collect();
    EquivalenceAnalysis {
        metric,
        margin,
        mean_difference: mean(&diffs).unwrap_or(f64::NAN),
        test: ComponentTest::from_result(
            format!(
                "paired TOST, {} at earliest vs latest T within ±{margin:.3e}",
                metric.symbol()
            ),
            equivalence_tost_paired(first, last, margin),
        ),
    }
}
