//! `[run] reference = false` skips θ_mn and θ_R: the iterates and losses are
//! those of a run with the references, `run` says that θ_mn was not computed
//! (no NaN columns), and sweeps refuse the setting, naming the field.

use latedecay::experiment::{run_experiment, Experiment, ExperimentConfig};

use crate::common;

/// θ₀ is left to the default (u = v = 1).
const CONFIG: &str = r#"
name = "reference switch"
model = "diagonal"
precision_bits = 53

[data]
source = "synthetic"
n = 20
d = 60
normalize_columns = true
target_noise_sigma = 0.0
seed = 3
spectrum = { kind = "identity" }
ground_truth = { kind = "sparse", nonzeros = 3, value = 1.0 }

[sgd]
batch_size = 1
label_noise_sigma = 1.0
schedule = { kind = "constant", lr = 0.004 }

[run]
seeds = [1, 2]
steps = 3000
record = { kind = "final_only" }
"#;

fn with_reference(on: bool) -> String {
    CONFIG.replace(
        "record = { kind = \"final_only\" }",
        &format!("record = {{ kind = \"final_only\" }}\nreference = {on}"),
    )
}

fn experiment(text: &str) -> Result<Experiment, String> {
    let cfg = ExperimentConfig::from_toml_str(text, "test").map_err(|e| e.to_string())?;
    Experiment::new(cfg).map_err(|e| e.to_string())
}

#[test]
fn runs_without_reference_match_runs_with_it() {
    let with = run_experiment(&experiment(&with_reference(true)).unwrap()).unwrap();
    let without = run_experiment(&experiment(&with_reference(false)).unwrap()).unwrap();
    assert!(with.reference_computed && !without.reference_computed);
    assert!(with.reference.minnorm_norm.is_finite());
    assert!(without.reference.minnorm_norm.is_nan());
    assert_eq!(with.per_seed.len(), 2);
    for (a, b) in with.per_seed.iter().zip(&without.per_seed) {
        assert_eq!(a.norm.to_bits(), b.norm.to_bits());
        assert_eq!(a.train_loss.to_bits(), b.train_loss.to_bits());
        assert_eq!(a.test_loss.to_bits(), b.test_loss.to_bits());
        assert!(a.dist_minnorm.is_finite() && b.dist_minnorm.is_nan());
    }
}

#[test]
fn sweeps_refuse_a_run_without_reference() {
    let sweep = |on: bool| {
        with_reference(on).replace(
            "{ kind = \"constant\", lr = 0.004 }",
            "{ kind = \"step_decay\", lr = 0.004, lr_after = 0.0004, decay_step = 1000 }",
        ) + "\n[sweep]\ndecay_steps = [0, 1000]\nsteps_after_decay = 500\n"
    };
    let text = sweep(false);
    let err = experiment(&text).unwrap_err();
    assert!(err.contains("run.reference"), "{err}");
    let text = sweep(true);
    if let Err(e) = experiment(&text) {
        panic!("{e}");
    }
}

#[test]
fn run_says_the_reference_was_not_computed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noref.toml");
    std::fs::write(&path, with_reference(false)).unwrap();
    let text = common::run_ok(
        common::bin()
            .args(["--threads", "1", "run", "--config"])
            .arg(&path),
    );
    assert!(text.contains("θ_mn not computed"), "{text}");
    assert!(
        !text.contains("NaN") && !text.contains("‖θ−θ_mn‖"),
        "{text}"
    );
}
