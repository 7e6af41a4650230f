//! The decay-study engine: seeds × initial learning rates × decay steps, on one
//! trunk per unit.
//!
//! A *unit* is one (seed, η₁) pair. For each unit one large-LR trajectory (the
//! *trunk*) is run up to the largest decay step T_max of the grid; at every
//! decay step T the SGD state — iterate, step, Kahan time sums *and* random
//! stream — is cloned and continued for `steps_after` steps at η₂ (a
//! *branch*). A branch is therefore bit-identical to an independent run with
//! schedule `step_decay(η₁ → η₂ at T)` and the same seed (`tests/decay_study.rs`
//! checks iterates, records and stop reasons), while the trunk is paid for only
//! once: a unit costs T_max + |grid|·steps_after steps instead of
//! Σ_T (T + steps_after).
//!
//! Records: the branch at T reports exactly the records an independent run of
//! T + steps_after steps would make with the same [`RecordPlan`]; the trunk
//! records at the union of the branches' record steps before their decay step.
//! If the trunk diverges before some T, the branches at those T are run
//! independently from step 0 (they diverge at the same step; running them
//! whole keeps even the reported quantity identical).
//!
//! Units run in parallel (rayon) and are collected in input order, so results
//! never depend on the number of threads. `sweep`, the claims C1–C4, C8, C9 and
//! figures F3/F4 all run on this engine.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use super::run::{AnyProblem, Prepared};
use crate::dynamics::sgd::{run_sgd, run_sgd_recording, RecordPlan, Sgd, SgdState, StopReason};
use crate::experiment::config::Init;
use crate::model::{LinearInX, Model, Problem};
use crate::probe::{Probe, Record, StandardProbe};
use crate::scalar::Real;

/// The decay steps of a study and the length of the small-LR phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecayGrid {
    /// Decay steps T, strictly ascending.
    pub decay_steps: Vec<u64>,
    /// Steps at η₂ after each decay.
    pub steps_after: u64,
}

impl DecayGrid {
    /// A grid from decay steps in any order; `None` if there are none or two
    /// are equal (callers report the field).
    pub fn new(mut decay_steps: Vec<u64>, steps_after: u64) -> Option<Self> {
        decay_steps.sort_unstable();
        if decay_steps.is_empty() || decay_steps.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(Self {
            decay_steps,
            steps_after,
        })
    }
    /// The grid of a constant-LR study run on the engine: one branch at
    /// `steps`, nothing after (η₂ = η₁, see [`UnitPlan::constant_lr`]).
    pub fn constant_lr(steps: u64) -> Self {
        Self {
            decay_steps: vec![steps],
            steps_after: 0,
        }
    }
    /// The largest decay step.
    pub fn t_max(&self) -> u64 {
        *self.decay_steps.last().expect("non-empty by construction")
    }
    /// SGD steps one unit takes on the engine (trunk + branches).
    pub fn unit_steps(&self) -> u64 {
        self.t_max() + self.decay_steps.len() as u64 * self.steps_after
    }
    /// SGD steps one unit would take with an independent run per decay step.
    pub fn independent_steps(&self) -> u64 {
        self.decay_steps.iter().map(|t| t + self.steps_after).sum()
    }
}

/// One unit of a study: a seed at one initial learning rate η₁ with its η₂.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnitPlan {
    /// Initial (large) learning rate η₁.
    pub lr: f64,
    /// Learning rate after the decay η₂.
    pub lr_after: f64,
    /// Seed of the SGD noise (and of a Gaussian init).
    pub seed: u64,
}

impl UnitPlan {
    /// The units of a constant-LR study (η₂ = η₁): every η of `lrs`, and
    /// within each every seed, in that order.
    pub fn constant_lr(lrs: &[f64], seeds: &[u64]) -> Vec<UnitPlan> {
        lrs.iter()
            .flat_map(|&lr| {
                seeds.iter().map(move |&seed| UnitPlan {
                    lr,
                    lr_after: lr,
                    seed,
                })
            })
            .collect()
    }
}

/// One branch of a unit: the run with decay step `decay_step`.
#[derive(Debug, Clone)]
pub struct BranchRun<R> {
    /// Decay step T.
    pub decay_step: u64,
    /// Records of the whole run 0 … T + steps_after (as an independent run).
    pub records: Vec<Record>,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Final iterate.
    pub theta: Vec<R>,
}

