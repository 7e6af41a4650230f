//! The claims registry and `latedecay verify`.
//!
//! Each [`Claim`] has an id (C1…C10), a one-line statement, a kind
//! (statistical, finding, exact identity), a family-wise level α, and a
//! function that runs its experiment and returns a [`ClaimOutcome`]: the
//! statistic, its value, the pre-registered threshold, the p-value, whether
//! the criteria hold, the evidence, the experiment configuration and the seeds.
//! [`Registry::verify`] runs every claim, applies the Holm correction over the
//! p-values of the table and decides PASS / FAIL / FINDING per row.
//!
//! Adding a claim (e.g. C5–C7 from another module) is one function:
//!
//! ```
//! use latedecay::claims::{Claim, ClaimKind, ClaimOutcome, Mode, Registry, VerifyContext, Verdict};
//! fn my_claim(_ctx: &VerifyContext) -> Result<ClaimOutcome, latedecay::claims::ClaimError> {
//!     Ok(ClaimOutcome::new("max error", 1e-70, "≤ 1e-60", 1e-70 <= 1e-60, "evidence"))
//! }
//! let mut registry = Registry::empty();
//! registry.register(Claim {
//!     id: "C7",
//!     statement: "an example",
//!     kind: ClaimKind::Exact,
//!     alpha: 0.05,
//!     run: my_claim,
//! });
//! let report = registry.verify(Mode::Quick);
//! let row = report.rows.iter().find(|r| r.id == "C7").unwrap();
//! assert_eq!(row.verdict, Verdict::Pass);
//! // Ids C1..C10 that are not registered are listed as "not in this build".
//! assert_eq!(report.rows.iter().find(|r| r.id == "C1").unwrap().verdict, Verdict::NotInBuild);
//! assert!(report.all_passed());
//! ```
//!
//! Statistics, power and error rates: `proofs/statistics.md`; the claims, their
//! configurations and thresholds: `proofs/claims.md`.

pub mod analysis;
pub mod continuous;
pub mod dense_truth;
pub mod flow;
pub mod geometry;
pub mod identities;
pub mod landscape;
pub mod noise_shape;
pub mod regime;
pub mod registry;
pub mod study;

use std::sync::OnceLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use analysis::{ComponentTest, TrendAnalysis, TrendSpec};
pub use registry::{default_registry, Protocol};
pub use study::{DecayStudy, FinalMetrics, Metric};

use crate::experiment::ExperimentConfig;
use crate::field_error::FieldError;
use crate::number_format::fmt_evidence;
use flow::FlowPrediction;

/// Family-wise error rate of the claims table (Holm).
pub const FAMILY_ALPHA: f64 = 0.05;

/// The ids every build lists, in order.
pub const CLAIM_IDS: [&str; 14] = [
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12", "C13", "C14",
];

/// Quick (≤ 2 min on 2 cores) or full protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// 16 seeds, 7 decay steps.
    Quick,
    /// 64 fresh seeds, 9 decay steps, longer checks.
    Full,
}

/// What kind of statement a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// A hypothesis test over seeds: PASS needs the criteria and Holm-adjusted p ≤ α.
    Statistical,
    /// A reported finding: FINDING when its criteria hold, FAIL otherwise.
    Finding,
    /// A deterministic (exact-arithmetic) identity: PASS when the criteria hold.
    Exact,
}

/// Verdict of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The claim holds.
    Pass,
    /// The claim does not hold (or its test is not significant after Holm).
    Fail,
    /// A finding whose criteria hold (reported, not a pass/fail claim).
    Finding,
    /// The claim's experiment could not run.
    Error,
    /// The id is not registered in this build.
    NotInBuild,
    /// The claim cannot apply to this experiment (the reason is its evidence).
    NotApplicable,
}

impl Verdict {
    /// Label in the table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Finding => "FINDING",
            Verdict::Error => "ERROR",
            Verdict::NotInBuild => "not in this build",
            Verdict::NotApplicable => "N/A",
        }
    }
    /// Whether this verdict makes `verify` exit non-zero.
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Error)
    }
}

