//! Mean-square linear stability of SGD at a point θ (`proofs/stability.md`).
//!
//! Linearize SGD at θ with the Gauss–Newton Hessians H_i = g_i g_iᵀ
//! (g_i = ∇f_i(θ)): δ' = (I − η Ĥ)δ, Ĥ = (1/B)Σ_b H_{i_b}. The second moment
//! M = E δδᵀ obeys M' = T(M) with
//!
//!   T(M) = M − η(GM + MG) + η²[a·GMG + b·(1/n)Σ_i H_i M H_i],
//!
//! a = 1 − 1/B, b = 1/B for batches drawn with replacement and
//! a = n(B−1)/(B(n−1)), b = (n−B)/(B(n−1)) for B distinct indices per step
//! ([`map_coefficients`]). T is self-adjoint for the Frobenius inner product
//! and maps PSD matrices to PSD matrices, so its spectral radius ρ(η) is its
//! largest eigenvalue; ρ(η) − 1 is convex in η with ρ(0) = 1, so the
//! stable set {η : ρ(η) ≤ 1} is an interval [0, η*] and bisection finds η*.
//!
//! The map depends on the g_i only through their Gram matrix K = JJᵀ: with a
//! factor K = YYᵀ (Y n × r, r = rank K, pivoted Cholesky) the rows y_i are the
//! coordinates of g_i in an orthonormal basis of range(Jᵀ) = range(G), and T
//! restricted to symmetric M supported on range(G) is the same formula on
//! r × r matrices with g_i replaced by y_i ([`ReducedGradients`]). Generic
//! over [`Real`].

use serde::{Deserialize, Serialize};

use crate::linalg::Mat;
use crate::noise::Sampling;
use crate::scalar::Real;

/// Coefficients (a, b) of GMG and of (1/n)Σ H_i M H_i in the η² term.
pub fn map_coefficients(batch_size: usize, n: usize, sampling: Sampling) -> (f64, f64) {
    let bf = batch_size as f64;
    match sampling {
        Sampling::WithReplacement => (1.0 - 1.0 / bf, 1.0 / bf),
        Sampling::Shuffle => {
            if n <= 1 {
                return (0.0, 1.0);
            }
            let nf = n as f64;
            (
                nf * (bf - 1.0) / (bf * (nf - 1.0)),
                (nf - bf) / (bf * (nf - 1.0)),
            )
        }
    }
}

/// T(M) for gradients given as the rows of `rows` (n × p) and M (p × p,
/// symmetric): the full map when `rows` = J, the reduced map when `rows` = Y.
pub fn second_moment_map<R: Real>(rows: &Mat<R>, eta: f64, coef: (f64, f64), m: &Mat<R>) -> Mat<R> {
    map_with_gram(rows, &gram_cols(rows), eta, coef, m)
}

/// [`second_moment_map`] with G = `gram_cols(rows)` given: Lanczos applies
/// the map hundreds of times at one G.
fn map_with_gram<R: Real>(
    rows: &Mat<R>,
    g: &Mat<R>,
    eta: f64,
    coef: (f64, f64),
    m: &Mat<R>,
) -> Mat<R> {
    let (n, p) = (rows.rows(), rows.cols());
    let ctx = m.ctx();
    let gm = g.mul(m);
    let mg = m.mul(g);
    let mut out = m.clone();
    // − η (GM + MG) (written for any square M: the map is then self-adjoint
    // on all p × p matrices, not only on the symmetric ones)
    for ((o, a), b) in out
        .as_mut_slice()
        .iter_mut()
        .zip(gm.as_slice())
        .zip(mg.as_slice())
    {
        let mut t = a.clone();
        t += b;
        t *= eta;
        *o -= &t;
    }
    let eta2 = eta * eta;
    if coef.0 != 0.0 {
        let gmg = gm.mul(g);
        for (o, v) in out.as_mut_slice().iter_mut().zip(gmg.as_slice()) {
            let mut t = v.clone();
            t *= eta2 * coef.0;
            *o += &t;
        }
    }
    if coef.1 != 0.0 {
        let mut mgi = vec![R::zero(ctx); p];
        let mut q = R::zero(ctx);
        let mut t = R::zero(ctx);
        for i in 0..n {
            let gi = rows.row(i);
            m.mul_vec_into(gi, &mut mgi);
            crate::linalg::dot_into(&mut q, gi, &mgi);
            q *= eta2 * coef.1 / n as f64;
            for a in 0..p {
                t.set_mul(&q, &gi[a]);
                for b in 0..p {
                    out[(a, b)].add_mul(&t, &gi[b]);
                }
            }
        }
    }
    out
}

