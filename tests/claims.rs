//! The claims C1–C4 and C8 on the real quick protocol (16 fixed seeds, decay
//! grid from the slow-flow prediction), with negative controls that the same
//! checks must reject. Thresholds: `proofs/claims.md`, `proofs/statistics.md`.

use latedecay::claims::analysis::{analyze_equivalence, analyze_trend, LevelSpec};
use latedecay::claims::registry::{C2_REL_DIST_BOUND, C8_REL_DIST_MARGIN};
use latedecay::claims::*;

use crate::common;

/// Rows of a registry restricted to `ids`, run in `ctx`.
fn run_ids(ctx: &VerifyContext, ids: &[&str]) -> VerifyReport {
    let mut r = default_registry();
    r.retain_ids(ids);
    r.verify_with(ctx)
}

#[test]
fn quick_protocol_c1_to_c4_and_c8_pass_and_controls_fail() {
    let ctx = VerifyContext::new(Mode::Quick);
    let flow = ctx.flow_prediction().expect("flow").clone();
    // The slow flow reaches 2.5% at τ ≈ 12.4 (775k steps at η₁ = 0.004);
    // T_max = 2 × that, rounded up to 100k.
    assert!(flow.tau_needed > 5.0 && flow.tau_needed < 50.0, "{flow:?}");
    let t_max = ctx.protocol.longest_decay_step(&flow);
    assert_eq!(t_max % 100_000, 0);
    assert!(t_max as f64 >= 2.0 * flow.steps_needed as f64);

    let report = run_ids(&ctx, &["C1", "C2", "C3", "C4", "C8"]);
    for id in ["C1", "C2", "C3", "C4", "C8"] {
        let row = report.row(id).unwrap();
        assert_eq!(row.verdict, Verdict::Pass, "{id}: {}", row.evidence);
        assert_eq!(row.seeds.len(), 16);
        assert!(row.p_holm.unwrap() <= FAMILY_ALPHA);
    }
    // Measured levels at T_max (pre-registered bounds: 5% and 1% of R(0)).
    let study = ctx.label_noise_study().unwrap();
    let last = study.results.last().unwrap();
    let mean_rel = last.iter().map(|m| m.rel_dist_minnorm).sum::<f64>() / last.len() as f64;
    assert!(mean_rel < C2_REL_DIST_BOUND, "mean rel. dist {mean_rel}");
    let mean_excess = last.iter().map(|m| m.excess_test_loss).sum::<f64>() / last.len() as f64;
    assert!(mean_excess < 0.01 * study.reference.null_risk);

    // Negative control: the C2 check on the Linear model must not pass (its
    // distance to θ_mn = X⁺y does not shrink: the null-space part is frozen).
    let linear = ctx.linear_study().unwrap();
    let c2_linear = analyze_trend(
        linear,
        &common::registered_trend(
            Metric::RelDistMinnorm,
            Some(LevelSpec {
                metric: Metric::RelDistMinnorm,
                bound: C2_REL_DIST_BOUND,
            }),
        ),
    );
    assert!(!c2_linear.criteria_met, "{c2_linear:?}");
    // … nor the C1 and C3 checks.
    assert!(!analyze_trend(linear, &common::registered_trend(Metric::Norm, None)).criteria_met);
    assert!(!analyze_trend(linear, &common::registered_trend(Metric::TestLoss, None)).criteria_met);

    // Negative control for C8: on the Diagonal model the decay step *does*
    // change the interpolant, so the equivalence check must not pass.
    let eq = analyze_equivalence(study, Metric::RelDistMinnorm, C8_REL_DIST_MARGIN);
    assert!(eq.test.p_value > 0.5, "{eq:?}");
    assert!(eq.mean_difference.abs() > C8_REL_DIST_MARGIN);
}

#[test]
fn holm_decision_has_no_one_ulp_edge_at_alpha_over_m() {
    // 11 statistical rows, one with p = fl(0.05/11): 11·p rounds to
    // 0.05000000000000001 > α, so comparing the adjusted p with α failed the
    // row; the step-down comparison p ≤ α/11 (statsmodels) passes it.
    let row = |id: usize, p: f64| ClaimRow {
        id: format!("T{id}"),
        statement: String::new(),
        kind: Some(ClaimKind::Statistical),
        statistic: String::new(),
        value: None,
        threshold: String::new(),
        alpha: Some(FAMILY_ALPHA),
        p_value: Some(p),
        p_holm: None,
        criteria_met: Some(true),
        verdict: Verdict::Fail,
        evidence: String::new(),
        tests: Vec::new(),
        config: None,
        seeds: Vec::new(),
        details: serde_json::Value::Null,
        seconds: 0.0,
    };
    let mut rows: Vec<ClaimRow> = (0..11).map(|i| row(i, 0.9)).collect();
    rows[4] = row(4, FAMILY_ALPHA / 11.0);
    apply_holm_and_decide(&mut rows);
    assert_eq!(
        rows[4].verdict,
        Verdict::Pass,
        "p_holm = {:?}",
        rows[4].p_holm
    );
    assert!(rows
        .iter()
        .enumerate()
        .all(|(i, r)| i == 4 || r.verdict == Verdict::Fail));
}
