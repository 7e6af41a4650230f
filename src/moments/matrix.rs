//! Matrix powers by repeated squaring and the matrix exponential by scaling and
//! squaring of a Taylor series whose length is chosen from the working
//! precision. Generic over [`Real`]; all products go through
//! [`Mat::mul_into`] with preallocated scratch matrices.

use crate::linalg::Mat;
use crate::scalar::Real;

/// `A^k` by binary exponentiation (⌊log₂ k⌋ squarings and at most as many
/// extra products). `A` must be square; `A^0 = I`.
///
/// # Examples
/// ```
/// use latedecay::linalg::Mat;
/// use latedecay::moments::matrix::power;
/// let a = Mat::<f64>::from_row_major(2, 2, vec![1.0, 1.0, 0.0, 1.0]);
/// let p = power(&a, 10);
/// assert_eq!(p[(0, 1)], 10.0);
/// assert_eq!(p[(1, 1)], 1.0);
/// ```
pub fn power<R: Real>(a: &Mat<R>, k: u64) -> Mat<R> {
    assert_eq!(a.rows(), a.cols(), "power: matrix must be square");
    let n = a.rows();
    let ctx = a.ctx();
    let mut result = Mat::identity(n, ctx);
    let mut base = a.clone();
    let mut scratch = Mat::zeros(n, n, ctx);
    let mut k = k;
    let mut first = true;
    while k > 0 {
        if k & 1 == 1 {
            if first {
                result.as_mut_slice().clone_from_slice(base.as_slice());
                first = false;
            } else {
                result.mul_into(&base, &mut scratch);
                std::mem::swap(&mut result, &mut scratch);
            }
        }
        k >>= 1;
        if k > 0 {
            base.mul_into(&base, &mut scratch);
            std::mem::swap(&mut base, &mut scratch);
        }
    }
    result
}

/// Infinity norm max_i Σ_j |a_ij|, in f64.
pub fn norm_inf<R: Real>(a: &Mat<R>) -> f64 {
    (0..a.rows())
        .map(|i| a.row(i).iter().map(|v| v.to_f64().abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

/// How [`expm`] evaluated the exponential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpmPlan {
    /// Number of squarings s (the series is applied to A / 2^s).
    pub squarings: u32,
    /// Degree N of the Taylor polynomial.
    pub taylor_degree: u32,
}

/// Scaling and Taylor degree for `exp(A)` at `bits` bits of precision:
/// s is the smallest integer with ρ = ‖A‖_∞ / 2^s ≤ 1/2, and N the smallest
/// degree with the remainder bound 2 ρ^(N+1) / (N+1)! ≤ 2^(−bits−8)
/// (for ρ ≤ 1/2 the tail Σ_{k>N} ρ^k/k! is at most twice its first term).
///
/// # Examples
/// ```
/// use latedecay::moments::matrix::expm_plan;
/// let p = expm_plan(3.0, 53);
/// assert_eq!(p.squarings, 3); // 3/8 ≤ 1/2
/// assert!(p.taylor_degree >= 13 && p.taylor_degree <= 20);
/// ```
pub fn expm_plan(norm: f64, bits: u32) -> ExpmPlan {
    let mut squarings = 0u32;
    let mut rho = norm;
    while rho > 0.5 {
        rho /= 2.0;
        squarings += 1;
    }
    let target = -(bits as f64) - 8.0;
    let mut degree = 0u32;
    if rho > 0.0 {
        let log2_rho = rho.log2();
        let mut log2_fact = 0.0; // log2((N+1)!)
        loop {
            let next = (degree + 1) as f64;
            log2_fact += next.log2();
            // bound on the tail after degree N: 2 ρ^(N+1)/(N+1)!
            if 1.0 + next * log2_rho - log2_fact <= target {
                break;
            }
            degree += 1;
        }
    }
    ExpmPlan {
        squarings,
        taylor_degree: degree,
    }
}

/// Matrix exponential `exp(A)` by scaling and squaring: the Taylor polynomial
/// of degree N (Horner form, N products) of `A/2^s`, then s squarings, with
/// (s, N) from [`expm_plan`] at the precision of `A`'s entries.
///
/// # Examples
/// ```
/// use latedecay::linalg::Mat;
/// use latedecay::moments::matrix::expm;
/// let a = Mat::<f64>::from_row_major(2, 2, vec![0.0, 1.0, -1.0, 0.0]);
/// let e = expm(&a); // rotation by 1 radian
/// assert!((e[(0, 0)] - 1f64.cos()).abs() < 1e-15);
/// assert!((e[(0, 1)] - 1f64.sin()).abs() < 1e-15);
/// ```
pub fn expm<R: Real>(a: &Mat<R>) -> Mat<R> {
    assert_eq!(a.rows(), a.cols(), "expm: matrix must be square");
    let n = a.rows();
    let ctx = a.ctx();
    let plan = expm_plan(norm_inf(a), R::ctx_bits(ctx));
    let mut scaled = a.clone();
    if plan.squarings > 0 {
        let mut factor = R::one(ctx);
        for _ in 0..plan.squarings {
            factor /= 2.0;
        }
        scaled.scale_mut(&factor);
    }
    // Horner: P = I + A/1 (I + A/2 (I + ... (I + A/N))).
    let mut acc = Mat::identity(n, ctx);
    let mut scratch = Mat::zeros(n, n, ctx);
    let mut inv_k = R::one(ctx);
    for k in (1..=plan.taylor_degree).rev() {
        scaled.mul_into(&acc, &mut scratch);
        inv_k.set_f64(1.0);
        inv_k /= k as f64;
        scratch.scale_mut(&inv_k);
        for i in 0..n {
            scratch[(i, i)] += 1.0;
        }
        std::mem::swap(&mut acc, &mut scratch);
    }
    for _ in 0..plan.squarings {
        acc.mul_into(&acc, &mut scratch);
        std::mem::swap(&mut acc, &mut scratch);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Mpfr;

    #[test]
    fn power_matches_repeated_product() {
        let a = Mat::<f64>::from_row_major(2, 2, vec![0.5, 0.25, -0.125, 0.75]);
        let mut slow = Mat::<f64>::identity(2, ());
        for k in 0..13u64 {
            let fast = power(&a, k);
            for (x, y) in fast.as_slice().iter().zip(slow.as_slice()) {
                assert!((x - y).abs() < 1e-15, "k = {k}");
            }
            slow = slow.mul(&a);
        }
    }

    #[test]
    fn expm_of_nilpotent_and_scalar_in_mpfr() {
        // exp([[0,1],[0,0]]) = [[1,1],[0,1]] exactly; exp(3 I) = e^3 I.
        let a = Mat::<Mpfr>::from_f64(2, 2, &[0.0, 1.0, 0.0, 0.0], 256);
        let e = expm(&a);
        assert!((e[(0, 1)].clone() - 1.0f64).abs() < 1e-75);
        let b = Mat::<Mpfr>::from_f64(2, 2, &[3.0, 0.0, 0.0, 3.0], 256);
        let eb = expm(&b);
        let mut e3 = Mpfr::from_f64(3.0, 256);
        e3.exp_mut();
        let mut diff = eb[(1, 1)].clone();
        diff -= &e3;
        assert!(diff.to_f64().abs() < 1e-72, "diff {diff}");
    }
}
