//! Checks shared by the model test suites (`models.rs`, `mlp.rs`): every
//! model's derivatives against finite differences, in any scalar type.
#![allow(dead_code)] // each test crate uses its own subset

use latedecay::model::{finite_difference_gradient, Model, Problem};
use latedecay::scalar::Real;
use proptest::prelude::*;

/// The bits of every f64 field of a record (NaN included), for bit-identity
/// checks between runs.
pub fn record_bits(r: &latedecay::dynamics::sgd::Record) -> Vec<u64> {
    [
        r.lr,
        r.sde_time,
        r.flow_time,
        r.train_loss,
        r.test_loss,
        r.norm,
        r.beta_l1,
        r.residual_norm,
        r.dist_minnorm,
    ]
    .iter()
    .map(|v| v.to_bits())
    .collect()
}

/// max_i |a_i − b_i| / max(1, max_i |b_i|).
pub fn max_rel_err<R: Real>(a: &[R], b: &[R]) -> f64 {
    let scale = b.iter().map(|v| v.to_f64().abs()).fold(1.0, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let mut d = x.clone();
            d -= y;
            d.to_f64().abs() / scale
        })
        .fold(0.0, f64::max)
}

/// The derivative identities every model must satisfy at θ: ∇f_i and ∇L
/// against central finite differences (step `h`, tolerance `tol`), and
/// `descend` = θ − Σ_b c_b ∇f_b(θ_old) for B = 1 and B = 3 (to `tol · 1e-3`).
pub fn check_model_derivatives<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    h: f64,
    tol: f64,
) -> Result<(), TestCaseError> {
    let ctx = problem.ctx();
    let model = &problem.model;
    let dim = problem.dim();
    let mut ws = model.workspace(ctx);
    for i in 0..problem.n() {
        let x = problem.data.x.row(i).to_vec();
        let mut grad = vec![R::zero(ctx); dim];
        model.grad_into(theta, &x, &mut grad, &mut ws);
        let fd = finite_difference_gradient(
            |t: &[R]| {
                let mut ws = model.workspace(ctx);
                let mut out = R::zero(ctx);
                model.predict_into(t, &x, &mut out, &mut ws);
                out
            },
            theta,
            h,
        );
        prop_assert!(max_rel_err(&grad, &fd) < tol, "∇f mismatch at sample {i}");
    }
    // ∇L = Jᵀr/n against finite differences of L.
    let grad_l = problem.gradient(theta);
    let fd_l = finite_difference_gradient(|t: &[R]| problem.train_loss(t), theta, h);
    prop_assert!(max_rel_err(&grad_l, &fd_l) < tol, "∇L mismatch");
    // descend = θ − Σ_b c_b ∇f_b(θ_old), for B = 1 and B = 3.
    for batch_rows in [vec![1usize], vec![0, 2, 1]] {
        let batch: Vec<(usize, R)> = batch_rows
            .iter()
            .enumerate()
            .map(|(b, &row)| (row, R::from_f64(0.01 * (b as f64 + 1.0), ctx)))
            .collect();
        let mut expected = theta.to_vec();
        let mut grad = vec![R::zero(ctx); dim];
        for (row, coef) in &batch {
            model.grad_into(theta, problem.data.x.row(*row), &mut grad, &mut ws);
            for (e, g) in expected.iter_mut().zip(&grad) {
                e.sub_mul(coef, g);
            }
        }
        let mut stepped = theta.to_vec();
        model.descend(&mut stepped, &problem.data.x, &batch, &mut ws);
        prop_assert!(
            max_rel_err(&stepped, &expected) < tol * 1e-3,
            "descend mismatch"
        );
    }
    Ok(())
}

/// The synthetic Gaussian design with normalized columns used across the
/// suites (n × d, default β* and data seed).
pub fn normalized_design(n: usize, d: usize) -> latedecay::data::Dataset<f64> {
    latedecay::data::Dataset::synthetic(&latedecay::data::SyntheticConfig {
        n,
        d,
        normalize_columns: true,
        ..Default::default()
    })
    .expect("valid synthetic design")
}
