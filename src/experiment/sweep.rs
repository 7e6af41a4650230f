//! Sweeps over decay steps × initial learning rates × seeds.
//!
//! Jobs run in parallel (rayon). Each finished job is appended at once to
//! `results.jsonl` in the output directory (one JSON object per line, flushed),
//! so an interrupted sweep loses at most the running jobs; `--resume` reads that
//! file and skips finished jobs. The final `results.csv` and `summary.csv` are
//! sorted, so they are bit-identical whatever the thread count or the order in
//! which jobs finished.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::config::ExperimentConfig;
use super::run::{
    progress_bar, Aggregate, ExperimentError, Prepared, ReferenceValues, SeedSummary,
};
use crate::dynamics::sgd::{Record, Sgd, StopReason};
use crate::scalar::{Mpfr, Real};
use crate::schedule::Schedule;

/// One job of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JobKey {
    /// Initial learning rate η₁.
    pub lr: f64,
    /// Decay step T.
    pub decay_step: u64,
    /// Seed.
    pub seed: u64,
}

impl JobKey {
    fn sort_key(&self) -> (u64, u64, u64) {
        (self.lr.to_bits(), self.decay_step, self.seed)
    }
}

/// A finished job (one line of `results.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobResult {
    /// Which job.
    pub key: JobKey,
    /// Final values.
    pub summary: SeedSummary,
    /// Recorded trajectory.
    pub records: Vec<Record>,
}

/// One row of the sweep summary: a (η₁, T) cell averaged over seeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepCell {
    /// η₁.
    pub lr: f64,
    /// T.
    pub decay_step: u64,
    /// Aggregates over seeds.
    pub aggregate: Aggregate,
}

/// The whole sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepReport {
    /// Config name.
    pub name: String,
    /// Reference values (θ_mn etc.).
    pub reference: ReferenceValues,
    /// Per-cell aggregates, sorted by (η₁, T).
    pub cells: Vec<SweepCell>,
    /// All finished jobs, sorted by (η₁, T, seed).
    pub jobs: Vec<JobResult>,
    /// Jobs computed in this invocation (the rest were resumed).
    pub computed: usize,
}

/// Options of [`run_sweep`].
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Output directory (created if needed).
    pub out_dir: Option<PathBuf>,
    /// Skip jobs already in `results.jsonl`.
    pub resume: bool,
}

/// The job list of a config, in canonical order.
pub fn sweep_jobs(cfg: &ExperimentConfig) -> Vec<JobKey> {
    let sweep = cfg.sweep.as_ref().expect("sweep section");
    let lrs = if sweep.lrs.is_empty() {
        vec![base_lr(&cfg.sgd.schedule)]
    } else {
        sweep.lrs.clone()
    };
    let mut jobs = Vec::new();
    for &lr in &lrs {
        for &decay_step in &sweep.decay_steps {
            for seed in cfg.run.seeds.to_vec() {
                jobs.push(JobKey {
                    lr,
                    decay_step,
                    seed,
                });
            }
        }
    }
    jobs
}

fn base_lr(s: &Schedule) -> f64 {
    match s {
        Schedule::StepDecay { lr, .. } => *lr,
        other => other.lr(0),
    }
}

