//! Real scalars: `f64` and an MPFR float of runtime precision ([`Mpfr`]).
//!
//! Everything numerical in the crate (data, models, SGD, manifold tools, moment
//! recursions) is generic over [`Real`]. The trait is built on `Clone` and on
//! in-place arithmetic by reference, not on `Copy`, so that `rug::Float`
//! (which owns heap limbs) fits and the hot loops allocate nothing.
//!
//! A value carries its own *context* ([`Real::Ctx`]): `()` for `f64`, the
//! precision in bits for MPFR. New values are created from a context, so a
//! 256-bit computation never silently drops to 53 bits.
//!
//! Random numbers are always drawn in `f64` and converted with
//! [`Real::from_f64`], which is exact for every precision ≥ 53 bits: an f64
//! run and an MPFR run with the same seed follow the same noise path.

use std::fmt::{Debug, Display};
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// MPFR float of runtime precision (the arbitrary-precision scalar).
pub type Mpfr = rug::Float;

/// Smallest MPFR precision accepted: below 53 bits f64 inputs would be rounded.
pub const MIN_PRECISION_BITS: u32 = 53;
/// Largest MPFR precision accepted (about 20 000 decimal digits).
pub const MAX_PRECISION_BITS: u32 = 65_536;

/// Errors for scalar contexts.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScalarError {
    /// Precision outside `[MIN_PRECISION_BITS, MAX_PRECISION_BITS]`.
    #[error("precision = {0} bits is out of range: use {MIN_PRECISION_BITS}..={MAX_PRECISION_BITS} bits (53 = f64)")]
    PrecisionOutOfRange(u32),
}

/// Checked MPFR precision, in bits.
///
/// # Examples
/// ```
/// use latedecay::scalar::Precision;
/// assert_eq!(Precision::new(256).unwrap().bits(), 256);
/// assert!(Precision::new(10).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision(u32);

impl Precision {
    /// Validate a precision in bits.
    pub fn new(bits: u32) -> Result<Self, ScalarError> {
        if (MIN_PRECISION_BITS..=MAX_PRECISION_BITS).contains(&bits) {
            Ok(Self(bits))
        } else {
            Err(ScalarError::PrecisionOutOfRange(bits))
        }
    }
    /// Number of bits.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// Approximate number of correct decimal digits, `bits · log10 2`.
    pub fn decimal_digits(self) -> f64 {
        self.0 as f64 * std::f64::consts::LOG10_2
    }
}

