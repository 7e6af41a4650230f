//! The decay-step study behind C1–C4 and C8, and the σ = 0 plateau study of C9.
//!
//! **Decay study.** For every seed one large-LR trajectory is run up to the
//! largest decay step T_max; at each decay step T of the grid the SGD state
//! (iterate *and* random stream) is cloned and continued for
//! `steps_after_decay` steps at the small learning rate. Because the state is
//! cloned, each branch is bit-identical to an independent run with schedule
//! `step_decay(η₁, η₂, T)` and the same seed (checked in `tests/claims.rs`), and
//! runs with different T share their noise up to the earlier decay step
//! (common random numbers, which makes the paired comparisons across T sharp).
//! Seeds run in parallel (rayon) and are collected in seed order, so the result
//! does not depend on the number of threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::geometry::{beta_distance, distance_to_product_set};
use super::ClaimError;
use crate::data::Dataset;
use crate::dynamics::sgd::{run_sgd, Probe, RecordPlan, Sgd, SgdState, StandardProbe, StopReason};
use crate::experiment::run::{initial_theta, AnyProblem, ReferenceValues};
use crate::experiment::{ExperimentConfig, Prepared};
use crate::linalg::{norm, Cholesky};
use crate::model::{LinearInX, Problem};
use crate::schedule::Schedule;

/// Final measurements of one (decay step, seed) run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// ‖θ‖.
    pub norm: f64,
    /// ‖θ − θ_mn‖/‖θ_mn‖ (nearest sign flip for Diagonal).
    pub rel_dist_minnorm: f64,
    /// Test loss R(β(θ)).
    pub test_loss: f64,
    /// R(β(θ)) − R(β_mn).
    pub excess_test_loss: f64,
    /// Distance in θ-space to the test-loss minimizer set: {u ⊙ v = β*}
    /// (Diagonal, exact, coordinate-wise) or {θ = β*} (Linear).
    pub dist_minimizer_set: f64,
    /// ‖β(θ) − β*‖.
    pub beta_dist: f64,
    /// ‖r(θ)‖ (training residual).
    pub residual_norm: f64,
    /// ‖(I − X⁺X)(θ − θ₀)‖/‖θ₀‖: movement in the null space of X (Linear; NaN otherwise).
    pub rel_null_space_drift: f64,
    /// ‖θ − θ_∞‖/‖θ_∞‖ with θ_∞ = (I − X⁺X)θ₀ + X⁺y, the interpolant SGD must
    /// reach on the Linear model (NaN for Diagonal).
    pub rel_dist_linear_limit: f64,
    /// R(θ_∞), the test loss of the Linear limit (NaN for Diagonal).
    pub linear_limit_test_loss: f64,
}

/// Which final measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// ‖θ‖.
    Norm,
    /// Relative distance to θ_mn.
    RelDistMinnorm,
    /// Test loss.
    TestLoss,
    /// Excess test loss over R(β_mn).
    ExcessTestLoss,
    /// Distance to {u ⊙ v = β*}.
    DistMinimizerSet,
    /// ‖β − β*‖.
    BetaDist,
    /// Relative distance to the Linear limit θ_∞.
    RelDistLinearLimit,
}

impl Metric {
    /// Value of this metric in a [`FinalMetrics`].
    pub fn of(self, m: &FinalMetrics) -> f64 {
        match self {
            Metric::Norm => m.norm,
            Metric::RelDistMinnorm => m.rel_dist_minnorm,
            Metric::TestLoss => m.test_loss,
            Metric::ExcessTestLoss => m.excess_test_loss,
            Metric::DistMinimizerSet => m.dist_minimizer_set,
            Metric::BetaDist => m.beta_dist,
            Metric::RelDistLinearLimit => m.rel_dist_linear_limit,
        }
    }
    /// Symbol used in tables.
    pub fn symbol(self) -> &'static str {
        match self {
            Metric::Norm => "‖θ‖",
            Metric::RelDistMinnorm => "‖θ−θ_mn‖/‖θ_mn‖",
            Metric::TestLoss => "R(β)",
            Metric::ExcessTestLoss => "R(β)−R(β_mn)",
            Metric::DistMinimizerSet => "dist(θ,{u⊙v=β*})",
            Metric::BetaDist => "‖β−β*‖",
            Metric::RelDistLinearLimit => "‖θ−θ_∞‖/‖θ_∞‖",
        }
    }
}