/// Errors of a claim's experiment.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub enum ClaimError {
    /// Invalid setting.
    #[error("invalid claim setting: {0}")]
    Invalid(FieldError),
    /// Configuration error.
    Config(#[from] crate::experiment::config::ConfigError),
    /// Experiment error.
    Experiment(#[from] crate::experiment::ExperimentError),
    /// Data error.
    Data(#[from] crate::data::DataError),
    /// Interpolant error.
    Interpolant(#[from] crate::manifold::InterpolantError),
    /// Linear algebra error.
    Linalg(#[from] crate::linalg::LinalgError),
    /// Slow-flow phase-length prediction error.
    PhaseLength(#[from] flow::PhaseLengthError),
    /// Statistics error.
    Stats(#[from] crate::stats::StatsError),
    /// A shared computation (cached for several claims) failed.
    #[error("{0}")]
    Shared(String),
    /// The claim cannot apply to this experiment (e.g. no β*, so no test
    /// loss): reported as `N/A` with the reason, never as PASS.
    #[error("not applicable: {0}")]
    NotApplicable(String),
}

/// What a claim's function returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimOutcome {
    /// The statistic (name).
    pub statistic: String,
    /// Its value.
    pub value: f64,
    /// The pre-registered threshold (text, including the level test).
    pub threshold: String,
    /// The claim's p-value (intersection–union: largest component p), if any.
    pub p_value: Option<f64>,
    /// Whether the effect-size / level / exactness criteria hold.
    pub criteria_met: bool,
    /// One-line evidence.
    pub evidence: String,
    /// Component tests.
    pub tests: Vec<ComponentTest>,
    /// Experiment configuration used (with its seeds), if any.
    pub config: Option<ExperimentConfig>,
    /// Seeds used.
    pub seeds: Vec<u64>,
    /// Extra machine-readable details.
    pub details: serde_json::Value,
}

impl ClaimOutcome {
    /// Outcome without p-value, tests or config.
    pub fn new(
        statistic: impl Into<String>,
        value: f64,
        threshold: impl Into<String>,
        criteria_met: bool,
        evidence: impl Into<String>,
    ) -> Self {
        Self {
            statistic: statistic.into(),
            value,
            threshold: threshold.into(),
            p_value: None,
            criteria_met,
            evidence: evidence.into(),
            tests: Vec::new(),
            config: None,
            seeds: Vec::new(),
            details: serde_json::Value::Null,
        }
    }

    /// The same outcome with what the claim ran and tested: its p-value,
    /// component tests, experiment, seeds and machine-readable details.
    pub fn with_run(
        self,
        p_value: Option<f64>,
        tests: Vec<ComponentTest>,
        config: impl Into<Option<ExperimentConfig>>,
        seeds: Vec<u64>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            p_value,
            tests,
            config: config.into(),
            seeds,
            details,
            ..self
        }
    }
}

/// A registered claim.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Id, e.g. "C1".
    pub id: &'static str,
    /// One-line statement.
    pub statement: &'static str,
    /// Kind.
    pub kind: ClaimKind,
    /// Family-wise level the Holm-adjusted p-value is compared with.
    pub alpha: f64,
    /// Runs the experiment and the analysis.
    pub run: fn(&VerifyContext) -> Result<ClaimOutcome, ClaimError>,
}

/// Shared state of a `verify` run: the mode and computations used by several
/// claims (slow-flow prediction, decay studies), computed once.
pub struct VerifyContext {
    /// Quick or full.
    pub mode: Mode,
    /// The protocol of the mode.
    pub protocol: Protocol,
    flow: OnceLock<Result<FlowPrediction, SharedFailure>>,
    label_noise: OnceLock<Result<DecayStudy, SharedFailure>>,
    linear: OnceLock<Result<DecayStudy, SharedFailure>>,
}

/// A cached failure of a shared computation: N/A reasons stay N/A for every
/// claim that needs the computation.
#[derive(Debug, Clone)]
enum SharedFailure {
    NotApplicable(String),
    Failed(String),
}

impl SharedFailure {
    fn of(e: ClaimError) -> Self {
        match e {
            ClaimError::NotApplicable(r) => Self::NotApplicable(r),
            other => Self::Failed(other.to_string()),
        }
    }
    fn to_error(&self, what: &str) -> ClaimError {
        match self {
            Self::NotApplicable(r) => ClaimError::NotApplicable(r.clone()),
            Self::Failed(e) => ClaimError::Shared(format!("{what} failed: {e}")),
        }
    }
}

impl VerifyContext {
    /// Context for a mode, with the built-in protocol.
    pub fn new(mode: Mode) -> Self {
        Self::with_protocol(mode, Protocol::for_mode(mode))
    }
    /// Context with an explicit protocol (tests use cheaper ones).
    pub fn with_protocol(mode: Mode, protocol: Protocol) -> Self {
        Self {
            mode,
            protocol,
            flow: OnceLock::new(),
            label_noise: OnceLock::new(),
            linear: OnceLock::new(),
        }
    }
    /// Slow-flow prediction of the longest phase (computed once).
    pub fn flow_prediction(&self) -> Result<&FlowPrediction, ClaimError> {
        self.flow
            .get_or_init(|| {
                registry::predict_longest_phase(&self.protocol).map_err(SharedFailure::of)
            })
            .as_ref()
            .map_err(|e| e.to_error("slow-flow prediction"))
    }
    /// The flow prediction that fixes the grid, or `None` when `[claims]`
    /// gives the grid.
    pub fn flow_for_grid(&self) -> Result<Option<&FlowPrediction>, ClaimError> {
        if self.protocol.grid_is_given() {
            Ok(None)
        } else {
            self.flow_prediction().map(Some)
        }
    }
    /// The decay grid of the studies.
    pub fn decay_grid(&self) -> Result<Vec<u64>, ClaimError> {
        self.protocol.grid(self.flow_for_grid()?)
    }
    /// The decay study of the experiment's own model (label-noise SGD on the
    /// diagonal network for the built-in protocol), computed once.
    pub fn label_noise_study(&self) -> Result<&DecayStudy, ClaimError> {
        let grid = self.decay_grid()?;
        self.label_noise
            .get_or_init(|| {
                let cfg = self.protocol.decay_config(self.protocol.base.model, &grid);
                crate::experiment::Experiment::new(cfg)
                    .map_err(ClaimError::from)
                    .and_then(|exp| study::run_decay_study(&exp))
                    .map_err(SharedFailure::of)
            })
            .as_ref()
            .map_err(|e| e.to_error("decay study"))
    }
    /// The Linear decay study on the same data and schedule (computed once;
    /// the experiment's own study when its model is Linear).
    pub fn linear_study(&self) -> Result<&DecayStudy, ClaimError> {
        if self.protocol.base.model == crate::model::ModelKind::Linear {
            return self.label_noise_study();
        }
        let grid = self.decay_grid()?;
        self.linear
            .get_or_init(|| {
                let cfg = self
                    .protocol
                    .decay_config(crate::model::ModelKind::Linear, &grid);
                crate::experiment::Experiment::new(cfg)
                    .map_err(ClaimError::from)
                    .and_then(|exp| study::run_decay_study(&exp))
                    .map_err(SharedFailure::of)
            })
            .as_ref()
            .map_err(|e| e.to_error("linear decay study"))
    }
    /// The label-noise study if it has already been computed (for contrasts).
    pub fn label_noise_study_if_done(&self) -> Option<&DecayStudy> {
        self.label_noise.get().and_then(|r| r.as_ref().ok())
    }
}

/// One row of the claims table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimRow {
    /// Id.
    pub id: String,
    /// Statement.
    pub statement: String,
    /// Kind (None when not in this build).
    pub kind: Option<ClaimKind>,
    /// Statistic.
    pub statistic: String,
    /// Value of the statistic.
    pub value: Option<f64>,
    /// Threshold.
    pub threshold: String,
    /// α (family-wise, Holm).
    pub alpha: Option<f64>,
    /// Raw p-value.
    pub p_value: Option<f64>,
    /// Holm-adjusted p-value (over the rows with a p-value).
    pub p_holm: Option<f64>,
    /// Whether the claim's effect-size / level / exactness criteria hold
    /// (None when the claim did not run).
    pub criteria_met: Option<bool>,
    /// Verdict.
    pub verdict: Verdict,
    /// Evidence.
    pub evidence: String,
    /// Component tests.
    pub tests: Vec<ComponentTest>,
    /// Configuration.
    pub config: Option<ExperimentConfig>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Details.
    pub details: serde_json::Value,
    /// Wall time of the claim's function (shared studies count where first used).
    pub seconds: f64,
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Name of the experiment the claims ran on.
    pub experiment: String,
    /// Mode.
    pub mode: Mode,
    /// Family-wise α of the Holm correction.
    pub family_alpha: f64,
    /// Rows in id order.
    pub rows: Vec<ClaimRow>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Rayon threads used.
    pub threads: usize,
}

impl VerifyReport {
    /// No row failed or errored.
    pub fn all_passed(&self) -> bool {
        !self.rows.iter().any(|r| r.verdict.is_failure())
    }
    /// Ids of failed rows.
    pub fn failed_ids(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.verdict.is_failure())
            .map(|r| r.id.clone())
            .collect()
    }
    /// The row of an id.
    pub fn row(&self, id: &str) -> Option<&ClaimRow> {
        self.rows.iter().find(|r| r.id == id)
    }
    /// The claims table as text.
    pub fn to_table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "experiment: {}", self.experiment);
        let _ = writeln!(
            s,
            "claims ({:?} protocol, Holm over the p column at family-wise α = {}; {} threads, {:.1} s)",
            self.mode, self.family_alpha, self.threads, self.seconds
        );
        let header = [
            "claim",
            "statistic",
            "value",
            "threshold",
            "p",
            "p_Holm",
            "verdict",
        ];
        let cells: Vec<[String; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.id.clone(),
                    r.statistic.clone(),
                    r.value.map_or("—".into(), fmt_evidence),
                    r.threshold.clone(),
                    r.p_value.map_or("—".into(), fmt_p),
                    r.p_holm.map_or("—".into(), fmt_p),
                    r.verdict.label().to_string(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for c in &cells {
            for (w, x) in widths.iter_mut().zip(c) {
                *w = (*w).max(x.chars().count());
            }
        }
        let line = |s: &mut String, c: &[String]| {
            for (i, (x, w)) in c.iter().zip(widths).enumerate() {
                let pad = w - x.chars().count();
                if i == 2 || i == 4 || i == 5 {
                    let _ = write!(s, "{}{}  ", " ".repeat(pad), x);
                } else {
                    let _ = write!(s, "{}{}  ", x, " ".repeat(pad));
                }
            }
            s.push('\n');
        };
        line(&mut s, &header.map(String::from));
        let total: usize = widths.iter().sum::<usize>() + 2 * widths.len();
        let _ = writeln!(s, "{}", "─".repeat(total));
        for (r, c) in self.rows.iter().zip(&cells) {
            line(&mut s, c);
            let _ = writeln!(s, "      {}", r.statement);
            if !r.evidence.is_empty() {
                let _ = writeln!(s, "      evidence: {}", r.evidence);
            }
        }
        let failed = self.failed_ids();
        if failed.is_empty() {
            let _ = writeln!(
                s,
                "all registered claims hold (FINDING rows are reported observations)"
            );
        } else {
            let _ = writeln!(s, "FAILED: {}", failed.join(", "));
        }
        s
    }
}

/// `a ≤ b`, false when either is NaN (criteria fail on NaN).
pub(crate) fn le(a: f64, b: f64) -> bool {
    a <= b
}

/// `a < b`, false when either is NaN.
pub(crate) fn lt(a: f64, b: f64) -> bool {
    a < b
}

fn fmt_p(p: f64) -> String {
    if p >= 1e-3 {
        format!("{p:.4}")
    } else {
        format!("{p:.2e}")
    }
}

/// A set of claims.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    claims: Vec<Claim>,
}

