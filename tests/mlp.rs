//! Derivative checks for the two-layer network `Mlp`, one proptest suite per
//! activation (tanh, ReLU, GELU) and scalar type (f64 and 256-bit MPFR), plus
//! training on the teacher task and the Mlp as a configured model (`run`,
//! `sweep`, `verify --config`, f64 and MPFR).
//!
//! Tolerances as in tests/models.rs: central differences with step h have
//! truncation error O(h²·f''') and roundoff O(ε·|f|/h). For f64, h = 1e-5
//! (error ≲ 1e-9 relative, tolerance 1e-7); for MPFR at 256 bits h = 1e-25
//! (truncation ~1e-50, roundoff ~1e-52, tolerance 1e-45).

use latedecay::data::{TeacherConfig, TeacherTask};
use latedecay::dynamics::sgd::{run_sgd, RecordPlan, SgdState};
use latedecay::model::mlp::heldout_loss;
use latedecay::model::mlp::Activation;
use latedecay::model::{Mlp, Model, Problem};
use latedecay::noise::Sampling;
use latedecay::probe::MlpProbe;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;
use proptest::prelude::*;

use crate::common;
use crate::common::{check_model_derivatives, max_rel_err};

fn task<R: Real>(n: usize, d: usize, seed: u64, ctx: R::Ctx) -> Problem<R, Mlp> {
    task_with(n, d, seed, Activation::Tanh, ctx)
}

fn task_with<R: Real>(
    n: usize,
    d: usize,
    seed: u64,
    activation: Activation,
    ctx: R::Ctx,
) -> Problem<R, Mlp> {
    let t = TeacherTask::new(&TeacherConfig {
        n,
        d,
        teacher_width: 2,
        n_test: 10,
        target_noise_sigma: 0.1,
        seed,
    })
    .unwrap();
    Problem::new(
        Mlp::with_activation(d, 3, activation),
        t.train.convert::<R>(ctx),
    )
}

/// Smallest |w_k · x_i| over units and samples (ReLU has a kink at 0, where
/// central differences are not the derivative).
fn min_abs_preactivation<R: Real>(p: &Problem<R, Mlp>, theta: &[R]) -> f64 {
    let (d, m) = (p.model.d, p.model.m);
    let mut least = f64::INFINITY;
    for i in 0..p.n() {
        let x = p.data.x.row(i);
        for k in 0..m {
            let z: f64 = (0..d)
                .map(|j| theta[k * d + j].to_f64() * x[j].to_f64())
                .sum();
            least = least.min(z.abs());
        }
    }
    least
}

macro_rules! mlp_suite {
    ($modname:ident, $scalar:ty, $ctx:expr, $h:expr, $tol:expr, $act:expr, $kink:expr) => {
        mod $modname {
            use super::*;
            proptest! {
                #![proptest_config(common::prop_config(24))]
                #[test]
                fn mlp_derivatives(seed in 0u64..1000, coords in prop::collection::vec(-1.5f64..1.5, 15)) {
                    // d = 4, m = 3: D = 12 + 3 = 15.
                    let problem = task_with::<$scalar>(4, 4, seed, $act, $ctx);
                    let theta: Vec<$scalar> = coords.iter().map(|&c| <$scalar>::from_f64(c, $ctx)).collect();
                    // Away from a kink by far more than the FD step moves w_k·x.
                    prop_assume!(min_abs_preactivation(&problem, &theta) > $kink);
                    check_model_derivatives(&problem, &theta, $h, $tol)?;
                }
            }
        }
    };
}

mlp_suite!(f64_suite, f64, (), 1e-5, 1e-7, Activation::Tanh, -1.0);
mlp_suite!(mpfr_suite, Mpfr, 256, 1e-25, 1e-45, Activation::Tanh, -1.0);
mlp_suite!(relu_f64_suite, f64, (), 1e-5, 1e-7, Activation::Relu, 1e-3);
mlp_suite!(
    relu_mpfr_suite,
    Mpfr,
    256,
    1e-25,
    1e-45,
    Activation::Relu,
    1e-20
);
mlp_suite!(gelu_f64_suite, f64, (), 1e-5, 1e-7, Activation::Gelu, -1.0);
mlp_suite!(
    gelu_mpfr_suite,
    Mpfr,
    256,
    1e-25,
    1e-45,
    Activation::Gelu,
    -1.0
);

