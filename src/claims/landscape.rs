//! C13: the landscape observation on a real network trained on real data
//! (issue 10). Label-noise SGD on the two-layer Mlp on the UCI digits (even vs
//! odd, n = 300, 1,497 held out; `configs/digits_mlp.toml`), early vs late
//! learning-rate decay:
//!
//! * (a) late decay ends with a lower held-out loss than early decay, paired
//!   by seed, exact one-sided Wilcoxon signed-rank test;
//! * (b) along the large-LR phase, the held-out loss of proj_Γ(θ_k) (the
//!   Gauss–Newton projection onto the zero-training-loss manifold) decreases:
//!   per seed Spearman ρ(k, R(proj_Γ θ_k)), then a one-sided Wilcoxon
//!   signed-rank test of the ρ over seeds;
//! * (c) how ‖θ‖ and tr G = (1/n) Σ_i ‖∇f_i‖² evolve (reported, not gating).
//!
//! The protocol, the thresholds below and their justification were written in
//! `proofs/claims.md` ("C13") and committed before C13 was run. The row runs
//! on the built-in digits experiment for plain `verify` and on the user's
//! experiment for `verify --config` when it has a held-out test set (any
//! model); it is N/A with the reason otherwise.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    fmt_evidence, ClaimError, ClaimOutcome, ComponentTest, Mode, VerifyContext, FAMILY_ALPHA,
};
use crate::data::HeldOut;
use crate::dynamics::sgd::{run_sgd_recording, Sgd, SgdState, StopReason};
use crate::experiment::run::AnyProblem;
use crate::experiment::{Experiment, ExperimentConfig, Prepared};
use crate::field_error::FieldError;
use crate::linalg::{Cholesky, LinalgError, Mat};
use crate::manifold::{gauss_newton_projection, project_onto_manifold, Projection};
use crate::model::{Mlp, Model, Problem};
use crate::probe::{Probe, Record, RecordPoint};
use crate::stats::{median, spearman, wilcoxon_signed_rank, Alternative};

/// The built-in C13 experiment: `configs/digits_mlp.toml`, compiled in (no
/// file or network is needed at run time).
pub const DIGITS_MLP_TOML: &str = include_str!("../../configs/digits_mlp.toml");

/// Seeds of the built-in quick protocol: fresh (the digits config had been
/// run on seeds 1–8 before C13 was registered).
pub const C13_QUICK_SEEDS: std::ops::RangeInclusive<u64> = 101..=116;
/// Seeds of the built-in full protocol (fresh).
pub const C13_FULL_SEEDS: std::ops::RangeInclusive<u64> = 1001..=1032;
/// Recorded points of the large-LR phase, quick: k_j = j·T_late/K, j = 1…K.
pub const C13_QUICK_PHASE_POINTS: usize = 10;
/// Recorded points of the large-LR phase, full.
pub const C13_FULL_PHASE_POINTS: usize = 20;
/// Gauss–Newton projection: converged when ‖r‖ ≤ this.
pub const C13_PROJ_TOL: f64 = 1e-8;
/// Gauss–Newton projection: at most this many iterations.
pub const C13_PROJ_MAX_ITER: usize = 50;
/// (a) the median over seeds of R_early − R_late must be > this.
pub const C13_A_MIN_MEDIAN_DIFF: f64 = 0.0;
/// (b) the median over seeds of ρ_s must be ≤ this.
pub const C13_B_MAX_MEDIAN_RHO: f64 = -0.5;
/// (b) the median over seeds of the relative decrease of R(proj_Γ θ_k)
/// from the first to the last converged phase point must be ≥ this.
pub const C13_B_MIN_REL_DECREASE: f64 = 0.01;
/// (b) at least this fraction of all phase projections must converge.
pub const C13_B_MIN_CONVERGED_FRACTION: f64 = 0.9;

/// What one C13 study runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandscapeSettings {
    /// Decay step of the early arm.
    pub early: u64,
    /// Decay step of the late arm (end of the large-LR phase of (b)).
    pub late: u64,
    /// Steps at η₂ after each decay.
    pub steps_after: u64,
    /// η₁.
    pub lr: f64,
    /// η₂.
    pub lr_after: f64,
    /// Seeds (init and SGD).
    pub seeds: Vec<u64>,
    /// K: phase points k_j = round(j·late/K), j = 1…K.
    pub phase_points: usize,
    /// Projection tolerance on ‖r‖.
    pub proj_tol: f64,
    /// Projection iteration limit.
    pub proj_max_iter: usize,
}

impl LandscapeSettings {
    /// The settings of a mode for an experiment: its schedule's η₁ → η₂, the
    /// smallest and largest of `[sweep] decay_steps` as early and late decay,
    /// `[sweep] steps_after_decay`; `seeds` and K given.
    pub fn from_config(
        cfg: &ExperimentConfig,
        seeds: Vec<u64>,
        phase_points: usize,
    ) -> Result<Self, ClaimError> {
        let (lr, lr_after) = super::study::step_decay_rates(cfg)?;
        let Some(sweep) = &cfg.sweep else {
            return Err(ClaimError::NotApplicable(
                "C13 compares an early and a late decay: it needs [sweep] decay_steps = [early, late]"
                    .into(),
            ));
        };
        let (Some(&early), Some(&late)) = (
            sweep.decay_steps.iter().min(),
            sweep.decay_steps.iter().max(),
        ) else {
            return Err(ClaimError::NotApplicable(
                "C13 needs [sweep] decay_steps = [early, late] (the list is empty)".into(),
            ));
        };
        let s = Self {
            early,
            late,
            steps_after: sweep.steps_after_decay,
            lr,
            lr_after,
            seeds,
            phase_points,
            proj_tol: C13_PROJ_TOL,
            proj_max_iter: C13_PROJ_MAX_ITER,
        };
        s.validate()?;
        Ok(s)
    }

