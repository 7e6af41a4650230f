//! Seeds in lockstep: S runs of the same problem and method (Diagonal, f64,
//! B = 1, label or no noise), each with its own ChaCha8 stream, advanced
//! together in groups of G seeds interleaved inside the single-seed fused
//! loop of [`super::fast`].
//!
//! The single-seed B = 1 step looks latency-bound: its dot product is one
//! dependent chain (⌊d/8⌋ vector adds per accumulator, the lane reduction,
//! then the multiplies into the next step's update), so the FP ports are
//! mostly idle. Here each seed of a group keeps its own contiguous u, v
//! (its state's θ, no copy), its own row of X, its own 8-lane accumulators
//! and its own stream; the pass over the coordinates does block j of every
//! seed before block j + 1 ([`crate::simd::kernels::diagonal_block`], the single-seed
//! building block), so G independent chains share the ports. G per level
//! ([`group_size`]) was chosen by measurement (README, Benchmarks): larger
//! groups spill the seeds' pointers and lose. Measured, it is ≈ 0.92–1.02× the
//! single-seed path (the step is closer to throughput-bound than its
//! latency chain suggests), so the decay engine still runs seeds one by one.
//!
//! The previous design put the seeds in the vector lanes (structure of
//! arrays, `u[j·P + s]`): every load of x became a gather (each seed samples
//! its own row) and the seeds had to be packed and unpacked per segment; it
//! ran at 0.6× the single-seed path at S = 8.
//!
//! Per seed, every operation is the single run's in its order — lane `l` of
//! the 8 accumulators sums the elements 8m + l, reduced by `Lanes::reduce`,
//! the tail in index order and added last — and each seed draws from its own
//! stream in the same order as alone (step k + 1's sample before step k's
//! update), so each seed's iterate, records and stop reason are
//! bit-identical to [`super::run_sgd_recording`] on that seed alone
//! (`tests/sgd_lockstep.rs`). A seed whose residual becomes non-finite keeps
//! its iterate of that step and leaves its group; the others go on from the
//! sample they have already drawn.

use super::{
    divergence_hint,
    fast::{residual, Feed},
    run_sgd_recording, Divergence, ElapsedTimes, NoiseModel, Probe, Sgd, SgdRun, SgdState,
    StopReason,
};
use crate::model::{Diagonal, Problem};
use crate::schedule::Schedule;
use crate::simd::kernels::{diagonal_block, diagonal_tail, triple_dot};
use crate::simd::{self, Lanes, Level, LANES};

/// Run `steps` steps of every state (all at the same step) recording at
/// `record_steps` through `probe` (called seed by seed, in order): the same
/// result per seed as [`run_sgd_recording`] on that seed alone, without
/// progress calls. Falls back to exactly that per-seed loop when the method
/// is not B = 1 with label or no noise, when the states are at different
/// steps, or on the scalar (reference) level.
pub fn run_sgd_lockstep<P: Probe<f64>>(
    problem: &Problem<f64, Diagonal>,
    method: &Sgd,
    states: &mut [SgdState<f64>],
    steps: u64,
    record_steps: &[u64],
    probe: &mut P,
) -> Vec<SgdRun<f64>> {
    let same_step = states.windows(2).all(|w| w[0].step == w[1].step);
    if method.batch_size != 1
        || !matches!(method.noise, NoiseModel::Label | NoiseModel::None)
        || !same_step
        || simd::active() == Level::Scalar
    {
        return states
            .iter_mut()
            .map(|s| run_sgd_recording(problem, method, s, steps, record_steps, probe, |_| {}))
            .collect();
    }
    let d = problem.data.d();
    let sigma = method.batch_label_sigma();
    let schedule = &method.schedule;
    let count = states.len();
    let mut records: Vec<Vec<super::Record>> = vec![Vec::new(); count];
    let mut stops: Vec<Option<StopReason>> = vec![None; count];
    let mut active: Vec<usize> = (0..count).collect();
    let Some(first) = states.first() else {
        return Vec::new();
    };
    let mut k = first.step;
    let end = k + steps;
    let mut next_record = record_steps.partition_point(|&s| s < k);
    let diverged = |quantity: &str, state: &SgdState<f64>, step: u64, lr: f64| {
        StopReason::Diverged(Divergence {
            step,
            lr,
            quantity: quantity.into(),
            value: "non-finite".into(),
            hint: divergence_hint(problem, method, &state.initial_theta, lr),
        })
    };
    let g = group_size(simd::active());
    loop {
        let lr = schedule.lr(k);
        if next_record < record_steps.len() && record_steps[next_record] == k {
            next_record += 1;
            active.retain(|&s| {
                let st = &states[s];
                records[s].push(probe.measure(st.times.at(k, lr), &st.theta));
                let finite = st.theta.iter().all(|t| t.is_finite());
                if !finite {
                    stops[s] = Some(diverged("iterate", st, k, lr));
                }
                finite
            });
        }
        if k == end || active.is_empty() {
            break;
        }
        let mut seg_end = end;
        if let Some(&r) = record_steps.get(next_record) {
            if r > k {
                seg_end = seg_end.min(r);
            }
        }
        let constant_lr = schedule.constant_until(k).map(|change| {
            seg_end = seg_end.min(change);
            lr
        });
        let ctx = Ctx {
            x: problem.data.x.as_slice(),
            y: &problem.data.y[..],
            d,
            sigma,
            schedule,
            constant_lr,
        };
        let mut seats = states
            .iter_mut()
            .enumerate()
            .filter(|(s, _)| active.contains(s))
            .map(|(seed, state)| Seat {
                seed,
                state,
                pending: None,
            });
        let mut lost = Vec::new();
        loop {
            let mut group: Vec<Seat> = seats.by_ref().take(g).collect();
            if group.is_empty() {
                break;
            }
            // Steps [k, at) taken by every seat still in the group.
            let mut at = k;
            while !group.is_empty() {
                let (done, gone) = run_group(&ctx, &mut group, at, seg_end - at);
                at += done;
                if gone.is_empty() {
                    break;
                }
                // Highest position first, so the lower ones stay valid.
                for &i in gone.iter().rev() {
                    let seat = group.remove(i);
                    seat.state.step = at;
                    lost.push(seat.seed);
                }
            }
            for seat in group {
                seat.state.step = seg_end;
            }
        }
        for &s in &lost {
            let at = states[s].step;
            stops[s] = Some(diverged("residual", &states[s], at, schedule.lr(at)));
        }
        active.retain(|s| !lost.contains(s));
        k = seg_end;
    }
    states
        .iter()
        .zip(records)
        .zip(stops)
        .map(|((st, records), stop)| SgdRun {
            theta: st.theta.clone(),
            records,
            stop: stop.unwrap_or(StopReason::Completed),
            steps: st.step,
        })
        .collect()
}

