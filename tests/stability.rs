//! Mean-square linear stability of SGD (`proofs/stability.md`): the reduced
//! (Gram-form and orthonormal-coordinate) maps against the full D × D map,
//! closed forms in one dimension, a Monte Carlo of the linearized recursion,
//! η* monotone in B, full batch = 2/λ_max, and f64 vs MPFR.
#![allow(clippy::needless_range_loop)]

use latedecay::dynamics::stability::{
    gram_form_map, map_coefficients, second_moment_map, ReducedGradients,
};
use latedecay::linalg::Mat;
use latedecay::model::{Diagonal, Linear, Problem};
use latedecay::noise::{rng_for, Sampling};
use latedecay::scalar::{Mpfr, Real};
use rand::RngExt;

use crate::common;

fn problem<R: Real>(n: usize, d: usize, seed: u64, ctx: R::Ctx) -> Problem<R, Diagonal> {
    let data = common::seeded_design(n, d, seed, true).convert::<R>(ctx);
    Problem::new(Diagonal::new(d), data)
}

/// A fixed non-symmetric point θ = (u, v).
fn point(d: usize) -> Vec<f64> {
    (0..2 * d)
        .map(|k| 0.3 + 0.7 * ((k as f64 * 0.37).sin()).abs())
        .collect()
}

fn max_abs_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn coefs(n: usize) -> Vec<(f64, f64)> {
    vec![
        map_coefficients(1, n, Sampling::WithReplacement),
        map_coefficients(3, n, Sampling::WithReplacement),
        map_coefficients(2, n, Sampling::Shuffle),
    ]
}

#[test]
fn gram_form_map_equals_full_map() {
    let (n, d) = (5, 4);
    let p = problem::<f64>(n, d, 3, ());
    let j = p.jacobian(&point(d));
    let mut rng = rng_for(11, 99);
    let mut a: Mat<f64> = Mat::zeros(n, n, ());
    for i in 0..n {
        for k in i..n {
            let v: f64 = rng.random_range(-1.0..1.0);
            a[(i, k)] = v;
            a[(k, i)] = v;
        }
    }
    let jt = j.transpose();
    let m = jt.mul(&a).mul(&j); // M = JᵀAJ
    let k = j.mul(&jt);
    for coef in coefs(n) {
        for eta in [0.01, 0.1, 0.3] {
            let full = second_moment_map(&j, eta, coef, &m);
            let red = jt.mul(&gram_form_map(&k, eta, coef, &a)).mul(&j);
            let scale = full.as_slice().iter().map(|x| x.abs()).fold(1.0, f64::max);
            assert!(max_abs_diff(&full, &red) <= 1e-12 * scale);
        }
    }
}

/// tr Tᵏ(G) and ρ agree between the full D × D map on J and the reduced map
/// on Y (YYᵀ = JJᵀ), including a rank-deficient point (u_j = v_j = 0).
#[test]
fn reduced_coordinates_equal_full_map() {
    // rank J ≤ min(n, d) for the diagonal network (∇_{u_j} f ∥ ∇_{v_j} f)
    let (n, d) = (5, 6);
    let p = problem::<f64>(n, d, 5, ());
    let mut deficient = point(d);
    for k in [0, 2, 4] {
        deficient[k] = 0.0; // u_j = v_j = 0 for j = 0, 2, 4: rank ≤ 3 < n
        deficient[d + k] = 0.0;
    }
    for (theta, rank) in [(point(d), n), (deficient, 3)] {
        let j = p.jacobian(&theta);
        let red = ReducedGradients::from_jacobian(&j);
        assert_eq!(red.rank(), rank);
        let full = ReducedGradients { y: j.clone() };
        for coef in coefs(n) {
            for eta in [0.05, 0.2, 0.5] {
                let (mut mf, mut mr) = (full.gauss_newton(), red.gauss_newton());
                for _ in 0..15 {
                    mf = full.apply(eta, coef, &mf);
                    mr = red.apply(eta, coef, &mr);
                    let tf: f64 = (0..mf.rows()).map(|i| mf[(i, i)]).sum();
                    let tr: f64 = (0..mr.rows()).map(|i| mr[(i, i)]).sum();
                    assert_close!(tf, tr, abs = 1e-11 * tf.abs().max(1e-300), "{tf} vs {tr}");
                }
                // ρ of the full map on all symmetric D × D matrices is
                // max(ρ_restricted, 1) when range(G) ≠ ℝ^D (M supported on
                // ker G is a fixed point), so ρ is compared only where
                // range(G) = ℝ^r: the reduced map on Y with Y itself as rows.
                let again = ReducedGradients::from_jacobian(&red.y);
                let (r1, r2) = (
                    red.spectral_radius(eta, coef),
                    again.spectral_radius(eta, coef),
                );
                assert_close!(r1, r2, abs = 1e-10, "ρ {r1} vs {r2}");
            }
        }
    }
}

