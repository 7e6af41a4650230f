//! `compare`: SGD vs SDE vs slow flow, error-vs-η tables with fitted orders and
//! confidence intervals, and the f64-vs-MPFR divergence behind figure F7.
//!
//! Three comparisons, each optional in the TOML config ([`CompareConfig`]):
//! * `flow` (claim C6): label-noise SGD from θ₀ ∈ Γ, projected onto Γ after
//!   K = τ/η² steps, vs the slow flow at τ (`dynamics::flow`); mean distance over
//!   seeds per η and the least-squares slope on log–log with a CI;
//! * `sde` (claim C5, Monte Carlo): weak error of SGD vs SME-1 (Euler–Maruyama,
//!   2^level substeps per SGD step) for E‖θ_T‖² and the expected test loss at
//!   SDE time T, with CIs that include the Monte Carlo error of both sides;
//! * `precision` (figure F7): the same seed in f64 and in MPFR, relative distance
//!   between the two trajectories versus step and the *trusted horizon* of f64
//!   (first recorded step where it exceeds `threshold`).
//!
//! Derivations: `proofs/slow_flow.md` §4 (C6), `proofs/covariance.md` (SME-1,
//! C5 Monte Carlo plan).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, SyntheticConfig};
use crate::dynamics::flow::{label_noise_flow, FlowSettings};
use crate::dynamics::sde::{solve_sde, ContinuousModel, Scheme, SdeSettings};
use crate::dynamics::sgd::{run_sgd, run_sgd_to_end, RecordPlan, Sgd, SgdState};
use crate::field_error::FieldError;
use crate::linalg::{distance, norm_sq};
use crate::manifold::project_onto_manifold;
use crate::model::{Diagonal, LinearInX, Model, Problem};
use crate::probe::NullProbe;
use crate::scalar::{Mpfr, Real};
use crate::schedule::Schedule;
use crate::stats::{fit_convergence_order, ConvergenceOrder};

/// The `compare` configuration (TOML). The model is the diagonal network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareConfig {
    /// Synthetic data.
    pub data: SyntheticConfig,
    /// Initialization u = v = `init_scale`.
    #[serde(default = "one")]
    pub init_scale: f64,
    /// Label-noise σ.
    pub label_noise_sigma: f64,
    /// Minibatch size B.
    #[serde(default = "one_usize")]
    pub batch_size: usize,
    /// Learning rates η (≥ 3 for a fit with a CI).
    pub etas: Vec<f64>,
    /// Number of SGD seeds (0..seeds).
    pub seeds: u64,
    /// Confidence level of the intervals.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// C6: SGD vs slow flow.
    pub flow: Option<FlowComparison>,
    /// C5: SGD vs SME-1 by Monte Carlo.
    pub sde: Option<SdeComparison>,
    /// F7: f64 vs MPFR.
    pub precision: Option<PrecisionComparison>,
    /// Output directory for the CSV/JSON files.
    #[serde(default = "default_out")]
    pub out_dir: PathBuf,
}

fn one() -> f64 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn default_confidence() -> f64 {
    0.95
}
fn default_out() -> PathBuf {
    PathBuf::from("out/compare")
}

/// C6 settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowComparison {
    /// Flow time τ at which SGD (K = τ/η² steps) is compared.
    pub tau: f64,
    /// Drift constant of the flow (¼ correct; ½ = negative control).
    #[serde(default = "quarter")]
    pub drift_constant: f64,
}

fn quarter() -> f64 {
    0.25
}

/// C5 Monte Carlo settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdeComparison {
    /// SDE time T = Kη at which the moments are compared.
    pub horizon: f64,
    /// Largest number of Monte Carlo paths for each of SGD and SME-1. Paths
    /// are run in batches of `batch_paths` until the CI half-width is below
    /// half the measured bias (the bias is then resolved) or this budget is
    /// spent (the row is then reported as unresolved: its CI contains 0).
    pub paths: u64,
    /// Paths per batch of the sequential plan.
    #[serde(default = "default_batch_paths")]
    pub batch_paths: u64,
    /// Label-noise σ for this comparison (default: the top-level value).
    pub label_noise_sigma: Option<f64>,
    /// Minibatch size B for this comparison (default: the top-level value).
    pub batch_size: Option<usize>,
    /// Each SGD step is split into 2^level Euler–Maruyama steps.
    #[serde(default = "default_level")]
    pub level: u32,
}