    /// Errors name the field and value.
    pub fn validate(&self) -> Result<(), ClaimError> {
        let bad = |field: &str, value: String, reason: &str| {
            Err(ClaimError::Invalid(FieldError::new(field, value, reason)))
        };
        if self.early > self.late {
            return bad(
                "early",
                self.early.to_string(),
                &format!("must be ≤ late = {}", self.late),
            );
        }
        if self.late == 0 {
            return bad("late", "0".into(), "the large-LR phase needs ≥ 1 step");
        }
        if self.phase_points < 3 || self.phase_points as u64 > self.late {
            return bad(
                "phase_points",
                self.phase_points.to_string(),
                &format!("must be in 3 ..= late = {}", self.late),
            );
        }
        if self.seeds.is_empty() {
            return bad("seeds", "[]".into(), "need at least one seed");
        }
        let mut s = self.seeds.clone();
        s.sort_unstable();
        if let Some(w) = s.windows(2).find(|w| w[0] == w[1]) {
            return bad(
                "seeds",
                format!("{:?}", self.seeds),
                &format!("{} appears twice", w[0]),
            );
        }
        FieldError::check_positive("proj_tol", self.proj_tol).map_err(ClaimError::Invalid)?;
        if self.proj_max_iter == 0 {
            return bad("proj_max_iter", "0".into(), "must be ≥ 1");
        }
        Ok(())
    }

    /// The phase steps k_j = round(j·late/K), j = 1…K.
    pub fn phase_steps(&self) -> Vec<u64> {
        let k = self.phase_points as u64;
        let mut v: Vec<u64> = (1..=k)
            .map(|j| ((j as f64) * self.late as f64 / k as f64).round() as u64)
            .collect();
        v.dedup();
        v
    }
}

/// The built-in experiment of C13 (`configs/digits_mlp.toml`).
pub fn digits_config() -> ExperimentConfig {
    ExperimentConfig::from_toml_str(DIGITS_MLP_TOML, "configs/digits_mlp.toml (built in)")
        .expect("the built-in digits config parses")
}

/// A point of Γ reached from θ by the Gauss–Newton projection, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectedPoint {
    /// ‖r‖ ≤ tol reached (false also when JJᵀ was not positive definite).
    pub converged: bool,
    /// ‖r(proj θ)‖.
    #[serde(with = "crate::nonfinite")]
    pub residual: f64,
    /// Gauss–Newton iterations.
    pub iterations: usize,
    /// ‖proj θ − θ‖.
    #[serde(with = "crate::nonfinite")]
    pub distance: f64,
    /// Held-out loss and error, ‖proj θ‖ and tr G at proj θ (NaN if not
    /// converged).
    #[serde(flatten)]
    pub metrics: PointMetrics,
}

/// The held-out loss and error, the norm and tr G of one point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PointMetrics {
    /// Held-out loss.
    #[serde(with = "crate::nonfinite")]
    pub test_loss: f64,
    /// Held-out classification error (±1 targets, else NaN).
    #[serde(with = "crate::nonfinite")]
    pub test_error: f64,
    /// ‖θ‖.
    #[serde(with = "crate::nonfinite")]
    pub norm: f64,
    /// tr G(θ) = (1/n) Σ_i ‖∇f_i(θ)‖².
    #[serde(with = "crate::nonfinite")]
    pub trace_g: f64,
}

impl PointMetrics {
    /// A point that was not measured (every value NaN).
    const UNMEASURED: Self = Self {
        test_loss: f64::NAN,
        test_error: f64::NAN,
        norm: f64::NAN,
        trace_g: f64::NAN,
    };

    fn at<M: Model<f64>>(problem: &Problem<f64, M>, heldout: &HeldOut<f64>, theta: &[f64]) -> Self {
        let (test_loss, test_error) = heldout.loss_and_error(&problem.model, theta);
        Self {
            test_loss,
            test_error,
            // Summed in index order, not by linalg::norm's 8-lane order:
            // C13's committed numbers were computed this way.
            norm: theta.iter().map(|x| x * x).sum::<f64>().sqrt(),
            trace_g: problem.trace_gn_generic(theta),
        }
    }
}

/// θ measured: losses, norm, tr G and its projection onto Γ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Step k.
    pub step: u64,
    /// Training loss.
    #[serde(with = "crate::nonfinite")]
    pub train_loss: f64,
    /// Held-out loss and error, ‖θ‖, tr G(θ).
    #[serde(flatten)]
    pub metrics: PointMetrics,
    /// proj_Γ θ.
    pub projection: ProjectedPoint,
}

/// One seed: both arms' end points and the phase points of the trunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandscapeSeed {
    /// Seed.
    pub seed: u64,
    /// Early arm's final iterate (None if it diverged).
    pub early: Option<Measured>,
    /// Late arm's final iterate (None if it diverged).
    pub late: Option<Measured>,
    /// The large-LR phase points (those reached before any divergence).
    pub phase: Vec<Measured>,
    /// Divergence messages, if any.
    pub diverged: Vec<String>,
}

/// The C13 study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandscapeStudy {
    /// Settings.
    pub settings: LandscapeSettings,
    /// Training samples n.
    pub n_train: usize,
    /// Held-out samples.
    pub n_test: usize,
    /// Parameters D.
    pub dim: usize,
    /// Per seed, in seed order.
    pub seeds: Vec<LandscapeSeed>,
}