/// The SGD method of one job.
pub fn job_method(cfg: &ExperimentConfig, key: &JobKey) -> Sgd {
    let sweep = cfg.sweep.as_ref().expect("sweep section");
    let (lr0, lr_after0) = match cfg.sgd.schedule {
        Schedule::StepDecay { lr, lr_after, .. } => (lr, lr_after),
        _ => unreachable!("validated: sweeps need step_decay"),
    };
    let factor = sweep.decay_factor.unwrap_or(lr_after0 / lr0);
    Sgd {
        schedule: Schedule::StepDecay {
            lr: key.lr,
            lr_after: key.lr * factor,
            decay_step: key.decay_step,
        },
        ..cfg.sgd.clone()
    }
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> ExperimentError {
    move |source| ExperimentError::Io { context, source }
}

/// Read finished jobs from `results.jsonl`, checking the stored config.
fn load_finished(
    dir: &Path,
    cfg: &ExperimentConfig,
    resume: bool,
) -> Result<Vec<JobResult>, ExperimentError> {
    let cfg_path = dir.join("config.toml");
    let results_path = dir.join("results.jsonl");
    let cfg_text = toml::to_string(cfg).expect("config serializes");
    if cfg_path.exists() {
        let old = std::fs::read_to_string(&cfg_path)
            .map_err(io_err(format!("reading {}", cfg_path.display())))?;
        if old != cfg_text {
            return Err(ExperimentError::Resume(format!(
                "{} holds a sweep with a different configuration; use another --out directory or delete it",
                dir.display()
            )));
        }
    } else {
        std::fs::write(&cfg_path, &cfg_text)
            .map_err(io_err(format!("writing {}", cfg_path.display())))?;
    }
    if !results_path.exists() {
        return Ok(Vec::new());
    }
    if !resume {
        return Err(ExperimentError::Resume(format!(
            "{} already has results: pass --resume to continue, or use another --out directory",
            dir.display()
        )));
    }
    let text = std::fs::read_to_string(&results_path)
        .map_err(io_err(format!("reading {}", results_path.display())))?;
    let mut done = Vec::new();
    let total_lines = text.lines().count();
    let mut good_lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JobResult>(line) {
            Ok(r) => {
                done.push(r);
                good_lines.push(line);
            }
            // A line cut by an interruption is dropped (rewritten below) and its
            // job recomputed.
            Err(_) if i + 1 == total_lines => {
                let mut clean = good_lines.join("\n");
                clean.push('\n');
                std::fs::write(&results_path, clean)
                    .map_err(io_err(format!("rewriting {}", results_path.display())))?;
            }
            Err(e) => {
                return Err(ExperimentError::Resume(format!(
                    "{} line {}: {e}",
                    results_path.display(),
                    i + 1
                )))
            }
        }
    }
    if !text.is_empty() && !text.ends_with('\n') && good_lines.len() == total_lines {
        // Valid last line without its newline: terminate it before appending.
        let mut clean = good_lines.join("\n");
        clean.push('\n');
        std::fs::write(&results_path, clean)
            .map_err(io_err(format!("rewriting {}", results_path.display())))?;
    }
    Ok(done)
}

/// Run (or resume) a sweep.
pub fn run_sweep(
    cfg: &ExperimentConfig,
    opts: &SweepOptions,
) -> Result<SweepReport, ExperimentError> {
    cfg.validate()?;
    if cfg.sweep.is_none() {
        return Err(ExperimentError::Resume(
            "the config has no [sweep] section (decay_steps, steps_after_decay)".into(),
        ));
    }
    if cfg.precision_bits == 53 {
        run_sweep_in::<f64>(cfg, (), opts)
    } else {
        run_sweep_in::<Mpfr>(cfg, cfg.precision_bits, opts)
    }
}

