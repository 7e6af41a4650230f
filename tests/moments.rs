//! Exact moments of SGD / SME-1 / SME-2 / gradient flow for the Linear model and
//! weak orders without Monte Carlo (claim C5, figure F6). Derivations and the
//! thresholds: proofs/moments.md and proofs/sme.md.
#![allow(clippy::needless_range_loop)] // index formulas mirror the proofs

use latedecay::data::Dataset;
use latedecay::dynamics::sde::ContinuousModel;
use latedecay::dynamics::sgd::run_sgd_to_end;
use latedecay::linalg::{Lu, Mat};
use latedecay::model::{Linear, Problem};
use latedecay::moments::matrix::{expm, power};
use latedecay::moments::weak_order::{fit_weak_order, richardson_coefficient};
use latedecay::moments::{
    run_weak_order, weak_errors, write_f6_csv, LinearMoments, MomentsError, WeakOrderConfig,
};
use latedecay::noise::Sampling;
use latedecay::scalar::{vec_from_f64, Mpfr, Real};
use latedecay::schedule::Schedule;

use crate::common;

const BITS: u32 = 256;

fn default_data() -> Dataset<f64> {
    WeakOrderConfig::default().dataset().unwrap()
}

/// max |a_i − b_i| in the scalar type, as f64.
fn max_abs_diff<R: Real>(a: &[R], b: &[R]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let mut d = x.clone();
            d -= y;
            d.abs().to_f64()
        })
        .fold(0.0, f64::max)
}

/// Exact one-step moments by enumeration: all n^B index tuples, label noise
/// integrated in closed form (E ξ = 0, E ξ² = 1, independent across the batch).
fn enumerated_one_step(
    data: &Dataset<f64>,
    theta: &[f64],
    eta: f64,
    b: usize,
    sigma: f64,
) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = (data.n(), data.d());
    let tuples = n.pow(b as u32);
    let mut mean = vec![0.0; d];
    let mut second = vec![0.0; d * d];
    for t in 0..tuples {
        let mut idx = Vec::with_capacity(b);
        let mut rest = t;
        for _ in 0..b {
            idx.push(rest % n);
            rest /= n;
        }
        // deterministic part θ − (η/B) Σ r_i x_i
        let mut next = theta.to_vec();
        for &i in &idx {
            let xi = data.x.row(i);
            let r: f64 = xi.iter().zip(theta).map(|(a, c)| a * c).sum::<f64>() - data.y[i];
            for k in 0..d {
                next[k] -= eta / b as f64 * r * xi[k];
            }
        }
        for j in 0..d {
            mean[j] += next[j] / tuples as f64;
            for k in 0..d {
                // noise: (η σ / B)² Σ_b x_bj x_bk
                let mut noise = 0.0;
                for &i in &idx {
                    noise += data.x[(i, j)] * data.x[(i, k)];
                }
                noise *= (eta * sigma / b as f64).powi(2);
                second[j * d + k] += (next[j] * next[k] + noise) / tuples as f64;
            }
        }
    }
    (mean, second)
}