/// n = 1, D = 1: T(m) = m(1 − ηg²)², ρ = (1 − ηg²)², η* = 2/g². D = 1 with
/// n samples: T(m) = m[1 − 2ηm₂ + η²(a m₂² + b m₄)], m_k = (1/n)Σ g_iᵏ, so
/// η* = 2m₂/(a m₂² + b m₄).
#[test]
fn one_dimensional_closed_forms() {
    let g = 1.7;
    let one: ReducedGradients<f64> = ReducedGradients {
        y: Mat::from_f64(1, 1, &[g], ()),
    };
    for eta in [0.1, 0.5, 0.9] {
        let rho = one.spectral_radius(eta, (0.0, 1.0));
        assert_close!(rho, (1.0 - eta * g * g).powi(2), abs = 1e-14);
    }
    let c = one.critical_lr((0.0, 1.0), 1e-12);
    assert_close!(c, 2.0 / (g * g), abs = 1e-10 * c);
    let gs = [0.5, -1.2, 2.0, 0.9, 1.4];
    let n = gs.len();
    let m2 = gs.iter().map(|x| x * x).sum::<f64>() / n as f64;
    let m4 = gs.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64;
    let col: ReducedGradients<f64> = ReducedGradients {
        y: Mat::from_f64(n, 1, &gs, ()),
    };
    for (b, s) in [
        (1, Sampling::WithReplacement),
        (2, Sampling::WithReplacement),
        (4, Sampling::Shuffle),
        (5, Sampling::Shuffle),
    ] {
        let (a, bb) = map_coefficients(b, n, s);
        for eta in [0.1, 0.4] {
            let exact = 1.0 - 2.0 * eta * m2 + eta * eta * (a * m2 * m2 + bb * m4);
            assert_close!(col.spectral_radius(eta, (a, bb)), exact, abs = 1e-13);
        }
        let c = col.critical_lr((a, bb), 1e-12);
        let exact = 2.0 * m2 / (a * m2 * m2 + bb * m4);
        assert_close!(c, exact, rel = 1e-9, "B={b} {s:?}: {c} vs {exact}");
    }
    // B = n without replacement is full-batch GD: η* = 2/m₂
    let (a, bb) = map_coefficients(n, n, Sampling::Shuffle);
    assert!((a - 1.0).abs() < 1e-15 && bb.abs() < 1e-15);
}

/// The stable set is [0, η*]; η* increases with B (T_B − T_B' is
/// PSD-preserving for B < B'); B = n without replacement gives exactly
/// 2/λ_max; with replacement η* < 2/λ_max.
#[test]
fn critical_lr_is_monotone_in_batch_size() {
    let (n, d) = (10, 20);
    let p = problem::<f64>(n, d, 7, ());
    let red = ReducedGradients::from_jacobian(&p.jacobian(&vec![1.0; 2 * d]));
    let lmax = red.lambda_max();
    let mut last = 0.0;
    for b in [1, 2, 4, 10] {
        let coef = map_coefficients(b, n, Sampling::WithReplacement);
        let c = red.critical_lr(coef, 1e-10);
        assert!(c > last && c < 2.0 / lmax, "B = {b}: η* = {c}");
        for f in [0.5, 0.9, 0.999] {
            assert!(red.spectral_radius(f * c, coef) <= 1.0);
        }
        for f in [1.001, 1.1, 2.0] {
            assert!(red.spectral_radius(f * c, coef) > 1.0);
        }
        last = c;
    }
    let gd = red.critical_lr(map_coefficients(n, n, Sampling::Shuffle), 1e-12);
    assert_close!(gd, 2.0 / lmax, abs = 1e-8 * gd, "{gd} vs {}", 2.0 / lmax);
    let shuffle1 = red.critical_lr(map_coefficients(1, n, Sampling::Shuffle), 1e-10);
    let repl1 = red.critical_lr(map_coefficients(1, n, Sampling::WithReplacement), 1e-10);
    assert_close!(shuffle1, repl1, rel = 1e-8, "B = 1: both samplings agree");
}