/// The activations themselves: σ and σ' at known points (f64 and 256 bits).
#[test]
fn activation_values() {
    // One unit, a = 1, w = 1 (√m = 1): f(x) = σ(x), ∂f/∂w = σ'(x)·x.
    let x = 0.7f64;
    let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = |z: f64| 0.5 * (1.0 + statrs::function::erf::erf(z / 2f64.sqrt()));
    let cases = [
        (Activation::Tanh, x.tanh(), 1.0 - x.tanh().powi(2)),
        (Activation::Relu, x, 1.0),
        (Activation::Gelu, x * cdf(x), cdf(x) + x * phi(x)),
    ];
    for (act, f, df) in cases {
        let m = Mlp::with_activation(1, 1, act);
        let theta = [1.0, 1.0];
        let mut ws = Model::<f64>::workspace(&m, ());
        let mut out = 0.0;
        m.predict_into(&theta, &[x], &mut out, &mut ws);
        assert_close!(out, f, abs = 1e-15, "{act}: f = {out} vs {f}");
        let mut g = [0.0; 2];
        m.grad_into(&theta, &[x], &mut g, &mut ws);
        assert_close!(
            g[0],
            df * x,
            abs = 1e-15,
            "{act}: ∂f/∂w = {} vs {}",
            g[0],
            df * x
        );
        assert_close!(g[1], f, abs = 1e-15, "{act}: ∂f/∂a");
        // MPFR agrees to f64 precision.
        let tm: Vec<Mpfr> = theta.iter().map(|&v| Mpfr::from_f64(v, 256)).collect();
        let xm = [Mpfr::from_f64(x, 256)];
        let mut wsm = Model::<Mpfr>::workspace(&m, 256);
        let mut outm = Mpfr::zero(256);
        m.predict_into(&tm, &xm, &mut outm, &mut wsm);
        assert_close!(outm.to_f64(), f, abs = 1e-15, "{act} MPFR");
    }
    // ReLU below the kink: zero output and zero gradient.
    let m = Mlp::with_activation(1, 1, Activation::Relu);
    let mut ws = Model::<f64>::workspace(&m, ());
    let mut g = [9.0; 2];
    m.grad_into(&[1.0, 1.0], &[-0.3], &mut g, &mut ws);
    assert_eq!(g, [0.0, 0.0]);
}

/// Negative control for GELU: σ' = Φ(z) without the z φ(z) term is caught.
#[test]
fn derivative_check_rejects_a_wrong_gelu_gradient() {
    let problem = task_with::<f64>(3, 4, 9, Activation::Gelu, ());
    let model = problem.model;
    let theta: Vec<f64> = (0..15).map(|k| 0.7 * ((k as f64) * 1.3).sin()).collect();
    let x = problem.data.x.row(0).to_vec();
    let cdf = |z: f64| 0.5 * (1.0 + statrs::function::erf::erf(z / 2f64.sqrt()));
    let a = &theta[12..];
    let mut wrong = vec![0.0; 15];
    for k in 0..3 {
        let z: f64 = (0..4).map(|j| theta[k * 4 + j] * x[j]).sum();
        for j in 0..4 {
            wrong[k * 4 + j] = a[k] * cdf(z) * x[j] / 3f64.sqrt(); // missing z φ(z)
        }
        wrong[12 + k] = z * cdf(z) / 3f64.sqrt();
    }
    let fd = common::fd_prediction_gradient(&model, &x, &theta, 1e-5, ());
    assert!(max_rel_err(&wrong, &fd) > 1e-3);
    let mut ws = Model::<f64>::workspace(&model, ());
    let mut right = vec![0.0; 15];
    model.grad_into(&theta, &x, &mut right, &mut ws);
    assert!(max_rel_err(&right, &fd) < 1e-8);
}

