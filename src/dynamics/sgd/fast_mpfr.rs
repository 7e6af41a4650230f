//! The MPFR fast path of [`super::run_sgd_recording`]: label-noise / plain
//! SGD with B = 1 on the Diagonal model at a precision of 64·N bits
//! (N = 2..=8 limbs; 128, 192, 256, … 512 bits), the steps between two
//! records run on fixed-size limb arrays instead of MPFR calls.
//!
//! Why by hand: every operation of the generic MPFR step (multiplications,
//! additions, subtractions, all rounded to nearest-even at the working
//! precision) has exactly one correctly rounded result, so any correct
//! implementation gives MPFR's bits. At p = 64·N MPFR runs its generic code
//! (its special-cased paths stop below 64, 128 and 192 bits), and callgrind
//! measured ≈ 340 instructions per operation there (≈ 275k per 256-bit step,
//! 98% inside MPFR and GMP), most of it calls, allocation-free but generic
//! normalisation and rounding logic. No crate offers correctly rounded
//! fixed-limb binary floats with MPFR's semantics; `rug` (MPFR) stays the
//! reference and the fallback.
//!
//! Scope and fallbacks: every value of θ and y is a finite MPFR number whose
//! exponent stays within ±2²⁴ (checked on entry and after every step); then
//! every intermediate of a step stays far inside MPFR's default exponent
//! range ±(2³⁰ − 1), so no operation can overflow or underflow there (see
//! [`EXP_LIMIT`]); X's entries are f64 values (the 53-bit copy the generic
//! loop uses). When a step leaves the exponent bound the segment stops there
//! and the generic loop takes over for the rest of the run. `Level::Scalar`
//! (as for f64) keeps the generic path as the reference:
//! `tests/sgd_fast.rs` compares both bit for bit, and the unit tests below
//! compare every operation with MPFR on random operands, ties and
//! cancellations included.

use rug::float::Special;
use rug::{Assign, Float};

use super::fast::Feed;

/// Largest |exponent| of a state value (u, v, y) the fast path accepts.
/// One step multiplies at most a few such values with f64 factors (|exp| ≤
/// 1100 each): the exponents of every intermediate stay within
/// ±(3·2²⁴ + 10⁴) < 2³⁰ − 1, MPFR's default range, so MPFR never overflows
/// or underflows where the fast path does not.
pub(super) const EXP_LIMIT: i64 = 1 << 24;

/// A finite binary float with an N-limb mantissa: value = (−1)^neg · m ·
/// 2^(e − 64N), m normalised (top bit set) — MPFR's representation (its
/// exponent `e`: x = 0.m · 2^e) — or zero (m = 0, sign kept).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Limbs<const N: usize> {
    /// Little-endian limbs (m[N − 1] the most significant).
    m: [u64; N],
    e: i64,
    neg: bool,
}

impl<const N: usize> Limbs<N> {
    const fn zero(neg: bool) -> Self {
        Self {
            m: [0; N],
            e: 0,
            neg,
        }
    }
    #[inline(always)]
    fn is_zero(&self) -> bool {
        self.m[N - 1] == 0
    }
    /// |exponent| (0 for zero): what [`EXP_LIMIT`] bounds.
    #[inline(always)]
    fn exp_magnitude(&self) -> i64 {
        if self.is_zero() {
            0
        } else {
            self.e.abs()
        }
    }
}

impl Limbs<1> {
    /// The exact f64 value (finite).
    fn from_f64(x: f64) -> Self {
        debug_assert!(x.is_finite());
        let bits = x.to_bits();
        let neg = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        if biased == 0 && frac == 0 {
            return Self::zero(neg);
        }
        let (m, e) = if biased == 0 {
            let lz = frac.leading_zeros() as i64;
            (frac << lz, -1010 - lz)
        } else {
            ((frac | (1u64 << 52)) << 11, biased - 1022)
        };
        Self { m: [m], e, neg }
    }
}

