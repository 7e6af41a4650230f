//! Held-out test sets: CSV `test_x`/`test_y` and `test_fraction` with a
//! seeded split, the held-out loss and classification error, the
//! interpolation check (parameters for the Mlp, features for linear models),
//! and the embedded UCI digits (checksum, sizes, split, a run end to end).

use std::io::Write;

use latedecay::data::digits::{
    digits_csv_bytes, load_digits, DIGITS_CSV_SHA256, DIGITS_D, DIGITS_N,
};
use latedecay::data::{DataConfig, Dataset};
use latedecay::experiment::{run_experiment, Experiment, ExperimentConfig};

use crate::common;

fn write(dir: &std::path::Path, name: &str, rows: &[Vec<f64>]) -> std::path::PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    for r in rows {
        let cells: Vec<String> = r.iter().map(|v| format!("{v}")).collect();
        writeln!(f, "{}", cells.join(",")).unwrap();
    }
    p
}

/// n rows × d columns of a smooth deterministic design, ±1 targets.
fn design(n: usize, d: usize, offset: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let x: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..d)
                .map(|j| (((i + offset) * 7 + j * 3) as f64 * 0.37).sin())
                .collect()
        })
        .collect();
    let y = x
        .iter()
        .map(|r| vec![if r[0] + 0.5 * r[1] >= 0.0 { 1.0 } else { -1.0 }])
        .collect();
    (x, y)
}

fn mlp_csv_config(data: &str, width: usize) -> String {
    format!(
        r#"
name = "held-out test"
model = "mlp"
[data]
source = "csv"
{data}
[mlp]
width = {width}
{sgd}[run]
seeds = [1, 2]
steps_after_decay = 500
record = {{ kind = "final_only" }}
"#,
        sgd = common::sgd_toml(0.3, 0.05, 0.005, 2000)
    )
}

/// X.csv and y.csv of `design(n, d, 0)` in `dir`: (the rows of X, the paths).
fn write_train(
    dir: &std::path::Path,
    n: usize,
    d: usize,
) -> (Vec<Vec<f64>>, std::path::PathBuf, std::path::PathBuf) {
    let (x, y) = design(n, d, 0);
    let (px, py) = (write(dir, "X.csv", &x), write(dir, "y.csv", &y));
    (x, px, py)
}

/// [`write_train`] and tX.csv, ty.csv of the test design `(n, d, offset)`:
/// (the four paths, the test targets).
fn write_train_test(
    dir: &std::path::Path,
    (n, d): (usize, usize),
    test: (usize, usize, usize),
) -> ([std::path::PathBuf; 4], Vec<Vec<f64>>) {
    let (_, px, py) = write_train(dir, n, d);
    let (tx, ty) = design(test.0, test.1, test.2);
    let paths = [px, py, write(dir, "tX.csv", &tx), write(dir, "ty.csv", &ty)];
    (paths, ty)
}

fn check_err(text: &str, needles: &[&str]) {
    let err = match ExperimentConfig::from_toml_str(text, "test") {
        Err(e) => e.to_string(),
        Ok(cfg) => Experiment::new(cfg).unwrap_err().to_string(),
    };
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

#[test]
fn test_x_and_test_y_give_the_heldout_loss_and_classification_error() {
    let dir = tempfile::tempdir().unwrap();
    let ([px, py, _, _], _) = write_train_test(dir.path(), (20, 4), (50, 4, 1000));
    let cfg_path = dir.path().join("c.toml");
    // relative paths resolve against the config's directory
    std::fs::write(
        &cfg_path,
        mlp_csv_config(
            "x = \"X.csv\"\ny = \"y.csv\"\ntest_x = \"tX.csv\"\ntest_y = \"ty.csv\"",
            8,
        ),
    )
    .unwrap();
    let exp = Experiment::from_file(&cfg_path).unwrap();
    assert_eq!(exp.data().n(), 20);
    let h = exp.heldout().unwrap();
    assert_eq!((h.len(), h.x.cols()), (50, 4));
    assert!(h.is_binary());
    let report = run_experiment(&exp).unwrap();
    for s in &report.per_seed {
        assert!(s.test_loss.is_finite() && s.test_loss > 0.0);
        assert!((0.0..=1.0).contains(&s.test_error), "{}", s.test_error);
    }
    assert!(report.mean.test_error.is_finite());
    // In the JSON report too.
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["per_seed"][0]["test_error"].is_number());
    assert!(json["mean"]["test_error"].is_number());
    // The held-out loss is ½·mean(f − y)², the training loss's form: a test
    // set equal to the training set gives the training loss.
    let same = mlp_csv_config(
        &format!("x = {px:?}\ny = {py:?}\ntest_x = {px:?}\ntest_y = {py:?}",),
        8,
    );
    let r = run_experiment(
        &Experiment::new(ExperimentConfig::from_toml_str(&same, "t").unwrap()).unwrap(),
    )
    .unwrap();
    for s in &r.per_seed {
        assert_close!(
            s.test_loss,
            s.train_loss,
            abs = 1e-12 * (1.0 + s.train_loss)
        );
    }
}

