//! Models f(x; θ) and the *problem* (model + data): loss, residuals, Jacobian,
//! Gauss–Newton matrix, tr G and its gradient.
//!
//! Capability traits, in the argmin style: every model implements [`Model`]
//! (prediction, gradient, SGD update); models linear in x implement
//! [`LinearInX`] (β(θ), closed-form test loss); models whose ∇ tr G has a closed
//! form implement [`TraceGradient`] (needed by the label-noise slow flow).

pub mod diagonal;
pub mod linear;
pub mod mlp;

pub use diagonal::Diagonal;
pub use linear::Linear;
pub use mlp::Mlp;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::linalg::{dot_into, norm, Mat};
use crate::scalar::Real;

/// Which model (for configs and the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// β = θ (negative control).
    Linear,
    /// Diagonal linear network, θ = (u, v), β = u ⊙ v.
    Diagonal,
    /// Two-layer network aᵀσ(Wx)/√m (needs an `[mlp]` section).
    Mlp,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Linear => "linear",
            ModelKind::Diagonal => "diagonal",
            ModelKind::Mlp => "mlp",
        })
    }
}

/// A parametric model f(x; θ), θ ∈ ℝ^D, x ∈ ℝ^d.
pub trait Model<R: Real>: Clone + Send + Sync {
    /// Scratch space reused across calls (no allocation in hot loops).
    type Workspace: Send;

    /// Short name.
    fn name(&self) -> &'static str;
    /// Input dimension d.
    fn input_dim(&self) -> usize;
    /// Parameter dimension D.
    fn param_dim(&self) -> usize;
    /// Fresh workspace in a scalar context.
    fn workspace(&self, ctx: R::Ctx) -> Self::Workspace;
    /// `out = f(x; θ)`.
    fn predict_into(&self, theta: &[R], x: &[R], out: &mut R, ws: &mut Self::Workspace);
    /// `out = ∇_θ f(x; θ)` (length D).
    fn grad_into(&self, theta: &[R], x: &[R], out: &mut [R], ws: &mut Self::Workspace);
    /// The SGD update θ ← θ − Σ_b coef_b ∇f(x_{row_b}; θ), all gradients taken at
    /// the *old* θ (simultaneous update of every coordinate).
    fn descend(&self, theta: &mut [R], x: &Mat<R>, batch: &[(usize, R)], ws: &mut Self::Workspace);
    /// `g += c · ∇f(x; θ)`, the same bits as `grad_into` into a row buffer
    /// then `axpy(g, c, row)` (a model may fuse the two and skip the buffer).
    fn add_scaled_grad(&self, theta: &[R], x: &[R], c: &R, g: &mut [R], ws: &mut Self::Workspace);
    /// [`Model::descend`] with the batch of one `(x, coef)`, called right after
    /// `predict_into(θ, x, …, ws)` with the same θ, x and workspace: a model
    /// whose prediction leaves in `ws` what the update needs (the Mlp's
    /// hidden activations) skips recomputing it — the same values, so the
    /// same bits as `descend`.
    fn descend_one(&self, theta: &mut [R], x: &[R], coef: &R, ws: &mut Self::Workspace);
    /// Distance from θ to a reference point θ_ref (θ_mn) up to the parameter
    /// symmetries under which the model's interpolant is the same point:
    /// Euclidean by default; the diagonal network takes the nearest sign flip
    /// (u_j, v_j) → (−u_j, −v_j), which leaves β = u ⊙ v unchanged.
    fn reference_distance(&self, theta: &[R], theta_ref: &[R]) -> R {
        crate::linalg::distance(theta, theta_ref)
    }
    /// The f64 whole-loop SGD kernel that performs exactly this model's
    /// `predict_into` + `descend` (`dynamics::sgd`'s fast path), if any.
    fn sgd_kernel(&self) -> Option<SgdKernel> {
        None
    }
}

/// Models with an f64 whole-loop SGD kernel (`dynamics::sgd`'s fast path:
/// the same operations in the same order as the generic step, so the same
/// bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SgdKernel {
    /// [`Linear`]: θ ← θ − c x.
    Linear,
    /// [`Diagonal`]: u ← u − c x ⊙ v, v ← v − c x ⊙ u.
    Diagonal,
}