fn default_level() -> u32 {
    3
}
fn default_batch_paths() -> u64 {
    200
}

/// F7 settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrecisionComparison {
    /// Learning rates of label-noise SGD (top-level σ and B).
    #[serde(default)]
    pub lrs: Vec<f64>,
    /// Learning rates of full-batch gradient descent (B = n, each sample once
    /// per step, σ = 0): near the edge of stability GD is chaotic and f64
    /// loses track of the exact trajectory.
    #[serde(default)]
    pub full_batch_lrs: Vec<f64>,
    /// Initialization u = v = `init_scale` (default: the top-level value).
    pub init_scale: Option<f64>,
    /// SGD steps.
    pub steps: u64,
    /// Record every this many steps.
    pub every: u64,
    /// MPFR precision in bits.
    #[serde(default = "default_bits")]
    pub bits: u32,
    /// Relative-distance threshold defining the trusted horizon.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Seed.
    #[serde(default)]
    pub seed: u64,
    /// Data seed of the F7 instance (default: the top-level `data.seed`).
    /// Whether full-batch GD at a given rate is chaotic depends on the instance.
    pub data_seed: Option<u64>,
}

fn default_bits() -> u32 {
    256
}
fn default_threshold() -> f64 {
    1e-3
}

/// Errors of `compare`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub enum CompareError {
    /// Invalid field.
    #[error("invalid compare config: {0}")]
    Invalid(FieldError),
    /// Reading/parsing.
    #[error("cannot read compare config {path}: {message}")]
    Read {
        /// Path.
        path: String,
        /// Message.
        message: String,
    },
    /// Data.
    Data(#[from] crate::data::DataError),
    /// Flow.
    Flow(#[from] crate::dynamics::flow::FlowError),
    /// SDE.
    Sde(#[from] crate::dynamics::sde::SdeError),
    /// SGD.
    Sgd(#[from] crate::dynamics::sgd::SgdError),
    /// Statistics.
    #[error("statistics: {0}")]
    Stats(String),
    /// Linear algebra.
    Linalg(#[from] crate::linalg::LinalgError),
    /// Output.
    #[error("writing {path}: {message}")]
    Write {
        /// Path.
        path: String,
        /// Message.
        message: String,
    },
}

fn invalid(field: &str, value: impl ToString, reason: &str) -> CompareError {
    CompareError::Invalid(FieldError::new(field, value, reason))
}

impl CompareConfig {
    /// Parse TOML text (`origin` names the source in errors).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, CompareError> {
        let cfg: Self = toml::from_str(text).map_err(|e| CompareError::Read {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }
    /// Read a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, CompareError> {
        let text = std::fs::read_to_string(path).map_err(|e| CompareError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }
    /// Check every field.
    pub fn validate(&self) -> Result<(), CompareError> {
        if self.etas.len() < 3 {
            return Err(invalid(
                "etas",
                format!("{:?}", self.etas),
                "need ≥ 3 learning rates for a fit with a CI",
            ));
        }
        for &e in &self.etas {
            if !(e.is_finite() && e > 0.0) {
                return Err(invalid("etas", e, "learning rates must be finite and > 0"));
            }
        }
        if self.seeds < 2 {
            return Err(invalid("seeds", self.seeds, "need ≥ 2"));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", 0, "must be ≥ 1"));
        }
        FieldError::check_positive("label_noise_sigma", self.label_noise_sigma)
            .map_err(CompareError::Invalid)?;
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(invalid("confidence", self.confidence, "must be in (0, 1)"));
        }
        FieldError::check_positive("init_scale", self.init_scale).map_err(CompareError::Invalid)?;
        if let Some(f) = &self.flow {
            FieldError::check_positive("flow.tau", f.tau).map_err(CompareError::Invalid)?;
        }
        if let Some(s) = &self.sde {
            FieldError::check_positive("sde.horizon", s.horizon).map_err(CompareError::Invalid)?;
            if s.paths < 2 {
                return Err(invalid("sde.paths", s.paths, "need ≥ 2"));
            }
            if s.level > 12 {
                return Err(invalid("sde.level", s.level, "at most 12"));
            }
        }
        if let Some(p) = &self.precision {
            let all: Vec<f64> = p.lrs.iter().chain(&p.full_batch_lrs).copied().collect();
            if all.is_empty() || all.iter().any(|l| !(l.is_finite() && *l > 0.0)) {
                return Err(invalid(
                    "precision.lrs",
                    format!("{all:?}"),
                    "need ≥ 1 finite positive rate",
                ));
            }
            if p.every == 0 || p.steps == 0 {
                return Err(invalid(
                    "precision.every",
                    p.every,
                    "steps and every must be ≥ 1",
                ));
            }
            crate::scalar::Precision::new(p.bits)
                .map_err(|e| invalid("precision.bits", p.bits, &e.to_string()))?;
        }
        Ok(())
    }
}

/// One row of an error-vs-η table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRow {
    /// Learning rate.
    pub eta: f64,
    /// Estimated error (mean distance, or |bias| of a moment).
    pub error: f64,
    /// Standard error of the estimate.
    pub standard_error: f64,
    /// CI of the error at the config's confidence level.
    pub ci: (f64, f64),
    /// SGD steps per run.
    pub steps: u64,
    /// Monte Carlo paths per side (seeds for the flow table).
    pub paths: u64,
}

/// An error-vs-η table with its fitted order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorTable {
    /// What is compared.
    pub name: String,
    /// Rows, one per η.
    pub rows: Vec<ErrorRow>,
    /// Fitted order (None if fewer than 3 rows are resolved from 0).
    pub fit: Option<ConvergenceOrder>,
}

/// f64 vs MPFR divergence for one learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivergenceCurve {
    /// "label_noise_sgd" or "full_batch_gd".
    pub method: String,
    /// Learning rate.
    pub lr: f64,
    /// Recorded steps.
    pub steps: Vec<u64>,
    /// ‖θ_f64 − θ_mpfr‖ / ‖θ_mpfr‖ at each recorded step.
    pub relative_distance: Vec<f64>,
    /// First recorded step where the relative distance exceeds the threshold.
    pub trusted_horizon: Option<u64>,
    /// The threshold.
    pub threshold: f64,
}

/// Everything `compare` produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareReport {
    /// C6 table.
    pub flow: Option<ErrorTable>,
    /// C5 tables (‖θ‖² and test loss).
    pub sde: Vec<ErrorTable>,
    /// F7 curves.
    pub precision: Vec<DivergenceCurve>,
}

