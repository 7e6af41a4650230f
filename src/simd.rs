//! Runtime-dispatched SIMD kernels for the f64 hot loops (SGD updates, model
//! forward/backward, the probes' residuals).
//!
//! # Mechanism
//!
//! `std::arch` intrinsics behind `#[target_feature(enable = …)]`, chosen at
//! run time with `is_x86_feature_detected!` (no extra crate): AVX-512F (the
//! 8 accumulator lanes in one register), AVX2 (two registers), SSE2 (the
//! x86-64 baseline, four registers). On aarch64 the portable kernels are
//! compiled for the baseline, which includes NEON; elsewhere they are the
//! fallback. A scalar reference path (`Level::Scalar`) runs the portable
//! code one element at a time.
//!
//! Why explicit intrinsics and not one portable source compiled per feature
//! set (what `multiversion` does) or `pulp`: the loop structure is then
//! fixed by us, not by the vectorizer (compiling the portable 8-lane loop
//! with `avx512f` gave shuffle-heavy 128-bit code), and a kernel cannot pick
//! up an FMA by accident: every level uses separate `mul`/`add`/`sub`
//! instructions (`avx2`/`avx512f` do not enable `fma`, and Rust never
//! contracts). The summation order is the one of the former f64 reductions
//! of `scalar.rs`: lane `l` of 8 accumulators takes the elements `8m + l`,
//! the lanes are reduced as `((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7))`, the tail
//! (`n mod 8` elements) is summed in index order and added last. Products
//! are `(a·b)·c`. Element-wise updates have no order to keep. So **every
//! level computes the same bits**; `tests/simd.rs` forces every available
//! level (and the scalar one) and compares SGD iterates and records bit for
//! bit.
//!
//! # Forcing a level
//!
//! `set_dispatch(Some(Level::Scalar))` (tests, benchmarks) or the environment
//! variable `LATEDECAY_SIMD=scalar|sse2|avx2|avx512|neon` (read once, at the
//! first kernel call). A level the CPU lacks is refused by [`set_dispatch`]
//! and ignored (with the auto-detected level used) when given by the
//! environment.

use std::sync::atomic::{AtomicU8, Ordering};

/// Independent accumulators of every f64 reduction (fixed, so results do not
/// depend on the SIMD width of the machine).
pub const LANES: usize = 8;

/// An instruction-set level of the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Level {
    /// Reference path: one element at a time (each product is kept out of
    /// vector registers), same order as every other level.
    Scalar = 1,
    /// x86-64 baseline (SSE2, 2 lanes).
    Sse2 = 2,
    /// AVX2 (4 lanes).
    Avx2 = 3,
    /// AVX-512F (8 lanes).
    Avx512 = 4,
    /// aarch64 baseline (NEON, 2 lanes).
    Neon = 5,
}

