//! C5–C7 rows of the claims table, with negative controls: the slow flow with
//! the wrong constant (½ instead of ¼) must fail C6.

use latedecay::claims::continuous::{c6_with, c7, C6_SLOPE_TOLERANCE};
use latedecay::claims::{default_registry, Mode, VerifyContext};

#[test]
fn c6_passes_with_the_quarter_and_rejects_the_half() {
    let right = c6_with(Mode::Quick, 0.25).unwrap();
    assert!(right.criteria_met, "{}", right.evidence);
    assert_close!(right.value, 1.0, abs = C6_SLOPE_TOLERANCE);
    assert!(right.p_value.unwrap() < 0.01);
    // Negative control: with ½ the projected SGD does not converge to this flow.
    let wrong = c6_with(Mode::Quick, 0.5).unwrap();
    assert!(
        !wrong.criteria_met,
        "½-constant flow passed: {}",
        wrong.evidence
    );
    assert!(wrong.value < 0.5, "slope {}", wrong.value);
}

#[test]
fn c7_holds_at_256_bits() {
    let ctx = VerifyContext::new(Mode::Quick);
    let outcome = c7(&ctx).unwrap();
    assert!(outcome.criteria_met, "{}", outcome.evidence);
    assert!(outcome.value <= 1e-20);
}

#[test]
fn every_claim_is_registered_and_c5_passes() {
    let mut registry = default_registry();
    let mut ids: Vec<&str> = registry.claims().iter().map(|c| c.id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["C1", "C10", "C11", "C12", "C13", "C14", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]
    );
    registry.retain_ids(&["C5"]);
    let report = registry.verify(Mode::Quick);
    let row = report.row("C5").unwrap();
    assert_eq!(format!("{:?}", row.verdict), "Pass", "{}", row.evidence);
}