fn normal_quantile(confidence: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::new(0.0, 1.0)
        .expect("standard normal")
        .inverse_cdf(0.5 + confidence / 2.0)
}

fn mean_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

/// Fit the order (slope of ln error on ln η) over the rows whose CI excludes
/// 0 (needs ≥ 3 of them).
pub fn fit_resolved_order(rows: &[ErrorRow], confidence: f64) -> Option<ConvergenceOrder> {
    let used: Vec<&ErrorRow> = rows
        .iter()
        .filter(|r| r.error > 0.0 && r.ci.0 > 0.0)
        .collect();
    if used.len() < 3 {
        return None;
    }
    let x: Vec<f64> = used.iter().map(|r| r.eta.ln()).collect();
    let y: Vec<f64> = used.iter().map(|r| r.error.ln()).collect();
    fit_convergence_order(&x, &y, confidence).ok()
}

fn sgd_method(cfg: &CompareConfig, eta: f64) -> Result<Sgd, CompareError> {
    Ok(Sgd {
        noise: Default::default(),
        batch_size: cfg.batch_size,
        label_noise_sigma: cfg.label_noise_sigma,
        sampling: Default::default(),
        schedule: Schedule::constant(eta).map_err(|e| invalid("etas", eta, &e.to_string()))?,
    })
}

/// Run SGD for `steps` from `theta0` with `seed`; final iterate.
pub fn sgd_final<R: Real, M: LinearInX<R>>(
    problem: &Problem<R, M>,
    method: &Sgd,
    theta0: &[R],
    seed: u64,
    steps: u64,
) -> Result<Vec<R>, CompareError> {
    Ok(
        run_sgd_to_end(problem, method, theta0.to_vec(), seed, steps)
            .into_result()?
            .theta,
    )
}