/// The Gram matrix JJᵀ of the Mlp at θ from the gradient factors
/// ([`Mlp::gradient_factors_into`]); `xxt` = XXᵀ of the training inputs.
/// Returns (JJᵀ, C, H) with C, H the n × m factor matrices.
fn mlp_gram(
    problem: &Problem<f64, Mlp>,
    xxt: &Mat<f64>,
    theta: &[f64],
) -> (Mat<f64>, Mat<f64>, Mat<f64>) {
    let (n, m) = (problem.n(), problem.model.m);
    let mut ws = Model::<f64>::workspace(&problem.model, ());
    let mut c = Mat::zeros(n, m, ());
    let mut h = Mat::zeros(n, m, ());
    let (mut ci, mut hi) = (vec![0.0; m], vec![0.0; m]);
    for i in 0..n {
        problem.model.gradient_factors_into(
            theta,
            problem.data.x.row(i),
            &mut ci,
            &mut hi,
            &mut ws,
        );
        c.row_mut(i).copy_from_slice(&ci);
        h.row_mut(i).copy_from_slice(&hi);
    }
    let dotf = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    let mut g = Mat::zeros(n, n, ());
    for i in 0..n {
        for j in 0..=i {
            let v = xxt[(i, j)] * dotf(c.row(i), c.row(j)) + dotf(h.row(i), h.row(j));
            g[(i, j)] = v;
            g[(j, i)] = v;
        }
    }
    (g, c, h)
}

/// Gauss–Newton projection onto Γ for the Mlp, the algorithm of
/// [`project_onto_manifold`] (θ ← θ − Jᵀ(JJᵀ)⁻¹r, the same stopping rules)
/// with JJᵀ and Jᵀv from the gradient factors: O(n²(m + d)) per iteration
/// instead of O(n²md). Agrees with the generic projection to roundoff
/// (`tests/claims_landscape.rs`).
pub fn project_mlp_onto_manifold(
    problem: &Problem<f64, Mlp>,
    xxt: &Mat<f64>,
    theta: &[f64],
    tol: f64,
    max_iter: usize,
) -> Result<Projection<f64>, LinalgError> {
    let (d, m) = (problem.model.d, problem.model.m);
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    gauss_newton_projection(
        theta,
        tol,
        max_iter,
        |t| problem.residuals(t),
        norm,
        |t, mut r| {
            let (g, c, h) = mlp_gram(problem, xxt, t);
            let chol = Cholesky::new(g)?;
            chol.solve_mut(&mut r);
            // step = Jᵀ r: W_kj part Σ_i r_i c_ik x_ij, a_k part Σ_i r_i h_ik.
            let mut step = vec![0.0; m * d + m];
            for (i, ri) in r.iter().enumerate() {
                let x = problem.data.x.row(i);
                for k in 0..m {
                    let s = ri * c[(i, k)];
                    for (w, xj) in step[k * d..(k + 1) * d].iter_mut().zip(x) {
                        *w += s * xj;
                    }
                    step[m * d + k] += ri * h[(i, k)];
                }
            }
            Ok(step)
        },
    )
}

/// XXᵀ of the training inputs (for [`project_mlp_onto_manifold`]).
pub fn input_gram(problem: &Problem<f64, Mlp>) -> Mat<f64> {
    problem.data.x.gram_rows()
}

/// A projection onto Γ (an error counts as not converged).
type ProjectFn<'a> = dyn Fn(&[f64]) -> Result<Projection<f64>, LinalgError> + Sync + 'a;

/// Records θ_k (nothing else is needed during the run).
struct KeepTheta {
    thetas: Vec<(u64, Vec<f64>)>,
}

impl Probe<f64> for KeepTheta {
    fn measure(&mut self, at: RecordPoint, theta: &[f64]) -> Record {
        self.thetas.push((at.step, theta.to_vec()));
        Record::unmeasured(at)
    }
}

/// The trunk-and-branches run of one seed (no measurement): the iterates at
/// the phase steps and the two arms' final iterates (Err: divergence text).
pub struct SeedIterates {
    /// (step, θ_k) of the large-LR phase.
    pub phase: Vec<(u64, Vec<f64>)>,
    /// Early arm's final θ.
    pub early: Result<Vec<f64>, String>,
    /// Late arm's final θ.
    pub late: Result<Vec<f64>, String>,
}

