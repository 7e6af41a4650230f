//! F7: the same SGD run (same seed, same noise path) in f64 and in MPFR; the
//! relative divergence ‖θ_f64 − θ_mpfr‖/‖θ_mpfr‖ versus step, with the "trusted
//! horizon" (first checkpoint where it exceeds a threshold).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{with_ext, FigureError};
use crate::compare::{lockstep_divergence, Lockstep};
use crate::data::{Dataset, SyntheticConfig};
use crate::dynamics::sgd::Sgd;
use crate::experiment::run::initial_theta;
use crate::experiment::{ExperimentConfig, Init};
use crate::io::write_columns;
use crate::model::Diagonal;
use crate::noise::Sampling;
use crate::plot::{Axes, AxisScale, LineChart, RefLine, Series};
use crate::schedule::Schedule;

/// F7 settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionParams {
    /// Data, init and SGD settings (the schedule is replaced by constant LRs).
    pub cfg: ExperimentConfig,
    /// Learning rates to compare (small and large).
    pub lrs: Vec<f64>,
    /// Steps per run.
    pub steps: u64,
    /// Log-spaced checkpoints.
    pub checkpoints: usize,
    /// MPFR precision in bits.
    pub bits: u32,
    /// Seed.
    pub seed: u64,
    /// Relative divergence that ends the trusted horizon.
    pub threshold: f64,
    /// A chaotic control: full-batch GD at the edge of stability.
    pub full_batch: Option<FullBatchCase>,
}

/// Full-batch gradient descent (B = n, σ = 0) on its own small instance.
#[derive(Debug, Clone, PartialEq)]
pub struct FullBatchCase {
    /// Data.
    pub data: SyntheticConfig,
    /// u = v = `init_scale`.
    pub init_scale: f64,
    /// Learning rate.
    pub lr: f64,
    /// Steps.
    pub steps: u64,
}

impl PrecisionParams {
    /// Default: the default late-decay instance, η ∈ {η₂, η₁} = {0.0004, 0.004}
    /// and a larger 0.008, 500k steps (quick: 20k), 256 bits, threshold 1e-3;
    /// plus full-batch GD at η = 1 from u = v = 0.5 on an n = 8, d = 20
    /// instance (data seed 15, the chaotic edge-of-stability instance of
    /// `configs/compare.toml`), 5000 steps (quick: 1000).
    pub fn new(quick: bool) -> Self {
        Self {
            cfg: ExperimentConfig::default_late_decay(),
            lrs: vec![0.0004, 0.004, 0.008],
            steps: if quick { 20_000 } else { 500_000 },
            checkpoints: if quick { 25 } else { 60 },
            bits: 256,
            seed: 1,
            threshold: 1e-3,
            full_batch: Some(FullBatchCase {
                data: SyntheticConfig {
                    n: 8,
                    d: 20,
                    normalize_columns: true,
                    seed: 15,
                    ..Default::default()
                },
                init_scale: 0.5,
                lr: 1.0,
                steps: if quick { 1000 } else { 5000 },
            }),
        }
    }
}

/// Divergence of one case (method and learning rate): the lock-step f64 vs
/// MPFR run and the threshold it is read against.
#[derive(Debug, PartialEq)]
pub struct PrecisionDivergence {
    /// Legend label (method, η).
    pub label: String,
    /// Learning rate.
    pub lr: f64,
    /// The threshold on the relative distance.
    pub threshold: f64,
    /// MPFR precision.
    pub bits: u32,
    /// Checkpoints, relative distances, steps run and the divergence, if any.
    pub run: Lockstep,
}

impl PrecisionDivergence {
    /// First checkpoint where the relative distance exceeds the threshold
    /// (None: never).
    pub fn horizon(&self) -> Option<u64> {
        self.run.trusted_horizon(self.threshold)
    }
    /// Largest relative distance over the checkpoints.
    fn max_rel_diff(&self) -> f64 {
        self.run
            .relative_distance
            .iter()
            .copied()
            .fold(0.0, f64::max)
    }
    /// One-line summary.
    pub fn note(&self) -> String {
        let last = self
            .run
            .relative_distance
            .last()
            .copied()
            .unwrap_or(f64::NAN);
        let stop = if self.run.divergence.is_some() {
            " (run diverged)"
        } else {
            ""
        };
        match self.horizon() {
            Some(h) => format!(
                "{}: f64 vs {}-bit MPFR relative divergence exceeds {:.0e} at step {h} (final {:.2e}){stop}",
                self.label, self.bits, self.threshold, last
            ),
            None => format!(
                "{}: relative divergence stays below {:.0e} for all {} steps (max {:.2e}, final {:.2e}){stop}",
                self.label, self.threshold, self.run.steps_run, self.max_rel_diff(), last
            ),
        }
    }
}