/// C6 table: mean distance between projected SGD and the flow at τ.
pub fn flow_table(
    cfg: &CompareConfig,
    fc: &FlowComparison,
    problem: &Problem<f64, Diagonal>,
) -> Result<ErrorTable, CompareError> {
    let init = problem.model.uniform_init::<f64>(cfg.init_scale, ());
    let start = project_onto_manifold(problem, &init, 1e-13, 100)?.theta;
    let mut settings = FlowSettings::label_noise(cfg.label_noise_sigma, cfg.batch_size);
    settings.drift_constant = fc.drift_constant;
    let flow = label_noise_flow(problem, &start, &settings, &[0.0, fc.tau])?;
    let target = flow.last().to_vec();
    let z = normal_quantile(cfg.confidence);
    let mut rows = Vec::new();
    for &eta in &cfg.etas {
        let steps = (fc.tau / (eta * eta)).round() as u64;
        let method = sgd_method(cfg, eta)?;
        let mut d = Vec::new();
        for seed in 0..cfg.seeds {
            let th = sgd_final(problem, &method, &start, seed, steps)?;
            let p = project_onto_manifold(problem, &th, 1e-12, 100)?;
            d.push(distance(&p.theta, &target));
        }
        let (m, se) = mean_se(&d);
        rows.push(ErrorRow {
            eta,
            error: m,
            standard_error: se,
            ci: (m - z * se, m + z * se),
            steps,
            paths: cfg.seeds,
        });
    }
    Ok(ErrorTable {
        name: format!("sgd_vs_flow_c{}", fc.drift_constant),
        fit: fit_resolved_order(&rows, cfg.confidence),
        rows,
    })
}

/// C5 tables: SGD vs SME-1 weak errors of ‖θ_T‖² and the test loss.
pub fn sde_tables(
    cfg: &CompareConfig,
    sc: &SdeComparison,
    problem: &Problem<f64, Diagonal>,
) -> Result<Vec<ErrorTable>, CompareError> {
    let init = problem.model.uniform_init::<f64>(cfg.init_scale, ());
    let z = normal_quantile(cfg.confidence);
    let mut norm_rows = Vec::new();
    let mut loss_rows = Vec::new();
    let sigma = sc.label_noise_sigma.unwrap_or(cfg.label_noise_sigma);
    let batch_size = sc.batch_size.unwrap_or(cfg.batch_size);
    for &eta in &cfg.etas {
        let steps = (sc.horizon / eta).round() as u64;
        let mut method = sgd_method(cfg, eta)?;
        method.label_noise_sigma = sigma;
        method.batch_size = batch_size;
        let settings = SdeSettings {
            kind: ContinuousModel::Sme1,
            scheme: Scheme::EulerMaruyama,
            batch_size,
            label_noise_sigma: sigma,
            schedule: method.schedule.clone(),
            level: sc.level,
        };
        let (mut sgd_n, mut sgd_l, mut sde_n, mut sde_l) = (vec![], vec![], vec![], vec![]);
        let mut rows_here: Vec<ErrorRow> = Vec::new();
        let mut path = 0;
        while path < sc.paths {
            let end = (path + sc.batch_paths.max(2)).min(sc.paths);
            for p in path..end {
                let th = sgd_final(problem, &method, &init, p, steps)?;
                sgd_n.push(norm_sq(&th));
                sgd_l.push(problem.test_loss(&th).unwrap_or(f64::NAN));
                // SDE paths use seeds offset by 2^32: independent of the SGD seeds.
                let run = solve_sde(problem, &settings, &init, steps, p + (1 << 32), &[])?;
                sde_n.push(norm_sq(&run.theta));
                sde_l.push(problem.test_loss(&run.theta).unwrap_or(f64::NAN));
            }
            path = end;
            rows_here.clear();
            for (a, b) in [(&sgd_n, &sde_n), (&sgd_l, &sde_l)] {
                let (ma, sa) = mean_se(a);
                let (mb, sb) = mean_se(b);
                let bias = (ma - mb).abs();
                let se = (sa * sa + sb * sb).sqrt();
                rows_here.push(ErrorRow {
                    eta,
                    error: bias,
                    standard_error: se,
                    ci: (bias - z * se, bias + z * se),
                    steps,
                    paths: path,
                });
            }
            if rows_here
                .iter()
                .all(|r| z * r.standard_error < 0.5 * r.error)
            {
                break;
            }
        }
        loss_rows.push(rows_here.pop().expect("two rows"));
        norm_rows.push(rows_here.pop().expect("two rows"));
    }
    Ok(vec![
        ErrorTable {
            name: "sgd_vs_sme1_norm_sq".into(),
            fit: fit_resolved_order(&norm_rows, cfg.confidence),
            rows: norm_rows,
        },
        ErrorTable {
            name: "sgd_vs_sme1_test_loss".into(),
            fit: fit_resolved_order(&loss_rows, cfg.confidence),
            rows: loss_rows,
        },
    ])
}

