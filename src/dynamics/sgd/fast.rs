//! The f64 fast path of [`super::run_sgd_recording`]: the whole step loop of
//! label-noise / plain SGD on the Linear and Diagonal models, compiled once
//! per SIMD level (`#[target_feature]` on the loop, the vector type a
//! generic [`Lanes`] parameter) and dispatched once per segment of steps
//! instead of once per kernel call, so the compiler inlines the random
//! numbers, the residual and the update into one loop. The per-element
//! kernels are [`crate::simd::kernels`], the ones the slice functions of
//! `simd` run.
//!
//! B = 1 fuses the update of step k with the forward pass of step k + 1: step
//! k + 1's sample is drawn first (the same draws in the same order: the
//! stream only ever advances), then one pass over u, v, x_k, x_{k+1} writes
//! the new u_j, v_j and adds (u_j v_j) x_{k+1,j} to the accumulators. The
//! dot product's dependency chain (⌊d/8⌋ dependent adds per accumulator)
//! then overlaps the throughput-bound update instead of following it.
//!
//! Every operation is the generic step's, in its order (lane l of the 8
//! accumulators sums the elements 8m + l, the lanes reduced by
//! [`crate::simd::reduce_lanes`], the tail in index order and added last;
//! separate multiplies and subtractions), so iterates, records and
//! divergence reports are bit-identical to the generic path
//! (`tests/sgd_fast.rs` forces each level against `Level::Scalar`, which
//! runs the generic path).

use super::ElapsedTimes;
use crate::model::SgdKernel;
use crate::noise::BatchNoise;
use crate::schedule::Schedule;
use crate::simd::kernels::{
    axpy, diagonal_update, diagonal_update_dot, dot, linear_update_dot, triple_dot,
};
use crate::simd::{self, Lanes, Level};

/// The problem and scratch of a fast segment (f64 views of the generic
/// state).
pub(super) struct Segment<'a> {
    pub kernel: SgdKernel,
    /// θ (Linear: d entries; Diagonal: u then v, 2d entries).
    pub theta: &'a mut [f64],
    /// X, n × d, row-major.
    pub x: &'a [f64],
    pub d: usize,
    pub y: &'a [f64],
    /// Label-noise σ of the batch residuals (0: none).
    pub sigma: f64,
    /// Batch indices and ξ (length B).
    pub indices: &'a mut [usize],
    pub xi: &'a mut [f64],
    /// B > 1 scratch: the B coefficients and the Diagonal direction (d).
    pub coefs: &'a mut [f64],
    pub direction: &'a mut [f64],
}

/// The random numbers, learning rates and elapsed times of a run.
pub(super) struct Feed<'a> {
    pub noise: &'a mut BatchNoise,
    pub schedule: &'a Schedule,
    /// A copy (kept in registers), written back by the caller.
    pub times: ElapsedTimes,
    /// The step whose sample is drawn next.
    pub step: u64,
    /// η of every step of the segment when the schedule is constant over
    /// it (`Schedule::constant_until`), else `None` (η_k looked up per step).
    pub constant_lr: Option<f64>,
}

impl<'a> Feed<'a> {
    /// The feed of a segment from `step`.
    pub(super) fn new(
        noise: &'a mut BatchNoise,
        schedule: &'a Schedule,
        times: ElapsedTimes,
        step: u64,
        constant_lr: Option<f64>,
    ) -> Self {
        Self {
            noise,
            schedule,
            times,
            step,
            constant_lr,
        }
    }

    /// Draw the next step's batch into `indices`/`xi`; its learning rate.
    #[inline(always)]
    pub(super) fn draw(&mut self, indices: &mut [usize], xi: &mut [f64]) -> f64 {
        let lr = match self.constant_lr {
            Some(lr) => lr,
            None => self.schedule.lr(self.step),
        };
        self.step += 1;
        self.noise.next_batch(indices, xi);
        lr
    }
}

