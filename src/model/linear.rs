//! `Linear`: f(x; θ) = ⟨θ, x⟩, β = θ. The negative control: every SGD update is
//! a combination of rows of X, so the null-space part of θ never moves.

use super::{LinearInX, Model, TraceGradient};
use crate::data::Dataset;
use crate::linalg::{axpy, dot_into, Mat};
use crate::scalar::Real;

/// Linear model with d parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    /// Input dimension d (= D).
    pub d: usize,
}

impl Linear {
    /// Linear model on d features.
    pub fn new(d: usize) -> Self {
        Self { d }
    }
}

/// Scratch for [`Linear`]: one negated coefficient.
#[derive(Debug)]
pub struct LinearWorkspace<R> {
    neg_coef: R,
}

impl<R: Real> Model<R> for Linear {
    type Workspace = LinearWorkspace<R>;

    fn name(&self) -> &'static str {
        "linear"
    }
    fn input_dim(&self) -> usize {
        self.d
    }
    fn param_dim(&self) -> usize {
        self.d
    }
    fn workspace(&self, ctx: R::Ctx) -> Self::Workspace {
        LinearWorkspace {
            neg_coef: R::zero(ctx),
        }
    }
    #[inline]
    fn predict_into(&self, theta: &[R], x: &[R], out: &mut R, _ws: &mut Self::Workspace) {
        dot_into(out, theta, x);
    }
    fn grad_into(&self, _theta: &[R], x: &[R], out: &mut [R], _ws: &mut Self::Workspace) {
        for (o, xi) in out.iter_mut().zip(x) {
            o.assign(xi);
        }
    }
    fn add_scaled_grad(
        &self,
        _theta: &[R],
        x: &[R],
        c: &R,
        g: &mut [R],
        _ws: &mut Self::Workspace,
    ) {
        // ∇f = x: `grad_into` copies x exactly, so the axpy on x is the same.
        axpy(g, c, x);
    }
    #[inline]
    fn descend(&self, theta: &mut [R], x: &Mat<R>, batch: &[(usize, R)], ws: &mut Self::Workspace) {
        // ∇f does not depend on θ, so sequential updates equal the simultaneous one.
        for (row, coef) in batch {
            self.descend_one(theta, x.row(*row), coef, ws);
        }
    }
    #[inline]
    fn descend_one(&self, theta: &mut [R], x: &[R], coef: &R, ws: &mut Self::Workspace) {
        ws.neg_coef.assign(coef);
        ws.neg_coef.neg_mut();
        axpy(theta, &ws.neg_coef, x);
    }
    fn sgd_kernel(&self) -> Option<super::SgdKernel> {
        Some(super::SgdKernel::Linear)
    }
}

impl<R: Real> LinearInX<R> for Linear {
    fn beta_into(&self, theta: &[R], out: &mut [R]) {
        for (o, t) in out.iter_mut().zip(theta) {
            o.assign(t);
        }
    }
}

impl<R: Real> TraceGradient<R> for Linear {
    /// tr G = Σ_j c_j, independent of θ.
    fn trace_gn(&self, _theta: &[R], data: &Dataset<R>) -> R {
        let mut acc = R::zero(data.ctx());
        for c in &data.column_moments {
            acc += c;
        }
        acc
    }
    /// ∇ tr G = 0: the slow flow is zero for the linear model.
    fn grad_trace_gn_into(&self, _theta: &[R], _data: &Dataset<R>, out: &mut [R]) {
        for o in out.iter_mut() {
            o.set_f64(0.0);
        }
    }
}
