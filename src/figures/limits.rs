//! F5 (distance to θ_mn vs rescaled time τ = Σ η²: SGD at several η, plus any
//! SDE / slow-flow series read from CSV) and F6 (weak error vs η, log–log, with
//! fitted orders, from the exact-moments table).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::landscape::diagonal_problem;
use super::{finite_mean, fmt_label, with_ext, FigureError};
use crate::dynamics::flow::{label_noise_flow, FlowSettings};
use crate::dynamics::gradient_flow::{gradient_flow_limit, GradientFlowSettings};
use crate::dynamics::sde::{sme1_euler_streaming, ContinuousModel, Scheme, SdeSettings};
use crate::dynamics::sgd::{run_sgd, RecordPlan, Sgd, SgdState};
use crate::experiment::run::initial_theta;
use crate::experiment::ExperimentConfig;
use crate::field_error::FieldError;
use crate::io::{read_columns, write_columns};
use crate::model::diagonal::flip_distance;
use crate::moments::weak_order::{f6_columns, WeakOrderReport};
use crate::plot::{Axes, AxisScale, LineChart, LineKind, Series};
use crate::probe::StandardProbe;
use crate::schedule::Schedule;
use crate::stats::{fit_convergence_order, ConvergenceOrder};

/// F5 settings for the SGD curves.
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceParams {
    /// Data, init, label noise (the schedule is replaced by constant LRs).
    pub cfg: ExperimentConfig,
    /// Constant learning rates η.
    pub lrs: Vec<f64>,
    /// Spacing Δτ of the records in rescaled time (Δτ/η² must be an integer
    /// number of steps for every η).
    pub tau_step: f64,
    /// Number of records after τ = 0.
    pub tau_points: usize,
    /// Seeds (the curve is the mean over seeds).
    pub seeds: Vec<u64>,
}

impl DistanceParams {
    /// Default: the default late-decay instance, η ∈ {0.006, 0.004, 0.002},
    /// Δτ = 0.0576 (1600, 3600, 14400 steps), 200 records (τ ≤ 11.5), 8 seeds;
    /// quick: 50 records, 3 seeds.
    pub fn new(quick: bool) -> Self {
        Self {
            cfg: ExperimentConfig::default_late_decay(),
            lrs: vec![0.006, 0.004, 0.002],
            tau_step: 0.0576,
            tau_points: if quick { 50 } else { 200 },
            seeds: (1..=if quick { 3 } else { 8 }).collect(),
        }
    }
}

/// One curve of F5.
#[derive(Debug, Clone, PartialEq)]
pub struct DistanceSeries {
    /// Legend label (also the CSV column name).
    pub label: String,
    /// Rescaled time τ.
    pub tau: Vec<f64>,
    /// Relative distance ‖θ − θ_mn‖/‖θ_mn‖ (nearest sign flip).
    pub value: Vec<f64>,
    /// Dashed line (continuous-time limits) or solid (SGD).
    pub dashed: bool,
}

/// Data of F5.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DistanceCurves {
    /// The curves.
    pub series: Vec<DistanceSeries>,
    /// ‖θ_mn‖.
    pub minnorm_norm: f64,
    /// Number of seeds averaged (SGD curves).
    pub seeds: usize,
}

/// Round τ to 12 significant digits, so that grids of different η merge.
fn key(t: f64) -> f64 {
    if t == 0.0 || !t.is_finite() {
        return t;
    }
    let e = 11 - t.abs().log10().floor() as i32;
    let s = 10f64.powi(e);
    (t * s).round() / s
}

impl DistanceCurves {
    /// Read a wide CSV `tau, <series…>` (header row; NaN = no value), e.g.
    /// written by the SDE / slow-flow modules. Series are drawn dashed.
    pub fn from_csv(path: &Path) -> Result<Self, FigureError> {
        let (headers, cols) = read_columns(path)?;
        if headers.first().map(String::as_str) != Some("tau") {
            return Err(FigureError::Input(format!(
                "{}: first column must be `tau`, found {:?}",
                path.display(),
                headers.first()
            )));
        }
        let tau = &cols[0];
        let series = headers[1..]
            .iter()
            .zip(&cols[1..])
            .map(|(h, c)| {
                let (t, v): (Vec<f64>, Vec<f64>) = tau
                    .iter()
                    .zip(c)
                    .filter(|(t, v)| t.is_finite() && v.is_finite())
                    .map(|(t, v)| (*t, *v))
                    .unzip();
                DistanceSeries {
                    label: h.clone(),
                    tau: t,
                    value: v,
                    dashed: true,
                }
            })
            .collect();
        Ok(Self {
            series,
            minnorm_norm: f64::NAN,
            seeds: 0,
        })
    }