impl Level {
    /// Lower-case name (`scalar`, `sse2`, `avx2`, `avx512`, `neon`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Sse2 => "sse2",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Neon => "neon",
        }
    }
    /// Parse a name as printed by [`Level::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Level::Scalar,
            Level::Sse2,
            Level::Avx2,
            Level::Avx512,
            Level::Neon,
        ]
        .into_iter()
        .find(|l| l.name() == s.trim().to_ascii_lowercase())
    }
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Level::Scalar),
            2 => Some(Level::Sse2),
            3 => Some(Level::Avx2),
            4 => Some(Level::Avx512),
            5 => Some(Level::Neon),
            _ => None,
        }
    }
    /// Whether this CPU can run the level.
    pub fn is_available(self) -> bool {
        available().contains(&self)
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The levels this CPU can run, narrowest first (always includes `Scalar`).
pub fn available() -> Vec<Level> {
    let mut v = vec![Level::Scalar];
    #[cfg(target_arch = "x86_64")]
    {
        v.push(Level::Sse2);
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(Level::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push(Level::Avx512);
        }
    }
    #[cfg(target_arch = "aarch64")]
    v.push(Level::Neon);
    v
}

/// The widest level of this CPU.
pub fn detected() -> Level {
    *available().last().expect("scalar is always available")
}

/// 0 = not yet initialized.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

#[cold]
fn init() -> Level {
    let auto = detected();
    let level = match std::env::var("LATEDECAY_SIMD") {
        Ok(s) => match Level::parse(&s) {
            Some(l) if l.is_available() => l,
            _ => {
                eprintln!(
                    "latedecay: LATEDECAY_SIMD={s} is not available on this CPU (available: {}); using {auto}",
                    available().iter().map(|l| l.name()).collect::<Vec<_>>().join(", ")
                );
                auto
            }
        },
        Err(_) => auto,
    };
    // Another thread may have initialized or forced a level meanwhile: keep it.
    match ACTIVE.compare_exchange(0, level as u8, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => level,
        Err(v) => Level::from_u8(v).unwrap_or(level),
    }
}

/// The level the kernels currently use.
#[inline(always)]
pub fn active() -> Level {
    match Level::from_u8(ACTIVE.load(Ordering::Relaxed)) {
        Some(l) => l,
        None => init(),
    }
}

/// Force a level (`None`: back to the auto-detected one). Process-wide; results
/// do not depend on it (that is what the tests check). Errors if the CPU
/// cannot run the level.
pub fn set_dispatch(level: Option<Level>) -> Result<(), String> {
    let l = level.unwrap_or_else(detected);
    if !l.is_available() {
        return Err(format!("SIMD level {l} is not available on this CPU"));
    }
    ACTIVE.store(l as u8, Ordering::Relaxed);
    Ok(())
}

/// The fixed reduction of the 8 accumulator lanes.
#[inline(always)]
pub(crate) fn reduce_lanes(acc: [f64; LANES]) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// The portable kernels. `STRICT` routes every product through
/// `black_box`, which keeps the scalar reference out of vector registers
/// (same operations, same order, so the same bits).
mod portable {
    use super::{reduce_lanes, LANES};
    use std::hint::black_box;

    #[inline(always)]
    fn keep<const STRICT: bool>(x: f64) -> f64 {
        if STRICT {
            black_box(x)
        } else {
            x
        }
    }

    /// Σ a_i b_i in the fixed 8-lane order.
    #[inline(always)]
    pub fn dot<const STRICT: bool>(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0.0f64; LANES];
        let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (ar, br) = (ac.remainder(), bc.remainder());
        for (x, y) in ac.zip(bc) {
            for l in 0..LANES {
                acc[l] += keep::<STRICT>(x[l] * y[l]);
            }
        }
        let mut tail = 0.0;
        for (x, y) in ar.iter().zip(br) {
            tail += keep::<STRICT>(x * y);
        }
        reduce_lanes(acc) + tail
    }

    /// Σ a_i b_i c_i (products as (a_i b_i) c_i) in the fixed 8-lane order.
    #[inline(always)]
    pub fn triple_dot<const STRICT: bool>(a: &[f64], b: &[f64], c: &[f64]) -> f64 {
        let n = a.len().min(b.len()).min(c.len());
        let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
        let mut acc = [0.0f64; LANES];
        let (ac, bc, cc) = (
            a.chunks_exact(LANES),
            b.chunks_exact(LANES),
            c.chunks_exact(LANES),
        );
        let (ar, br, cr) = (ac.remainder(), bc.remainder(), cc.remainder());
        for ((x, y), z) in ac.zip(bc).zip(cc) {
            for l in 0..LANES {
                acc[l] += keep::<STRICT>(x[l] * y[l]) * z[l];
            }
        }
        let mut tail = 0.0;
        for ((x, y), z) in ar.iter().zip(br).zip(cr) {
            tail += keep::<STRICT>(x * y) * z;
        }
        reduce_lanes(acc) + tail
    }

    /// y_i += α x_i.
    #[inline(always)]
    pub fn axpy<const STRICT: bool>(y: &mut [f64], alpha: f64, x: &[f64]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += keep::<STRICT>(alpha * xi);
        }
    }

    /// Diagonal network, B = 1: w_j = c x_j, u_j −= w_j v_j, v_j −= w_j u_j
    /// (old u_j).
    #[inline(always)]
    pub fn diag_update_scaled<const STRICT: bool>(
        u: &mut [f64],
        v: &mut [f64],
        x: &[f64],
        coef: f64,
    ) {
        let n = u.len().min(v.len()).min(x.len());
        let (u, v, x) = (&mut u[..n], &mut v[..n], &x[..n]);
        for ((uj, vj), xj) in u.iter_mut().zip(v.iter_mut()).zip(x) {
            let w = keep::<STRICT>(coef * xj);
            let (uo, vo) = (*uj, *vj);
            *uj = uo - w * vo;
            *vj = vo - w * uo;
        }
    }

    /// Diagonal network, ∇f scaled into an accumulator:
    /// gu_j += c (v_j x_j), gv_j += c (u_j x_j).
    #[inline(always)]
    pub fn diag_grad_axpy<const STRICT: bool>(
        gu: &mut [f64],
        gv: &mut [f64],
        u: &[f64],
        v: &[f64],
        x: &[f64],
        c: f64,
    ) {
        let n = super::min_len(&[gu.len(), gv.len(), u.len(), v.len(), x.len()]);
        for j in 0..n {
            gu[j] += keep::<STRICT>(c * keep::<STRICT>(v[j] * x[j]));
            gv[j] += keep::<STRICT>(c * keep::<STRICT>(u[j] * x[j]));
        }
    }

    /// Diagonal network, given direction w: u_j −= w_j v_j, v_j −= w_j u_j.
    #[inline(always)]
    pub fn diag_update<const STRICT: bool>(u: &mut [f64], v: &mut [f64], w: &[f64]) {
        let n = u.len().min(v.len()).min(w.len());
        let (u, v, w) = (&mut u[..n], &mut v[..n], &w[..n]);
        for ((uj, vj), wj) in u.iter_mut().zip(v.iter_mut()).zip(w) {
            let (uo, vo) = (*uj, *vj);
            *uj = uo - keep::<STRICT>(wj * vo);
            *vj = vo - wj * uo;
        }
    }
}

/// The common length of a kernel's slices: every kernel reads and writes
/// that many elements of each.
pub(crate) fn min_len(lens: &[usize]) -> usize {
    lens.iter().copied().min().unwrap_or(0)
}

