//! Command-line interface of the `latedecay` binary.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::data::{CsvConfig, DataConfig, Dataset, Spectrum};
use crate::experiment::{
    run_sweep, Experiment, ExperimentConfig, RunReport, SweepOptions, SweepReport,
};
use crate::manifold::interpolant::InterpolantSummary;
use crate::manifold::{flattest_interpolant, min_norm_interpolant, Interpolant};
use crate::model::ModelKind;
use crate::scalar::{Mpfr, Precision, Real};
use serde::Serialize;

/// latedecay: why a late learning-rate decay generalizes better.
#[derive(Debug, Parser)]
#[command(name = "latedecay", version, about, long_about = None)]
pub struct Cli {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job on built-in defaults: early-vs-late decay sweep and θ_mn.
    Reproduce(ReproduceArgs),
    /// One experiment (many seeds) from a TOML config.
    Run(RunArgs),
    /// Decay steps × learning rates × seeds, in parallel, resumable, shardable.
    Sweep(SweepArgs),
    /// Join the output directories of `sweep --shard I/N` runs into one sweep.
    Merge(MergeArgs),
    /// Minimum-norm (or flattest) interpolant of data given as CSV, any precision.
    Minnorm(MinnormArgs),
    /// Paper figures F1–F8 (SVG + PNG + CSV) into figures/.
    Figures(FiguresArgs),
    /// Exact weak orders of gradient flow, SME-1, SME-2 vs SGD (Linear model,
    /// exact moments, no Monte Carlo), in f64 and MPFR (claim C5, figure F6).
    WeakOrders(WeakOrdersArgs),
    /// Run the claims C1–C14 and print the claims table (exit code ≠ 0 if any fails).
    Verify(VerifyArgs),
    /// SGD vs SDE vs slow flow: error-vs-η tables with fitted orders, f64 vs MPFR.
    Compare(CompareArgs),
    /// Mean-square linear stability of SGD at θ₀, θ_mn (and a given point or
    /// a run's final iterate): λ_max(G), 2/λ_max, 2/max‖∇f_i‖², ρ(η₁), η*.
    Stability(StabilityArgs),
}

