//! The minima manifold Γ = {θ : r(θ) = 0}: projection onto Γ, the tangent
//! projector P(θ) = I − Jᵀ(JJᵀ)⁻¹J, the minimum-norm interpolant θ_mn and the
//! flattest interpolant θ_R = argmin_{θ∈Γ} tr G(θ).

pub mod basis_pursuit;
mod exact_bp;
pub mod interpolant;

pub use interpolant::{
    flattest_interpolant, flattest_interpolant_reusing, min_norm_interpolant, Interpolant,
    InterpolantError,
};

use crate::linalg::{norm, Cholesky, LinalgError, Mat};
use crate::model::{Model, Problem};
use crate::scalar::Real;

/// Result of projecting a point onto Γ.
#[derive(Debug, Clone)]
pub struct Projection<R> {
    /// The projected point.
    pub theta: Vec<R>,
    /// ‖r(θ)‖ reached.
    pub residual_norm: f64,
    /// Gauss–Newton iterations used.
    pub iterations: usize,
    /// Whether `tol` was reached.
    pub converged: bool,
}

/// Project θ onto Γ by Gauss–Newton steps θ ← θ − Jᵀ(JJᵀ)⁻¹ r(θ) (the
/// minimum-norm correction that zeroes the linearized residual). Stops when
/// ‖r‖ ≤ `tol` or after `max_iter` steps; the residual reached is reported.
pub fn project_onto_manifold<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    tol: f64,
    max_iter: usize,
) -> Result<Projection<R>, LinalgError> {
    gauss_newton_projection(
        theta,
        tol,
        max_iter,
        |t| problem.residuals(t),
        |r| norm(r).to_f64(),
        |t, mut r| {
            let jac = problem.jacobian(t);
            let chol = Cholesky::new(jac.gram_rows())?;
            chol.solve_mut(&mut r);
            Ok(jac.tr_mul_vec(&r))
        },
    )
}

/// The Gauss–Newton iteration of every projection onto Γ, with the model's
/// pieces passed in: `residuals(θ)` = r(θ), `residual_norm(r)` = ‖r‖ (the
/// stopping rule's norm), `correction(θ, r)` = Jᵀ(JJᵀ)⁻¹r. Stops when
/// ‖r‖ ≤ `tol`, after `max_iter` steps, when ‖r‖ is not finite, or when it
/// stops decreasing after the third step (quadratic convergence stalls at
/// the roundoff floor). Model-specific projections (the Mlp's, from its
/// gradient factors) call this with their own `correction`.
pub fn gauss_newton_projection<R: Real>(
    theta: &[R],
    tol: f64,
    max_iter: usize,
    residuals: impl Fn(&[R]) -> Vec<R>,
    residual_norm: impl Fn(&[R]) -> f64,
    mut correction: impl FnMut(&[R], Vec<R>) -> Result<Vec<R>, LinalgError>,
) -> Result<Projection<R>, LinalgError> {
    let mut theta = theta.to_vec();
    let mut r = residuals(&theta);
    let mut res = residual_norm(&r);
    let mut iterations = 0;
    while res > tol && iterations < max_iter {
        let step = correction(&theta, r)?;
        for (t, s) in theta.iter_mut().zip(&step) {
            *t -= s;
        }
        r = residuals(&theta);
        let new_res = residual_norm(&r);
        iterations += 1;
        if !new_res.is_finite() {
            break;
        }
        if new_res >= res && iterations > 3 {
            res = new_res;
            break;
        }
        res = new_res;
    }
    Ok(Projection {
        theta,
        residual_norm: res,
        iterations,
        converged: res <= tol,
    })
}

/// Apply the tangent projector: `out = v − Jᵀ(JJᵀ)⁻¹ J v` at θ.
pub fn project_tangent<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    v: &[R],
) -> Result<Vec<R>, LinalgError> {
    let jac = problem.jacobian(theta);
    let chol = Cholesky::new(jac.gram_rows())?;
    project_tangent_with(&jac, &chol, v)
}

/// Tangent projection with a precomputed Jacobian and Cholesky factor of JJᵀ.
pub fn project_tangent_with<R: Real>(
    jac: &Mat<R>,
    chol: &Cholesky<R>,
    v: &[R],
) -> Result<Vec<R>, LinalgError> {
    let mut jv = jac.mul_vec(v);
    chol.solve_mut(&mut jv);
    let normal = jac.tr_mul_vec(&jv);
    let mut out = v.to_vec();
    for (o, nrm) in out.iter_mut().zip(&normal) {
        *o -= nrm;
    }
    Ok(out)
}

/// The tangent projector P(θ) = I − Jᵀ(JJᵀ)⁻¹J as a D × D matrix.
pub fn tangent_projector<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
) -> Result<Mat<R>, LinalgError> {
    let ctx = problem.ctx();
    let jac = problem.jacobian(theta);
    let chol = Cholesky::new(jac.gram_rows())?;
    let dim = problem.dim();
    let mut p = Mat::zeros(dim, dim, ctx);
    let mut e = vec![R::zero(ctx); dim];
    for k in 0..dim {
        e[k].set_f64(1.0);
        let col = project_tangent_with(&jac, &chol, &e)?;
        for (i, c) in col.into_iter().enumerate() {
            p[(i, k)] = c;
        }
        e[k].set_f64(0.0);
    }
    Ok(p)
}
