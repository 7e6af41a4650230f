//! The decay-step study behind C1–C4 and C8, and the σ = 0 plateau study of C9.
//!
//! **Decay study.** The decay-study engine
//! ([`crate::experiment::decay_study`]) runs, for every seed, one large-LR
//! trunk up to the largest decay step T_max and a branch per decay step T
//! with the SGD state (iterate *and* random stream) cloned; each branch is
//! bit-identical to an independent run with schedule `step_decay(η₁, η₂, T)`
//! and the same seed (checked in `tests/claims.rs`), and runs with different T
//! share their noise up to the earlier decay step (common random numbers,
//! which makes the paired comparisons across T sharp). This module measures
//! every branch's final iterate ([`FinalMetrics`]); the result does not depend
//! on the number of threads.

use serde::{Deserialize, Serialize};

use super::geometry::{beta_distance, distance_to_product_set};
use super::ClaimError;
use crate::data::Dataset;
use crate::dynamics::sgd::{RecordPlan, Sgd, StopReason};
use crate::experiment::run::ReferenceValues;
use crate::experiment::sweep::{sweep_grid, sweep_units};
use crate::experiment::{
    run_units, BranchRun, DecayGrid, Experiment, ExperimentConfig, Prepared, UnitPlan,
};
use crate::field_error::FieldError;
use crate::linalg::{norm, Cholesky};
use crate::probe::Record;
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
    ClaimError::Invalid(FieldError::new(field, value, reason))
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

/// Run the decay study of a config with a `[sweep]` section (`lrs` must be
/// empty or hold the schedule's η₁) on the decay-study engine, and measure
/// every branch's final iterate. f64 only.
pub fn run_decay_study(exp: &Experiment) -> Result<DecayStudy, ClaimError> {
    let cfg = exp.config();
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
    let (lr, _) = step_decay_rates(cfg)?;
    if !(sweep.lrs.is_empty() || sweep.lrs == [lr]) {
        return Err(invalid(
            "sweep.lrs",
            format!("{:?}", sweep.lrs),
            "the decay study uses the schedule's learning rate only",
        ));
    }
    let grid = sweep_grid(cfg)?;
    let units = sweep_units(cfg);
    let seeds: Vec<u64> = units.iter().map(|u| u.seed).collect();
    let prepared = Prepared::<f64>::new(exp, ())?;
    let reference = prepared.reference();
    let data = prepared.problem.data();
    let is_linear = prepared.problem.kind() == crate::model::ModelKind::Linear;
    let row_space = if is_linear {
        Some(RowSpace::new(data)?)
    } else {
        None
    };
    let by_seed: Vec<Vec<FinalMetrics>> = run_units(
        &prepared,
        &cfg.init,
        &cfg.sgd,
        &grid,
        &units,
        RecordPlan::FinalOnly,
        (),
        &|_| {},
        |unit, branches| {
            let theta0 = prepared.initial(&cfg.init, unit.seed, ());
            branches
                .into_iter()
                .map(|b| {
                    stop_error(unit.seed, b.stop)?;
                    let rec = b.records.last().expect("final record");
                    Ok(final_metrics(
                        data,
                        &reference,
                        row_space.as_ref(),
                        &prepared.minnorm.theta,
                        &theta0,
                        &b.theta,
                        rec,
                    ))
                })
                .collect::<Result<Vec<_>, ClaimError>>()
        },
    )?;
    let results = (0..grid.decay_steps.len())
        .map(|i| by_seed.iter().map(|s| s[i]).collect())
        .collect();
    Ok(DecayStudy {
        config: cfg.clone(),
        decay_steps: grid.decay_steps.clone(),
        total_steps: units.len() as u64 * grid.unit_steps(),
        seeds,
        reference,
        results,
    })
}

fn stop_error(seed: u64, stop: StopReason) -> Result<(), ClaimError> {
    stop.into_result().map_err(|source| {
        ClaimError::Experiment(crate::experiment::ExperimentError::Sgd { seed, source })
    })
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

/// The measurements of one branch's final iterate θ (record `rec` at its
/// last step); `row_space` is given for the Linear model.
fn final_metrics(
    data: &Dataset<f64>,
    reference: &ReferenceValues,
    row_space: Option<&RowSpace>,
    theta_mn: &[f64],
    theta0: &[f64],
    theta: &[f64],
    rec: &Record,
) -> FinalMetrics {
    let (dist_set, beta_dist) = match &data.beta_star {
        None => (f64::NAN, f64::NAN),
        Some(bs) if row_space.is_some() => {
            let d = crate::linalg::distance(theta, bs);
            (d, d)
        }
        // the diagonal network's θ = (u, v); other models (the Mlp) have no β(θ)
        Some(bs) if theta.len() == 2 * bs.len() => {
            (distance_to_product_set(theta, bs), beta_distance(theta, bs))
        }
        Some(_) => (f64::NAN, f64::NAN),
    };
    let (null_drift, rel_lin, lim_loss) = match row_space {
        Some(rs) => {
            let null0 = rs.null_part(theta0);
            let lim: Vec<f64> = theta_mn.iter().zip(&null0).map(|(a, b)| a + b).collect();
            let delta: Vec<f64> = theta.iter().zip(theta0).map(|(a, b)| a - b).collect();
            (
                norm(&rs.null_part(&delta)) / norm(theta0),
                crate::linalg::distance(theta, &lim) / norm(&lim),
                data.test_loss(&lim).unwrap_or(f64::NAN),
            )
        }
        None => (f64::NAN, f64::NAN, f64::NAN),
    };
    FinalMetrics {
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
    }
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
    exp: &Experiment,
    sigma: f64,
    lrs: &[f64],
    seeds: &[u64],
    steps: u64,
) -> Result<Vec<PlateauRun>, ClaimError> {
    if steps < 4 {
        return Err(invalid("steps", steps, "need at least 4 steps"));
    }
    let cfg = exp.config();
    let prepared = Prepared::<f64>::new(exp, ())?;
    let reference = prepared.reference();
    // Constant η as a one-branch decay study: decay step K, η₂ = η, nothing after.
    let method = Sgd {
        label_noise_sigma: sigma,
        ..cfg.sgd.clone()
    };
    let grid = DecayGrid::constant_lr(steps);
    let units = UnitPlan::constant_lr(lrs, seeds);
    for u in &units {
        method
            .with_step_decay(u.lr, u.lr, steps)
            .validate(prepared.problem.data().n())
            .map_err(|source| crate::experiment::ExperimentError::Sgd {
                seed: u.seed,
                source,
            })?;
    }
    let plan = RecordPlan::Every { every: steps / 4 };
    run_units(
        &prepared,
        &cfg.init,
        &method,
        &grid,
        &units,
        plan,
        (),
        &|_| {},
        |unit, mut branches| {
            let (lr, seed) = (unit.lr, unit.seed);
            let BranchRun { records, stop, .. } = branches.remove(0);
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
        },
    )
}