/// `stability` options.
#[derive(Debug, Args)]
pub struct StabilityArgs {
    /// Experiment config (TOML): model, data, init, B, sampling, η₁.
    #[arg(long)]
    pub config: PathBuf,
    /// Also evaluate at this θ (CSV: one column of D rows or one row of D values).
    #[arg(long)]
    pub theta: Option<PathBuf>,
    /// Also run the config's first seed for run.steps and evaluate at its final iterate.
    #[arg(long)]
    pub after_run: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `figures` options.
#[derive(Debug, Args)]
pub struct FiguresArgs {
    /// Only these figures (e.g. `--only F3` or `--only F3,F4`).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Output directory (default `figures/`; with --quick `out/figures-quick/`,
    /// so quick figures never replace the committed full-quality ones).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Smaller runs (fewer seeds and steps, coarser grids).
    #[arg(long)]
    pub quick: bool,
    /// Extra F5 series (SDE, slow flow) from a CSV `tau, <series…>`.
    #[arg(long)]
    pub f5_extra_csv: Option<PathBuf>,
    /// F6 input: weak-error CSV `eta, err_gf, err_sme1, err_sme2[, *_f64]`.
    #[arg(long)]
    pub f6_csv: Option<PathBuf>,
    /// Draw F2–F5 and F8 for this experiment (TOML) instead of the built-in one;
    /// F1, F6 and F7 keep their own settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Draw F1 on two filter-normalized random directions at the late-decay
    /// end (Li et al. 2018), drawn from this seed, instead of the plane
    /// through θ₀ and both ends.
    #[arg(long, value_name = "SEED")]
    pub f1_filter_normalized: Option<u64>,
}

/// `weak-orders` options.
#[derive(Debug, Args)]
pub struct WeakOrdersArgs {
    /// Optional TOML file with a `WeakOrderConfig` (default: the documented instance).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the error curves (F6 data) to this CSV file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Print the whole report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `verify` options.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Quick protocol (16 seeds, 7 decay steps; the default).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// Full protocol (64 fresh seeds, 9 decay steps).
    #[arg(long)]
    pub full: bool,
    /// Run the claims on this experiment (TOML; an optional `[claims]` section
    /// sets seeds, grid or T_max and thresholds). Default: the built-in one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `compare` options.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Compare config (TOML), see configs/compare.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `reproduce` options.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Fewer seeds (4 instead of 16).
    #[arg(long)]
    pub quick: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Directory for results (sweep CSV/JSONL).
    #[arg(long, default_value = "out/reproduce")]
    pub out: PathBuf,
    /// Run the full claims protocol instead of the quick one.
    #[arg(long)]
    pub full: bool,
    /// Where the figures go (SVG, PNG and CSV of F1–F8; default `figures/`,
    /// with --quick `OUT/figures-quick/`, never the committed full-quality ones).
    #[arg(long)]
    pub figures: Option<PathBuf>,
    /// Skip the figures.
    #[arg(long)]
    pub no_figures: bool,
}

/// `run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment config (TOML), see configs/.
    #[arg(long)]
    pub config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write one trajectory CSV per seed into this directory (each as soon
    /// as its seed has finished) and report.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit 0 even if some seeds diverged (they are reported either way).
    #[arg(long)]
    pub allow_divergence: bool,
}

/// `sweep` options.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Experiment config with a `[sweep]` section (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory (results.jsonl, results.csv, summary.csv).
    #[arg(long, default_value = "out/sweep")]
    pub out: PathBuf,
    /// Continue an interrupted sweep, skipping finished units.
    #[arg(long)]
    pub resume: bool,
    /// Run only shard I of N (1 ≤ I ≤ N): every N-th unit (η₁, seed), for
    /// job arrays; join the shard directories with `latedecay merge`.
    #[arg(long)]
    pub shard: Option<crate::experiment::Shard>,
    /// Exit 0 even if some jobs diverged (they are reported either way).
    #[arg(long)]
    pub allow_divergence: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `merge` options.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output directory of the whole sweep (must not hold results yet).
    #[arg(long)]
    pub out: PathBuf,
    /// The shard output directories (`sweep --shard I/N --out DIR`).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Exit 0 even if some jobs diverged.
    #[arg(long)]
    pub allow_divergence: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `minnorm` options.
#[derive(Debug, Args)]
pub struct MinnormArgs {
    /// Model whose parameter norm is minimized.
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// X as CSV (n rows × d columns, no header).
    #[arg(long)]
    pub x: PathBuf,
    /// y as CSV (one column, n rows).
    #[arg(long)]
    pub y: PathBuf,
    /// Optional β* (one column, d rows) to report test losses (Λ = I).
    #[arg(long)]
    pub beta_star: Option<PathBuf>,
    /// Working precision in bits (53 = f64).
    #[arg(long, default_value_t = 256)]
    pub precision: u32,
    /// Normalize columns to (1/n)Σx² = 1 first.
    #[arg(long)]
    pub normalize_columns: bool,
    /// Compute the flattest interpolant θ_R = argmin tr G instead.
    #[arg(long)]
    pub flattest: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// An error and its causes on one line, each cause once: a cause whose text
/// the message already contains (thiserror's `{source}` in the message and
/// anyhow's chain) is not repeated.
///
/// ```
/// let io = std::io::Error::other("disk full");
/// let e = anyhow::Error::new(io).context("writing out/x.csv: disk full");
/// assert_eq!(latedecay::cli::error_chain(&e), "writing out/x.csv: disk full");
/// ```
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let t = cause.to_string();
        if text.contains(&t) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&t);
    }
    text
}