/// proofs/moments.md §1: the one-step map equals the exact expectation over all
/// minibatches and the label noise, from several deterministic points (these
/// span the state space, so the affine map is exact for every distribution).
#[test]
fn sgd_one_step_map_equals_enumeration() {
    let data = default_data();
    // 10 = d + d(d+1)/2 + 1 generic points: their states (θ, θθᵀ, 1) span the
    // state space, so agreement at these points is agreement everywhere.
    let points: Vec<[f64; 3]> = (0..10)
        .map(|k| {
            let t = k as f64;
            [0.5 - 0.3 * t, (0.7 * t).sin() * 2.0, 0.1 * t * t - 1.0]
        })
        .collect();
    for b in [1usize, 2, 3] {
        for sigma in [0.0, 0.5] {
            let lm = LinearMoments::<f64>::new(&data, b, sigma).unwrap();
            for theta in &points {
                let z0 = lm.initial_state(theta).unwrap();
                let mut z1 = z0.clone();
                lm.apply_sgd_step(0.125, &z0, &mut z1);
                let (mean, second) = enumerated_one_step(&data, theta, 0.125, b, sigma);
                // f64 rounding: relative to the largest entry.
                let tol = 1e-14 * z1.iter().fold(1.0f64, |a, v| a.max(v.abs()));
                assert!(max_abs_diff(lm.mean(&z1), &mean) < tol, "B={b} σ={sigma}");
                let s = lm.second_moment(&z1);
                assert!(
                    max_abs_diff(s.as_slice(), &second) < tol,
                    "B={b} σ={sigma}: {:?} vs {:?}",
                    s.as_slice(),
                    second
                );
                // The matrix form applies the same map.
                let m = lm.sgd_matrix(0.125);
                assert!(max_abs_diff(&m.mul_vec(&z0), &z1) < tol);
            }
        }
    }
    // Negative control: B = 1 enumeration is not matched by the B = 2 map.
    let lm2 = LinearMoments::<f64>::new(&data, 2, 0.5).unwrap();
    let z0 = lm2.initial_state(&points[1]).unwrap();
    let mut z1 = z0.clone();
    lm2.apply_sgd_step(0.125, &z0, &mut z1);
    let (_, second) = enumerated_one_step(&data, &points[1], 0.125, 1, 0.5);
    assert!(max_abs_diff(lm2.second_moment(&z1).as_slice(), &second) > 1e-3);
}

struct MonteCarlo {
    mean_norm_sq: f64,
    se_norm_sq: f64,
    mean_theta: Vec<f64>,
    se_theta: Vec<f64>,
}

fn monte_carlo_sgd(
    data: &Dataset<f64>,
    theta0: &[f64],
    eta: f64,
    steps: u64,
    b: usize,
    sigma: f64,
    seeds: u64,
) -> MonteCarlo {
    let problem = Problem::new(Linear::new(data.d()), data.clone());
    let method = common::sgd(
        b,
        sigma,
        Sampling::WithReplacement,
        Schedule::constant(eta).unwrap(),
    );
    let d = data.d();
    let (mut s1, mut s2) = (0.0, 0.0);
    let mut t1 = vec![0.0; d];
    let mut t2 = vec![0.0; d];
    for seed in 0..seeds {
        let run = run_sgd_to_end(&problem, &method, theta0.to_vec(), 1_000_000 + seed, steps);
        let v: f64 = run.theta.iter().map(|x| x * x).sum();
        s1 += v;
        s2 += v * v;
        for k in 0..d {
            t1[k] += run.theta[k];
            t2[k] += run.theta[k] * run.theta[k];
        }
    }
    let nf = seeds as f64;
    let se = |s: f64, q: f64| ((q - s * s / nf) / (nf - 1.0) / nf).sqrt();
    MonteCarlo {
        mean_norm_sq: s1 / nf,
        se_norm_sq: se(s1, s2),
        mean_theta: t1.iter().map(|s| s / nf).collect(),
        se_theta: t1.iter().zip(&t2).map(|(&s, &q)| se(s, q)).collect(),
    }
}

/// proofs/moments.md §4: Monte Carlo of the actual SGD driver (200 000 fixed
/// seeds) agrees with the exact moments within 4.5 standard errors; the exact
/// moments of a wrong batch size or of noiseless SGD are rejected.
#[test]
fn recursion_agrees_with_monte_carlo_of_run_sgd() {
    let data = default_data();
    let theta0 = [0.5, -0.5, 0.0];
    let (eta, steps, seeds) = (0.125, 8u64, 200_000u64);
    const Z: f64 = 4.5;
    for b in [1usize, 2] {
        let mc = monte_carlo_sgd(&data, &theta0, eta, steps, b, 0.5, seeds);
        let exact = |bb: usize, sigma: f64| {
            let lm = LinearMoments::<f64>::new(&data, bb, sigma).unwrap();
            let z = lm.sgd_moments(eta, steps, &lm.initial_state(&theta0).unwrap());
            (lm.second_moment_trace(&z), lm.mean(&z).to_vec())
        };
        let (trace, mean) = exact(b, 0.5);
        let z_trace = (mc.mean_norm_sq - trace) / mc.se_norm_sq;
        eprintln!(
            "B={b}: MC E‖θ_8‖² = {} ± {} (SE), exact {trace}, z = {z_trace}",
            mc.mean_norm_sq, mc.se_norm_sq
        );
        assert!(
            z_trace.abs() < Z,
            "B={b}: E‖θ‖² MC {} ± {} vs exact {trace} (z = {z_trace})",
            mc.mean_norm_sq,
            mc.se_norm_sq
        );
        for k in 0..3 {
            let zk = (mc.mean_theta[k] - mean[k]) / mc.se_theta[k];
            assert!(zk.abs() < Z, "B={b}: mean θ_{k}: z = {zk}");
        }
        // Negative controls: wrong batch size in the recursion, and no label noise.
        let wrong_b = if b == 1 { 2 } else { 1 };
        for (what, (wrong, _)) in [
            ("batch size", exact(wrong_b, 0.5)),
            ("σ = 0", exact(b, 0.0)),
        ] {
            let zw = (mc.mean_norm_sq - wrong) / mc.se_norm_sq;
            eprintln!("B={b}: wrong {what}: exact {wrong}, z = {zw}");
            assert!(
                zw.abs() > Z,
                "B={b}: the recursion with the wrong {what} was not rejected (z = {zw})"
            );
        }
    }
}