/// Run one seed: the trunk at η₁ to `late` (a step decay at `late`),
/// recording θ at the phase steps; at `early` and at `late` the SGD state
/// (iterate and random stream) is cloned and continued for `steps_after`
/// steps at η₂. Each arm is bit-identical to an independent
/// `step_decay(η₁ → η₂ at T)` run with this seed (as in the decay-study
/// engine).
pub fn run_seed_iterates<M: Model<f64>>(
    problem: &Problem<f64, M>,
    method: &Sgd,
    s: &LandscapeSettings,
    theta0: Vec<f64>,
    seed: u64,
) -> SeedIterates {
    let trunk = method.with_step_decay(s.lr, s.lr_after, s.late);
    let phase_steps = s.phase_steps();
    let mut state = SgdState::new(theta0, seed, problem.n(), &trunk);
    let mut probe = KeepTheta { thetas: vec![] };
    let describe = |stop: &StopReason| match stop {
        StopReason::Diverged(d) => format!("diverged at step {} (η = {})", d.step, d.lr),
        other => format!("{other:?}"),
    };
    let branch = |state: &SgdState<f64>, t: u64| -> Result<Vec<f64>, String> {
        let m = method.with_step_decay(s.lr, s.lr_after, t);
        let mut b = state.clone();
        let end = t + s.steps_after;
        let run = run_sgd_recording(
            problem,
            &m,
            &mut b,
            s.steps_after,
            &[end],
            &mut crate::probe::NullProbe,
            |_| {},
        );
        match run.stop {
            StopReason::Completed if run.theta.iter().all(|v| v.is_finite()) => Ok(run.theta),
            StopReason::Completed => Err(format!("non-finite iterate at step {end}")),
            ref other => Err(describe(other)),
        }
    };
    let mut segment = |state: &mut SgdState<f64>, to: u64| -> Result<(), String> {
        let from = state.step;
        if to <= from {
            return Ok(());
        }
        // Always record the segment's last step: divergence is detected at
        // records (θ there is dropped unless it is a phase step).
        let mut rec: Vec<u64> = phase_steps
            .iter()
            .copied()
            .filter(|&k| k > from && k < to)
            .collect();
        rec.push(to);
        let run = run_sgd_recording(problem, &trunk, state, to - from, &rec, &mut probe, |_| {});
        match run.stop {
            StopReason::Completed => Ok(()),
            ref other => Err(describe(other)),
        }
    };
    let trunk_early = segment(&mut state, s.early);
    let early = match &trunk_early {
        Ok(()) => branch(&state, s.early),
        Err(e) => Err(e.clone()),
    };
    let late = match trunk_early.and_then(|_| segment(&mut state, s.late)) {
        Ok(()) => branch(&state, s.late),
        Err(e) => Err(e),
    };
    let phase = probe
        .thetas
        .into_iter()
        .filter(|(k, t)| phase_steps.contains(k) && t.iter().all(|v| v.is_finite()))
        .collect();
    SeedIterates { phase, early, late }
}

/// Measure θ: losses, ‖θ‖, tr G and its projection (`project` returns the
/// projection or an error, which counts as not converged).
fn measure<M: Model<f64>>(
    problem: &Problem<f64, M>,
    heldout: &HeldOut<f64>,
    step: u64,
    theta: &[f64],
    project: &ProjectFn<'_>,
) -> Measured {
    let projection = match project(theta) {
        Ok(p) if p.converged => ProjectedPoint {
            converged: true,
            residual: p.residual_norm,
            iterations: p.iterations,
            distance: theta
                .iter()
                .zip(&p.theta)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                .sqrt(),
            metrics: PointMetrics::at(problem, heldout, &p.theta),
        },
        Ok(p) => ProjectedPoint {
            converged: false,
            residual: p.residual_norm,
            iterations: p.iterations,
            distance: f64::NAN,
            metrics: PointMetrics::UNMEASURED,
        },
        Err(_) => ProjectedPoint {
            converged: false,
            residual: f64::NAN,
            iterations: 0,
            distance: f64::NAN,
            metrics: PointMetrics::UNMEASURED,
        },
    };
    Measured {
        step,
        train_loss: problem.train_loss(theta),
        metrics: PointMetrics::at(problem, heldout, theta),
        projection,
    }
}

fn study_on<M: Model<f64>>(
    problem: &Problem<f64, M>,
    prepared: &Prepared<f64>,
    exp: &Experiment,
    heldout: &HeldOut<f64>,
    s: &LandscapeSettings,
    project: &ProjectFn<'_>,
) -> Vec<LandscapeSeed> {
    let cfg = exp.config();
    s.seeds
        .par_iter()
        .map(|&seed| {
            let theta0 = prepared.initial(&cfg.init, seed, ());
            let it = run_seed_iterates(problem, &cfg.sgd, s, theta0, seed);
            let end = |r: &Result<Vec<f64>, String>, t: u64| {
                r.as_ref()
                    .ok()
                    .map(|th| measure(problem, heldout, t + s.steps_after, th, project))
            };
            let mut diverged = vec![];
            if let Err(e) = &it.early {
                diverged.push(format!("early arm: {e}"));
            }
            if let Err(e) = &it.late {
                diverged.push(format!("late arm: {e}"));
            }
            LandscapeSeed {
                seed,
                early: end(&it.early, s.early),
                late: end(&it.late, s.late),
                phase: it
                    .phase
                    .iter()
                    .map(|(k, th)| measure(problem, heldout, *k, th, project))
                    .collect(),
                diverged,
            }
        })
        .collect()
}

/// Run the C13 study on a checked experiment (any model; it needs a held-out
/// test set). f64 only.
pub fn run_landscape_study(
    exp: &Experiment,
    s: &LandscapeSettings,
) -> Result<LandscapeStudy, ClaimError> {
    s.validate()?;
    let cfg = exp.config();
    if cfg.precision_bits != 53 {
        return Err(ClaimError::Invalid(FieldError::new(
            "precision_bits",
            cfg.precision_bits.to_string(),
            "C13 runs in f64 (53 bits)",
        )));
    }
    let Some(heldout) = exp.heldout() else {
        return Err(ClaimError::NotApplicable(
            "C13 needs a held-out test set ([data] test_x/test_y or test_fraction for CSV data, source = \"digits\", or an Mlp on synthetic data)".into(),
        ));
    };
    let prepared = Prepared::<f64>::new(exp, ())?;
    let (tol, it) = (s.proj_tol, s.proj_max_iter);
    let seeds = match &prepared.problem {
        AnyProblem::Mlp(p) => {
            let xxt = input_gram(p);
            let project = |t: &[f64]| project_mlp_onto_manifold(p, &xxt, t, tol, it);
            study_on(p, &prepared, exp, heldout, s, &project)
        }
        AnyProblem::Diagonal(p) => {
            let project = |t: &[f64]| project_onto_manifold(p, t, tol, it);
            study_on(p, &prepared, exp, heldout, s, &project)
        }
        AnyProblem::Linear(p) => {
            let project = |t: &[f64]| project_onto_manifold(p, t, tol, it);
            study_on(p, &prepared, exp, heldout, s, &project)
        }
    };
    Ok(LandscapeStudy {
        settings: s.clone(),
        n_train: prepared.problem.data().n(),
        n_test: heldout.len(),
        dim: prepared.problem.dim(),
        seeds,
    })
}

