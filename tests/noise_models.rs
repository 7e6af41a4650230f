//! Noise models of `[sgd] noise` (`proofs/noise_models.md`): `none` = label
//! noise σ = 0 bit for bit, isotropic parameter noise (given or matched scale)
//! and LNGD (full batch + label noise on one random sample) step by step
//! against hand-computed updates, f64 vs MPFR on the same noise path, init
//! with separate u/v scales and from a CSV file, config errors, and the noise
//! models through `run`, `sweep` and `verify --config`.

use latedecay::dynamics::sgd::{run_sgd_to_end, NoiseModel, Sgd};
use latedecay::experiment::run::initial_theta;
use latedecay::experiment::{
    run_experiment, run_sweep, Experiment, ExperimentConfig, SweepOptions,
};
use latedecay::model::{Diagonal, Problem};
use latedecay::noise::{BatchNoise, Sampling};
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;

use crate::common;

fn problem<R: Real>(ctx: R::Ctx) -> Problem<R, Diagonal> {
    let data = common::normalized_design(10, 30).convert::<R>(ctx);
    Problem::new(Diagonal::new(30), data)
}

fn method(noise: NoiseModel, sigma: f64, lr: f64) -> Sgd {
    Sgd {
        batch_size: 1,
        label_noise_sigma: sigma,
        noise,
        sampling: Sampling::WithReplacement,
        schedule: Schedule::constant(lr).unwrap(),
    }
}

#[test]
fn none_is_label_noise_zero_bit_for_bit() {
    let p = problem::<f64>(());
    let a = run_sgd_to_end(
        &p,
        &method(NoiseModel::Label, 0.0, 0.01),
        vec![1.0; 60],
        3,
        5000,
    );
    let b = run_sgd_to_end(
        &p,
        &method(NoiseModel::None, 0.0, 0.01),
        vec![1.0; 60],
        3,
        5000,
    );
    assert_eq!(a.theta, b.theta);
}

/// One step of isotropic noise = the plain step (same batch) + η s ζ with
/// ζ ~ N(0, I): (θ₁ − θ₁^plain)/(η s) over 200 seeds × 60 coordinates has
/// mean within 4 se of 0 and variance within 4 sd of 1. Matched scale:
/// s² = σ² tr G(θ₀)/(B D), = σ² at u = v = 1 with normalized columns.
#[test]
fn isotropic_noise_adds_eta_s_zeta() {
    let p = problem::<f64>(());
    let lr = 0.01;
    let iso = NoiseModel::Isotropic {
        scale: None,
        matched_sigma: Some(0.7),
    };
    let s = method(iso, 0.0, lr)
        .isotropic_scale(&p, &[1.0; 60])
        .unwrap();
    // column moments are 1 up to the 2⁻³⁰ data grid
    assert_close!(s, 0.7, abs = 1e-9, "matched s = {s}");
    let theta0 = vec![1.0 + 0.1; 60];
    let s0 = method(iso, 0.0, lr).isotropic_scale(&p, &theta0).unwrap();
    // tr G = ‖θ‖² = 60·1.21, D = 60: s = 0.7·1.1
    assert_close!(s0, 0.77, abs = 1e-9);
    let mut z = Vec::new();
    for seed in 0..200 {
        let plain = run_sgd_to_end(
            &p,
            &method(NoiseModel::None, 0.0, lr),
            theta0.clone(),
            seed,
            1,
        );
        let noisy = run_sgd_to_end(&p, &method(iso, 0.0, lr), theta0.clone(), seed, 1);
        for (a, b) in noisy.theta.iter().zip(&plain.theta) {
            z.push((a - b) / (lr * s0));
        }
    }
    let m = z.len() as f64;
    let mean = z.iter().sum::<f64>() / m;
    let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0);
    assert!(mean.abs() < 4.0 / m.sqrt(), "mean {mean}");
    assert_close!(var, 1.0, abs = 4.0 * (2.0 / m).sqrt(), "var {var}");
}

