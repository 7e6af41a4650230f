//! Exact identities of SGD (proofs/identities.md), checked in 256-bit
//! MPFR where they must hold to working precision, and in f64.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latedecay::data::Dataset;
use latedecay::dynamics::sgd::{run_sgd, RecordPlan, SgdState};
use latedecay::linalg::Mat;
use latedecay::model::{Diagonal, Linear, Model, Problem};
use latedecay::noise::{BatchNoise, Sampling};
use latedecay::probe::StandardProbe;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;

use crate::common;

fn dataset(n: usize, d: usize, seed: u64) -> Dataset<f64> {
    common::seeded_design(n, d, seed, false)
}

/// One SGD step written out by hand, returning the per-coordinate factor g_j.
fn diagonal_step_with_factor(
    problem: &Problem<Mpfr, Diagonal>,
    theta: &mut [Mpfr],
    noise: &mut BatchNoise,
    lr: f64,
    sigma: f64,
    batch_size: usize,
) -> Vec<Mpfr> {
    let ctx = 256;
    let d = problem.data.d();
    let mut idx = vec![0usize; batch_size];
    let mut xi = vec![0.0; batch_size];
    noise.next_batch(&mut idx, &mut xi);
    let mut ws = problem.model.workspace(ctx);
    let mut batch = Vec::new();
    let mut g = vec![Mpfr::zero(ctx); d];
    for (&row, &xib) in idx.iter().zip(&xi) {
        let mut r = Mpfr::zero(ctx);
        problem
            .model
            .predict_into(theta, problem.data.x.row(row), &mut r, &mut ws);
        r -= &problem.data.y[row];
        let mut noise_term = Mpfr::from_f64(xib, ctx);
        noise_term *= sigma;
        r -= &noise_term;
        r /= batch_size as f64;
        for j in 0..d {
            g[j].add_mul(&r, &problem.data.x[(row, j)]);
        }
        let mut coef = r.clone();
        coef *= lr;
        batch.push((row, coef));
    }
    problem
        .model
        .descend(theta, &problem.data.x, &batch, &mut ws);
    g
}

#[test]
fn diagonal_imbalance_identity_holds_to_1e_60_in_256_bits() {
    let data = dataset(8, 20, 3).convert::<Mpfr>(256);
    let problem = Problem::new(Diagonal::new(20), data);
    let mut theta: Vec<Mpfr> = (0..40)
        .map(|k| Mpfr::from_f64(0.5 + 0.05 * (k % 7) as f64 - 0.1 * (k % 3) as f64, 256))
        .collect();
    let mut noise = BatchNoise::new(11, 8, Sampling::WithReplacement, true);
    let mut worst = 0.0f64;
    for step in 0..200 {
        let lr = if step < 100 { 0.05 } else { 0.01 };
        let batch_size = 1 + step % 3;
        let before: Vec<Mpfr> = (0..20)
            .map(|j| {
                let mut a = theta[j].clone();
                a.square_mut();
                let mut b = theta[20 + j].clone();
                b.square_mut();
                a -= &b;
                a
            })
            .collect();
        let g = diagonal_step_with_factor(&problem, &mut theta, &mut noise, lr, 0.7, batch_size);
        for j in 0..20 {
            // (u'² − v'²) vs (u² − v²)(1 − η²g²)
            let mut lhs = theta[j].clone();
            lhs.square_mut();
            let mut v2 = theta[20 + j].clone();
            v2.square_mut();
            lhs -= &v2;
            let mut factor = g[j].clone();
            factor *= lr;
            factor.square_mut();
            factor.neg_mut();
            factor += 1.0;
            let mut rhs = before[j].clone();
            rhs *= &factor;
            let mut diff = lhs.clone();
            diff -= &rhs;
            let rel = diff.to_f64().abs() / rhs.to_f64().abs().max(1e-300);
            worst = worst.max(rel);
        }
    }
    assert!(worst <= 1e-60, "worst relative deviation {worst:e}");
}

