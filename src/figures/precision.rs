//! F7: the same SGD run (same seed, same noise path) in f64 and in MPFR; the
//! relative divergence ‖θ_f64 − θ_mpfr‖/‖θ_mpfr‖ versus step, with the "trusted
//! horizon" (first checkpoint where it exceeds a threshold).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{with_ext, FigureError};
use crate::data::Dataset;
use crate::dynamics::sgd::{run_sgd, Probe, Record, RecordPlan, Sgd, SgdState, StopReason};
use crate::experiment::run::initial_theta;
use crate::experiment::ExperimentConfig;
use crate::model::{Diagonal, Problem};
use crate::plot::{write_csv, AxisScale, LineChart, RefLine, Series};
use crate::scalar::{Mpfr, Real};
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
}

impl PrecisionParams {
    /// Default: the default late-decay instance, η ∈ {η₂, η₁} = {0.0004, 0.004}
    /// and a larger 0.008, 500k steps (quick: 20k), 256 bits, threshold 1e-3.
    pub fn new(quick: bool) -> Self {
        Self {
            cfg: ExperimentConfig::default_late_decay(),
            lrs: vec![0.0004, 0.004, 0.008],
            steps: if quick { 20_000 } else { 500_000 },
            checkpoints: if quick { 25 } else { 60 },
            bits: 256,
            seed: 1,
            threshold: 1e-3,
        }
    }
}

/// Divergence of one learning rate.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionDivergence {
    /// Learning rate.
    pub lr: f64,
    /// Checkpoint steps.
    pub steps: Vec<u64>,
    /// ‖θ_f64 − θ_mpfr‖/‖θ_mpfr‖ at the checkpoints (computed in MPFR).
    pub rel_diff: Vec<f64>,
    /// First checkpoint where `rel_diff` > threshold (None: never).
    pub horizon: Option<u64>,
    /// The threshold.
    pub threshold: f64,
    /// Steps run (fewer than requested if a run diverged).
    pub steps_run: u64,
    /// MPFR precision.
    pub bits: u32,
    /// Whether a run stopped early (non-finite iterate).
    pub diverged: bool,
}

impl PrecisionDivergence {
    /// One-line summary.
    pub fn note(&self) -> String {
        let last = self.rel_diff.last().copied().unwrap_or(f64::NAN);
        let max = self.rel_diff.iter().copied().fold(0.0, f64::max);
        let stop = if self.diverged { " (run diverged)" } else { "" };
        match self.horizon {
            Some(h) => format!(
                "η = {}: f64 vs {}-bit MPFR relative divergence exceeds {:.0e} at step {h} (final {:.2e}){stop}",
                self.lr, self.bits, self.threshold, last
            ),
            None => format!(
                "η = {}: relative divergence stays below {:.0e} for all {} steps (max {:.2e}, final {:.2e}){stop}",
                self.lr, self.threshold, self.steps_run, max, last
            ),
        }
    }
}

/// A probe that measures nothing (checkpoints are compared outside).
struct NullProbe;