/// Entry point (called by `main`).
pub fn main_with(cli: Cli) -> Result<()> {
    if let Some(t) = cli.threads {
        if t == 0 {
            bail!("--threads = 0: need at least one thread");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("configuring the thread pool")?;
    }
    match cli.command {
        Command::Reproduce(a) => reproduce(&a),
        Command::Run(a) => {
            let exp = Experiment::from_file(&a.config)?;
            if let Some(dir) = &a.out {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            // Each seed's trajectory is written as soon as it has finished.
            let report =
                crate::experiment::run::run_experiment_with(
                    &exp,
                    &|summary, records| match &a.out {
                        Some(dir) => write_trajectory(dir, summary.seed, records).map_err(|e| {
                            crate::experiment::ExperimentError::Io {
                                context: format!("writing the trajectory of seed {}", summary.seed),
                                source: std::io::Error::other(e.to_string()),
                            }
                        }),
                        None => Ok(()),
                    },
                )?;
            if let Some(dir) = &a.out {
                std::fs::write(
                    dir.join("report.json"),
                    serde_json::to_string_pretty(&report)?,
                )?;
            }
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_run(&report);
            }
            let diverged = report.diverged();
            if let Some((seed, d)) = diverged.first() {
                let msg = format!(
                    "{} of {} seeds diverged (first: seed {seed}: {d})",
                    diverged.len(),
                    report.per_seed.len()
                );
                if a.allow_divergence {
                    eprintln!("warning: {msg}");
                } else {
                    bail!("{msg}; the other seeds' results are above (pass --allow-divergence to exit 0)");
                }
            }
            Ok(())
        }
        Command::Sweep(a) => {
            let exp = Experiment::from_file(&a.config)?;
            let report = run_sweep(
                &exp,
                &SweepOptions {
                    out_dir: Some(a.out.clone()),
                    resume: a.resume,
                    shard: a.shard,
                },
            )?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&sweep_json(&report))?);
            } else {
                if let Some(shard) = a.shard {
                    println!("shard {shard} of the sweep");
                }
                print_sweep(&report);
                println!("results: {}", a.out.display());
            }
            check_sweep_divergence(&report, a.allow_divergence)
        }
        Command::Merge(a) => {
            let report = crate::experiment::merge_shards(&a.out, &a.shards)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&sweep_json(&report))?);
            } else {
                println!("merged {} shard directories", a.shards.len());
                print_sweep(&report);
                println!("results: {}", a.out.display());
            }
            check_sweep_divergence(&report, a.allow_divergence)
        }
        Command::Minnorm(a) => minnorm(&a),
        Command::Figures(a) => figures(&a),
        Command::WeakOrders(a) => weak_orders(&a),
        Command::Verify(a) => {
            let mode = if a.full {
                crate::claims::Mode::Full
            } else {
                crate::claims::Mode::Quick
            };
            let cfg = match &a.config {
                Some(path) => ExperimentConfig::from_file(path)?,
                None => ExperimentConfig::default_late_decay(),
            };
            run_verify(&cfg, mode, a.json)
        }
        Command::Stability(a) => {
            let exp = Experiment::from_file(&a.config)?;
            let reports = crate::experiment::stability::stability_study(
                &exp,
                &crate::experiment::stability::StabilityOptions {
                    theta_file: a.theta.clone(),
                    after_run: a.after_run,
                },
            )?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                print_stability(&reports);
            }
            Ok(())
        }
        Command::Compare(a) => {
            let cfg = crate::compare::CompareConfig::from_file(&a.config)?;
            let report = crate::compare::run_compare(&cfg)?;
            let files = crate::compare::write_report(&cfg.out_dir, &report)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", crate::compare::format_report(&report));
                for f in files {
                    println!("wrote {}", f.display());
                }
            }
            Ok(())
        }
    }
}

fn print_stability(reports: &[crate::dynamics::stability::StabilityReport]) {
    if let Some(r) = reports.first() {
        println!(
            "mean-square linear stability of SGD (B = {}, sampling {:?}), ρ at η₁ = {}",
            r.batch_size, r.sampling, r.lr
        );
    }
    println!(
        "{:<34} {:>9} {:>10} {:>10} {:>10} {:>12} {:>12} {:>5} {:>12} {:>12}",
        "point",
        "‖θ‖",
        "tr G",
        "λ_max(G)",
        "2/λ_max",
        "max‖∇f_i‖²",
        "2/max‖∇f_i‖²",
        "rank",
        "ρ(η₁)",
        "η*"
    );
    for r in reports {
        println!(
            "{:<34} {:>9.4} {:>10.4} {:>10.4} {:>10.4e} {:>12.4} {:>12.4e} {:>5} {:>12.6} {:>12.4e}",
            r.point,
            r.norm,
            r.trace_g,
            r.lambda_max,
            r.full_batch_lr,
            r.max_grad_sq,
            r.per_sample_lr,
            r.rank,
            r.rho,
            r.critical_lr
        );
    }
}