/// Run one unit on one problem: the trunk to T_max and a branch per decay
/// step. `method` supplies batch size, noise and sampling (its schedule is
/// replaced); `progress(n)` is told of every `n` steps taken.
#[allow(clippy::too_many_arguments)]
pub fn run_decay_unit<R, M, P>(
    problem: &Problem<R, M>,
    method: &Sgd,
    unit: &UnitPlan,
    grid: &DecayGrid,
    theta0: Vec<R>,
    plan: RecordPlan,
    probe: &mut P,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<BranchRun<R>>
where
    R: Real,
    M: Model<R>,
    P: Probe<R>,
{
    let trunk_method = method.with_step_decay(unit.lr, unit.lr_after, grid.t_max());
    let branch_plans: Vec<Vec<u64>> = grid
        .decay_steps
        .iter()
        .map(|&t| plan.steps(t + grid.steps_after))
        .collect();
    // The trunk records what any branch records before its decay step.
    let mut trunk_steps: Vec<u64> = grid
        .decay_steps
        .iter()
        .zip(&branch_plans)
        .flat_map(|(&t, steps)| steps.iter().copied().filter(move |&s| s < t))
        .collect();
    trunk_steps.sort_unstable();
    trunk_steps.dedup();

    let mut state = SgdState::new(theta0.clone(), unit.seed, problem.n(), &trunk_method);
    let mut trunk_records: Vec<Record> = Vec::new();
    let mut trunk_stop = StopReason::Completed;
    let mut out = Vec::with_capacity(grid.decay_steps.len());
    for (&t, branch_steps) in grid.decay_steps.iter().zip(&branch_plans) {
        let branch_method = method.with_step_decay(unit.lr, unit.lr_after, t);
        if trunk_stop == StopReason::Completed && state.step < t {
            // Steps already recorded at the end of the previous segment are
            // not measured again.
            let from = state.step;
            let segment: Vec<u64> = trunk_steps
                .iter()
                .copied()
                .filter(|&s| (s > from || (s == 0 && from == 0)) && s <= t)
                .collect();
            let last = Cell::new(from);
            let run = run_sgd_recording(
                problem,
                &trunk_method,
                &mut state,
                t - from,
                &segment,
                probe,
                |k| progress(k - last.replace(k)),
            );
            progress(state.step - last.get());
            trunk_records.extend(run.records);
            trunk_stop = run.stop;
        }
        if state.step < t {
            // The trunk diverged before T: run this decay step on its own.
            let mut alone = SgdState::new(theta0.clone(), unit.seed, problem.n(), &branch_method);
            let run = run_sgd(
                problem,
                &branch_method,
                &mut alone,
                t + grid.steps_after,
                plan,
                probe,
                |_| {},
            );
            out.push(BranchRun {
                decay_step: t,
                records: run.records,
                stop: run.stop,
                theta: run.theta,
            });
            continue;
        }
        let mut branch = state.clone();
        let last = Cell::new(t);
        let run = run_sgd_recording(
            problem,
            &branch_method,
            &mut branch,
            grid.steps_after,
            branch_steps,
            probe,
            |k| progress(k - last.replace(k)),
        );
        progress(branch.step - last.get());
        let mut records: Vec<Record> = trunk_records
            .iter()
            .filter(|r| r.step < t && branch_steps.binary_search(&r.step).is_ok())
            .cloned()
            .collect();
        records.extend(run.records);
        out.push(BranchRun {
            decay_step: t,
            records,
            stop: run.stop,
            theta: run.theta,
        });
    }
    out
}

/// Run one unit of a prepared experiment with the standard probe (distances
/// to θ_mn), from the configured initialization.
#[allow(clippy::too_many_arguments)]
pub fn run_prepared_unit<R: Real>(
    prepared: &Prepared<R>,
    init: &Init,
    method: &Sgd,
    unit: &UnitPlan,
    grid: &DecayGrid,
    plan: RecordPlan,
    ctx: R::Ctx,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<BranchRun<R>> {
    /// The standard probe, with the held-out losses when there is a set.
    #[allow(clippy::too_many_arguments)]
    fn standard<R: Real, M: LinearInX<R>>(
        p: &Problem<R, M>,
        reference: &[R],
        heldout: Option<&crate::data::HeldOut<R>>,
        method: &Sgd,
        unit: &UnitPlan,
        grid: &DecayGrid,
        theta0: Vec<R>,
        plan: RecordPlan,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<BranchRun<R>> {
        let mut inner = StandardProbe::new(p, Some(reference));
        match heldout {
            Some(h) => {
                let mut probe = super::run::HeldOutProbe::new(inner, &p.model, h);
                run_decay_unit(p, method, unit, grid, theta0, plan, &mut probe, progress)
            }
            None => run_decay_unit(p, method, unit, grid, theta0, plan, &mut inner, progress),
        }
    }
    let theta0 = prepared.initial(init, unit.seed, ctx);
    let reference = &prepared.minnorm.theta;
    if let AnyProblem::Mlp(p) = &prepared.problem {
        // No θ_mn: train loss, held-out loss, ‖θ‖, ‖r‖; distances NaN.
        let empty;
        let h = match &prepared.heldout {
            Some(h) => h,
            None => {
                empty = crate::data::HeldOut::empty(p.data.d(), ctx);
                &empty
            }
        };
        let mut probe = crate::probe::MlpProbe::new(p, &h.x, &h.y, false);
        return run_decay_unit(p, method, unit, grid, theta0, plan, &mut probe, progress);
    }
    let h = prepared.heldout.as_ref();
    match &prepared.problem {
        AnyProblem::Linear(p) => {
            standard(p, reference, h, method, unit, grid, theta0, plan, progress)
        }
        AnyProblem::Diagonal(p) => {
            standard(p, reference, h, method, unit, grid, theta0, plan, progress)
        }
        AnyProblem::Mlp(_) => unreachable!("handled above"),
    }
}

/// Run many units in parallel and turn each into a `T` with `finish` as soon
/// as it is done (the sweep appends it to its log there); results in input
/// order, whatever the thread count. The first error stops the collection.
#[allow(clippy::too_many_arguments)]
pub fn run_units<R, T, E, F>(
    prepared: &Prepared<R>,
    init: &Init,
    method: &Sgd,
    grid: &DecayGrid,
    units: &[UnitPlan],
    plan: RecordPlan,
    ctx: R::Ctx,
    progress: &(dyn Fn(u64) + Sync),
    finish: F,
) -> Result<Vec<T>, E>
where
    R: Real,
    T: Send,
    E: Send,
    F: Fn(&UnitPlan, Vec<BranchRun<R>>) -> Result<T, E> + Sync,
{
    use rayon::prelude::*;
    units
        .par_iter()
        .map(|unit| {
            let branches =
                run_prepared_unit(prepared, init, method, unit, grid, plan, ctx, progress);
            finish(unit, branches)
        })
        .collect()
}
