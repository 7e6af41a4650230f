//! C12: the *shape* of the noise matters — isotropic parameter noise of
//! matched strength does not carry the iterate to θ_mn, label noise does
//! (paired over seeds). Pre-registered in `proofs/claims.md` ("C12") before
//! it was run; not a row of `verify` (its isotropic runs take ≈ 30 s), run by
//! `tests/claims_noise_shape.rs`.

use serde::{Deserialize, Serialize};

use super::ClaimError;
use crate::dynamics::sgd::{NoiseModel, RecordPlan, Sgd, StopReason};
use crate::experiment::{run_units, BranchRun, DecayGrid, Experiment, Prepared, UnitPlan};
use crate::stats::{mean, median, wilcoxon_signed_rank, Alternative};

/// C12 criterion: mean relative distance of label noise at K below this.
pub const C12_LABEL_BOUND: f64 = 0.05;
/// C12 criterion: median relative distance of isotropic noise at K at least this.
pub const C12_ISOTROPIC_MIN: f64 = 0.5;
/// C12: one-sided paired Wilcoxon level.
pub const C12_ALPHA: f64 = 0.05;

/// Final state of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShapeRun {
    /// Seed.
    pub seed: u64,
    /// Relative distance to θ_mn at K (∞ if diverged).
    pub rel_dist: f64,
    /// ‖θ_K‖ (NaN if diverged).
    pub norm: f64,
    /// Training loss at K.
    pub train_loss: f64,
}

/// The C12 study and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseShapeStudy {
    /// η (constant), σ, K.
    pub lr: f64,
    /// σ of label noise and of the matched isotropic noise.
    pub sigma: f64,
    /// Steps.
    pub steps: u64,
    /// The isotropic scale s at θ₀.
    pub isotropic_scale: f64,
    /// Label-noise runs (by seed).
    pub label: Vec<ShapeRun>,
    /// Isotropic runs (same seeds).
    pub isotropic: Vec<ShapeRun>,
    /// One-sided exact Wilcoxon p (isotropic farther than label, paired).
    pub wilcoxon_p: f64,
    /// Mean relative distance of label noise.
    pub label_mean_rel_dist: f64,
    /// Median relative distance of isotropic noise.
    pub isotropic_median_rel_dist: f64,
    /// Whether every pre-registered criterion holds.
    pub pass: bool,
}

fn runs(
    exp: &Experiment,
    prepared: &Prepared<f64>,
    method: &Sgd,
    lr: f64,
    seeds: &[u64],
    steps: u64,
) -> Result<Vec<ShapeRun>, ClaimError> {
    let grid = DecayGrid::new(vec![steps], 0).expect("one decay step");
    let units: Vec<UnitPlan> = seeds
        .iter()
        .map(|&seed| UnitPlan {
            lr,
            lr_after: lr,
            seed,
        })
        .collect();
    let mn = prepared.minnorm.norm;
    run_units(
        prepared,
        &exp.config().init,
        method,
        &grid,
        &units,
        RecordPlan::FinalOnly,
        (),
        &|_| {},
        |unit, mut b: Vec<BranchRun<f64>>| -> Result<ShapeRun, ClaimError> {
            let b = b.remove(0);
            let last = b.records.last().cloned();
            Ok(match (b.stop, last) {
                (StopReason::Completed, Some(r)) => ShapeRun {
                    seed: unit.seed,
                    rel_dist: r.dist_minnorm / mn,
                    norm: r.norm,
                    train_loss: r.train_loss,
                },
                _ => ShapeRun {
                    seed: unit.seed,
                    rel_dist: f64::INFINITY,
                    norm: f64::NAN,
                    train_loss: f64::NAN,
                },
            })
        },
    )
}

/// Run label noise σ and isotropic noise matched to σ (s² = σ² tr G(θ₀)/(BD))
/// at constant η for `steps` steps on the same seeds, and decide C12.
pub fn run_noise_shape_study(
    exp: &Experiment,
    lr: f64,
    sigma: f64,
    seeds: &[u64],
    steps: u64,
) -> Result<NoiseShapeStudy, ClaimError> {
    let cfg = exp.config();
    let prepared = Prepared::<f64>::new(exp, ())?;
    let label = Sgd {
        label_noise_sigma: sigma,
        noise: NoiseModel::Label,
        ..cfg.sgd.clone()
    };
    let iso = Sgd {
        label_noise_sigma: 0.0,
        noise: NoiseModel::Isotropic {
            scale: None,
            matched_sigma: Some(sigma),
        },
        ..cfg.sgd.clone()
    };
    let theta0 = crate::experiment::run::initial_theta::<f64>(
        &cfg.init,
        prepared.problem.dim(),
        seeds[0],
        (),
    );
    let s = match &prepared.problem {
        crate::experiment::run::AnyProblem::Diagonal(p) => iso.isotropic_scale(p, &theta0),
        crate::experiment::run::AnyProblem::Linear(p) => iso.isotropic_scale(p, &theta0),
        crate::experiment::run::AnyProblem::Mlp(p) => iso.isotropic_scale(p, &theta0),
    }
    .unwrap_or(f64::NAN);
    let l = runs(exp, &prepared, &label, lr, seeds, steps)?;
    let i = runs(exp, &prepared, &iso, lr, seeds, steps)?;
    // diverged runs (∞) enter the signed ranks as the largest differences
    let big = 1e300;
    let li: Vec<f64> = l.iter().map(|r| r.rel_dist.min(big)).collect();
    let ii: Vec<f64> = i.iter().map(|r| r.rel_dist.min(big)).collect();
    let w = wilcoxon_signed_rank(&ii, &li, Alternative::Greater)?;
    let label_mean = mean(&li)?;
    let iso_median = median(&ii)?;
    let pass = w.p_value <= C12_ALPHA
        && super::lt(label_mean, C12_LABEL_BOUND)
        && super::le(C12_ISOTROPIC_MIN, iso_median);
    Ok(NoiseShapeStudy {
        lr,
        sigma,
        steps,
        isotropic_scale: s,
        label: l,
        isotropic: i,
        wilcoxon_p: w.p_value,
        label_mean_rel_dist: label_mean,
        isotropic_median_rel_dist: iso_median,
        pass,
    })
}
