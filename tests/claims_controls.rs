//! Cheap checks of the claims machinery: the decay study is bit-identical to
//! independent runs and to itself under any thread count; negative controls
//! (σ = 0, equal decay steps, a too-short large-LR phase) are rejected; the C9
//! plateau criterion holds for σ = 0 and is rejected with label noise.

use latedecay::claims::analysis::{analyze_trend, LevelSpec, TrendSpec};
use latedecay::claims::registry::{plateau_failures, summarize_plateau, C2_REL_DIST_BOUND};
use latedecay::claims::study::{run_decay_study, run_plateau_study};
use latedecay::claims::*;
use latedecay::experiment::Experiment;
use latedecay::experiment::{run_experiment, ExperimentConfig, Seeds};
use latedecay::schedule::Schedule;

use crate::common;

fn c2_spec() -> TrendSpec {
    common::registered_trend(
        Metric::RelDistMinnorm,
        Some(LevelSpec {
            metric: Metric::RelDistMinnorm,
            bound: C2_REL_DIST_BOUND,
        }),
    )
}

/// The default problem with a short decay grid.
fn small_config(seeds: Vec<u64>, decay_steps: Vec<u64>, after: u64) -> ExperimentConfig {
    let mut cfg = ExperimentConfig::default_late_decay();
    cfg.run.seeds = Seeds::List(seeds);
    cfg.run.steps_after_decay = Some(after);
    if let Schedule::StepDecay { decay_step, .. } = &mut cfg.sgd.schedule {
        *decay_step = *decay_steps.last().unwrap();
    }
    let sw = cfg.sweep.as_mut().unwrap();
    sw.decay_steps = decay_steps;
    sw.steps_after_decay = after;
    cfg
}

#[test]
fn branches_equal_independent_runs_and_threads_do_not_matter() {
    let cfg = small_config(vec![1, 2, 3, 4], vec![0, 10_000, 20_000, 40_000], 5_000);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run_decay_study(&Experiment::new(cfg.clone()).unwrap()).unwrap());
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(|| run_decay_study(&Experiment::new(cfg.clone()).unwrap()).unwrap());
    assert_eq!(
        serde_json::to_string(&one.results).unwrap(),
        serde_json::to_string(&two.results).unwrap()
    );
    // Branch (decay step 20k, seed 3) equals an independent step-decay run.
    let mut single = cfg.clone();
    single.sweep = None;
    single.run.seeds = Seeds::List(vec![3]);
    if let Schedule::StepDecay { decay_step, .. } = &mut single.sgd.schedule {
        *decay_step = 20_000;
    }
    let report = run_experiment(&Experiment::new(single.clone()).unwrap()).unwrap();
    let s = &report.per_seed[0];
    let branch = &one.results[2][2];
    assert_eq!(s.steps, 25_000);
    assert_eq!(s.norm.to_bits(), branch.norm.to_bits());
    assert_eq!(s.test_loss.to_bits(), branch.test_loss.to_bits());
    assert_eq!(
        s.rel_dist_minnorm.to_bits(),
        branch.rel_dist_minnorm.to_bits()
    );
}

#[test]
fn sigma_zero_and_short_phase_are_rejected_label_noise_trend_is_detected() {
    let grid = vec![0, 25_000, 50_000, 100_000, 200_000, 400_000];
    let seeds: Vec<u64> = (1..=8).collect();
    // Label noise, T_max = 400k (half the flow prediction): the norm trend is
    // detected (C1 criteria and p), but C2's level (≤ 5%) is not reached.
    let cfg = small_config(seeds.clone(), grid.clone(), 40_000);
    let study = run_decay_study(&Experiment::new(cfg.clone()).unwrap()).unwrap();
    let c1 = analyze_trend(&study, &common::registered_trend(Metric::Norm, None));
    assert!(c1.criteria_met, "{c1:?}");
    assert!(c1.p_value < 0.01, "{}", c1.p_value);
    let c2_short = analyze_trend(&study, &c2_spec());
    assert!(!c2_short.criteria_met, "short phase must fail C2's level");
    assert!(c2_short.level_mean.unwrap() > C2_REL_DIST_BOUND);

    // σ = 0: no drift along Γ; C2 and C1 must not pass.
    let mut plain = cfg.clone();
    plain.sgd.label_noise_sigma = 0.0;
    let study0 = run_decay_study(&Experiment::new(plain.clone()).unwrap()).unwrap();
    let c2_zero = analyze_trend(&study0, &c2_spec());
    assert!(!c2_zero.criteria_met, "{c2_zero:?}");
    let c1_zero = analyze_trend(&study0, &common::registered_trend(Metric::Norm, None));
    assert!(!c1_zero.criteria_met, "{c1_zero:?}");

    // All decay steps equal: no trend can be shown, and such a grid is
    // refused before anything runs (a repeated decay step would be counted
    // twice).
    let equal = small_config(seeds, vec![100_000; 4], 20_000);
    let err = Experiment::new(equal).unwrap_err().to_string();
    assert!(
        err.contains("sweep.decay_steps") && err.contains("appears twice"),
        "{err}"
    );
}

#[test]
fn c9_plateau_without_label_noise_and_not_with_it() {
    let cfg = ExperimentConfig::default_late_decay();
    let seeds = [1, 2, 3];
    let steps = 300_000;
    let runs0 = run_plateau_study(
        &Experiment::new(cfg.clone()).unwrap(),
        0.0,
        &[0.002, 0.004],
        &seeds,
        steps,
    )
    .unwrap();
    let s0 = summarize_plateau(&runs0).unwrap();
    assert!(plateau_failures(&s0).is_empty(), "{s0:?}");
    // The plateau depends on η: the larger step ends at a smaller norm.
    assert!(s0[1].median_norm_end < s0[0].median_norm_end, "{s0:?}");
    let runs1 = run_plateau_study(
        &Experiment::new(cfg.clone()).unwrap(),
        1.0,
        &[0.004],
        &seeds,
        steps,
    )
    .unwrap();
    let s1 = summarize_plateau(&runs1).unwrap();
    assert!(!plateau_failures(&s1).is_empty(), "{s1:?}");
    assert!(s1[0].median_gap_closed > 0.1);
}
