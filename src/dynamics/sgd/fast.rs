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
//! then overlaps the throughput-bound update instead of following it. The
//! lanes are reduced with the sum in every lane ([`Lanes::reduce_splat`]) and
//! the residual and coefficient computed lane-wise, so the path from one
//! forward product to the next has no broadcast; the σ test is hoisted out
//! of the loop.
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
    axpy, diagonal_update, diagonal_update_dot, diagonal_update_scaled, dot, linear_update_dot,
    triple_dot,
};
use crate::simd::{self, Lanes, Level};

/// f64 rows of `stride` = d rounded up to a multiple of 8, the first one
/// 64-byte aligned (a `Vec` is only 8-byte aligned): the 8-lane loads and
/// stores of the fast path then never straddle two cache lines (measured:
/// 20M B = 1 Diagonal steps at d = 100 took 1.08 s against 1.19 s, medians
/// of 10 alternated runs). The padding is never read.
pub(super) struct AlignedRows {
    buf: Vec<f64>,
    start: usize,
    pub stride: usize,
}

impl AlignedRows {
    /// `rows` zero rows for vectors of length d.
    pub(super) fn zeroed(rows: usize, d: usize) -> Self {
        let stride = d.div_ceil(8) * 8;
        let buf = vec![0.0; rows * stride + 8];
        // Unaligned (start 0) only if the allocator gave a non-multiple of 8
        // bytes, which it never does for f64: the same bits either way.
        let start = Some(buf.as_ptr().align_offset(64))
            .filter(|&o| o < 8)
            .unwrap_or(0);
        Self { buf, start, stride }
    }
    /// A padded copy of the row-major n × d matrix `x`.
    pub(super) fn from_rows(x: &[f64], d: usize) -> Self {
        let mut rows = Self::zeroed(x.len() / d.max(1), d);
        for (i, src) in x.chunks_exact(d.max(1)).enumerate() {
            rows.row_mut(i)[..d].copy_from_slice(src);
        }
        rows
    }
    pub(super) fn row_mut(&mut self, i: usize) -> &mut [f64] {
        let o = self.start + i * self.stride;
        &mut self.buf[o..o + self.stride]
    }
    /// The rows, from the aligned start.
    pub(super) fn as_slice(&self) -> &[f64] {
        &self.buf[self.start..]
    }
    fn as_mut_ptr(&mut self) -> *mut f64 {
        self.buf[self.start..].as_mut_ptr()
    }
}

/// Segments at least this long run on aligned copies of θ (copied in and
/// out: ≈ 2d loads and stores, against ≥ 64·8d in the steps).
const ALIGNED_THETA_MIN_STEPS: u64 = 64;