    /// Append the series of `other`.
    pub fn merge(&mut self, other: &DistanceCurves) -> Result<(), FigureError> {
        for s in &other.series {
            if self.series.iter().any(|t| t.label == s.label) {
                return Err(FigureError::Input(format!(
                    "F5 series `{}` appears twice",
                    s.label
                )));
            }
            self.series.push(s.clone());
        }
        Ok(())
    }

    /// Wide table: sorted union of τ and one column per series (NaN if absent).
    pub fn wide(&self) -> (Vec<String>, Vec<Vec<f64>>) {
        let mut taus: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.tau.iter().map(|&t| key(t)))
            .collect();
        taus.sort_by(|a, b| a.total_cmp(b));
        taus.dedup();
        let mut cols = vec![taus.clone()];
        for s in &self.series {
            let mut col = vec![f64::NAN; taus.len()];
            for (&t, &v) in s.tau.iter().zip(&s.value) {
                if let Ok(i) = taus.binary_search_by(|x| x.total_cmp(&key(t))) {
                    col[i] = v;
                }
            }
            cols.push(col);
        }
        let mut headers = vec!["tau".to_string()];
        headers.extend(self.series.iter().map(|s| s.label.clone()));
        (headers, cols)
    }

    /// Key numbers: each series' value at its last τ and at τ ≈ 1.
    pub fn notes(&self) -> Vec<String> {
        let mut v = vec![format!(
            "‖θ_mn‖ = {}; SGD curves: mean over {} seeds",
            fmt_label(self.minnorm_norm),
            self.seeds
        )];
        for s in &self.series {
            let at = |target: f64| -> Option<(f64, f64)> {
                s.tau
                    .iter()
                    .zip(&s.value)
                    .min_by(|a, b| (a.0 - target).abs().total_cmp(&(b.0 - target).abs()))
                    .map(|(t, v)| (*t, *v))
            };
            if let (Some((t1, v1)), Some((tl, vl))) = (at(1.0), s.tau.last().zip(s.value.last())) {
                v.push(format!(
                    "{}: ‖θ−θ_mn‖/‖θ_mn‖ = {} at τ = {}, {} at τ = {}",
                    s.label,
                    fmt_label(v1),
                    fmt_label(t1),
                    fmt_label(*vl),
                    fmt_label(*tl)
                ));
            }
        }
        v
    }
}

/// η, τ at the records, relative distance at the records (one seed).
type LrCurve = (f64, Vec<f64>, Vec<f64>);

/// SGD curves of F5: constant-η label-noise SGD, mean relative distance to θ_mn
/// (nearest sign flip) over seeds, recorded on the τ grid k·Δτ.
pub fn sgd_distance_curves(p: &DistanceParams) -> Result<DistanceCurves, FigureError> {
    let (prepared, problem) = diagonal_problem(&p.cfg)?;
    let reference = prepared.reference();
    let theta_mn = &prepared.minnorm.theta;
    let mut jobs = vec![];
    for &lr in &p.lrs {
        let every = p.tau_step / (lr * lr);
        if !(every >= 1.0 && (every - every.round()).abs() < 1e-6 * every) {
            return Err(FigureError::Input(format!(
                "tau_step = {}: Δτ/η² = {every} is not a whole number of steps for η = {lr}",
                p.tau_step
            )));
        }
        for &seed in &p.seeds {
            jobs.push((lr, every.round() as u64, seed));
        }
    }
    let results: Vec<Result<LrCurve, FigureError>> = jobs
        .par_iter()
        .map(|&(lr, every, seed)| {
            let method = Sgd {
                schedule: Schedule::constant(lr)?,
                ..p.cfg.sgd.clone()
            };
            method.validate(problem.n())?;
            let theta0: Vec<f64> = initial_theta(&p.cfg.init, problem.dim(), seed, ());
            let mut state = SgdState::new(theta0, seed, problem.n(), &method);
            let mut probe = StandardProbe::new(&problem, Some(theta_mn));
            let run = run_sgd(
                &problem,
                &method,
                &mut state,
                every * p.tau_points as u64,
                RecordPlan::Every { every },
                &mut probe,
                |_| {},
            )
            .into_result()?;
            Ok((
                lr,
                run.records
                    .iter()
                    .map(|r| r.step as f64 * lr * lr)
                    .collect(),
                run.records
                    .iter()
                    .map(|r| r.dist_minnorm / reference.minnorm_norm)
                    .collect(),
            ))
        })
        .collect();
    let mut series: Vec<DistanceSeries> = vec![];
    let mut per_lr: Vec<(f64, Vec<f64>, Vec<Vec<f64>>)> = vec![];
    for r in results {
        let (lr, tau, dist) = r?;
        match per_lr.iter_mut().find(|e| e.0 == lr) {
            Some(e) => e.2.push(dist),
            None => per_lr.push((lr, tau, vec![dist])),
        }
    }
    for (lr, tau, dists) in per_lr {
        let mean: Vec<f64> = (0..tau.len())
            .map(|i| finite_mean(&dists.iter().map(|d| d[i]).collect::<Vec<_>>()))
            .collect();
        series.push(DistanceSeries {
            label: format!("SGD η = {lr}"),
            tau,
            value: mean,
            dashed: false,
        });
    }
    Ok(DistanceCurves {
        series,
        minnorm_norm: reference.minnorm_norm,
        seeds: p.seeds.len(),
    })
}