impl Registry {
    /// No claims.
    pub fn empty() -> Self {
        Self::default()
    }
    /// Add a claim (replacing one with the same id).
    pub fn register(&mut self, claim: Claim) {
        self.claims.retain(|c| c.id != claim.id);
        self.claims.push(claim);
    }
    /// Registered claims.
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }
    /// Keep only the given ids.
    pub fn retain_ids(&mut self, ids: &[&str]) {
        self.claims.retain(|c| ids.contains(&c.id));
    }
    /// Run every claim with the built-in protocol of `mode`.
    pub fn verify(&self, mode: Mode) -> VerifyReport {
        self.verify_with(&VerifyContext::new(mode))
    }
    /// Run every claim in a given context: rows in id order (C1…C10, then
    /// other ids), Holm over the rows with a p-value, verdicts.
    pub fn verify_with(&self, ctx: &VerifyContext) -> VerifyReport {
        let start = Instant::now();
        let mut ids: Vec<String> = CLAIM_IDS.iter().map(|s| s.to_string()).collect();
        for c in &self.claims {
            if !ids.iter().any(|i| i == c.id) {
                ids.push(c.id.to_string());
            }
        }
        let mut rows = Vec::new();
        for id in ids {
            let Some(claim) = self.claims.iter().find(|c| c.id == id) else {
                rows.push(ClaimRow {
                    id,
                    statement: "(registered by another module of the project)".into(),
                    kind: None,
                    statistic: "—".into(),
                    value: None,
                    threshold: "—".into(),
                    alpha: None,
                    p_value: None,
                    p_holm: None,
                    criteria_met: None,
                    verdict: Verdict::NotInBuild,
                    evidence: String::new(),
                    tests: vec![],
                    config: None,
                    seeds: vec![],
                    details: serde_json::Value::Null,
                    seconds: 0.0,
                });
                continue;
            };
            let t0 = Instant::now();
            let result = (claim.run)(ctx);
            let seconds = t0.elapsed().as_secs_f64();
            rows.push(match result {
                Ok(o) => ClaimRow {
                    id,
                    statement: claim.statement.into(),
                    kind: Some(claim.kind),
                    statistic: o.statistic,
                    value: Some(o.value),
                    threshold: o.threshold,
                    alpha: Some(claim.alpha),
                    p_value: o.p_value,
                    p_holm: None,
                    criteria_met: Some(o.criteria_met),
                    // decided after Holm
                    verdict: Verdict::Fail,
                    evidence: o.evidence,
                    tests: o.tests,
                    config: o.config,
                    seeds: o.seeds,
                    details: o.details,
                    seconds,
                },
                Err(e) => ClaimRow {
                    id,
                    statement: claim.statement.into(),
                    kind: Some(claim.kind),
                    statistic: "—".into(),
                    value: None,
                    threshold: "—".into(),
                    alpha: Some(claim.alpha),
                    p_value: None,
                    p_holm: None,
                    criteria_met: None,
                    verdict: match e {
                        ClaimError::NotApplicable(_) => Verdict::NotApplicable,
                        _ => Verdict::Error,
                    },
                    evidence: match e {
                        ClaimError::NotApplicable(reason) => format!("N/A: {reason}"),
                        other => other.to_string(),
                    },
                    tests: vec![],
                    config: None,
                    seeds: vec![],
                    details: serde_json::Value::Null,
                    seconds,
                },
            });
        }
        apply_holm_and_decide(&mut rows);
        VerifyReport {
            experiment: ctx.protocol.base.name.clone(),
            mode: ctx.mode,
            family_alpha: FAMILY_ALPHA,
            rows,
            seconds: start.elapsed().as_secs_f64(),
            threads: rayon::current_num_threads(),
        }
    }
}