/// Closed form of gradient flow, m(t) = θ̂ + exp(−Ht)(θ₀ − θ̂), via a symmetric
/// eigendecomposition (nalgebra, f64).
fn gradient_flow_closed_form(data: &Dataset<f64>, theta0: &[f64], t: f64) -> Vec<f64> {
    let lm = LinearMoments::<f64>::new(data, 1, 0.0).unwrap();
    let d = data.d();
    let h_mat = nalgebra::DMatrix::from_row_slice(d, d, lm.hessian().as_slice());
    let h_vec = nalgebra::DVector::from_column_slice(lm.h());
    let theta_hat = h_mat.clone().lu().solve(&h_vec).unwrap();
    let eig = nalgebra::SymmetricEigen::new(h_mat);
    let exp_diag = nalgebra::DMatrix::from_diagonal(&eig.eigenvalues.map(|l| (-l * t).exp()));
    let propagator = &eig.eigenvectors * exp_diag * eig.eigenvectors.transpose();
    let start = nalgebra::DVector::from_column_slice(theta0) - &theta_hat;
    (theta_hat + propagator * start).iter().copied().collect()
}

/// proofs/moments.md §3: the (d + d² + 1)-dimensional exponential reproduces the
/// closed-form gradient flow (mean and S = m mᵀ), in f64 and in MPFR; SME-1 has
/// the same mean as gradient flow; in MPFR the mean equals θ̂ + exp(−Ht)(θ₀ − θ̂)
/// computed with a separate d×d exponential and an LU solve.
#[test]
fn ode_moments_match_closed_form_gradient_flow() {
    let data = default_data();
    let theta0 = [0.5, -0.5, 0.0];
    for t in [0.5, 1.0, 3.0] {
        let closed = gradient_flow_closed_form(&data, &theta0, t);
        let lm = LinearMoments::<f64>::new(&data, 1, 0.5).unwrap();
        let z0 = lm.initial_state(&theta0).unwrap();
        let z = lm.model_moments(ContinuousModel::GradientFlow, 0.1, t, &z0);
        assert!(max_abs_diff(lm.mean(&z), &closed) < 1e-13, "t = {t}");
        let s = lm.second_moment(&z);
        for j in 0..3 {
            for k in 0..3 {
                assert_close!(s[(j, k)], closed[j] * closed[k], abs = 1e-13);
            }
        }
        // MPFR vs the f64 closed form.
        let dm = data.convert::<Mpfr>(BITS);
        let lmm = LinearMoments::<Mpfr>::new(&dm, 1, 0.5).unwrap();
        let zm0 = lmm.initial_state(&vec_from_f64(&theta0, BITS)).unwrap();
        let zm = lmm.model_moments(ContinuousModel::GradientFlow, 0.1, t, &zm0);
        assert!(max_abs_diff(lmm.mean(&zm), &vec_from_f64(&closed, BITS)) < 1e-14);
        // MPFR: d×d route.
        let theta_hat = Lu::new(lmm.hessian().clone()).unwrap().solve(lmm.h());
        let mut minus_ht = lmm.hessian().clone();
        minus_ht.scale_mut(&Mpfr::from_f64(-t, BITS));
        let prop = expm(&minus_ht);
        let mut start = vec_from_f64::<Mpfr>(&theta0, BITS);
        for (s0, th) in start.iter_mut().zip(&theta_hat) {
            *s0 -= th;
        }
        let mut m_direct = prop.mul_vec(&start);
        for (m, th) in m_direct.iter_mut().zip(&theta_hat) {
            *m += th;
        }
        assert!(max_abs_diff(lmm.mean(&zm), &m_direct) < 1e-70, "t = {t}");
        // SME-1 has gradient flow's mean; its second moment is larger (noise).
        let z1 = lmm.model_moments(ContinuousModel::Sme1, 0.1, t, &zm0);
        assert!(max_abs_diff(lmm.mean(&z1), lmm.mean(&zm)) < 1e-70);
        let mut extra = lmm.second_moment_trace(&z1);
        extra -= &lmm.second_moment_trace(&zm);
        assert!(extra.to_f64() > 1e-4);
    }
}