/// Result of [`run_decay_study`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecayStudy {
    /// The configuration run (sweep.decay_steps, run.seeds, …).
    pub config: ExperimentConfig,
    /// Decay steps T, ascending.
    pub decay_steps: Vec<u64>,
    /// Seeds, in order.
    pub seeds: Vec<u64>,
    /// Reference values (θ_mn, R(β_mn), R(0)).
    pub reference: ReferenceValues,
    /// `results[i][s]`: decay step i, seed s.
    pub results: Vec<Vec<FinalMetrics>>,
    /// SGD steps taken in total.
    pub total_steps: u64,
}

impl DecayStudy {
    /// `values[i][s]` of one metric.
    pub fn values(&self, metric: Metric) -> Vec<Vec<f64>> {
        self.results
            .iter()
            .map(|row| row.iter().map(|m| metric.of(m)).collect())
            .collect()
    }
}

fn invalid(field: &str, value: impl ToString, reason: &str) -> ClaimError {
    ClaimError::Invalid {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Learning rates (η₁, η₂) of a step-decay config.
pub fn step_decay_rates(cfg: &ExperimentConfig) -> Result<(f64, f64), ClaimError> {
    match cfg.sgd.schedule {
        Schedule::StepDecay { lr, lr_after, .. } => Ok((lr, lr_after)),
        ref other => Err(invalid(
            "sgd.schedule",
            format!("{other:?}"),
            "the decay study needs kind = \"step_decay\"",
        )),
    }
}

/// Run the decay study of a config with a `[sweep]` section (decay steps in
/// ascending order, duplicates allowed; `lrs` must be empty or hold the
/// schedule's η₁). f64 only.
pub fn run_decay_study(cfg: &ExperimentConfig) -> Result<DecayStudy, ClaimError> {
    cfg.validate()?;
    if cfg.precision_bits != 53 {
        return Err(invalid(
            "precision_bits",
            cfg.precision_bits,
            "the decay study runs in f64 (53 bits)",
        ));
    }
    let sweep = cfg.sweep.as_ref().ok_or_else(|| {
        invalid(
            "sweep",
            "missing",
            "the decay study needs a [sweep] section",
        )
    })?;
    let (lr, lr_after) = step_decay_rates(cfg)?;
    if !(sweep.lrs.is_empty() || sweep.lrs == [lr]) {
        return Err(invalid(
            "sweep.lrs",
            format!("{:?}", sweep.lrs),
            "the decay study uses the schedule's learning rate only",
        ));
    }
    let lr_after = sweep.decay_factor.map_or(lr_after, |f| lr * f);
    let decay_steps = sweep.decay_steps.clone();
    if decay_steps.windows(2).any(|w| w[1] < w[0]) {
        return Err(invalid(
            "sweep.decay_steps",
            format!("{decay_steps:?}"),
            "must be in ascending order",
        ));
    }
    let t_max = *decay_steps.last().expect("validated non-empty");
    let after = sweep.steps_after_decay;
    let seeds = cfg.run.seeds.to_vec();
    let prepared = Prepared::<f64>::new(cfg, ())?;
    let reference = prepared.reference();
    let main_method = Sgd {
        schedule: Schedule::StepDecay {
            lr,
            lr_after,
            decay_step: t_max,
        },
        ..cfg.sgd.clone()
    };
    main_method
        .validate(prepared.problem.data().n())
        .map_err(|source| crate::experiment::ExperimentError::Sgd { seed: 0, source })?;
    let per_seed: Vec<Result<Vec<FinalMetrics>, ClaimError>> = seeds
        .par_iter()
        .map(|&seed| {
            let theta0 = initial_theta::<f64>(&cfg.init, prepared.problem.dim(), seed, ());
            match &prepared.problem {
                AnyProblem::Linear(p) => seed_branches(
                    p,
                    &prepared.minnorm.theta,
                    &reference,
                    &main_method,
                    lr_after,
                    &decay_steps,
                    after,
                    theta0,
                    seed,
                ),
                AnyProblem::Diagonal(p) => seed_branches(
                    p,
                    &prepared.minnorm.theta,
                    &reference,
                    &main_method,
                    lr_after,
                    &decay_steps,
                    after,
                    theta0,
                    seed,
                ),
            }
        })
        .collect();
    let mut by_seed = Vec::with_capacity(seeds.len());
    for r in per_seed {
        by_seed.push(r?);
    }
    let results = (0..decay_steps.len())
        .map(|i| by_seed.iter().map(|s| s[i]).collect())
        .collect();
    let total_steps = seeds.len() as u64 * (t_max + after * decay_steps.len() as u64);
    Ok(DecayStudy {
        config: cfg.clone(),
        decay_steps,
        seeds,
        reference,
        results,
        total_steps,
    })
}

fn stop_error(seed: u64, stop: StopReason) -> Result<(), ClaimError> {
    match stop {
        StopReason::Completed => Ok(()),
        StopReason::Diverged {
            step,
            lr,
            quantity,
            value,
            hint,
        } => Err(ClaimError::Experiment(
            crate::experiment::ExperimentError::Sgd {
                seed,
                source: crate::dynamics::sgd::SgdError::Diverged {
                    step,
                    lr,
                    quantity,
                    value,
                    hint,
                },
            },
        )),
    }
}

/// Null-space tools of X for the Linear measurements.
struct RowSpace {
    x: crate::linalg::Mat<f64>,
    chol: Cholesky<f64>,
}

impl RowSpace {
    fn new(data: &Dataset<f64>) -> Result<Self, ClaimError> {
        Ok(Self {
            x: data.x.clone(),
            chol: Cholesky::new(data.x.gram_rows())?,
        })
    }
    /// (I − X⁺X) v.
    fn null_part(&self, v: &[f64]) -> Vec<f64> {
        let mut xv = self.x.mul_vec(v);
        self.chol.solve_mut(&mut xv);
        let row = self.x.tr_mul_vec(&xv);
        v.iter().zip(&row).map(|(a, b)| a - b).collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn seed_branches<M: LinearInX<f64>>(
    problem: &Problem<f64, M>,
    theta_mn: &[f64],
    reference: &ReferenceValues,
    main_method: &Sgd,
    lr_after: f64,
    decay_steps: &[u64],
    after: u64,
    theta0: Vec<f64>,
    seed: u64,
) -> Result<Vec<FinalMetrics>, ClaimError> {
    let is_linear = problem.model.name() == "linear";
    let (lr, _) = match main_method.schedule {
        Schedule::StepDecay { lr, lr_after, .. } => (lr, lr_after),
        _ => unreachable!("built as step_decay"),
    };
    let beta_star = problem.data.beta_star.clone();
    let row_space = if is_linear {
        Some(RowSpace::new(&problem.data)?)
    } else {
        None
    };
    let linear_limit: Option<Vec<f64>> = row_space.as_ref().map(|rs| {
        let null0 = rs.null_part(&theta0);
        theta_mn.iter().zip(&null0).map(|(a, b)| a + b).collect()
    });
    let mut probe = StandardProbe::new(problem, Some(theta_mn));
    let mut state = SgdState::new(theta0.clone(), seed, problem.n(), main_method);
    let mut out = Vec::with_capacity(decay_steps.len());
    for &t in decay_steps {
        if t > state.step {
            let advance = t - state.step;
            let run = run_sgd(
                problem,
                main_method,
                &mut state,
                advance,
                RecordPlan::FinalOnly,
                &mut probe,
                |_| {},
            );
            stop_error(seed, run.stop)?;
        }
        let mut branch = state.clone();
        let branch_method = Sgd {
            schedule: Schedule::StepDecay {
                lr,
                lr_after,
                decay_step: t,
            },
            ..main_method.clone()
        };
        let run = run_sgd(
            problem,
            &branch_method,
            &mut branch,
            after,
            RecordPlan::FinalOnly,
            &mut probe,
            |_| {},
        );
        stop_error(seed, run.stop)?;
        let theta = &branch.theta;
        let rec = probe.measure(branch.step, lr_after, 0.0, 0.0, theta);
        let (dist_set, beta_dist) = match &beta_star {
            None => (f64::NAN, f64::NAN),
            Some(bs) if is_linear => {
                let d = crate::linalg::distance(theta, bs);
                (d, d)
            }
            Some(bs) => (distance_to_product_set(theta, bs), beta_distance(theta, bs)),
        };
        let (null_drift, rel_lin, lim_loss) = match (&row_space, &linear_limit) {
            (Some(rs), Some(lim)) => {
                let delta: Vec<f64> = theta.iter().zip(&theta0).map(|(a, b)| a - b).collect();
                (
                    norm(&rs.null_part(&delta)) / norm(&theta0),
                    crate::linalg::distance(theta, lim) / norm(lim),
                    problem.data.test_loss(lim).unwrap_or(f64::NAN),
                )
            }
            _ => (f64::NAN, f64::NAN, f64::NAN),
        };
        out.push(FinalMetrics {
            norm: rec.norm,
            rel_dist_minnorm: rec.dist_minnorm / reference.minnorm_norm,
            test_loss: rec.test_loss,
            excess_test_loss: rec.test_loss - reference.minnorm_test_loss,
            dist_minimizer_set: dist_set,
            beta_dist,
            residual_norm: rec.residual_norm,
            rel_null_space_drift: null_drift,
            rel_dist_linear_limit: rel_lin,
            linear_limit_test_loss: lim_loss,
        });
    }
    Ok(out)
}

/// Norms along a constant-learning-rate run (C9).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlateauRun {
    /// Learning rate η.
    pub lr: f64,
    /// Label-noise σ.
    pub sigma: f64,
    /// Seed.
    pub seed: u64,
    /// ‖θ‖ at steps 0, K/4, K/2, K.
    pub norms: [f64; 4],
    /// ‖r‖ at step K/2 (has SGD reached Γ?).
    pub residual_half: f64,
    /// ‖r‖ at step K.
    pub residual_end: f64,
    /// Relative distance to θ_mn at step K.
    pub rel_dist_end: f64,
    /// Fraction of the remaining norm gap closed in the last half:
    /// (‖θ_{K/2}‖ − ‖θ_K‖) / (‖θ_{K/2}‖ − ‖θ_mn‖).
    pub gap_closed_last_half: f64,
}

/// Run constant-LR SGD for `steps` steps for each (η, seed) and measure the
/// norm plateau. `cfg` supplies model, data, init, batch size and sampling;
/// σ and η come from the arguments.
pub fn run_plateau_study(
    cfg: &ExperimentConfig,
    sigma: f64,
    lrs: &[f64],
    seeds: &[u64],
    steps: u64,
) -> Result<Vec<PlateauRun>, ClaimError> {
    if steps < 4 {
        return Err(invalid("steps", steps, "need at least 4 steps"));
    }
    let prepared = Prepared::<f64>::new(cfg, ())?;
    let reference = prepared.reference();
    let jobs: Vec<(f64, u64)> = lrs
        .iter()
        .flat_map(|&lr| seeds.iter().map(move |&s| (lr, s)))
        .collect();
    let results: Vec<Result<PlateauRun, ClaimError>> = jobs
        .par_iter()
        .map(|&(lr, seed)| {
            let method = Sgd {
                label_noise_sigma: sigma,
                schedule: Schedule::Constant { lr },
                ..cfg.sgd.clone()
            };
            method
                .validate(prepared.problem.data().n())
                .map_err(|source| crate::experiment::ExperimentError::Sgd { seed, source })?;
            let theta0 = initial_theta::<f64>(&cfg.init, prepared.problem.dim(), seed, ());
            let plan = RecordPlan::Every { every: steps / 4 };
            let (_, records, stop) = prepared.problem.run_sgd(
                &method,
                theta0,
                seed,
                steps,
                plan,
                Some(&prepared.minnorm.theta),
                |_| {},
            );
            stop_error(seed, stop)?;
            let at = |k: u64| {
                records
                    .iter()
                    .find(|r| r.step == k)
                    .cloned()
                    .expect("recorded step")
            };
            let q = steps / 4;
            let (r0, r1, r2, r3) = (at(0), at(q), at(2 * q), at(steps));
            let gap = r2.norm - reference.minnorm_norm;
            Ok(PlateauRun {
                lr,
                sigma,
                seed,
                norms: [r0.norm, r1.norm, r2.norm, r3.norm],
                residual_half: r2.residual_norm,
                residual_end: r3.residual_norm,
                rel_dist_end: r3.dist_minnorm / reference.minnorm_norm,
                gap_closed_last_half: (r2.norm - r3.norm) / gap,
            })
        })
        .collect();
    results.into_iter().collect()
}