/// F7: run SGD with the same seed in f64 and in MPFR (`bits`) and record the
/// relative distance every `every` steps; the trusted horizon is the first
/// recorded step where it exceeds `threshold`.
///
/// # Examples
/// ```
/// use latedecay::compare::divergence_curve;
/// use latedecay::data::{Dataset, SyntheticConfig};
/// use latedecay::dynamics::sgd::Sgd;
/// use latedecay::model::Diagonal;
/// use latedecay::schedule::Schedule;
/// let data = Dataset::synthetic(&SyntheticConfig { n: 3, d: 6, ..Default::default() }).unwrap();
/// let method = Sgd { batch_size: 1, label_noise_sigma: 0.5, noise: Default::default(), sampling: Default::default(),
///     schedule: Schedule::constant(0.01).unwrap() };
/// let c = divergence_curve(Diagonal::new(6), &data, &method, &[1.0; 12], 7, 100, 50, 128, 1e-3).unwrap();
/// assert_eq!(c.steps, vec![0, 50, 100]);
/// assert!(c.relative_distance[2] < 1e-12 && c.trusted_horizon.is_none());
/// ```
#[allow(clippy::too_many_arguments)]
pub fn divergence_curve<M>(
    model: M,
    data: &Dataset<f64>,
    method: &Sgd,
    theta0: &[f64],
    seed: u64,
    steps: u64,
    every: u64,
    bits: u32,
    threshold: f64,
) -> Result<DivergenceCurve, CompareError>
where
    M: Model<f64> + Model<Mpfr>,
{
    let full_batch = method.label_noise_sigma == 0.0
        && method.batch_size == data.n()
        && method.sampling == crate::noise::Sampling::Shuffle;
    let checkpoints: Vec<u64> = (1..=steps.div_ceil(every.max(1)))
        .map(|k| (k * every.max(1)).min(steps))
        .collect();
    let run = lockstep_divergence(model, data, method, theta0, seed, &checkpoints, bits);
    if let Some(e) = run.divergence {
        return Err(e.into());
    }
    let trusted_horizon = run.trusted_horizon(threshold);
    Ok(DivergenceCurve {
        method: if full_batch {
            "full_batch_gd".into()
        } else {
            "label_noise_sgd".into()
        },
        lr: method.schedule.lr(0),
        steps: std::iter::once(0).chain(run.steps).collect(),
        relative_distance: std::iter::once(0.0).chain(run.relative_distance).collect(),
        trusted_horizon,
        threshold,
    })
}

/// f64 and MPFR runs of the same method, seed and θ₀, compared at checkpoints.
#[derive(Debug, PartialEq)]
pub struct Lockstep {
    /// Checkpoints reached by both runs.
    pub steps: Vec<u64>,
    /// ‖θ_f64 − θ_mpfr‖ / ‖θ_mpfr‖ at each (computed in MPFR).
    pub relative_distance: Vec<f64>,
    /// Steps the f64 run took (fewer than the last checkpoint after a divergence).
    pub steps_run: u64,
    /// The divergence that stopped a run, if any.
    pub divergence: Option<crate::dynamics::sgd::SgdError>,
}

impl Lockstep {
    /// First checkpoint where the relative distance exceeds `threshold` (or is
    /// not finite): the end of f64's trusted horizon.
    pub fn trusted_horizon(&self, threshold: f64) -> Option<u64> {
        self.steps
            .iter()
            .zip(&self.relative_distance)
            .find(|(_, &v)| v > threshold || !v.is_finite())
            .map(|(&s, _)| s)
    }
}

