//! `verify --config`: the claims on experiments other than the built-in one
//! (other data seed; other n, d and sparsity; σ ≠ 1), the Linear negative
//! control through the same interface, and the N/A path (data without β*).
//! C5–C7 run on their own fixed instances whatever the config, so these
//! tests keep the rows that depend on the experiment.

use latedecay::claims::{Mode, Protocol, Verdict, VerifyReport};
use latedecay::experiment::ExperimentConfig;
use latedecay::io::write_matrix;

use crate::common;

fn config(data: &str, model: &str, sigma: f64) -> ExperimentConfig {
    let text = format!(
        r#"
name = "verify --config test"
model = "{model}"
[data]
{data}
[sgd]
batch_size = 1
label_noise_sigma = {sigma}
schedule = {{ kind = "step_decay", lr = 0.004, lr_after = 0.0004, decay_step = 800000 }}
[run]
seeds = {{ first = 1, count = 16 }}
steps_after_decay = 40000
"#
    );
    ExperimentConfig::from_toml_str(&text, "test").unwrap()
}

fn verdict(r: &VerifyReport, id: &str) -> Verdict {
    r.row(id).unwrap().verdict
}

const SYNTHETIC: &str = "source = \"synthetic\"\nnormalize_columns = true";

#[test]
fn t_max_scales_with_sigma_squared_and_claims_pass_at_sigma_0_7() {
    let data = format!("{SYNTHETIC}\nn = 40\nd = 100");
    let cfg1 = config(&data, "diagonal", 1.0);
    let cfg07 = config(&data, "diagonal", 0.7);
    let tau = |cfg: &ExperimentConfig| {
        let p = Protocol::from_config(cfg, Mode::Quick).unwrap();
        latedecay::claims::registry::predict_longest_phase(&p)
            .unwrap()
            .tau_needed
    };
    // The slow flow runs at speed σ²/(4B): τ needed ∝ 1/σ² (0.49⁻¹ = 2.04).
    let ratio = tau(&cfg07) / tau(&cfg1);
    assert_close!(ratio, 1.0 / 0.49, abs = 0.05, "τ ratio {ratio}");
    let r = common::verify_quick(&cfg07, &["C1", "C2", "C3"]);
    for id in ["C1", "C2", "C3"] {
        assert_eq!(verdict(&r, id), Verdict::Pass, "{}", r.to_table());
    }
}

#[test]
fn linear_config_fails_c1_to_c3_through_the_same_interface() {
    let cfg = config(&format!("{SYNTHETIC}\nn = 40\nd = 100"), "linear", 1.0);
    let r = common::verify_quick(&cfg, &["C1", "C2", "C3", "C8"]);
    for id in ["C1", "C2", "C3"] {
        assert_eq!(verdict(&r, id), Verdict::Fail, "{}", r.to_table());
    }
    // The Linear control on its own data passes.
    assert_eq!(verdict(&r, "C8"), Verdict::Pass, "{}", r.to_table());
    assert!(!r.all_passed());
}

#[test]
fn claims_without_ground_truth_are_not_applicable_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::seeded_design(30, 80, 4, false);
    let (x, y) = (dir.path().join("X.csv"), dir.path().join("y.csv"));
    write_matrix(&x, 80, data.x.as_slice()).unwrap();
    write_matrix(&y, 1, &data.y).unwrap();
    let csv = format!(
        "source = \"csv\"\nx = {:?}\ny = {:?}\nnormalize_columns = true",
        x.display().to_string(),
        y.display().to_string()
    );
    let cfg = config(&csv, "diagonal", 1.0);
    let r = common::verify_quick(&cfg, &["C1", "C2", "C3", "C4", "C8"]);
    for id in ["C3", "C4", "C8"] {
        let row = r.row(id).unwrap();
        assert_eq!(row.verdict, Verdict::NotApplicable, "{}", r.to_table());
        assert!(row.evidence.contains("no β*"), "{}", row.evidence);
        assert!(row.p_holm.is_none());
    }
    for id in ["C1", "C2"] {
        assert_eq!(verdict(&r, id), Verdict::Pass, "{}", r.to_table());
    }
    // N/A is not a failure, and never PASS.
    assert!(r.all_passed());
    assert!(r.to_table().contains("N/A"));
}