/// The SDE curve of F5: SME-1 (dΘ = −∇L dt + √η A dW, time t = Σ η) solved by
/// Euler–Maruyama with one solver step per SGD step and streamed Brownian
/// increments (`dynamics::sde::sme1_euler_streaming`), mean relative distance
/// to θ_mn over `seeds` independent paths, on the τ grid of the SGD curves.
pub fn sde_distance_curve(
    p: &DistanceParams,
    lr: f64,
    seeds: &[u64],
) -> Result<DistanceSeries, FigureError> {
    let (prepared, problem) = diagonal_problem(&p.cfg)?;
    let reference = prepared.reference();
    let theta_mn = &prepared.minnorm.theta;
    let every = p.tau_step / (lr * lr);
    if !(every >= 1.0 && (every - every.round()).abs() < 1e-6 * every) {
        return Err(FigureError::Input(format!(
            "tau_step = {}: Δτ/η² = {every} is not a whole number of steps for η = {lr}",
            p.tau_step
        )));
    }
    let every = every.round() as u64;
    let settings = SdeSettings {
        kind: ContinuousModel::Sme1,
        scheme: Scheme::EulerMaruyama,
        batch_size: p.cfg.sgd.batch_size,
        label_noise_sigma: p.cfg.sgd.label_noise_sigma,
        schedule: Schedule::constant(lr)?,
        level: 0,
    };
    let paths: Vec<Result<Vec<f64>, FigureError>> = seeds
        .par_iter()
        .map(|&seed| {
            let theta0: Vec<f64> = initial_theta(&p.cfg.init, problem.dim(), seed, ());
            let mut dist = Vec::with_capacity(p.tau_points + 1);
            sme1_euler_streaming(
                &problem,
                theta0,
                &settings,
                every * p.tau_points as u64,
                1,
                seed,
                every,
                |_, theta| dist.push(flip_distance(theta, theta_mn) / reference.minnorm_norm),
            )
            .map_err(|e| FigureError::Input(format!("SME-1 path: {e}")))?;
            Ok(dist)
        })
        .collect();
    let paths: Vec<Vec<f64>> = paths.into_iter().collect::<Result<_, _>>()?;
    let value = (0..=p.tau_points)
        .map(|i| finite_mean(&paths.iter().map(|d| d[i]).collect::<Vec<_>>()))
        .collect();
    Ok(DistanceSeries {
        label: format!("SME-1 (Euler–Maruyama) η = {lr}, {} paths", seeds.len()),
        tau: (0..=p.tau_points as u64)
            .map(|k| (k * every) as f64 * lr * lr)
            .collect(),
        value,
        dashed: true,
    })
}