fn figures(a: &FiguresArgs) -> Result<()> {
    let only = a
        .only
        .iter()
        .map(|s| s.parse::<crate::figures::FigureId>())
        .collect::<Result<Vec<_>, _>>()?;
    let opts = crate::figures::FigureOptions {
        out_dir: a.out.clone().unwrap_or_else(|| {
            PathBuf::from(if a.quick {
                "out/figures-quick"
            } else {
                "figures"
            })
        }),
        quick: a.quick,
        only,
        f5_extra_csv: a.f5_extra_csv.clone(),
        f6_csv: a.f6_csv.clone(),
        f1_plane: match a.f1_filter_normalized {
            Some(seed) => crate::figures::LandscapePlane::FilterNormalized { seed },
            None => crate::figures::LandscapePlane::ThroughEnds,
        },
        experiment: match &a.config {
            Some(p) => Some(ExperimentConfig::from_file(p)?),
            None => None,
        },
    };
    let start = std::time::Instant::now();
    let reports = crate::figures::generate(&opts)?;
    for r in &reports {
        println!("{} ({:.1} s)", r.id, r.seconds);
        for n in &r.notes {
            println!("  {n}");
        }
        for f in &r.files {
            println!("  wrote {}", f.display());
        }
    }
    println!(
        "figures done in {:.1} s{}",
        start.elapsed().as_secs_f64(),
        if a.quick { " (quick)" } else { "" }
    );
    Ok(())
}

fn weak_orders(a: &WeakOrdersArgs) -> Result<()> {
    use crate::moments::weak_order::{run_weak_order, write_f6_csv, WeakOrderConfig};
    let cfg: WeakOrderConfig = match &a.config {
        None => WeakOrderConfig::default(),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("invalid config {}", p.display()))?
        }
    };
    let report = run_weak_order(&cfg)?;
    if let Some(p) = &a.csv {
        write_f6_csv(&report, p)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "weak error of E‖θ‖² at T = {} (Linear model, d = {}, n = {}, σ = {}, B = {}), η = 2^-{} … 2^-{}",
        cfg.horizon,
        cfg.data.d,
        cfg.data.n,
        cfg.label_noise_sigma,
        cfg.batch_size,
        cfg.eta_exponent_min,
        cfg.eta_exponent_max
    );
    println!(
        "{:>14} {:>6} {:>22} {:>44}",
        "method", "bits", "fitted order [95% CI]", "leading coefficient C (Richardson)"
    );
    for f in &report.fits {
        let coef = report
            .coefficients
            .iter()
            .find(|c| {
                c.method == f.method && c.precision_bits == f.precision_bits && f.scalar == "mpfr"
            })
            .map_or(String::from("—"), |c| c.digits.clone());
        println!(
            "{:>14} {:>6} {:.13} [{:.12}, {:.12}] {:>44}",
            format!("{:?}", f.method),
            f.precision_bits,
            f.order,
            f.order_ci.0,
            f.order_ci.1,
            coef
        );
    }
    for b in &report.f64_breakdown {
        match b.exponent {
            Some(j) => println!(
                "f64 departs from MPFR by > 10% for {:?} from η = 2^-{j} on (f64 error floor {:.2e})",
                b.method, b.f64_error_floor
            ),
            None => println!("f64 agrees with MPFR within 10% for {:?} over the whole sweep", b.method),
        }
    }
    Ok(())
}

/// Run the claims, print the table (or JSON), fail if any claim fails.
fn run_verify(cfg: &ExperimentConfig, mode: crate::claims::Mode, json: bool) -> Result<()> {
    let report = crate::claims::verify_config(cfg, mode)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    if !report.all_passed() {
        bail!("claims failed: {}", report.failed_ids().join(", "));
    }
    Ok(())
}