#[test]
fn test_fraction_splits_by_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (x, px, py) = write_train(dir.path(), 40, 3);
    let load = |seed: u64| {
        let text = mlp_csv_config(
            &format!("x = {px:?}\ny = {py:?}\ntest_fraction = 0.25\nsplit_seed = {seed}"),
            20,
        );
        let cfg = ExperimentConfig::from_toml_str(&text, "t").unwrap();
        let exp = Experiment::new(cfg.clone()).unwrap();
        // Dataset::from_config gives the same training part
        let train = Dataset::from_config(&cfg.data).unwrap();
        assert_eq!(train.x, exp.data().x);
        (exp.data().clone(), exp.heldout().unwrap().clone())
    };
    let (train, test) = load(3);
    assert_eq!((train.n(), test.len()), (30, 10));
    // every row once, in one part or the other
    let mut rows: Vec<Vec<u64>> = (0..train.n())
        .map(|i| train.x.row(i).iter().map(|v| v.to_bits()).collect())
        .chain((0..test.len()).map(|i| test.x.row(i).iter().map(|v| v.to_bits()).collect()))
        .collect();
    rows.sort();
    let mut all: Vec<Vec<u64>> = x
        .iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect();
    all.sort();
    assert_eq!(rows, all);
    // reproducible, and another seed gives another split
    assert_eq!(load(3).1.x, test.x);
    assert_ne!(load(4).1.x, test.x);
}

#[test]
fn heldout_errors_name_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let ([px, py, ptx, pty], ty) = write_train_test(dir.path(), (10, 4), (6, 3, 0));
    let pty_short = write(dir.path(), "ty5.csv", &ty[..5]);
    let c = |extra: &str| mlp_csv_config(&format!("x = {px:?}\ny = {py:?}\n{extra}"), 8);
    // column count differs from x
    check_err(
        &c(&format!("test_x = {ptx:?}\ntest_y = {pty:?}")),
        &["tX.csv", "data.test_x", "3 columns", "X.csv", "4"],
    );
    let (tx4, _) = design(6, 4, 0);
    let ptx4 = write(dir.path(), "tX4.csv", &tx4);
    check_err(
        &c(&format!("test_x = {ptx4:?}\ntest_y = {pty_short:?}")),
        &["ty5.csv", "data.test_y", "5 rows", "6 rows"],
    );
    check_err(
        &c(&format!("test_x = {ptx4:?}")),
        &["data.test_y", "missing"],
    );
    check_err(
        &c(&format!("test_y = {pty:?}")),
        &["data.test_x", "missing"],
    );
    check_err(
        &c(&format!(
            "test_x = {ptx4:?}\ntest_y = {pty:?}\ntest_fraction = 0.5"
        )),
        &["data.test_fraction", "not both"],
    );
    check_err(&c("test_fraction = 1.5"), &["data.test_fraction", "(0, 1)"]);
    check_err(
        &c("test_fraction = 0.01"),
        &["data.test_fraction", "0 of the 10 rows"],
    );
    check_err(&c("split_seed = 3"), &["data.split_seed", "no effect"]);
    let missing = dir.path().join("nope.csv");
    check_err(
        &c(&format!("test_x = {missing:?}\ntest_y = {pty:?}")),
        &["nope.csv"],
    );
    check_err(&c("test_frac = 0.5"), &["test_frac"]);
}

/// The interpolation check counts parameters for the Mlp and features for
/// linear models; the error says which.
#[test]
fn interpolation_check_counts_parameters_or_features() {
    let dir = tempfile::tempdir().unwrap();
    let (_, px, py) = write_train(dir.path(), 30, 4);
    let data = format!("x = {px:?}\ny = {py:?}");
    // width 5: D = 5·4 + 5 = 25 ≤ n = 30 → refused, naming parameters
    check_err(
        &mlp_csv_config(&data, 5),
        &[
            "n = 30 samples",
            "D = 25 parameters",
            "Mlp (width 5, d = 4 inputs)",
        ],
    );
    // width 6: D = 30 = n → still refused (n < D needed)
    check_err(&mlp_csv_config(&data, 6), &["D = 30 parameters"]);
    // width 7: D = 35 > 30 → fine, although n = 30 ≥ d = 4 features
    let ok = mlp_csv_config(&data, 7);
    assert!(Experiment::new(ExperimentConfig::from_toml_str(&ok, "t").unwrap()).is_ok());
    // the diagonal model on the same data: features
    let diag = ok
        .replace("model = \"mlp\"", "model = \"diagonal\"")
        .replace("[mlp]\nwidth = 7\n", "");
    check_err(&diag, &["n = 30 samples", "d = 4 features"]);
}