/// Models whose prediction is ⟨β(θ), x⟩.
pub trait LinearInX<R: Real>: Model<R> {
    /// `out = β(θ)` (length d).
    fn beta_into(&self, theta: &[R], out: &mut [R]);
    /// β(θ) as a new vector.
    fn beta(&self, theta: &[R]) -> Vec<R> {
        let mut out = vec![R::zero(theta[0].ctx()); self.input_dim()];
        self.beta_into(theta, &mut out);
        out
    }
}

/// Models with a closed-form tr G(θ) and ∇ tr G(θ), G = JᵀJ/n.
pub trait TraceGradient<R: Real>: Model<R> {
    /// tr G(θ) for the given data.
    fn trace_gn(&self, theta: &[R], data: &Dataset<R>) -> R;
    /// `out = ∇_θ tr G(θ)`.
    fn grad_trace_gn_into(&self, theta: &[R], data: &Dataset<R>, out: &mut [R]);
}

/// Model + data: the mathematical problem that every method works on.
#[derive(Debug, Clone)]
pub struct Problem<R: Real, M> {
    /// The model.
    pub model: M,
    /// The data.
    pub data: Dataset<R>,
}

impl<R: Real, M: Model<R>> Problem<R, M> {
    /// Pair a model with data (checks the input dimension).
    pub fn new(model: M, data: Dataset<R>) -> Self {
        assert_eq!(
            model.input_dim(),
            data.d(),
            "model input dimension does not match the data"
        );
        Self { model, data }
    }
    /// Scalar context.
    pub fn ctx(&self) -> R::Ctx {
        self.data.ctx()
    }
    /// Number of samples.
    pub fn n(&self) -> usize {
        self.data.n()
    }
    /// Parameter dimension D.
    pub fn dim(&self) -> usize {
        self.model.param_dim()
    }
    /// Residuals r_i = f(x_i; θ) − y_i.
    pub fn residuals_into(&self, theta: &[R], out: &mut [R], ws: &mut M::Workspace) {
        for (i, o) in out.iter_mut().enumerate() {
            self.model.predict_into(theta, self.data.x.row(i), o, ws);
            *o -= &self.data.y[i];
        }
    }
    /// Residual vector (allocating).
    pub fn residuals(&self, theta: &[R]) -> Vec<R> {
        let mut ws = self.model.workspace(self.ctx());
        let mut r = vec![R::zero(self.ctx()); self.n()];
        self.residuals_into(theta, &mut r, &mut ws);
        r
    }
    /// Training loss L(θ) = (1/2n) Σ r_i².
    pub fn train_loss(&self, theta: &[R]) -> R {
        let r = self.residuals(theta);
        let mut l = R::zero(self.ctx());
        dot_into(&mut l, &r, &r);
        l /= 2.0 * self.n() as f64;
        l
    }
    /// Jacobian J (n × D), rows ∇f_i.
    pub fn jacobian(&self, theta: &[R]) -> Mat<R> {
        let ctx = self.ctx();
        let mut ws = self.model.workspace(ctx);
        let mut jac = Mat::zeros(self.n(), self.dim(), ctx);
        for i in 0..self.n() {
            let row = self.data.x.row(i);
            self.model.grad_into(theta, row, jac.row_mut(i), &mut ws);
        }
        jac
    }
    /// Full gradient ∇L = Jᵀ r / n.
    pub fn gradient(&self, theta: &[R]) -> Vec<R> {
        let ctx = self.ctx();
        let r = self.residuals(theta);
        // Jᵀr one row ∇f_i at a time: the same axpy over i = 0, 1, … from zero
        // as `jacobian(θ).tr_mul_vec(r)` (so the same bits), without filling
        // the n × D Jacobian (most of the time of the gradient-flow solves);
        // the diagonal network fuses each row into its axpy.
        let mut ws = self.model.workspace(ctx);
        let mut g = vec![R::zero(ctx); self.dim()];
        for (i, ri) in r.iter().enumerate() {
            self.model
                .add_scaled_grad(theta, self.data.x.row(i), ri, &mut g, &mut ws);
        }
        for gi in g.iter_mut() {
            *gi /= self.n() as f64;
        }
        g
    }
    /// Gauss–Newton matrix G = JᵀJ/n (D × D).
    pub fn gauss_newton(&self, theta: &[R]) -> Mat<R> {
        let jac_t = self.jacobian(theta).transpose();
        let mut g = jac_t.gram_rows();
        for v in g.as_mut_slice() {
            *v /= self.n() as f64;
        }
        g
    }
    /// tr G computed from the Jacobian: (1/n) Σ_i ‖∇f_i‖² (any model).
    pub fn trace_gn_generic(&self, theta: &[R]) -> R {
        let jac = self.jacobian(theta);
        let mut acc = R::zero(self.ctx());
        for v in jac.as_slice() {
            acc.add_mul(v, v);
        }
        acc /= self.n() as f64;
        acc
    }
    /// Euclidean residual norm ‖r(θ)‖.
    pub fn residual_norm(&self, theta: &[R]) -> R {
        norm(&self.residuals(theta))
    }
}

