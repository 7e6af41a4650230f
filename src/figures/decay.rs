//! F3 (‖θ_k‖ vs k for several decay steps) and F4 (final test loss vs decay
//! step) from one sweep of the default late-decay experiment.

use std::path::{Path, PathBuf};

use super::{finite_mean, fmt_label, quantile, with_ext, FigureError};
use crate::dynamics::sgd::RecordPlan;
use crate::experiment::run::ReferenceValues;
use crate::experiment::{
    run_units, BranchRun, DecayGrid, Experiment, ExperimentConfig, Prepared, UnitPlan,
};
use crate::io::write_columns;
use crate::plot::{Axes, AxisScale, LineChart, LineKind, RefLine, Series};

/// Settings of the decay sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct DecaySweepParams {
    /// The experiment (default: `ExperimentConfig::default_late_decay()`).
    pub cfg: ExperimentConfig,
    /// Decay steps T of the sweep (F4).
    pub decay_steps: Vec<u64>,
    /// Decay steps whose ‖θ_k‖ curves F3 shows (a subset of `decay_steps`).
    pub curve_decay_steps: Vec<u64>,
    /// Steps after the decay.
    pub steps_after: u64,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Log-spaced record points per run.
    pub record_points: u32,
}

impl DecaySweepParams {
    /// Default: 16 seeds (quick: 4), T ∈ {0, 50k, 100k, 200k, 400k, 800k, 1.6M}
    /// (quick: up to 400k), 40k steps after the decay.
    pub fn new(quick: bool) -> Self {
        let cfg = ExperimentConfig::default_late_decay();
        let (decay_steps, curve_decay_steps) = if quick {
            (
                vec![0, 25_000, 50_000, 100_000, 200_000, 400_000],
                vec![0, 25_000, 100_000, 400_000],
            )
        } else {
            (
                vec![0, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000],
                vec![0, 50_000, 200_000, 800_000, 1_600_000],
            )
        };
        Self {
            cfg,
            decay_steps,
            curve_decay_steps,
            steps_after: 40_000,
            seeds: (1..=if quick { 4 } else { 16 }).collect(),
            record_points: 160,
        }
    }
}

/// ‖θ_k‖ over seeds for one decay step.
#[derive(Debug, Clone, PartialEq)]
pub struct NormCurves {
    /// Decay step T.
    pub decay_step: u64,
    /// Recorded steps (the same for every seed).
    pub steps: Vec<u64>,
    /// `norms[seed][i]` = ‖θ_{steps\[i\]}‖.
    pub norms: Vec<Vec<f64>>,
}

/// Results of the decay sweep (F3 and F4).
#[derive(Debug, Clone)]
pub struct DecaySweep {
    /// Settings.
    pub params: DecaySweepParams,
    /// Reference values (‖θ_mn‖, R(β_mn), optimum, R(0)).
    pub reference: ReferenceValues,
    /// F3 curves, one per `curve_decay_steps`.
    pub curves: Vec<NormCurves>,
    /// `final_test_loss[t][s]` for decay step t, seed s.
    pub final_test_loss: Vec<Vec<f64>>,
    /// `final_norm[t][s]`.
    pub final_norm: Vec<Vec<f64>>,
    /// `final_rel_dist[t][s]` = ‖θ − θ_mn‖/‖θ_mn‖.
    pub final_rel_dist: Vec<Vec<f64>>,
}

