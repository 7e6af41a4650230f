//! Basis pursuit in the working precision: a primal simplex method on the LP
//!
//! ```text
//!     min Σ_j c_j |β_j|   subject to   X β = y,
//! ```
//!
//! for the data exactly as stored (every f64 of a CSV file is an exact
//! rational; MPFR holds it exactly). A *basis* is a set B of n columns with
//! X_B invertible; its vertex is β_B = X_B⁻¹y, β = 0 off B. Writing
//! β = p − q with p, q ≥ 0, every basis is primal feasible once each basic
//! column is oriented by the sign of its β_j, so no phase 1 is needed. The dual
//! of the vertex solves X_Bᵀλ = c_B ⊙ s_B; the vertex is optimal when
//! |X_jᵀλ| ≤ c_j for every j ∉ B (up to the rounding of X_jᵀλ). Otherwise the
//! most violated column (relative to c_j) enters with orientation
//! σ = sign(X_jᵀλ) and the first basic variable to reach 0 along
//! β_B − tσX_B⁻¹X_j leaves (Bland's rule after a degenerate step, so the
//! method cannot cycle). Every quantity, including the ratio test, is computed
//! in the working precision; only the choice of a *starting* basis uses f64.
//!
//! The f64 interior-point solution (`basis_pursuit`) supplies the starting
//! basis: its support, completed by the columns whose f64 dual constraint is
//! closest to active. On data that are not exactly consistent with a sparse
//! solution (any data written with 17 digits) the exact optimum generally has
//! n non-zeros, most of them tiny: the simplex finds them.

use crate::linalg::{LinalgError, Lu, Mat};
use crate::scalar::Real;

/// A vertex of the basis-pursuit LP in the working precision.
#[derive(Debug, Clone)]
pub(crate) struct Vertex<R> {
    /// Basic columns (n of them).
    pub basis: Vec<usize>,
    /// β (zero off the basis; basic entries at the rounding level of a
    /// degenerate vertex are set to exactly 0).
    pub beta: Vec<R>,
    /// β with every basic entry kept.
    pub beta_full: Vec<R>,
    /// Dual λ with X_Bᵀλ = c_B ⊙ s_B.
    pub lambda: Vec<R>,
    /// Simplex pivots used.
    pub pivots: usize,
    /// ‖X_B⁻¹‖₁ (largest absolute column sum of the inverse).
    pub inverse_norm1: f64,
}

/// Why the working-precision simplex could not produce a vertex.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum SimplexError {
    #[error("X has numerical rank {rank} < n = {n}: no basis of n independent columns")]
    RankDeficient { rank: usize, n: usize },
    #[error("basis matrix singular in the working precision: {0}")]
    Singular(String),
    #[error("no optimal basis after {pivots} pivots")]
    IterationLimit { pivots: usize },
    #[error("unbounded direction at pivot {pivots} (rounding error)")]
    Unbounded { pivots: usize },
}

impl From<LinalgError> for SimplexError {
    fn from(e: LinalgError) -> Self {
        SimplexError::Singular(e.to_string())
    }
}

/// Choose n linearly independent columns of X (f64 copy, row-major n × d),
/// taking `preferred` first in the given order, then the other columns in
/// the order of `rank_others` (smallest first). Independence: modified
/// Gram–Schmidt on max-abs-scaled columns, a column is kept when its
/// component orthogonal to the kept ones has norm > 1e-9 (of ≈ 1).
pub(crate) fn starting_basis(
    x64: &[f64],
    n: usize,
    d: usize,
    preferred: &[usize],
    rank_others: &dyn Fn(usize) -> f64,
) -> Result<Vec<usize>, SimplexError> {
    let mut others: Vec<usize> = (0..d).filter(|j| !preferred.contains(j)).collect();
    others.sort_by(|&a, &b| rank_others(a).total_cmp(&rank_others(b)).then(a.cmp(&b)));
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut basis = Vec::with_capacity(n);
    for &j in preferred.iter().chain(&others) {
        if basis.len() == n {
            break;
        }
        let scale = (0..n).fold(0.0f64, |m, i| m.max(x64[i * d + j].abs()));
        if scale == 0.0 || !scale.is_finite() {
            continue;
        }
        let mut v: Vec<f64> = (0..n).map(|i| x64[i * d + j] / scale).collect();
        let before = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        for _ in 0..2 {
            for u in &q {
                let p: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
                for (vi, ui) in v.iter_mut().zip(u) {
                    *vi -= p * ui;
                }
            }
        }
        let after = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if after > 1e-9 * before {
            for vi in &mut v {
                *vi /= after;
            }
            q.push(v);
            basis.push(j);
        }
    }
    if basis.len() < n {
        return Err(SimplexError::RankDeficient {
            rank: basis.len(),
            n,
        });
    }
    Ok(basis)
}

fn sign_of<R: Real>(v: &R) -> f64 {
    if v.is_zero() {
        0.0
    } else if v.is_negative() {
        -1.0
    } else {
        1.0
    }
}

/// Columns `basis` of X as an n × n matrix (and its transpose).
fn basis_matrix<R: Real>(x: &Mat<R>, basis: &[usize]) -> (Mat<R>, Mat<R>) {
    let n = x.rows();
    let ctx = x.ctx();
    let mut b = Mat::<R>::zeros(n, n, ctx);
    let mut bt = Mat::<R>::zeros(n, n, ctx);
    for i in 0..n {
        for (k, &j) in basis.iter().enumerate() {
            b[(i, k)].assign(&x[(i, j)]);
            bt[(k, i)].assign(&x[(i, j)]);
        }
    }
    (b, bt)
}

