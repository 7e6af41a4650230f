//! Sweeps over decay steps × initial learning rates × seeds, on the
//! decay-study engine ([`super::decay_study`]).
//!
//! A sweep is a list of *units* (η₁, seed), each one trunk with a branch per
//! decay step; units run in parallel (rayon). Each finished unit is appended
//! at once to `results.jsonl` in the output directory (one JSON object per
//! line, flushed), so an interrupted sweep loses at most the running units;
//! `--resume` reads that file and skips finished units. The final
//! `results.csv` and `summary.csv` are sorted, so they are bit-identical
//! whatever the thread count, the order in which units finished, or the
//! sharding (`--shard I/N` runs every N-th unit; [`merge_shards`] joins the
//! shard directories into the outputs of the whole sweep).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::checked::Experiment;
use super::config::ExperimentConfig;
use super::decay_study::{run_units, DecayGrid, UnitPlan};
use super::run::{
    progress_bar, summarize, Aggregate, ExperimentError, Prepared, ReferenceValues, SeedSummary,
};
use crate::dynamics::sgd::StopReason;
use crate::field_error::FieldError;
use crate::probe::Record;
use crate::scalar::{Mpfr, Real};
use crate::schedule::Schedule;

/// One job of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JobKey {
    /// Initial learning rate η₁.
    #[serde(with = "crate::nonfinite")]
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

/// A finished job: one decay step of a unit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobResult {
    /// Which job.
    pub key: JobKey,
    /// Final values.
    pub summary: SeedSummary,
    /// Recorded trajectory.
    pub records: Vec<Record>,
}

/// A finished unit (η₁, seed) with all its decay steps: one line of
/// `results.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UnitResult {
    /// η₁.
    #[serde(with = "crate::nonfinite")]
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// One job per decay step, ascending.
    pub jobs: Vec<JobResult>,
}

impl UnitResult {
    fn sort_key(&self) -> (u64, u64) {
        (self.lr.to_bits(), self.seed)
    }
}

/// One row of the sweep summary: a (η₁, T) cell averaged over seeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepCell {
    /// η₁.
    #[serde(with = "crate::nonfinite")]
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
    /// SGD steps taken in this invocation.
    pub steps_computed: u64,
    /// Repeated identical unit lines in `results.jsonl`, counted once.
    pub duplicate_lines: usize,
}

/// Which part of a sweep one invocation runs: units whose position in the
/// canonical order is ≡ index − 1 (mod count), for Slurm job arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// 1 … count.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `I/N` with 1 ≤ I ≤ N.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("--shard = {s:?}: expected I/N with 1 ≤ I ≤ N (e.g. 3/8)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Options of [`run_sweep`].
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Output directory (created if needed).
    pub out_dir: Option<PathBuf>,
    /// Skip units already in `results.jsonl`.
    pub resume: bool,
    /// Run only this shard of the units.
    pub shard: Option<Shard>,
}

/// The initial learning rates of a sweep: `sweep.lrs`, or the schedule's η₁.
pub fn sweep_lrs(cfg: &ExperimentConfig) -> Vec<f64> {
    let sweep = cfg.sweep.as_ref().expect("sweep section");
    if sweep.lrs.is_empty() {
        vec![base_lr(&cfg.sgd.schedule)]
    } else {
        sweep.lrs.clone()
    }
}

/// η₂ for a unit with initial learning rate `lr`: `lr · decay_factor`, or
/// the schedule's η₂ for its own η₁, or `lr` times the schedule's ratio.
pub fn lr_after_for(cfg: &ExperimentConfig, lr: f64) -> f64 {
    let (lr0, lr_after0) = match cfg.sgd.schedule {
        Schedule::StepDecay { lr, lr_after, .. } => (lr, lr_after),
        _ => unreachable!("validated: sweeps need step_decay"),
    };
    match cfg.sweep.as_ref().and_then(|s| s.decay_factor) {
        Some(f) => lr * f,
        None if lr == lr0 => lr_after0,
        None => lr * (lr_after0 / lr0),
    }
}