/// The analysis of a study: every number of the row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandscapeAnalysis {
    /// Seeds whose both arms completed.
    pub complete_seeds: usize,
    /// (a) held-out loss of the early / late arm per complete seed.
    pub a_early: Vec<f64>,
    /// (a) late arm.
    pub a_late: Vec<f64>,
    /// (a) median of R_early − R_late.
    pub a_median_diff: f64,
    /// (a) seeds with R_late < R_early.
    pub a_wins: usize,
    /// (a) exact one-sided Wilcoxon (early > late).
    pub a_test: ComponentTest,
    /// (a′) held-out loss of proj_Γ of the end points: one-sided Wilcoxon
    /// (early > late), seeds where both projections converged (reported).
    pub a_proj_test: ComponentTest,
    /// (a′) medians of the projected end losses (early, late).
    pub a_proj_medians: (f64, f64),
    /// Held-out classification error: two-sided Wilcoxon (reported).
    pub error_test: ComponentTest,
    /// Mean classification error early, late.
    pub error_means: (f64, f64),
    /// Median train loss early, late.
    pub train_medians: (f64, f64),
    /// (b) per-seed Spearman ρ(k, R(proj_Γ θ_k)) (+1 when too few converged).
    pub b_rho: Vec<f64>,
    /// (b) seeds with too few converged projections (ρ set to +1).
    pub b_too_few: usize,
    /// (b) median ρ.
    pub b_median_rho: f64,
    /// (b) seeds with ρ < 0.
    pub b_negative: usize,
    /// (b) per-seed relative decrease of R(proj) first → last converged point.
    pub b_rel_decrease: Vec<f64>,
    /// (b) its median.
    pub b_median_rel_decrease: f64,
    /// (b) converged fraction of all phase projections.
    pub b_converged_fraction: f64,
    /// (b) one-sided Wilcoxon of the ρ against 0 (less).
    pub b_test: ComponentTest,
    /// (b) medians over seeds of R(proj) at the first and last phase point.
    pub b_proj_first_last: (f64, f64),
    /// (b) median ‖proj θ_k − θ_k‖/‖θ_k‖ over all converged phase points.
    pub b_median_rel_displacement: f64,
    /// (b, reported) the same trend for θ_k itself: median ρ(k, R(θ_k)) and
    /// one-sided Wilcoxon.
    pub b_raw_median_rho: f64,
    /// (b, reported) the raw test.
    pub b_raw_test: ComponentTest,
    /// (c) medians over seeds of ‖θ_k‖ at the first and last phase point.
    pub c_norm_first_last: (f64, f64),
    /// (c) medians of tr G(θ_k) at the first and last phase point.
    pub c_trace_first_last: (f64, f64),
    /// (c) median per-seed ρ(k, ‖θ_k‖) and ρ(k, tr G(θ_k)).
    pub c_median_rho_norm_trace: (f64, f64),
    /// (c) the same on Γ: medians of ‖proj θ_k‖ and tr G(proj θ_k), first
    /// and last phase point.
    pub c_proj_norm_first_last: (f64, f64),
    /// (c) tr G at proj θ_k, first and last.
    pub c_proj_trace_first_last: (f64, f64),
    /// (c) median per-seed ρ(k, ‖proj θ_k‖), ρ(k, tr G(proj θ_k)).
    pub c_proj_median_rho_norm_trace: (f64, f64),
    /// (c) medians at the arm ends: ‖θ‖ early, late; tr G early, late.
    pub c_end_norm: (f64, f64),
    /// (c) tr G at the ends.
    pub c_end_trace: (f64, f64),
    /// Criteria not met, one line each ("(a) …", "(b) …").
    pub failures: Vec<String>,
    /// max(p_a, p_b): the row's intersection–union p-value.
    pub p_value: f64,
}

fn med(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    median(&f).unwrap_or(f64::NAN)
}

fn wilcoxon_test(
    name: &str,
    a: &[f64],
    b: &[f64],
    alt: Alternative,
    gating: bool,
) -> ComponentTest {
    match wilcoxon_signed_rank(a, b, alt) {
        Ok(t) => ComponentTest {
            name: name.into(),
            statistic: t.statistic,
            estimate: t.estimate,
            p_value: t.p_value,
            method: format!("{} (n = {})", t.method, t.n),
            gating,
        },
        Err(e) => ComponentTest {
            name: name.into(),
            statistic: f64::NAN,
            estimate: f64::NAN,
            p_value: 1.0,
            method: format!("not computable: {e}"),
            gating,
        },
    }
}

/// Spearman ρ of (x, y), NaN if it cannot be computed (constant input).
fn rho(x: &[f64], y: &[f64]) -> f64 {
    spearman(x, y, Alternative::Less).map_or(f64::NAN, |c| c.rho)
}