/// proofs/moments.md §3: exp(A)·exp(−A) = I and exp(A) = exp(A/3)³ for the
/// SME-2 generator at 256 bits (different scalings, same result to 1e-70).
#[test]
fn matrix_exponential_identities_in_mpfr() {
    let data = default_data().convert::<Mpfr>(BITS);
    let lm = LinearMoments::<Mpfr>::new(&data, 1, 0.5).unwrap();
    let g = lm.generator_matrix(ContinuousModel::Sme2, 0.25);
    let e = expm(&g);
    let mut minus = g.clone();
    minus.scale_mut(&Mpfr::from_f64(-1.0, BITS));
    let prod = e.mul(&expm(&minus));
    let id = Mat::<Mpfr>::identity(g.rows(), BITS);
    assert!(max_abs_diff(prod.as_slice(), id.as_slice()) < 1e-70);
    let mut third = g.clone();
    third.scale_mut(&Mpfr::from_f64(1.0 / 4.0, BITS)); // exact: 1/4 then 4th power
    let e4 = power(&expm(&third), 4);
    assert!(max_abs_diff(e4.as_slice(), e.as_slice()) < 1e-70);
}

/// proofs/sme.md §3: the one-step consistency ‖exp(ηG(η)) − M_η‖ = O(η^{p+1})
/// with p = 2 for SME-2 and p = 1 for SME-1, gradient flow and the wrong SME-2
/// (measured local orders at η = 2⁻¹², 2⁻¹³ in MPFR).
#[test]
fn local_error_orders_of_the_generators() {
    let data = default_data().convert::<Mpfr>(BITS);
    let lm = LinearMoments::<Mpfr>::new(&data, 1, 0.5).unwrap();
    let local = |model: ContinuousModel, j: i32| {
        let eta = 2f64.powi(-j);
        let mut g = lm.generator_matrix(model, eta);
        g.scale_mut(&Mpfr::from_f64(eta, BITS));
        // Compare on symmetric states: right-multiply by the symmetrizer
        // P = M_0 (identity on m and τ, S ↦ (S + Sᵀ)/2).
        let sym = lm.sgd_matrix(0.0);
        let e = expm(&g).mul(&sym);
        max_abs_diff(e.as_slice(), lm.sgd_matrix(eta).mul(&sym).as_slice())
    };
    for (model, expected) in [
        (ContinuousModel::GradientFlow, 2.0),
        (ContinuousModel::Sme1, 2.0),
        (ContinuousModel::Sme2, 3.0),
        (ContinuousModel::Sme2WrongHalf, 2.0),
    ] {
        let order = (local(model, 12) / local(model, 13)).log2();
        assert_close!(
            order,
            expected,
            abs = 1e-2,
            "{model}: local order {order}, expected {expected}"
        );
    }
}