/// Run the sweep on the decay-study engine (one trunk per seed, a branch per
/// decay step; seeds in parallel, deterministic per seed).
pub fn decay_sweep(p: &DecaySweepParams) -> Result<DecaySweep, FigureError> {
    if p.seeds.is_empty() {
        return Err(FigureError::Input(
            "seeds = []: need at least one seed".into(),
        ));
    }
    if let Some(t) = p
        .curve_decay_steps
        .iter()
        .find(|t| !p.decay_steps.contains(t))
    {
        return Err(FigureError::Input(format!(
            "curve_decay_steps contains {t}, which is not in decay_steps"
        )));
    }
    let grid = DecayGrid::new(p.decay_steps.clone(), p.steps_after).ok_or_else(|| {
        FigureError::Input(format!(
            "decay_steps = {:?}: need at least one and no duplicates",
            p.decay_steps
        ))
    })?;
    let (lr, lr_after) = lrs(&p.cfg);
    if !lr.is_finite() {
        return Err(FigureError::Input(format!(
            "sgd.schedule = {:?}: F3/F4 need kind = \"step_decay\"",
            p.cfg.sgd.schedule
        )));
    }
    let prepared = Prepared::<f64>::new(&Experiment::new(p.cfg.clone())?, ())?;
    let reference = prepared.reference();
    let units: Vec<UnitPlan> = p
        .seeds
        .iter()
        .map(|&seed| UnitPlan { lr, lr_after, seed })
        .collect();
    let plan = RecordPlan::LogSpaced {
        points: p.record_points,
    };
    let by_seed: Vec<Vec<BranchRun<f64>>> = run_units(
        &prepared,
        &p.cfg.init,
        &p.cfg.sgd,
        &grid,
        &units,
        plan,
        (),
        &|_| {},
        |_, branches| {
            for b in &branches {
                b.stop.clone().into_result()?;
            }
            Ok::<_, FigureError>(branches)
        },
    )?;
    // Results by decay step in the order of `p.decay_steps`.
    let nt = p.decay_steps.len();
    let ns = p.seeds.len();
    let mut final_test_loss = vec![vec![f64::NAN; ns]; nt];
    let mut final_norm = vec![vec![f64::NAN; ns]; nt];
    let mut final_rel_dist = vec![vec![f64::NAN; ns]; nt];
    let mut curves: Vec<NormCurves> = p
        .curve_decay_steps
        .iter()
        .map(|&t| NormCurves {
            decay_step: t,
            steps: vec![],
            norms: vec![],
        })
        .collect();
    for (t, &decay) in p.decay_steps.iter().enumerate() {
        for (s, branches) in by_seed.iter().enumerate() {
            let b = branches
                .iter()
                .find(|b| b.decay_step == decay)
                .expect("a branch per decay step");
            let last = b.records.last().expect("final record");
            final_test_loss[t][s] = last.test_loss;
            final_norm[t][s] = last.norm;
            final_rel_dist[t][s] = last.dist_minnorm / reference.minnorm_norm;
            if let Some(c) = curves.iter_mut().find(|c| c.decay_step == decay) {
                c.steps = b.records.iter().map(|r| r.step).collect();
                c.norms.push(b.records.iter().map(|r| r.norm).collect());
            }
        }
    }
    Ok(DecaySweep {
        params: p.clone(),
        reference,
        curves,
        final_test_loss,
        final_norm,
        final_rel_dist,
    })
}

fn t_label(t: u64) -> String {
    if t >= 1_000_000 && t.is_multiple_of(100_000) {
        format!("{}M", t as f64 / 1e6)
    } else if t >= 1000 && t.is_multiple_of(1000) {
        format!("{}k", t / 1000)
    } else {
        t.to_string()
    }
}

fn lrs(cfg: &ExperimentConfig) -> (f64, f64) {
    match cfg.sgd.schedule {
        crate::schedule::Schedule::StepDecay { lr, lr_after, .. } => (lr, lr_after),
        _ => (f64::NAN, f64::NAN),
    }
}