/// A real scalar with in-place arithmetic by reference.
///
/// Implemented for `f64` (context `()`) and [`Mpfr`] (context: precision in bits).
pub trait Real:
    Clone
    + Debug
    + Display
    + std::fmt::LowerExp
    + PartialOrd
    + Send
    + Sync
    + 'static
    + for<'a> AddAssign<&'a Self>
    + for<'a> SubAssign<&'a Self>
    + for<'a> MulAssign<&'a Self>
    + for<'a> DivAssign<&'a Self>
    + AddAssign<f64>
    + SubAssign<f64>
    + MulAssign<f64>
    + DivAssign<f64>
{
    /// What is needed to create a value (`()` or the precision in bits).
    type Ctx: Copy + Debug + PartialEq + Send + Sync + 'static;

    /// Human-readable name of the scalar type ("f64", "mpfr").
    const NAME: &'static str;
    /// Whether the precision can exceed 53 bits.
    const ARBITRARY_PRECISION: bool;

    /// The context of this value.
    fn ctx(&self) -> Self::Ctx;
    /// Exact conversion of an f64 (every f64 is representable at ≥ 53 bits).
    fn from_f64(x: f64, ctx: Self::Ctx) -> Self;
    /// Round to the nearest f64.
    fn to_f64(&self) -> f64;
    /// Precision in bits of this value (53 for f64).
    fn precision_bits(&self) -> u32;
    /// Unit roundoff 2^(1-bits) of a context, as f64 (0 if it underflows).
    fn epsilon(ctx: Self::Ctx) -> f64;
    /// Precision in bits of a context.
    fn ctx_bits(ctx: Self::Ctx) -> u32;

    /// Zero in a context.
    fn zero(ctx: Self::Ctx) -> Self {
        Self::from_f64(0.0, ctx)
    }
    /// One in a context.
    fn one(ctx: Self::Ctx) -> Self {
        Self::from_f64(1.0, ctx)
    }
    /// The same value held at the fewest bits that keep it exactly, where
    /// that makes multiplying by it cheaper: MPFR, a value an f64 holds
    /// exactly, at 53 bits. `None` when there is nothing to gain (f64) or the
    /// value needs more bits. A product with it, rounded once into a value
    /// of the working precision, has the same bits as with the original.
    fn exact_narrow(&self) -> Option<Self> {
        None
    }
    /// `self = other` (keeps `self`'s precision).
    fn assign(&mut self, other: &Self);
    /// `self = x`.
    fn set_f64(&mut self, x: f64);
    /// `self += a · b` (fused in MPFR).
    fn add_mul(&mut self, a: &Self, b: &Self);
    /// `self -= a · b` (fused in MPFR).
    fn sub_mul(&mut self, a: &Self, b: &Self);
    /// `self = a · b`.
    fn set_mul(&mut self, a: &Self, b: &Self);
    /// `self = -self`.
    fn neg_mut(&mut self);
    /// `self = |self|`.
    fn abs_mut(&mut self);
    /// `self = √self`.
    fn sqrt_mut(&mut self);
    /// `self = self²`.
    fn square_mut(&mut self);
    /// `self = exp(self)`.
    fn exp_mut(&mut self);
    /// `self = ln(self)`.
    fn ln_mut(&mut self);
    /// `self = tanh(self)`.
    fn tanh_mut(&mut self);
    /// In-place error function erf (f64: `libm`, musl's erf, within about
    /// 1 ulp; MPFR: correctly rounded).
    fn erf_mut(&mut self);
    /// `self = 1/self`.
    fn recip_mut(&mut self);
    /// Neither NaN nor infinite.
    fn is_finite(&self) -> bool;
    /// Strictly negative.
    fn is_negative(&self) -> bool;
    /// Exactly zero.
    fn is_zero(&self) -> bool;

    /// |self| as a new value.
    fn abs(&self) -> Self {
        let mut a = self.clone();
        a.abs_mut();
        a
    }
    /// √self as a new value.
    fn sqrt(&self) -> Self {
        let mut a = self.clone();
        a.sqrt_mut();
        a
    }
    /// `π` in a context.
    fn pi(ctx: Self::Ctx) -> Self;

    /// The slice as f64 if `Self` is f64 (the f64 whole-loop kernels, e.g.
    /// the fast path of `dynamics::sgd`), `None` otherwise.
    #[inline]
    fn as_f64_slice(x: &[Self]) -> Option<&[f64]> {
        let _ = x;
        None
    }
    /// Mutable [`Real::as_f64_slice`].
    #[inline]
    fn as_f64_slice_mut(x: &mut [Self]) -> Option<&mut [f64]> {
        let _ = x;
        None
    }
    /// `x` as MPFR numbers when `Self` is [`Mpfr`] (SGD's MPFR fast path).
    #[inline]
    fn as_mpfr_slice(x: &[Self]) -> Option<&[Mpfr]> {
        let _ = x;
        None
    }
    /// Mutable [`Real::as_mpfr_slice`].
    #[inline]
    fn as_mpfr_slice_mut(x: &mut [Self]) -> Option<&mut [Mpfr]> {
        let _ = x;
        None
    }

    /// `self += a · b` through the scratch `tmp` (a multiply and an add: in MPFR
    /// this is cheaper than a fused multiply-add, at the cost of one more rounding).
    #[inline]
    fn add_mul_tmp(&mut self, a: &Self, b: &Self, tmp: &mut Self) {
        tmp.set_mul(a, b);
        *self += &*tmp;
    }
    /// `self -= a · b` through the scratch `tmp`.
    #[inline]
    fn sub_mul_tmp(&mut self, a: &Self, b: &Self, tmp: &mut Self) {
        tmp.set_mul(a, b);
        *self -= &*tmp;
    }

    /// `out = Σ a_i b_i`. The f64 version uses 8 independent accumulators so
    /// the loop vectorizes; MPFR uses fused multiply-adds.
    #[inline]
    fn dot_into(out: &mut Self, a: &[Self], b: &[Self]) {
        out.set_f64(0.0);
        for (x, y) in a.iter().zip(b) {
            out.add_mul(x, y);
        }
    }
    /// `out = Σ a_i b_i c_i`, with `tmp` as scratch.
    #[inline]
    fn triple_dot_into(out: &mut Self, a: &[Self], b: &[Self], c: &[Self], tmp: &mut Self) {
        out.set_f64(0.0);
        for ((x, y), z) in a.iter().zip(b).zip(c) {
            tmp.set_mul(x, y);
            *tmp *= z;
            *out += &*tmp;
        }
    }
    /// `y += α · x` (element by element; f64: the dispatched SIMD kernel of
    /// [`crate::simd`], the same bits on every instruction set).
    #[inline]
    fn axpy_into(y: &mut [Self], alpha: &Self, x: &[Self]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            yi.add_mul(alpha, xi);
        }
    }
    /// The diagonal network's ∇f(x; θ) scaled into an accumulator:
    /// `gu += c·(v ⊙ x)`, `gv += c·(u ⊙ x)`, each product rounded, then
    /// `add_mul` (what `axpy_into` does per element; f64: the dispatched SIMD
    /// kernel of [`crate::simd`]).
    #[inline]
    fn diagonal_grad_axpy_into(
        gu: &mut [Self],
        gv: &mut [Self],
        u: &[Self],
        v: &[Self],
        x: &[Self],
        c: &Self,
        tmp: &mut Self,
    ) {
        for ((((gu, gv), uj), vj), xj) in gu.iter_mut().zip(gv).zip(u).zip(v).zip(x) {
            tmp.set_mul(vj, xj);
            gu.add_mul(c, tmp);
            tmp.set_mul(uj, xj);
            gv.add_mul(c, tmp);
        }
    }
    /// The diagonal-network update `u −= w ⊙ v`, `v −= w ⊙ u` (old u, v),
    /// with `w = coef · x` when `coef` is given (`w` then holds x), by
    /// multiplies and subtractions (no fused operations: cheaper in MPFR, and
    /// the f64 kernels of [`crate::simd`] do the same operations).
    #[inline]
    fn diagonal_update_into(
        u: &mut [Self],
        v: &mut [Self],
        w: &[Self],
        coef: Option<&Self>,
        tmps: &mut [Self; 3],
    ) {
        let [wt, t2, t3] = tmps;
        for ((uj, vj), xj) in u.iter_mut().zip(v.iter_mut()).zip(w) {
            let wj = match coef {
                Some(c) => {
                    wt.set_mul(c, xj);
                    &*wt
                }
                None => xj,
            };
            t2.set_mul(wj, vj);
            t3.set_mul(wj, uj);
            *uj -= &*t2;
            *vj -= &*t3;
        }
    }
}