/// The problem and scratch of a fast segment (f64 views of the generic
/// state).
pub(super) struct Segment<'a> {
    pub kernel: SgdKernel,
    /// θ (Linear: d entries; Diagonal: u then v, 2d entries).
    pub theta: &'a mut [f64],
    /// X, n rows of length d, `stride` apart (padded [`AlignedRows`], or X
    /// itself with stride d).
    pub x: &'a [f64],
    pub stride: usize,
    /// Two aligned rows: θ (Linear) or u and v (Diagonal) of long segments.
    pub theta_rows: &'a mut AlignedRows,
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
    let d = sg.d;
    let parts = match sg.kernel {
        SgdKernel::Linear => 1,
        SgdKernel::Diagonal => 2,
    };
    debug_assert_eq!(sg.theta.len(), parts * d);
    debug_assert!(sg.stride >= d && sg.theta_rows.stride >= d);
    // θ = (u, v): in place, or on the aligned rows for a long segment.
    let aligned = steps >= ALIGNED_THETA_MIN_STEPS;
    let uv = if aligned {
        for (k, part) in sg.theta.chunks_exact(d.max(1)).enumerate() {
            sg.theta_rows.row_mut(k)[..d].copy_from_slice(part);
        }
        let base = sg.theta_rows.as_mut_ptr();
        // SAFETY: row 1 starts `stride` after row 0, inside the buffer.
        (base, unsafe { base.add(sg.theta_rows.stride) })
    } else {
        let base = sg.theta.as_mut_ptr();
        // SAFETY: v (Diagonal) is the second half of θ; unused for Linear.
        (base, unsafe { base.add(d * (parts - 1)) })
    };
    let done = match simd::active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx512 is only active when avx512f was detected.
        Level::Avx512 => unsafe { segment_avx512(sg, uv, feed, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Avx2 is only active when avx2 was detected.
        Level::Avx2 => unsafe { segment_avx2(sg, uv, feed, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of the x86-64 baseline.
        Level::Sse2 => unsafe { segment_sse2(sg, uv, feed, steps) },
        // SAFETY: the portable 1-lane vector needs no feature.
        _ => unsafe { segment::<f64>(sg, uv, feed, steps) },
    };
    if aligned {
        for (k, part) in sg.theta.chunks_exact_mut(d.max(1)).enumerate() {
            part.copy_from_slice(&sg.theta_rows.row_mut(k)[..d]);
        }
    }
    done
}

/// θ's parts: u (Linear: θ) and v (Diagonal), d entries each.
type Parts = (*mut f64, *mut f64);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn segment_avx512(sg: &mut Segment, uv: Parts, feed: &mut Feed, steps: u64) -> u64 {
    segment::<std::arch::x86_64::__m512d>(sg, uv, feed, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn segment_avx2(sg: &mut Segment, uv: Parts, feed: &mut Feed, steps: u64) -> u64 {
    segment::<std::arch::x86_64::__m256d>(sg, uv, feed, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
unsafe fn segment_sse2(sg: &mut Segment, uv: Parts, feed: &mut Feed, steps: u64) -> u64 {
    segment::<std::arch::x86_64::__m128d>(sg, uv, feed, steps)
}

/// The residual of the generic step before scaling: (f − y) − σξ (the
/// noise term only with σ > 0, as there).
#[inline(always)]
pub(super) fn residual(pred: f64, y: f64, sigma: f64, xi: f64) -> f64 {
    // SAFETY: the 1-lane f64 vector needs no target feature.
    unsafe {
        if sigma > 0.0 {
            residual_lanes::<f64, true>(pred, y, sigma, xi)
        } else {
            residual_lanes::<f64, false>(pred, y, sigma, xi)
        }
    }
}

/// SAFETY (every function below): called from a function compiled with
/// `T`'s target feature; the pointers address `d` valid elements (rows of X
/// are `stride` apart, indices < n).
#[inline(always)]
unsafe fn segment<T: Lanes>(sg: &mut Segment, uv: Parts, feed: &mut Feed, steps: u64) -> u64 {
    if steps == 0 {
        return 0;
    }
    match (sg.kernel, sg.indices.len()) {
        (SgdKernel::Diagonal, 1) if sg.sigma > 0.0 => diagonal_b1::<T, true>(sg, uv, feed, steps),
        (SgdKernel::Diagonal, 1) => diagonal_b1::<T, false>(sg, uv, feed, steps),
        (SgdKernel::Linear, 1) if sg.sigma > 0.0 => linear_b1::<T, true>(sg, uv.0, feed, steps),
        (SgdKernel::Linear, 1) => linear_b1::<T, false>(sg, uv.0, feed, steps),
        _ => minibatch::<T>(sg, uv, feed, steps),
    }
}

/// [`residual`] in every lane of `pred` (the same operations per lane), the
/// σ > 0 test decided by the caller (`NOISE`: hoisted out of a B = 1 loop).
#[inline(always)]
unsafe fn residual_lanes<T: Lanes, const NOISE: bool>(pred: T, y: f64, sigma: f64, xi: f64) -> T {
    let r = pred.sub(T::splat(y));
    if NOISE {
        r.sub(T::splat(xi * sigma))
    } else {
        r
    }
}

/// Diagonal, B = 1: each step's update is fused with the next step's forward
/// product (`diagonal_update_dot`), and the residual and coefficient
/// are computed in every lane, so the critical path from one forward product
/// to the next has no broadcast.
#[inline(always)]
unsafe fn diagonal_b1<T: Lanes, const NOISE: bool>(
    sg: &mut Segment,
    uv: Parts,
    feed: &mut Feed,
    steps: u64,
) -> u64 {
    let (d, stride) = (sg.d, sg.stride);
    let (u, v) = uv;
    let x = sg.x.as_ptr();
    let (mut row, mut xi) = ([0usize; 1], [0.0f64; 1]);
    let mut lr = feed.draw(&mut row, &mut xi);
    let mut pred = T::splat(triple_dot::<T>(u, v, x.add(row[0] * stride), d));
    for s in 0..steps {
        let r = residual_lanes::<T, NOISE>(pred, sg.y[row[0]], sg.sigma, xi[0]);
        if !r.first().is_finite() {
            return s;
        }
        let c = r.mul(T::splat(lr));
        let coef = c.first();
        let xk = x.add(row[0] * stride);
        if s + 1 < steps {
            let next_lr = feed.draw(&mut row, &mut xi);
            let xn = x.add(row[0] * stride);
            pred = diagonal_update_dot::<T>(u, v, xk, c, coef, xn, d);
            feed.times.advance(lr);
            lr = next_lr;
        } else {
            diagonal_update_scaled::<T>(u, v, xk, coef, d);
            feed.times.advance(lr);
        }
    }
    steps
}

/// Linear, B = 1: as [`diagonal_b1`] (θ += −(r η) x fused with the next
/// forward product).
#[inline(always)]
unsafe fn linear_b1<T: Lanes, const NOISE: bool>(
    sg: &mut Segment,
    theta: *mut f64,
    feed: &mut Feed,
    steps: u64,
) -> u64 {
    let (d, stride) = (sg.d, sg.stride);
    let x = sg.x.as_ptr();
    let (mut row, mut xi) = ([0usize; 1], [0.0f64; 1]);
    let mut lr = feed.draw(&mut row, &mut xi);
    let mut pred = T::splat(dot::<T>(theta, x.add(row[0] * stride), d));
    for s in 0..steps {
        let r = residual_lanes::<T, NOISE>(pred, sg.y[row[0]], sg.sigma, xi[0]);
        if !r.first().is_finite() {
            return s;
        }
        let al = r.mul(T::splat(lr)).neg();
        let neg = al.first();
        let xk = x.add(row[0] * stride);
        if s + 1 < steps {
            let next_lr = feed.draw(&mut row, &mut xi);
            let xn = x.add(row[0] * stride);
            pred = linear_update_dot::<T>(theta, xk, al, neg, xn, d);
            feed.times.advance(lr);
            lr = next_lr;
        } else {
            axpy::<T>(theta, neg, xk, d);
            feed.times.advance(lr);
        }
    }
    steps
}

/// B > 1 (either model): the generic minibatch step in one monomorphized
/// loop (no fusion: the B forward passes all precede the update).
#[inline(always)]
unsafe fn minibatch<T: Lanes>(sg: &mut Segment, uv: Parts, feed: &mut Feed, steps: u64) -> u64 {
    let (d, stride) = (sg.d, sg.stride);
    let b = sg.indices.len() as f64;
    let x = sg.x.as_ptr();
    let (theta, (u, v)) = (uv.0, uv);
    for s in 0..steps {
        let lr = feed.draw(sg.indices, sg.xi);
        let mut diverged = false;
        for ((c, &row), &xi) in sg.coefs.iter_mut().zip(sg.indices.iter()).zip(sg.xi.iter()) {
            let pred = match sg.kernel {
                SgdKernel::Linear => dot::<T>(theta, x.add(row * stride), d),
                SgdKernel::Diagonal => triple_dot::<T>(u, v, x.add(row * stride), d),
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
                    axpy::<T>(theta, -c, x.add(row * stride), d);
                }
            }
            SgdKernel::Diagonal => {
                let w = sg.direction.as_mut_ptr();
                sg.direction.fill(0.0);
                for (&c, &row) in sg.coefs.iter().zip(sg.indices.iter()) {
                    axpy::<T>(w, c, x.add(row * stride), d);
                }
                diagonal_update::<T>(u, v, w, d);
            }
        }
        feed.times.advance(lr);
    }
    steps
}