/// The same map written on A with M = JᵀAJ (A n × n symmetric), from the Gram
/// matrix K = JJᵀ only:
/// T̃(A) = A − (η/n)(KA + AK) + η²[a·KAK/n² + b·diag((KAK)_ii)/n].
pub fn gram_form_map<R: Real>(k: &Mat<R>, eta: f64, coef: (f64, f64), a: &Mat<R>) -> Mat<R> {
    let n = k.rows();
    let nf = n as f64;
    let ka = k.mul(a);
    let kak = ka.mul(k);
    let mut out = a.clone();
    for i in 0..n {
        for j in 0..n {
            let mut t = ka[(i, j)].clone();
            t += &ka[(j, i)];
            t *= eta / nf;
            out[(i, j)] -= &t;
            let mut s = kak[(i, j)].clone();
            s *= eta * eta * coef.0 / (nf * nf);
            out[(i, j)] += &s;
        }
        let mut s = kak[(i, i)].clone();
        s *= eta * eta * coef.1 / nf;
        out[(i, i)] += &s;
    }
    out
}

/// G = rowsᵀ rows / n (p × p).
fn gram_cols<R: Real>(rows: &Mat<R>) -> Mat<R> {
    let (n, p) = (rows.rows(), rows.cols());
    let mut g: Mat<R> = Mat::zeros(p, p, rows.ctx());
    for i in 0..n {
        let r = rows.row(i);
        for a in 0..p {
            for b in a..p {
                g[(a, b)].add_mul(&r[a], &r[b]);
            }
        }
    }
    for a in 0..p {
        for b in a..p {
            g[(a, b)] /= n as f64;
            if b > a {
                let v = g[(a, b)].clone();
                g[(b, a)] = v;
            }
        }
    }
    g
}

/// The gradients in orthonormal coordinates of range(G): rows y_i of Y with
/// YYᵀ = K = JJᵀ (pivoted Cholesky, pivots below `rel_tol`·max K_ii dropped).
#[derive(Debug, Clone)]
pub struct ReducedGradients<R: Real> {
    /// Y (n × r).
    pub y: Mat<R>,
}

impl<R: Real> ReducedGradients<R> {
    /// From the Jacobian J (rows ∇f_i). The rank tolerance is
    /// 64·n·ε(precision) relative to the largest ‖g_i‖².
    pub fn from_jacobian(jac: &Mat<R>) -> Self {
        let n = jac.rows();
        let ctx = jac.ctx();
        let mut k = Mat::zeros(n, n, ctx);
        for i in 0..n {
            for j in i..n {
                let mut s = R::zero(ctx);
                crate::linalg::dot_into(&mut s, jac.row(i), jac.row(j));
                k[(j, i)] = s.clone();
                k[(i, j)] = s;
            }
        }
        let tol = 64.0 * n as f64 * R::epsilon(ctx);
        Self::from_gram(&k, tol)
    }