impl Real for f64 {
    type Ctx = ();
    const NAME: &'static str = "f64";
    const ARBITRARY_PRECISION: bool = false;

    #[inline(always)]
    fn ctx(&self) {}
    #[inline(always)]
    fn from_f64(x: f64, _ctx: ()) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(&self) -> f64 {
        *self
    }
    fn precision_bits(&self) -> u32 {
        53
    }
    fn epsilon(_ctx: ()) -> f64 {
        f64::EPSILON
    }
    fn ctx_bits(_ctx: ()) -> u32 {
        53
    }
    #[inline(always)]
    fn assign(&mut self, other: &Self) {
        *self = *other;
    }
    #[inline(always)]
    fn set_f64(&mut self, x: f64) {
        *self = x;
    }
    #[inline(always)]
    fn add_mul(&mut self, a: &Self, b: &Self) {
        // Plain multiply-add: `f64::mul_add` calls libm's fma without the CPU feature.
        *self += a * b;
    }
    #[inline(always)]
    fn sub_mul(&mut self, a: &Self, b: &Self) {
        *self -= a * b;
    }
    #[inline(always)]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        *self = a * b;
    }
    #[inline(always)]
    fn neg_mut(&mut self) {
        *self = -*self;
    }
    #[inline(always)]
    fn abs_mut(&mut self) {
        *self = f64::abs(*self);
    }
    #[inline(always)]
    fn sqrt_mut(&mut self) {
        *self = f64::sqrt(*self);
    }
    #[inline(always)]
    fn square_mut(&mut self) {
        *self *= *self;
    }
    fn exp_mut(&mut self) {
        *self = f64::exp(*self);
    }
    fn ln_mut(&mut self) {
        *self = f64::ln(*self);
    }
    fn tanh_mut(&mut self) {
        *self = f64::tanh(*self);
    }
    fn erf_mut(&mut self) {
        // Not statrs' erf: its approximation intervals disagree by up to
        // 5e-11 at their ends (e.g. at 0.5), a jump finite differences see.
        *self = libm::erf(*self);
    }
    #[inline(always)]
    fn recip_mut(&mut self) {
        *self = 1.0 / *self;
    }
    #[inline(always)]
    fn is_finite(&self) -> bool {
        f64::is_finite(*self)
    }
    #[inline(always)]
    fn is_negative(&self) -> bool {
        *self < 0.0
    }
    #[inline(always)]
    fn is_zero(&self) -> bool {
        *self == 0.0
    }
    fn pi(_ctx: ()) -> Self {
        std::f64::consts::PI
    }
    #[inline(always)]
    fn as_f64_slice(x: &[Self]) -> Option<&[f64]> {
        Some(x)
    }
    #[inline(always)]
    fn as_f64_slice_mut(x: &mut [Self]) -> Option<&mut [f64]> {
        Some(x)
    }
    #[inline(always)]
    fn add_mul_tmp(&mut self, a: &Self, b: &Self, _tmp: &mut Self) {
        *self += a * b;
    }
    #[inline(always)]
    fn sub_mul_tmp(&mut self, a: &Self, b: &Self, _tmp: &mut Self) {
        *self -= a * b;
    }
    #[inline]
    fn dot_into(out: &mut Self, a: &[Self], b: &[Self]) {
        debug_assert_eq!(a.len(), b.len());
        *out = crate::simd::dot(a, b);
    }
    #[inline]
    fn triple_dot_into(out: &mut Self, a: &[Self], b: &[Self], c: &[Self], _tmp: &mut Self) {
        debug_assert!(a.len() == b.len() && b.len() == c.len());
        *out = crate::simd::triple_dot(a, b, c);
    }
    #[inline]
    fn axpy_into(y: &mut [Self], alpha: &Self, x: &[Self]) {
        debug_assert_eq!(y.len(), x.len());
        crate::simd::axpy(y, *alpha, x);
    }
    #[inline]
    fn diagonal_grad_axpy_into(
        gu: &mut [Self],
        gv: &mut [Self],
        u: &[Self],
        v: &[Self],
        x: &[Self],
        c: &Self,
        _tmp: &mut Self,
    ) {
        crate::simd::diag_grad_axpy(gu, gv, u, v, x, *c);
    }
    #[inline]
    fn diagonal_update_into(
        u: &mut [Self],
        v: &mut [Self],
        w: &[Self],
        coef: Option<&Self>,
        _tmps: &mut [Self; 3],
    ) {
        match coef {
            Some(c) => crate::simd::diag_update_scaled(u, v, w, *c),
            None => crate::simd::diag_update(u, v, w),
        }
    }
}