/// Solve `A z = rhs` with one step of iterative refinement.
fn solve_refined<R: Real>(a: &Mat<R>, lu: &Lu<R>, rhs: &[R]) -> Vec<R> {
    let mut z = lu.solve(rhs);
    let mut r = a.mul_vec(&z);
    for (ri, bi) in r.iter_mut().zip(rhs) {
        *ri -= bi;
    }
    lu.solve_mut(&mut r);
    for (zi, ci) in z.iter_mut().zip(&r) {
        *zi -= ci;
    }
    z
}

/// Primal simplex from `start` (n independent columns, `signs` their initial
/// orientation, used only while a basic variable is exactly degenerate).
pub(crate) fn simplex<R: Real>(
    x: &Mat<R>,
    y: &[R],
    c: &[R],
    start: Vec<usize>,
    start_signs: Vec<f64>,
) -> Result<Vertex<R>, SimplexError> {
    let (n, d) = (x.rows(), x.cols());
    let ctx = x.ctx();
    let eps = R::epsilon(ctx);
    let max_pivots = 20 * (n + d);
    let mut basis = start;
    let mut signs = start_signs;
    let mut pivots = 0usize;
    let mut last_step_degenerate = false;
    // |X_j|ᵀ·1 scaled: column max-abs, for the relative pricing tolerance.
    loop {
        let (b, bt) = basis_matrix(x, &basis);
        let lu = Lu::new(b.clone())?;
        let lu_t = Lu::new(bt.clone())?;
        let beta_b = solve_refined(&b, &lu, y);
        for (s, v) in signs.iter_mut().zip(&beta_b) {
            let sv = sign_of(v);
            if sv != 0.0 {
                *s = sv;
            } else if *s == 0.0 {
                *s = 1.0;
            }
        }
        let target: Vec<R> = basis
            .iter()
            .zip(&signs)
            .map(|(&j, &s)| {
                let mut t = c[j].clone();
                t *= s;
                t
            })
            .collect();
        let lambda = solve_refined(&bt, &lu_t, &target);
        let abs_lambda: Vec<R> = lambda.iter().map(Real::abs).collect();
        // Pricing: relative violation (|X_jᵀλ| − c_j)/c_j beyond the rounding
        // bound of X_jᵀλ.
        let mut entering: Option<(usize, f64, f64)> = None; // (j, violation, σ)
        for (j, cj) in c.iter().enumerate().take(d) {
            if basis.contains(&j) {
                continue;
            }
            let (z, a) = super::interpolant::column_dual(x, j, &lambda, &abs_lambda);
            let mut excess = z.abs();
            excess -= cj;
            let mut rel = excess.clone();
            rel /= cj;
            let mut round = a;
            round /= cj;
            let tol = 4.0 * (n as f64 + 2.0) * eps * round.to_f64();
            let v = rel.to_f64();
            if v > tol {
                let better = match entering {
                    None => true,
                    Some((_, best, _)) => !last_step_degenerate && v > best,
                };
                if better {
                    entering = Some((j, v, sign_of(&z)));
                }
            }
        }
        let Some((j_in, _, sigma)) = entering else {
            // Optimal: zero the degenerate basic entries, those below the
            // componentwise (Skeel) bound of their rounding error,
            // 16 γ (|X_B⁻¹| (|X_B||β_B| + |y|))_k.
            let inv = lu.inverse();
            let inverse_norm1 = (0..n)
                .map(|k| (0..n).map(|i| inv[(i, k)].to_f64().abs()).sum::<f64>())
                .fold(0.0, f64::max);
            let scale: Vec<R> = (0..n)
                .map(|i| {
                    let mut s = y[i].abs();
                    for (k, bk) in beta_b.iter().enumerate() {
                        let mut t = b[(i, k)].abs();
                        t *= &bk.abs();
                        s += &t;
                    }
                    s
                })
                .collect();
            let g = 16.0 * (n as f64 + 1.0) * eps;
            let mut beta = vec![R::zero(ctx); d];
            let mut beta_full = vec![R::zero(ctx); d];
            for (k, &j) in basis.iter().enumerate() {
                let mut bound = R::zero(ctx);
                for (i, si) in scale.iter().enumerate() {
                    bound.add_mul(&inv[(k, i)].abs(), si);
                }
                bound *= g;
                if beta_b[k].abs() > bound {
                    beta[j] = beta_b[k].clone();
                }
                beta_full[j] = beta_b[k].clone();
            }
            return Ok(Vertex {
                basis,
                beta,
                beta_full,
                lambda,
                pivots,
                inverse_norm1,
            });
        };
        if pivots >= max_pivots {
            return Err(SimplexError::IterationLimit { pivots });
        }
        // Direction and ratio test.
        let col: Vec<R> = (0..n).map(|i| x[(i, j_in)].clone()).collect();
        let w = solve_refined(&b, &lu, &col);
        let mut leave: Option<(usize, R)> = None;
        for k in 0..n {
            // β_k(t) = β_k − tσw_k moves towards 0 when s_k σ w_k > 0.
            let toward = signs[k] * sigma * sign_of(&w[k]) > 0.0;
            if !toward {
                continue;
            }
            let mut t = beta_b[k].abs();
            t /= &w[k].abs();
            let replace = match &leave {
                None => true,
                Some((kb, tb)) => t < *tb || (t == *tb && basis[k] < basis[*kb]),
            };
            if replace {
                leave = Some((k, t));
            }
        }
        let Some((k_out, t)) = leave else {
            return Err(SimplexError::Unbounded { pivots });
        };
        last_step_degenerate = t.is_zero();
        basis[k_out] = j_in;
        signs[k_out] = sigma;
        pivots += 1;
    }
}