/// Holm over the rows that have a p-value, then the verdict of each row:
/// statistical → PASS iff criteria hold and p_Holm ≤ α; finding → FINDING iff
/// criteria hold (and p_Holm ≤ α when it has a p-value); exact → PASS iff
/// criteria hold. Rows whose claim errored stay ERROR.
pub fn apply_holm_and_decide(rows: &mut [ClaimRow]) {
    let idx: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.p_value.is_some() && !matches!(r.verdict, Verdict::Error | Verdict::NotApplicable)
        })
        .map(|(i, _)| i)
        .collect();
    let ps: Vec<f64> = idx
        .iter()
        .map(|&i| {
            let p = rows[i].p_value.expect("filtered");
            if p.is_nan() {
                1.0
            } else {
                p.clamp(0.0, 1.0)
            }
        })
        .collect();
    let adjusted = crate::stats::holm(&ps).unwrap_or_else(|_| vec![1.0; ps.len()]);
    // The decision at the family α steps down against α/k (no one-ulp edge
    // where k·p rounds across α); the adjusted p-values are reported as R's.
    let rejected_at_family =
        crate::stats::holm_reject(&ps, FAMILY_ALPHA).unwrap_or_else(|_| vec![false; ps.len()]);
    let mut holm_decision = vec![None; rows.len()];
    for ((&i, &a), &rej) in idx.iter().zip(&adjusted).zip(&rejected_at_family) {
        rows[i].p_holm = Some(a);
        holm_decision[i] = Some(rej);
    }
    for (r, decision) in rows.iter_mut().zip(holm_decision) {
        let Some(kind) = r.kind else { continue };
        if matches!(r.verdict, Verdict::Error | Verdict::NotApplicable) {
            continue;
        }
        let criteria = r.criteria_met == Some(true);
        let alpha = r.alpha.unwrap_or(FAMILY_ALPHA);
        let significant = if alpha == FAMILY_ALPHA {
            decision
        } else {
            r.p_holm.map(|p| p <= alpha)
        };
        r.verdict = match kind {
            ClaimKind::Statistical => {
                if criteria && significant == Some(true) {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                }
            }
            ClaimKind::Finding => {
                if criteria && significant != Some(false) {
                    Verdict::Finding
                } else {
                    Verdict::Fail
                }
            }
            ClaimKind::Exact => {
                if criteria && significant != Some(false) {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                }
            }
        };
    }
}

/// Run the default registry in a mode (what `latedecay verify` does).
pub fn verify(mode: Mode) -> VerifyReport {
    default_registry().verify(mode)
}

/// Run the default registry on a user's experiment (`latedecay verify
/// --config FILE.toml`): the protocol of the mode on its model, data, init,
/// B, σ and schedule, with its `[claims]` section.
pub fn verify_config(cfg: &ExperimentConfig, mode: Mode) -> Result<VerifyReport, ClaimError> {
    let protocol = Protocol::from_config(cfg, mode)?;
    Ok(default_registry().verify_with(&VerifyContext::with_protocol(mode, protocol)))
}