/// `fn name(&mut self) { rug::Float::name(self) }` for each name: the MPFR
/// in-place functions of [`Real`] delegate to rug's of the same name.
macro_rules! rug_in_place {
    ($($name:ident),* $(,)?) => {
        $(
            #[inline]
            fn $name(&mut self) {
                rug::Float::$name(self);
            }
        )*
    };
}

impl Real for Mpfr {
    type Ctx = u32;
    const NAME: &'static str = "mpfr";
    const ARBITRARY_PRECISION: bool = true;

    #[inline]
    fn ctx(&self) -> u32 {
        self.prec()
    }
    #[inline]
    fn from_f64(x: f64, ctx: u32) -> Self {
        debug_assert!(ctx >= MIN_PRECISION_BITS, "MPFR precision below 53 bits");
        rug::Float::with_val(ctx, x)
    }
    #[inline]
    fn to_f64(&self) -> f64 {
        rug::Float::to_f64(self)
    }
    fn precision_bits(&self) -> u32 {
        self.prec()
    }
    fn epsilon(ctx: u32) -> f64 {
        2f64.powi(1 - ctx as i32)
    }
    fn ctx_bits(ctx: u32) -> u32 {
        ctx
    }
    #[inline]
    fn as_mpfr_slice(x: &[Self]) -> Option<&[Mpfr]> {
        Some(x)
    }
    #[inline]
    fn as_mpfr_slice_mut(x: &mut [Self]) -> Option<&mut [Mpfr]> {
        Some(x)
    }
    fn exact_narrow(&self) -> Option<Self> {
        let narrow = rug::Float::with_val(f64::MANTISSA_DIGITS, self);
        (self.prec() > f64::MANTISSA_DIGITS && narrow == *self).then_some(narrow)
    }
    #[inline]
    fn assign(&mut self, other: &Self) {
        rug::Assign::assign(self, other);
    }
    #[inline]
    fn set_f64(&mut self, x: f64) {
        rug::Assign::assign(self, x);
    }
    #[inline]
    fn add_mul(&mut self, a: &Self, b: &Self) {
        *self += a * b;
    }
    #[inline]
    fn sub_mul(&mut self, a: &Self, b: &Self) {
        *self -= a * b;
    }
    #[inline]
    fn set_mul(&mut self, a: &Self, b: &Self) {
        rug::Assign::assign(self, a * b);
    }
    #[inline]
    fn neg_mut(&mut self) {
        rug::ops::NegAssign::neg_assign(self);
    }
    // The in-place functions are rug's correctly rounded ones, same names.
    rug_in_place!(abs_mut, sqrt_mut, square_mut, exp_mut, ln_mut, tanh_mut, erf_mut, recip_mut);
    #[inline]
    fn is_finite(&self) -> bool {
        rug::Float::is_finite(self)
    }
    #[inline]
    fn is_negative(&self) -> bool {
        rug::Float::is_sign_negative(self) && !rug::Float::is_zero(self)
    }
    #[inline]
    fn is_zero(&self) -> bool {
        rug::Float::is_zero(self)
    }
    fn pi(ctx: u32) -> Self {
        rug::Float::with_val(ctx, rug::float::Constant::Pi)
    }
}