/// LNGD: θ₁ = θ₀ − η[(1/n)Σ_j r_j ∇f_j − σ ξ ∇f_i] with (i, ξ) the first draw
/// of the run's batch stream.
#[test]
fn lngd_step_is_full_gradient_plus_one_label_noise() {
    let p = problem::<f64>(());
    let (lr, sigma, seed) = (0.01, 0.8, 5);
    let theta0: Vec<f64> = (0..60).map(|k| 0.5 + 0.01 * k as f64).collect();
    let run = run_sgd_to_end(
        &p,
        &method(NoiseModel::Lngd { sigma }, 0.0, lr),
        theta0.clone(),
        seed,
        1,
    );
    let mut noise = BatchNoise::new(seed, 10, Sampling::WithReplacement, true);
    let (mut idx, mut xi) = ([0usize], [0.0f64]);
    noise.next_batch(&mut idx, &mut xi);
    let grad = p.gradient(&theta0);
    let jac = p.jacobian(&theta0);
    for k in 0..60 {
        let expect = theta0[k] - lr * (grad[k] - sigma * xi[0] * jac[(idx[0], k)]);
        assert_close!(run.theta[k], expect, abs = 1e-14, "{k}");
    }
}

#[test]
fn f64_and_mpfr_follow_the_same_noise_path() {
    let p64 = problem::<f64>(());
    let pm = problem::<Mpfr>(256);
    for noise in [
        NoiseModel::Isotropic {
            scale: Some(0.3),
            matched_sigma: None,
        },
        NoiseModel::Isotropic {
            scale: None,
            matched_sigma: Some(1.0),
        },
        NoiseModel::Lngd { sigma: 1.0 },
    ] {
        let m = method(noise, 0.0, 0.005);
        let a = run_sgd_to_end(&p64, &m, vec![1.0; 60], 9, 500);
        let b = run_sgd_to_end(&pm, &m, vec![Mpfr::from_f64(1.0, 256); 60], 9, 500);
        let diff = a
            .theta
            .iter()
            .zip(&b.theta)
            .map(|(x, y)| (x - y.to_f64()).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-10, "{noise:?}: {diff}");
        let moved = a.theta.iter().map(|x| (x - 1.0).abs()).fold(0.0, f64::max);
        assert!(moved > 1e-3, "{noise:?} did not move");
    }
}

const BASE: &str = r#"
name = "noise models"
model = "diagonal"
[data]
source = "synthetic"
n = 10
d = 30
normalize_columns = true
[sgd]
batch_size = 1
NOISE
schedule = { kind = "step_decay", lr = 0.01, lr_after = 0.001, decay_step = 2000 }
[run]
seeds = { first = 1, count = 3 }
steps_after_decay = 1000
record = { kind = "final_only" }
[sweep]
decay_steps = [0, 1000, 2000]
steps_after_decay = 1000
"#;

fn cfg(noise: &str) -> ExperimentConfig {
    ExperimentConfig::from_toml_str(&BASE.replace("NOISE", noise), "test").unwrap()
}

#[test]
fn noise_models_run_and_sweep() {
    for noise in [
        "noise = { kind = \"none\" }",
        "noise = { kind = \"isotropic\", scale = 0.2 }",
        "noise = { kind = \"isotropic\", matched_sigma = 1.0 }",
        "noise = { kind = \"lngd\", sigma = 1.0 }",
    ] {
        let exp = Experiment::new(cfg(noise)).unwrap();
        let report = run_experiment(&exp).unwrap();
        assert_eq!(report.per_seed.len(), 3);
        assert!(report.mean.norm.is_finite());
        let sweep = run_sweep(&exp, &SweepOptions::default()).unwrap();
        assert_eq!(sweep.cells.len(), 3, "{noise}");
        // the config round-trips through TOML (the sweep stores it)
        let text = toml::to_string(exp.config()).unwrap();
        assert_eq!(
            ExperimentConfig::from_toml_str(&text, "rt").unwrap(),
            cfg(noise)
        );
    }
    // label noise: the default kind is not serialized (stored configs unchanged)
    let text = toml::to_string(&cfg("label_noise_sigma = 1.0")).unwrap();
    assert!(!text.contains("noise ="), "{text}");
}