/// The per-level slice kernels: each is [`kernels`]' generic kernel compiled
/// with the level's target feature and the level's vector type, so the slice
/// API and `dynamics::sgd`'s whole-loop fast path run the same code.
#[cfg(target_arch = "x86_64")]
mod x86 {
    macro_rules! x86_kernels {
        ($modname:ident, $feat:literal, $vec:ty) => {
            pub mod $modname {
                use crate::simd::kernels as k;
                type V = $vec;

                // SAFETY (every function): the caller checked the feature;
                // the kernels read/write min-length elements.
                #[target_feature(enable = $feat)]
                pub unsafe fn dot(a: &[f64], b: &[f64]) -> f64 {
                    k::dot::<V>(a.as_ptr(), b.as_ptr(), a.len().min(b.len()))
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn triple_dot(a: &[f64], b: &[f64], c: &[f64]) -> f64 {
                    let n = a.len().min(b.len()).min(c.len());
                    k::triple_dot::<V>(a.as_ptr(), b.as_ptr(), c.as_ptr(), n)
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
                    k::axpy::<V>(y.as_mut_ptr(), alpha, x.as_ptr(), y.len().min(x.len()))
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn diag_update_scaled(
                    u: &mut [f64],
                    v: &mut [f64],
                    x: &[f64],
                    coef: f64,
                ) {
                    let n = u.len().min(v.len()).min(x.len());
                    let (pu, pv, px) = (u.as_mut_ptr(), v.as_mut_ptr(), x.as_ptr());
                    k::diagonal_update_scaled::<V>(pu, pv, px, coef, n);
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn diag_grad_axpy(
                    gu: &mut [f64],
                    gv: &mut [f64],
                    u: &[f64],
                    v: &[f64],
                    x: &[f64],
                    c: f64,
                ) {
                    let n = crate::simd::min_len(&[gu.len(), gv.len(), u.len(), v.len(), x.len()]);
                    let (pgu, pgv) = (gu.as_mut_ptr(), gv.as_mut_ptr());
                    k::diagonal_grad_axpy::<V>(pgu, pgv, u.as_ptr(), v.as_ptr(), x.as_ptr(), c, n)
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn diag_update(u: &mut [f64], v: &mut [f64], w: &[f64]) {
                    let n = u.len().min(v.len()).min(w.len());
                    k::diagonal_update::<V>(u.as_mut_ptr(), v.as_mut_ptr(), w.as_ptr(), n)
                }
            }
        };
    }

    x86_kernels!(avx512, "avx512f", std::arch::x86_64::__m512d);
    x86_kernels!(avx2, "avx2", std::arch::x86_64::__m256d);
    x86_kernels!(sse2, "sse2", std::arch::x86_64::__m128d);
}

/// A vector of `W` f64 lanes with separate (never fused) multiplies, adds and
/// subtractions: the building block of whole-loop kernels that are
/// monomorphized per level (`dynamics::sgd`'s fast path, the lockstep
/// kernel). `f64` itself is the 1-lane portable vector.
///
/// # Safety
/// Every method is `unsafe`: it may only run inside a function compiled with
/// the level's target feature (`#[target_feature(enable = …)]`, with the
/// feature detected at run time), and loads/stores read/write `W` elements.
pub(crate) trait Lanes: Copy {
    /// Lanes per vector.
    const W: usize;
    /// Load `W` elements (unaligned).
    unsafe fn load(p: *const f64) -> Self;
    /// Store `W` elements (unaligned).
    unsafe fn store(self, p: *mut f64);
    /// Every lane `x`.
    unsafe fn splat(x: f64) -> Self;
    /// Lane-wise `self + o`.
    unsafe fn add(self, o: Self) -> Self;
    /// Lane-wise `self − o`.
    unsafe fn sub(self, o: Self) -> Self;
    /// Lane-wise `self · o`.
    unsafe fn mul(self, o: Self) -> Self;
    /// The fixed 8-lane reduction of `LANES / W` accumulators.
    #[inline(always)]
    unsafe fn reduce(acc: &[Self; LANES]) -> f64 {
        let mut lanes = [0.0f64; LANES];
        for (r, a) in acc.iter().take(LANES / Self::W).enumerate() {
            a.store(lanes.as_mut_ptr().add(r * Self::W));
        }
        reduce_lanes(lanes)
    }
    /// [`Lanes::reduce`] in every lane, so that a B = 1 step computes its
    /// coefficient already splatted (no broadcast on the critical path).
    /// Lane 0 makes the same additions in the same order; the other lanes add
    /// the same pairs with the operands swapped, which IEEE 754 addition
    /// rounds to the same bits (only a NaN's payload may differ, and a NaN
    /// residual stops the run before any lane is used).
    #[inline(always)]
    unsafe fn reduce_splat(acc: &[Self; LANES]) -> Self {
        Self::splat(Self::reduce(acc))
    }
    /// Lane 0.
    unsafe fn first(self) -> f64;
    /// Lane-wise −self (the sign flipped, as f64 negation).
    unsafe fn neg(self) -> Self;
}

impl Lanes for f64 {
    #[inline(always)]
    unsafe fn first(self) -> f64 {
        self
    }
    #[inline(always)]
    unsafe fn neg(self) -> Self {
        -self
    }
    const W: usize = 1;
    #[inline(always)]
    unsafe fn load(p: *const f64) -> Self {
        *p
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64) {
        *p = self
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> Self {
        x
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        self - o
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        self * o
    }
}

/// The whole-slice f64 kernels, generic over the vector type ([`Lanes`]):
/// one source for every level, used by the dispatched slice functions of
/// this module and by `dynamics::sgd`'s fast path and lockstep kernel. The
/// fused B = 1 steps (`*_update_dot`) also return the next step's forward
/// product, in every lane.
///
/// SAFETY (every function): called from a function compiled with `T`'s
/// target feature; the pointers address `d` valid elements.
pub(crate) mod kernels {
    use super::{Lanes, LANES};

    /// The one summation order of every reduction: for each block of 8
    /// elements from `i`, `lane(o)` of the vector at `o = i + r·W` is added to
    /// accumulator `r` (lane l takes the elements 8m + l); then `scalar(j)`
    /// for j = m…d−1 in index order, added after the lane reduction. Without
    /// `SUM` only the closures' stores remain (the update-only kernels).
    #[inline(always)]
    unsafe fn ordered_sum<T: Lanes, const SUM: bool>(
        d: usize,
        lane: impl FnMut(usize) -> T,
        scalar: impl FnMut(usize) -> f64,
    ) -> f64 {
        let (acc, tail) = ordered_parts::<T, SUM>(d, lane, scalar);
        if SUM {
            T::reduce(&acc) + tail
        } else {
            0.0
        }
    }

    /// [`ordered_sum`] (with the sum) in every lane ([`Lanes::reduce_splat`]).
    #[inline(always)]
    unsafe fn ordered_sum_splat<T: Lanes>(
        d: usize,
        lane: impl FnMut(usize) -> T,
        scalar: impl FnMut(usize) -> f64,
    ) -> T {
        let (acc, tail) = ordered_parts::<T, true>(d, lane, scalar);
        T::reduce_splat(&acc).add(T::splat(tail))
    }

    /// The accumulators and the tail's sum of [`ordered_sum`].
    #[inline(always)]
    unsafe fn ordered_parts<T: Lanes, const SUM: bool>(
        d: usize,
        mut lane: impl FnMut(usize) -> T,
        scalar: impl FnMut(usize) -> f64,
    ) -> ([T; LANES], f64) {
        let m = d / LANES * LANES;
        let mut acc = [T::splat(0.0); LANES];
        let mut i = 0;
        while i < m {
            block::<T, SUM>(i, &mut acc, &mut lane);
            i += LANES;
        }
        (acc, tail_sum::<SUM>(m, d, scalar))
    }

    /// One 8-element block of [`ordered_sum`].
    #[inline(always)]
    unsafe fn block<T: Lanes, const SUM: bool>(
        i: usize,
        acc: &mut [T; LANES],
        lane: &mut impl FnMut(usize) -> T,
    ) {
        for (r, acc_r) in acc.iter_mut().take(LANES / T::W).enumerate() {
            let t = lane(i + r * T::W);
            if SUM {
                *acc_r = acc_r.add(t);
            }
        }
    }

    /// The tail m..d of [`ordered_sum`], in index order.
    #[inline(always)]
    fn tail_sum<const SUM: bool>(m: usize, d: usize, mut scalar: impl FnMut(usize) -> f64) -> f64 {
        let mut tail = 0.0;
        for j in m..d {
            let t = scalar(j);
            if SUM {
                tail += t;
            }
        }
        tail
    }

    /// Σ a_j b_j in the fixed 8-lane order.
    #[inline(always)]
    pub unsafe fn dot<T: Lanes>(a: *const f64, b: *const f64, d: usize) -> f64 {
        ordered_sum::<T, true>(
            d,
            |o| T::load(a.add(o)).mul(T::load(b.add(o))),
            |j| *a.add(j) * *b.add(j),
        )
    }

    /// Σ (a_j b_j) c_j in the fixed 8-lane order.
    #[inline(always)]
    pub unsafe fn triple_dot<T: Lanes>(
        a: *const f64,
        b: *const f64,
        c: *const f64,
        d: usize,
    ) -> f64 {
        ordered_sum::<T, true>(
            d,
            |o| {
                T::load(a.add(o))
                    .mul(T::load(b.add(o)))
                    .mul(T::load(c.add(o)))
            },
            |j| *a.add(j) * *b.add(j) * *c.add(j),
        )
    }

    /// w = c x; u −= w ⊙ v, v −= w ⊙ u (old u, v) (the slice
    /// `diag_update_scaled`; the last step of a B = 1 segment).
    #[inline(always)]
    pub unsafe fn diagonal_update_scaled<T: Lanes>(
        u: *mut f64,
        v: *mut f64,
        x: *const f64,
        coef: f64,
        d: usize,
    ) {
        let c = T::splat(coef);
        ordered_sum::<T, false>(
            d,
            |o| diagonal_lane(u, v, x, c, x, o),
            |j| diagonal_lane(u, v, x, coef, x, j),
        );
    }

    /// [`diagonal_update_scaled`] fused with the next forward product
    /// Σ (u_j v_j) xn_j of the new u, v (`triple_dot`'s order), taking the
    /// coefficient splatted (`c`, lane 0 = `coef`) and returning the product
    /// in every lane (the B = 1 fast path's step).
    #[inline(always)]
    pub unsafe fn diagonal_update_dot<T: Lanes>(
        u: *mut f64,
        v: *mut f64,
        x: *const f64,
        c: T,
        coef: f64,
        xn: *const f64,
        d: usize,
    ) -> T {
        ordered_sum_splat::<T>(
            d,
            |o| diagonal_lane(u, v, x, c, xn, o),
            |j| diagonal_lane(u, v, x, coef, xn, j),
        )
    }

    /// The vector at `o` of [`diagonal_update_dot`] (`c` = coef splatted; a
    /// 1-lane `f64` for the tail): stores the new u, v, returns (u v) xn.
    #[inline(always)]
    unsafe fn diagonal_lane<T: Lanes>(
        u: *mut f64,
        v: *mut f64,
        x: *const f64,
        c: T,
        xn: *const f64,
        o: usize,
    ) -> T {
        let w = c.mul(T::load(x.add(o)));
        let (uo, vo) = (T::load(u.add(o)), T::load(v.add(o)));
        let (un, vn) = (uo.sub(w.mul(vo)), vo.sub(w.mul(uo)));
        un.store(u.add(o));
        vn.store(v.add(o));
        un.mul(vn).mul(T::load(xn.add(o)))
    }

    /// The 8 elements from `i` of [`diagonal_update_dot`]: the building block
    /// the seeds-in-lockstep kernel interleaves across seeds, so both paths
    /// run the same operations.
    #[inline(always)]
    pub unsafe fn diagonal_block<T: Lanes, const NEXT: bool>(
        u: *mut f64,
        v: *mut f64,
        x: *const f64,
        c: T,
        xn: *const f64,
        i: usize,
        acc: &mut [T; LANES],
    ) {
        block::<T, NEXT>(i, acc, &mut |o| diagonal_lane(u, v, x, c, xn, o));
    }

    /// The elements m..d of [`diagonal_update_dot`], in index order; with
    /// `NEXT`, their sum of (u_j v_j) xn_j (added after the lane reduction).
    #[inline(always)]
    pub unsafe fn diagonal_tail<const NEXT: bool>(
        u: *mut f64,
        v: *mut f64,
        x: *const f64,
        coef: f64,
        xn: *const f64,
        m: usize,
        d: usize,
    ) -> f64 {
        tail_sum::<NEXT>(m, d, |j| diagonal_lane(u, v, x, coef, xn, j))
    }

    /// θ += neg x (as [`axpy`]) fused with the next forward product
    /// Σ θ_j xn_j of the new θ (`dot`'s order), taking `neg` splatted (`al`,
    /// lane 0 = `neg`) and returning the product in every lane (the B = 1
    /// fast path's step).
    #[inline(always)]
    pub unsafe fn linear_update_dot<T: Lanes>(
        theta: *mut f64,
        x: *const f64,
        al: T,
        neg: f64,
        xn: *const f64,
        d: usize,
    ) -> T {
        ordered_sum_splat::<T>(
            d,
            |o| linear_lane(theta, x, al, xn, o),
            |j| linear_lane(theta, x, neg, xn, j),
        )
    }

    /// The vector at `o` of [`linear_update_dot`]: stores the new θ, returns
    /// θ xn.
    #[inline(always)]
    unsafe fn linear_lane<T: Lanes>(
        theta: *mut f64,
        x: *const f64,
        al: T,
        xn: *const f64,
        o: usize,
    ) -> T {
        let t = T::load(theta.add(o)).add(al.mul(T::load(x.add(o))));
        t.store(theta.add(o));
        t.mul(T::load(xn.add(o)))
    }

    /// y += α x.
    #[inline(always)]
    pub unsafe fn axpy<T: Lanes>(y: *mut f64, alpha: f64, x: *const f64, d: usize) {
        let m = d / T::W * T::W;
        let al = T::splat(alpha);
        let mut i = 0;
        while i < m {
            T::load(y.add(i))
                .add(al.mul(T::load(x.add(i))))
                .store(y.add(i));
            i += T::W;
        }
        for j in m..d {
            *y.add(j) += alpha * *x.add(j);
        }
    }

    /// gu += c·(v ⊙ x), gv += c·(u ⊙ x).
    #[inline(always)]
    pub unsafe fn diagonal_grad_axpy<T: Lanes>(
        gu: *mut f64,
        gv: *mut f64,
        u: *const f64,
        v: *const f64,
        x: *const f64,
        c: f64,
        d: usize,
    ) {
        let m = d / T::W * T::W;
        let cv = T::splat(c);
        let mut i = 0;
        while i < m {
            let xv = T::load(x.add(i));
            let (vx, ux) = (T::load(v.add(i)).mul(xv), T::load(u.add(i)).mul(xv));
            T::load(gu.add(i)).add(cv.mul(vx)).store(gu.add(i));
            T::load(gv.add(i)).add(cv.mul(ux)).store(gv.add(i));
            i += T::W;
        }
        for j in m..d {
            *gu.add(j) += c * (*v.add(j) * *x.add(j));
            *gv.add(j) += c * (*u.add(j) * *x.add(j));
        }
    }

    /// u −= w ⊙ v, v −= w ⊙ u (old u, v).
    #[inline(always)]
    pub unsafe fn diagonal_update<T: Lanes>(u: *mut f64, v: *mut f64, w: *const f64, d: usize) {
        let m = d / T::W * T::W;
        let mut i = 0;
        while i < m {
            let wv = T::load(w.add(i));
            let (uo, vo) = (T::load(u.add(i)), T::load(v.add(i)));
            uo.sub(wv.mul(vo)).store(u.add(i));
            vo.sub(wv.mul(uo)).store(v.add(i));
            i += T::W;
        }
        for j in m..d {
            let (uo, vo, wj) = (*u.add(j), *v.add(j), *w.add(j));
            *u.add(j) = uo - wj * vo;
            *v.add(j) = vo - wj * uo;
        }
    }
}

/// [`reduce_lanes`] in registers (no store and reload on the critical path of
/// a step): with s_i = a_i + a_{i+4}, the result is (s0 + s1) + (s2 + s3),
/// the same additions in the same order.
#[cfg(target_arch = "x86_64")]
mod x86_reduce {
    use super::LANES;
    use std::arch::x86_64::*;

    /// (s0 + s1) + (s2 + s3) of `lo` = [s0, s1], `hi` = [s2, s3].
    #[inline(always)]
    unsafe fn finish(lo: __m128d, hi: __m128d) -> f64 {
        let t = _mm_add_pd(_mm_unpacklo_pd(lo, hi), _mm_unpackhi_pd(lo, hi));
        _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)))
    }
    #[inline(always)]
    pub unsafe fn avx512(acc: &[__m512d; LANES]) -> f64 {
        let s = _mm256_add_pd(
            _mm512_castpd512_pd256(acc[0]),
            _mm512_extractf64x4_pd::<1>(acc[0]),
        );
        finish(_mm256_castpd256_pd128(s), _mm256_extractf128_pd::<1>(s))
    }
    #[inline(always)]
    pub unsafe fn avx2(acc: &[__m256d; LANES]) -> f64 {
        let s = _mm256_add_pd(acc[0], acc[1]);
        finish(_mm256_castpd256_pd128(s), _mm256_extractf128_pd::<1>(s))
    }
    #[inline(always)]
    pub unsafe fn sse2(acc: &[__m128d; LANES]) -> f64 {
        finish(_mm_add_pd(acc[0], acc[2]), _mm_add_pd(acc[1], acc[3]))
    }

    /// [`avx512`] in every lane: s_i in lanes i and i + 4 (the 256-bit
    /// halves swapped and added), then the pairs (s0 + s1), (s2 + s3) (lanes
    /// swapped within 128 bits), then their sum (128-bit blocks swapped).
    #[inline(always)]
    pub unsafe fn avx512_splat(acc: &[__m512d; LANES]) -> __m512d {
        let a = acc[0];
        let s = _mm512_add_pd(a, _mm512_shuffle_f64x2::<0x4E>(a, a));
        let p = _mm512_add_pd(s, _mm512_permute_pd::<0x55>(s));
        _mm512_add_pd(p, _mm512_shuffle_f64x2::<0xB1>(p, p))
    }
    /// [`avx2`] in every lane (the same steps as [`avx512_splat`]).
    #[inline(always)]
    pub unsafe fn avx2_splat(acc: &[__m256d; LANES]) -> __m256d {
        let s = _mm256_add_pd(acc[0], acc[1]);
        let p = _mm256_add_pd(s, _mm256_permute_pd::<0x5>(s));
        _mm256_add_pd(p, _mm256_permute2f128_pd::<0x01>(p, p))
    }
    /// [`sse2`] in both lanes.
    #[inline(always)]
    pub unsafe fn sse2_splat(acc: &[__m128d; LANES]) -> __m128d {
        let (s01, s23) = (_mm_add_pd(acc[0], acc[2]), _mm_add_pd(acc[1], acc[3]));
        let lo = _mm_add_pd(s01, _mm_shuffle_pd::<0b01>(s01, s01));
        let hi = _mm_add_pd(s23, _mm_shuffle_pd::<0b01>(s23, s23));
        _mm_add_pd(lo, hi)
    }

    #[inline(always)]
    pub unsafe fn avx512_neg(a: __m512d) -> __m512d {
        let sign = _mm512_set1_epi64(i64::MIN);
        _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), sign))
    }
    #[inline(always)]
    pub unsafe fn avx2_neg(a: __m256d) -> __m256d {
        _mm256_xor_pd(a, _mm256_set1_pd(-0.0))
    }
    #[inline(always)]
    pub unsafe fn sse2_neg(a: __m128d) -> __m128d {
        _mm_xor_pd(a, _mm_set1_pd(-0.0))
    }
}

