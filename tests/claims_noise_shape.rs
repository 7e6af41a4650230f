//! C12 (pre-registered in proofs/claims.md before it was run): on the default
//! instance, isotropic parameter noise of matched strength does not carry the
//! iterate to θ_mn while label noise does, paired over seeds 1–8.

use latedecay::claims::noise_shape::{run_noise_shape_study, C12_ISOTROPIC_MIN, C12_LABEL_BOUND};
use latedecay::experiment::{Experiment, ExperimentConfig};

#[test]
fn c12_isotropic_noise_of_matched_strength_does_not_reach_theta_mn() {
    let mut cfg = ExperimentConfig::default_late_decay();
    cfg.sweep = None;
    let exp = Experiment::new(cfg).unwrap();
    let seeds: Vec<u64> = (1..=8).collect();
    let s = run_noise_shape_study(&exp, 0.004, 1.0, &seeds, 1_600_000).unwrap();
    println!("{}", serde_json::to_string_pretty(&s).unwrap());
    assert!(s.pass, "C12 FAIL: label mean {} (< {C12_LABEL_BOUND}), isotropic median {} (≥ {C12_ISOTROPIC_MIN}), Wilcoxon p {}", s.label_mean_rel_dist, s.isotropic_median_rel_dist, s.wilcoxon_p);
}