/// The units of a config in canonical order (η₁ as listed, then seeds).
pub fn sweep_units(cfg: &ExperimentConfig) -> Vec<UnitPlan> {
    let seeds = cfg.run.seeds.to_vec();
    sweep_lrs(cfg)
        .into_iter()
        .flat_map(|lr| {
            let lr_after = lr_after_for(cfg, lr);
            seeds
                .iter()
                .map(move |&seed| UnitPlan { lr, lr_after, seed })
        })
        .collect()
}

/// The decay grid of a config's `[sweep]` section.
pub fn sweep_grid(cfg: &ExperimentConfig) -> Result<DecayGrid, ExperimentError> {
    let sweep = cfg.sweep.as_ref().expect("sweep section");
    DecayGrid::new(sweep.decay_steps.clone(), sweep.steps_after_decay).ok_or_else(|| {
        ExperimentError::Config(super::config::ConfigError::Invalid(FieldError::new(
            "sweep.decay_steps",
            format!("{:?}", sweep.decay_steps),
            "need at least one decay step and no duplicates",
        )))
    })
}

fn base_lr(s: &Schedule) -> f64 {
    match s {
        Schedule::StepDecay { lr, .. } => *lr,
        other => other.lr(0),
    }
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> ExperimentError {
    move |source| ExperimentError::Io { context, source }
}

const CONFIG_FILE: &str = "config.toml";
const RESULTS_FILE: &str = "results.jsonl";
const SHARD_FILE: &str = "shard.toml";
const REFERENCE_FILE: &str = "reference.json";
const DATA_FILES_FILE: &str = "data_files.toml";
const LOCK_FILE: &str = ".lock";

/// SHA-256 of every data file the config reads (CSV x, y, β*), as the TOML
/// table `path = "sha256:…"` stored next to the config (empty for synthetic
/// data).
fn data_hashes_text(cfg: &ExperimentConfig) -> Result<String, ExperimentError> {
    use sha2::{Digest, Sha256};
    let crate::data::DataConfig::Csv(c) = &cfg.data else {
        return Ok(String::new());
    };
    let mut table = BTreeMap::new();
    for p in [
        Some(&c.x),
        Some(&c.y),
        c.beta_star.as_ref(),
        c.test_x.as_ref(),
        c.test_y.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        let bytes = std::fs::read(p).map_err(io_err(format!("reading {}", p.display())))?;
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        table.insert(p.display().to_string(), format!("sha256:{hex}"));
    }
    Ok(toml::to_string(&table).expect("table serializes"))
}

/// Which data file changed between two stored hash tables.
fn changed_data_file(old: &str, new: &str) -> String {
    let parse = |t: &str| toml::from_str::<BTreeMap<String, String>>(t).unwrap_or_default();
    let (a, b) = (parse(old), parse(new));
    for (path, h) in &b {
        match a.get(path) {
            Some(g) if g == h => {}
            Some(g) => {
                return format!(
                    "data file {path} changed since the sweep started (stored {g}, now {h})"
                )
            }
            None => return format!("data file {path} is not the one the sweep started with"),
        }
    }
    "the data files differ from the ones the sweep started with".into()
}

/// The first field (dotted path) whose value differs between two stored
/// configs, with both values.
fn first_difference(old: &str, new: &str) -> String {
    fn walk(path: &str, a: &toml::Value, b: &toml::Value) -> Option<String> {
        match (a, b) {
            (toml::Value::Table(x), toml::Value::Table(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => walk(&p, u, v),
                        (Some(u), None) => Some(format!("{p}: stored {u}, now absent")),
                        (None, Some(v)) => Some(format!("{p}: stored absent, now {v}")),
                        (None, None) => None,
                    }
                })
            }
            _ if a == b => None,
            _ => Some(format!("{path}: stored {a}, now {b}")),
        }
    }
    match (
        toml::from_str::<toml::Table>(old),
        toml::from_str::<toml::Table>(new),
    ) {
        (Ok(a), Ok(b)) => walk("", &toml::Value::Table(a), &toml::Value::Table(b))
            .unwrap_or_else(|| "formatting differs".into()),
        _ => "the stored config.toml is not readable".into(),
    }
}