/// Widen an M-limb value exactly to N ≥ M limbs (low limbs zero).
#[inline(always)]
fn widen<const M: usize, const N: usize>(a: &Limbs<M>) -> Limbs<N> {
    let mut m = [0u64; N];
    m[N - M..].copy_from_slice(&a.m);
    Limbs {
        m,
        e: a.e,
        neg: a.neg,
    }
}

/// Round the N limbs `kept` (normalised) to nearest-even given the guard bit
/// (the first bit below) and whether any bit below it is set.
#[inline(always)]
fn round_nearest_even<const N: usize>(
    mut kept: [u64; N],
    mut e: i64,
    guard: bool,
    sticky: bool,
    neg: bool,
) -> Limbs<N> {
    if guard && (sticky || kept[0] & 1 == 1) {
        let mut carry = true;
        for limb in kept.iter_mut() {
            let (s, c) = limb.overflowing_add(carry as u64);
            *limb = s;
            carry = c;
            if !carry {
                break;
            }
        }
        if carry {
            // 0.111…1 + ulp = 1.000…0: one more binade.
            kept[N - 1] = 1 << 63;
            e += 1;
        }
    }
    Limbs { m: kept, e, neg }
}

/// a · b rounded to nearest-even at N limbs (b has M ≤ 8 limbs; an f64 factor
/// is M = 1).
#[inline(always)]
pub(super) fn mul<const N: usize, const M: usize>(a: &Limbs<N>, b: &Limbs<M>) -> Limbs<N> {
    let neg = a.neg ^ b.neg;
    if a.is_zero() || b.is_zero() {
        return Limbs::zero(neg);
    }
    let mut p = [0u64; 16];
    for i in 0..N {
        let mut carry = 0u64;
        for j in 0..M {
            let t = (a.m[i] as u128) * (b.m[j] as u128) + p[i + j] as u128 + carry as u128;
            p[i + j] = t as u64;
            carry = (t >> 64) as u64;
        }
        p[i + M] = carry;
    }
    let top = N + M - 1;
    let mut e = a.e + b.e;
    if p[top] >> 63 == 0 {
        // m_a m_b ∈ [2^(64(N+M)−2), 2^(64(N+M)−1)): one bit left.
        for k in (1..=top).rev() {
            p[k] = (p[k] << 1) | (p[k - 1] >> 63);
        }
        p[0] <<= 1;
        e -= 1;
    }
    let mut kept = [0u64; N];
    kept.copy_from_slice(&p[M..M + N]);
    let guard = p[M - 1] >> 63 == 1;
    let sticky = (p[M - 1] << 1) != 0 || p[..M - 1].iter().any(|&l| l != 0);
    round_nearest_even(kept, e, guard, sticky, neg)
}

/// |a| vs |b| (both nonzero, normalised).
#[inline(always)]
fn magnitude_less<const N: usize>(a: &Limbs<N>, b: &Limbs<N>) -> bool {
    if a.e != b.e {
        return a.e < b.e;
    }
    for k in (0..N).rev() {
        if a.m[k] != b.m[k] {
            return a.m[k] < b.m[k];
        }
    }
    false
}

/// out = a op b over the N + 1 window limbs with the carry (or borrow) `c`
/// in; the carry (borrow) out.
#[inline(always)]
fn limbwise<const N: usize>(
    a: &[u64; 9],
    b: &[u64; 9],
    mut c: bool,
    op: fn(u64, u64) -> (u64, bool),
    out: &mut [u64; 9],
) -> bool {
    for k in 0..=N {
        let (t, c1) = op(a[k], b[k]);
        let (t, c2) = op(t, c as u64);
        out[k] = t;
        c = c1 || c2;
    }
    c
}