/// proofs/sme.md §4, negative control: the drift −∇(L + (η/2)‖∇L‖²) (constant
/// ½ instead of ¼) loses order 2 — its fitted order is 1 to within 1e-6.
#[test]
fn wrong_sme2_constant_loses_order_two() {
    let cfg = WeakOrderConfig {
        eta_exponent_min: 20,
        eta_exponent_max: 36,
        reference_exponent_max: 22,
        ..WeakOrderConfig::default()
    };
    let errs = weak_errors::<Mpfr>(
        &cfg,
        &[ContinuousModel::Sme2WrongHalf, ContinuousModel::Sme2],
        BITS,
    )
    .unwrap();
    let exps = cfg.exponents();
    let count = exps.len();
    let wrong = fit_weak_order(
        ContinuousModel::Sme2WrongHalf,
        &exps,
        &errs[0],
        count - 8..count,
    )
    .unwrap();
    assert_close!(
        wrong.order,
        1.0,
        abs = 1e-6,
        "wrong SME-2 order {}",
        wrong.order
    );
    assert!(wrong.order_ci.1 < 1.5);
    let right = fit_weak_order(ContinuousModel::Sme2, &exps, &errs[1], count - 8..count).unwrap();
    assert_close!(right.order, 2.0, abs = 1e-6);
    // Richardson from this shorter, larger-η range (η ≥ 2⁻³⁶, 4 levels)
    // reproduces the leading coefficient of the default sweep (η down to 2⁻⁴⁰):
    // C_SME2 = 2.18915787395315863235512165196724401212 (proofs/moments.md §5).
    let (c, err) = richardson_coefficient(&exps, &errs[1], 2, 4);
    let mut diff = c.clone();
    diff -= &Mpfr::with_val(
        BITS,
        Mpfr::parse("2.18915787395315863235512165196724401212").unwrap(),
    );
    assert!(diff.to_f64().abs() < 1e-25, "C_SME2 = {c}, diff {diff}");
    assert!(err < 1e-25);
}

/// Bad settings give errors naming the field and value.
#[test]
fn invalid_settings_name_the_field() {
    let cfg = WeakOrderConfig {
        theta0: vec![0.0; 2],
        ..WeakOrderConfig::default()
    };
    let msg = run_weak_order(&cfg).unwrap_err().to_string();
    assert!(msg.contains("theta0"), "{msg}");
    let cfg = WeakOrderConfig {
        horizon: 0.3,
        ..WeakOrderConfig::default()
    };
    let msg = run_weak_order(&cfg).unwrap_err().to_string();
    assert!(msg.contains("horizon") && msg.contains("0.3"), "{msg}");
    let data = default_data();
    let err = LinearMoments::<f64>::new(&data, 0, 0.5).unwrap_err();
    assert!(matches!(&err, MomentsError::InvalidField(e) if e.field == "batch_size"));
    let err = LinearMoments::<f64>::new(&data, 1, -1.0).unwrap_err();
    assert!(err.to_string().contains("label_noise_sigma = -1"));
}

/// proofs/sme.md §4 for another setting: B = 2 without label noise (plain
/// minibatch SGD), η = 2⁻¹⁸ … 2⁻³⁰ at 256 bits: orders 1, 1, 2 within 1e-6.
#[test]
fn weak_orders_with_minibatch_and_no_label_noise() {
    let cfg = WeakOrderConfig {
        batch_size: 2,
        label_noise_sigma: 0.0,
        eta_exponent_min: 18,
        eta_exponent_max: 30,
        reference_exponent_max: 20,
        ..WeakOrderConfig::default()
    };
    let errs = weak_errors::<Mpfr>(&cfg, &ContinuousModel::F6, BITS).unwrap();
    let exps = cfg.exponents();
    let count = exps.len();
    for (method, d) in ContinuousModel::F6.iter().zip(&errs) {
        let fit = fit_weak_order(*method, &exps, d, count - 8..count).unwrap();
        let p = method.weak_order_vs_sgd() as f64;
        assert_close!(fit.order, p, abs = 1e-6, "{method}: order {}", fit.order);
    }
}

/// The slow group (each test ≳ 20 s): `cargo test --release -- --skip slow::`
/// runs everything else, `cargo test --release slow::` only these.
mod slow {
    use super::*;