/// Run `method` from θ₀ (converted exactly to `bits`-bit MPFR) with the noise
/// of `seed` in f64 and in MPFR, advancing both to each of the increasing
/// `checkpoints`, and measure their relative distance there. Both runs see the
/// same random numbers, so the distance is f64 rounding pushed through the
/// dynamics. Stops at the first divergence of either run.
pub fn lockstep_divergence<M>(
    model: M,
    data: &Dataset<f64>,
    method: &Sgd,
    theta0: &[f64],
    seed: u64,
    checkpoints: &[u64],
    bits: u32,
) -> Lockstep
where
    M: Model<f64> + Model<Mpfr>,
{
    let p64 = Problem::new(model.clone(), data.clone());
    let pmp = Problem::new(model, data.convert::<Mpfr>(bits));
    let mut s64 = SgdState::new(theta0.to_vec(), seed, data.n(), method);
    let th_mp: Vec<Mpfr> = theta0.iter().map(|v| Mpfr::from_f64(*v, bits)).collect();
    let mut smp = SgdState::new(th_mp, seed, data.n(), method);
    let mut out = Lockstep {
        steps: vec![],
        relative_distance: vec![],
        steps_run: 0,
        divergence: None,
    };
    for &c in checkpoints {
        let k = c - s64.step;
        let a = run_sgd(
            &p64,
            method,
            &mut s64,
            k,
            RecordPlan::FinalOnly,
            &mut NullProbe,
            |_| {},
        );
        let b = run_sgd(
            &pmp,
            method,
            &mut smp,
            k,
            RecordPlan::FinalOnly,
            &mut NullProbe,
            |_| {},
        );
        out.steps_run = s64.step;
        if let Err(e) = a.into_result().and_then(|_| b.into_result()) {
            out.divergence = Some(e);
            break;
        }
        out.steps.push(c);
        out.relative_distance
            .push(relative_distance_mpfr(&s64.theta, &smp.theta));
    }
    out
}

/// ‖a − b‖/‖b‖ computed in MPFR (a converted exactly).
fn relative_distance_mpfr(a: &[f64], b: &[Mpfr]) -> f64 {
    let bits = b[0].precision_bits();
    let mut num = Mpfr::zero(bits);
    let mut den = Mpfr::zero(bits);
    let mut diff = Mpfr::zero(bits);
    for (x, y) in a.iter().zip(b) {
        diff.set_f64(*x);
        diff -= y;
        num.add_mul(&diff, &diff);
        den.add_mul(y, y);
    }
    num /= &den;
    num.sqrt_mut();
    num.to_f64()
}

/// One row of the F7 CSV.
#[derive(Debug, Default, Serialize)]
struct DivergenceRow {
    /// 1 for full-batch GD, 0 for SGD.
    full_batch: u8,
    #[serde(serialize_with = "crate::io::shortest")]
    lr: f64,
    step: u64,
    #[serde(serialize_with = "crate::io::shortest")]
    relative_distance: f64,
}

/// One row of an error-table CSV.
#[derive(Debug, Default, Serialize)]
struct ErrorTableRow {
    #[serde(serialize_with = "crate::io::shortest")]
    eta: f64,
    #[serde(serialize_with = "crate::io::shortest")]
    error: f64,
    #[serde(serialize_with = "crate::io::shortest")]
    standard_error: f64,
    #[serde(serialize_with = "crate::io::shortest")]
    ci_low: f64,
    #[serde(serialize_with = "crate::io::shortest")]
    ci_high: f64,
    steps: u64,
    paths: u64,
}