/// a + (−1)^negate_b · b rounded to nearest-even (MPFR's `mpfr_add` /
/// `mpfr_sub` in round-to-nearest: an exact zero is +0 unless both terms
/// are −0).
#[inline(always)]
pub(super) fn add<const N: usize>(a: &Limbs<N>, b: &Limbs<N>, negate_b: bool) -> Limbs<N> {
    let mut b = *b;
    b.neg ^= negate_b;
    if b.is_zero() {
        if a.is_zero() {
            return Limbs::zero(a.neg && b.neg);
        }
        return *a;
    }
    if a.is_zero() {
        return b;
    }
    let (big, small) = if magnitude_less(a, &b) {
        (&b, a)
    } else {
        (a, &b)
    };
    // The window: N + 1 limbs, the extra low limb below the last kept bit.
    let mut wa = [0u64; 9];
    wa[1..=N].copy_from_slice(&big.m);
    let shift = (big.e - small.e) as u64;
    let (q, r) = ((shift / 64) as usize, (shift % 64) as u32);
    let mut wb = [0u64; 9];
    let mut sticky = q > N;
    if !sticky {
        // small's window, zero-padded above so that the shift reads no
        // out-of-window limb conditionally.
        let mut src = [0u64; 18];
        src[1..=N].copy_from_slice(&small.m);
        for k in 0..=N {
            let pair = ((src[k + q + 1] as u128) << 64) | src[k + q] as u128;
            wb[k] = (pair >> r) as u64;
        }
        sticky = src[..q].iter().any(|&l| l != 0) || (r != 0 && src[q] << (64 - r) != 0);
    }
    let mut e = big.e;
    let neg = big.neg;
    let mut s = [0u64; 9];
    if big.neg == small.neg {
        if limbwise::<N>(&wa, &wb, false, u64::overflowing_add, &mut s) {
            sticky |= s[0] & 1 == 1;
            for k in 0..N {
                s[k] = (s[k] >> 1) | (s[k + 1] << 63);
            }
            s[N] = (s[N] >> 1) | (1 << 63);
            e += 1;
        }
    } else {
        // |big| ≥ |small|; bits of small below the window (sticky) are
        // subtracted as one more unit of the window's last bit, the rest
        // kept in `sticky`: floor and fraction of the exact difference.
        let borrow = limbwise::<N>(&wa, &wb, sticky, u64::overflowing_sub, &mut s);
        debug_assert!(!borrow);
        let Some(top) = (0..=N).rev().find(|&k| s[k] != 0) else {
            return Limbs::zero(false);
        };
        let lz = (N - top) as u32 * 64 + s[top].leading_zeros();
        if lz > 0 {
            // Normalise: shift left by lz, zeros coming in below (padded).
            let (lq, lr) = ((lz / 64) as usize, lz % 64);
            let mut padded = [0u64; 19];
            padded[10..=10 + N].copy_from_slice(&s[..=N]);
            for k in 0..=N {
                let pair = ((padded[10 + k - lq] as u128) << 64) | padded[9 + k - lq] as u128;
                s[k] = ((pair << lr) >> 64) as u64;
            }
            e -= lz as i64;
        }
    }
    let mut kept = [0u64; N];
    kept.copy_from_slice(&s[1..=N]);
    let guard = s[0] >> 63 == 1;
    sticky |= s[0] << 1 != 0;
    round_nearest_even(kept, e, guard, sticky, neg)
}

/// MPFR's default exponent range, or a wider one: what [`EXP_LIMIT`]
/// assumes.
// exp_t is 32-bit on some targets.
#[allow(clippy::unnecessary_cast)]
fn exponent_range_ok() -> bool {
    // SAFETY: plain reads of MPFR's global (thread-local) exponent range.
    let (emin, emax) = unsafe {
        (
            gmp_mpfr_sys::mpfr::get_emin(),
            gmp_mpfr_sys::mpfr::get_emax(),
        )
    };
    (emin as i64) <= -((1i64 << 30) - 1) && (emax as i64) >= (1i64 << 30) - 1
}

