//! `Diagonal`: the diagonal linear network θ = (u, v) ∈ ℝ^{2d}, β = u ⊙ v.
//!
//! ∇_u f = v ⊙ x, ∇_v f = u ⊙ x; tr G = Σ_j c_j (u_j² + v_j²),
//! ∇ tr G = 2 (c ⊙ u, c ⊙ v). Storage: θ[..d] = u, θ[d..] = v.

use super::{LinearInX, Model, TraceGradient};
use crate::data::Dataset;
use crate::linalg::Mat;
use crate::scalar::Real;

/// Diagonal linear network on d features (D = 2d parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagonal {
    /// Input dimension d.
    pub d: usize,
}

impl Diagonal {
    /// Diagonal network on d features.
    pub fn new(d: usize) -> Self {
        Self { d }
    }
    /// θ = (u, v) with u = v = `scale`·1 (the standard "large init").
    pub fn uniform_init<R: Real>(&self, scale: f64, ctx: R::Ctx) -> Vec<R> {
        vec![R::from_f64(scale, ctx); 2 * self.d]
    }
}

/// Scratch for [`Diagonal`].
#[derive(Debug)]
pub struct DiagonalWorkspace<R> {
    direction: Vec<R>,
    tmp: R,
    tmps: [R; 3],
}

impl<R: Real> Model<R> for Diagonal {
    type Workspace = DiagonalWorkspace<R>;

    fn name(&self) -> &'static str {
        "diagonal"
    }
    fn reference_distance(&self, theta: &[R], theta_ref: &[R]) -> R {
        flip_distance(theta, theta_ref)
    }
    fn input_dim(&self) -> usize {
        self.d
    }
    fn param_dim(&self) -> usize {
        2 * self.d
    }
    fn workspace(&self, ctx: R::Ctx) -> Self::Workspace {
        DiagonalWorkspace {
            direction: vec![R::zero(ctx); self.d],
            tmp: R::zero(ctx),
            tmps: [R::zero(ctx), R::zero(ctx), R::zero(ctx)],
        }
    }
    #[inline]
    fn predict_into(&self, theta: &[R], x: &[R], out: &mut R, ws: &mut Self::Workspace) {
        let (u, v) = theta.split_at(self.d);
        R::triple_dot_into(out, u, v, x, &mut ws.tmp);
    }
    fn grad_into(&self, theta: &[R], x: &[R], out: &mut [R], _ws: &mut Self::Workspace) {
        let (u, v) = theta.split_at(self.d);
        let (gu, gv) = out.split_at_mut(self.d);
        for j in 0..self.d {
            gu[j].set_mul(&v[j], &x[j]);
            gv[j].set_mul(&u[j], &x[j]);
        }
    }
    fn add_scaled_grad(&self, theta: &[R], x: &[R], c: &R, g: &mut [R], ws: &mut Self::Workspace) {
        // g_j += c·(v_j x_j), g_{d+j} += c·(u_j x_j): the products of
        // `grad_into`, rounded as there, then what `axpy_into` does per
        // element (f64: y + c·t on the SIMD kernels, MPFR: fused).
        let (u, v) = theta.split_at(self.d);
        let (gu, gv) = g.split_at_mut(self.d);
        R::diagonal_grad_axpy_into(gu, gv, u, v, x, c, &mut ws.tmp);
    }
    #[inline]
    fn descend(&self, theta: &mut [R], x: &Mat<R>, batch: &[(usize, R)], ws: &mut Self::Workspace) {
        if let [(row, coef)] = batch {
            return self.descend_one(theta, x.row(*row), coef, ws);
        }
        let (u, v) = theta.split_at_mut(self.d);
        for w in ws.direction.iter_mut() {
            w.set_f64(0.0);
        }
        for (row, coef) in batch {
            crate::linalg::axpy(&mut ws.direction, coef, x.row(*row));
        }
        R::diagonal_update_into(u, v, &ws.direction, None, &mut ws.tmps);
    }
    fn descend_one(&self, theta: &mut [R], x: &[R], coef: &R, ws: &mut Self::Workspace) {
        // Fuse w_j = coef·x_j into the update (no direction buffer).
        // Multiplies and subtractions, no fused ops: cheaper in MPFR, and the
        // products use the old u_j, v_j (simultaneous update). f64: the
        // dispatched SIMD kernel (crate::simd), same operations.
        let (u, v) = theta.split_at_mut(self.d);
        R::diagonal_update_into(u, v, x, Some(coef), &mut ws.tmps);
    }
    fn sgd_kernel(&self) -> Option<super::SgdKernel> {
        Some(super::SgdKernel::Diagonal)
    }
}

impl<R: Real> LinearInX<R> for Diagonal {
    fn beta_into(&self, theta: &[R], out: &mut [R]) {
        let (u, v) = theta.split_at(self.d);
        for ((o, uj), vj) in out.iter_mut().zip(u).zip(v) {
            o.set_mul(uj, vj);
        }
    }
}

impl<R: Real> TraceGradient<R> for Diagonal {
    fn trace_gn(&self, theta: &[R], data: &Dataset<R>) -> R {
        let (u, v) = theta.split_at(self.d);
        let mut acc = R::zero(data.ctx());
        let mut sq = acc.clone();
        for ((uj, vj), c) in u.iter().zip(v).zip(&data.column_moments) {
            sq.set_mul(uj, uj);
            sq.add_mul(vj, vj);
            acc.add_mul(&sq, c);
        }
        acc
    }
    fn grad_trace_gn_into(&self, theta: &[R], data: &Dataset<R>, out: &mut [R]) {
        let d = self.d;
        for (k, o) in out.iter_mut().enumerate() {
            o.set_mul(&theta[k], &data.column_moments[k % d]);
            *o *= 2.0;
        }
    }
}

/// Minimal distance from θ to θ_ref over per-coordinate sign flips
/// (u_j, v_j) → (−u_j, −v_j) of θ_ref (separable, coordinate by coordinate).
pub fn flip_distance<R: Real>(theta: &[R], theta_ref: &[R]) -> R {
    let d = theta.len() / 2;
    let ctx = theta[0].ctx();
    let mut total = R::zero(ctx);
    let (mut plus, mut minus, mut diff) = (R::zero(ctx), R::zero(ctx), R::zero(ctx));
    for j in 0..d {
        plus.set_f64(0.0);
        minus.set_f64(0.0);
        for k in [j, j + d] {
            diff.assign(&theta[k]);
            diff -= &theta_ref[k];
            plus.add_mul(&diff, &diff);
            diff.assign(&theta[k]);
            diff += &theta_ref[k];
            minus.add_mul(&diff, &diff);
        }
        total += if plus <= minus { &plus } else { &minus };
    }
    total.sqrt_mut();
    total
}