impl<R: Real, M: LinearInX<R>> Problem<R, M> {
    /// Closed-form test loss R(β(θ)), if β* is known.
    pub fn test_loss(&self, theta: &[R]) -> Option<R> {
        self.data.test_loss(&self.model.beta(theta))
    }
}

/// Finite-difference gradient of a scalar function (central differences), used by
/// derivative tests for both scalar types.
pub fn finite_difference_gradient<R: Real>(
    f: impl Fn(&[R]) -> R,
    theta: &[R],
    step: f64,
) -> Vec<R> {
    let mut work = theta.to_vec();
    let mut out = Vec::with_capacity(theta.len());
    for k in 0..theta.len() {
        work[k] += step;
        let plus = f(&work);
        work[k] -= 2.0 * step;
        let mut g = f(&work);
        work[k].assign(&theta[k]);
        g.neg_mut();
        g += &plus;
        g /= 2.0 * step;
        out.push(g);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Diagonal, Linear, Mlp, Model};
    use crate::scalar::{Mpfr, Real};

    /// `add_scaled_grad` of `model` gives the bits of `grad_into` then `axpy`.
    fn check_add_scaled_grad<R: Real, M: Model<R>>(model: &M, ctx: R::Ctx) {
        let dim = model.param_dim();
        let v = |n: usize, f: fn(f64) -> f64| -> Vec<R> {
            (0..n).map(|i| R::from_f64(f(i as f64), ctx)).collect()
        };
        let theta = v(dim, |i| (0.9 * i + 0.1).sin());
        let x = v(model.input_dim(), |i| (1.7 * i).cos());
        let g0 = v(dim, |i| 0.01 * i - 0.05);
        let c = R::from_f64(-0.37, ctx);
        let mut ws = model.workspace(ctx);
        let (mut fused, mut reference, mut row) = (g0.clone(), g0.clone(), g0.clone());
        model.add_scaled_grad(&theta, &x, &c, &mut fused, &mut ws);
        model.grad_into(&theta, &x, &mut row, &mut ws);
        crate::linalg::axpy(&mut reference, &c, &row);
        assert!(fused != g0, "{}: moved", model.name());
        let bits = |t: &[R]| t.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&fused),
            bits(&reference),
            "{} ({})",
            model.name(),
            R::NAME
        );
        assert!(fused == reference, "{} ({})", model.name(), R::NAME);
    }

    /// Every model's `add_scaled_grad` (the diagonal network's fused kernel,
    /// the others' axpy) gives the bits of its definition, in f64 (on the
    /// dispatched axpy) and in MPFR.
    #[test]
    fn add_scaled_grad_matches_grad_into_then_axpy() {
        let d = 11;
        check_add_scaled_grad::<f64, _>(&Diagonal::new(d), ());
        check_add_scaled_grad::<Mpfr, _>(&Diagonal::new(d), 256);
        check_add_scaled_grad::<f64, _>(&Linear::new(d), ());
        check_add_scaled_grad::<Mpfr, _>(&Linear::new(d), 256);
        check_add_scaled_grad::<f64, _>(&Mlp::new(d, 3), ());
        check_add_scaled_grad::<Mpfr, _>(&Mlp::new(d, 3), 256);
    }
}
