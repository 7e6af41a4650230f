//! The decay-study engine: branches bit-identical to independent runs (f64
//! and MPFR, also when the trunk diverges), sweep outputs byte-identical to
//! the previous implementation on the shipped configs, shards + merge equal
//! to the whole sweep, and configs that do nothing rejected.

use crate::common;

use std::path::{Path, PathBuf};

use latedecay::data::Dataset;
use latedecay::dynamics::sgd::{run_sgd, RecordPlan, Sgd, SgdState, StopReason};
use latedecay::experiment::{
    merge_shards, run_decay_unit, run_sweep, DecayGrid, Experiment, ExperimentConfig, Shard,
    SweepOptions, UnitPlan,
};
use latedecay::model::{Diagonal, Linear, LinearInX, Problem};
use latedecay::noise::Sampling;
use latedecay::probe::StandardProbe;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;

fn method(sigma: f64, batch_size: usize, sampling: Sampling) -> Sgd {
    common::sgd(batch_size, sigma, sampling, Schedule::Constant { lr: 0.01 })
}

/// Every branch of a unit equals an independent run of its decay step:
/// final iterate, every record (times included) and stop reason.
fn branches_match_independent_runs<R: Real, M: LinearInX<R>>(
    problem: &Problem<R, M>,
    base: &Sgd,
    unit: &UnitPlan,
    grid: &DecayGrid,
    theta0: Vec<R>,
    plan: RecordPlan,
) -> Vec<StopReason> {
    let mut probe = StandardProbe::new(problem, None);
    let branches = run_decay_unit(
        problem,
        base,
        unit,
        grid,
        theta0.clone(),
        plan,
        &mut probe,
        &|_| {},
    );
    assert_eq!(branches.len(), grid.decay_steps.len());
    let mut stops = Vec::new();
    for (b, &t) in branches.iter().zip(&grid.decay_steps) {
        assert_eq!(b.decay_step, t);
        let m = base.with_step_decay(unit.lr, unit.lr_after, t);
        let mut state = SgdState::new(theta0.clone(), unit.seed, problem.n(), &m);
        let mut probe = StandardProbe::new(problem, None);
        let alone = run_sgd(
            problem,
            &m,
            &mut state,
            t + grid.steps_after,
            plan,
            &mut probe,
            |_| {},
        );
        assert_eq!(b.stop, alone.stop, "decay step {t}: stop");
        assert_eq!(b.records.len(), alone.records.len(), "decay step {t}");
        for (x, y) in b.records.iter().zip(&alone.records) {
            // Bitwise, NaN included.
            assert_eq!(x.step, y.step);
            assert_eq!(
                common::record_bits(x),
                common::record_bits(y),
                "decay step {t}, record at {}",
                x.step
            );
        }
        for (x, y) in b.theta.iter().zip(&alone.theta) {
            assert!(x == y || !x.is_finite(), "decay step {t}: iterate differs");
        }
        stops.push(b.stop.clone());
    }
    stops
}

/// The unit of a sweep: η₁ `lr`, η₂ `lr_after` and the noise seed.
fn unit_plan(lr: f64, lr_after: f64, seed: u64) -> UnitPlan {
    UnitPlan { lr, lr_after, seed }
}

fn small_data(n: usize, d: usize) -> Dataset<f64> {
    common::seeded_design(n, d, 5, true)
}

#[test]
fn branches_are_bit_identical_to_independent_runs_f64() {
    let data = small_data(8, 20);
    let diag = Problem::new(Diagonal::new(20), data.clone());
    let lin = Problem::new(Linear::new(20), data);
    let grid = DecayGrid::new(vec![3000, 0, 700, 1000], 500).unwrap();
    let unit = unit_plan(0.02, 0.002, 11);
    for (sigma, b, sampling) in [
        (1.0, 1, Sampling::WithReplacement),
        (0.5, 3, Sampling::Shuffle),
        (0.0, 2, Sampling::WithReplacement),
    ] {
        let m = method(sigma, b, sampling);
        for plan in [
            RecordPlan::LogSpaced { points: 30 },
            RecordPlan::Every { every: 250 },
            RecordPlan::FinalOnly,
        ] {
            let stops =
                branches_match_independent_runs(&diag, &m, &unit, &grid, vec![1.0; 40], plan);
            assert!(stops.iter().all(|s| *s == StopReason::Completed));
            branches_match_independent_runs(&lin, &m, &unit, &grid, vec![0.5; 20], plan);
        }
    }
}

