//! C11 (plain large-LR SGD, σ = 0): the registered quick protocol on the
//! default instance, and the Linear negative control (the interpolant SGD
//! reaches does not depend on η, so the plateau-norm trend (a) must fail).

use latedecay::claims::{default_registry, Mode, Protocol, Verdict, VerifyContext};
use latedecay::experiment::ExperimentConfig;
use latedecay::model::ModelKind;

#[test]
fn c11_fails_on_the_linear_model() {
    let mut cfg = ExperimentConfig::default_late_decay();
    cfg.model = ModelKind::Linear;
    cfg.claims = Some(toml::from_str("regime_seeds = [1, 2, 3]\nregime_steps = 20000").unwrap());
    let protocol = Protocol::from_config(&cfg, Mode::Quick).unwrap();
    let mut registry = default_registry();
    registry.retain_ids(&["C11"]);
    let report = registry.verify_with(&VerifyContext::with_protocol(Mode::Quick, protocol));
    let row = report.row("C11").unwrap();
    assert_eq!(row.verdict, Verdict::Fail, "{}", row.evidence);
    assert!(row.evidence.contains("(a)"), "{}", row.evidence);
}

/// The slow group (each test ≳ 20 s): `cargo test --release -- --skip slow::`
/// runs everything else, `cargo test --release slow::` only these.
mod slow {
    use super::*;

    #[test]
    fn c11_quick_protocol_on_the_default_instance() {
        let mut registry = default_registry();
        registry.retain_ids(&["C11"]);
        let report = registry.verify(Mode::Quick);
        let row = report.row("C11").unwrap();
        assert_eq!(row.verdict, Verdict::Pass, "{}", row.evidence);
        let study = &row.details["study"];
        let eta0 = study["critical_lr_theta0"].as_f64().unwrap();
        assert_close!(eta0, 0.00831, abs = 1e-5, "η*(θ₀) = {eta0}");
        let levels = study["levels"].as_array().unwrap();
        assert_eq!(levels.len(), 9);
        // measured (proofs/claims.md): 2η* converges for all seeds, 2.5η* diverges for all
        assert_eq!(
            row.details["edge_ratio_to_critical_lr_theta0"].as_f64(),
            Some(2.5)
        );
        let norms: Vec<f64> = levels
            .iter()
            .filter_map(|l| l["median_norm"].as_f64())
            .filter(|x| x.is_finite())
            .collect();
        assert_eq!(norms.len(), 7);
        assert!(norms.windows(2).all(|w| w[1] < w[0]), "{norms:?}");
    }
}