#[test]
fn imbalance_identity_check_detects_a_wrong_update() {
    // Negative control: a sequential (non-simultaneous) update breaks the identity.
    let ctx = 256;
    let (u, v, w, lr) = (
        Mpfr::from_f64(0.8, ctx),
        Mpfr::from_f64(0.3, ctx),
        Mpfr::from_f64(0.9, ctx),
        0.1,
    );
    let mut u_new = u.clone();
    let mut step = w.clone();
    step *= lr;
    u_new.sub_mul(&step, &v);
    let mut v_new = v.clone();
    v_new.sub_mul(&step, &u_new); // wrong: uses the new u
    let mut lhs = u_new.clone();
    lhs.square_mut();
    let mut v2 = v_new;
    v2.square_mut();
    lhs -= &v2;
    let mut rhs = u.clone();
    rhs.square_mut();
    let mut v0 = v;
    v0.square_mut();
    rhs -= &v0;
    let mut factor = step.clone();
    factor.square_mut();
    factor.neg_mut();
    factor += 1.0;
    rhs *= &factor;
    lhs -= &rhs;
    assert!(lhs.to_f64().abs() > 1e-4);
}

/// (I − X⁺X)θ, computed as θ − Xᵀ(XXᵀ)⁻¹Xθ.
fn null_space_part<R: Real>(x: &Mat<R>, theta: &[R]) -> Vec<R> {
    let xt = x.mul_vec(theta);
    let row_part = latedecay::linalg::min_norm_solve(x, &xt).unwrap();
    theta
        .iter()
        .zip(&row_part)
        .map(|(t, r)| {
            let mut o = t.clone();
            o -= r;
            o
        })
        .collect()
}

fn linear_null_space_drift<R: Real>(ctx: R::Ctx, tol: f64) {
    let data = dataset(6, 15, 9).convert::<R>(ctx);
    let problem = Problem::new(Linear::new(15), data);
    let theta0: Vec<R> = (0..15)
        .map(|k| R::from_f64(1.0 - 0.1 * k as f64, ctx))
        .collect();
    let null0 = null_space_part(&problem.data.x, &theta0);
    let schedules = [
        Schedule::step_decay(0.05, 0.005, 300).unwrap(),
        Schedule::Cosine {
            lr: 0.06,
            lr_min: 0.0,
            total_steps: 600,
        },
        Schedule::MultiStep {
            lr: 0.04,
            milestones: vec![100, 400],
            factor: 0.3,
        },
    ];
    for (k, schedule) in schedules.into_iter().enumerate() {
        for (sampling, batch_size, sigma) in [
            (Sampling::WithReplacement, 1, 1.0),
            (Sampling::Shuffle, 2, 0.0),
            (Sampling::WithReplacement, 4, 2.0),
        ] {
            let method = common::sgd(batch_size, sigma, sampling, schedule.clone());
            let mut state = SgdState::new(theta0.clone(), 100 + k as u64, 6, &method);
            let mut probe = StandardProbe::new(&problem, None);
            let run = run_sgd(
                &problem,
                &method,
                &mut state,
                600,
                RecordPlan::FinalOnly,
                &mut probe,
                |_| {},
            );
            // The row-space part moved (the run did something) ...
            let moved = latedecay::linalg::distance(&run.theta, &theta0).to_f64();
            assert!(moved > 1e-2, "SGD did not move: {moved}");
            // ... but the null-space part did not.
            let null_k = null_space_part(&problem.data.x, &run.theta);
            let drift = latedecay::linalg::distance(&null_k, &null0).to_f64();
            assert!(drift <= tol, "null-space drift {drift:e} > {tol:e}");
        }
    }
}

#[test]
fn linear_null_space_never_moves_mpfr() {
    linear_null_space_drift::<Mpfr>(256, 1e-60);
}

#[test]
fn linear_null_space_never_moves_f64() {
    linear_null_space_drift::<f64>((), 1e-12);
}