/// Run up to `steps` steps; returns the number completed (fewer: a residual
/// became non-finite at the next step, θ is that step's input, as in the
/// generic loop). Requires `simd::active() != Level::Scalar` (the scalar
/// level is the generic reference path).
pub(super) fn run_segment(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    debug_assert_eq!(sg.x.len() % sg.d.max(1), 0);
    debug_assert_eq!(
        sg.theta.len(),
        match sg.kernel {
            SgdKernel::Linear => sg.d,
            SgdKernel::Diagonal => 2 * sg.d,
        }
    );
    match simd::active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx512 is only active when avx512f was detected.
        Level::Avx512 => unsafe { segment_avx512(sg, feed, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx2 is only active when avx2 was detected.
        Level::Avx2 => unsafe { segment_avx2(sg, feed, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of the x86-64 baseline.
        Level::Sse2 => unsafe { segment_sse2(sg, feed, steps) },
        // SAFETY: the portable 1-lane vector needs no feature.
        _ => unsafe { segment::<f64>(sg, feed, steps) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn segment_avx512(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    segment::<std::arch::x86_64::__m512d>(sg, feed, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn segment_avx2(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    segment::<std::arch::x86_64::__m256d>(sg, feed, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
unsafe fn segment_sse2(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    segment::<std::arch::x86_64::__m128d>(sg, feed, steps)
}

/// The residual of the generic step before scaling: (f − y) − σξ (the
/// noise term only with σ > 0, as there).
#[inline(always)]
pub(super) fn residual(pred: f64, y: f64, sigma: f64, xi: f64) -> f64 {
    let mut r = pred - y;
    if sigma > 0.0 {
        r -= xi * sigma;
    }
    r
}

/// SAFETY (every function below): called from a function compiled with
/// `T`'s target feature; the pointers address `d` valid elements (rows of X
/// are `d` apart, indices < n).
#[inline(always)]
unsafe fn segment<T: Lanes>(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    if steps == 0 {
        return 0;
    }
    match (sg.kernel, sg.indices.len()) {
        (SgdKernel::Diagonal, 1) => diagonal_b1::<T>(sg, feed, steps),
        (SgdKernel::Linear, 1) => linear_b1::<T>(sg, feed, steps),
        _ => minibatch::<T>(sg, feed, steps),
    }
}

#[inline(always)]
unsafe fn diagonal_b1<T: Lanes>(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    let d = sg.d;
    let (u, v) = sg.theta.split_at_mut(d);
    let (u, v) = (u.as_mut_ptr(), v.as_mut_ptr());
    let x = sg.x.as_ptr();
    let (mut row, mut xi) = ([0usize; 1], [0.0f64; 1]);
    let mut lr = feed.draw(&mut row, &mut xi);
    let mut pred = triple_dot::<T>(u, v, x.add(row[0] * d), d);
    for s in 0..steps {
        let r = residual(pred, sg.y[row[0]], sg.sigma, xi[0]);
        if !r.is_finite() {
            return s;
        }
        let coef = r * lr;
        let xk = x.add(row[0] * d);
        if s + 1 < steps {
            let next_lr = feed.draw(&mut row, &mut xi);
            pred = diagonal_update_dot::<T, true>(u, v, xk, coef, x.add(row[0] * d), d);
            feed.times.advance(lr);
            lr = next_lr;
        } else {
            diagonal_update_dot::<T, false>(u, v, xk, coef, xk, d);
            feed.times.advance(lr);
        }
    }
    steps
}

#[inline(always)]
unsafe fn linear_b1<T: Lanes>(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    let d = sg.d;
    let theta = sg.theta.as_mut_ptr();
    let x = sg.x.as_ptr();
    let (mut row, mut xi) = ([0usize; 1], [0.0f64; 1]);
    let mut lr = feed.draw(&mut row, &mut xi);
    let mut pred = dot::<T>(theta, x.add(row[0] * d), d);
    for s in 0..steps {
        let r = residual(pred, sg.y[row[0]], sg.sigma, xi[0]);
        if !r.is_finite() {
            return s;
        }
        let neg = -(r * lr);
        let xk = x.add(row[0] * d);
        if s + 1 < steps {
            let next_lr = feed.draw(&mut row, &mut xi);
            pred = linear_update_dot::<T, true>(theta, xk, neg, x.add(row[0] * d), d);
            feed.times.advance(lr);
            lr = next_lr;
        } else {
            linear_update_dot::<T, false>(theta, xk, neg, xk, d);
            feed.times.advance(lr);
        }
    }
    steps
}

/// B > 1 (either model): the generic minibatch step in one monomorphized
/// loop (no fusion: the B forward passes all precede the update).
#[inline(always)]
unsafe fn minibatch<T: Lanes>(sg: &mut Segment, feed: &mut Feed, steps: u64) -> u64 {
    let d = sg.d;
    let b = sg.indices.len() as f64;
    let x = sg.x.as_ptr();
    let theta = sg.theta.as_mut_ptr();
    let (u, v) = (theta, theta.add(d));
    for s in 0..steps {
        let lr = feed.draw(sg.indices, sg.xi);
        let mut diverged = false;
        for ((c, &row), &xi) in sg.coefs.iter_mut().zip(sg.indices.iter()).zip(sg.xi.iter()) {
            let pred = match sg.kernel {
                SgdKernel::Linear => dot::<T>(theta, x.add(row * d), d),
                SgdKernel::Diagonal => triple_dot::<T>(u, v, x.add(row * d), d),
            };
            let r = residual(pred, sg.y[row], sg.sigma, xi);
            diverged |= !r.is_finite();
            *c = (r * lr) / b;
        }
        if diverged {
            return s;
        }
        match sg.kernel {
            SgdKernel::Linear => {
                for (&c, &row) in sg.coefs.iter().zip(sg.indices.iter()) {
                    axpy::<T>(theta, -c, x.add(row * d), d);
                }
            }
            SgdKernel::Diagonal => {
                let w = sg.direction.as_mut_ptr();
                sg.direction.fill(0.0);
                for (&c, &row) in sg.coefs.iter().zip(sg.indices.iter()) {
                    axpy::<T>(w, c, x.add(row * d), d);
                }
                diagonal_update::<T>(u, v, w, d);
            }
        }
        feed.times.advance(lr);
    }
    steps
}