/// Hold an exclusive lock on `dir` for as long as the returned file lives
/// (released by the OS even when the process is killed).
fn lock_directory(dir: &Path) -> Result<std::fs::File, ExperimentError> {
    let path = dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(format!("opening {}", path.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(ExperimentError::Resume(format!(
            "{} is being written by another latedecay process (lock on {}); wait for it or use another --out directory",
            dir.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(io_err(format!("locking {}", path.display()))(e))
        }
    }
}

/// The stored config of a sweep: everything but `[claims]`, which does not
/// change a sweep's results.
fn config_text(cfg: &ExperimentConfig) -> String {
    let mut stored = cfg.clone();
    stored.claims = None;
    toml::to_string(&stored).expect("config serializes")
}

fn shard_text(shard: Option<Shard>) -> String {
    match shard {
        Some(s) => toml::to_string(&s).expect("shard serializes"),
        None => String::new(),
    }
}

/// Check (or write) the stored config and shard of an output directory.
fn claim_directory(
    dir: &Path,
    cfg: &ExperimentConfig,
    shard: Option<Shard>,
) -> Result<(), ExperimentError> {
    let cfg_path = dir.join(CONFIG_FILE);
    let cfg_text = config_text(cfg);
    let hashes_path = dir.join(DATA_FILES_FILE);
    let hashes_text = data_hashes_text(cfg)?;
    if cfg_path.exists() {
        let old = std::fs::read_to_string(&cfg_path)
            .map_err(io_err(format!("reading {}", cfg_path.display())))?;
        if old != cfg_text {
            return Err(ExperimentError::Resume(format!(
                "{} holds a sweep with a different configuration ({}); use another --out directory or delete it",
                dir.display(),
                first_difference(&old, &cfg_text)
            )));
        }
        let old_hashes = std::fs::read_to_string(&hashes_path).unwrap_or_default();
        if old_hashes != hashes_text {
            return Err(ExperimentError::Resume(format!(
                "{}: {}; use another --out directory",
                dir.display(),
                changed_data_file(&old_hashes, &hashes_text)
            )));
        }
    } else {
        std::fs::write(&cfg_path, &cfg_text)
            .map_err(io_err(format!("writing {}", cfg_path.display())))?;
        std::fs::write(&hashes_path, &hashes_text)
            .map_err(io_err(format!("writing {}", hashes_path.display())))?;
    }
    let shard_path = dir.join(SHARD_FILE);
    let old_shard = match std::fs::read_to_string(&shard_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(format!("reading {}", shard_path.display()))(e)),
    };
    let new_shard = shard_text(shard);
    match old_shard {
        Some(old) if old != new_shard => Err(ExperimentError::Resume(format!(
            "{} holds {} of this sweep, not {}; use the same --shard or another --out directory",
            dir.display(),
            describe_shard(&old),
            shard.map_or("the whole sweep".into(), |s| format!("shard {s}"))
        ))),
        Some(_) => Ok(()),
        None if !new_shard.is_empty() => std::fs::write(&shard_path, new_shard)
            .map_err(io_err(format!("writing {}", shard_path.display()))),
        None => Ok(()),
    }
}

fn describe_shard(text: &str) -> String {
    match toml::from_str::<Shard>(text) {
        Ok(s) => format!("shard {s}"),
        Err(_) if text.trim().is_empty() => "the whole sweep".into(),
        Err(_) => "an unreadable shard.toml".into(),
    }
}

/// Parse `results.jsonl`: finished units, in file order. A last line cut by
/// an interruption is dropped (and the file rewritten without it).
fn read_units(
    path: &Path,
    repair: bool,
    duplicates: &mut usize,
) -> Result<Vec<UnitResult>, ExperimentError> {
    let text =
        std::fs::read_to_string(path).map_err(io_err(format!("reading {}", path.display())))?;
    let mut seen: BTreeMap<(u64, u64), (usize, UnitResult)> = BTreeMap::new();
    let mut done = Vec::new();
    let total_lines = text.lines().count();
    let mut good_lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<UnitResult>(line) {
            Ok(r) => {
                match seen.get(&r.sort_key()) {
                    // The same unit twice (e.g. two writers before the lock
                    // existed): counted once if identical, refused otherwise.
                    // Compared as JSON: NaN fields make `==` false on equal lines.
                    Some(&(first, ref first_result)) => {
                        if serde_json::to_string(first_result).ok()
                            != serde_json::to_string(&r).ok()
                        {
                            return Err(ExperimentError::Resume(format!(
                                "{} lines {} and {}: unit lr = {}, seed = {} recorded twice with different results",
                                path.display(),
                                first,
                                i + 1,
                                r.lr,
                                r.seed
                            )));
                        }
                        *duplicates += 1;
                    }
                    None => {
                        seen.insert(r.sort_key(), (i + 1, r.clone()));
                        done.push(r);
                    }
                }
                good_lines.push(line);
            }
            Err(_) if i + 1 == total_lines && repair => {
                let mut clean = good_lines.join("\n");
                if !clean.is_empty() {
                    clean.push('\n');
                }
                std::fs::write(path, clean)
                    .map_err(io_err(format!("rewriting {}", path.display())))?;
            }
            Err(e) => {
                let legacy = serde_json::from_str::<JobResult>(line).is_ok();
                return Err(ExperimentError::Resume(format!(
                    "{} line {}: {}",
                    path.display(),
                    i + 1,
                    if legacy {
                        "one job per line, written by an older latedecay (now one unit per line); rerun into a new --out directory".to_string()
                    } else {
                        e.to_string()
                    }
                )));
            }
        }
    }
    if repair && !text.is_empty() && !text.ends_with('\n') && good_lines.len() == total_lines {
        // Valid last line without its newline: terminate it before appending.
        let mut clean = good_lines.join("\n");
        clean.push('\n');
        std::fs::write(path, clean).map_err(io_err(format!("rewriting {}", path.display())))?;
    }
    Ok(done)
}

/// Read finished units from `results.jsonl`, checking the stored config.
fn load_finished(
    dir: &Path,
    cfg: &ExperimentConfig,
    opts: &SweepOptions,
    duplicates: &mut usize,
) -> Result<Vec<UnitResult>, ExperimentError> {
    claim_directory(dir, cfg, opts.shard)?;
    let results_path = dir.join(RESULTS_FILE);
    if !results_path.exists() {
        return Ok(Vec::new());
    }
    if !opts.resume {
        return Err(ExperimentError::Resume(format!(
            "{} already has results: pass --resume to continue, or use another --out directory",
            dir.display()
        )));
    }
    read_units(&results_path, true, duplicates)
}

/// Run (or resume) a sweep, or one shard of it.
pub fn run_sweep(exp: &Experiment, opts: &SweepOptions) -> Result<SweepReport, ExperimentError> {
    let cfg = exp.config();
    if cfg.sweep.is_none() {
        return Err(ExperimentError::Resume(
            "the config has no [sweep] section (decay_steps, steps_after_decay)".into(),
        ));
    }
    if cfg.precision_bits == 53 {
        run_sweep_in::<f64>(exp, (), opts)
    } else {
        run_sweep_in::<Mpfr>(exp, cfg.precision_bits, opts)
    }
}

fn run_sweep_in<R: Real>(
    exp: &Experiment,
    ctx: R::Ctx,
    opts: &SweepOptions,
) -> Result<SweepReport, ExperimentError> {
    let cfg = exp.config();
    let grid = sweep_grid(cfg)?;
    let prepared = Prepared::<R>::new(exp, ctx)?;
    let reference = prepared.reference();
    let mut duplicates = 0;
    let mut _lock = None;
    let mut finished: Vec<UnitResult> = match &opts.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
            _lock = Some(lock_directory(dir)?);
            let done = load_finished(dir, cfg, opts, &mut duplicates)?;
            let ref_path = dir.join(REFERENCE_FILE);
            std::fs::write(
                &ref_path,
                serde_json::to_string_pretty(&reference).expect("serializable"),
            )
            .map_err(io_err(format!("writing {}", ref_path.display())))?;
            done
        }
        None => Vec::new(),
    };
    let mut units = sweep_units(cfg);
    if let Some(shard) = opts.shard {
        units = units
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 % shard.count == shard.index - 1)
            .map(|(_, u)| u)
            .collect();
    }
    let wanted: BTreeSet<(u64, u64)> = units.iter().map(|u| (u.lr.to_bits(), u.seed)).collect();
    finished.retain(|r| wanted.contains(&r.sort_key()));
    let done: BTreeSet<(u64, u64)> = finished.iter().map(UnitResult::sort_key).collect();
    let todo: Vec<UnitPlan> = units
        .iter()
        .filter(|u| !done.contains(&(u.lr.to_bits(), u.seed)))
        .copied()
        .collect();
    let log = match &opts.out_dir {
        Some(dir) => {
            let p = dir.join(RESULTS_FILE);
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(io_err(format!("opening {}", p.display())))?;
            Some(Mutex::new(std::io::BufWriter::new(f)))
        }
        None => None,
    };
    let steps_computed = todo.len() as u64 * grid.unit_steps();
    let bar = progress_bar(steps_computed, "sweep");
    let mn_norm = prepared.minnorm.norm.to_f64();
    let computed: Vec<UnitResult> = run_units(
        &prepared,
        &cfg.init,
        &cfg.sgd,
        &grid,
        &todo,
        cfg.run.record,
        ctx,
        &|k| bar.inc(k),
        |unit, branches| {
            let jobs = branches
                .into_iter()
                .map(|b| {
                    let completed = b.stop == StopReason::Completed;
                    let mut summary = summarize(unit.seed, &b.records, b.stop, mn_norm);
                    if completed {
                        summary.test_error = prepared.heldout_error(&b.theta);
                    }
                    JobResult {
                        key: JobKey {
                            lr: unit.lr,
                            decay_step: b.decay_step,
                            seed: unit.seed,
                        },
                        summary,
                        records: b.records,
                    }
                })
                .collect();
            let result = UnitResult {
                lr: unit.lr,
                seed: unit.seed,
                jobs,
            };
            if let Some(log) = &log {
                let line = serde_json::to_string(&result).expect("serializable");
                let mut w = log.lock().expect("log lock");
                writeln!(w, "{line}")
                    .and_then(|_| w.flush())
                    .map_err(io_err("appending to results.jsonl".into()))?;
            }
            Ok::<_, ExperimentError>(result)
        },
    )?;
    bar.finish_and_clear();
    let n_computed: usize = computed.iter().map(|u| u.jobs.len()).sum();
    finished.extend(computed);
    let report = assemble_report(
        cfg.name.clone(),
        reference,
        finished,
        n_computed,
        steps_computed,
    );
    if let Some(dir) = &opts.out_dir {
        write_sweep_csv(dir, &report)?;
    }
    Ok(report)
}