/// Monte Carlo of the linearized recursion δ' = δ − η Ĥ δ in ℝ^D (Linear
/// model, n = 6 > d = 3, so that range(G) = ℝ^D and the full map has no
/// neutral null-space modes for the power iteration to pick up), started
/// with E δ₀δ₀ᵀ = X* (the Perron eigenvector of T, by power iteration), so
/// that E‖δ_K‖² = ρᴷ tr X* exactly. Pre-registered (proofs/stability.md):
/// |mean − ρᴷ tr X*| ≤ 4 standard errors at each of four (B, η) settings.
#[test]
fn spectral_radius_matches_monte_carlo() {
    let (n, d) = (6, 3);
    let data = common::seeded_design(n, d, 2, true);
    let j = Problem::new(Linear::new(d), data).jacobian(&[0.0; 3]);
    let dim = d;
    let red = ReducedGradients::from_jacobian(&j);
    let full = ReducedGradients { y: j.clone() };
    let (paths, steps) = (40_000usize, 10usize);
    for (b, factor) in [(1usize, 1.0), (1, 1.3), (2, 1.0), (2, 0.7)] {
        let coef = map_coefficients(b, n, Sampling::WithReplacement);
        let eta = factor * red.critical_lr(coef, 1e-10);
        let rho = red.spectral_radius(eta, coef);
        // Perron eigenvector by power iteration on the full map
        let mut x = full.gauss_newton();
        for _ in 0..20_000 {
            x = full.apply(eta, coef, &x);
            let t: f64 = (0..dim).map(|i| x[(i, i)]).sum();
            x.as_mut_slice().iter_mut().for_each(|v| *v /= t);
        }
        let tx = full.apply(eta, coef, &x);
        let ratio: f64 = (0..dim).map(|i| tx[(i, i)]).sum();
        assert_close!(
            ratio,
            rho,
            abs = 1e-9,
            "power iteration {ratio} vs Lanczos {rho}"
        );
        // δ₀ = F z with FFᵀ = X*
        let f = ReducedGradients::from_gram(&x, 1e-13).y;
        let mut rng = rng_for(2026, 7);
        let mut sum = 0.0;
        let mut sum_sq = 0.0;
        for _ in 0..paths {
            let z: Vec<f64> = (0..f.cols())
                .map(|_| rng.sample(rand_distr::StandardNormal))
                .collect();
            let mut delta = f.mul_vec(&z);
            for _ in 0..steps {
                let mut step = vec![0.0; dim];
                for _ in 0..b {
                    let i = rng.random_range(0..n);
                    let gi = j.row(i);
                    let c: f64 = gi.iter().zip(&delta).map(|(a, b)| a * b).sum();
                    for k in 0..dim {
                        step[k] += eta * c * gi[k] / b as f64;
                    }
                }
                for k in 0..dim {
                    delta[k] -= step[k];
                }
            }
            let s: f64 = delta.iter().map(|v| v * v).sum();
            sum += s;
            sum_sq += s * s;
        }
        let mean = sum / paths as f64;
        let se = ((sum_sq / paths as f64 - mean * mean) / (paths as f64 - 1.0)).sqrt();
        let exact = rho.powi(steps as i32); // tr X* = 1
        let rho_mc = mean.powf(1.0 / steps as f64);
        println!("B={b} η={eta:.5} ρ={rho:.6} MC ρ̂={rho_mc:.6} mean {mean:.5} exact {exact:.5} se {se:.2e} z {:.2}", (mean - exact) / se);
        assert_close!(mean, exact, abs = 4.0 * se, "B = {b}, η = {eta}");
    }
}

