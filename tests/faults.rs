//! Faults a user meets, through the binary: a sweep killed with SIGKILL and
//! resumed, a corrupted results line, two concurrent writers, a data file
//! changed between runs, diverged units, repeated lines, a refused resume
//! that names the field, relative data paths, and quick figures that leave
//! `figures/` alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use latedecay::io::write_matrix;

use crate::common;

use crate::common::bin;

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// 2 lrs × `count` seeds × 3 decay steps on a small instance; `steps_after`
/// sets how long a unit takes.
fn config(count: u64, steps_after: u64, data: &str) -> String {
    format!(
        r#"
name = "fault test"
model = "diagonal"
[data]
{data}
{sgd}[run]
seeds = {{ first = 1, count = {count} }}
steps_after_decay = {steps_after}
record = {{ kind = "every", every = 500 }}
[sweep]
decay_steps = [0, 2000, 8000]
lrs = [0.01, 0.02]
steps_after_decay = {steps_after}
"#,
        sgd = common::sgd_toml(1.0, 0.02, 0.002, 2000)
    )
}

const SYNTHETIC: &str = "source = \"synthetic\"\nn = 8\nd = 20\nnormalize_columns = true";

use crate::common::sweep_cmd as sweep;

/// [`sweep`] in the background, its output discarded.
fn spawn_sweep(cfg: &Path, out: &Path) -> std::process::Child {
    sweep(cfg, out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls `done` every 5 ms for at most `secs` seconds.
fn wait_for(secs: u64, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() && t0.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn corrupted_repeated_and_refused_results_are_named() {
    let (dir, cfg) = common::config_file(&config(3, 500, SYNTHETIC));
    let out = dir.path().join("out");
    assert!(run(&mut sweep(&cfg, &out)).0);
    let log = out.join("results.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let ls: Vec<&str> = text.lines().collect();
    assert_eq!(ls.len(), 6);
    // A repeated line is counted once: 3 seeds per cell, not 4.
    std::fs::write(&log, format!("{text}{}\n", ls[0])).unwrap();
    let (ok, stdout, err) = run(sweep(&cfg, &out).arg("--resume").arg("--json"));
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["aggregate"]["seeds"] == 3));
    // A corrupted line in the middle is named (file and line).
    std::fs::write(&log, format!("{}\n{{not json\n{}\n", ls[0], ls[1])).unwrap();
    let (ok, _, err) = run(sweep(&cfg, &out).arg("--resume"));
    assert!(!ok && err.contains("results.jsonl line 2"), "{err}");
    // A changed config is refused, naming the field and both values.
    std::fs::write(&cfg, config(3, 600, SYNTHETIC)).unwrap();
    let (ok, _, err) = run(sweep(&cfg, &out).arg("--resume"));
    assert!(!ok, "{err}");
    assert!(
        err.contains("run.steps_after_decay: stored 500, now 600"),
        "{err}"
    );
}

fn write_csv_data(dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    let data = common::seeded_design(8, 20, seed, false);
    let (x, y) = (dir.join("X.csv"), dir.join("y.csv"));
    write_matrix(&x, 20, data.x.as_slice()).unwrap();
    write_matrix(&y, 1, &data.y).unwrap();
    (x, y)
}

#[test]
fn a_changed_data_file_is_named_and_relative_paths_follow_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    write_csv_data(&data_dir, 1);
    // Paths relative to the config file, run from another directory.
    let cfg = data_dir.join("c.toml");
    let csv = "source = \"csv\"\nx = \"X.csv\"\ny = \"y.csv\"\nnormalize_columns = true";
    std::fs::write(&cfg, config(2, 500, csv)).unwrap();
    let out = dir.path().join("out");
    let (ok, _, err) = run(sweep(&cfg, &out).current_dir(dir.path()));
    assert!(ok, "{err}");
    write_csv_data(&data_dir, 2);
    let (ok, _, err) = run(sweep(&cfg, &out).arg("--resume"));
    assert!(!ok, "{err}");
    assert!(
        err.contains("X.csv changed since the sweep started") && err.contains("sha256:"),
        "{err}"
    );
}

#[test]
fn diverged_units_are_marked_counted_and_resumable() {
    // η₁ = 0.3 diverges within ten steps on this instance; η₂ does not.
    let text = config(3, 500, SYNTHETIC).replace("lrs = [0.01, 0.02]", "lrs = [0.3, 0.02]");
    let (dir, cfg) = common::config_file(&text);
    let out = dir.path().join("out");
    let (ok, stdout, err) = run(&mut sweep(&cfg, &out));
    assert!(!ok);
    assert!(
        err.contains("jobs diverged") && err.contains("--allow-divergence"),
        "{err}"
    );
    assert!(stdout.contains("3 of 3 seeds diverged"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let diverged: Vec<&str> = csv.lines().filter(|l| l.ends_with(",false")).collect();
    assert_eq!(diverged.len(), 6, "{csv}"); // η₁ = 0.3 at T = 2000 and 8000
    assert!(diverged.iter().all(|l| l.contains(",NaN,")), "{csv}");
    // NaN survives results.jsonl: the resume reads every line back.
    assert!(std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .contains("\"NaN\""));
    let (ok, stdout, err) = run(sweep(&cfg, &out).arg("--resume").arg("--allow-divergence"));
    assert!(ok, "{err}");
    assert!(
        stdout.contains("(0 jobs computed now, 18 resumed)"),
        "{stdout}"
    );
    // `run`: every seed is reported and written, then a non-zero exit.
    let runcfg = dir.path().join("r.toml");
    std::fs::write(
        &runcfg,
        text.replace("lr = 0.02, lr_after", "lr = 0.3, lr_after"),
    )
    .unwrap();
    let traj = dir.path().join("traj");
    let (ok, stdout, err) = run(bin()
        .args(["run", "--config"])
        .arg(&runcfg)
        .arg("--out")
        .arg(&traj));
    assert!(!ok && err.contains("3 of 3 seeds diverged"), "{err}");
    assert!(stdout.contains("diverged at step"), "{stdout}");
    for s in 1..=3 {
        assert!(traj.join(format!("trajectory_seed{s}.csv")).exists());
    }
    assert!(traj.join("report.json").exists());
}

#[test]
fn quick_figures_do_not_touch_the_figures_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("figures")).unwrap();
    let marker = dir.path().join("figures/F4_test_loss_vs_decay.csv");
    std::fs::write(&marker, "full quality").unwrap();
    let (ok, _, err) = run(bin()
        .args(["figures", "--quick", "--only", "F4"])
        .current_dir(dir.path()));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "full quality");
    assert!(dir
        .path()
        .join("out/figures-quick/F4_test_loss_vs_decay.csv")
        .exists());
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = bin()
        .args(["--help"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

/// The slow group (each test ≳ 20 s): `cargo test --release -- --skip slow::`
/// runs everything else, `cargo test --release slow::` only these.
mod slow {
    use super::*;

    #[test]
    fn sigkill_mid_sweep_then_resume_gives_the_clean_result() {
        let (dir, cfg) = common::config_file(&config(40, 400_000, SYNTHETIC));
        let clean = dir.path().join("clean");
        assert!(run(sweep(&cfg, &clean).arg("--threads").arg("2")).0);
        let killed = dir.path().join("killed");
        let mut child = spawn_sweep(&cfg, &killed);
        let log = killed.join("results.jsonl");
        wait_for(60, || lines(&log) >= 3);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let kept = lines(&log);
        assert!((1..80).contains(&kept), "{kept} units before the kill");
        // Not resumable without --resume; with it, exactly the clean outputs.
        let (ok, _, err) = run(&mut sweep(&cfg, &killed));
        assert!(!ok && err.contains("--resume"), "{err}");
        let (ok, _, err) = run(sweep(&cfg, &killed).arg("--resume"));
        assert!(ok, "{err}");
        for f in ["results.csv", "summary.csv"] {
            assert_eq!(
                std::fs::read(clean.join(f)).unwrap(),
                std::fs::read(killed.join(f)).unwrap(),
                "{f}"
            );
        }
    }

    #[test]
    fn concurrent_writers_are_refused() {
        let (dir, cfg) = common::config_file(&config(40, 400_000, SYNTHETIC));
        let out = dir.path().join("out");
        let mut first = spawn_sweep(&cfg, &out);
        wait_for(30, || out.join(".lock").exists());
        std::thread::sleep(Duration::from_millis(200));
        let (ok, _, err) = run(sweep(&cfg, &out).arg("--resume"));
        first.kill().unwrap();
        first.wait().unwrap();
        assert!(!ok, "a second writer was let in");
        assert!(err.contains("another latedecay process"), "{err}");
        // Once the first is gone the lock is free again (killed, not cleaned up).
        let (ok, _, err) = run(sweep(&cfg, &out).arg("--resume"));
        assert!(ok, "{err}");
    }
}