#[test]
fn branches_are_bit_identical_to_independent_runs_mpfr() {
    let data = small_data(6, 12).convert::<Mpfr>(128);
    let diag = Problem::new(Diagonal::new(12), data);
    let grid = DecayGrid::new(vec![0, 150, 400], 100).unwrap();
    let unit = unit_plan(0.02, 0.002, 3);
    let theta0 = vec![Mpfr::from_f64(1.0, 128); 24];
    branches_match_independent_runs(
        &diag,
        &method(1.0, 1, Sampling::WithReplacement),
        &unit,
        &grid,
        theta0,
        RecordPlan::Every { every: 50 },
    );
}

#[test]
fn a_diverging_trunk_gives_the_same_branches_as_independent_runs() {
    // η₁ = 3 diverges within a few steps; η₂ is small, so the branch at T = 0
    // completes while every later branch diverges at the trunk's step.
    let data = small_data(8, 20);
    let diag = Problem::new(Diagonal::new(20), data);
    let grid = DecayGrid::new(vec![0, 200, 5000], 300).unwrap();
    let unit = unit_plan(3.0, 0.001, 2);
    for plan in [
        RecordPlan::Every { every: 1 },
        RecordPlan::LogSpaced { points: 20 },
    ] {
        let stops = branches_match_independent_runs(
            &diag,
            &method(1.0, 1, Sampling::WithReplacement),
            &unit,
            &grid,
            vec![1.0; 40],
            plan,
        );
        assert_eq!(stops[0], StopReason::Completed);
        assert!(matches!(stops[2], StopReason::Diverged(_)), "{stops:?}");
    }
}

#[test]
fn grid_rejects_duplicates_and_counts_steps() {
    assert!(DecayGrid::new(vec![0, 10, 10], 5).is_none());
    assert!(DecayGrid::new(vec![], 5).is_none());
    let g = DecayGrid::new(vec![800_000, 0, 50_000, 200_000], 40_000).unwrap();
    assert_eq!(g.decay_steps, vec![0, 50_000, 200_000, 800_000]);
    assert_eq!(g.unit_steps(), 800_000 + 4 * 40_000);
    assert_eq!(g.independent_steps(), 1_050_000 + 4 * 40_000);
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn sweep_into(cfg: &ExperimentConfig, dir: &Path, shard: Option<Shard>) {
    run_sweep(
        &Experiment::new(cfg.clone()).unwrap(),
        &SweepOptions {
            out_dir: Some(dir.to_path_buf()),
            resume: false,
            shard,
        },
    )
    .unwrap();
}

/// `tests/golden/<config>/` holds results.csv and summary.csv written by the
/// independent-run sweep before the engine existed: the engine reproduces
/// them byte for byte.
#[test]
fn sweep_outputs_are_byte_identical_to_the_independent_run_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["diagonal_label_noise", "linear_control", "no_label_noise"] {
        let cfg = ExperimentConfig::from_file(&repo(&format!("configs/{name}.toml"))).unwrap();
        let out = tmp.path().join(name);
        sweep_into(&cfg, &out, None);
        for f in ["results.csv", "summary.csv"] {
            let golden = std::fs::read(repo(&format!("tests/golden/{name}/{f}"))).unwrap();
            let now = std::fs::read(out.join(f)).unwrap();
            assert!(golden == now, "{name}/{f} differs from the golden file");
        }
    }
}

