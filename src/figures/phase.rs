//! F8, the phase diagram of the late-decay thesis (`proofs/figures.md`, "F8"):
//! final ‖θ_K − θ_mn‖/‖θ_mn‖ after a fixed budget of K constant-LR steps,
//! over η₁ (multiples of the mean-square critical learning rate η*(θ₀), up to
//! and past the divergence edge) × label-noise σ ∈ [0, 2], mean over seeds.
//!
//! Drawn over it: the stability edge η*(θ₀) (`dynamics::stability`; label
//! noise is additive, so η* does not depend on σ) and the slow-flow
//! prediction of where the budget suffices, K = τ₅%(σ)/η² ⇔ η = √(τ₅%(σ)/K).
//! The slow flow dζ/dτ = −(σ²/4B)·P∇tr G runs σ² times faster for noise σ, so
//! τ₅%(σ) = τ₅%(1)/σ² exactly: one flow integration (`claims::flow`, σ = 1)
//! gives the whole curve η(σ) = √(τ₅%(1)/K)/σ.

use std::f64::consts::{FRAC_1_SQRT_2, SQRT_2};
use std::path::{Path, PathBuf};

use super::landscape::diagonal_problem;
use super::{fmt_label, with_ext, FigureError};
use crate::claims::flow::{predict_phase_length, PhaseLengthSettings};
use crate::dynamics::sgd::{NoiseModel, RecordPlan, Sgd, StopReason};
use crate::dynamics::stability::{map_coefficients, ReducedGradients};
use crate::experiment::run::initial_theta;
use crate::experiment::stability::jacobian;
use crate::experiment::{run_units, BranchRun, DecayGrid, ExperimentConfig, UnitPlan};
use crate::field_error::FieldError;
use crate::io::write_columns;
use crate::plot::{Axes, AxisScale, ContourFigure, ContourPanel, PathOverlay};

/// F8 settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseParams {
    /// Data, init, batch size and sampling (noise and schedule are replaced:
    /// label noise σ, constant η₁).
    pub cfg: ExperimentConfig,
    /// η₁ grid as multiples of η*(θ₀), increasing.
    pub multiples: Vec<f64>,
    /// σ grid, increasing, in [0, ∞).
    pub sigmas: Vec<f64>,
    /// Seeds (every cell runs all of them).
    pub seeds: Vec<u64>,
    /// Step budget K.
    pub steps: u64,
    /// Target relative distance of the slow-flow prediction curve.
    pub target_rel_dist: f64,
}

/// η₁ multiples of η*(θ₀): 2^(k/2) for k = −6 … 2 (0.125 … 2), then 2.5 and 3
/// (past the σ = 0 edge found by C11).
pub const PHASE_MULTIPLES: [f64; 11] = [
    0.125,
    0.125 * SQRT_2,
    0.25,
    0.25 * SQRT_2,
    0.5,
    FRAC_1_SQRT_2,
    1.0,
    SQRT_2,
    2.0,
    2.5,
    3.0,
];

impl PhaseParams {
    /// Default: the built-in instance, the 11 multiples of [`PHASE_MULTIPLES`],
    /// σ ∈ {0, 0.25, …, 2}, K = 400 000, target 5%; seeds 1–8 (quick: 1–3).
    /// The budget and grids are the same in both modes; only the number of
    /// seeds differs.
    pub fn new(quick: bool) -> Self {
        Self {
            cfg: ExperimentConfig::default_late_decay(),
            multiples: PHASE_MULTIPLES.to_vec(),
            sigmas: (0..=8).map(|k| 0.25 * k as f64).collect(),
            seeds: (1..=if quick { 3 } else { 8 }).collect(),
            steps: 400_000,
            target_rel_dist: 0.05,
        }
    }

    fn check(&self) -> Result<(), FigureError> {
        let bad = |field: &str, v: String, why: &str| {
            Err(FigureError::Input(format!("F8 {field} = {v}: {why}")))
        };
        let increasing = |v: &[f64]| v.windows(2).all(|w| w[0] < w[1]);
        if self.multiples.len() < 2
            || !increasing(&self.multiples)
            || !self.multiples.iter().all(|m| m.is_finite() && *m > 0.0)
        {
            return bad(
                "multiples",
                format!("{:?}", self.multiples),
                "need ≥ 2 increasing finite values > 0",
            );
        }
        if self.sigmas.len() < 2
            || !increasing(&self.sigmas)
            || !self.sigmas.iter().all(|s| s.is_finite() && *s >= 0.0)
        {
            return bad(
                "sigmas",
                format!("{:?}", self.sigmas),
                "need ≥ 2 increasing finite values ≥ 0",
            );
        }
        if self.seeds.is_empty() {
            return bad("seeds", "[]".into(), "need at least one seed");
        }
        if self.steps == 0 {
            return bad("steps", "0".into(), "must be ≥ 1");
        }
        FieldError::check_positive("target_rel_dist", self.target_rel_dist)
            .map_err(|e| FigureError::Input(format!("F8 {e}")))?;
        Ok(())
    }
}