    /// From K = JJᵀ with a relative pivot tolerance.
    pub fn from_gram(k: &Mat<R>, rel_tol: f64) -> Self {
        let n = k.rows();
        let ctx = k.ctx();
        let mut diag: Vec<R> = (0..n).map(|i| k[(i, i)].clone()).collect();
        let max_diag = diag.iter().map(|d| d.to_f64()).fold(0.0, f64::max);
        let mut cols: Vec<Vec<R>> = Vec::new();
        let mut used = vec![false; n];
        if max_diag.is_finite() && max_diag > 0.0 {
            while cols.len() < n {
                let (piv, best) = (0..n)
                    .filter(|&i| !used[i])
                    .map(|i| (i, diag[i].to_f64()))
                    .fold((usize::MAX, f64::NEG_INFINITY), |acc, x| {
                        if x.1 > acc.1 {
                            x
                        } else {
                            acc
                        }
                    });
                if piv == usize::MAX
                    || best.partial_cmp(&(rel_tol * max_diag)) != Some(std::cmp::Ordering::Greater)
                {
                    break;
                }
                used[piv] = true;
                let mut l = vec![R::zero(ctx); n];
                let s = diag[piv].sqrt();
                for (i, li) in l.iter_mut().enumerate() {
                    if used[i] && i != piv {
                        continue;
                    }
                    let mut v = k[(i, piv)].clone();
                    for c in &cols {
                        v.sub_mul(&c[i], &c[piv]);
                    }
                    v /= &s;
                    *li = v;
                }
                l[piv] = s;
                for i in 0..n {
                    if !used[i] {
                        let t = l[i].clone();
                        diag[i].sub_mul(&t, &t);
                    }
                }
                cols.push(l);
            }
        }
        let r = cols.len();
        let mut y = Mat::zeros(n, r, ctx);
        for (c, col) in cols.iter().enumerate() {
            for i in 0..n {
                y[(i, c)] = col[i].clone();
            }
        }
        Self { y }
    }

    /// rank r of K.
    pub fn rank(&self) -> usize {
        self.y.cols()
    }

    /// G in the reduced coordinates (r × r).
    pub fn gauss_newton(&self) -> Mat<R> {
        gram_cols(&self.y)
    }

    /// λ_max(G) (Lanczos on G from the all-ones vector; 0 for rank 0).
    pub fn lambda_max(&self) -> f64 {
        if self.rank() == 0 {
            return 0.0;
        }
        let g = self.gauss_newton();
        let mut v: Mat<R> = Mat::zeros(self.rank(), 1, self.y.ctx());
        for i in 0..self.rank() {
            v[(i, 0)].set_f64(1.0);
        }
        lanczos_max(|x| g.mul(x), v, self.rank()).to_f64()
    }

    /// The reduced map T̂(X) (X r × r symmetric).
    pub fn apply(&self, eta: f64, coef: (f64, f64), x: &Mat<R>) -> Mat<R> {
        second_moment_map(&self.y, eta, coef, x)
    }

    /// ρ(η) by Lanczos on T̂ (symmetric in the Frobenius inner product),
    /// started from G.
    pub fn spectral_radius(&self, eta: f64, coef: (f64, f64)) -> R {
        let r = self.rank();
        let ctx = self.y.ctx();
        if r == 0 {
            return R::one(ctx);
        }
        let dim = r * (r + 1) / 2;
        let g = self.gauss_newton();
        lanczos_max(
            |x| map_with_gram(&self.y, &g, eta, coef, x),
            g.clone(),
            dim.min(400),
        )
    }