fn run_sweep_in<R: Real>(
    cfg: &ExperimentConfig,
    ctx: R::Ctx,
    opts: &SweepOptions,
) -> Result<SweepReport, ExperimentError> {
    use rayon::prelude::*;
    let prepared = Prepared::<R>::new(cfg, ctx)?;
    let reference = prepared.reference();
    let after = cfg.sweep.as_ref().expect("checked").steps_after_decay;
    let mut finished: Vec<JobResult> = match &opts.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
            load_finished(dir, cfg, opts.resume)?
        }
        None => Vec::new(),
    };
    let all_jobs = sweep_jobs(cfg);
    let wanted: BTreeSet<_> = all_jobs.iter().map(JobKey::sort_key).collect();
    finished.retain(|r| wanted.contains(&r.key.sort_key()));
    let done: BTreeSet<_> = finished.iter().map(|r| r.key.sort_key()).collect();
    let todo: Vec<JobKey> = all_jobs
        .iter()
        .filter(|k| !done.contains(&k.sort_key()))
        .copied()
        .collect();
    let log = match &opts.out_dir {
        Some(dir) => {
            let p = dir.join("results.jsonl");
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(io_err(format!("opening {}", p.display())))?;
            Some(Mutex::new(std::io::BufWriter::new(f)))
        }
        None => None,
    };
    let total: u64 = todo.iter().map(|k| k.decay_step + after).sum();
    let bar = progress_bar(total, "sweep");
    let computed: Vec<Result<JobResult, ExperimentError>> = todo
        .par_iter()
        .map(|key| {
            let method = job_method(cfg, key);
            let steps = key.decay_step + after;
            let (summary, records) = prepared.run_seed(
                &cfg.init,
                &method,
                key.seed,
                steps,
                cfg.run.record,
                ctx,
                &bar,
            );
            let result = JobResult {
                key: *key,
                summary,
                records,
            };
            if let Some(log) = &log {
                let line = serde_json::to_string(&result).expect("serializable");
                let mut w = log.lock().expect("log lock");
                writeln!(w, "{line}")
                    .and_then(|_| w.flush())
                    .map_err(io_err("appending to results.jsonl".into()))?;
            }
            Ok(result)
        })
        .collect();
    bar.finish_and_clear();
    let n_computed = computed.len();
    for r in computed {
        finished.push(r?);
    }
    finished.sort_by_key(|r| r.key.sort_key());
    let mut groups: BTreeMap<(u64, u64), Vec<SeedSummary>> = BTreeMap::new();
    for r in &finished {
        groups
            .entry((r.key.lr.to_bits(), r.key.decay_step))
            .or_default()
            .push(r.summary.clone());
    }
    let cells: Vec<SweepCell> = groups
        .into_iter()
        .map(|((lr_bits, decay_step), s)| SweepCell {
            lr: f64::from_bits(lr_bits),
            decay_step,
            aggregate: Aggregate::of(&s),
        })
        .collect();
    let report = SweepReport {
        name: cfg.name.clone(),
        reference,
        cells,
        jobs: finished,
        computed: n_computed,
    };
    if let Some(dir) = &opts.out_dir {
        write_sweep_csv(dir, &report)?;
    }
    Ok(report)
}

fn write_sweep_csv(dir: &Path, report: &SweepReport) -> Result<(), ExperimentError> {
    let path = dir.join("results.csv");
    let mut w = csv::Writer::from_path(&path)
        .map_err(|e| ExperimentError::Resume(format!("{}: {e}", path.display())))?;
    let header = [
        "lr",
        "decay_step",
        "seed",
        "steps",
        "norm",
        "test_loss",
        "train_loss",
        "beta_l1",
        "dist_minnorm",
        "rel_dist_minnorm",
        "completed",
    ];
    let csv_err = |e: csv::Error| ExperimentError::Resume(format!("writing CSV: {e}"));
    w.write_record(header).map_err(csv_err)?;
    for j in &report.jobs {
        let s = &j.summary;
        w.write_record([
            j.key.lr.to_string(),
            j.key.decay_step.to_string(),
            j.key.seed.to_string(),
            s.steps.to_string(),
            s.norm.to_string(),
            s.test_loss.to_string(),
            s.train_loss.to_string(),
            s.beta_l1.to_string(),
            s.dist_minnorm.to_string(),
            s.rel_dist_minnorm.to_string(),
            (s.stop == StopReason::Completed).to_string(),
        ])
        .map_err(csv_err)?;
    }
    w.flush().map_err(io_err("flushing results.csv".into()))?;
    let path = dir.join("summary.csv");
    let mut w = csv::Writer::from_path(&path)
        .map_err(|e| ExperimentError::Resume(format!("{}: {e}", path.display())))?;
    w.write_record([
        "lr",
        "decay_step",
        "seeds",
        "norm_mean",
        "norm_sd",
        "test_loss_mean",
        "test_loss_sd",
        "rel_dist_minnorm_mean",
        "rel_dist_minnorm_sd",
    ])
    .map_err(csv_err)?;
    for c in &report.cells {
        let a = &c.aggregate;
        w.write_record([
            c.lr.to_string(),
            c.decay_step.to_string(),
            a.seeds.to_string(),
            a.norm.to_string(),
            a.norm_sd.to_string(),
            a.test_loss.to_string(),
            a.test_loss_sd.to_string(),
            a.rel_dist_minnorm.to_string(),
            a.rel_dist_minnorm_sd.to_string(),
        ])
        .map_err(csv_err)?;
    }
    w.flush().map_err(io_err("flushing summary.csv".into()))?;
    Ok(())
}