/// The value of `x` at N limbs, if it is finite, has at most 64·N bits of
/// precision and |exponent| ≤ [`EXP_LIMIT`].
// limb_t and exp_t are 32-bit on some targets (`new` refuses those).
#[allow(clippy::unnecessary_cast)]
fn from_float<const N: usize>(x: &Float) -> Option<Limbs<N>> {
    if x.is_zero() {
        return Some(Limbs::zero(x.is_sign_negative()));
    }
    if !x.is_finite() || x.prec() as usize > 64 * N {
        return None;
    }
    // SAFETY: a finite nonzero MPFR number has ⌈prec/64⌉ limbs at `d`,
    // normalised (MPFR's invariant), its exponent in `exp`.
    let raw = unsafe { &*x.as_raw() };
    let limbs = (raw.prec as usize).div_ceil(64);
    let src = unsafe { std::slice::from_raw_parts(raw.d.as_ptr(), limbs) };
    let mut m = [0u64; N];
    for (dst, &l) in m[N - limbs..].iter_mut().zip(src) {
        *dst = l as u64;
    }
    let e = raw.exp as i64;
    (e.abs() <= EXP_LIMIT).then_some(Limbs {
        m,
        e,
        neg: x.is_sign_negative(),
    })
}

/// Write `a` into `x` (precision exactly 64·N bits).
fn store_float<const N: usize>(a: &Limbs<N>, x: &mut Float) {
    debug_assert_eq!(x.prec() as usize, 64 * N);
    if a.is_zero() {
        x.assign(if a.neg {
            Special::NegZero
        } else {
            Special::Zero
        });
        return;
    }
    if x.is_zero() || !x.is_finite() {
        // Make it a regular number first, so that its limbs are in use.
        x.assign(1u32);
    }
    // SAFETY: x is a regular number of N limbs (prec = 64·N); the new
    // mantissa is normalised and the exponent within MPFR's range
    // (|e| ≤ 3·EXP_LIMIT + 10⁴ by the bound of `EXP_LIMIT`).
    unsafe {
        let raw = &mut *x.as_raw_mut();
        let dst = std::slice::from_raw_parts_mut(raw.d.as_ptr(), N);
        for (d, &l) in dst.iter_mut().zip(&a.m) {
            *d = l as _;
        }
        raw.exp = a.e as _;
        raw.sign = if a.neg { -1 } else { 1 };
    }
}

/// The fixed-limb copy of a problem for the fast path: y and X (f64 values)
/// converted once per run.
pub(super) struct MpfrFastProblem {
    limbs: usize,
    /// The label-noise σ of the batch residuals (0: none).
    sigma: f64,
    d: usize,
    x: Vec<Limbs<1>>,
    /// y at 8 limbs (the widest N); narrowed where it is used.
    y: Vec<Limbs<8>>,
}

impl MpfrFastProblem {
    /// `None` when the fast path does not apply: a precision that is not
    /// 64·N with N in 2..=8, an entry of X that is not an f64 value, a y not
    /// representable, or a changed MPFR exponent range.
    pub(super) fn new(
        precision: u32,
        x: &[Float],
        y: &[Float],
        d: usize,
        sigma: f64,
    ) -> Option<Self> {
        let limbs = precision as usize / 64;
        // 64-bit limbs (GMP's on 64-bit targets) are what `Limbs` mirrors.
        if gmp_mpfr_sys::gmp::NUMB_BITS != 64
            || !precision.is_multiple_of(64)
            || !(2..=8).contains(&limbs)
            || !exponent_range_ok()
        {
            return None;
        }
        let x = x
            .iter()
            .map(|v| {
                let f = v.to_f64();
                (f.is_finite() && *v == f).then(|| Limbs::from_f64(f))
            })
            .collect::<Option<Vec<_>>>()?;
        let y = y
            .iter()
            .map(|v| {
                (v.prec() as usize <= 64 * limbs)
                    .then(|| from_float::<8>(v))
                    .flatten()
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            limbs,
            sigma,
            d,
            x,
            y,
        })
    }
}

