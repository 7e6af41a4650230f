//! Exact identities of SGD checked in MPFR (claim C10).
//!
//! * Diagonal: every SGD step with per-coordinate gradient factor
//!   a_j = η g_j, g_j = (1/B) Σ_{b} (r_b − σ ξ_b) x_{b j}, maps the imbalance
//!   u_j² − v_j² to (u_j² − v_j²)(1 − a_j²), since
//!   (u − a v)² − (v − a u)² = (1 − a²)(u² − v²). Over K steps:
//!   u_j(K)² − v_j(K)² = (u_j(0)² − v_j(0)²) Π_k (1 − a_{j,k}²).
//! * Linear: θ_k − θ_0 is a combination of rows of X, so (I − X⁺X)(θ_k − θ_0) = 0.
//!
//! The Diagonal check replays SGD with the crate's own batch source
//! ([`BatchNoise`]) and the model's `predict_into`/`descend`, and confirms that
//! the replayed iterate equals [`run_sgd`](crate::dynamics::sgd::run_sgd)'s bit for bit, so the identity is
//! checked on the production code path.

use serde::{Deserialize, Serialize};

use super::ClaimError;
use crate::data::Dataset;
use crate::dynamics::sgd::{run_sgd_to_end, Sgd};
use crate::experiment::run::initial_theta;
use crate::experiment::Init;
use crate::linalg::{norm, Cholesky};
use crate::model::{Diagonal, Linear, Model, Problem};
use crate::noise::BatchNoise;
use crate::scalar::{Mpfr, Real};

/// Result of [`diagonal_imbalance_check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImbalanceCheck {
    /// Working precision in bits.
    pub precision_bits: u32,
    /// SGD steps replayed.
    pub steps: u64,
    /// max over steps and j of |I'_j − I_j(1 − a_j²)| / (u_j'² + v_j'²).
    pub max_step_rel_error: f64,
    /// max over j of |I_j(K) − I_j(0) Π_k(1 − a²)| / (u_j(K)² + v_j(K)²).
    pub max_cumulative_rel_error: f64,
    /// Smallest |1 − a²| seen (the identity is not degenerate).
    pub min_factor: f64,
    /// max_j |I_j(K) − I_j(0)| / (u_j(K)² + v_j(K)²): how much the imbalance moved.
    pub max_imbalance_change: f64,
    /// The replayed iterate equals `run_sgd`'s bit for bit.
    pub matches_run_sgd: bool,
}

/// What both identity checks replay: `steps` SGD steps from a Gaussian init
/// (scale `init_scale`) with the noise of `seed`, in `bits`-bit precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdentityReplay {
    /// Seed of the init and of the SGD noise.
    pub seed: u64,
    /// Scale of the Gaussian init.
    pub init_scale: f64,
    /// SGD steps.
    pub steps: u64,
    /// Working precision in bits (53 = f64 where the check allows it).
    pub bits: u32,
}

