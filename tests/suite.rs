//! The integration tests in one binary: each `tests/*.rs` file is a module
//! here, its path unchanged (so `file!()`, and with it proptest's
//! `tests/NAME.proptest-regressions`, stays what it was). One binary links once instead of thirty-odd
//! times, and libtest runs the long end-to-end tests (the `slow` modules)
//! alongside the short ones on every core, where cargo would run the files'
//! binaries one after the other. The files whose one test sets the
//! process-wide SIMD dispatch level (`sgd_fast.rs`, `sgd_lockstep.rs`,
//! `simd.rs`) stay binaries of their own, as does `plot.rs`; Cargo.toml
//! sets `autotests = false`, and [`every_test_file_is_built`] fails if a file
//! is in no test target. Filters name the module: `cargo test --release
//! --test suite sgd::` runs `tests/sgd.rs`.

// The fixtures, once for every module (their macros textually before them).
#[macro_use]
#[path = "common/mod.rs"]
mod common;

#[path = "basis_pursuit.rs"]
mod basis_pursuit;
#[path = "claims.rs"]
mod claims;
#[path = "claims_cli.rs"]
mod claims_cli;
#[path = "claims_continuous.rs"]
mod claims_continuous;
#[path = "claims_controls.rs"]
mod claims_controls;
#[path = "claims_exact.rs"]
mod claims_exact;
#[path = "claims_landscape.rs"]
mod claims_landscape;
#[path = "claims_noise_shape.rs"]
mod claims_noise_shape;
#[path = "claims_power.rs"]
mod claims_power;
#[path = "claims_regime.rs"]
mod claims_regime;
#[path = "cli.rs"]
mod cli;
#[path = "data.rs"]
mod data;
#[path = "decay_study.rs"]
mod decay_study;
#[path = "faults.rs"]
mod faults;
#[path = "figures.rs"]
mod figures;
#[path = "flow.rs"]
mod flow;
#[path = "heldout.rs"]
mod heldout;
#[path = "identities.rs"]
mod identities;
#[path = "manifold.rs"]
mod manifold;
#[path = "minnorm_data.rs"]
mod minnorm_data;
#[path = "mlp.rs"]
mod mlp;
#[path = "models.rs"]
mod models;
#[path = "moments.rs"]
mod moments;
#[path = "noise_models.rs"]
mod noise_models;
#[path = "parse_props.rs"]
mod parse_props;
#[path = "precision.rs"]
mod precision;
#[path = "run_reference.rs"]
mod run_reference;
#[path = "sde.rs"]
mod sde;
#[path = "sgd.rs"]
mod sgd;
#[path = "stability.rs"]
mod stability;
#[path = "stats.rs"]
mod stats;
#[path = "verify_config.rs"]
mod verify_config;

/// Every `tests/*.rs` file is a module of this binary or a `[[test]]` of its
/// own in Cargo.toml (with `autotests = false` a new file would not run).
#[test]
fn every_test_file_is_built() {
    let manifest = std::fs::read_to_string("Cargo.toml").unwrap();
    let suite = include_str!("suite.rs");
    let mut files = 0;
    for entry in std::fs::read_dir("tests").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let module = format!("#[path = \"{name}\"]");
            let target = format!("path = \"tests/{name}\"");
            assert!(
                suite.contains(&module) || manifest.contains(&target),
                "tests/{name} is in no test target: add it to tests/suite.rs"
            );
            files += 1;
        }
    }
    assert!(files > 30, "read only {files} test files");
}