#[test]
fn sigma_zero_without_a_given_grid_is_not_applicable_and_a_given_grid_runs() {
    let data = format!("{SYNTHETIC}\nn = 8\nd = 20");
    let mut cfg = config(&data, "diagonal", 0.0);
    let r = common::verify_quick(&cfg, &["C1"]);
    let row = r.row("C1").unwrap();
    assert_eq!(row.verdict, Verdict::NotApplicable, "{}", r.to_table());
    assert!(row.evidence.contains("t_max"), "{}", row.evidence);
    // With [claims] t_max the σ = 0 negative control runs and fails C2.
    cfg.claims = Some(latedecay::experiment::config::ClaimsSection {
        t_max: Some(64_000),
        seeds: Some(latedecay::experiment::Seeds::Range { first: 1, count: 8 }),
        steps_after_decay: Some(2000),
        ..Default::default()
    });
    let r = common::verify_quick(&cfg, &["C2"]);
    assert_eq!(verdict(&r, "C2"), Verdict::Fail, "{}", r.to_table());
}

#[test]
fn claims_section_echo_leaves_out_unset_fields() {
    let section = latedecay::experiment::config::ClaimsSection {
        t_max: Some(64_000),
        halvings: Some(3),
        ..Default::default()
    };
    let json = serde_json::to_string(&section).unwrap();
    assert_eq!(json, r#"{"t_max":64000,"halvings":3}"#);
    let back: latedecay::experiment::config::ClaimsSection = serde_json::from_str("{}").unwrap();
    assert_eq!(back, Default::default());
    assert!(toml::from_str::<latedecay::experiment::config::ClaimsSection>("t_maxx = 1").is_err());
}

#[test]
fn claims_section_is_checked() {
    let base = config(&format!("{SYNTHETIC}\nn = 8\nd = 20"), "diagonal", 1.0);
    let bad = [
        ("seeds = [1, 1]", "claims.seeds"),
        ("decay_steps = [0, 10, 10]", "claims.decay_steps"),
        ("decay_steps = [0, 10]", "at least 3"),
        ("halvings = 0", "claims.halvings"),
        ("plateau_lrs = [-1.0]", "claims.plateau_lrs"),
        ("identity_bits = 3", "claims.identity_bits"),
        (
            "thresholds = { trend_max_rho = 0.5 }",
            "claims.thresholds.trend_max_rho",
        ),
        (
            "thresholds = { c2_rel_dist_bound = -1.0 }",
            "claims.thresholds.c2_rel_dist_bound",
        ),
    ];
    let text = toml::to_string(&base).unwrap();
    for (line, expected) in bad {
        let cfg =
            ExperimentConfig::from_toml_str(&format!("{text}\n[claims]\n{line}\n"), "t").unwrap();
        let err = Protocol::from_config(&cfg, Mode::Quick)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{line}: {err}");
    }
    let err = ExperimentConfig::from_toml_str(&format!("{text}\n[claims]\ntypo = 1\n"), "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("typo"), "{err}");
    // The built-in protocol is the built-in experiment through from_config.
    assert_eq!(
        Protocol::for_mode(Mode::Quick),
        Protocol::from_config(&ExperimentConfig::default_late_decay(), Mode::Quick).unwrap()
    );
    assert_eq!(
        Protocol::for_mode(Mode::Quick).plateau_lrs,
        vec![0.001, 0.002, 0.004]
    );
}

/// The slow group (each test ≳ 20 s): `cargo test --release -- --skip slow::`
/// runs everything else, `cargo test --release slow::` only these.
mod slow {
    use super::*;

    #[test]
    fn claims_pass_on_other_instances() {
        let instances = [
            // another data seed
            format!("{SYNTHETIC}\nn = 40\nd = 100\nseed = 7"),
            // other n, d and sparsity
            format!(
                "{SYNTHETIC}\nn = 30\nd = 80\nseed = 11\nground_truth = {{ kind = \"sparse\", nonzeros = 2, value = 1.0 }}"
            ),
        ];
        for data in &instances {
            let r = common::verify_quick(
                &config(data, "diagonal", 1.0),
                &["C1", "C2", "C3", "C4", "C8"],
            );
            for id in ["C1", "C2", "C3", "C4", "C8"] {
                assert_eq!(verdict(&r, id), Verdict::Pass, "{data}\n{}", r.to_table());
            }
        }
    }
}
