//! C13 (`src/claims/landscape.rs`, `proofs/claims.md` "C13"): the machinery
//! and the pre-registered negative controls, on reduced settings.
//!
//! * the fast Gauss–Newton projection of the Mlp equals the generic one;
//! * each arm equals an independent step-decay run (trunk-and-branch);
//! * (a) does not pass when both arms decay at the same step;
//! * (b) fails on the Linear model, where proj_Γ θ_k never moves;
//! * `verify --config` says N/A without a held-out set or without `[sweep]`.

use latedecay::claims::landscape::{
    analyze_landscape, digits_config, input_gram, landscape_outcome, project_mlp_onto_manifold,
    run_landscape_study, run_seed_iterates, LandscapeSettings,
};
use latedecay::claims::Verdict;
use latedecay::dynamics::sgd::{run_sgd, RecordPlan, SgdState};
use latedecay::experiment::run::AnyProblem;
use latedecay::experiment::{Experiment, ExperimentConfig, Prepared};
use latedecay::manifold::project_onto_manifold;
use latedecay::model::mlp::Activation;
use latedecay::probe::NullProbe;

use crate::common;

fn settings(early: u64, late: u64, after: u64, seeds: Vec<u64>, k: usize) -> LandscapeSettings {
    let cfg = digits_config();
    let mut s = LandscapeSettings::from_config(&cfg, seeds, k).unwrap();
    s.early = early;
    s.late = late;
    s.steps_after = after;
    s
}

#[test]
fn builtin_config_is_the_shipped_file_and_settings_follow_it() {
    let shipped =
        ExperimentConfig::from_file(std::path::Path::new("configs/digits_mlp.toml")).unwrap();
    assert_eq!(digits_config(), shipped);
    let s = LandscapeSettings::from_config(&shipped, (101..=116).collect(), 10).unwrap();
    assert_eq!((s.early, s.late, s.steps_after), (10_000, 400_000, 50_000));
    assert_eq!((s.lr, s.lr_after), (0.05, 0.005));
    assert_eq!(
        s.phase_steps(),
        (1..=10).map(|j| j * 40_000).collect::<Vec<u64>>()
    );
    // Bad settings name the field and value.
    let mut bad = s.clone();
    bad.early = 500_000;
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("early") && e.contains("500000"), "{e}");
    let mut bad = s.clone();
    bad.seeds = vec![3, 3];
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("seeds") && e.contains("twice"), "{e}");
    let mut bad = s;
    bad.phase_points = 1;
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("phase_points") && e.contains('1'), "{e}");
}

#[test]
fn fast_mlp_projection_equals_the_generic_one() {
    for act in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
        let mut cfg = digits_config();
        if let latedecay::data::DataConfig::Digits(d) = &mut cfg.data {
            d.n_train = 20;
        } else {
            panic!("digits config");
        }
        let m = cfg.mlp.as_mut().unwrap();
        m.width = 8;
        m.activation = act;
        let exp = Experiment::new(cfg).unwrap();
        let prep = Prepared::<f64>::new(&exp, ()).unwrap();
        let AnyProblem::Mlp(p) = &prep.problem else {
            panic!("mlp")
        };
        // Start near Γ: a few thousand SGD steps from the init (from θ₀
        // itself the Gauss–Newton iteration does not converge).
        let m = exp.config().sgd.with_step_decay(0.05, 0.005, 4_000);
        let mut st = SgdState::new(prep.initial(&exp.config().init, 3, ()), 3, p.n(), &m);
        let theta = run_sgd(
            p,
            &m,
            &mut st,
            5_000,
            RecordPlan::FinalOnly,
            &mut NullProbe,
            |_| {},
        )
        .theta;
        let xxt = input_gram(p);
        let fast = project_mlp_onto_manifold(p, &xxt, &theta, 1e-9, 50).unwrap();
        let slow = project_onto_manifold(p, &theta, 1e-9, 50).unwrap();
        assert!(fast.converged && slow.converged, "{act}: {fast:?} {slow:?}");
        assert_eq!(fast.iterations, slow.iterations, "{act}");
        let diff = fast
            .theta
            .iter()
            .zip(&slow.theta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let scale = slow.theta.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(diff <= 1e-9 * scale, "{act}: max diff {diff:e}");
    }
}

#[test]
fn arms_equal_independent_step_decay_runs() {
    let cfg = digits_config();
    let exp = Experiment::new(cfg.clone()).unwrap();
    let prep = Prepared::<f64>::new(&exp, ()).unwrap();
    let AnyProblem::Mlp(p) = &prep.problem else {
        panic!("mlp")
    };
    let s = settings(300, 1_000, 200, vec![5], 4);
    let theta0 = prep.initial(&cfg.init, 5, ());
    let it = run_seed_iterates(p, &cfg.sgd, &s, theta0.clone(), 5);
    assert_eq!(
        it.phase.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        vec![250, 500, 750, 1000]
    );
    for (t, arm) in [(300, &it.early), (1_000, &it.late)] {
        let m = cfg.sgd.with_step_decay(0.05, 0.005, t);
        let mut st = SgdState::new(theta0.clone(), 5, p.n(), &m);
        let run = run_sgd(
            p,
            &m,
            &mut st,
            t + 200,
            RecordPlan::FinalOnly,
            &mut NullProbe,
            |_| {},
        );
        assert_eq!(arm.as_ref().unwrap(), &run.theta, "decay at {t}");
    }
    // The last phase point is the trunk at T_late: the late arm's start.
    let m = cfg.sgd.with_step_decay(0.05, 0.005, 1_000);
    let mut st = SgdState::new(theta0, 5, p.n(), &m);
    let run = run_sgd(
        p,
        &m,
        &mut st,
        1_000,
        RecordPlan::FinalOnly,
        &mut NullProbe,
        |_| {},
    );
    assert_eq!(it.phase.last().unwrap().1, run.theta);
}