/// Analyse a study with the pre-registered criteria.
pub fn analyze_landscape(study: &LandscapeStudy) -> LandscapeAnalysis {
    let s = &study.settings;
    let mut failures = Vec::new();
    // (a)
    let complete: Vec<(&Measured, &Measured)> = study
        .seeds
        .iter()
        .filter_map(|r| Some((r.early.as_ref()?, r.late.as_ref()?)))
        .collect();
    let incomplete: Vec<u64> = study
        .seeds
        .iter()
        .filter(|r| r.early.is_none() || r.late.is_none())
        .map(|r| r.seed)
        .collect();
    if !incomplete.is_empty() {
        failures.push(format!(
            "(a) seeds {incomplete:?} diverged (every run must complete)"
        ));
    }
    let a_early: Vec<f64> = complete.iter().map(|(e, _)| e.metrics.test_loss).collect();
    let a_late: Vec<f64> = complete.iter().map(|(_, l)| l.metrics.test_loss).collect();
    let diffs: Vec<f64> = a_early.iter().zip(&a_late).map(|(e, l)| e - l).collect();
    let a_median_diff = med(&diffs);
    let a_wins = diffs.iter().filter(|d| **d > 0.0).count();
    let a_test = wilcoxon_test(
        "(a) held-out loss, early > late (paired by seed)",
        &a_early,
        &a_late,
        Alternative::Greater,
        true,
    );
    if !super::lt(C13_A_MIN_MEDIAN_DIFF, a_median_diff) {
        failures.push(format!(
            "(a) median R_early − R_late = {} ≤ {C13_A_MIN_MEDIAN_DIFF}",
            fmt_evidence(a_median_diff)
        ));
    }
    let both_proj: Vec<(f64, f64)> = complete
        .iter()
        .filter(|(e, l)| e.projection.converged && l.projection.converged)
        .map(|(e, l)| {
            (
                e.projection.metrics.test_loss,
                l.projection.metrics.test_loss,
            )
        })
        .collect();
    let (pe, pl): (Vec<f64>, Vec<f64>) = both_proj.iter().copied().unzip();
    let a_proj_test = wilcoxon_test(
        "(a′, reported) held-out loss of proj_Γ(θ_end), early > late",
        &pe,
        &pl,
        Alternative::Greater,
        false,
    );
    let err_e: Vec<f64> = complete.iter().map(|(e, _)| e.metrics.test_error).collect();
    let err_l: Vec<f64> = complete.iter().map(|(_, l)| l.metrics.test_error).collect();
    let error_test = wilcoxon_test(
        "(reported) held-out classification error, early vs late (two-sided)",
        &err_e,
        &err_l,
        Alternative::TwoSided,
        false,
    );
    let mean = |v: &[f64]| {
        let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if f.is_empty() {
            f64::NAN
        } else {
            f.iter().sum::<f64>() / f.len() as f64
        }
    };
    // (b)
    let min_points = s.phase_steps().len() / 2 + 1;
    let mut b_rho = Vec::new();
    let mut b_rel = Vec::new();
    let mut raw_rho = Vec::new();
    let (mut tried, mut conv) = (0usize, 0usize);
    let mut b_too_few = 0;
    let (mut first_proj, mut last_proj) = (vec![], vec![]);
    let mut displacement = vec![];
    let (mut n_first, mut n_last, mut t_first, mut t_last) = (vec![], vec![], vec![], vec![]);
    let (mut rho_n, mut rho_t) = (vec![], vec![]);
    let (mut pn_first, mut pn_last, mut pt_first, mut pt_last) = (vec![], vec![], vec![], vec![]);
    let (mut prho_n, mut prho_t) = (vec![], vec![]);
    for r in &study.seeds {
        let expected = s.phase_steps().len();
        tried += expected;
        let ok: Vec<&Measured> = r.phase.iter().filter(|m| m.projection.converged).collect();
        conv += ok.len();
        let ks: Vec<f64> = ok.iter().map(|m| m.step as f64).collect();
        let rs: Vec<f64> = ok.iter().map(|m| m.projection.metrics.test_loss).collect();
        let rho_s = if ok.len() >= min_points {
            let v = rho(&ks, &rs);
            if v.is_nan() {
                0.0
            } else {
                v
            }
        } else {
            b_too_few += 1;
            1.0
        };
        b_rho.push(rho_s);
        match (ok.first(), ok.last()) {
            (Some(f), Some(l)) if ok.len() >= min_points => {
                b_rel.push(
                    (f.projection.metrics.test_loss - l.projection.metrics.test_loss)
                        / f.projection.metrics.test_loss,
                );
                first_proj.push(f.projection.metrics.test_loss);
                last_proj.push(l.projection.metrics.test_loss);
            }
            _ => b_rel.push(f64::NEG_INFINITY),
        }
        displacement.extend(ok.iter().map(|m| m.projection.distance / m.metrics.norm));
        let all_k: Vec<f64> = r.phase.iter().map(|m| m.step as f64).collect();
        let raw: Vec<f64> = r.phase.iter().map(|m| m.metrics.test_loss).collect();
        raw_rho.push(rho(&all_k, &raw));
        if let (Some(f), Some(l)) = (r.phase.first(), r.phase.last()) {
            n_first.push(f.metrics.norm);
            n_last.push(l.metrics.norm);
            t_first.push(f.metrics.trace_g);
            t_last.push(l.metrics.trace_g);
        }
        rho_n.push(rho(
            &all_k,
            &r.phase.iter().map(|m| m.metrics.norm).collect::<Vec<_>>(),
        ));
        rho_t.push(rho(
            &all_k,
            &r.phase
                .iter()
                .map(|m| m.metrics.trace_g)
                .collect::<Vec<_>>(),
        ));
        if let (Some(f), Some(l)) = (ok.first(), ok.last()) {
            pn_first.push(f.projection.metrics.norm);
            pn_last.push(l.projection.metrics.norm);
            pt_first.push(f.projection.metrics.trace_g);
            pt_last.push(l.projection.metrics.trace_g);
        }
        prho_n.push(rho(
            &ks,
            &ok.iter()
                .map(|m| m.projection.metrics.norm)
                .collect::<Vec<_>>(),
        ));
        prho_t.push(rho(
            &ks,
            &ok.iter()
                .map(|m| m.projection.metrics.trace_g)
                .collect::<Vec<_>>(),
        ));
    }
    let zeros = vec![0.0; b_rho.len()];
    let b_test = wilcoxon_test(
        "(b) per-seed Spearman ρ(k, R(proj_Γ θ_k)) < 0 over seeds",
        &b_rho,
        &zeros,
        Alternative::Less,
        true,
    );
    let b_median_rho = med(&b_rho);
    let b_negative = b_rho.iter().filter(|r| **r < 0.0).count();
    let b_median_rel_decrease = {
        let mut v = b_rel.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            f64::NAN
        } else if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            0.5 * (v[v.len() / 2 - 1] + v[v.len() / 2])
        }
    };
    let b_converged_fraction = if tried == 0 {
        0.0
    } else {
        conv as f64 / tried as f64
    };
    if !super::le(b_median_rho, C13_B_MAX_MEDIAN_RHO) {
        failures.push(format!(
            "(b) median ρ = {:.3} > {C13_B_MAX_MEDIAN_RHO}",
            b_median_rho
        ));
    }
    if !super::le(C13_B_MIN_REL_DECREASE, b_median_rel_decrease) {
        failures.push(format!(
            "(b) median relative decrease of R(proj) = {} < {C13_B_MIN_REL_DECREASE}",
            fmt_evidence(b_median_rel_decrease)
        ));
    }
    if !super::le(C13_B_MIN_CONVERGED_FRACTION, b_converged_fraction) {
        failures.push(format!(
            "(b) only {:.1}% of the projections converged (< {:.0}%)",
            100.0 * b_converged_fraction,
            100.0 * C13_B_MIN_CONVERGED_FRACTION
        ));
    }
    let zeros_raw = vec![0.0; raw_rho.len()];
    let raw_finite: Vec<f64> = raw_rho
        .iter()
        .map(|r| if r.is_nan() { 0.0 } else { *r })
        .collect();
    let b_raw_test = wilcoxon_test(
        "(b, reported) per-seed Spearman ρ(k, R(θ_k)) < 0 (iterate itself)",
        &raw_finite,
        &zeros_raw,
        Alternative::Less,
        false,
    );
    let p_value = if a_test.p_value.is_nan() || b_test.p_value.is_nan() {
        1.0
    } else {
        a_test.p_value.max(b_test.p_value)
    };
    let ends = |f: &dyn Fn(&Measured) -> f64| -> (f64, f64) {
        (
            med(&complete.iter().map(|(e, _)| f(e)).collect::<Vec<_>>()),
            med(&complete.iter().map(|(_, l)| f(l)).collect::<Vec<_>>()),
        )
    };
    LandscapeAnalysis {
        complete_seeds: complete.len(),
        a_median_diff,
        a_wins,
        a_test,
        a_proj_test,
        a_proj_medians: (med(&pe), med(&pl)),
        error_test,
        error_means: (mean(&err_e), mean(&err_l)),
        train_medians: ends(&|m| m.train_loss),
        a_early,
        a_late,
        b_rho,
        b_too_few,
        b_median_rho,
        b_negative,
        b_rel_decrease: b_rel,
        b_median_rel_decrease,
        b_converged_fraction,
        b_test,
        b_proj_first_last: (med(&first_proj), med(&last_proj)),
        b_median_rel_displacement: med(&displacement),
        b_raw_median_rho: med(&raw_rho),
        b_raw_test,
        c_norm_first_last: (med(&n_first), med(&n_last)),
        c_trace_first_last: (med(&t_first), med(&t_last)),
        c_median_rho_norm_trace: (med(&rho_n), med(&rho_t)),
        c_proj_norm_first_last: (med(&pn_first), med(&pn_last)),
        c_proj_trace_first_last: (med(&pt_first), med(&pt_last)),
        c_proj_median_rho_norm_trace: (med(&prho_n), med(&prho_t)),
        c_end_norm: ends(&|m| m.metrics.norm),
        c_end_trace: ends(&|m| m.metrics.trace_g),
        failures,
        p_value,
    }
}

