//! End-to-end tests of the `latedecay` binary: JSON schemas, errors naming the
//! field and value, resumable sweeps and thread-count independence.

use std::path::Path;
use std::process::Command;

use latedecay::io::write_matrix;

use crate::common;

use crate::common::{bin, run_ok};

fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("binary runs");
    assert!(!out.status.success(), "command unexpectedly succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn write_data(dir: &Path, n: usize, d: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = common::normalized_design(n, d);
    let x = dir.join("X.csv");
    let y = dir.join("y.csv");
    write_matrix(&x, d, data.x.as_slice()).unwrap();
    write_matrix(&y, 1, &data.y).unwrap();
    (x, y)
}

const SMALL_CONFIG: &str = concat!(
    "name = \"cli test\"\n",
    small_diagonal_toml!(),
    r#"[run]
seeds = { first = 1, count = 6 }
steps_after_decay = 1000
record = { kind = "every", every = 500 }
[sweep]
decay_steps = [0, 2000, 8000]
lrs = [0.01, 0.02]
steps_after_decay = 1000
"#
);

#[test]
fn minnorm_json_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = write_data(dir.path(), 10, 30);
    let out = run_ok(
        bin()
            .args([
                "minnorm",
                "--model",
                "diagonal",
                "--json",
                "--precision",
                "256",
            ])
            .arg("--x")
            .arg(&x)
            .arg("--y")
            .arg(&y),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "theta",
        "beta",
        "norm",
        "residual",
        "certificate_ok",
        "support",
        "dual",
        "norm_digits",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {out}");
    }
    assert_eq!(v["certificate_ok"], true);
    assert_eq!(v["theta"].as_array().unwrap().len(), 60);
    assert!(v["residual"].as_f64().unwrap() < 1e-60);
    // ‖θ_mn‖ printed to ~77 digits.
    assert!(v["norm_digits"].as_str().unwrap().len() > 70);
    let linear = run_ok(
        bin()
            .args([
                "minnorm",
                "--model",
                "linear",
                "--json",
                "--precision",
                "53",
            ])
            .arg("--x")
            .arg(&x)
            .arg("--y")
            .arg(&y),
    );
    let v: serde_json::Value = serde_json::from_str(&linear).unwrap();
    assert_eq!(v["certificate_ok"], true);
    assert_eq!(v["theta"].as_array().unwrap().len(), 30);
}

#[test]
fn minnorm_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = write_data(dir.path(), 4, 6);
    let bad_y = dir.path().join("bad_y.csv");
    std::fs::write(&bad_y, "1\n2\nthree\n4\n").unwrap();
    let minnorm_err = |flags: &[&str]| {
        run_err(
            bin()
                .arg("minnorm")
                .args(flags)
                .arg("--x")
                .arg(&x)
                .arg("--y")
                .arg(&bad_y),
        )
    };
    let err = minnorm_err(&["--model", "diagonal"]);
    assert!(
        err.contains("bad_y.csv") && err.contains("line 3") && err.contains("three"),
        "{err}"
    );
    let err = minnorm_err(&["--model", "diagonal", "--precision", "20"]);
    assert!(err.contains("precision") && err.contains("20"), "{err}");
    let err = minnorm_err(&["--model", "quadratic"]);
    assert!(err.contains("quadratic"), "{err}");
}

