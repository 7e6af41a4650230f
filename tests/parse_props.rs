//! Generated bad inputs for config and CSV parsing: no panic, and every
//! rejection names the field (config) or the file and line (CSV).
//!
//! Two layers: a deterministic battery (every value line of a config × a
//! fixed set of bad values, every cell of a CSV × a fixed set of bad cells
//! and layouts) whose counts are printed with `--nocapture`, and proptest on
//! random mutations of the same inputs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::common;
use latedecay::data::{CsvConfig, DataConfig, Dataset};
use latedecay::experiment::{Experiment, ExperimentConfig};
use proptest::prelude::*;

const BASE: &str = r#"name = "battery"
model = "diagonal"
precision_bits = 53
[data]
source = "synthetic"
n = 8
d = 20
normalize_columns = true
target_noise_sigma = 0.0
seed = 3
ground_truth = { kind = "sparse", nonzeros = 3, value = 1.0 }
[init]
kind = "uniform"
scale = 1.0
[sgd]
batch_size = 1
label_noise_sigma = 1.0
sampling = "with_replacement"
schedule = { kind = "step_decay", lr = 0.02, lr_after = 0.002, decay_step = 2000 }
[run]
seeds = { first = 1, count = 4 }
steps_after_decay = 1000
record = { kind = "every", every = 500 }
[sweep]
decay_steps = [0, 2000]
lrs = [0.02]
steps_after_decay = 1000
"#;

/// Values that are wrong for most fields.
const BAD_VALUES: &[&str] = &[
    "\"text\"",
    "-1",
    "0",
    "-0.5",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "18446744073709551615",
    "9223372036854775807",
    "true",
    "[]",
    "[1, 1]",
    "{}",
    "{ kind = \"nope\" }",
    "{ kind = \"every\", every = 0 }",
    "{ first = 1, count = 0 }",
    "{ first = 1, count = 2, extra = 3 }",
];

/// Outcome of one bad config.
#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted,
    Clear,
    Unclear(String),
    Panic,
}

/// The key (last component) of a `key = value` line.
fn key_of(line: &str) -> Option<&str> {
    let (k, _) = line.split_once(" = ")?;
    Some(k.trim())
}

fn judge_config(text: &str, key: &str) -> Outcome {
    let result = catch_unwind(AssertUnwindSafe(|| {
        ExperimentConfig::from_toml_str(text, "battery.toml")
            .map_err(|e| e.to_string())
            .and_then(|cfg| Experiment::new(cfg).map(|_| ()).map_err(|e| e.to_string()))
    }));
    match result {
        Err(_) => Outcome::Panic,
        Ok(Ok(())) => Outcome::Accepted,
        // Clear: names the key (a field path contains it) or the TOML
        // position (line and column of the offending value).
        Ok(Err(msg)) if msg.contains(key) || msg.contains("line ") => Outcome::Clear,
        Ok(Err(msg)) => Outcome::Unclear(msg),
    }
}

#[test]
fn config_battery_never_panics_and_names_the_field() {
    let lines: Vec<&str> = BASE.lines().collect();
    let (mut accepted, mut clear, mut unclear, mut panics) = (0, 0, Vec::new(), 0);
    for (i, line) in lines.iter().enumerate() {
        let Some(key) = key_of(line) else { continue };
        for bad in BAD_VALUES {
            let mut mutated = lines.clone();
            let new_line = format!("{key} = {bad}");
            mutated[i] = &new_line;
            let text = mutated.join("\n");
            match judge_config(&text, key) {
                Outcome::Accepted => accepted += 1,
                Outcome::Clear => clear += 1,
                Outcome::Unclear(m) => unclear.push(format!("{key} = {bad}: {m}")),
                Outcome::Panic => panics += 1,
            }
        }
    }
    // Unknown keys, in every section and inside inline tables.
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with('[') {
            let mut mutated = lines.clone();
            mutated.insert(i + 1, "typo_field = 1");
            match judge_config(&mutated.join("\n"), "typo_field") {
                Outcome::Clear => clear += 1,
                Outcome::Unclear(m) => unclear.push(format!("typo_field in {line}: {m}")),
                Outcome::Accepted => unclear.push(format!("typo_field in {line}: accepted")),
                Outcome::Panic => panics += 1,
            }
        }
    }
    println!(
        "config battery: {} inputs, {clear} clear errors, {} unclear, {accepted} accepted (valid values), {panics} panics",
        clear + unclear.len() + accepted + panics,
        unclear.len()
    );
    assert_eq!(panics, 0);
    assert!(
        unclear.is_empty(),
        "unclear errors:\n{}",
        unclear.join("\n")
    );
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

const X: [[&str; 5]; 3] = [
    ["1.0", "0.5", "-0.25", "2.0", "0.0"],
    ["0.0", "1.5", "0.75", "-1.0", "1.0"],
    ["0.5", "0.0", "1.0", "0.25", "-0.5"],
];
const Y: [&str; 3] = ["1.0", "2.0", "-0.5"];

fn csv_text(rows: &[Vec<String>]) -> String {
    rows.iter().map(|r| r.join(",") + "\n").collect()
}

