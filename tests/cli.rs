//! End-to-end tests of the `latedecay` binary: JSON schemas, errors naming the
//! field and value, resumable sweeps and thread-count independence.

use std::path::Path;
use std::process::Command;

use latedecay::data::{write_csv_matrix, Dataset, SyntheticConfig};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_latedecay"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("binary runs");
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("binary runs");
    assert!(!out.status.success(), "command unexpectedly succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn write_data(dir: &Path, n: usize, d: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = Dataset::synthetic(&SyntheticConfig {
        n,
        d,
        normalize_columns: true,
        ..Default::default()
    })
    .unwrap();
    let x = dir.join("X.csv");
    let y = dir.join("y.csv");
    write_csv_matrix(&x, d, data.x.as_slice()).unwrap();
    write_csv_matrix(&y, 1, &data.y).unwrap();
    (x, y)
}

const SMALL_CONFIG: &str = r#"
name = "cli test"
model = "diagonal"
[data]
source = "synthetic"
n = 8
d = 20
normalize_columns = true
[sgd]
batch_size = 1
label_noise_sigma = 1.0
schedule = { kind = "step_decay", lr = 0.02, lr_after = 0.002, decay_step = 2000 }
[run]
seeds = { first = 1, count = 6 }
steps_after_decay = 1000
record = { kind = "every", every = 500 }
[sweep]
decay_steps = [0, 2000, 8000]
lrs = [0.01, 0.02]
steps_after_decay = 1000
"#;

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
    let err = run_err(
        bin()
            .args(["minnorm", "--model", "diagonal"])
            .arg("--x")
            .arg(&x)
            .arg("--y")
            .arg(&bad_y),
    );
    assert!(
        err.contains("bad_y.csv") && err.contains("line 3") && err.contains("three"),
        "{err}"
    );
    let err = run_err(
        bin()
            .args(["minnorm", "--model", "diagonal", "--precision", "20"])
            .arg("--x")
            .arg(&x)
            .arg("--y")
            .arg(&bad_y),
    );
    assert!(err.contains("precision") && err.contains("20"), "{err}");
    let err = run_err(
        bin()
            .args(["minnorm", "--model", "quadratic"])
            .arg("--x")
            .arg(&x)
            .arg("--y")
            .arg(&bad_y),
    );
    assert!(err.contains("quadratic"), "{err}");
}

#[test]
fn run_json_reports_per_seed_and_mean() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, SMALL_CONFIG).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, SMALL_CONFIG).unwrap();
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    run_ok(
        bin()
            .args(["--threads", "1", "sweep", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&one),
    );
    run_ok(
        bin()
            .args(["--threads", "2", "sweep", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&two),
    );
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
    let err = run_err(
        bin()
            .args(["sweep", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&one),
    );
    assert!(err.contains("--resume"), "{err}");
    let out = run_ok(
        bin()
            .args(["sweep", "--json", "--resume", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&one),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["computed"], 24);
    assert_eq!(
        std::fs::read(one.join("results.csv")).unwrap(),
        std::fs::read(two.join("results.csv")).unwrap()
    );
    let again = run_ok(
        bin()
            .args(["sweep", "--json", "--resume", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&one),
    );
    let v: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(v["computed"], 0);

    // A changed config is refused in the same directory.
    std::fs::write(&cfg, SMALL_CONFIG.replace("count = 6", "count = 7")).unwrap();
    let err = run_err(
        bin()
            .args(["sweep", "--resume", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&one),
    );
    assert!(err.contains("different configuration"), "{err}");
}

#[test]
fn help_lists_the_subcommands() {
    let out = run_ok(bin().arg("--help"));
    for sub in ["reproduce", "run", "sweep", "minnorm"] {
        assert!(out.contains(sub), "{out}");
    }
}