#[test]
fn bad_noise_settings_name_the_field() {
    for (noise, needle) in [
        (
            "label_noise_sigma = 1.0\nnoise = { kind = \"none\" }",
            "label_noise_sigma",
        ),
        ("noise = { kind = \"isotropic\" }", "exactly one"),
        (
            "noise = { kind = \"isotropic\", scale = 1.0, matched_sigma = 1.0 }",
            "exactly one",
        ),
        ("noise = { kind = \"isotropic\", scale = 0.0 }", "> 0"),
        ("noise = { kind = \"lngd\", sigma = -1.0 }", "noise.sigma"),
    ] {
        let err = Experiment::new(cfg(noise)).unwrap_err().to_string();
        assert!(err.contains(needle), "{noise}: {err}");
    }
    let err = Experiment::new(
        ExperimentConfig::from_toml_str(
            &BASE
                .replace("NOISE", "noise = { kind = \"lngd\", sigma = 1.0 }")
                .replace("batch_size = 1", "batch_size = 2"),
            "t",
        )
        .unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("batch_size"), "{err}");
    let bad = BASE.replace("NOISE", "noise = { kind = \"gaussian\" }");
    assert!(ExperimentConfig::from_toml_str(&bad, "t").is_err());
}

#[test]
fn init_with_u_v_scales_and_from_file() {
    let text = BASE.replace("NOISE", "") + "[init]\nkind = \"uniform\"\nu = 0.1\nv = 0.0\n";
    let text = text.replace(
        "[sweep]\ndecay_steps = [0, 1000, 2000]\nsteps_after_decay = 1000\n",
        "",
    );
    let exp = Experiment::new(ExperimentConfig::from_toml_str(&text, "t").unwrap()).unwrap();
    let theta: Vec<f64> = initial_theta(&exp.config().init, 60, 1, ());
    assert!(theta[..30].iter().all(|&x| x == 0.1) && theta[30..].iter().all(|&x| x == 0.0));
    // u/v with the Linear model is rejected
    let lin = text.replace("model = \"diagonal\"", "model = \"linear\"");
    let err = Experiment::new(ExperimentConfig::from_toml_str(&lin, "t").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("init.u"), "{err}");
    // θ₀ from a CSV file
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theta0.csv");
    let values: Vec<String> = (0..60)
        .map(|k| format!("{}", 0.2 + 0.01 * k as f64))
        .collect();
    std::fs::write(&path, values.join("\n")).unwrap();
    let file_text = BASE.replace("NOISE", "")
        + &format!(
            "[init]\nkind = \"file\"\npath = {:?}\n",
            path.display().to_string()
        );
    let exp = Experiment::new(ExperimentConfig::from_toml_str(&file_text, "t").unwrap()).unwrap();
    let theta: Vec<f64> = initial_theta(&exp.config().init, 60, 1, ());
    assert_eq!(theta[59], 0.2 + 0.01 * 59.0);
    assert!(run_experiment(&exp).is_ok());
    std::fs::write(&path, "1.0\n2.0\n").unwrap();
    let err = Experiment::new(ExperimentConfig::from_toml_str(&file_text, "t").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("D = 60"), "{err}");
}

/// `verify --config` accepts the noise models (C1 on an isotropic and an
/// LNGD experiment with a given grid; the verdict is whatever it is — here
/// only that the claim runs).
#[test]
fn verify_config_runs_with_noise_models() {
    use latedecay::claims::Verdict;
    for noise in [
        "noise = { kind = \"isotropic\", matched_sigma = 1.0 }",
        "noise = { kind = \"lngd\", sigma = 1.0 }",
    ] {
        let text = BASE.replace("NOISE", noise)
            + "[claims]\ndecay_steps = [0, 1000, 2000, 4000]\nseeds = [1, 2, 3, 4]\nsteps_after_decay = 1000\n";
        let c = ExperimentConfig::from_toml_str(&text, "t").unwrap();
        let r = common::verify_quick(&c, &["C1", "C10"]);
        common::measured_row(&r, "C1");
        assert_eq!(
            r.row("C10").unwrap().verdict,
            Verdict::NotApplicable,
            "{}",
            r.to_table()
        );
    }
}