/// Seeds per group on each level: enough independent chains to cover the
/// add latency while the G seeds' accumulators (8 / W vectors each) and
/// coefficients stay in the vector registers (measured, README Benchmarks).
fn group_size(level: Level) -> usize {
    match level {
        Level::Avx512 => 4,
        Level::Avx2 => 2,
        _ => 2,
    }
}

/// The problem and the segment's learning rates, shared by the groups.
struct Ctx<'a> {
    x: &'a [f64],
    y: &'a [f64],
    d: usize,
    sigma: f64,
    schedule: &'a Schedule,
    /// η of every step of the segment when constant over it.
    constant_lr: Option<f64>,
}

/// One seed of a group: its state and, after another seed of its group
/// diverged, the step it has drawn but not taken.
struct Seat<'a> {
    seed: usize,
    state: &'a mut SgdState<f64>,
    pending: Option<Pending>,
}

/// A drawn step: its row, ξ, η and the prediction at the current iterate.
#[derive(Clone, Copy)]
struct Pending {
    row: usize,
    xi: f64,
    lr: f64,
    pred: f64,
}

/// Up to `steps` steps of every seat from step `k`; returns the steps taken
/// by all and the positions (ascending) of the seats whose residual became
/// non-finite at the next step (their iterate is that step's input; the
/// others keep that step's drawn sample as `pending`).
fn run_group(ctx: &Ctx, group: &mut [Seat], k: u64, steps: u64) -> (u64, Vec<usize>) {
    debug_assert!((1..=LANES).contains(&group.len()));
    match simd::active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx512 is only active when avx512f was detected.
        Level::Avx512 => unsafe { group_avx512(ctx, group, k, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx2 is only active when avx2 was detected.
        Level::Avx2 => unsafe { group_avx2(ctx, group, k, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of the x86-64 baseline.
        Level::Sse2 => unsafe { group_sse2(ctx, group, k, steps) },
        // SAFETY: the portable 1-lane vector needs no feature.
        _ => unsafe { group_any::<f64>(ctx, group, k, steps) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn group_avx512(ctx: &Ctx, group: &mut [Seat], k: u64, steps: u64) -> (u64, Vec<usize>) {
    group_any::<std::arch::x86_64::__m512d>(ctx, group, k, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn group_avx2(ctx: &Ctx, group: &mut [Seat], k: u64, steps: u64) -> (u64, Vec<usize>) {
    group_any::<std::arch::x86_64::__m256d>(ctx, group, k, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
unsafe fn group_sse2(ctx: &Ctx, group: &mut [Seat], k: u64, steps: u64) -> (u64, Vec<usize>) {
    group_any::<std::arch::x86_64::__m128d>(ctx, group, k, steps)
}

/// The group's size as a constant (a remainder group is smaller than G).
#[inline(always)]
unsafe fn group_any<T: Lanes>(
    ctx: &Ctx,
    group: &mut [Seat],
    k: u64,
    steps: u64,
) -> (u64, Vec<usize>) {
    match group.len() {
        1 => interleaved::<T, 1>(ctx, group, k, steps),
        2 => interleaved::<T, 2>(ctx, group, k, steps),
        3 => interleaved::<T, 3>(ctx, group, k, steps),
        4 => interleaved::<T, 4>(ctx, group, k, steps),
        5 => interleaved::<T, 5>(ctx, group, k, steps),
        6 => interleaved::<T, 6>(ctx, group, k, steps),
        7 => interleaved::<T, 7>(ctx, group, k, steps),
        _ => interleaved::<T, 8>(ctx, group, k, steps),
    }
}

/// The full blocks 0..m of one step for every seed of a group, block j of
/// every seed before block j + 1 ([`diagonal_block`] per seed; with `NEXT`,
/// each seed's accumulators collect its next dot product against `xn`).
/// SAFETY: as for [`interleaved`]; every pointer covers at least m entries.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn blocks<T: Lanes, const G: usize, const NEXT: bool>(
    u: &[*mut f64; G],
    v: &[*mut f64; G],
    xk: &[*const f64; G],
    c: &[T; G],
    xn: &[*const f64; G],
    m: usize,
    acc: &mut [[T; LANES]; G],
) {
    let mut i = 0;
    while i < m {
        for g in 0..G {
            diagonal_block::<T, NEXT>(u[g], v[g], xk[g], c[g], xn[g], i, &mut acc[g]);
        }
        i += LANES;
    }
}

/// SAFETY: called from a function compiled with `T`'s target feature;
/// `group.len() == G`; each θ holds u then v (2d entries), rows < n.
#[inline(always)]
unsafe fn interleaved<T: Lanes, const G: usize>(
    ctx: &Ctx,
    group: &mut [Seat],
    k: u64,
    steps: u64,
) -> (u64, Vec<usize>) {
    debug_assert_eq!(group.len(), G);
    if steps == 0 {
        return (0, Vec::new());
    }
    let (d, x) = (ctx.d, ctx.x.as_ptr());
    let m = d / LANES * LANES;
    let u: [*mut f64; G] = std::array::from_fn(|g| group[g].state.theta.as_mut_ptr());
    let v: [*mut f64; G] = std::array::from_fn(|g| u[g].add(d));
    let mut times: [ElapsedTimes; G] = std::array::from_fn(|g| group[g].state.times);
    // Each seed's stream draws the step after `step` next.
    let draw = |seat: &mut Seat, step: u64| {
        let mut feed = Feed {
            noise: &mut seat.state.noise,
            schedule: ctx.schedule,
            times: ElapsedTimes::default(),
            step,
            constant_lr: ctx.constant_lr,
        };
        let (mut row, mut xi) = ([0usize; 1], [0.0f64; 1]);
        let lr = feed.draw(&mut row, &mut xi);
        (row[0], xi[0], lr)
    };
    let mut cur: [Pending; G] = std::array::from_fn(|g| match group[g].pending.take() {
        Some(p) => p,
        None => {
            let (row, xi, lr) = draw(&mut group[g], k);
            let pred = triple_dot::<T>(u[g], v[g], x.add(row * d), d);
            Pending { row, xi, lr, pred }
        }
    });
    let mut taken = steps;
    let mut gone = Vec::new();
    for s in 0..steps {
        let mut coef = [0.0; G];
        for g in 0..G {
            let p = &cur[g];
            let r = residual(p.pred, ctx.y[p.row], ctx.sigma, p.xi);
            if !r.is_finite() {
                gone.push(g);
            }
            coef[g] = r * p.lr;
        }
        if !gone.is_empty() {
            for (seat, p) in group.iter_mut().zip(cur) {
                seat.pending = Some(p);
            }
            taken = s;
            break;
        }
        let xk: [*const f64; G] = std::array::from_fn(|g| x.add(cur[g].row * d));
        let c: [T; G] = std::array::from_fn(|g| T::splat(coef[g]));
        let mut acc = [[T::splat(0.0); LANES]; G];
        if s + 1 < steps {
            let next: [(usize, f64, f64); G] =
                std::array::from_fn(|g| draw(&mut group[g], k + s + 1));
            let xn: [*const f64; G] = std::array::from_fn(|g| x.add(next[g].0 * d));
            blocks::<T, G, true>(&u, &v, &xk, &c, &xn, m, &mut acc);
            for g in 0..G {
                let tail = diagonal_tail::<true>(u[g], v[g], xk[g], coef[g], xn[g], m, d);
                times[g].advance(cur[g].lr);
                let (row, xi, lr) = next[g];
                let pred = T::reduce(&acc[g]) + tail;
                cur[g] = Pending { row, xi, lr, pred };
            }
        } else {
            blocks::<T, G, false>(&u, &v, &xk, &c, &xk, m, &mut acc);
            for g in 0..G {
                diagonal_tail::<false>(u[g], v[g], xk[g], coef[g], xk[g], m, d);
                times[g].advance(cur[g].lr);
            }
        }
    }
    for (seat, t) in group.iter_mut().zip(times) {
        seat.state.times = t;
    }
    (taken, gone)
}