/// f64 and 256-bit MPFR agree on ρ and η* (the same formulas, generic).
#[test]
fn f64_and_mpfr_agree() {
    let (n, d) = (6, 8);
    let theta = point(d);
    let p64 = problem::<f64>(n, d, 9, ());
    let pm = problem::<Mpfr>(n, d, 9, 256);
    let r64 = ReducedGradients::from_jacobian(&p64.jacobian(&theta));
    let thm: Vec<Mpfr> = theta.iter().map(|&x| Mpfr::from_f64(x, 256)).collect();
    let rm = ReducedGradients::from_jacobian(&pm.jacobian(&thm));
    assert_eq!(r64.rank(), rm.rank());
    for b in [1, 3] {
        let coef = map_coefficients(b, n, Sampling::WithReplacement);
        let (c64, cm) = (r64.critical_lr(coef, 1e-12), rm.critical_lr(coef, 1e-12));
        assert_close!(c64, cm, abs = 1e-9 * c64, "η* {c64} vs {cm}");
        let eta = 0.8 * c64;
        let (a, bm) = (
            r64.spectral_radius(eta, coef),
            rm.spectral_radius(eta, coef).to_f64(),
        );
        assert_close!(a, bm, abs = 1e-12, "ρ {a} vs {bm}");
    }
}

/// `latedecay stability --json` on the shipped σ = 0 config: θ₀, θ_mn and a
/// point from a CSV file; η* < 2/λ_max at every point, all numbers finite.
#[test]
fn stability_command_reports_every_point() {
    let dir = std::env::temp_dir().join(format!("latedecay-stability-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let theta = dir.join("theta.csv");
    let values: Vec<String> = (0..200)
        .map(|k| format!("{}", 0.5 + 0.001 * k as f64))
        .collect();
    std::fs::write(&theta, values.join("\n")).unwrap();
    let stability = ["stability", "--config", "configs/no_label_noise.toml"];
    let out = common::run_ok(
        common::bin()
            .args(stability)
            .args(["--json", "--theta"])
            .arg(&theta),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        let c = r["critical_lr"].as_f64().unwrap();
        let fb = r["full_batch_lr"].as_f64().unwrap();
        assert!(c.is_finite() && c > 0.0 && c < fb, "{r}");
        assert!(r["rho"].as_f64().unwrap().is_finite());
    }
    // tr G = ‖θ‖² for normalized columns
    let r0 = &rows[0];
    let norm = r0["norm"].as_f64().unwrap();
    assert_close!(r0["trace_g"].as_f64().unwrap(), norm * norm, rel = 1e-9);
    let bad = common::bin()
        .args(stability)
        .args(["--theta", "Cargo.toml"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// The divergence hint quotes the B-aware η* and never prints NaN: a
/// non-finite θ₀, a zero Jacobian (u = v = 0 for the diagonal network) and
/// the default instance at η = 0.02 (σ = 0, B = 1), where η* ≈ 0.0083.
#[test]
fn divergence_hint_uses_critical_lr_and_never_prints_nan() {
    use latedecay::dynamics::sgd::divergence_hint;
    use latedecay::schedule::Schedule;
    let p = problem::<f64>(10, 30, 1, ());
    let method = common::sgd(
        1,
        0.0,
        Sampling::WithReplacement,
        Schedule::constant(0.5).unwrap(),
    );
    for theta in [
        vec![f64::NAN; 60],
        vec![f64::INFINITY; 60],
        vec![0.0; 60],
        vec![1.0; 60],
    ] {
        let h = divergence_hint(&p, &method, &theta, 0.5);
        assert!(
            !h.to_lowercase().contains("nan") && !h.contains("inf"),
            "{h}"
        );
        assert!(h.contains("reduce the learning rate"), "{h}");
    }
    let h = divergence_hint(&p, &method, &vec![1.0; 60], 0.5);
    assert!(h.contains("η*"), "{h}");
    // the default instance diverges at η = 0.02 with σ = 0: the hint names η*
    let mut cfg = latedecay::experiment::ExperimentConfig::default_late_decay();
    cfg.sweep = None;
    cfg.sgd.label_noise_sigma = 0.0;
    cfg.sgd.schedule = Schedule::constant(0.02).unwrap();
    cfg.run.steps = Some(20_000);
    cfg.run.steps_after_decay = None;
    cfg.run.seeds = latedecay::experiment::Seeds::List(vec![1]);
    let exp = latedecay::experiment::Experiment::new(cfg).unwrap();
    // A diverged seed is reported in the run's summary, not as an error.
    let report = latedecay::experiment::run_experiment(&exp).unwrap();
    let diverged = report.diverged();
    assert_eq!(diverged.len(), 1);
    let err = diverged[0].1.to_string();
    assert!(
        err.contains("diverged") && err.contains("η* ≈ 8.31"),
        "{err}"
    );
}