/// Negative control: dropping the tanh' factor (1 − t²) from ∂f/∂W is caught.
#[test]
fn derivative_check_rejects_a_wrong_gradient() {
    let problem = task::<f64>(3, 4, 9, ());
    let model = problem.model;
    let theta: Vec<f64> = (0..15).map(|k| 0.7 * ((k as f64) * 1.3).sin()).collect();
    let x = problem.data.x.row(0).to_vec();
    let mut ws = Model::<f64>::workspace(&model, ());
    let mut wrong = vec![0.0; 15];
    model.grad_into(&theta, &x, &mut wrong, &mut ws);
    let a = &theta[12..];
    for k in 0..3 {
        for j in 0..4 {
            wrong[k * 4 + j] = a[k] * x[j] / 3f64.sqrt(); // missing (1 − t_k²)
        }
    }
    let fd = common::fd_prediction_gradient(&model, &x, &theta, 1e-5, ());
    assert!(max_rel_err(&wrong, &fd) > 1e-3);
}

/// f in f64 and MPFR agree to f64 precision (same formula, both scalar types).
#[test]
fn f64_and_mpfr_predictions_agree() {
    let p64 = task::<f64>(5, 6, 3, ());
    let pmp = task::<Mpfr>(5, 6, 3, 256);
    let model = Mlp::new(6, 3);
    let theta64 = model.gaussian_init::<f64>(4, 1.0, 1.0, ());
    let thetamp = model.gaussian_init::<Mpfr>(4, 1.0, 1.0, 256);
    let r64 = p64.residuals(&theta64);
    let rmp = pmp.residuals(&thetamp);
    for (a, b) in r64.iter().zip(&rmp) {
        assert_close!(a, b.to_f64(), abs = 1e-14 * (1.0 + a.abs()));
    }
}