/// Convert a slice of f64 exactly into scalars of context `ctx`.
pub fn vec_from_f64<R: Real>(xs: &[f64], ctx: R::Ctx) -> Vec<R> {
    xs.iter().map(|&x| R::from_f64(x, ctx)).collect()
}

/// Round a slice of scalars to f64.
pub fn vec_to_f64<R: Real>(xs: &[R]) -> Vec<f64> {
    xs.iter().map(Real::to_f64).collect()
}

/// Relative difference |a − b| / max(|b|, tiny), computed in the scalar type.
///
/// # Examples
/// ```
/// use latedecay::scalar::relative_difference;
/// assert_eq!(relative_difference(&1.5f64, &1.0f64), 0.5);
/// ```
pub fn relative_difference<R: Real>(a: &R, b: &R) -> f64 {
    let mut diff = a.clone();
    diff -= b;
    diff.abs_mut();
    let scale = b.abs().to_f64().max(f64::MIN_POSITIVE);
    diff.to_f64() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A product with the 53-bit copy of an f64-exact value, rounded into a
    /// value of the working precision, has the bits of the product with the
    /// original (every form the SGD step uses); values that need more bits,
    /// and f64, have no copy.
    #[test]
    fn exact_narrow_products_keep_bits() {
        for bits in [64u32, 256, 1024] {
            let third = Mpfr::with_val(bits, 1) / 3u32;
            assert!(third.exact_narrow().is_none(), "1/3 at {bits} bits");
            for (i, xv) in [0.1f64, -3.75, 1e-300, 12345.678].into_iter().enumerate() {
                let x = Mpfr::from_f64(xv, bits);
                let n = x.exact_narrow().expect("an f64 value is exact in 53 bits");
                assert_eq!((n.prec(), n.to_f64()), (53, xv));
                let a = Mpfr::with_val(bits, i + 7) / 11u32;
                let (mut p, mut q) = (Mpfr::zero(bits), Mpfr::zero(bits));
                p.set_mul(&a, &x);
                q.set_mul(&a, &n);
                assert_eq!(p, q);
                p.add_mul(&a, &x);
                q.add_mul(&a, &n);
                assert_eq!(p, q);
                p.sub_mul(&a, &x);
                q.sub_mul(&a, &n);
                assert_eq!(p, q);
                p *= &x;
                q *= &n;
                assert_eq!((p.prec(), &p), (bits, &q));
            }
        }
        assert!(0.1f64.exact_narrow().is_none());
    }

    #[test]
    fn mpfr_from_f64_is_exact() {
        let x = 0.1f64;
        let m = Mpfr::from_f64(x, 256);
        assert_eq!(m.to_f64(), x);
        let mut back = m.clone();
        back -= x;
        assert!(back.is_zero());
    }

    #[test]
    fn mpfr_fused_ops_keep_precision() {
        let third = {
            let mut t = Mpfr::one(256);
            t /= 3.0;
            t
        };
        let mut acc = Mpfr::zero(256);
        acc.add_mul(&third, &Mpfr::from_f64(3.0, 256));
        acc -= 1.0;
        assert!(acc.to_f64().abs() < 1e-75);
        assert_eq!(acc.precision_bits(), 256);
    }

    #[test]
    fn precision_is_checked() {
        assert_eq!(
            Precision::new(52),
            Err(ScalarError::PrecisionOutOfRange(52))
        );
        assert!(Precision::new(53).is_ok());
    }
}
