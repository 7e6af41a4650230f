//! The f64 fast path of `run_sgd_recording` (whole step loop compiled per SIMD
//! level, B = 1 update fused with the next forward pass) gives the same bits
//! as the generic path, which `Level::Scalar` runs: iterates, every record,
//! the stop reason (divergence step, learning rate, quantity), the progress
//! calls and the state a continued run starts from — for Linear and
//! Diagonal, d with and without an 8-lane tail (and d < 8), B = 1 and B > 1,
//! with and without label noise, both samplings, recording at several
//! cadences (every step, every 7, log-spaced, final only, an explicit list
//! with a repeated step), on 1 and 2 threads.
//!
//! The MPFR fast path (Diagonal, B = 1, 64·N bits) is compared with the
//! generic MPFR loop the same way: every limb count, two precisions it
//! refuses, σ = 1, σ = 0 and `noise = none`, both samplings, every record
//! plan, and two diverging runs that leave its exponent bound.
//!
//! One test function: the dispatch level is process-wide.

mod common;

use latedecay::data::{Dataset, SyntheticConfig};
use latedecay::dynamics::sgd::{
    run_sgd, run_sgd_recording, NoiseModel, RecordPlan, Sgd, SgdRun, SgdState, StopReason,
};
use latedecay::model::{Diagonal, Linear, LinearInX, Problem};
use latedecay::noise::Sampling;
use latedecay::probe::StandardProbe;
use latedecay::scalar::Real;
use latedecay::schedule::Schedule;
use latedecay::simd::{self, Level};
use rayon::prelude::*;

/// Everything observable of a run, exactly (θ as hexadecimal strings: the
/// f64 bits, or MPFR's exact value).
#[derive(Debug, PartialEq)]
struct Observed {
    theta: Vec<String>,
    records: Vec<(u64, Vec<u64>)>,
    stop: StopReason,
    steps: u64,
    progress: Vec<u64>,
    /// Final iterate of 30 more steps from the returned state (RNG stream,
    /// step counter and elapsed times carried over; fewer steps than n, so
    /// the fast path reads X unpadded).
    continued: Vec<String>,
    continued_records: Vec<Vec<u64>>,
}

