//! Manifold tools: projection onto Γ, tangent projector, θ_mn (Linear, Diagonal
//! with MPFR polish), θ_R, flip distance.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latedecay::data::Dataset;
use latedecay::linalg::{distance, norm, Mat};
use latedecay::manifold::{
    flattest_interpolant, min_norm_interpolant, project_onto_manifold, project_tangent,
    tangent_projector,
};
use latedecay::model::diagonal::flip_distance;
use latedecay::model::{Diagonal, Linear, ModelKind, Problem};
use latedecay::scalar::{Mpfr, Real};

use crate::common;

fn dataset(n: usize, d: usize, seed: u64, normalize: bool) -> Dataset<f64> {
    common::seeded_design(n, d, seed, normalize)
}

#[test]
fn projection_reaches_gamma_and_reports_the_residual() {
    let data = dataset(8, 20, 1, true);
    let problem = Problem::new(Diagonal::new(20), data);
    let theta0 = vec![0.7f64; 40];
    let proj = project_onto_manifold(&problem, &theta0, 1e-12, 50).unwrap();
    assert!(proj.converged, "residual {}", proj.residual_norm);
    assert!(proj.residual_norm <= 1e-12);
    assert!(proj.iterations >= 2 && proj.iterations < 20);
    let check = problem.residual_norm(&proj.theta);
    assert_close!(check, proj.residual_norm, abs = 1e-12);

    // In MPFR the same projection reaches 1e-60.
    let pm = Problem::new(
        Diagonal::new(20),
        dataset(8, 20, 1, true).convert::<Mpfr>(256),
    );
    let t0: Vec<Mpfr> = theta0.iter().map(|&v| Mpfr::from_f64(v, 256)).collect();
    let proj = project_onto_manifold(&pm, &t0, 1e-60, 60).unwrap();
    assert!(
        proj.converged && proj.residual_norm <= 1e-60,
        "{}",
        proj.residual_norm
    );
}

#[test]
fn projection_reports_failure_honestly_when_capped() {
    let problem = Problem::new(Diagonal::new(20), dataset(8, 20, 1, true));
    let proj = project_onto_manifold(&problem, &[0.7f64; 40], 1e-12, 1).unwrap();
    assert_eq!(proj.iterations, 1);
    assert!(!proj.converged);
    assert!(proj.residual_norm > 1e-12);
}

#[test]
fn tangent_projector_is_an_orthogonal_projector_killing_gradients() {
    let data = dataset(5, 9, 4, false).convert::<Mpfr>(256);
    let problem = Problem::new(Diagonal::new(9), data);
    let theta: Vec<Mpfr> = (0..18)
        .map(|k| Mpfr::from_f64(0.3 + 0.1 * k as f64, 256))
        .collect();
    let p = tangent_projector(&problem, &theta).unwrap();
    // P² = P and P = Pᵀ.
    let p2 = p.mul(&p);
    let mut diff = p2.clone();
    diff.add_scaled(&Mpfr::from_f64(-1.0, 256), &p);
    assert!(diff.frobenius_f64() < 1e-70);
    let mut asym = p.transpose();
    asym.add_scaled(&Mpfr::from_f64(-1.0, 256), &p);
    assert!(asym.frobenius_f64() < 1e-70);
    // P Jᵀ = 0: every ∇f_i is normal to Γ.
    let jac = problem.jacobian(&theta);
    let pj: Mat<Mpfr> = p.mul(&jac.transpose());
    assert!(pj.frobenius_f64() < 1e-70);
    // Trace of P = D − n (rank of the tangent space).
    let tr: f64 = (0..18).map(|k| p[(k, k)].to_f64()).sum();
    assert_close!(tr, 13.0, abs = 1e-12);
    // project_tangent agrees with the matrix.
    let v: Vec<Mpfr> = (0..18)
        .map(|k| Mpfr::from_f64((k as f64).sin(), 256))
        .collect();
    let pv = project_tangent(&problem, &theta, &v).unwrap();
    let pv2 = p.mul_vec(&v);
    assert!(distance(&pv, &pv2).to_f64() < 1e-70);
}

#[test]
fn linear_min_norm_is_the_pseudoinverse_solution() {
    let data = dataset(6, 15, 2, false);
    let mn = min_norm_interpolant(ModelKind::Linear, &data).unwrap();
    assert!(mn.certificate_ok);
    assert!(mn.residual_norm < 1e-12);
    // θ lies in the row space (θ = Xᵀλ) and any other interpolant is longer.
    let from_dual = data.x.tr_mul_vec(&mn.dual);
    assert!(distance(&from_dual, &mn.theta) < 1e-12);
    let problem = Problem::new(Linear::new(15), data.clone());
    let other = project_onto_manifold(&problem, &[1.0; 15], 1e-13, 10)
        .unwrap()
        .theta;
    assert!(norm(&other) > mn.norm + 1e-3);
}