    /// proofs/moments.md §5 and proofs/sme.md §4: the full default sweep (f64,
    /// MPFR 256 and 512 bits, η = 2⁻² … 2⁻⁴⁰). Orders within 1e-6 of 1, 1, 2;
    /// coefficients agree between precisions to ≥ 10 digits; SME-1 has a smaller
    /// constant than gradient flow; f64 agrees with MPFR for large η and breaks
    /// down at small η; SME-1 claimed as order 2 is rejected; the CSV is written.
    #[test]
    fn weak_orders_in_mpfr_default_instance() {
        let cfg = WeakOrderConfig::default();
        let report = run_weak_order(&cfg).unwrap();
        for &bits in &cfg.precisions {
            for method in ContinuousModel::F6 {
                let fit = report.fit(method, bits).unwrap();
                let p = method.weak_order_vs_sgd() as f64;
                assert_close!(
                    fit.order,
                    p,
                    abs = 1e-6,
                    "{method} at {bits} bits: order {}",
                    fit.order
                );
                assert!(fit.order_ci.0 - 1e-6 < p && p < fit.order_ci.1 + 1e-6);
                for s in &fit.successive_orders {
                    assert_close!(s, p, abs = 1e-6, "{method}: successive order {s}");
                }
            }
            // Negative control: "SME-1 has order 2" is rejected — the fitted order
            // is 1 with a CI far from 2.
            let sme1 = report.fit(ContinuousModel::Sme1, bits).unwrap();
            assert!(
                sme1.order_ci.1 < 1.5,
                "SME-1 claimed as order 2 was not rejected"
            );
        }
        for a in &report.agreement {
            assert!(
                a.digits >= 10.0,
                "{}: only {} digits agree",
                a.method,
                a.digits
            );
        }
        for c in &report.coefficients {
            assert!(
                c.richardson_error < 1e-10 * c.value.abs(),
                "{}: Richardson error {}",
                c.method,
                c.richardson_error
            );
        }
        let coef = |m| {
            report
                .coefficients
                .iter()
                .find(|c| c.method == m && c.precision_bits == 512)
                .unwrap()
                .value
        };
        assert!(coef(ContinuousModel::Sme1).abs() < coef(ContinuousModel::GradientFlow).abs());
        // f64 reference fit over η = 2⁻² … 2⁻⁸ (proofs/moments.md §5): orders → 1, 1, 2 roughly.
        for method in ContinuousModel::F6 {
            let fit = report.reference_fit(method).unwrap();
            let last = *fit.successive_orders.last().unwrap();
            assert_close!(
                last,
                method.weak_order_vs_sgd() as f64,
                abs = 0.05,
                "{method}: f64 last ratio {last}"
            );
        }
        // f64 vs MPFR: agree for η ≥ 2⁻⁸ (relative 1e-9), and break down before 2⁻⁴⁰.
        let f64_curve = |m| report.curve(m, 53).unwrap();
        let mp_curve = |m| report.curve(m, 512).unwrap();
        for method in ContinuousModel::F6 {
            let (a, b) = (f64_curve(method), mp_curve(method));
            for i in 0..7 {
                let rel = (a.signed_errors[i] - b.signed_errors[i]).abs() / b.errors[i];
                assert!(
                    rel < 1e-9,
                    "{method} η = {}: f64 vs MPFR rel. diff {rel}",
                    report.etas[i]
                );
            }
            let brk = report
                .f64_breakdown
                .iter()
                .find(|x| x.method == method)
                .unwrap();
            let j = brk.exponent.expect("f64 must break down before η = 2^-40");
            assert!((12..=34).contains(&j), "{method}: breakdown at 2^-{j}");
        }
        // SME-2's O(η²) error is swamped first.
        let brk_sme2 = report
            .f64_breakdown
            .iter()
            .find(|x| x.method == ContinuousModel::Sme2)
            .unwrap();
        let brk_gf = report
            .f64_breakdown
            .iter()
            .find(|x| x.method == ContinuousModel::GradientFlow)
            .unwrap();
        assert!(brk_sme2.exponent < brk_gf.exponent);
        // CSV for figure F6.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f6.csv");
        write_f6_csv(&report, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "eta,err_gf,err_sme1,err_sme2,err_gf_f64,err_sme1_f64,err_sme2_f64"
        );
        assert_eq!(lines.count(), report.etas.len());
        // The report serializes.
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"sme2\""));
    }
}