#[cfg(target_arch = "x86_64")]
macro_rules! x86_lanes {
    ($vec:ty, $w:expr, $load:ident, $store:ident, $set1:ident, $add:ident, $sub:ident, $mul:ident, $first:ident, $reduce:ident, $reduce_splat:ident, $neg:ident) => {
        impl Lanes for $vec {
            const W: usize = $w;
            #[inline(always)]
            unsafe fn reduce(acc: &[Self; LANES]) -> f64 {
                x86_reduce::$reduce(acc)
            }
            #[inline(always)]
            unsafe fn reduce_splat(acc: &[Self; LANES]) -> Self {
                x86_reduce::$reduce_splat(acc)
            }
            #[inline(always)]
            unsafe fn first(self) -> f64 {
                std::arch::x86_64::$first(self)
            }
            #[inline(always)]
            unsafe fn neg(self) -> Self {
                x86_reduce::$neg(self)
            }
            #[inline(always)]
            unsafe fn load(p: *const f64) -> Self {
                std::arch::x86_64::$load(p)
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut f64) {
                std::arch::x86_64::$store(p, self)
            }
            #[inline(always)]
            unsafe fn splat(x: f64) -> Self {
                std::arch::x86_64::$set1(x)
            }
            #[inline(always)]
            unsafe fn add(self, o: Self) -> Self {
                std::arch::x86_64::$add(self, o)
            }
            #[inline(always)]
            unsafe fn sub(self, o: Self) -> Self {
                std::arch::x86_64::$sub(self, o)
            }
            #[inline(always)]
            unsafe fn mul(self, o: Self) -> Self {
                std::arch::x86_64::$mul(self, o)
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
x86_lanes!(
    std::arch::x86_64::__m512d,
    8,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_set1_pd,
    _mm512_add_pd,
    _mm512_sub_pd,
    _mm512_mul_pd,
    _mm512_cvtsd_f64,
    avx512,
    avx512_splat,
    avx512_neg
);
#[cfg(target_arch = "x86_64")]
x86_lanes!(
    std::arch::x86_64::__m256d,
    4,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_set1_pd,
    _mm256_add_pd,
    _mm256_sub_pd,
    _mm256_mul_pd,
    _mm256_cvtsd_f64,
    avx2,
    avx2_splat,
    avx2_neg
);
#[cfg(target_arch = "x86_64")]
x86_lanes!(
    std::arch::x86_64::__m128d,
    2,
    _mm_loadu_pd,
    _mm_storeu_pd,
    _mm_set1_pd,
    _mm_add_pd,
    _mm_sub_pd,
    _mm_mul_pd,
    _mm_cvtsd_f64,
    sse2,
    sse2_splat,
    sse2_neg
);

/// Dispatch one kernel on the active level. The AVX levels are only ever
/// active when the CPU reported them (see [`available`] and [`set_dispatch`]).
macro_rules! dispatch {
    ($name:ident ( $($arg:expr),* )) => {{
        match active() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Avx512 is only active when avx512f was detected.
            Level::Avx512 => unsafe { x86::avx512::$name($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Avx2 is only active when avx2 was detected.
            Level::Avx2 => unsafe { x86::avx2::$name($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE2 is part of the x86-64 baseline.
            Level::Sse2 => unsafe { x86::sse2::$name($($arg),*) },
            Level::Scalar => portable::$name::<true>($($arg),*),
            _ => portable::$name::<false>($($arg),*),
        }
    }};
}

/// `Σ a_i b_i` (over the common length) in the fixed 8-lane order.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    dispatch!(dot(a, b))
}

/// `Σ (a_i b_i) c_i` in the fixed 8-lane order.
#[inline]
pub fn triple_dot(a: &[f64], b: &[f64], c: &[f64]) -> f64 {
    dispatch!(triple_dot(a, b, c))
}

/// `y_i += α x_i`.
#[inline]
pub fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    dispatch!(axpy(y, alpha, x))
}

/// Diagonal-network SGD update for one sample: `w = coef·x`,
/// `u −= w ⊙ v`, `v −= w ⊙ u` (all with the old u, v).
#[inline]
pub fn diag_update_scaled(u: &mut [f64], v: &mut [f64], x: &[f64], coef: f64) {
    dispatch!(diag_update_scaled(u, v, x, coef))
}

/// Diagonal-network SGD update with a direction `w`: `u −= w ⊙ v`,
/// `v −= w ⊙ u` (old u, v).
#[inline]
pub fn diag_update(u: &mut [f64], v: &mut [f64], w: &[f64]) {
    dispatch!(diag_update(u, v, w))
}

/// Diagonal-network gradient of one sample scaled into an accumulator:
/// `gu += c·(v ⊙ x)`, `gv += c·(u ⊙ x)` (the products of ∇f rounded first).
#[inline]
pub fn diag_grad_axpy(gu: &mut [f64], gv: &mut [f64], u: &[f64], v: &[f64], x: &[f64], c: f64) {
    dispatch!(diag_grad_axpy(gu, gv, u, v, x, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lane of `reduce_splat`, `reduce`, and `neg` of `T` on `acc`
    /// (lanes 8m + l of the accumulators as the kernels lay them out).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn splat_lanes<T: Lanes>(acc: &[f64; LANES]) -> (Vec<u64>, u64, Vec<u64>) {
        let mut v = [T::splat(0.0); LANES];
        for (r, a) in v.iter_mut().take(LANES / T::W).enumerate() {
            *a = T::load(acc.as_ptr().add(r * T::W));
        }
        let (mut out, mut neg) = ([0.0f64; LANES], [0.0f64; LANES]);
        T::reduce_splat(&v).store(out.as_mut_ptr());
        for (r, a) in v.iter().take(LANES / T::W).enumerate() {
            a.neg().store(neg.as_mut_ptr().add(r * T::W));
        }
        assert_eq!(T::reduce_splat(&v).first().to_bits(), out[0].to_bits());
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        (bits(&out[..T::W]), T::reduce(&v).to_bits(), bits(&neg))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn splat_lanes_avx2(acc: &[f64; LANES]) -> (Vec<u64>, u64, Vec<u64>) {
        splat_lanes::<std::arch::x86_64::__m256d>(acc)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn splat_lanes_avx512(acc: &[f64; LANES]) -> (Vec<u64>, u64, Vec<u64>) {
        splat_lanes::<std::arch::x86_64::__m512d>(acc)
    }

    /// The B = 1 fast path computes its coefficient from `reduce_splat`: each
    /// lane must be the fixed-order reduction's bits (signed zeros, ±∞,
    /// subnormals, cancellations included), and `neg` must flip only signs.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn reduce_splat_is_the_fixed_reduction_in_every_lane() {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            -3.5,
            1e-16,
            5e-324,
            -2.5e-310,
            9007199254740993.0,
            1e308,
            -1e308,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let mut checked = 0;
        for case in 0..20_000 {
            let mut acc = [0.0f64; LANES];
            for a in acc.iter_mut() {
                let k = next();
                *a = if case % 2 == 0 {
                    special[(k % special.len() as u64) as usize]
                } else {
                    (k as f64 / 2f64.powi(31) - 0.5) * 2f64.powi((k % 41) as i32 - 20)
                };
            }
            let want = reduce_lanes(acc);
            if want.is_nan() {
                continue; // a NaN residual stops the run before its lanes are used
            }
            let neg_want: Vec<u64> = acc.iter().map(|a| (-a).to_bits()).collect();
            let mut levels: Vec<(Vec<u64>, u64, Vec<u64>)> = Vec::new();
            // SAFETY: SSE2 is the x86-64 baseline; the others run only when detected.
            unsafe {
                levels.push(splat_lanes::<std::arch::x86_64::__m128d>(&acc));
                if std::arch::is_x86_feature_detected!("avx2") {
                    levels.push(splat_lanes_avx2(&acc));
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    levels.push(splat_lanes_avx512(&acc));
                }
            }
            for (lanes, reduced, neg) in levels {
                assert_eq!(reduced, want.to_bits(), "reduce of {acc:?}");
                assert!(
                    lanes.iter().all(|&l| l == want.to_bits()),
                    "reduce_splat of {acc:?}: {lanes:x?}, want {:x}",
                    want.to_bits()
                );
                assert_eq!(neg, neg_want, "neg of {acc:?}");
            }
            checked += 1;
        }
        assert!(checked > 15_000, "only {checked} finite cases");
    }

    #[test]
    fn parse_names() {
        for l in available() {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
        assert_eq!(Level::parse("AVX2"), Some(Level::Avx2));
        assert_eq!(Level::parse("sse4"), None);
    }

    #[test]
    fn kernels_agree_bitwise_with_the_reference() {
        let n = 203;
        let a: Vec<f64> = (0..n)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
            .collect();
        let b: Vec<f64> = (0..n)
            .map(|i| ((i * 53 % 97) as f64 - 40.0) / 3.0)
            .collect();
        let c: Vec<f64> = (0..n)
            .map(|i| ((i * 11 % 89) as f64 - 44.0) / 13.0)
            .collect();
        for len in [0, 1, 7, 8, 9, 100, 203] {
            let (a, b, c) = (&a[..len], &b[..len], &c[..len]);
            let rd = portable::dot::<true>(a, b).to_bits();
            let rt = portable::triple_dot::<true>(a, b, c).to_bits();
            let run = |f: &dyn Fn() -> u64| f();
            let grad = |f: &dyn Fn(&mut [f64], &mut [f64])| {
                let (mut gu, mut gv) = (b.to_vec(), c.to_vec());
                f(&mut gu, &mut gv);
                gu.iter()
                    .chain(&gv)
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            let rg = grad(&|gu, gv| portable::diag_grad_axpy::<true>(gu, gv, a, c, b, -0.37));
            for l in available() {
                set_dispatch(Some(l)).unwrap();
                assert_eq!(run(&|| dot(a, b).to_bits()), rd, "dot {l} len {len}");
                assert_eq!(triple_dot(a, b, c).to_bits(), rt, "triple {l} len {len}");
                let got = grad(&|gu, gv| diag_grad_axpy(gu, gv, a, c, b, -0.37));
                assert_eq!(got, rg, "diag_grad_axpy {l} len {len}");
            }
        }
        set_dispatch(None).unwrap();
    }
}