    /// η* = sup{η : ρ(η) ≤ 1} by bisection on [0, 2/λ_max(G)] (η* ≤ 2/λ_max,
    /// `proofs/stability.md`), to relative width `rel_tol`.
    pub fn critical_lr(&self, coef: (f64, f64), rel_tol: f64) -> f64 {
        if self.rank() == 0 {
            return f64::INFINITY;
        }
        let lmax = self.lambda_max();
        let mut hi = 2.0 / lmax * (1.0 + 1e-9);
        let mut lo = 0.0;
        // the stable set is [0, η*]: keep ρ(lo) ≤ 1 < ρ(hi)
        let mut guard = 0;
        while self.spectral_radius(hi, coef).to_f64() <= 1.0 && guard < 60 {
            lo = hi;
            hi *= 2.0;
            guard += 1;
        }
        while hi - lo > rel_tol * hi {
            let mid = 0.5 * (lo + hi);
            if self.spectral_radius(mid, coef).to_f64() <= 1.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

fn symmetrize<R: Real>(w: &mut Mat<R>) {
    for i in 0..w.rows() {
        for j in i + 1..w.cols() {
            let mut t = w[(i, j)].clone();
            t += &w[(j, i)];
            t *= 0.5;
            w[(j, i)] = t.clone();
            w[(i, j)] = t;
        }
    }
}

fn frob<R: Real>(a: &Mat<R>, b: &Mat<R>) -> R {
    let mut s = R::zero(a.ctx());
    crate::linalg::dot_into(&mut s, a.as_slice(), b.as_slice());
    s
}

/// Largest eigenvalue of a symmetric operator on matrices (Frobenius inner
/// product) by Lanczos with full reorthogonalization, from `start`.
fn lanczos_max<R: Real>(op: impl Fn(&Mat<R>) -> Mat<R>, start: Mat<R>, max_dim: usize) -> R {
    let ctx = start.ctx();
    let eps = R::epsilon(ctx).max(1e-300);
    let mut q = start;
    let nq = frob(&q, &q).sqrt();
    if nq.is_zero() || !nq.is_finite() {
        return R::from_f64(f64::NAN, ctx);
    }
    q.as_mut_slice().iter_mut().for_each(|v| *v /= &nq);
    let mut basis: Vec<Mat<R>> = vec![q];
    let mut alpha: Vec<R> = Vec::new();
    let mut beta: Vec<R> = Vec::new();
    let mut last = f64::NAN;
    let mut stable = 0;
    let mut ritz = R::zero(ctx);
    for k in 0..max_dim.max(1) {
        let mut w = op(&basis[k]);
        if w.rows() == w.cols() {
            // keep the Krylov space in the symmetric matrices exactly
            symmetrize(&mut w);
        }
        let a = frob(&w, &basis[k]);
        // full reorthogonalization (twice)
        for _ in 0..2 {
            for b in &basis {
                let c = frob(&w, b);
                for (wi, bi) in w.as_mut_slice().iter_mut().zip(b.as_slice()) {
                    wi.sub_mul(&c, bi);
                }
            }
        }
        alpha.push(a);
        let nb = frob(&w, &w).sqrt();
        ritz = tridiagonal_max(&alpha, &beta);
        let rv = ritz.to_f64();
        if (rv - last).abs() <= 1e3 * eps * rv.abs().max(1.0) {
            stable += 1;
        } else {
            stable = 0;
        }
        last = rv;
        if stable >= 3 || nb.to_f64() <= 1e3 * eps * rv.abs().max(1.0) || k + 1 == max_dim {
            break;
        }
        w.as_mut_slice().iter_mut().for_each(|v| *v /= &nb);
        beta.push(nb);
        basis.push(w);
    }
    ritz
}

/// Largest eigenvalue of the symmetric tridiagonal matrix (α on the diagonal,
/// β off it) by Sturm-sequence bisection.
fn tridiagonal_max<R: Real>(alpha: &[R], beta: &[R]) -> R {
    let ctx = alpha[0].ctx();
    let k = alpha.len();
    // Gershgorin bounds
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..k {
        let mut rad = 0.0;
        if i > 0 {
            rad += beta[i - 1].to_f64().abs();
        }
        if i + 1 < k {
            rad += beta[i].to_f64().abs();
        }
        lo = lo.min(alpha[i].to_f64() - rad);
        hi = hi.max(alpha[i].to_f64() + rad);
    }
    let pad = 1e-6 * (hi - lo).abs().max(1e-300) + 1e-300;
    let mut lo = R::from_f64(lo - pad, ctx);
    let mut hi = R::from_f64(hi + pad, ctx);
    // number of eigenvalues > x
    let count_above = |x: &R| -> usize {
        let mut d = R::zero(ctx);
        let mut t = R::zero(ctx);
        let mut above = 0;
        for i in 0..k {
            // d_i = α_i − x − β_{i−1}²/d_{i−1}
            let mut di = alpha[i].clone();
            di -= x;
            if i > 0 {
                t.set_mul(&beta[i - 1], &beta[i - 1]);
                if d.is_zero() {
                    d.set_f64(R::epsilon(ctx).max(1e-300));
                }
                t /= &d;
                di -= &t;
            }
            if !di.is_negative() && !di.is_zero() {
                above += 1;
            }
            d = di;
        }
        above
    };
    let iters = R::ctx_bits(ctx) as usize + 20;
    let mut mid = R::zero(ctx);
    for _ in 0..iters {
        mid.assign(&lo);
        mid += &hi;
        mid *= 0.5;
        if mid == lo || mid == hi {
            break;
        }
        if count_above(&mid) >= 1 {
            lo.assign(&mid);
        } else {
            hi.assign(&mid);
        }
    }
    mid.assign(&lo);
    mid += &hi;
    mid *= 0.5;
    mid
}

/// Stability numbers at one point θ (f64 for output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StabilityReport {
    /// Where θ came from (`theta0`, `theta_mn`, a file, a run).
    pub point: String,
    /// ‖θ‖.
    pub norm: f64,
    /// tr G = (1/n)Σ‖∇f_i‖².
    pub trace_g: f64,
    /// λ_max(G).
    pub lambda_max: f64,
    /// 2/λ_max(G): the full-batch (gradient-descent) limit.
    pub full_batch_lr: f64,
    /// max_i ‖∇f_i‖².
    pub max_grad_sq: f64,
    /// 2/max_i ‖∇f_i‖².
    pub per_sample_lr: f64,
    /// rank of J.
    pub rank: usize,
    /// Batch size B and sampling used for ρ and η*.
    pub batch_size: usize,
    /// Sampling.
    pub sampling: Sampling,
    /// The learning rate ρ is evaluated at (η₁ of the schedule).
    pub lr: f64,
    /// ρ(η) at `lr`.
    pub rho: f64,
    /// η* = sup{η : ρ(η) ≤ 1}.
    pub critical_lr: f64,
}

/// The stability report of gradients `jac` (rows ∇f_i at θ).
pub fn stability_report<R: Real>(
    point: &str,
    theta: &[R],
    jac: &Mat<R>,
    batch_size: usize,
    sampling: Sampling,
    lr: f64,
) -> StabilityReport {
    let n = jac.rows();
    let red = ReducedGradients::from_jacobian(jac);
    let coef = map_coefficients(batch_size, n, sampling);
    let max_grad_sq = (0..n)
        .map(|i| {
            let mut s = R::zero(jac.ctx());
            crate::linalg::dot_into(&mut s, jac.row(i), jac.row(i));
            s.to_f64()
        })
        .fold(0.0, f64::max);
    let trace_g = (0..n)
        .map(|i| {
            let mut s = R::zero(jac.ctx());
            crate::linalg::dot_into(&mut s, jac.row(i), jac.row(i));
            s.to_f64()
        })
        .sum::<f64>()
        / n as f64;
    let lambda_max = red.lambda_max();
    StabilityReport {
        point: point.into(),
        norm: crate::linalg::norm(theta).to_f64(),
        trace_g,
        lambda_max,
        full_batch_lr: 2.0 / lambda_max,
        max_grad_sq,
        per_sample_lr: 2.0 / max_grad_sq,
        rank: red.rank(),
        batch_size,
        sampling,
        lr,
        rho: red.spectral_radius(lr, coef).to_f64(),
        critical_lr: red.critical_lr(coef, 1e-10),
    }
}