impl Observed {
    fn of<R>(
        out: SgdRun<R>,
        progress: Vec<u64>,
        more: SgdRun<R>,
        exact: impl Fn(&R) -> String,
    ) -> Self {
        Self {
            theta: out.theta.iter().map(&exact).collect(),
            records: out
                .records
                .iter()
                .map(|r| (r.step, common::record_bits(r)))
                .collect(),
            stop: out.stop,
            steps: out.steps,
            progress,
            continued: more.theta.iter().map(&exact).collect(),
            continued_records: more.records.iter().map(common::record_bits).collect(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    diagonal: bool,
    d: usize,
    batch_size: usize,
    sigma: f64,
    plain: bool,
    sampling: Sampling,
    lr: f64,
    plan: usize,
    /// Steps (segments between progress calls: steps / 100).
    steps: u64,
}

fn plans(total: u64) -> Vec<Vec<u64>> {
    vec![
        RecordPlan::Every { every: 1 }.steps(total),
        RecordPlan::Every { every: 7 }.steps(total),
        RecordPlan::LogSpaced { points: 20 }.steps(total),
        RecordPlan::FinalOnly.steps(total),
        // A repeated step: the generic loop records it once and never again.
        vec![0, 5, 40, 40, 900, total],
    ]
}

/// Label noise σ (`None`: `noise = none`), η decayed tenfold at `decay_step`.
fn sgd(batch_size: usize, sigma: Option<f64>, sampling: Sampling, lr: f64, decay_step: u64) -> Sgd {
    Sgd {
        batch_size,
        label_noise_sigma: sigma.unwrap_or(0.0),
        noise: if sigma.is_some() {
            NoiseModel::Label
        } else {
            NoiseModel::None
        },
        sampling,
        schedule: Schedule::step_decay(lr, lr / 10.0, decay_step).unwrap(),
    }
}

/// `total` steps from θ₀ (noise seed 11) recorded at `plan` (the probe's
/// reference point 0.5 everywhere), then `more` steps from the state it
/// returns (RNG stream, step counter and elapsed times carried over): both
/// runs and the progress calls of the first.
fn run_and_continue<R: Real, M: LinearInX<R>>(
    problem: &Problem<R, M>,
    method: &Sgd,
    theta0: Vec<R>,
    total: u64,
    plan: &[u64],
    more: u64,
    more_plan: RecordPlan,
) -> (SgdRun<R>, Vec<u64>, SgdRun<R>) {
    let reference = vec![R::from_f64(0.5, problem.ctx()); theta0.len()];
    let mut probe = StandardProbe::new(problem, Some(&reference));
    let mut state = SgdState::new(theta0, 11, problem.n(), method);
    let mut progress = Vec::new();
    let out = run_sgd_recording(problem, method, &mut state, total, plan, &mut probe, |k| {
        progress.push(k)
    });
    let continued = run_sgd(
        problem,
        method,
        &mut state,
        more,
        more_plan,
        &mut probe,
        |_| {},
    );
    (out, progress, continued)
}

fn observe<M: LinearInX<f64>>(problem: &Problem<f64, M>, case: Case, theta0: Vec<f64>) -> Observed {
    let sigma = (!case.plain).then_some(case.sigma);
    let method = sgd(case.batch_size, sigma, case.sampling, case.lr, 1100);
    let total = case.steps;
    let plan = &plans(total)[case.plan];
    let (out, progress, more) = run_and_continue(
        problem,
        &method,
        theta0,
        total,
        plan,
        30,
        RecordPlan::Every { every: 10 },
    );
    Observed::of(out, progress, more, |v| format!("{:016x}", v.to_bits()))
}

fn run_case(case: Case) -> Observed {
    let data = Dataset::synthetic(&SyntheticConfig {
        n: 40,
        d: case.d,
        normalize_columns: true,
        ..Default::default()
    })
    .unwrap();
    if case.diagonal {
        let theta0 = (0..2 * case.d).map(|j| 1.0 + 0.01 * j as f64).collect();
        observe(&Problem::new(Diagonal::new(case.d), data), case, theta0)
    } else {
        let theta0 = (0..case.d).map(|j| 0.1 - 0.003 * j as f64).collect();
        observe(&Problem::new(Linear::new(case.d), data), case, theta0)
    }
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for diagonal in [true, false] {
        for d in [5usize, 100, 101] {
            for batch_size in [1usize, 8] {
                for (sigma, plain) in [(1.0, false), (0.0, false), (0.0, true)] {
                    for plan in 0..5 {
                        v.push(Case {
                            diagonal,
                            d,
                            batch_size,
                            sigma,
                            plain,
                            sampling: if plan == 2 {
                                Sampling::Shuffle
                            } else {
                                Sampling::WithReplacement
                            },
                            lr: 0.004,
                            plan,
                            steps: 2000,
                        });
                    }
                }
            }
        }
    }
    // Long segments (12,800 steps: 128 between progress calls), which run
    // on the aligned copies of θ; with σ and without, d with a tail.
    for diagonal in [true, false] {
        for batch_size in [1usize, 8] {
            for d in [5usize, 101] {
                v.push(Case {
                    diagonal,
                    d,
                    batch_size,
                    sigma: 1.0,
                    plain: d == 5,
                    sampling: Sampling::WithReplacement,
                    lr: 0.004,
                    plan: 3,
                    steps: 12_800,
                });
            }
        }
    }
    // Divergence: η far above the stability limit (the residual, or the
    // iterate at a record step, becomes non-finite mid-run).
    for diagonal in [true, false] {
        for batch_size in [1usize, 8] {
            for plan in [0usize, 3] {
                v.push(Case {
                    diagonal,
                    d: 100,
                    batch_size,
                    sigma: 1.0,
                    plain: false,
                    sampling: Sampling::WithReplacement,
                    lr: 3.0,
                    plan,
                    steps: 2000,
                });
            }
        }
    }
    v
}

fn run_all(threads: usize) -> Vec<Observed> {
    common::on_threads(threads, || cases().into_par_iter().map(run_case).collect())
}

#[test]
fn fast_path_is_bit_identical_to_the_generic_path_on_every_level() {
    simd::set_dispatch(Some(Level::Scalar)).unwrap();
    // On 2 threads: the thread count only splits the cases among the
    // threads (1 against 2 is checked on the detected level below).
    let reference = run_all(2);
    // The cases exercise what they claim: divergences and completed runs.
    let diverged: Vec<bool> = reference
        .iter()
        .map(|o| matches!(o.stop, StopReason::Diverged(_)))
        .collect();
    for (case, &div) in cases().iter().zip(&diverged) {
        if case.lr > 1.0 {
            assert!(div, "η = {} must diverge: {case:?}", case.lr);
        }
    }
    let completed = diverged.iter().filter(|&&d| !d).count();
    assert!(completed > 150, "only {completed} runs completed");
    assert!(reference
        .iter()
        .any(|o| o.records.len() == 2001 && o.progress.len() == 100));
    // Every vector level against the generic path; 1 and 2 threads on the
    // level the CPU picks by itself, 2 on the others, to keep the suite's time
    // in bounds.
    for (level, threads) in common::vector_levels_and_threads() {
        simd::set_dispatch(Some(level)).unwrap();
        let got = run_all(threads);
        for ((case, a), b) in cases().iter().zip(&reference).zip(&got) {
            // Not assert_eq!: the observations are long; the case says enough.
            assert!(
                a == b,
                "{level}, {threads} thread(s) differs from the generic path: {case:?}"
            );
        }
    }
    // MPFR (Diagonal, B = 1: the limb-array fast path at 64·N bits) against
    // the generic MPFR loop, which `Level::Scalar` runs.
    simd::set_dispatch(Some(Level::Scalar)).unwrap();
    let reference = mpfr_cases()
        .into_iter()
        .map(run_mpfr_case)
        .collect::<Vec<_>>();
    let diverged = reference
        .iter()
        .filter(|o| matches!(o.stop, StopReason::Diverged(_)))
        .count();
    assert_eq!(
        diverged, 2,
        "the two η = 3 runs diverge, the others complete"
    );
    simd::set_dispatch(None).unwrap();
    for (case, a) in mpfr_cases().into_iter().zip(&reference) {
        let b = run_mpfr_case(case);
        assert!(
            a == &b,
            "MPFR fast path differs from the generic path: {case:?}"
        );
    }
}

/// An MPFR case: precision, d, σ (None: `noise = none`), sampling, η, plan.
#[derive(Clone, Copy, Debug)]
struct MpfrCase {
    bits: u32,
    /// θ₀'s precision (≠ `bits`: the fast path refuses θ, the generic loop runs).
    theta_bits: u32,
    d: usize,
    sigma: Option<f64>,
    sampling: Sampling,
    lr: f64,
    plan: usize,
}

fn mpfr_cases() -> Vec<MpfrCase> {
    let base = MpfrCase {
        bits: 256,
        theta_bits: 256,
        d: 100,
        sigma: Some(1.0),
        sampling: Sampling::WithReplacement,
        lr: 0.004,
        plan: 3,
    };
    let mut v = Vec::new();
    // Every limb count of the fast path, and two precisions it refuses
    // (not a multiple of 64; a single limb).
    for bits in [64u32, 128, 192, 200, 256, 320, 384, 448, 512] {
        v.push(MpfrCase {
            bits,
            theta_bits: bits,
            ..base
        });
    }
    // θ at another precision than the data: refused at entry, with a
    // repeated record step (recorded once, as in the generic loop).
    v.push(MpfrCase {
        theta_bits: 320,
        plan: 4,
        ..base
    });
    for sigma in [Some(0.0), None] {
        v.push(MpfrCase { sigma, ..base });
    }
    for plan in 0..5 {
        v.push(MpfrCase {
            d: 5,
            plan,
            sampling: if plan == 2 {
                Sampling::Shuffle
            } else {
                Sampling::WithReplacement
            },
            ..base
        });
    }
    // Divergence: θ leaves the fast path's exponent bound, the generic loop
    // takes over until MPFR's own overflow makes the residual non-finite.
    for plan in [0usize, 3] {
        v.push(MpfrCase {
            lr: 3.0,
            plan,
            ..base
        });
    }
    v
}

fn run_mpfr_case(case: MpfrCase) -> Observed {
    use latedecay::scalar::Mpfr;
    let data = Dataset::synthetic(&SyntheticConfig {
        n: 40,
        d: case.d,
        normalize_columns: true,
        ..Default::default()
    })
    .unwrap()
    .convert::<Mpfr>(case.bits);
    let problem = Problem::new(Diagonal::new(case.d), data);
    let method = sgd(1, case.sigma, case.sampling, case.lr, 700);
    let total = 1000u64;
    let theta0: Vec<Mpfr> = (0..2 * case.d)
        .map(|j| Mpfr::from_f64(1.0 + 0.01 * j as f64, case.theta_bits))
        .collect();
    let plan = &plans(total)[case.plan];
    let (out, progress, more) = run_and_continue(
        &problem,
        &method,
        theta0,
        total,
        plan,
        100,
        RecordPlan::FinalOnly,
    );
    Observed::of(out, progress, more, |v| v.to_string_radix(16, None))
}