/// The slow-flow curve of F5: the label-noise slow flow along Γ,
/// dθ/dτ = −(σ²/(4B)) P(θ)∇tr G(θ) (module `dynamics::flow`), started at the
/// gradient-flow limit Φ(θ₀) of the SGD initialization (SGD at small η first
/// falls onto Γ near Φ(θ₀), in a τ-time O(η), then drifts), sampled on the same
/// τ grid as the SGD curves; relative distance to θ_mn (nearest sign flip).
pub fn flow_distance_curve(p: &DistanceParams) -> Result<DistanceSeries, FigureError> {
    let (prepared, problem) = diagonal_problem(&p.cfg)?;
    let reference = prepared.reference();
    let theta_mn = &prepared.minnorm.theta;
    let seed = p.seeds.first().copied().unwrap_or(1);
    let theta0: Vec<f64> = initial_theta(&p.cfg.init, problem.dim(), seed, ());
    // Φ(θ₀) to ‖∇L‖ ≤ 1e-7 (the flow integrator then projects it onto Γ to
    // roundoff); the last stretch of gradient flow is slow and changes θ by
    // O(‖∇L‖/λ_min), invisible at the scale of the figure.
    let mut gf = GradientFlowSettings::for_precision::<f64>(());
    gf.grad_tol = 1e-7;
    gf.max_time = 2e4;
    let limit = gradient_flow_limit(&problem, &theta0, &gf)
        .map_err(|e| FigureError::Input(format!("gradient-flow limit Φ(θ₀): {e}")))?;
    let settings = FlowSettings::label_noise(p.cfg.sgd.label_noise_sigma, p.cfg.sgd.batch_size);
    let taus: Vec<f64> = (0..=p.tau_points).map(|k| k as f64 * p.tau_step).collect();
    let flow = label_noise_flow(&problem, &limit.theta, &settings, &taus)
        .map_err(|e| FigureError::Input(format!("slow flow: {e}")))?;
    let value = flow
        .thetas
        .iter()
        .map(|t| flip_distance(t, theta_mn) / reference.minnorm_norm)
        .collect();
    Ok(DistanceSeries {
        label: "slow flow from Φ(θ₀)".into(),
        tau: flow.taus,
        value,
        dashed: true,
    })
}

/// Render F5: relative distance to θ_mn vs τ (log y), one line per series.
pub fn render_distance_vs_tau(
    curves: &DistanceCurves,
    stem: &Path,
) -> Result<Vec<PathBuf>, FigureError> {
    // SGD curves take palette colours 0, 1, 2, …; continuous-time limits are
    // dashed, black first (palette 6), then reddish purple, sky blue.
    let (mut solid, mut dashed) = (0, 0);
    let series: Vec<Series> = curves
        .series
        .iter()
        .map(|s| {
            let (kind, color) = if s.dashed {
                dashed += 1;
                (LineKind::Dashed, [6, 4, 5][(dashed - 1) % 3])
            } else {
                solid += 1;
                (LineKind::Solid, solid - 1)
            };
            Series::new(s.label.clone(), s.tau.clone(), s.value.clone())
                .with_kind(kind)
                .with_color(color)
        })
        .collect();
    let mut annotations = vec!["label-noise SGD, σ = 1, B = 1".to_string()];
    if curves.seeds > 0 {
        annotations.push(format!("mean over {} seeds", curves.seeds));
    }
    let chart = LineChart {
        axes: Axes::new("Distance to the minimum-norm interpolant vs rescaled time")
            .x("rescaled time τ = Σ_k η_k²", AxisScale::Linear)
            .y("‖θ − θ_mn‖ / ‖θ_mn‖", AxisScale::Log10),
        series,
        annotations,
        ..Default::default()
    };
    let mut files = chart.render(stem)?;
    let (headers, cols) = curves.wide();
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let path = with_ext(stem, "csv");
    write_columns(&path, &h, &cols)?;
    files.push(path);
    Ok(files)
}

/// Weak errors |E φ(θ_SGD) − E φ(Θ)| at fixed time versus η (F6 input).
#[derive(Debug, Clone, PartialEq)]
pub struct WeakErrorTable {
    /// Learning rates η.
    pub eta: Vec<f64>,
    /// (column name, errors) for `err_gf`, `err_sme1`, `err_sme2` and any
    /// `*_f64` columns (the same quantities computed in f64).
    pub columns: Vec<(String, Vec<f64>)>,
}

/// Number of smallest-η points in the F6 order fits (as `moments::weak_order`).
pub const FIT_POINTS: usize = 8;

/// A fitted order: slope of log err vs log η.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedOrder {
    /// Column.
    pub column: String,
    /// The fitted weak order (slope of ln error on ln η).
    pub fit: ConvergenceOrder,
}

fn pretty(col: &str) -> String {
    let (base, f64s) = match col.strip_suffix("_f64") {
        Some(b) => (b, " (f64)"),
        None => (col, ""),
    };
    let name = match base {
        "err_gf" => "gradient flow",
        "err_sme1" => "SME-1",
        "err_sme2" => "SME-2",
        other => other,
    };
    format!("{name}{f64s}")
}