#[test]
fn shards_merge_into_the_whole_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ExperimentConfig::from_file(&repo("configs/no_label_noise.toml")).unwrap();
    let whole = tmp.path().join("whole");
    sweep_into(&cfg, &whole, None);
    let n = 5; // 24 units: shards of 5 and 4 units
    let dirs: Vec<PathBuf> = (1..=n)
        .map(|i| {
            let d = tmp.path().join(format!("shard{i}"));
            sweep_into(&cfg, &d, Some(Shard { index: i, count: n }));
            d
        })
        .collect();
    let merged = tmp.path().join("merged");
    let report = merge_shards(&merged, &dirs).unwrap();
    assert_eq!(report.jobs.len(), 3 * 4 * 8);
    for f in ["results.csv", "summary.csv"] {
        assert!(
            std::fs::read(whole.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap(),
            "{f}: merged shards differ from the whole sweep"
        );
    }
    // A missing shard, a shard given twice, an existing output: refused.
    let err = merge_shards(&tmp.path().join("m2"), &dirs[1..]).unwrap_err();
    assert!(err.to_string().contains("in no shard directory"), "{err}");
    let mut twice = dirs.clone();
    twice.push(dirs[0].clone());
    let err = merge_shards(&tmp.path().join("m3"), &twice).unwrap_err();
    assert!(err.to_string().contains("is in both"), "{err}");
    let err = merge_shards(&merged, &dirs).unwrap_err();
    assert!(err.to_string().contains("already has"), "{err}");
    // A shard directory is not reused for another shard.
    let err = run_sweep(
        &Experiment::new(cfg.clone()).unwrap(),
        &SweepOptions {
            out_dir: Some(dirs[0].clone()),
            resume: true,
            shard: Some(Shard { index: 2, count: n }),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("shard 1/5"), "{err}");
    // Shards of another config are refused.
    let mut other = cfg.clone();
    other.name = "another sweep".into();
    let od = tmp.path().join("other");
    sweep_into(&other, &od, Some(Shard { index: 1, count: n }));
    let mut mixed = dirs[1..].to_vec();
    mixed.push(od);
    let err = merge_shards(&tmp.path().join("m4"), &mixed).unwrap_err();
    assert!(err.to_string().contains("different configuration"), "{err}");
}

#[test]
fn shard_specs_are_checked() {
    assert_eq!("3/8".parse::<Shard>(), Ok(Shard { index: 3, count: 8 }));
    for bad in ["0/4", "5/4", "1/0", "2", "a/b", "-1/3"] {
        let err = bad.parse::<Shard>().unwrap_err();
        assert!(err.contains("--shard"), "{bad}: {err}");
    }
}

const BASE: &str = concat!(
    small_diagonal_toml!(),
    r#"[run]
seeds = [1, 2, 3]
steps_after_decay = 1000
[sweep]
decay_steps = [0, 2000]
lrs = [0.01, 0.02]
steps_after_decay = 1000
"#
);

#[test]
fn settings_that_do_nothing_are_rejected_with_the_reason() {
    Experiment::new(ExperimentConfig::from_toml_str(BASE, "base").unwrap()).unwrap();
    // One case a line: replace | with (`\n` a newline) | the field the error
    // names | the reason it gives.
    let cases = r#"
normalize_columns = true | normalize_columns = true\nspectrum = { kind = "power_law", exponent = 1.0 } | data.spectrum | normalize_columns
steps_after_decay = 1000\n[sweep] | steps_after_decay = 1000\nsteps = 5000\n[sweep] | run.steps_after_decay | give one of them
steps_after_decay = 1000\n[sweep] | steps = 1500\n[sweep] | sgd.schedule.decay_step | never happen
seeds = [1, 2, 3] | seeds = [1, 2, 1] | run.seeds | appears twice
decay_steps = [0, 2000] | decay_steps = [0, 2000, 0] | sweep.decay_steps | appears twice
lrs = [0.01, 0.02] | lrs = [0.02, 0.01, 0.02] | sweep.lrs | appears twice
seeds = [1, 2, 3] | seeds = { first = 18446744073709551615, count = 2 } | run.seeds | overflows
"#;
    for line in cases.trim().lines() {
        let cols: Vec<String> = line.split(" | ").map(|c| c.replace("\\n", "\n")).collect();
        let [from, to, field, reason]: [String; 4] = cols.try_into().expect(line);
        // Parsing accepts the shape; the one check rejects the setting.
        let text = BASE.replace(&from, &to);
        assert_ne!(text, BASE, "{field}: the case changes nothing");
        let cfg = ExperimentConfig::from_toml_str(&text, "case").unwrap();
        let err = Experiment::new(cfg).unwrap_err().to_string();
        assert!(
            err.contains(&field) && err.contains(&reason),
            "{field}: {err}"
        );
    }
}