fn table_write_err(path: &Path) -> impl FnOnce(crate::io::IoError) -> CompareError + '_ {
    move |e| CompareError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Write the F7 CSV: columns full_batch (0/1), lr, step, relative_distance (one
/// block per run).
pub fn write_divergence_csv(path: &Path, curves: &[DivergenceCurve]) -> Result<(), CompareError> {
    let rows: Vec<DivergenceRow> = curves
        .iter()
        .flat_map(|c| {
            c.steps
                .iter()
                .zip(&c.relative_distance)
                .map(|(s, r)| DivergenceRow {
                    full_batch: u8::from(c.method == "full_batch_gd"),
                    lr: c.lr,
                    step: *s,
                    relative_distance: *r,
                })
        })
        .collect();
    crate::io::write_rows(path, &rows).map_err(table_write_err(path))
}

/// Write an error table as CSV: eta, error, standard_error, ci_low, ci_high, steps, paths.
pub fn write_table_csv(path: &Path, table: &ErrorTable) -> Result<(), CompareError> {
    let rows: Vec<ErrorTableRow> = table
        .rows
        .iter()
        .map(|r| ErrorTableRow {
            eta: r.eta,
            error: r.error,
            standard_error: r.standard_error,
            ci_low: r.ci.0,
            ci_high: r.ci.1,
            steps: r.steps,
            paths: r.paths,
        })
        .collect();
    crate::io::write_rows(path, &rows).map_err(table_write_err(path))
}

/// Run every comparison of the config (no files written).
pub fn run_compare(cfg: &CompareConfig) -> Result<CompareReport, CompareError> {
    cfg.validate()?;
    let data = Dataset::synthetic(&cfg.data)?;
    data.require_overparameterized()?;
    let problem = Problem::new(Diagonal::new(data.d()), data.clone());
    let flow = match &cfg.flow {
        Some(fc) => Some(flow_table(cfg, fc, &problem)?),
        None => None,
    };
    let sde = match &cfg.sde {
        Some(sc) => sde_tables(cfg, sc, &problem)?,
        None => vec![],
    };
    let mut precision = Vec::new();
    if let Some(pc) = &cfg.precision {
        let init = problem
            .model
            .uniform_init::<f64>(pc.init_scale.unwrap_or(cfg.init_scale), ());
        let data = match pc.data_seed {
            Some(seed) => Dataset::synthetic(&SyntheticConfig {
                seed,
                ..cfg.data.clone()
            })?,
            None => data.clone(),
        };
        let runs = pc
            .lrs
            .iter()
            .map(|&lr| (lr, false))
            .chain(pc.full_batch_lrs.iter().map(|&lr| (lr, true)));
        for (lr, full_batch) in runs {
            let mut method = sgd_method(cfg, lr)?;
            if full_batch {
                method.batch_size = data.n();
                method.label_noise_sigma = 0.0;
                method.sampling = crate::noise::Sampling::Shuffle;
            }
            precision.push(divergence_curve(
                Diagonal::new(data.d()),
                &data,
                &method,
                &init,
                pc.seed,
                pc.steps,
                pc.every,
                pc.bits,
                pc.threshold,
            )?);
        }
    }
    Ok(CompareReport {
        flow,
        sde,
        precision,
    })
}

/// Write the report: one CSV per table, `precision.csv`, and `report.json`.
pub fn write_report(dir: &Path, report: &CompareReport) -> Result<Vec<PathBuf>, CompareError> {
    std::fs::create_dir_all(dir).map_err(|e| CompareError::Write {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for t in report.flow.iter().chain(&report.sde) {
        let p = dir.join(format!("{}.csv", t.name));
        write_table_csv(&p, t)?;
        written.push(p);
    }
    if !report.precision.is_empty() {
        let p = dir.join("precision.csv");
        write_divergence_csv(&p, &report.precision)?;
        written.push(p);
    }
    let p = dir.join("report.json");
    let json = serde_json::to_string_pretty(report).expect("report serializes");
    std::fs::write(&p, json).map_err(|e| CompareError::Write {
        path: p.display().to_string(),
        message: e.to_string(),
    })?;
    written.push(p);
    Ok(written)
}

/// Plain-text rendering of the report.
pub fn format_report(report: &CompareReport) -> String {
    let mut s = String::new();
    for t in report.flow.iter().chain(&report.sde) {
        s.push_str(&format!(
            "{}\n  {:>10} {:>12} {:>12} {:>26} {:>9} {:>7}\n",
            t.name, "eta", "error", "se", "CI", "steps", "paths"
        ));
        for r in &t.rows {
            s.push_str(&format!(
                "  {:>10.3e} {:>12.4e} {:>12.2e}   ({:>10.3e}, {:>10.3e}) {:>9} {:>7}\n",
                r.eta, r.error, r.standard_error, r.ci.0, r.ci.1, r.steps, r.paths
            ));
        }
        match &t.fit {
            Some(f) => s.push_str(&format!(
                "  fitted order {:.3}, CI ({:.3}, {:.3}), R² {:.3}, {} points\n",
                f.order, f.ci.0, f.ci.1, f.r_squared, f.points
            )),
            None => s.push_str(
                "  fitted order: not resolved (fewer than 3 errors with CI excluding 0)\n",
            ),
        }
    }
    for c in &report.precision {
        let last = c.relative_distance.last().copied().unwrap_or(0.0);
        s.push_str(&format!(
            "f64 vs MPFR, {} lr {:.3e}: final relative distance {:.3e} after {} steps; trusted horizon (> {:.0e}): {}\n",
            c.method,
            c.lr,
            last,
            c.steps.last().copied().unwrap_or(0),
            c.threshold,
            c.trusted_horizon.map_or("beyond the run".to_string(), |h| format!("step {h}"))
        ));
    }
    s
}