impl WeakErrorTable {
    /// Read `eta, err_gf, err_sme1, err_sme2[, err_*_f64…]` (header row).
    pub fn from_csv(path: &Path) -> Result<Self, FigureError> {
        let (headers, mut cols) = read_columns(path)?;
        if headers.first().map(String::as_str) != Some("eta") {
            return Err(FigureError::Input(format!(
                "{}: first column must be `eta`, found {:?}",
                path.display(),
                headers.first()
            )));
        }
        let eta = cols.remove(0);
        Self::new(eta, headers[1..].iter().cloned().zip(cols).collect())
    }

    /// The table of an exact-moments weak-order report (the columns of
    /// [`crate::moments::weak_order::f6_columns`]), without a CSV round trip.
    pub fn from_report(report: &WeakOrderReport) -> Result<Self, FigureError> {
        let (eta, columns) = f6_columns(report)
            .map_err(|e| FigureError::Input(format!("weak-order report: {e}")))?;
        Self::new(eta, columns)
    }

    /// Build and validate (η > 0, equal lengths).
    pub fn new(eta: Vec<f64>, columns: Vec<(String, Vec<f64>)>) -> Result<Self, FigureError> {
        for &e in &eta {
            FieldError::check_positive("eta", e).map_err(|e| FigureError::Input(e.to_string()))?;
        }
        if let Some((name, c)) = columns.iter().find(|(_, c)| c.len() != eta.len()) {
            return Err(FigureError::Input(format!(
                "column `{name}` has {} values, eta has {}",
                c.len(),
                eta.len()
            )));
        }
        Ok(Self { eta, columns })
    }

    /// Fitted orders of the high-precision columns (not `*_f64`, whose small-η
    /// end is roundoff): least squares of log err on log η over the
    /// `FIT_POINTS` smallest η with a positive error (the asymptotic regime).
    pub fn fitted_orders(&self) -> Vec<FittedOrder> {
        self.columns
            .iter()
            .filter(|(name, _)| !name.ends_with("_f64"))
            .filter_map(|(name, c)| {
                let mut pts: Vec<(f64, f64)> = self
                    .eta
                    .iter()
                    .zip(c)
                    .filter(|(_, v)| v.is_finite() && **v > 0.0)
                    .map(|(e, v)| (e.ln(), v.ln()))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                pts.truncate(FIT_POINTS);
                let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
                let fit = fit_convergence_order(&x, &y, 0.95).ok()?;
                Some(FittedOrder {
                    column: name.clone(),
                    fit,
                })
            })
            .collect()
    }
}

/// Render F6: weak error vs η, log–log, fitted orders in the legend and
/// annotation; f64 columns dashed. Returns the files and the notes.
pub fn render_weak_error(
    table: &WeakErrorTable,
    stem: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), FigureError> {
    let orders = table.fitted_orders();
    let mut series = vec![];
    let mut hp = 0;
    for (name, c) in &table.columns {
        let f64col = name.ends_with("_f64");
        let base = name.trim_end_matches("_f64");
        let color = table
            .columns
            .iter()
            .filter(|(n, _)| !n.ends_with("_f64"))
            .position(|(n, _)| n == base)
            .unwrap_or_else(|| {
                hp += 1;
                3 + hp
            });
        let label = match orders.iter().find(|o| &o.column == name) {
            Some(o) => format!("{} (fitted order {:.3})", pretty(name), o.fit.order),
            None => pretty(name),
        };
        series.push(
            Series::new(label, table.eta.clone(), c.clone())
                .with_kind(if f64col {
                    LineKind::Dashed
                } else {
                    LineKind::LineAndMarkers
                })
                .with_color(color),
        );
    }
    let notes: Vec<String> = orders
        .iter()
        .map(|o| {
            format!(
                "{}: fitted weak order {:.3} ± {:.3} ({} points)",
                pretty(&o.column),
                o.fit.order,
                o.fit.order_se,
                o.fit.points
            )
        })
        .collect();
    let chart = LineChart {
        axes: Axes::new("Weak error of E‖θ‖² at T = Kη vs η (exact moments)")
            .x("learning rate η", AxisScale::Log10)
            .y("|E‖θ_K‖² − E‖Θ_T‖²|", AxisScale::Log10),
        series,
        // No annotations: the fitted orders are in the legend labels (an
        // annotation box would cover the f64 curves).
        ..Default::default()
    };
    let mut files = chart.render(stem)?;
    let mut headers = vec!["eta".to_string()];
    let mut cols = vec![table.eta.clone()];
    for (n, c) in &table.columns {
        headers.push(n.clone());
        cols.push(c.clone());
    }
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let path = with_ext(stem, "csv");
    write_columns(&path, &h, &cols)?;
    files.push(path);
    Ok((files, notes))
}