/// The row's outcome from a study.
pub fn landscape_outcome(
    study: &LandscapeStudy,
    cfg: Option<ExperimentConfig>,
    what: &str,
) -> ClaimOutcome {
    let a = analyze_landscape(study);
    let s = &study.settings;
    let part = |tag: &str| {
        if a.failures.iter().any(|f| f.starts_with(tag)) {
            "NOT MET"
        } else {
            "met"
        }
    };
    let f = fmt_evidence;
    // (c) for θ_k and for proj θ_k: first → last norm and tr G, and their ρ(k, ·).
    let norm_trace =
        |[norm, rho, trace]: [&str; 3], n: (f64, f64), r: (f64, f64), t: (f64, f64)| {
            format!(
                "{norm} {} → {} ({rho} = {:.3}), {trace} {} → {} (ρ = {:.3})",
                f(n.0),
                f(n.1),
                r.0,
                f(t.0),
                f(t.1),
                r.1
            )
        };
    let mut evidence = format!(
        "{what}: n = {}, {} held out, D = {}; η = {} → {}, decay at {} vs {}, {} steps after; {} seeds ({} complete). \
         (a) {}: median R_early − R_late = {} (R early {} vs late {}, medians), late lower in {}/{}, p = {:.3e}; \
         (a′, reported) on Γ: R(proj θ_end) early {} vs late {}, p = {:.3e}; class. error early {} vs late {} (means), two-sided p = {:.3e}; train loss early {} vs late {}. \
         (b) {}: K = {} points k = {}…{}, median ρ(k, R(proj_Γ θ_k)) = {:.3} ({}/{} seeds < 0, {} with too few converged projections), p = {:.3e}; R(proj) first → last {} → {} (median relative decrease {}); {:.1}% of projections converged, median ‖proj θ − θ‖/‖θ‖ = {}; reported: ρ(k, R(θ_k)) of the iterate itself median {:.3}, p = {:.3e}. \
         (c, reported) {}; on Γ {}; ends: ‖θ‖ early {} / late {}, tr G early {} / late {}",
        study.n_train,
        study.n_test,
        study.dim,
        s.lr,
        s.lr_after,
        s.early,
        s.late,
        s.steps_after,
        s.seeds.len(),
        a.complete_seeds,
        part("(a)"),
        f(a.a_median_diff),
        f(med(&a.a_early)),
        f(med(&a.a_late)),
        a.a_wins,
        a.complete_seeds,
        a.a_test.p_value,
        f(a.a_proj_medians.0),
        f(a.a_proj_medians.1),
        a.a_proj_test.p_value,
        f(a.error_means.0),
        f(a.error_means.1),
        a.error_test.p_value,
        f(a.train_medians.0),
        f(a.train_medians.1),
        part("(b)"),
        s.phase_steps().len(),
        s.phase_steps().first().copied().unwrap_or(0),
        s.late,
        a.b_median_rho,
        a.b_negative,
        a.b_rho.len(),
        a.b_too_few,
        a.b_test.p_value,
        f(a.b_proj_first_last.0),
        f(a.b_proj_first_last.1),
        f(a.b_median_rel_decrease),
        100.0 * a.b_converged_fraction,
        f(a.b_median_rel_displacement),
        a.b_raw_median_rho,
        a.b_raw_test.p_value,
        norm_trace(
            ["‖θ_k‖", "median ρ(k, ‖θ‖)", "tr G(θ_k)"],
            a.c_norm_first_last,
            a.c_median_rho_norm_trace,
            a.c_trace_first_last
        ),
        norm_trace(
            ["‖proj θ_k‖", "ρ", "tr G"],
            a.c_proj_norm_first_last,
            a.c_proj_median_rho_norm_trace,
            a.c_proj_trace_first_last
        ),
        f(a.c_end_norm.0),
        f(a.c_end_norm.1),
        f(a.c_end_trace.0),
        f(a.c_end_trace.1),
    );
    if !a.failures.is_empty() {
        evidence.push_str(&format!("; NOT MET: {}", a.failures.join("; ")));
    }
    let tests = vec![
        a.a_test.clone(),
        a.b_test.clone(),
        a.a_proj_test.clone(),
        a.error_test.clone(),
        a.b_raw_test.clone(),
    ];
    ClaimOutcome::new(
        "(a) median R_early − R_late, held-out (b: median ρ(k, R(proj_Γ θ_k)) in evidence)",
        a.a_median_diff,
        format!(
            "(a) Wilcoxon early > late, median diff > {C13_A_MIN_MEDIAN_DIFF}, all runs complete; (b) Wilcoxon ρ < 0, median ρ ≤ {C13_B_MAX_MEDIAN_RHO}, median rel. decrease ≥ {C13_B_MIN_REL_DECREASE}, ≥ {:.0}% projections converge; p = max(p_a, p_b), p_Holm ≤ {FAMILY_ALPHA}; (c) reported",
            100.0 * C13_B_MIN_CONVERGED_FRACTION
        ),
        a.failures.is_empty(),
        evidence,
    )
    .with_run(
        Some(a.p_value),
        tests,
        cfg,
        s.seeds.clone(),
        serde_json::json!({ "study": study, "analysis": a }),
    )
}