fn x_rows() -> Vec<Vec<String>> {
    X.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Load X.csv and y.csv from `dir`: Ok, or an error naming the file and line.
fn judge_csv(dir: &Path, file: &str) -> Result<bool, String> {
    let cfg = DataConfig::Csv(CsvConfig::new(dir.join("X.csv"), dir.join("y.csv")));
    let r = catch_unwind(AssertUnwindSafe(|| {
        Dataset::from_config(&cfg).and_then(|d| d.require_overparameterized().map(|_| d))
    }));
    match r {
        Err(_) => Err("panic".into()),
        Ok(Ok(_)) => Ok(true),
        Ok(Err(e)) => {
            let m = e.to_string();
            if m.contains(file) || m.contains("n =") {
                Ok(false)
            } else {
                Err(m)
            }
        }
    }
}

const BAD_CELLS: &[&str] = &[
    "", "abc", "1e400", "-1e400", "nan", "NaN", "inf", " 1.0 ", "1,2", "\"1\"", "0x10", "1.0.0",
    "--1", "1e", "∞", "1_000",
];

#[test]
fn csv_battery_never_panics_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ydefault: String = Y.iter().map(|v| format!("{v}\n")).collect();
    let (mut ok, mut clear, mut bad) = (0, 0, Vec::new());
    let mut judge = |what: String, file: &str| match judge_csv(dir.path(), file) {
        Ok(true) => ok += 1,
        Ok(false) => clear += 1,
        Err(m) => bad.push(format!("{what}: {m}")),
    };
    for i in 0..3 {
        for j in 0..5 {
            for cell in BAD_CELLS {
                let mut rows = x_rows();
                rows[i][j] = cell.to_string();
                write(&dir.path().join("X.csv"), &csv_text(&rows));
                write(&dir.path().join("y.csv"), &ydefault);
                judge(format!("X[{i}][{j}] = {cell:?}"), "X.csv");
            }
        }
    }
    let layouts: Vec<(&str, String, String)> = vec![
        (
            "ragged row",
            "1,2,3,4,5\n1,2,3\n1,2,3,4,5\n".into(),
            ydefault.clone(),
        ),
        (
            "header row",
            "a,b,c,d,e\n".to_string() + &csv_text(&x_rows()),
            ydefault.clone(),
        ),
        ("empty file", String::new(), ydefault.clone()),
        (
            "blank line",
            csv_text(&x_rows()).replacen('\n', "\n\n", 1),
            ydefault.clone(),
        ),
        (
            "CRLF",
            csv_text(&x_rows()).replace('\n', "\r\n"),
            ydefault.replace('\n', "\r\n"),
        ),
        (
            "BOM",
            "\u{feff}".to_string() + &csv_text(&x_rows()),
            ydefault.clone(),
        ),
        (
            "trailing comma",
            csv_text(&x_rows()).replace('\n', ",\n"),
            ydefault.clone(),
        ),
        ("y too short", csv_text(&x_rows()), "1.0\n2.0\n".into()),
        (
            "y two columns",
            csv_text(&x_rows()),
            "1,2\n3,4\n5,6\n".into(),
        ),
        ("n ≥ d", "1,2\n3,4\n5,6\n".into(), ydefault.clone()),
        (
            "no newline at end",
            csv_text(&x_rows()).trim_end().to_string(),
            ydefault.clone(),
        ),
        (
            "semicolons",
            csv_text(&x_rows()).replace(',', ";"),
            ydefault.clone(),
        ),
    ];
    for (what, x, y) in layouts {
        write(&dir.path().join("X.csv"), &x);
        write(&dir.path().join("y.csv"), &y);
        let file = if what.starts_with('y') {
            "y.csv"
        } else {
            "X.csv"
        };
        judge(what.to_string(), file);
    }
    println!(
        "CSV battery: {} inputs, {clear} clear errors, {ok} accepted (valid), {} unclear or panics",
        clear + ok + bad.len(),
        bad.len()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..common::prop_config(256) })]

    /// A random value at a random key: no panic, and a rejection names the key
    /// or the TOML position.
    #[test]
    fn random_config_mutations_are_named(line in 0usize..40, value in prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| if v.is_finite() { format!("{v:e}") } else { "nan".into() }),
        "[a-z]{0,8}".prop_map(|s| format!("\"{s}\"")),
        proptest::collection::vec(-3i64..1_000_000, 0..4).prop_map(|v| format!("{v:?}")),
        "[a-z_]{1,8}".prop_map(|k| format!("{{ {k} = 1 }}")),
    ]) {
        let lines: Vec<&str> = BASE.lines().collect();
        let i = line % lines.len();
        if let Some(key) = key_of(lines[i]) {
            let mut mutated = lines.clone();
            let new_line = format!("{key} = {value}");
            mutated[i] = &new_line;
            let outcome = judge_config(&mutated.join("\n"), key);
            prop_assert!(matches!(outcome, Outcome::Accepted | Outcome::Clear), "{key} = {value}: {outcome:?}");
        }
    }

    /// A random cell text anywhere in X: no panic, a rejection names X.csv.
    #[test]
    fn random_csv_cells_are_named(i in 0usize..3, j in 0usize..5, cell in "[ -~]{0,12}") {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = x_rows();
        rows[i][j] = cell.clone();
        write(&dir.path().join("X.csv"), &csv_text(&rows));
        write(&dir.path().join("y.csv"), &Y.iter().map(|v| format!("{v}\n")).collect::<String>());
        let r = judge_csv(dir.path(), "X.csv");
        prop_assert!(r.is_ok(), "{cell:?}: {r:?}");
    }
}