impl DecaySweep {
    /// Mean final ‖θ‖ per decay step.
    pub fn mean_final_norm(&self) -> Vec<f64> {
        self.final_norm.iter().map(|v| finite_mean(v)).collect()
    }
    /// Mean final test loss per decay step.
    pub fn mean_final_test_loss(&self) -> Vec<f64> {
        self.final_test_loss
            .iter()
            .map(|v| finite_mean(v))
            .collect()
    }
    /// Key numbers of F3.
    pub fn norm_notes(&self) -> Vec<String> {
        let mut v = vec![format!(
            "‖θ_mn‖ = {}; {} seeds",
            fmt_label(self.reference.minnorm_norm),
            self.params.seeds.len()
        )];
        for (i, &t) in self.params.decay_steps.iter().enumerate() {
            v.push(format!(
                "T = {:>7}: final ‖θ‖ mean {} (10–90%: {} – {}), ‖θ−θ_mn‖/‖θ_mn‖ mean {}",
                t_label(t),
                fmt_label(finite_mean(&self.final_norm[i])),
                fmt_label(quantile(&self.final_norm[i], 0.1)),
                fmt_label(quantile(&self.final_norm[i], 0.9)),
                fmt_label(finite_mean(&self.final_rel_dist[i]))
            ));
        }
        v
    }
    /// Key numbers of F4.
    pub fn test_loss_notes(&self) -> Vec<String> {
        let r = &self.reference;
        let mut v = vec![format!(
            "R(β_mn) = {:.3e}, optimum ½σ_ε² = {:.3e}, R(0) = {}",
            r.minnorm_test_loss,
            r.optimal_risk,
            fmt_label(r.null_risk)
        )];
        for (i, &t) in self.params.decay_steps.iter().enumerate() {
            v.push(format!(
                "T = {:>7}: final test loss mean {:.3e} (median {:.3e})",
                t_label(t),
                finite_mean(&self.final_test_loss[i]),
                quantile(&self.final_test_loss[i], 0.5)
            ));
        }
        v
    }
}

fn data_desc(cfg: &ExperimentConfig) -> String {
    let model = match cfg.model {
        crate::model::ModelKind::Diagonal => "Diagonal network",
        crate::model::ModelKind::Linear => "Linear model",
        crate::model::ModelKind::Mlp => "Mlp",
    };
    match &cfg.data {
        crate::data::DataConfig::Synthetic(s) => format!("{model}, d = {}, n = {}", s.d, s.n),
        crate::data::DataConfig::Csv(c) => format!("{model}, data {}", c.x.display()),
        crate::data::DataConfig::Digits(g) => {
            format!("{model}, UCI digits ({:?}, n = {})", g.task, g.n_train)
        }
    }
}

/// Render F3: mean ‖θ_k‖ with a 10–90% band over seeds, one curve per decay
/// step, log-scaled step axis, ‖θ_mn‖ as a reference line.
pub fn render_norm_vs_step(sweep: &DecaySweep, stem: &Path) -> Result<Vec<PathBuf>, FigureError> {
    let (lr, lr_after) = lrs(&sweep.params.cfg);
    let mut series = Vec::new();
    let mut csv: [Vec<f64>; 5] = Default::default();
    for (i, c) in sweep.curves.iter().enumerate() {
        let k = c.steps.len();
        let at = |j: usize| -> Vec<f64> { c.norms.iter().map(|n| n[j]).collect() };
        let mean: Vec<f64> = (0..k).map(|j| finite_mean(&at(j))).collect();
        let lo: Vec<f64> = (0..k).map(|j| quantile(&at(j), 0.1)).collect();
        let hi: Vec<f64> = (0..k).map(|j| quantile(&at(j), 0.9)).collect();
        let xs: Vec<f64> = c.steps.iter().map(|&s| s as f64).collect();
        for j in 0..k {
            csv[0].push(xs[j]);
            csv[1].push(c.decay_step as f64);
            csv[2].push(mean[j]);
            csv[3].push(lo[j]);
            csv[4].push(hi[j]);
        }
        series.push(
            Series::new(format!("T = {}", t_label(c.decay_step)), xs, mean)
                .with_band(lo, hi)
                .with_color(i),
        );
    }
    // Runs share their path until their decay step: draw the longest first so
    // that each shorter run's post-decay tail lies on top.
    series.reverse();
    let chart = LineChart {
        axes: Axes::new("Parameter norm vs step, step decay at T")
            .x("step k", AxisScale::Log10)
            .y("‖θ_k‖", AxisScale::Linear),
        series,
        ref_lines: vec![RefLine::new(
            format!("‖θ_mn‖ = {}", fmt_label(sweep.reference.minnorm_norm)),
            sweep.reference.minnorm_norm,
            true,
        )],
        annotations: vec![
            data_desc(&sweep.params.cfg),
            format!("η = {lr} for k < T, then {lr_after}"),
            format!(
                "label noise σ = {}, B = {}",
                sweep.params.cfg.sgd.label_noise_sigma, sweep.params.cfg.sgd.batch_size
            ),
            format!("mean, 10–90% band over {} seeds", sweep.params.seeds.len()),
        ],
    };
    let mut files = chart.render(stem)?;
    let path = with_ext(stem, "csv");
    write_columns(&path, &["step", "decay_step", "mean", "q10", "q90"], &csv)?;
    files.push(path);
    Ok(files)
}

