//! Settings of F2–F5 for a user's experiment (`latedecay figures --config
//! FILE.toml`): the same figures as for the built-in instance, with grids
//! derived from the experiment the way `verify --config` derives them.
//!
//! * Decay grid (F2–F4): `[sweep] decay_steps` when given, else the quick
//!   claims protocol's grid (0 and T_max/2^k, T_max from the slow-flow
//!   prediction on this instance or from `[claims]`); steps after the decay
//!   as in `verify`.
//! * F5: constant η ∈ {1.5, 1, 0.5}·η₁ and a τ grid Δτ = 36 m (η₁/2)² (a whole
//!   number of steps for each η) reaching about the flow's τ to 2.5%.
//! * Seeds: `[run] seeds` (F3/F4; quick: the first 4), the first 8 (quick 3)
//!   for F5, the first for F2.

use super::{
    DecaySweepParams, DiagonalLandscapeParams, DistanceParams, EarlyLateRuns, FigureError,
};
use crate::claims::registry::predict_longest_phase;
use crate::claims::{Mode, Protocol};
use crate::experiment::ExperimentConfig;
use crate::schedule::Schedule;

/// η₁ of a step-decay experiment.
fn large_lr(cfg: &ExperimentConfig) -> Result<f64, FigureError> {
    match cfg.sgd.schedule {
        Schedule::StepDecay { lr, .. } => Ok(lr),
        ref other => Err(FigureError::Input(format!(
            "sgd.schedule = {other:?}: the decay figures need kind = \"step_decay\""
        ))),
    }
}

/// The decay grid and steps after the decay for the figures of `cfg`, and the
/// slow-flow τ to the target (when predicted).
fn decay_grid(cfg: &ExperimentConfig) -> Result<(Vec<u64>, u64, Option<f64>), FigureError> {
    let protocol =
        Protocol::from_config(cfg, Mode::Quick).map_err(|e| FigureError::Input(e.to_string()))?;
    let flow = if protocol.grid_is_given() {
        None
    } else {
        predict_longest_phase(&protocol).ok()
    };
    if let Some(sw) = &cfg.sweep {
        let mut g = sw.decay_steps.clone();
        g.sort_unstable();
        return Ok((g, sw.steps_after_decay, flow.map(|f| f.tau_needed)));
    }
    let grid = protocol
        .grid(flow.as_ref())
        .map_err(|e| FigureError::Input(format!("{e} (or give [sweep] decay_steps)")))?;
    Ok((grid, protocol.steps_after_decay, flow.map(|f| f.tau_needed)))
}

/// At most `k` entries of `v`, evenly spread, first and last included.
fn spread(v: &[u64], k: usize) -> Vec<u64> {
    if v.len() <= k {
        return v.to_vec();
    }
    let mut out: Vec<u64> = (0..k)
        .map(|i| v[(i * (v.len() - 1) + (k - 1) / 2) / (k - 1)])
        .collect();
    out.dedup();
    out
}

/// F3/F4 settings for an experiment.
pub fn decay_sweep_params(
    cfg: &ExperimentConfig,
    quick: bool,
) -> Result<DecaySweepParams, FigureError> {
    let (decay_steps, steps_after, _) = decay_grid(cfg)?;
    let mut seeds = cfg.run.seeds.to_vec();
    if quick {
        seeds.truncate(4);
    }
    Ok(DecaySweepParams {
        cfg: cfg.clone(),
        curve_decay_steps: spread(&decay_steps, 5),
        decay_steps,
        steps_after,
        seeds,
        record_points: 160,
    })
}

/// F2 settings: the first seed, earliest vs latest decay step of the grid.
pub fn landscape_params(
    cfg: &ExperimentConfig,
    quick: bool,
) -> Result<DiagonalLandscapeParams, FigureError> {
    let (grid, steps_after, _) = decay_grid(cfg)?;
    Ok(DiagonalLandscapeParams {
        runs: EarlyLateRuns {
            cfg: cfg.clone(),
            seed: cfg.run.seeds.to_vec().first().copied().unwrap_or(1),
            early_decay: grid[0],
            late_decay: *grid.last().expect("non-empty grid"),
            steps_after,
        },
        grid: if quick { 31 } else { 71 },
    })
}

/// F5 settings: η ∈ {1.5, 1, 0.5}·η₁ on a common τ grid.
pub fn distance_params(cfg: &ExperimentConfig, quick: bool) -> Result<DistanceParams, FigureError> {
    let lr = large_lr(cfg)?;
    let (grid, _, tau_flow) = decay_grid(cfg)?;
    let tau_points: usize = if quick { 50 } else { 200 };
    // Without a prediction: the τ the longest phase covers at η₁, halved
    // (T_max is twice the prediction by default).
    let tau_target = tau_flow.unwrap_or(0.5 * lr * lr * *grid.last().expect("grid") as f64);
    let unit = 36.0 * (0.5 * lr) * (0.5 * lr);
    let m = (tau_target / (tau_points as f64 * unit)).ceil().max(1.0);
    let mut seeds = cfg.run.seeds.to_vec();
    seeds.truncate(if quick { 3 } else { 8 });
    Ok(DistanceParams {
        cfg: cfg.clone(),
        lrs: vec![1.5 * lr, lr, 0.5 * lr],
        tau_step: m * unit,
        tau_points,
        seeds,
    })
}