/// One (η₁, σ) cell of F8.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseCell {
    /// η₁.
    pub lr: f64,
    /// η₁/η*(θ₀).
    pub multiple: f64,
    /// Label-noise σ.
    pub sigma: f64,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds that diverged before K.
    pub diverged: usize,
    /// Mean over the seeds that did not diverge of ‖θ_K − θ_mn‖/‖θ_mn‖
    /// (NaN when more than half diverged: drawn grey).
    pub mean_rel_dist: f64,
    /// Smallest and largest over the seeds that did not diverge.
    pub min_rel_dist: f64,
    /// Largest.
    pub max_rel_dist: f64,
}

/// The data of F8.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseDiagram {
    /// η₁ grid.
    pub lrs: Vec<f64>,
    /// σ grid.
    pub sigmas: Vec<f64>,
    /// `cells[iσ * lrs.len() + iη]`.
    pub cells: Vec<PhaseCell>,
    /// η*(θ₀) for the configured B and sampling.
    pub critical_lr: f64,
    /// 2/λ_max(G(θ₀)) (full-batch edge, for comparison).
    pub full_batch_lr: f64,
    /// Step budget K.
    pub steps: u64,
    /// Batch size B.
    pub batch_size: usize,
    /// Target of the prediction curve.
    pub target_rel_dist: f64,
    /// τ to the target of the slow flow at σ = 1 (NaN if not reached).
    pub tau_target_sigma1: f64,
    /// Relative distance of Φ(θ₀) (the flow's start) to θ_mn.
    pub start_rel_dist: f64,
}

impl PhaseDiagram {
    /// The cell at (σ index, η index).
    pub fn cell(&self, i_sigma: usize, i_lr: usize) -> &PhaseCell {
        &self.cells[i_sigma * self.lrs.len() + i_lr]
    }

    /// The slow-flow prediction η(σ) = √(τ_target(σ)/K), τ_target(σ) =
    /// τ_target(1)/σ² (∞ at σ = 0).
    ///
    /// # Examples
    /// ```
    /// use latedecay::figures::PhaseDiagram;
    /// let d = PhaseDiagram {
    ///     lrs: vec![], sigmas: vec![], cells: vec![], critical_lr: 0.01,
    ///     full_batch_lr: 0.2, steps: 400_000, batch_size: 1, target_rel_dist: 0.05,
    ///     tau_target_sigma1: 10.0, start_rel_dist: 5.0,
    /// };
    /// assert!((d.predicted_lr(1.0) - 0.005).abs() < 1e-15);
    /// assert!((d.predicted_lr(2.0) - 0.0025).abs() < 1e-15);
    /// assert!(d.predicted_lr(0.0).is_infinite());
    /// ```
    pub fn predicted_lr(&self, sigma: f64) -> f64 {
        (self.tau_target_sigma1 / self.steps as f64).sqrt() / sigma
    }

    /// Smallest grid η₁ at which more than half of the seeds diverged, per σ.
    pub fn empirical_edges(&self) -> Vec<Option<f64>> {
        (0..self.sigmas.len())
            .map(|is| {
                (0..self.lrs.len())
                    .map(|il| self.cell(is, il))
                    .find(|c| 2 * c.diverged > c.seeds)
                    .map(|c| c.lr)
            })
            .collect()
    }

    /// Key numbers, one per line.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "K = {} steps, B = {}, η*(θ₀) = {} (2/λ_max = {}), slow flow at σ = 1 reaches {} at τ = {}",
            self.steps,
            self.batch_size,
            fmt_label(self.critical_lr),
            fmt_label(self.full_batch_lr),
            fmt_label(self.target_rel_dist),
            fmt_label(self.tau_target_sigma1)
        )];
        let edges = self.empirical_edges();
        for (is, &sigma) in self.sigmas.iter().enumerate() {
            let best = (0..self.lrs.len())
                .map(|il| self.cell(is, il))
                .filter(|c| c.mean_rel_dist.is_finite())
                .min_by(|a, b| a.mean_rel_dist.total_cmp(&b.mean_rel_dist));
            let edge = edges[is].map_or("none on the grid".to_string(), |e| {
                format!("{}·η*", fmt_label(e / self.critical_lr))
            });
            notes.push(match best {
                Some(c) => format!(
                    "σ = {}: smallest mean distance {} at η₁ = {}·η*; divergence edge {edge}",
                    fmt_label(sigma),
                    fmt_label(c.mean_rel_dist),
                    fmt_label(c.multiple)
                ),
                None => format!("σ = {}: every η₁ diverged", fmt_label(sigma)),
            });
        }
        notes
    }
}