/// Sort the jobs of finished units and aggregate them per (η₁, T) cell.
fn assemble_report(
    name: String,
    reference: ReferenceValues,
    units: Vec<UnitResult>,
    computed: usize,
    steps_computed: u64,
) -> SweepReport {
    let mut jobs: Vec<JobResult> = units.into_iter().flat_map(|u| u.jobs).collect();
    jobs.sort_by_key(|r| r.key.sort_key());
    let mut groups: BTreeMap<(u64, u64), Vec<SeedSummary>> = BTreeMap::new();
    for r in &jobs {
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
    SweepReport {
        name,
        reference,
        cells,
        jobs,
        computed,
        steps_computed,
        duplicate_lines: 0,
    }
}

/// Join the output directories of the shards of one sweep into `out`:
/// checks that they hold the same config and together cover every unit
/// exactly once, then writes `config.toml`, `reference.json`,
/// `results.jsonl` (units in canonical order), `results.csv` and
/// `summary.csv` — the last two byte-identical to an unsharded sweep.
pub fn merge_shards(out: &Path, shard_dirs: &[PathBuf]) -> Result<SweepReport, ExperimentError> {
    if shard_dirs.is_empty() {
        return Err(ExperimentError::Resume(
            "merge: no shard directories given".into(),
        ));
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(io_err(format!("merge: reading {}", p.display())))
    };
    let first = &shard_dirs[0];
    let cfg_text = read(&first.join(CONFIG_FILE))?;
    let ref_text = read(&first.join(REFERENCE_FILE))?;
    let cfg: ExperimentConfig = toml::from_str(&cfg_text).map_err(|e| {
        ExperimentError::Resume(format!("merge: {}: {e}", first.join(CONFIG_FILE).display()))
    })?;
    let reference: ReferenceValues = serde_json::from_str(&ref_text).map_err(|e| {
        ExperimentError::Resume(format!(
            "merge: {}: {e}",
            first.join(REFERENCE_FILE).display()
        ))
    })?;
    let hashes_text = read(&first.join(DATA_FILES_FILE)).unwrap_or_default();
    let mut duplicates = 0;
    let grid = sweep_grid(&cfg)?;
    let expected: Vec<UnitPlan> = sweep_units(&cfg);
    let position: BTreeMap<(u64, u64), usize> = expected
        .iter()
        .enumerate()
        .map(|(i, u)| ((u.lr.to_bits(), u.seed), i))
        .collect();
    let mut slots: Vec<Option<(UnitResult, PathBuf)>> = vec![None; expected.len()];
    for dir in shard_dirs {
        if read(&dir.join(CONFIG_FILE))? != cfg_text {
            return Err(ExperimentError::Resume(format!(
                "merge: {} holds a different configuration than {}",
                dir.display(),
                first.display()
            )));
        }
        if read(&dir.join(REFERENCE_FILE))? != ref_text {
            return Err(ExperimentError::Resume(format!(
                "merge: {} has other reference values than {} (different data?)",
                dir.display(),
                first.display()
            )));
        }
        if read(&dir.join(DATA_FILES_FILE)).unwrap_or_default() != hashes_text {
            return Err(ExperimentError::Resume(format!(
                "merge: {} read other data files than {} ({})",
                dir.display(),
                first.display(),
                DATA_FILES_FILE
            )));
        }
        let path = dir.join(RESULTS_FILE);
        for unit in read_units(&path, false, &mut duplicates)? {
            let Some(&i) = position.get(&unit.sort_key()) else {
                return Err(ExperimentError::Resume(format!(
                    "merge: {} holds unit lr = {}, seed = {}, which is not in the config",
                    path.display(),
                    unit.lr,
                    unit.seed
                )));
            };
            let steps: Vec<u64> = unit.jobs.iter().map(|j| j.key.decay_step).collect();
            if steps != grid.decay_steps {
                return Err(ExperimentError::Resume(format!(
                    "merge: {} unit lr = {}, seed = {} has decay steps {steps:?}, expected {:?}",
                    path.display(),
                    unit.lr,
                    unit.seed,
                    grid.decay_steps
                )));
            }
            if let Some((_, other)) = &slots[i] {
                return Err(ExperimentError::Resume(format!(
                    "merge: unit lr = {}, seed = {} is in both {} and {}",
                    unit.lr,
                    unit.seed,
                    other.display(),
                    dir.display()
                )));
            }
            slots[i] = Some((unit, dir.clone()));
        }
    }
    let missing: Vec<String> = expected
        .iter()
        .zip(&slots)
        .filter(|(_, s)| s.is_none())
        .map(|(u, _)| format!("(lr = {}, seed = {})", u.lr, u.seed))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        return Err(ExperimentError::Resume(format!(
            "merge: {} of {} units are in no shard directory (a shard missing or unfinished?): {}{}",
            missing.len(),
            expected.len(),
            shown.join(", "),
            if missing.len() > 5 { ", …" } else { "" }
        )));
    }
    if out.join(RESULTS_FILE).exists() {
        return Err(ExperimentError::Resume(format!(
            "merge: {} already has a results.jsonl; choose an empty --out directory",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(io_err(format!("creating {}", out.display())))?;
    let _lock = lock_directory(out)?;
    std::fs::write(out.join(DATA_FILES_FILE), &hashes_text).map_err(io_err(format!(
        "writing {}",
        out.join(DATA_FILES_FILE).display()
    )))?;
    std::fs::write(out.join(CONFIG_FILE), &cfg_text).map_err(io_err(format!(
        "writing {}",
        out.join(CONFIG_FILE).display()
    )))?;
    std::fs::write(out.join(REFERENCE_FILE), &ref_text).map_err(io_err(format!(
        "writing {}",
        out.join(REFERENCE_FILE).display()
    )))?;
    let units: Vec<UnitResult> = slots.into_iter().flatten().map(|(u, _)| u).collect();
    let mut lines = String::new();
    for u in &units {
        lines.push_str(&serde_json::to_string(u).expect("serializable"));
        lines.push('\n');
    }
    std::fs::write(out.join(RESULTS_FILE), lines).map_err(io_err(format!(
        "writing {}",
        out.join(RESULTS_FILE).display()
    )))?;
    let mut report = assemble_report(cfg.name.clone(), reference, units, 0, 0);
    report.duplicate_lines = duplicates;
    write_sweep_csv(out, &report)?;
    Ok(report)
}

/// One row of `results.csv` (numbers in `Display` form, as since the first
/// sweeps, so that old and new files compare byte for byte).
#[derive(Debug, Default, Serialize)]
struct ResultsRow {
    #[serde(serialize_with = "crate::io::display")]
    lr: f64,
    decay_step: u64,
    seed: u64,
    steps: u64,
    #[serde(serialize_with = "crate::io::display")]
    norm: f64,
    #[serde(serialize_with = "crate::io::display")]
    test_loss: f64,
    #[serde(serialize_with = "crate::io::display")]
    train_loss: f64,
    #[serde(serialize_with = "crate::io::display")]
    beta_l1: f64,
    #[serde(serialize_with = "crate::io::display")]
    dist_minnorm: f64,
    #[serde(serialize_with = "crate::io::display")]
    rel_dist_minnorm: f64,
    completed: bool,
}

/// One row of `summary.csv`.
#[derive(Debug, Default, Serialize)]
struct SummaryRow {
    #[serde(serialize_with = "crate::io::display")]
    lr: f64,
    decay_step: u64,
    seeds: usize,
    #[serde(serialize_with = "crate::io::display")]
    norm_mean: f64,
    #[serde(serialize_with = "crate::io::display")]
    norm_sd: f64,
    #[serde(serialize_with = "crate::io::display")]
    test_loss_mean: f64,
    #[serde(serialize_with = "crate::io::display")]
    test_loss_sd: f64,
    #[serde(serialize_with = "crate::io::display")]
    rel_dist_minnorm_mean: f64,
    #[serde(serialize_with = "crate::io::display")]
    rel_dist_minnorm_sd: f64,
}

impl From<&JobResult> for ResultsRow {
    fn from(job: &JobResult) -> Self {
        let s = &job.summary;
        ResultsRow {
            lr: job.key.lr,
            decay_step: job.key.decay_step,
            seed: job.key.seed,
            steps: s.steps,
            norm: s.norm,
            test_loss: s.test_loss,
            train_loss: s.train_loss,
            beta_l1: s.beta_l1,
            dist_minnorm: s.dist_minnorm,
            rel_dist_minnorm: s.rel_dist_minnorm,
            completed: s.stop == StopReason::Completed,
        }
    }
}

impl From<&SweepCell> for SummaryRow {
    fn from(cell: &SweepCell) -> Self {
        let a = &cell.aggregate;
        SummaryRow {
            lr: cell.lr,
            decay_step: cell.decay_step,
            seeds: a.seeds,
            norm_mean: a.norm,
            norm_sd: a.norm_sd,
            test_loss_mean: a.test_loss,
            test_loss_sd: a.test_loss_sd,
            rel_dist_minnorm_mean: a.rel_dist_minnorm,
            rel_dist_minnorm_sd: a.rel_dist_minnorm_sd,
        }
    }
}

fn write_sweep_csv(dir: &Path, report: &SweepReport) -> Result<(), ExperimentError> {
    let csv_err = |e: crate::io::IoError| ExperimentError::Resume(format!("writing CSV: {e}"));
    let results: Vec<ResultsRow> = report.jobs.iter().map(ResultsRow::from).collect();
    crate::io::write_rows(dir.join("results.csv"), &results).map_err(csv_err)?;
    let summary: Vec<SummaryRow> = report.cells.iter().map(SummaryRow::from).collect();
    crate::io::write_rows(dir.join("summary.csv"), &summary).map_err(csv_err)
}
