//! The integration tests in one binary: each `tests/*.rs` file is a module
//! here, its path unchanged (so `file!()`, and with it proptest's
//! `tests/NAME.proptest-regressions`, stays what it was: `mod NAME;` of this
//! root finds `tests/NAME.rs`). One binary links once instead of thirty-odd
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
mod common;

mod basis_pursuit;
mod claims;
mod claims_cli;
mod claims_continuous;
mod claims_controls;
mod claims_exact;
mod claims_landscape;
mod claims_noise_shape;
mod claims_power;
mod claims_regime;
mod cli;
mod data;
mod decay_study;
mod faults;
mod figures;
mod flow;
mod heldout;
mod identities;
mod manifold;
mod minnorm_data;
mod mlp;
mod models;
mod moments;
mod noise_models;
mod parse_props;
mod precision;
mod run_reference;
mod sde;
mod sgd;
mod stability;
mod stats;
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
            let module = format!("\nmod {};", name.trim_end_matches(".rs"));
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