/// Compute F8: every (η₁, σ, seed) as one constant-LR run of K steps on the
/// decay-study engine (label noise σ, the configured B and sampling).
pub fn phase_diagram(p: &PhaseParams) -> Result<PhaseDiagram, FigureError> {
    p.check()?;
    let (prepared, problem) = diagonal_problem(&p.cfg)?;
    let n = problem.n();
    let b = p.cfg.sgd.batch_size;
    let coef = map_coefficients(b, n, p.cfg.sgd.sampling);
    let theta0 = initial_theta::<f64>(&p.cfg.init, problem.dim(), p.seeds[0], ());
    let red0 = ReducedGradients::from_jacobian(&jacobian(&prepared.problem, &theta0));
    let critical_lr = red0.critical_lr(coef, 1e-10);
    let full_batch_lr = 2.0 / red0.lambda_max();
    let mn = &prepared.minnorm;
    let flow = predict_phase_length(
        &problem,
        &theta0,
        &mn.theta,
        &PhaseLengthSettings {
            sigma: 1.0,
            batch_size: b,
            target_rel_dist: p.target_rel_dist,
            ..Default::default()
        },
    );
    let (tau_target_sigma1, start_rel_dist) = match flow {
        Ok(f) => (f.tau_needed, f.start_rel_dist),
        Err(_) => (f64::NAN, f64::NAN),
    };
    let lrs: Vec<f64> = p.multiples.iter().map(|m| m * critical_lr).collect();
    let grid = DecayGrid::constant_lr(p.steps);
    let units = UnitPlan::constant_lr(&lrs, &p.seeds);
    let mut cells = Vec::with_capacity(lrs.len() * p.sigmas.len());
    for &sigma in &p.sigmas {
        let method = Sgd {
            label_noise_sigma: sigma,
            noise: NoiseModel::Label,
            ..p.cfg.sgd.clone()
        };
        // relative distance at K, None if diverged
        let finals: Vec<Option<f64>> = run_units(
            &prepared,
            &p.cfg.init,
            &method,
            &grid,
            &units,
            RecordPlan::FinalOnly,
            (),
            &|_| {},
            |_, mut branches: Vec<BranchRun<f64>>| -> Result<Option<f64>, FigureError> {
                let b = branches.remove(0);
                Ok(match (b.stop, b.records.last()) {
                    (StopReason::Completed, Some(r)) => Some(r.dist_minnorm / mn.norm),
                    _ => None,
                })
            },
        )?;
        for (il, (&lr, &multiple)) in lrs.iter().zip(&p.multiples).enumerate() {
            let per_seed = &finals[il * p.seeds.len()..(il + 1) * p.seeds.len()];
            let ok: Vec<f64> = per_seed.iter().flatten().copied().collect();
            let diverged = per_seed.len() - ok.len();
            let (lo, hi) = ok
                .iter()
                .fold((f64::NAN, f64::NAN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            cells.push(PhaseCell {
                lr,
                multiple,
                sigma,
                seeds: per_seed.len(),
                diverged,
                mean_rel_dist: if 2 * diverged > per_seed.len() || ok.is_empty() {
                    f64::NAN
                } else {
                    super::finite_mean(&ok)
                },
                min_rel_dist: lo,
                max_rel_dist: hi,
            });
        }
    }
    Ok(PhaseDiagram {
        lrs,
        sigmas: p.sigmas.clone(),
        cells,
        critical_lr,
        full_batch_lr,
        steps: p.steps,
        batch_size: b,
        target_rel_dist: p.target_rel_dist,
        tau_target_sigma1,
        start_rel_dist,
    })
}

/// Draw F8 (SVG, PNG) and write `<stem>.csv` (`lr, multiple, sigma, seeds,
/// diverged, mean_rel_dist, min_rel_dist, max_rel_dist`, one row per cell)
/// and `<stem>_curves.csv` (`kind, sigma, lr`: kind 0 = η*(θ₀), 1 = the
/// slow-flow prediction, 2 = the empirical divergence edge).
pub fn render_phase_diagram(d: &PhaseDiagram, stem: &Path) -> Result<Vec<PathBuf>, FigureError> {
    let (x_lo, x_hi) = (d.lrs[0], *d.lrs.last().expect("≥ 2 lrs"));
    let (s_lo, s_hi) = (d.sigmas[0], *d.sigmas.last().expect("≥ 2 sigmas"));
    let values: Vec<Vec<f64>> = (0..d.sigmas.len())
        .map(|is| {
            (0..d.lrs.len())
                .map(|il| d.cell(is, il).mean_rel_dist)
                .collect()
        })
        .collect();
    // The prediction curve η(σ) on a fine σ grid, inside the drawn η range.
    let mut prediction: Vec<(f64, f64)> = vec![];
    if d.tau_target_sigma1.is_finite() {
        let m = 200;
        for k in 0..=m {
            let sigma = s_lo + (s_hi - s_lo) * k as f64 / m as f64;
            let lr = d.predicted_lr(sigma);
            if sigma > 0.0 && (x_lo..=x_hi).contains(&lr) {
                prediction.push((lr, sigma));
            }
        }
    }
    let edge_line = vec![(d.critical_lr, s_lo), (d.critical_lr, s_hi)];
    // Black curves: palette colour 6.
    let mut curves = vec![PathOverlay {
        label: format!(
            "mean-square stability edge η*(θ₀) = {}",
            fmt_label(d.critical_lr)
        ),
        points: edge_line.clone(),
        color_index: Some(6),
        dashed: true,
    }];
    if prediction.len() >= 2 {
        curves.push(PathOverlay {
            label: format!(
                "slow flow reaches {} within K steps to the right: η₁ = √(τ(σ)/K)",
                pct(d.target_rel_dist)
            ),
            points: prediction.clone(),
            color_index: Some(6),
            dashed: false,
        });
    }
    let panel = ContourPanel {
        axes: Axes::new(format!(
            "K = {} steps, B = {}, {} seeds (grey: diverged)",
            d.steps,
            d.batch_size,
            d.cells.first().map_or(0, |c| c.seeds)
        ))
        .x("constant learning rate η₁", AxisScale::Log10)
        .y("label-noise σ", AxisScale::Linear),
        xs: d.lrs.clone(),
        ys: d.sigmas.clone(),
        values,
        log_color: true,
        paths: curves,
        ..Default::default()
    };
    let fig = ContourFigure {
        panels: vec![panel],
        colorbar_label: "‖θ_K − θ_mn‖ / ‖θ_mn‖ (log scale)".into(),
        shared_color_scale: true,
        iso_lines: true,
    };
    let mut files = fig.render(stem)?;
    let col = |f: &dyn Fn(&PhaseCell) -> f64| -> Vec<f64> { d.cells.iter().map(f).collect() };
    let csv = with_ext(stem, "csv");
    write_columns(
        &csv,
        &[
            "lr",
            "multiple",
            "sigma",
            "seeds",
            "diverged",
            "mean_rel_dist",
            "min_rel_dist",
            "max_rel_dist",
        ],
        &[
            col(&|c| c.lr),
            col(&|c| c.multiple),
            col(&|c| c.sigma),
            col(&|c| c.seeds as f64),
            col(&|c| c.diverged as f64),
            col(&|c| c.mean_rel_dist),
            col(&|c| c.min_rel_dist),
            col(&|c| c.max_rel_dist),
        ],
    )?;
    files.push(csv);
    let mut rows: [Vec<f64>; 3] = Default::default();
    let mut push = |kind: f64, (lr, sigma): (f64, f64)| {
        rows[0].push(kind);
        rows[1].push(sigma);
        rows[2].push(lr);
    };
    edge_line.iter().for_each(|&p| push(0.0, p));
    prediction.iter().for_each(|&p| push(1.0, p));
    for (&sigma, edge) in d.sigmas.iter().zip(d.empirical_edges()) {
        if let Some(lr) = edge {
            push(2.0, (lr, sigma));
        }
    }
    let mut curves_stem = stem.as_os_str().to_owned();
    curves_stem.push("_curves");
    let curves_csv = with_ext(Path::new(&curves_stem), "csv");
    write_columns(&curves_csv, &["kind", "sigma", "lr"], &rows)?;
    files.push(curves_csv);
    Ok(files)
}

fn pct(v: f64) -> String {
    let s = format!("{:.3}", 100.0 * v);
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}