#[test]
fn digits_checksum() {
    use sha2::{Digest, Sha256};
    let bytes = digits_csv_bytes().unwrap();
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, DIGITS_CSV_SHA256);
    let (pixels, labels) = load_digits().unwrap();
    assert_eq!(
        (pixels.len(), labels.len()),
        (DIGITS_N * DIGITS_D, DIGITS_N)
    );
    assert!(pixels
        .iter()
        .all(|&p| (0.0..=1.0).contains(&p) && (p * 16.0).fract() == 0.0));
    let mut counts = [0usize; 10];
    for &l in &labels {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // the attribution file names the source and licence
    let attribution = include_str!("../src/data/digits/ATTRIBUTION.txt");
    for needle in ["UCI", "Alpaydin", "Kaynak", "CC BY 4.0", DIGITS_CSV_SHA256] {
        assert!(attribution.contains(needle), "{needle}");
    }
}

#[test]
fn digits_source_splits_into_train_and_heldout() {
    let text = |n: usize, task: &str, seed: u64| {
        format!("source = \"digits\"\ntask = \"{task}\"\nn_train = {n}\nsplit_seed = {seed}")
    };
    let parse = |t: String| -> DataConfig { toml::from_str(&t).unwrap() };
    let (train, test) = Dataset::with_heldout(&parse(text(300, "even_odd", 1))).unwrap();
    let test = test.unwrap();
    assert_eq!((train.n(), train.d()), (300, 64));
    assert_eq!((test.len(), test.x.cols()), (1497, 64));
    assert!(test.is_binary() && train.y.iter().all(|v| *v == 1.0 || *v == -1.0));
    let plus = train.y.iter().chain(&test.y).filter(|v| **v > 0.0).count();
    assert_eq!(plus, 178 + 177 + 181 + 181 + 174); // even digits
    let (_, low) = Dataset::with_heldout(&parse(text(300, "low_high", 1))).unwrap();
    let (ltrain, _) = Dataset::with_heldout(&parse(text(300, "low_high", 1))).unwrap();
    let plus = ltrain
        .y
        .iter()
        .chain(&low.unwrap().y)
        .filter(|v| **v > 0.0)
        .count();
    assert_eq!(plus, 178 + 182 + 177 + 183 + 181);
    // reproducible; another seed, another split
    let (again, _) = Dataset::with_heldout(&parse(text(300, "even_odd", 1))).unwrap();
    assert_eq!(again.x, train.x);
    let (other, _) = Dataset::with_heldout(&parse(text(300, "even_odd", 2))).unwrap();
    assert_ne!(other.x, train.x);
    // errors name the field
    for n in [0, 1797] {
        let e = Dataset::with_heldout(&parse(text(n, "even_odd", 1))).unwrap_err();
        assert!(e.to_string().contains("data.n_train"), "{e}");
    }
    let e = toml::from_str::<DataConfig>("source = \"digits\"\nn_train = 5\ntask = \"parity\"")
        .unwrap_err();
    assert!(e.to_string().contains("parity"), "{e}");
}

/// The shipped config loads offline (embedded data), trains a few seeds
/// and reports held-out loss and classification error.
#[test]
fn digits_config_runs() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/digits_mlp.toml");
    let mut cfg = ExperimentConfig::from_file(&path).unwrap();
    // shortened for the test: 2 seeds, 20k steps
    cfg.run.seeds = latedecay::experiment::Seeds::List(vec![1, 2]);
    cfg.sgd.schedule = latedecay::schedule::Schedule::step_decay(0.05, 0.005, 15_000).unwrap();
    cfg.run.steps_after_decay = Some(5_000);
    let exp = Experiment::new(cfg).unwrap();
    assert_eq!(exp.data().n(), 300);
    assert_eq!(exp.heldout().unwrap().len(), 1497);
    let r = run_experiment(&exp).unwrap();
    for s in &r.per_seed {
        assert!(s.train_loss < 0.1, "train loss {}", s.train_loss);
        assert!(s.test_error < 0.2, "held-out error {}", s.test_error);
        assert!(s.test_loss.is_finite());
    }
}