#[test]
fn run_json_reports_per_seed_and_mean() {
    let (dir, cfg) = common::config_file(SMALL_CONFIG);
    let out = run_ok(
        bin()
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .arg("--json")
            .arg("--out")
            .arg(dir.path().join("traj")),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let per_seed = v["per_seed"].as_array().unwrap();
    assert_eq!(per_seed.len(), 6);
    for key in [
        "norm",
        "test_loss",
        "train_loss",
        "dist_minnorm",
        "rel_dist_minnorm",
    ] {
        assert!(per_seed[0][key].as_f64().unwrap().is_finite(), "{key}");
        assert!(v["mean"][key].as_f64().unwrap().is_finite(), "mean {key}");
    }
    assert!(dir.path().join("traj/trajectory_seed3.csv").exists());
    let csv = std::fs::read_to_string(dir.path().join("traj/trajectory_seed3.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 7); // header + steps 0, 500, ..., 3000
}

#[test]
fn config_errors_name_the_field_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            SMALL_CONFIG.replace("batch_size = 1", "batch_size = 0"),
            "batch_size = 0",
        ),
        (
            SMALL_CONFIG.replace("lr_after = 0.002", "lr_after = -0.002"),
            "lr_after = -0.002",
        ),
        (
            SMALL_CONFIG.replace("model = \"diagonal\"", "model = \"cubic\""),
            "cubic",
        ),
        (SMALL_CONFIG.replace("n = 8", "n = 8\nbogus = 3"), "bogus"),
        (SMALL_CONFIG.replace("n = 8", "n = 30"), "n = 30"),
        (
            SMALL_CONFIG.replace(
                "name = \"cli test\"",
                "name = \"cli test\"\nprecision_bits = 12",
            ),
            "precision_bits = 12",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let cfg = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let err = run_err(bin().arg("run").arg("--config").arg(&cfg));
        assert!(
            err.contains(expected),
            "case {i}: expected {expected:?} in {err}"
        );
    }
}

#[test]
fn divergent_config_stops_with_step_lr_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("div.toml");
    std::fs::write(&cfg, SMALL_CONFIG.replace("lr = 0.02,", "lr = 3.0,")).unwrap();
    let err = run_err(bin().arg("run").arg("--config").arg(&cfg));
    assert!(
        err.contains("diverged at step") && err.contains("learning rate 3") && err.contains("Hint"),
        "{err}"
    );
}