/// The C13 row: the built-in digits experiment for the built-in protocol,
/// the user's experiment for `verify --config` (N/A without a held-out set).
pub fn c13(ctx: &VerifyContext) -> Result<ClaimOutcome, ClaimError> {
    let full = ctx.mode == Mode::Full;
    let k = if full {
        C13_FULL_PHASE_POINTS
    } else {
        C13_QUICK_PHASE_POINTS
    };
    let builtin = ctx.protocol.base == ExperimentConfig::default_late_decay();
    let (cfg, seeds, what) = if builtin {
        let seeds: Vec<u64> = if full {
            C13_FULL_SEEDS.collect()
        } else {
            C13_QUICK_SEEDS.collect()
        };
        (digits_config(), seeds, "built-in UCI digits, even vs odd")
    } else {
        (
            ctx.protocol.base.clone(),
            ctx.protocol.seeds.clone(),
            "your experiment",
        )
    };
    let exp = Experiment::new(cfg.clone())?;
    if exp.heldout().is_none() {
        return Err(ClaimError::NotApplicable(format!(
            "C13 needs a held-out test set (model = {}; give [data] test_x/test_y or test_fraction, or use source = \"digits\")",
            cfg.model
        )));
    }
    let settings = LandscapeSettings::from_config(&cfg, seeds, k)?;
    let study = run_landscape_study(&exp, &settings)?;
    Ok(landscape_outcome(&study, Some(cfg), what))
}
