//! Derivative checks for `Linear` and `Diagonal`, one proptest suite generated
//! for both scalar types (f64 and 256-bit MPFR), nalgebra style.
//!
//! Tolerances: central differences with step h have truncation error O(h²·f''')
//! and roundoff O(ε·|f|/h). For f64 we use h = 1e-5 (error ≲ 1e-9 relative);
//! for MPFR at 256 bits h = 1e-25 (truncation ~1e-50, roundoff ~1e-52).
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latedecay::data::Dataset;
use latedecay::linalg::{dot, Mat};
use latedecay::model::{
    finite_difference_gradient, Diagonal, Linear, LinearInX, Problem, TraceGradient,
};
use latedecay::scalar::{Mpfr, Real};
use proptest::prelude::*;

use crate::common;
use crate::common::{check_model_derivatives, max_rel_err};

fn data<R: Real>(n: usize, d: usize, seed: u64, normalize: bool, ctx: R::Ctx) -> Dataset<R> {
    common::seeded_design(n, d, seed, normalize).convert::<R>(ctx)
}

/// All derivative identities of a model on one random point.
fn check_model<R: Real, M: LinearInX<R> + TraceGradient<R>>(
    model: M,
    data: Dataset<R>,
    theta: Vec<R>,
    h: f64,
    tol: f64,
) -> Result<(), TestCaseError> {
    let ctx = data.ctx();
    let problem = Problem::new(model.clone(), data);
    check_model_derivatives(&problem, &theta, h, tol)?;
    // f = ⟨β(θ), x⟩ for models linear in x.
    let mut ws = model.workspace(ctx);
    for i in 0..problem.n() {
        let x = problem.data.x.row(i);
        let mut f = R::zero(ctx);
        model.predict_into(&theta, x, &mut f, &mut ws);
        let f_beta = dot(&model.beta(&theta), x);
        prop_assert!(max_rel_err(&[f], &[f_beta]) < tol);
    }
    // Closed-form tr G equals (1/n) Σ ‖∇f_i‖², and ∇ tr G matches finite differences.
    let tr = model.trace_gn(&theta, &problem.data);
    let tr_generic = problem.trace_gn_generic(&theta);
    prop_assert!(max_rel_err(&[tr], &[tr_generic]) < tol, "tr G mismatch");
    let mut grad_tr = vec![R::zero(ctx); model.param_dim()];
    model.grad_trace_gn_into(&theta, &problem.data, &mut grad_tr);
    let fd_tr = finite_difference_gradient(|t: &[R]| model.trace_gn(t, &problem.data), &theta, h);
    prop_assert!(max_rel_err(&grad_tr, &fd_tr) < tol, "∇ tr G mismatch");
    // G = JᵀJ/n has trace tr G.
    let g: Mat<R> = problem.gauss_newton(&theta);
    let mut tr_g = R::zero(ctx);
    for k in 0..g.rows() {
        tr_g += &g[(k, k)];
    }
    prop_assert!(max_rel_err(&[tr_g], &[model.trace_gn(&theta, &problem.data)]) < tol);
    Ok(())
}

macro_rules! model_suite {
    ($modname:ident, $scalar:ty, $ctx:expr, $h:expr, $tol:expr) => {
        mod $modname {
            use super::*;
            proptest! {
                #![proptest_config(common::prop_config(24))]
                #[test]
                fn diagonal_derivatives(seed in 0u64..1000, coords in prop::collection::vec(-2.0f64..2.0, 12), normalize: bool) {
                    let d = 6;
                    let data = data::<$scalar>(3, d, seed, normalize, $ctx);
                    let theta: Vec<$scalar> = coords.iter().map(|&c| <$scalar>::from_f64(c, $ctx)).collect();
                    check_model(Diagonal::new(d), data, theta, $h, $tol)?;
                }
                #[test]
                fn linear_derivatives(seed in 0u64..1000, coords in prop::collection::vec(-2.0f64..2.0, 6)) {
                    let d = 6;
                    let data = data::<$scalar>(3, d, seed, false, $ctx);
                    let theta: Vec<$scalar> = coords.iter().map(|&c| <$scalar>::from_f64(c, $ctx)).collect();
                    check_model(Linear::new(d), data, theta, $h, $tol)?;
                }
            }
        }
    };
}

model_suite!(f64_suite, f64, (), 1e-5, 1e-7);
model_suite!(mpfr_suite, Mpfr, 256, 1e-25, 1e-45);

/// Negative control: a wrong gradient (v ⊙ x replaced by u ⊙ x) is caught.
#[test]
fn derivative_check_rejects_a_wrong_gradient() {
    let d = 4;
    let data = data::<f64>(3, d, 5, false, ());
    let theta = vec![0.3, -1.2, 0.7, 1.1, -0.4, 0.9, 1.3, -0.8];
    let x = data.x.row(0).to_vec();
    let model = Diagonal::new(d);
    let mut wrong = vec![0.0; 2 * d];
    for j in 0..d {
        wrong[j] = theta[j] * x[j]; // should be v_j x_j
        wrong[d + j] = theta[j] * x[j];
    }
    let fd = common::fd_prediction_gradient(&model, &x, &theta, 1e-5, ());
    assert!(max_rel_err(&wrong, &fd) > 1e-3);
}