impl<R: Real> Probe<R> for NullProbe {
    fn measure(&mut self, step: u64, lr: f64, sde_time: f64, flow_time: f64, _: &[R]) -> Record {
        Record {
            step,
            lr,
            sde_time,
            flow_time,
            train_loss: f64::NAN,
            test_loss: f64::NAN,
            norm: f64::NAN,
            beta_l1: f64::NAN,
            residual_norm: f64::NAN,
            dist_minnorm: f64::NAN,
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

/// Relative distance ‖a − b‖/‖b‖ computed in MPFR (a converted exactly).
fn rel_diff(a: &[f64], b: &[Mpfr]) -> f64 {
    let bits = b[0].precision_bits();
    let mut num = Mpfr::zero(bits);
    let mut den = Mpfr::zero(bits);
    let mut diff = Mpfr::zero(bits);
    for (x, y) in a.iter().zip(b) {
        diff.set_f64(*x);
        diff -= y;
        num.add_mul(&diff, &diff);
        den.add_mul(y, y);
    }
    num /= &den;
    num.sqrt_mut();
    num.to_f64()
}

/// Run each learning rate in f64 and MPFR in lock-step and compare.
pub fn precision_divergence(p: &PrecisionParams) -> Result<Vec<PrecisionDivergence>, FigureError> {
    if p.steps == 0 {
        return Err(FigureError::Input(
            "steps = 0: need at least one step".into(),
        ));
    }
    crate::scalar::Precision::new(p.bits)
        .map_err(|e| FigureError::Input(format!("bits = {}: {e}", p.bits)))?;
    let data64 = Dataset::from_config(&p.cfg.data)?;
    let d = data64.d();
    let p64 = Problem::new(Diagonal::new(d), data64.clone());
    let pmp = Problem::new(Diagonal::new(d), data64.convert::<Mpfr>(p.bits));
    let checkpoints = log_checkpoints(p.steps, p.checkpoints);
    p.lrs
        .par_iter()
        .map(|&lr| {
            let method = Sgd {
                schedule: Schedule::constant(lr)?,
                ..p.cfg.sgd.clone()
            };
            method.validate(p64.n())?;
            let t64: Vec<f64> = initial_theta(&p.cfg.init, 2 * d, p.seed, ());
            let tmp: Vec<Mpfr> = initial_theta(&p.cfg.init, 2 * d, p.seed, p.bits);
            let mut s64 = SgdState::new(t64, p.seed, p64.n(), &method);
            let mut smp = SgdState::new(tmp, p.seed, pmp.n(), &method);
            let (mut steps, mut diffs) = (vec![], vec![]);
            let mut diverged = false;
            for &c in &checkpoints {
                let k = c - s64.step;
                let a = run_sgd(
                    &p64,
                    &method,
                    &mut s64,
                    k,
                    RecordPlan::FinalOnly,
                    &mut NullProbe,
                    |_| {},
                );
                let b = run_sgd(
                    &pmp,
                    &method,
                    &mut smp,
                    k,
                    RecordPlan::FinalOnly,
                    &mut NullProbe,
                    |_| {},
                );
                if a.stop != StopReason::Completed || b.stop != StopReason::Completed {
                    diverged = true;
                    break;
                }
                steps.push(c);
                diffs.push(rel_diff(&s64.theta, &smp.theta));
            }
            let horizon = steps
                .iter()
                .zip(&diffs)
                .find(|(_, &v)| v > p.threshold || !v.is_finite())
                .map(|(&s, _)| s);
            Ok(PrecisionDivergence {
                diverged,
                lr,
                steps_run: s64.step,
                steps,
                rel_diff: diffs,
                horizon,
                threshold: p.threshold,
                bits: p.bits,
            })
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
            Series::new(
                format!("η = {}", d.lr),
                d.steps.iter().map(|&s| s as f64).collect(),
                d.rel_diff.clone(),
            )
            .with_color(i)
        })
        .collect();
    let annotations = data
        .iter()
        .map(|d| match d.horizon {
            Some(h) => format!("η = {}: trusted up to step {h}", d.lr),
            None => format!(
                "η = {}: max {:.1e}, < {:.0e} for all {} steps",
                d.lr,
                d.rel_diff.iter().copied().fold(0.0, f64::max),
                d.threshold,
                d.steps_run
            ),
        })
        .collect();
    let chart = LineChart {
        title: format!("f64 vs {bits}-bit MPFR: same seed, same noise path"),
        x_label: "step k".into(),
        y_label: "‖θ_f64 − θ_mpfr‖ / ‖θ_mpfr‖".into(),
        x_scale: AxisScale::Log10,
        y_scale: AxisScale::Log10,
        series,
        ref_lines: vec![RefLine::new(
            format!("trust threshold {threshold:.0e}"),
            threshold,
            true,
        )],
        annotations,
    };
    let mut files = chart.render(stem)?;
    let mut cols: [Vec<f64>; 3] = Default::default();
    for d in data {
        for (s, v) in d.steps.iter().zip(&d.rel_diff) {
            cols[0].push(*s as f64);
            cols[1].push(d.lr);
            cols[2].push(*v);
        }
    }
    let path = with_ext(stem, "csv");
    write_csv(&path, &["step", "lr", "rel_diff"], &cols)?;
    files.push(path);
    Ok(files)
}