/// Run up to `steps` steps of the Diagonal B = 1 step on θ = (u, v) (MPFR,
/// precision 64·limbs). Returns the steps done; fewer than `steps` only when
/// a step left θ outside the exponent bound (that step is done, the rest is
/// the generic loop's), or 0 when θ is not representable on entry.
pub(super) fn run_segment(
    p: &MpfrFastProblem,
    theta: &mut [Float],
    feed: &mut Feed,
    n: u64,
) -> u64 {
    match p.limbs {
        2 => segment::<2>(p, theta, feed, n),
        3 => segment::<3>(p, theta, feed, n),
        4 => segment::<4>(p, theta, feed, n),
        5 => segment::<5>(p, theta, feed, n),
        6 => segment::<6>(p, theta, feed, n),
        7 => segment::<7>(p, theta, feed, n),
        _ => segment::<8>(p, theta, feed, n),
    }
}

fn segment<const N: usize>(
    problem: &MpfrFastProblem,
    theta: &mut [Float],
    feed: &mut Feed,
    steps: u64,
) -> u64 {
    let (d, sigma) = (problem.d, problem.sigma);
    let Some(mut state) = theta
        .iter()
        .map(|t| {
            (t.prec() as usize == 64 * N)
                .then(|| from_float::<N>(t))
                .flatten()
        })
        .collect::<Option<Vec<Limbs<N>>>>()
    else {
        return 0;
    };
    let (u, v) = state.split_at_mut(d);
    let sigma_limbs = Limbs::from_f64(sigma);
    let noisy = sigma > 0.0;
    let (mut row, mut xi) = ([0usize; 1], [0.0f64; 1]);
    let mut done = steps;
    for s in 0..steps {
        let lr = feed.draw(&mut row, &mut xi);
        let x = &problem.x[row[0] * d..(row[0] + 1) * d];
        // pred = Σ_j (u_j v_j) x_j from +0, then r = (pred − y) − ξσ, c = r η:
        // the generic step's operations in its order.
        let mut pred = Limbs::<N>::zero(false);
        for ((uj, vj), xj) in u.iter().zip(v.iter()).zip(x) {
            let t = mul(&mul(uj, vj), xj);
            pred = add(&pred, &t, false);
        }
        let mut r = add(&pred, &narrow::<N>(&problem.y[row[0]]), true);
        if noisy {
            let noise = mul(&widen::<1, N>(&Limbs::from_f64(xi[0])), &sigma_limbs);
            r = add(&r, &noise, true);
        }
        let coef = mul(&r, &Limbs::from_f64(lr));
        let mut largest = 0i64;
        for ((uj, vj), xj) in u.iter_mut().zip(v.iter_mut()).zip(x) {
            let w = mul(&coef, xj);
            let wv = mul(&w, vj);
            let wu = mul(&w, uj);
            *uj = add(uj, &wv, true);
            *vj = add(vj, &wu, true);
            largest = largest.max(uj.exp_magnitude()).max(vj.exp_magnitude());
        }
        feed.times.advance(lr);
        if largest > EXP_LIMIT {
            done = s + 1;
            break;
        }
    }
    for (t, a) in theta.iter_mut().zip(&state) {
        store_float(a, t);
    }
    done
}

