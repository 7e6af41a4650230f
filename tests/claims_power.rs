//! Replication of the quick protocol on 40 disjoint, never-used 16-seed blocks: the
//! empirical false-failure rate quoted in `proofs/statistics.md`. Heavy
//! (~8 s per block, ~5 min), so ignored by default:
//! `cargo test --release --test claims_power -- --ignored --nocapture`.

use latedecay::claims::*;

/// The slow group (each test ≳ 20 s): `cargo test --release -- --skip slow::`
/// runs everything else, `cargo test --release slow::` only these.
mod slow {
    use super::*;

    #[test]
    #[ignore]
    fn replication_on_fresh_seed_blocks() {
        let blocks = 40u64;
        let mut failures = 0;
        for b in 0..blocks {
            let mut protocol = Protocol::for_mode(Mode::Quick);
            let first = 2001 + 16 * b;
            protocol.seeds = (first..first + 16).collect();
            let ctx = VerifyContext::with_protocol(Mode::Quick, protocol);
            let mut registry = default_registry();
            registry.retain_ids(&["C1", "C2", "C3", "C4", "C8"]);
            let report = registry.verify_with(&ctx);
            let line: Vec<String> = report
                .rows
                .iter()
                .filter(|r| r.kind.is_some())
                .map(|r| {
                    format!(
                        "{} {} p_Holm={:.2e} value={:.4}",
                        r.id,
                        r.verdict.label(),
                        r.p_holm.unwrap_or(f64::NAN),
                        r.value.unwrap_or(f64::NAN)
                    )
                })
                .collect();
            println!("seeds {first}..{}: {}", first + 15, line.join(" | "));
            if let Some(d) = report
                .row("C2")
                .and_then(|r| r.details.get("level_mean").cloned())
            {
                println!("   C2 mean rel. dist at T_max: {d}");
            }
            if !report.all_passed() {
                failures += 1;
            }
        }
        println!("blocks failing: {failures} of {blocks}");
        assert_eq!(failures, 0);
    }
}
