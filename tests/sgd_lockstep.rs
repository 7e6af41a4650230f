//! Seeds in lockstep (`run_sgd_lockstep`) give, per seed, the bits of the
//! seed run alone with the generic path (`Level::Scalar`): iterate, records,
//! stop reason (one seed diverges, the others go on; the diverged one reports
//! the step and learning rate it reports alone) and the state a continued run
//! starts from — S = 1, 3, 8, 13 (not a multiple of the lane count), d = 100
//! and 101, σ = 1, σ = 0 and `noise = none`, on every SIMD level and on 1
//! and 2 threads.
//!
//! One test function: the dispatch level is process-wide.

mod common;

use latedecay::data::{Dataset, SyntheticConfig};
use latedecay::dynamics::sgd::{
    run_sgd, run_sgd_lockstep, run_sgd_recording, NoiseModel, RecordPlan, Sgd, SgdRun, SgdState,
    StopReason,
};
use latedecay::model::{Diagonal, Problem};
use latedecay::noise::Sampling;
use latedecay::probe::StandardProbe;
use latedecay::schedule::Schedule;
use latedecay::simd::{self, Level};
use rayon::prelude::*;

/// Steps of every run (past the decay at step 700).
const STEPS: u64 = 1500;

type Bits = (Vec<u64>, Vec<(u64, Vec<u64>)>, StopReason, u64, Vec<u64>);

fn bits(run: &SgdRun<f64>, continued: &SgdRun<f64>) -> Bits {
    (
        run.theta.iter().map(|v| v.to_bits()).collect(),
        run.records
            .iter()
            .map(|r| (r.step, common::record_bits(r)))
            .collect(),
        run.stop.clone(),
        run.steps,
        continued.theta.iter().map(|v| v.to_bits()).collect(),
    )
}

#[derive(Clone, Copy, Debug)]
struct Case {
    seeds: usize,
    d: usize,
    sigma: f64,
    plain: bool,
    every: u64,
}

fn method(case: Case) -> Sgd {
    Sgd {
        batch_size: 1,
        label_noise_sigma: if case.plain { 0.0 } else { case.sigma },
        noise: if case.plain {
            NoiseModel::None
        } else {
            NoiseModel::Label
        },
        sampling: Sampling::WithReplacement,
        schedule: Schedule::step_decay(0.004, 0.0004, 700).unwrap(),
    }
}

/// Seed i starts from u = v = 1 + 0.01 i; the second seed from a scale
/// that diverges within the run.
fn states(problem: &Problem<f64, Diagonal>, case: Case) -> Vec<SgdState<f64>> {
    (0..case.seeds)
        .map(|i| {
            let scale = if i == 1 { 9.0 } else { 1.0 + 0.01 * i as f64 };
            let theta0 = vec![scale; 2 * case.d];
            SgdState::new(theta0, 100 + i as u64, problem.n(), &method(case))
        })
        .collect()
}

fn problem(d: usize) -> Problem<f64, Diagonal> {
    let data = Dataset::synthetic(&SyntheticConfig {
        n: 40,
        d,
        normalize_columns: true,
        ..Default::default()
    })
    .unwrap();
    Problem::new(Diagonal::new(d), data)
}

fn continue_alone(
    p: &Problem<f64, Diagonal>,
    m: &Sgd,
    st: &mut SgdState<f64>,
    probe: &mut StandardProbe<f64, Diagonal>,
) -> SgdRun<f64> {
    run_sgd(p, m, st, 100, RecordPlan::FinalOnly, probe, |_| {})
}

/// Every seed of `case` for `STEPS` steps, in lockstep or each seed alone
/// (the reference), then each 100 steps more alone from where it stopped.
fn case_bits(case: Case, in_lockstep: bool) -> Vec<Bits> {
    let p = problem(case.d);
    let m = method(case);
    let plan = RecordPlan::Every { every: case.every }.steps(STEPS);
    let reference = vec![0.5; 2 * case.d];
    let mut probe = StandardProbe::new(&p, Some(&reference));
    let mut sts = states(&p, case);
    let runs: Vec<SgdRun<f64>> = if in_lockstep {
        run_sgd_lockstep(&p, &m, &mut sts, STEPS, &plan, &mut probe)
    } else {
        sts.iter_mut()
            .map(|st| run_sgd_recording(&p, &m, st, STEPS, &plan, &mut probe, |_| {}))
            .collect()
    };
    runs.iter()
        .zip(sts.iter_mut())
        .map(|(run, st)| {
            let more = continue_alone(&p, &m, st, &mut probe);
            bits(run, &more)
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for seeds in [1usize, 3, 8, 13] {
        for d in [100usize, 101] {
            for (sigma, plain) in [(1.0, false), (0.0, false), (0.0, true)] {
                for every in [1u64, 7, 400] {
                    v.push(Case {
                        seeds,
                        d,
                        sigma,
                        plain,
                        every,
                    });
                }
            }
        }
    }
    v
}

#[test]
fn lockstep_seeds_match_each_seed_alone() {
    simd::set_dispatch(Some(Level::Scalar)).unwrap();
    // The reference on the global pool: each case runs on one thread whatever
    // the pool (1 against 2 threads is checked on the detected level below).
    let reference: Vec<Vec<Bits>> = cases()
        .into_par_iter()
        .map(|c| case_bits(c, false))
        .collect();
    // The second seed diverges, the others complete.
    for (case, runs) in cases().iter().zip(&reference) {
        for (i, r) in runs.iter().enumerate() {
            assert_eq!(
                matches!(r.2, StopReason::Diverged(_)),
                i == 1,
                "seed {i} of {case:?}"
            );
        }
    }
    // Every vector level against the reference (the Scalar level runs its own
    // per-seed path); thread-count independence is checked once, on the level
    // the CPU picks by itself (1 and 2 threads; 2 on the others), to keep the
    // suite's time in bounds.
    for (level, threads) in common::vector_levels_and_threads() {
        simd::set_dispatch(Some(level)).unwrap();
        let got: Vec<Vec<Bits>> = common::on_threads(threads, || {
            cases()
                .into_par_iter()
                .map(|c| case_bits(c, true))
                .collect()
        });
        for ((case, a), b) in cases().iter().zip(&reference).zip(&got) {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(x == y, "{level}, {threads} thread(s), seed {i} of {case:?}");
            }
        }
    }
    simd::set_dispatch(None).unwrap();
}