/// An 8-limb value that fits in N limbs (its low limbs zero) at N limbs.
#[inline]
fn narrow<const N: usize>(a: &Limbs<8>) -> Limbs<N> {
    debug_assert!(a.m[..8 - N].iter().all(|&l| l == 0));
    let mut m = [0u64; N];
    m.copy_from_slice(&a.m[8 - N..]);
    Limbs {
        m,
        e: a.e,
        neg: a.neg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn to_limbs<const N: usize>(x: &Float) -> Limbs<N> {
        from_float::<N>(x).expect("representable")
    }

    fn to_float<const N: usize>(a: &Limbs<N>) -> Float {
        let mut f = Float::new(64 * N as u32);
        store_float(a, &mut f);
        f
    }

    /// Random operands at 64·N bits: random mantissas (sometimes short, to
    /// make ties and exact results), exponents close together (cancellation)
    /// or far apart, zeros of both signs.
    fn operand<const N: usize>(rng: &mut rand_chacha::ChaCha8Rng) -> Float {
        let bits = 64 * N as u32;
        let kind: u32 = rng.random_range(0..10);
        if kind == 0 {
            let mut z = Float::new(bits);
            if rng.random::<bool>() {
                z = -z;
            }
            return z;
        }
        let used = if kind < 4 {
            rng.random_range(1..=bits)
        } else {
            bits
        };
        let mut m = rug::Integer::new();
        for _ in 0..N {
            m <<= 64;
            m += rng.random::<u64>();
        }
        m >>= bits - used;
        if m == 0 {
            m = rug::Integer::from(1);
        }
        let e: i32 = if kind < 7 {
            rng.random_range(-3..=3)
        } else {
            rng.random_range(-700..=700)
        };
        let mut f = Float::with_val(bits, &m);
        f <<= e - used as i32;
        if rng.random::<bool>() {
            f = -f;
        }
        f
    }

    fn check_ops<const N: usize>(cases: usize, seed: u64) {
        let bits = 64 * N as u32;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for case in 0..cases {
            let a = operand::<N>(&mut rng);
            let mut b = operand::<N>(&mut rng);
            if case % 5 == 0 {
                // b close to a (massive cancellation), or equal.
                let ulps: i32 = rng.random_range(-2..=2);
                b = a.clone()
                    + (Float::with_val(bits, 1) << (a.get_exp().unwrap_or(0) - bits as i32 + ulps));
                if case % 10 == 0 {
                    b = a.clone();
                }
            }
            let (la, lb) = (to_limbs::<N>(&a), to_limbs::<N>(&b));
            let same = |got: &Limbs<N>, want: &Float, what: &str| {
                let g = to_float(got);
                assert!(
                    g == *want && g.is_sign_negative() == want.is_sign_negative(),
                    "{what} at {bits} bits: a = {a}, b = {b}: fast {g}, MPFR {want}"
                );
            };
            same(&mul(&la, &lb), &Float::with_val(bits, &a * &b), "a·b");
            same(
                &add(&la, &lb, false),
                &Float::with_val(bits, &a + &b),
                "a+b",
            );
            same(&add(&la, &lb, true), &Float::with_val(bits, &a - &b), "a−b");
            let f = b.to_f64();
            let lf = Limbs::from_f64(f);
            same(&mul(&la, &lf), &Float::with_val(bits, &a * f), "a·f64");
        }
    }

    #[test]
    fn operations_match_mpfr_bit_for_bit() {
        check_ops::<2>(20_000, 1);
        check_ops::<3>(20_000, 2);
        check_ops::<4>(40_000, 3);
        check_ops::<8>(10_000, 4);
    }

    #[test]
    fn f64_values_convert_exactly() {
        for x in [
            1.0,
            -0.1,
            5e-324,
            -2.2250738585072014e-308,
            1.7976931348623157e308,
            0.0,
            -0.0,
        ] {
            let want = Float::with_val(128, x);
            let got = to_float(&widen::<1, 2>(&Limbs::from_f64(x)));
            assert!(
                got == want && got.is_sign_negative() == want.is_sign_negative(),
                "{x}"
            );
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let big = Float::with_val(256, 1) << (EXP_LIMIT as i32 + 5);
        assert!(from_float::<4>(&big).is_none());
        assert!(from_float::<4>(&Float::with_val(256, Special::Infinity)).is_none());
        assert!(from_float::<4>(&Float::with_val(300, 1)).is_none());
    }
}