fn log_checkpoints(total: u64, count: usize) -> Vec<u64> {
    let mut v: Vec<u64> = (0..count)
        .map(|i| {
            ((total as f64).ln() * (i + 1) as f64 / count as f64)
                .exp()
                .round() as u64
        })
        .filter(|&s| s >= 1)
        .collect();
    v.push(total);
    v.sort_unstable();
    v.dedup();
    v
}

/// Run the same method from the same θ₀ and seed in f64 and MPFR in lock-step
/// and compare at log-spaced checkpoints (`compare::lockstep_divergence`).
#[allow(clippy::too_many_arguments)]
fn lockstep(
    label: String,
    data64: &Dataset<f64>,
    method: &Sgd,
    init: &Init,
    seed: u64,
    steps: u64,
    checkpoints: usize,
    bits: u32,
    threshold: f64,
) -> Result<PrecisionDivergence, FigureError> {
    let d = data64.d();
    method.validate(data64.n())?;
    let theta0: Vec<f64> = initial_theta(init, 2 * d, seed, ());
    let run = lockstep_divergence(
        Diagonal::new(d),
        data64,
        method,
        &theta0,
        seed,
        &log_checkpoints(steps, checkpoints),
        bits,
    );
    Ok(PrecisionDivergence {
        label,
        lr: method.schedule.lr(0),
        threshold,
        bits,
        run,
    })
}

/// Run each case in f64 and MPFR in lock-step and compare: label-noise SGD
/// at each of `lrs`, then full-batch GD (if `full_batch` is set).
pub fn precision_divergence(p: &PrecisionParams) -> Result<Vec<PrecisionDivergence>, FigureError> {
    if p.steps == 0 {
        return Err(FigureError::Input(
            "steps = 0: need at least one step".into(),
        ));
    }
    crate::scalar::Precision::new(p.bits)
        .map_err(|e| FigureError::Input(format!("bits = {}: {e}", p.bits)))?;
    let data64 = Dataset::from_config(&p.cfg.data)?;
    let mut cases: Vec<(String, Dataset<f64>, Sgd, Init, u64)> = vec![];
    for &lr in &p.lrs {
        let method = Sgd {
            schedule: Schedule::constant(lr)?,
            ..p.cfg.sgd.clone()
        };
        cases.push((
            format!("SGD η = {lr}"),
            data64.clone(),
            method,
            p.cfg.init.clone(),
            p.steps,
        ));
    }
    if let Some(fb) = &p.full_batch {
        let data = Dataset::synthetic(&fb.data)?;
        let method = Sgd {
            noise: Default::default(),
            batch_size: data.n(),
            label_noise_sigma: 0.0,
            sampling: Sampling::Shuffle,
            schedule: Schedule::constant(fb.lr)?,
        };
        cases.push((
            format!("full-batch GD η = {}", fb.lr),
            data,
            method,
            Init::uniform(fb.init_scale),
            fb.steps,
        ));
    }
    cases
        .par_iter()
        .map(|(label, data, method, init, steps)| {
            lockstep(
                label.clone(),
                data,
                method,
                init,
                p.seed,
                *steps,
                p.checkpoints,
                p.bits,
                p.threshold,
            )
        })
        .collect()
}

/// Render F7: log–log relative divergence vs step per learning rate, the
/// threshold as a reference line and the trusted horizons annotated.
pub fn render_precision_divergence(
    data: &[PrecisionDivergence],
    stem: &Path,
) -> Result<Vec<PathBuf>, FigureError> {
    let bits = data.first().map_or(256, |d| d.bits);
    let threshold = data.first().map_or(1e-3, |d| d.threshold);
    let series: Vec<Series> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let summary = match d.horizon() {
                Some(h) => format!("{}: > {:.0e} from k = {h}", d.label, d.threshold),
                None => format!("{}: max {:.0e}", d.label, d.max_rel_diff()),
            };
            Series::new(
                summary,
                d.run.steps.iter().map(|&s| s as f64).collect(),
                d.run.relative_distance.clone(),
            )
            .with_color(i)
        })
        .collect();
    let chart = LineChart {
        axes: Axes::new(format!(
            "f64 vs {bits}-bit MPFR (dashed: threshold {threshold:.0e})"
        ))
        .x("step k", AxisScale::Log10)
        .y("‖θ_f64 − θ_mpfr‖ / ‖θ_mpfr‖", AxisScale::Log10),
        series,
        ref_lines: vec![RefLine::new(String::new(), threshold, true)],
        annotations: vec![],
    };
    let mut files = chart.render(stem)?;
    let mut cols: [Vec<f64>; 4] = Default::default();
    for (i, d) in data.iter().enumerate() {
        for (s, v) in d.run.steps.iter().zip(&d.run.relative_distance) {
            cols[0].push(i as f64);
            cols[1].push(*s as f64);
            cols[2].push(d.lr);
            cols[3].push(*v);
        }
    }
    let path = with_ext(stem, "csv");
    write_columns(&path, &["case", "step", "lr", "rel_diff"], &cols)?;
    files.push(path);
    Ok(files)
}
