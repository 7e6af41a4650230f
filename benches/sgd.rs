//! Throughput of label-noise SGD on the diagonal network (README.md, Benchmarks):
//! d = 100, n = 40, B = 1. Targets (issue 11): ≥ 2.5× a Numba loop (f64, one
//! core, `benches/peers/compare.py` measures the ratio) and ≥ 50k steps/s
//! (256-bit MPFR). The f64 cases run on every SIMD level of the CPU
//! (`latedecay::simd`, forced with `set_dispatch`): the SIMD levels run SGD's
//! f64 fast path, `scalar` the generic reference path; `rng_B1` times the
//! random numbers of one step alone (index + label noise, ChaCha8).
//! `roofline` measures the vector peak the fraction in README is taken of:
//! separate multiplies and adds (no FMA, as in every kernel) on 16
//! independent registers, FLOP/s per level on one core.

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use latedecay::data::{Dataset, SyntheticConfig};
use latedecay::dynamics::sgd::{run_sgd, run_sgd_to_end, RecordPlan, Sgd, SgdRun, SgdState};
use latedecay::model::{Diagonal, Linear, LinearInX, Problem};
use latedecay::noise::BatchNoise;
use latedecay::noise::Sampling;
use latedecay::probe::StandardProbe;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;
use latedecay::simd::{self, Level};
use std::hint::black_box;

fn method(batch_size: usize) -> Sgd {
    Sgd {
        batch_size,
        label_noise_sigma: 1.0,
        noise: Default::default(),
        sampling: Sampling::WithReplacement,
        schedule: Schedule::step_decay(0.004, 0.0004, 1 << 40).unwrap(),
    }
}

fn data() -> Dataset<f64> {
    Dataset::synthetic(&SyntheticConfig {
        n: 40,
        d: 100,
        normalize_columns: true,
        ..Default::default()
    })
    .unwrap()
}

/// A group of 10 samples (a sample is long: 10⁴–10⁶ steps) counting `steps`
/// elements per iteration.
fn timed_group<'a>(c: &'a mut Criterion, name: &str, steps: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(steps));
    group.sample_size(10);
    group
}

/// The timed work of the f64 and MPFR cases: `steps` steps from θ₀ (noise
/// seed 1), measuring the final record only.
fn timed_run<R: Real, M: LinearInX<R>>(
    problem: &Problem<R, M>,
    m: &Sgd,
    theta0: Vec<R>,
    steps: u64,
) -> SgdRun<R> {
    let mut state = SgdState::new(theta0, 1, problem.n(), m);
    let mut probe = StandardProbe::new(problem, None);
    run_sgd(
        problem,
        m,
        &mut state,
        steps,
        RecordPlan::FinalOnly,
        &mut probe,
        |_| {},
    )
}

fn bench_f64(c: &mut Criterion) {
    let steps = 1_000_000u64;
    let mut group = timed_group(c, "sgd_f64_d100_n40", steps);
    let levels = simd::available();
    for &level in levels.iter().rev() {
        simd::set_dispatch(Some(level)).unwrap();
        for batch_size in [1usize, 8] {
            let problem = Problem::new(Diagonal::new(100), data());
            let m = method(batch_size);
            group.bench_with_input(
                BenchmarkId::new(format!("diagonal_B{batch_size}"), level),
                &batch_size,
                |b, _| b.iter(|| timed_run(&problem, &m, vec![1.0f64; 200], steps)),
            );
        }
        let problem = Problem::new(Linear::new(100), data());
        let m = method(1);
        group.bench_with_input(BenchmarkId::new("linear_B1", level), &level, |b, _| {
            b.iter(|| timed_run(&problem, &m, vec![1.0f64; 100], steps))
        });
    }
    simd::set_dispatch(None).unwrap();
    // The random numbers of a B = 1 step alone: one index in 0..40 and one
    // standard normal from the run's ChaCha8 stream.
    group.bench_function("rng_B1", |b| {
        b.iter(|| {
            let mut noise = BatchNoise::new(1, 40, Sampling::WithReplacement, true);
            let (mut idx, mut xi) = ([0usize; 1], [0.0f64; 1]);
            let mut acc = 0.0;
            for _ in 0..steps {
                noise.next_batch(&mut idx, &mut xi);
                acc += xi[0] + idx[0] as f64;
            }
            acc
        })
    });
    group.finish();
}

/// Seeds in lockstep (`run_sgd_lockstep`): S seeds of the B = 1 case above,
/// seed-steps per second on every SIMD level (the scalar level runs the
/// seeds one after the other on the generic path).
fn bench_lockstep(c: &mut Criterion) {
    use latedecay::dynamics::sgd::run_sgd_lockstep;
    use latedecay::probe::NullProbe;
    let steps = 100_000u64;
    // The throughput is set per case below: S seed-steps per step.
    let mut group = timed_group(c, "sgd_lockstep_d100_n40", steps);
    let problem = Problem::new(Diagonal::new(100), data());
    let m = method(1);
    let record = [0, steps];
    for &level in simd::available().iter().rev() {
        simd::set_dispatch(Some(level)).unwrap();
        for seeds in [8usize, 64] {
            group.throughput(Throughput::Elements(steps * seeds as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("S{seeds}"), level),
                &seeds,
                |b, &seeds| {
                    b.iter(|| {
                        let mut states: Vec<SgdState<f64>> = (0..seeds as u64)
                            .map(|s| SgdState::new(vec![1.0f64; 200], s + 1, 40, &m))
                            .collect();
                        run_sgd_lockstep(&problem, &m, &mut states, steps, &record, &mut NullProbe)
                    })
                },
            );
        }
    }
    simd::set_dispatch(None).unwrap();
    group.finish();
}