fn reproduce(a: &ReproduceArgs) -> Result<()> {
    let mut cfg = ExperimentConfig::default_late_decay();
    if a.quick {
        cfg.run.seeds = crate::experiment::Seeds::Range { first: 1, count: 4 };
    }
    let out = a.out.join(if a.quick { "sweep-quick" } else { "sweep" });
    let report = run_sweep(
        &Experiment::new(cfg.clone())?,
        &SweepOptions {
            out_dir: Some(out.clone()),
            resume: true,
            shard: None,
        },
    )?;
    if !a.json {
        println!("{}", cfg.name);
        print_sweep(&report);
        println!("results: {}", out.display());
        println!();
    }
    let mode = if a.full {
        crate::claims::Mode::Full
    } else {
        crate::claims::Mode::Quick
    };
    let claims = crate::claims::verify(mode);
    if !a.json {
        print!("{}", claims.to_table());
        println!();
    }
    // Every figure, with the quick settings when --quick is given.
    let figures_dir = a.figures.clone().unwrap_or_else(|| {
        if a.quick {
            a.out.join("figures-quick")
        } else {
            PathBuf::from("figures")
        }
    });
    let mut figure_files = Vec::new();
    if !a.no_figures {
        let opts = crate::figures::FigureOptions {
            out_dir: figures_dir.clone(),
            quick: a.quick,
            ..Default::default()
        };
        let start = std::time::Instant::now();
        for r in crate::figures::generate(&opts)? {
            if !a.json {
                println!("{} ({:.1} s)", r.id, r.seconds);
                for n in &r.notes {
                    println!("  {n}");
                }
            }
            figure_files.extend(r.files);
        }
        if !a.json {
            println!(
                "figures: {} files in {} ({:.1} s)",
                figure_files.len(),
                figures_dir.display(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    if a.json {
        let value = serde_json::json!({
            "sweep": sweep_json(&report),
            "claims": claims,
            "figures": figure_files,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    if !claims.all_passed() {
        bail!("claims failed: {}", claims.failed_ids().join(", "));
    }
    Ok(())
}

/// "k of N jobs diverged": an error unless divergence is allowed.
fn check_sweep_divergence(report: &SweepReport, allow: bool) -> Result<()> {
    let diverged: Vec<&crate::experiment::sweep::JobResult> = report
        .jobs
        .iter()
        .filter(|j| j.summary.stop != crate::dynamics::sgd::StopReason::Completed)
        .collect();
    let Some(first) = diverged.first() else {
        return Ok(());
    };
    let msg = format!(
        "{} of {} jobs diverged (first: lr = {}, decay_step = {}, seed = {}: {}); they are marked completed = false in results.csv",
        diverged.len(),
        report.jobs.len(),
        first.key.lr,
        first.key.decay_step,
        first.key.seed,
        match &first.summary.stop {
            crate::dynamics::sgd::StopReason::Diverged(d) => d.to_string(),
            crate::dynamics::sgd::StopReason::Completed => String::new(),
        }
    );
    if allow {
        eprintln!("warning: {msg}");
        Ok(())
    } else {
        bail!("{msg}; pass --allow-divergence to exit 0")
    }
}

/// JSON form of a sweep (without trajectories).
pub fn sweep_json(report: &SweepReport) -> serde_json::Value {
    serde_json::json!({
        "name": report.name,
        "reference": report.reference,
        "cells": report.cells,
        "jobs": report.jobs.iter().map(|j| serde_json::json!({
            "lr": j.key.lr, "decay_step": j.key.decay_step, "seed": j.key.seed,
            "summary": j.summary,
        })).collect::<Vec<_>>(),
        "computed": report.computed,
    })
}

/// Print the sweep table.
pub fn print_sweep(report: &SweepReport) {
    let r = &report.reference;
    if r.minnorm_norm.is_nan() {
        println!("reference: none (the model has no closed-form θ_mn; distances are NaN, the test loss is the held-out ½·mean squared error)");
    } else {
        println!(
        "reference: ‖θ_mn‖ = {:.4}, R(β_mn) = {:.3e}, R(0) = {:.3e}, optimum = {:.3e}, certificate {}",
        r.minnorm_norm,
        r.minnorm_test_loss,
        r.null_risk,
        r.optimal_risk,
        if r.minnorm_certificate_ok { "ok" } else { "FAILED" }
    );
    }
    println!(
        "{:>8} {:>10} {:>5} {:>18} {:>22} {:>18}",
        "lr", "decay_step", "seeds", "‖θ‖ (mean ± sd)", "test loss (mean ± sd)", "‖θ−θ_mn‖/‖θ_mn‖"
    );
    for c in &report.cells {
        let a = &c.aggregate;
        println!(
            "{:>8} {:>10} {:>5} {:>10.4} ± {:<6.4} {:>11.3e} ± {:<9.2e} {:>9.4} ± {:<6.4}",
            c.lr,
            c.decay_step,
            a.seeds,
            a.norm,
            a.norm_sd,
            a.test_loss,
            a.test_loss_sd,
            a.rel_dist_minnorm,
            a.rel_dist_minnorm_sd
        );
    }
    for c in report
        .cells
        .iter()
        .filter(|c| c.aggregate.test_error.is_finite())
    {
        println!(
            "lr {} decay_step {}: held-out classification error {:.4} ± {:.4} ({} seeds)",
            c.lr,
            c.decay_step,
            c.aggregate.test_error,
            c.aggregate.test_error_sd,
            c.aggregate.seeds
        );
    }
    for c in report.cells.iter().filter(|c| c.aggregate.diverged > 0) {
        println!(
            "lr {} decay_step {}: {} of {} seeds diverged (means over the others)",
            c.lr,
            c.decay_step,
            c.aggregate.diverged,
            c.aggregate.diverged + c.aggregate.seeds
        );
    }
    println!(
        "({} jobs computed now, {} resumed)",
        report.computed,
        report.jobs.len() - report.computed
    );
    if report.duplicate_lines > 0 {
        println!(
            "({} repeated unit lines in results.jsonl were counted once)",
            report.duplicate_lines
        );
    }
}

fn print_run(report: &RunReport) {
    println!(
        "{} — model {}, {} bits, {} steps per seed",
        report.name, report.model, report.precision_bits, report.steps
    );
    if report.model == crate::model::ModelKind::Mlp {
        println!("reference: none (the Mlp has no closed-form θ_mn; distances are NaN, the test loss is the held-out ½·mean squared error)");
    } else if !report.reference_computed {
        println!("reference: θ_mn not computed ([run] reference = false): no ‖θ_mn‖, R(β_mn) or distances to θ_mn");
    } else {
        println!(
            "reference: ‖θ_mn‖ = {:.6}, R(β_mn) = {:.3e}, R(0) = {:.3e}",
            report.reference.minnorm_norm,
            report.reference.minnorm_test_loss,
            report.reference.null_risk
        );
    }
    // Without θ_mn the two distance columns are left out (not printed as NaN).
    let distances = |d: f64, rel: f64| match report.reference_computed {
        true => format!(" {d:>12.4e} {rel:>12.4e}"),
        false => String::new(),
    };
    println!(
        "{:>6} {:>12} {:>12} {:>12}{}",
        "seed",
        "‖θ‖",
        "test loss",
        "train loss",
        match report.reference_computed {
            true => format!(" {:>12} {:>12}", "‖θ−θ_mn‖", "relative"),
            false => String::new(),
        }
    );
    for s in &report.per_seed {
        match &s.stop {
            crate::dynamics::sgd::StopReason::Completed => println!(
                "{:>6} {:>12.6} {:>12.4e} {:>12.4e}{}",
                s.seed,
                s.norm,
                s.test_loss,
                s.train_loss,
                distances(s.dist_minnorm, s.rel_dist_minnorm)
            ),
            crate::dynamics::sgd::StopReason::Diverged(d) => println!(
                "{:>6} diverged at step {} (learning rate {}): {} became {}",
                s.seed, d.step, d.lr, d.quantity, d.value
            ),
        }
    }
    let m = &report.mean;
    println!(
        "{:>6} {:>12.6} {:>12.4e} {:>12.4e}{}",
        "mean",
        m.norm,
        m.test_loss,
        m.train_loss,
        distances(m.dist_minnorm, m.rel_dist_minnorm)
    );
    if m.test_error.is_finite() {
        let per: Vec<String> = report
            .per_seed
            .iter()
            .map(|s| format!("{:.4}", s.test_error))
            .collect();
        println!(
            "held-out classification error (±1 targets, sign of f): mean {:.4} ± {:.4}; per seed {}",
            m.test_error,
            m.test_error_sd,
            per.join(", ")
        );
    }
    if m.diverged > 0 {
        println!(
            "{} of {} seeds diverged (the mean is over the {} that completed)",
            m.diverged,
            m.diverged + m.seeds,
            m.seeds
        );
    }
}

fn write_trajectory(
    dir: &std::path::Path,
    seed: u64,
    records: &[crate::probe::Record],
) -> Result<()> {
    crate::io::write_rows(dir.join(format!("trajectory_seed{seed}.csv")), records)?;
    Ok(())
}

fn minnorm(a: &MinnormArgs) -> Result<()> {
    let precision = Precision::new(a.precision).context("--precision")?;
    let data = Dataset::from_config(&DataConfig::Csv(CsvConfig {
        x: a.x.clone(),
        y: a.y.clone(),
        beta_star: a.beta_star.clone(),
        spectrum: Spectrum::Identity,
        target_noise_sigma: 0.0,
        normalize_columns: a.normalize_columns,
        ..CsvConfig::new(a.x.clone(), a.y.clone())
    }))?;
    data.require_overparameterized()?;
    let (summary, test_loss) = if precision.bits() == 53 {
        minnorm_in::<f64>(a, &data, ())?
    } else {
        minnorm_in::<Mpfr>(a, &data, precision.bits())?
    };
    if a.json {
        let mut value = serde_json::to_value(&summary)?;
        if let Some(t) = test_loss {
            value["test_loss"] = serde_json::json!(t);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_minnorm(a, &summary, test_loss)?;
    }
    if !summary.interpolant.certificate_ok {
        let why = summary
            .interpolant
            .certificate_failure
            .as_deref()
            .unwrap_or("unknown condition");
        bail!("certificate FAILED: {why}");
    }
    Ok(())
}

/// A value as the JSON output writes it.
fn json_text<T: Serialize + ?Sized>(v: &T) -> String {
    // f64 (NaN → null), usize lists: serde_json cannot fail on these.
    serde_json::to_string(v).unwrap_or_default()
}

/// The text report of `minnorm`. Values print as in the JSON output (NaN as
/// `null`, lists as `[1,5]`), so both views show the same numbers.
fn print_minnorm(a: &MinnormArgs, s: &InterpolantSummary, test_loss: Option<f64>) -> Result<()> {
    let i = &s.interpolant;
    println!(
        "{} interpolant, model {}, {} bits",
        if a.flattest {
            "flattest"
        } else {
            "minimum-norm"
        },
        a.model,
        a.precision
    );
    if s.norm_digits.is_empty() {
        println!("‖θ‖        ≈ {} (no digit certified)", json_text(&i.norm));
    } else {
        println!(
            "‖θ‖        = {} ({} certified digits, error ≤ {})",
            s.norm_digits,
            s.certified_digits,
            json_text(&i.norm_error_bound)
        );
    }
    println!("objective  = {}", json_text(&i.objective));
    println!(
        "residual   = {} (backward error {})",
        json_text(&i.residual_norm),
        json_text(&i.backward_error)
    );
    println!(
        "support    = {} ({} entries; f64 LP: {}, {} simplex pivots in the working precision)",
        json_text(&i.support),
        i.support.len(),
        i.lp_support.len(),
        i.simplex_pivots
    );
    println!(
        "certificate: {} (support violation {}, complementarity margin {})",
        if i.certificate_ok { "ok" } else { "FAILED" },
        json_text(&i.support_violation),
        json_text(&i.complementarity_margin)
    );
    if let Some(why) = &i.certificate_failure {
        println!("failed condition: {why}");
    }
    if let Some(t) = test_loss {
        println!("test loss  = {}", json_text(&t));
    }
    println!("β (nonzero entries):");
    for &k in &i.support {
        println!("  β[{k}] = {}", json_text(&i.beta[k]));
    }
    Ok(())
}

fn minnorm_in<R: Real>(
    a: &MinnormArgs,
    data: &Dataset<f64>,
    ctx: R::Ctx,
) -> Result<(InterpolantSummary, Option<f64>)> {
    let data_r = data.convert::<R>(ctx);
    let interp: Interpolant<R> = if a.flattest {
        flattest_interpolant(a.model, &data_r)?
    } else {
        min_norm_interpolant(a.model, &data_r)?
    };
    let test_loss = data_r.test_loss(&interp.beta).map(|t| t.to_f64());
    Ok((interp.summary(a.model), test_loss))
}