/// Replay `replay.steps` SGD steps of `method` on the diagonal network in
/// MPFR and check the imbalance identity at every step and cumulatively.
pub fn diagonal_imbalance_check(
    data: &Dataset<f64>,
    method: &Sgd,
    replay: &IdentityReplay,
) -> Result<ImbalanceCheck, ClaimError> {
    let (seed, steps, bits) = (replay.seed, replay.steps, replay.bits);
    let data_r = data.convert::<Mpfr>(bits);
    let d = data.d();
    let problem = Problem::new(Diagonal::new(d), data_r);
    check_method(method, problem.n(), seed)?;
    let init = Init::Gaussian {
        scale: replay.init_scale,
    };
    let theta0: Vec<Mpfr> = initial_theta(&init, 2 * d, seed, bits);
    let mut theta = theta0.clone();
    let b = method.batch_size;
    let sigma = method.label_noise_sigma;
    let mut noise = BatchNoise::new(seed, problem.n(), method.sampling, sigma > 0.0);
    let mut ws = problem.model.workspace(bits);
    let mut indices = vec![0usize; b];
    let mut xi = vec![0.0f64; b];
    let zero = <Mpfr as Real>::zero(bits);
    let mut batch: Vec<(usize, Mpfr)> = (0..b).map(|_| (0, zero.clone())).collect();
    let mut a = vec![zero.clone(); d];
    let mut imb = vec![zero.clone(); d];
    let mut product = vec![<Mpfr as Real>::one(bits); d];
    let (mut t1, mut t2, mut noise_term) = (zero.clone(), zero.clone(), zero.clone());
    let imbalance = |theta: &[Mpfr], j: usize, out: &mut Mpfr| {
        out.set_mul(&theta[j], &theta[j]);
        out.sub_mul(&theta[j + d], &theta[j + d]);
    };
    let scale = |theta: &[Mpfr], j: usize| {
        let u = theta[j].to_f64();
        let v = theta[j + d].to_f64();
        u * u + v * v
    };
    let mut max_step = 0.0f64;
    let mut min_factor = f64::INFINITY;
    for k in 0..steps {
        let lr = method.schedule.lr(k);
        noise.next_batch(&mut indices, &mut xi);
        for ((entry, &row), &xi_b) in batch.iter_mut().zip(&indices).zip(&xi) {
            entry.0 = row;
            let r = &mut entry.1;
            problem
                .model
                .predict_into(&theta, problem.data.x.row(row), r, &mut ws);
            *r -= &problem.data.y[row];
            if sigma > 0.0 {
                noise_term.set_f64(xi_b);
                noise_term *= sigma;
                *r -= &noise_term;
            }
            *r *= lr;
            if b > 1 {
                *r /= b as f64;
            }
        }
        // a_j = Σ_b coef_b x_{row_b, j} = η g_j
        for (j, aj) in a.iter_mut().enumerate() {
            aj.set_f64(0.0);
            for (row, coef) in &batch {
                aj.add_mul(coef, &problem.data.x[(*row, j)]);
            }
        }
        for (j, ij) in imb.iter_mut().enumerate() {
            imbalance(&theta, j, ij);
        }
        problem
            .model
            .descend(&mut theta, &problem.data.x, &batch, &mut ws);
        for j in 0..d {
            // expected = I_j (1 − a_j²)
            t1.set_mul(&a[j], &a[j]);
            t1.neg_mut();
            t1 += 1.0;
            min_factor = min_factor.min(t1.to_f64().abs());
            let f = t1.clone();
            product[j] *= &f;
            t2.set_mul(&imb[j], &f);
            imbalance(&theta, j, &mut t1);
            t1 -= &t2;
            let err = t1.to_f64().abs() / scale(&theta, j);
            max_step = max_step.max(err);
        }
    }
    let mut max_cum = 0.0f64;
    let mut max_change = 0.0f64;
    for (j, prod) in product.iter().enumerate() {
        imbalance(&theta0, j, &mut t1);
        let start = t1.clone();
        t1 *= prod;
        imbalance(&theta, j, &mut t2);
        let sc = scale(&theta, j);
        let moved = (t2.to_f64() - start.to_f64()).abs() / sc;
        max_change = max_change.max(moved);
        t2 -= &t1;
        max_cum = max_cum.max(t2.to_f64().abs() / sc);
    }
    // The same steps through the production driver.
    let run = run_sgd_to_end(&problem, method, theta0, seed, steps);
    let matches = run.theta.iter().zip(&theta).all(|(p, q)| p == q);
    Ok(ImbalanceCheck {
        precision_bits: bits,
        steps,
        max_step_rel_error: max_step,
        max_cumulative_rel_error: max_cum,
        min_factor,
        max_imbalance_change: max_change,
        matches_run_sgd: matches,
    })
}

/// Result of [`linear_null_space_check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NullSpaceCheck {
    /// Working precision in bits.
    pub precision_bits: u32,
    /// SGD steps.
    pub steps: u64,
    /// ‖(I − X⁺X)(θ_K − θ_0)‖ / ‖θ_0‖.
    pub rel_null_drift: f64,
    /// ‖θ_K − θ_0‖ / ‖θ_0‖ (SGD did move).
    pub rel_movement: f64,
}

/// Run `replay.steps` SGD steps of `method` on the Linear model (53 bits =
/// f64) and measure the null-space drift.
pub fn linear_null_space_check(
    data: &Dataset<f64>,
    method: &Sgd,
    replay: &IdentityReplay,
) -> Result<NullSpaceCheck, ClaimError> {
    if replay.bits == 53 {
        linear_null_in::<f64>(data, method, replay, ())
    } else {
        linear_null_in::<Mpfr>(data, method, replay, replay.bits)
    }
}

fn linear_null_in<R: Real>(
    data: &Dataset<f64>,
    method: &Sgd,
    replay: &IdentityReplay,
    ctx: R::Ctx,
) -> Result<NullSpaceCheck, ClaimError> {
    let (seed, steps) = (replay.seed, replay.steps);
    let data_r = data.convert::<R>(ctx);
    let d = data.d();
    let problem = Problem::new(Linear::new(d), data_r);
    check_method(method, problem.n(), seed)?;
    let theta0: Vec<R> = initial_theta(
        &Init::Gaussian {
            scale: replay.init_scale,
        },
        d,
        seed,
        ctx,
    );
    let run = run_sgd_to_end(&problem, method, theta0.clone(), seed, steps);
    let mut delta = run.theta.clone();
    for (x, y) in delta.iter_mut().zip(&theta0) {
        *x -= y;
    }
    // (I − Xᵀ(XXᵀ)⁻¹X) δ in the working precision.
    let x = &problem.data.x;
    let chol = Cholesky::new(x.gram_rows())?;
    let mut xd = x.mul_vec(&delta);
    chol.solve_mut(&mut xd);
    let row = x.tr_mul_vec(&xd);
    let mut null = delta.clone();
    for (n, r) in null.iter_mut().zip(&row) {
        *n -= r;
    }
    let n0 = norm(&theta0).to_f64();
    Ok(NullSpaceCheck {
        precision_bits: R::ctx_bits(ctx),
        steps,
        rel_null_drift: norm(&null).to_f64() / n0,
        rel_movement: norm(&delta).to_f64() / n0,
    })
}

/// `method` checked against n samples, the error naming `seed`.
fn check_method(method: &Sgd, n: usize, seed: u64) -> Result<(), ClaimError> {
    method
        .validate(n)
        .map_err(|source| crate::experiment::ExperimentError::Sgd { seed, source })?;
    Ok(())
}