#[test]
fn sweep_resumes_and_is_independent_of_thread_count() {
    let (dir, cfg) = common::config_file(SMALL_CONFIG);
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    run_ok(common::sweep_cmd(&cfg, &one).args(["--threads", "1"]));
    run_ok(common::sweep_cmd(&cfg, &two).args(["--threads", "2"]));
    for f in ["results.csv", "summary.csv"] {
        let a = std::fs::read(one.join(f)).unwrap();
        let b = std::fs::read(two.join(f)).unwrap();
        assert_eq!(a, b, "{f} depends on the thread count");
    }
    let rows = std::fs::read_to_string(one.join("results.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 2 * 3 * 6);

    // One line per unit (η₁, seed): 2 × 6 units of 3 decay steps each.
    // Interrupt: keep 4 finished units, then resume computes only the other
    // 8 units (24 jobs).
    let log = std::fs::read_to_string(one.join("results.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2 * 6);
    let kept: Vec<&str> = log.lines().take(4).collect();
    std::fs::write(
        one.join("results.jsonl"),
        kept.join("\n") + "\n{\"lr\": 0.02, \"seed\"",
    )
    .unwrap();
    let err = run_err(&mut common::sweep_cmd(&cfg, &one));
    assert!(err.contains("--resume"), "{err}");
    let out = run_ok(common::sweep_cmd(&cfg, &one).args(["--json", "--resume"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["computed"], 24);
    assert_eq!(
        std::fs::read(one.join("results.csv")).unwrap(),
        std::fs::read(two.join("results.csv")).unwrap()
    );
    let again = run_ok(common::sweep_cmd(&cfg, &one).args(["--json", "--resume"]));
    let v: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(v["computed"], 0);

    // A changed config is refused in the same directory.
    std::fs::write(&cfg, SMALL_CONFIG.replace("count = 6", "count = 7")).unwrap();
    let err = run_err(common::sweep_cmd(&cfg, &one).args(["--resume"]));
    assert!(err.contains("different configuration"), "{err}");
}

#[test]
fn help_lists_the_subcommands() {
    let out = run_ok(bin().arg("--help"));
    for sub in ["reproduce", "run", "sweep", "minnorm"] {
        assert!(out.contains(sub), "{out}");
    }
}

#[test]
fn shards_merge_and_figures_config_through_the_binary() {
    let (dir, cfg) = common::config_file(SMALL_CONFIG);
    let whole = dir.path().join("whole");
    run_ok(&mut common::sweep_cmd(&cfg, &whole));
    let shards: Vec<_> = (1..=3).map(|i| dir.path().join(format!("s{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        run_ok(
            bin()
                .args(["sweep", "--config"])
                .arg(&cfg)
                .arg("--shard")
                .arg(format!("{}/3", i + 1))
                .arg("--out")
                .arg(s),
        );
    }
    let merged = dir.path().join("merged");
    run_ok(bin().arg("merge").arg("--out").arg(&merged).args(&shards));
    for f in ["results.csv", "summary.csv"] {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
            "{f}"
        );
    }
    let err = run_err(
        bin()
            .arg("merge")
            .arg("--out")
            .arg(dir.path().join("m"))
            .args(&shards[..2]),
    );
    assert!(err.contains("in no shard directory"), "{err}");
    let err = run_err(
        bin()
            .args(["sweep", "--shard", "4/3", "--config"])
            .arg(&cfg),
    );
    assert!(err.contains("--shard"), "{err}");

    // F3/F4 for this experiment, on its [sweep] grid.
    let figs = dir.path().join("figs");
    let figures = |only: &str| {
        let quick = ["figures", "--quick", "--only", only, "--config"];
        run_ok(bin().args(quick).arg(&cfg).arg("--out").arg(&figs))
    };
    let out = figures("F3,F4");
    assert!(out.contains("T =      8k"), "{out}");
    let csv = std::fs::read_to_string(figs.join("F4_test_loss_vs_decay.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    // A Linear experiment: F2 and F5 say N/A, they do not fail.
    std::fs::write(
        &cfg,
        SMALL_CONFIG.replace("model = \"diagonal\"", "model = \"linear\""),
    )
    .unwrap();
    let out = figures("F2,F5");
    assert!(
        out.contains("N/A: F2 needs the diagonal network") && out.contains("N/A: F5"),
        "{out}"
    );
}

/// `figures --only F1 --f1-filter-normalized SEED` draws F1 on filter-
/// normalized random directions (Li et al. 2018) at the late-decay end; the
/// default plane passes through θ₀ (the origin of the plane).
#[test]
fn figures_f1_on_filter_normalized_directions() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        bin()
            .args([
                "figures",
                "--only",
                "F1",
                "--quick",
                "--f1-filter-normalized",
                "4",
                "--out",
            ])
            .arg(dir.path()),
    );
    assert!(
        out.contains("filter-normalized random directions at θ_late"),
        "{out}"
    );
    assert!(out.contains("UCI digits, even vs odd, n = 300"), "{out}");
    for ext in ["svg", "png", "csv"] {
        assert!(dir
            .path()
            .join(format!("F1_digits_landscape.{ext}"))
            .exists());
    }
    assert!(dir
        .path()
        .join("F1_digits_landscape_trajectories.csv")
        .exists());
    // Bad value: named by clap.
    let err = run_err(bin().args(["figures", "--only", "F1", "--f1-filter-normalized", "x"]));
    assert!(err.contains("--f1-filter-normalized"), "{err}");
}

/// The slow group (each test ≳ 20 s): `cargo test --release -- --skip slow::`
/// runs everything else, `cargo test --release slow::` only these.
mod slow {
    use super::*;

    #[test]
    fn verify_config_exits_non_zero_on_failure_and_prints_the_experiment() {
        // Linear model, tiny grid given in [claims]: C1–C3 must FAIL.
        let text = SMALL_CONFIG.replace("model = \"diagonal\"", "model = \"linear\"")
            + "[claims]\nt_max = 8000\nhalvings = 3\nsteps_after_decay = 1000\nseeds = { first = 1, count = 8 }\nplateau_steps = 8000\nidentity_steps = 200\n";
        let (_dir, cfg) = common::config_file(&text);
        let out = bin()
            .args(["verify", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(table.contains("experiment: cli test"), "{table}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("C1") && stderr.contains("C2") && stderr.contains("C3"),
            "{stderr}"
        );
        // A non-step-decay schedule is a config error naming the field.
        std::fs::write(
            &cfg,
            SMALL_CONFIG
                .replace(
                    "schedule = { kind = \"step_decay\", lr = 0.02, lr_after = 0.002, decay_step = 2000 }",
                    "schedule = { kind = \"constant\", lr = 0.02 }",
                )
                .replace("[sweep]\ndecay_steps = [0, 2000, 8000]\nlrs = [0.01, 0.02]\nsteps_after_decay = 1000\n", "")
                .replace("steps_after_decay = 1000\nrecord", "steps = 1000\nrecord"),
        )
        .unwrap();
        let err = run_err(bin().args(["verify", "--config"]).arg(&cfg));
        assert!(err.contains("sgd.schedule"), "{err}");
    }
}