/// SGD on the teacher task drives the training loss near zero and the probe's
/// held-out loss agrees with `heldout_loss`.
#[test]
fn sgd_fits_the_teacher_task() {
    let t = TeacherTask::new(&TeacherConfig {
        n: 12,
        d: 6,
        n_test: 500,
        ..Default::default()
    })
    .unwrap();
    let model = Mlp::new(6, 16);
    let problem = Problem::new(model, t.train.clone());
    let theta0 = model.gaussian_init::<f64>(1, 1.0, 1.0, ());
    let method = common::sgd(
        1,
        0.0,
        Sampling::WithReplacement,
        Schedule::constant(0.1).unwrap(),
    );
    let mut state = SgdState::new(theta0.clone(), 1, problem.n(), &method);
    let mut probe = MlpProbe::new(&problem, &t.test_x, &t.test_y, true);
    let run = run_sgd(
        &problem,
        &method,
        &mut state,
        100_000,
        RecordPlan::Every { every: 10_000 },
        &mut probe,
        |_| {},
    )
    .into_result()
    .unwrap();
    let first = &run.records[0];
    let last = run.records.last().unwrap();
    assert!(
        last.train_loss < 1e-3 * first.train_loss,
        "{} → {}",
        first.train_loss,
        last.train_loss
    );
    assert_eq!(probe.thetas.len(), run.records.len());
    let direct = heldout_loss(&model, &run.theta, &t.test_x, &t.test_y);
    assert_close!(direct, last.test_loss, abs = 1e-12);
    assert!(last.test_loss.is_finite() && last.test_loss > 0.0);
    // Bad input names the field.
    let err = TeacherTask::new(&TeacherConfig {
        teacher_width: 99,
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("teacher_width"), "{err}");
}

// ---------------------------------------------------------------------------
// The Mlp as a configured model: `model = "mlp"` with `[mlp]`.

use latedecay::claims::Verdict;
use latedecay::experiment::{
    run_experiment, run_sweep, Experiment, ExperimentConfig, SweepOptions,
};

fn mlp_config(extra_mlp: &str, bits: u32, steps: &str) -> String {
    format!(
        r#"
name = "mlp test"
model = "mlp"
precision_bits = {bits}
[data]
source = "synthetic"
n = 10
d = 5
ground_truth = {{ kind = "sparse", nonzeros = 2, value = 1.0 }}
[mlp]
width = 4
{extra_mlp}
{sgd}[run]
seeds = [1, 2]
{steps}
record = {{ kind = "every", every = 100 }}
"#,
        sgd = common::sgd_toml(0.5, 0.05, 0.005, 300)
    )
}

fn parse(text: &str) -> ExperimentConfig {
    ExperimentConfig::from_toml_str(text, "test").unwrap()
}

#[test]
fn mlp_config_runs_in_f64_and_mpfr() {
    for act in ["tanh", "relu", "gelu"] {
        let extra = format!("activation = \"{act}\"");
        let r64 = run_experiment(
            &Experiment::new(parse(&mlp_config(&extra, 53, "steps_after_decay = 200"))).unwrap(),
        )
        .unwrap();
        let rmp = run_experiment(
            &Experiment::new(parse(&mlp_config(&extra, 128, "steps_after_decay = 200"))).unwrap(),
        )
        .unwrap();
        assert_eq!(r64.steps, 500);
        assert!(r64.reference.minnorm_norm.is_nan());
        for (a, b) in r64.per_seed.iter().zip(&rmp.per_seed) {
            assert!(a.train_loss.is_finite() && a.test_loss.is_finite() && a.norm > 0.0);
            assert!(a.dist_minnorm.is_nan() && a.rel_dist_minnorm.is_nan());
            // synthetic targets are not ±1: no classification error
            assert!(a.test_error.is_nan());
            // same noise path: f64 and 128-bit runs agree to roundoff growth
            let rel = (a.norm - b.norm).abs() / a.norm;
            assert!(rel < 1e-9, "{act}: f64 {} vs MPFR {}", a.norm, b.norm);
            assert_close!(a.test_loss, b.test_loss, abs = 1e-8 * (1.0 + a.test_loss));
        }
        // records: train loss, held-out loss, ‖θ‖, ‖r‖ (r² / 2n = train loss)
        for rec in &r64.trajectories[0] {
            assert!(rec.test_loss.is_finite());
            let l = rec.residual_norm * rec.residual_norm / 20.0;
            assert_close!(l, rec.train_loss, abs = 1e-12 * (1.0 + l));
        }
    }
}

/// The sweep engine on the Mlp: each branch equals an independent run with
/// that decay step, bit for bit.
#[test]
fn mlp_sweep_branches_equal_independent_runs() {
    let text = mlp_config("", 53, "steps_after_decay = 200")
        + "[sweep]\ndecay_steps = [50, 300]\nsteps_after_decay = 200\n";
    let sweep = run_sweep(
        &Experiment::new(parse(&text)).unwrap(),
        &SweepOptions::default(),
    )
    .unwrap();
    assert_eq!(sweep.jobs.len(), 4);
    for t in [50u64, 300] {
        let mut cfg = parse(&mlp_config("", 53, "steps_after_decay = 200"));
        cfg.sgd.schedule = Schedule::step_decay(0.05, 0.005, t).unwrap();
        let run = run_experiment(&Experiment::new(cfg).unwrap()).unwrap();
        for s in &run.per_seed {
            let job = sweep
                .jobs
                .iter()
                .find(|j| j.key.decay_step == t && j.key.seed == s.seed)
                .unwrap();
            assert_eq!(job.summary.norm.to_bits(), s.norm.to_bits(), "T = {t}");
            assert_eq!(job.summary.test_loss.to_bits(), s.test_loss.to_bits());
            assert_eq!(job.summary.train_loss.to_bits(), s.train_loss.to_bits());
        }
    }
}

#[test]
fn mlp_config_errors_name_the_field() {
    let check = |text: String, needle: &str| {
        let err = match ExperimentConfig::from_toml_str(&text, "test") {
            Err(e) => e.to_string(),
            Ok(cfg) => Experiment::new(cfg).unwrap_err().to_string(),
        };
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    };
    let base = mlp_config("", 53, "steps_after_decay = 10");
    // (replace, by, the error must name); n = 10 ≥ D = 1·5 + 1 = 6 parameters
    // at width 1: the check counts parameters.
    for (from, to, needle) in [
        ("[mlp]\nwidth = 4\n", "", "[mlp] section"),
        ("model = \"mlp\"", "model = \"diagonal\"", "mlp = given"),
        ("width = 4", "width = 0", "mlp.width"),
        ("width = 4", "width = 4\nw_scale = -1", "mlp.w_scale"),
        (
            "width = 4",
            "width = 4\nactivation = \"sigmoid\"",
            "activation",
        ),
        ("width = 4", "width = 4\ndepth = 2", "depth"),
        (
            "[sgd]",
            "[init]\nkind = \"gaussian\"\nscale = 1.0\n[sgd]",
            "init",
        ),
        ("width = 4", "width = 1", "D = 6 parameters of the Mlp"),
    ] {
        check(base.replace(from, to), needle);
    }
    // ... while n = 10 > d = 5 features is fine for the Mlp (width 4: D = 24).
    assert!(Experiment::new(parse(&base)).is_ok());
    // and the Linear model on the same data is refused because of features.
    let lin = base
        .replace("model = \"mlp\"", "model = \"linear\"")
        .replace("[mlp]\nwidth = 4\n", "");
    check(lin, "d = 5 features");
    // no closed-form θ_mn for the Mlp
    let data = latedecay::data::Dataset::from_config(&parse(&base).data).unwrap();
    let e =
        latedecay::manifold::min_norm_interpolant::<f64>(latedecay::model::ModelKind::Mlp, &data)
            .unwrap_err();
    assert!(e.to_string().contains("no closed-form"), "{e}");
}

/// `verify --config` on an Mlp: the claims that need θ_mn, R(β), the
/// closed-form slow flow or the linear-in-x identities say N/A with the
/// reason; C1 (the norm trend) runs when `[claims]` gives the grid.
#[test]
fn verify_config_on_the_mlp_is_not_applicable_with_reasons() {
    let cfg = parse(&mlp_config("", 53, "steps_after_decay = 10"));
    let report = common::verify_quick(&cfg, &["C1", "C2", "C3", "C4", "C8", "C9", "C10"]);
    for id in ["C1", "C2", "C3", "C4", "C8", "C9", "C10"] {
        let row = report.row(id).unwrap();
        assert_eq!(
            row.verdict,
            Verdict::NotApplicable,
            "{id}: {}",
            row.evidence
        );
        assert!(row.evidence.contains("Mlp"), "{id}: {}", row.evidence);
    }
    assert!(report.row("C1").unwrap().evidence.contains("slow flow"));
    // With a given grid C1 runs on the Mlp (a measured verdict, not N/A).
    let text = mlp_config("", 53, "steps_after_decay = 10")
        + "[claims]\nseeds = [1, 2, 3]\ndecay_steps = [0, 100, 200, 400]\nsteps_after_decay = 50\n";
    let cfg = parse(&text);
    common::measured_row(&common::verify_quick(&cfg, &["C1"]), "C1");
}

/// An Mlp sweep resumes: its NaN fields (distances, classification error)
/// do not make a repeated identical results.jsonl line look different.
#[test]
fn mlp_sweep_resumes_with_a_repeated_line() {
    let text = mlp_config("", 53, "steps_after_decay = 100")
        + "[sweep]\ndecay_steps = [50, 100]\nsteps_after_decay = 100\n";
    let exp = Experiment::new(parse(&text)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = SweepOptions {
        out_dir: Some(dir.path().join("out")),
        ..Default::default()
    };
    let first = run_sweep(&exp, &opts).unwrap();
    let log = dir.path().join("out/results.jsonl");
    let body = std::fs::read_to_string(&log).unwrap();
    let line = body.lines().next().unwrap().to_string();
    std::fs::write(&log, format!("{body}{line}\n")).unwrap();
    let resumed = run_sweep(
        &exp,
        &SweepOptions {
            resume: true,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(resumed.computed, 0);
    assert_eq!(resumed.jobs.len(), first.jobs.len());
}