fn bench_mpfr(c: &mut Criterion) {
    let steps = 5_000u64;
    let mut group = timed_group(c, "sgd_mpfr_d100_n40", steps);
    // 256 bits runs the limb-array fast path (64·N bits, N ≤ 8); `generic`
    // is the MPFR loop it replaces (Level::Scalar, the reference path);
    // 1024 bits is beyond the fast path.
    for (name, bits, level) in [
        ("diagonal_B1_bits", 256u32, None),
        ("diagonal_B1_generic_bits", 256, Some(Level::Scalar)),
        ("diagonal_B1_bits", 1024, None),
    ] {
        let problem = Problem::new(Diagonal::new(100), data().convert::<Mpfr>(bits));
        let m = method(1);
        simd::set_dispatch(level).unwrap();
        group.bench_with_input(BenchmarkId::new(name, bits), &bits, |b, &bits| {
            b.iter(|| timed_run(&problem, &m, vec![Mpfr::from_f64(1.0, bits); 200], steps))
        });
    }
    simd::set_dispatch(None).unwrap();
    group.finish();
}

/// The Mlp SGD step at the size of `configs/digits_mlp.toml`: UCI digits
/// (even/odd, ±1), n = 300, d = 64, width 30 (D = 1,950), B = 1, σ = 0.5,
/// η = 0.05; every activation; the step alone (`run_sgd_to_end`: no probe).
fn bench_mlp(c: &mut Criterion) {
    use latedecay::data::{DataConfig, DigitsConfig, DigitsTask};
    use latedecay::model::mlp::{Activation, Mlp};
    let steps = 20_000u64;
    let mut group = timed_group(c, "sgd_mlp_digits_D1950_n300", steps);
    let data = Dataset::from_config(&DataConfig::Digits(DigitsConfig {
        task: DigitsTask::EvenOdd,
        n_train: 300,
        split_seed: 1,
    }))
    .unwrap();
    let m = Sgd {
        batch_size: 1,
        label_noise_sigma: 0.5,
        sampling: Sampling::WithReplacement,
        schedule: Schedule::constant(0.05).unwrap(),
        noise: Default::default(),
    };
    for act in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
        let model = Mlp::with_activation(64, 30, act);
        let problem = Problem::new(model, data.clone());
        let theta0 = model.gaussian_init::<f64>(1, 1.0, 1.0, ());
        group.bench_function(BenchmarkId::new("B1", act), |b| {
            b.iter(|| run_sgd_to_end(&problem, &m, theta0.clone(), 1, steps))
        });
    }
    group.finish();
}

/// The no-FMA vector peak of one core: x ← x·m + a (a multiply, then an
/// add) on 16 independent registers, enough to cover the latency of two
/// ports; elements = flops.
#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Registers × (multiply + add) per iteration.
    pub const FLOPS_PER_LANE: u64 = 16 * 2;

    macro_rules! peak_kernel {
        ($name:ident, $feat:literal, $t:ty, $set1:ident, $mul:ident, $add:ident) => {
            /// Lane 0 of the registers' sum (kept, so the loop is not
            /// removed). SAFETY: the CPU has the feature.
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(iters: u64) -> f64 {
                // Stays near 1 for 10⁹ iterations; opaque, so not folded.
                let (m, a) = ($set1(black_box(1.0 + 1e-10)), $set1(black_box(1e-12)));
                let mut acc = [$set1(black_box(1.0)); 16];
                for _ in 0..iters {
                    for x in acc.iter_mut() {
                        *x = $add($mul(*x, m), a);
                    }
                }
                let sum = acc[1..].iter().fold(acc[0], |s, x| $add(s, *x));
                std::mem::transmute_copy::<$t, f64>(&sum)
            }
        };
    }
    peak_kernel!(
        avx512,
        "avx512f",
        __m512d,
        _mm512_set1_pd,
        _mm512_mul_pd,
        _mm512_add_pd
    );
    peak_kernel!(
        avx2,
        "avx2",
        __m256d,
        _mm256_set1_pd,
        _mm256_mul_pd,
        _mm256_add_pd
    );
    peak_kernel!(sse2, "sse2", __m128d, _mm_set1_pd, _mm_mul_pd, _mm_add_pd);
}

fn bench_roofline(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    {
        let iters = 10_000_000u64;
        let mut group = c.benchmark_group("roofline_no_fma");
        group.sample_size(10);
        for level in simd::available() {
            let (lanes, kernel): (u64, unsafe fn(u64) -> f64) = match level {
                simd::Level::Avx512 => (8, peak::avx512),
                simd::Level::Avx2 => (4, peak::avx2),
                simd::Level::Sse2 => (2, peak::sse2),
                _ => continue,
            };
            group.throughput(Throughput::Elements(iters * peak::FLOPS_PER_LANE * lanes));
            group.bench_function(BenchmarkId::new("flops", level), |b| {
                // SAFETY: `simd::available` lists only levels the CPU has.
                b.iter(|| black_box(unsafe { kernel(iters) }))
            });
        }
        group.finish();
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = c;
}

criterion_group!(
    benches,
    bench_f64,
    bench_lockstep,
    bench_mpfr,
    bench_mlp,
    bench_roofline
);
criterion_main!(benches);