/// Pre-registered control: with the same decay step in both arms the arms
/// are identical, so (a) cannot pass (no non-zero difference: p = 1).
#[test]
fn c13a_does_not_pass_with_equal_decay_steps() {
    let exp = Experiment::new(digits_config()).unwrap();
    let s = settings(2_000, 2_000, 500, (1..=8).collect(), 3);
    let study = run_landscape_study(&exp, &s).unwrap();
    let a = analyze_landscape(&study);
    assert_eq!(a.complete_seeds, 8);
    assert!(a.a_early.iter().zip(&a.a_late).all(|(e, l)| e == l));
    assert_eq!(a.a_test.p_value, 1.0, "{}", a.a_test.method);
    assert!(
        a.failures.iter().any(|f| f.starts_with("(a) median")),
        "{:?}",
        a.failures
    );
    let o = landscape_outcome(&study, None, "control");
    assert!(!o.criteria_met);
    assert_eq!(o.p_value, Some(1.0));
    assert!(o.evidence.contains("NOT MET"), "{}", o.evidence);
}

/// Pre-registered control: on the Linear model (n = 40 < d = 64 digits
/// pixels) proj_Γ θ_k = θ_∞ for every k, so R(proj θ_k) is constant and (b)
/// fails on its effect size.
#[test]
fn c13b_fails_on_the_linear_model() {
    let text = r#"
name = "linear digits control"
model = "linear"
[data]
source = "digits"
task = "even_odd"
n_train = 40
split_seed = 1
[init]
kind = "uniform"
scale = 0.1
[sgd]
batch_size = 1
label_noise_sigma = 0.5
schedule = { kind = "step_decay", lr = 0.02, lr_after = 0.002, decay_step = 20000 }
[run]
seeds = [1]
steps_after_decay = 2000
[sweep]
decay_steps = [1000, 20000]
steps_after_decay = 2000
"#;
    let cfg = ExperimentConfig::from_toml_str(text, "linear control").unwrap();
    let exp = Experiment::new(cfg.clone()).unwrap();
    let s = LandscapeSettings::from_config(&cfg, (1..=8).collect(), 5).unwrap();
    let study = run_landscape_study(&exp, &s).unwrap();
    let a = analyze_landscape(&study);
    assert_eq!(a.b_converged_fraction, 1.0);
    // The mechanism: every projection of a seed is the same point of Γ.
    for r in &study.seeds {
        let first = r.phase[0].projection.metrics.test_loss;
        for m in &r.phase {
            assert_close!(
                m.projection.metrics.test_loss,
                first,
                rel = 1e-9,
                "seed {}: {} vs {first}",
                r.seed,
                m.projection.metrics.test_loss
            );
        }
    }
    assert!(a.b_median_rel_decrease.abs() < 1e-6, "{a:?}");
    assert!(
        a.failures
            .iter()
            .any(|f| f.starts_with("(b) median relative decrease")),
        "{:?}",
        a.failures
    );
    assert!(!landscape_outcome(&study, None, "linear").criteria_met);
}

/// `verify --config`: N/A with the reason when the experiment has no
/// held-out set, or no `[sweep]` decay steps.
#[test]
fn verify_config_says_not_applicable_with_the_reason() {
    let run = |cfg: &ExperimentConfig| common::verify_quick(cfg, &["C13"]);
    // The built-in diagonal experiment with another seed count is a user
    // experiment: synthetic data, no held-out set.
    let mut diag = ExperimentConfig::default_late_decay();
    diag.name = "a user's diagonal experiment".into();
    let report = run(&diag);
    let row = report.row("C13").unwrap();
    assert_eq!(row.verdict, Verdict::NotApplicable, "{}", row.evidence);
    assert!(row.evidence.contains("held-out"), "{}", row.evidence);
    // The digits Mlp without [sweep]: no early/late pair.
    let mut cfg = digits_config();
    cfg.sweep = None;
    let report = run(&cfg);
    let row = report.row("C13").unwrap();
    assert_eq!(row.verdict, Verdict::NotApplicable, "{}", row.evidence);
    assert!(row.evidence.contains("decay_steps"), "{}", row.evidence);
    // Listed by every build, in order after C11.
    let ids: Vec<&str> = report.rows.iter().map(|r| r.id.as_str()).collect();
    let pos = |id: &str| ids.iter().position(|i| *i == id).unwrap();
    assert!(pos("C11") < pos("C13"));
}

/// `verify --config` on a user's Mlp experiment with a held-out set runs C13
/// on that experiment (a measured verdict, not N/A).
#[test]
fn verify_config_runs_c13_on_a_users_mlp_experiment() {
    let mut cfg = digits_config();
    cfg.name = "small digits Mlp".into();
    if let latedecay::data::DataConfig::Digits(d) = &mut cfg.data {
        d.n_train = 60;
    }
    cfg.mlp.as_mut().unwrap().width = 6;
    let sweep = cfg.sweep.as_mut().unwrap();
    sweep.decay_steps = vec![200, 2_000];
    sweep.steps_after_decay = 300;
    cfg.claims = Some(latedecay::experiment::config::ClaimsSection {
        seeds: Some(latedecay::experiment::Seeds::List((1..=6).collect())),
        ..Default::default()
    });
    let report = common::verify_quick(&cfg, &["C13"]);
    let row = common::measured_row(&report, "C13");
    assert!(row.evidence.contains("your experiment"), "{}", row.evidence);
    assert!(row.evidence.contains("n = 60"), "{}", row.evidence);
    assert_eq!(row.seeds, (1..=6).collect::<Vec<u64>>());
    assert!(row.p_value.is_some());
}