/// Render F4: final test loss vs decay step (log y), mean with 10–90% band,
/// with R(β_mn), the optimum and R(0) as reference lines. Values below the
/// plotting floor (e.g. R(β_mn) ≈ 0 under exact recovery) are drawn at the
/// floor and their true value is given in the legend.
pub fn render_test_loss_vs_decay(
    sweep: &DecaySweep,
    stem: &Path,
) -> Result<Vec<PathBuf>, FigureError> {
    let (lr, lr_after) = lrs(&sweep.params.cfg);
    let ts: Vec<f64> = sweep.params.decay_steps.iter().map(|&t| t as f64).collect();
    let mean = sweep.mean_final_test_loss();
    let median: Vec<f64> = sweep
        .final_test_loss
        .iter()
        .map(|v| quantile(v, 0.5))
        .collect();
    let lo: Vec<f64> = sweep
        .final_test_loss
        .iter()
        .map(|v| quantile(v, 0.1))
        .collect();
    let hi: Vec<f64> = sweep
        .final_test_loss
        .iter()
        .map(|v| quantile(v, 0.9))
        .collect();
    let smallest = lo
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let floor = if smallest.is_finite() {
        10f64.powf((smallest.log10() - 1.0).floor())
    } else {
        1e-12
    };
    let r = &sweep.reference;
    let mut refs = vec![];
    let below = |v: f64| v < floor;
    if below(r.minnorm_test_loss) && below(r.optimal_risk) {
        refs.push(RefLine::new(
            format!(
                "R(β_mn) = {} = optimum (drawn at {:.0e})",
                fmt_label(r.minnorm_test_loss),
                floor
            ),
            floor,
            true,
        ));
    } else {
        let line = |name: &str, v: f64, dashed: bool| {
            if below(v) {
                RefLine::new(
                    format!("{name} = {v:.1e} (drawn at {floor:.0e})"),
                    floor,
                    dashed,
                )
            } else {
                RefLine::new(format!("{name} = {}", fmt_label(v)), v, dashed)
            }
        };
        refs.push(line("R(β_mn)", r.minnorm_test_loss, true));
        refs.push(line("optimum ½σ_ε²", r.optimal_risk, false));
    }
    refs.push(RefLine::new(
        format!("R(0) = {}", fmt_label(r.null_risk)),
        r.null_risk,
        false,
    ));
    let chart = LineChart {
        axes: Axes::new("Final test loss vs decay step T")
            .x("decay step T (×10³ steps)", AxisScale::Linear)
            .y("test loss R(β(θ)) after decay", AxisScale::Log10),
        series: vec![Series::new(
            "mean (band: 10–90%)",
            ts.iter().map(|t| t / 1e3).collect(),
            mean.clone(),
        )
        .with_band(lo.clone(), hi.clone())
        .with_kind(LineKind::LineAndMarkers)
        .with_color(0)],
        ref_lines: refs,
        annotations: vec![
            data_desc(&sweep.params.cfg),
            format!("η = {lr} → {lr_after} at T"),
            format!(
                "{} steps after decay, {} seeds",
                sweep.params.steps_after,
                sweep.params.seeds.len()
            ),
        ],
    };
    let mut files = chart.render(stem)?;
    let path = with_ext(stem, "csv");
    write_columns(
        &path,
        &["decay_step", "mean", "q10", "q90", "median"],
        &[ts, mean, lo, hi, median],
    )?;
    files.push(path);
    let refp = stem.with_file_name("F4_reference.csv");
    write_columns(
        &refp,
        &[
            "minnorm_norm",
            "minnorm_test_loss",
            "optimal_risk",
            "null_risk",
            "floor",
        ],
        &[
            vec![r.minnorm_norm],
            vec![r.minnorm_test_loss],
            vec![r.optimal_risk],
            vec![r.null_risk],
            vec![floor],
        ],
    )?;
    files.push(refp);
    Ok(files)
}