#[test]
fn diagonal_min_norm_is_basis_pursuit_polished_to_50_digits() {
    let data = dataset(40, 100, 20_240_601, true);
    let mn256 = min_norm_interpolant(ModelKind::Diagonal, &data.convert::<Mpfr>(256)).unwrap();
    let mn512 = min_norm_interpolant(ModelKind::Diagonal, &data.convert::<Mpfr>(512)).unwrap();
    assert!(mn256.certificate_ok && mn512.certificate_ok);
    assert_eq!(mn256.support, vec![0, 1, 2]);
    assert!(mn256.complementarity_margin > 1e-3);
    assert!(mn256.residual_norm.to_f64() < 1e-70);
    // 256-bit and 512-bit results agree to ≥ 50 digits (in fact ~75).
    let mut worst = 0.0f64;
    for (a, b) in mn256.theta.iter().zip(&mn512.theta) {
        let mut d = Mpfr::with_val(512, a);
        d -= b;
        worst = worst.max(d.to_f64().abs());
    }
    assert!(worst < 1e-50, "256 vs 512 bits differ by {worst:e}");
    // ‖θ_mn‖² = 2‖β_mn‖₁ exactly and |u_j| = |v_j|.
    let mut twice_l1 = latedecay::linalg::norm_l1(&mn256.beta);
    twice_l1 *= 2.0;
    let mut n2 = mn256.norm.clone();
    n2.square_mut();
    n2 -= &twice_l1;
    assert!(n2.to_f64().abs() < 1e-70);
    // Noiseless sparse truth is recovered: β_mn = β* (normalized coordinates).
    let bs = data.beta_star.as_ref().unwrap();
    for (b, t) in mn256.beta.iter().zip(bs) {
        assert_close!(b.to_f64(), t, abs = 1e-12);
    }
    // f64 result agrees with the MPFR reference to ~1e-14.
    let mn64 = min_norm_interpolant(ModelKind::Diagonal, &data).unwrap();
    for (a, b) in mn64.theta.iter().zip(&mn256.theta) {
        assert_close!(a, b.to_f64(), abs = 1e-13);
    }
}

#[test]
fn flattest_equals_min_norm_only_with_normalized_columns() {
    let normalized = dataset(10, 30, 7, true);
    let a = min_norm_interpolant(ModelKind::Diagonal, &normalized).unwrap();
    let b = flattest_interpolant(ModelKind::Diagonal, &normalized).unwrap();
    assert!(distance(&a.theta, &b.theta) < 1e-10);
    let raw = dataset(10, 30, 7, false);
    let a = min_norm_interpolant(ModelKind::Diagonal, &raw).unwrap();
    let b = flattest_interpolant(ModelKind::Diagonal, &raw).unwrap();
    assert!(a.certificate_ok && b.certificate_ok);
    let gap = distance(&a.theta, &b.theta);
    assert!(
        gap > 1e-3,
        "θ_R and θ_mn should differ without normalization: {gap}"
    );
    // Each is optimal for its own objective.
    let tr = |t: &[f64]| -> f64 {
        (0..30)
            .map(|j| raw.column_moments[j] * (t[j] * t[j] + t[30 + j] * t[30 + j]))
            .sum()
    };
    assert!(tr(&b.theta) <= tr(&a.theta) + 1e-12);
    assert!(b.norm >= a.norm - 1e-12);
}

#[test]
fn flip_distance_ignores_per_coordinate_sign_flips() {
    let reference = vec![1.0, -2.0, 0.5, 1.0, 2.0, 0.5];
    let flipped = vec![-1.0, -2.0, -0.5, -1.0, 2.0, -0.5];
    assert_eq!(flip_distance(&flipped, &reference), 0.0);
    let moved = vec![-1.0, -2.0, -0.5, -1.0, 2.0, -0.4];
    assert_close!(flip_distance(&moved, &reference), 0.1, abs = 1e-12);
    // A flip of u alone is not a symmetry.
    let half = vec![-1.0, -2.0, 0.5, 1.0, 2.0, 0.5];
    assert!(flip_distance(&half, &reference) > 1.0);
}

#[test]
fn interpolants_refuse_n_at_least_d() {
    let data = dataset(10, 10, 1, false);
    let err = min_norm_interpolant(ModelKind::Diagonal, &data).unwrap_err();
    assert!(err.to_string().contains("n = 10"), "{err}");
}
