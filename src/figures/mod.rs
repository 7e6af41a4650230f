//! Paper-style figures F1–F8 (`proofs/figures.md`), each written as SVG + PNG plus the
//! CSV behind it, by `latedecay figures [--only F3] [--out DIR] [--quick]`.
//!
//! Every figure is split into a *data* function (a plain struct, checked by
//! tests/figures.rs) and a *render* function (SVG/PNG/CSV through
//! [`crate::plot`]):
//!
//! | figure | data | render | files (stem in the output directory) |
//! |---|---|---|---|
//! | F1 Mlp loss landscape, UCI digits | [`digits_landscape`] | [`render_landscape`] | `F1_digits_landscape` |
//! | F2 Diagonal loss landscape | [`diagonal_landscape`] | [`render_landscape`] | `F2_diagonal_landscape` |
//! | F3 ‖θ_k‖ vs k | [`decay_sweep`] | [`render_norm_vs_step`] | `F3_norm_vs_step` |
//! | F4 test loss vs decay step | [`decay_sweep`] | [`render_test_loss_vs_decay`] | `F4_test_loss_vs_decay` |
//! | F5 distance to θ_mn vs τ | [`sgd_distance_curves`], [`flow_distance_curve`] (+ [`DistanceCurves::from_csv`]) | [`render_distance_vs_tau`] | `F5_distance_vs_tau` |
//! | F6 weak error vs η | `moments::weak_order` → [`WeakErrorTable::from_csv`] | [`render_weak_error`] | `F6_weak_error` |
//! | F7 f64 vs MPFR | [`precision_divergence`] | [`render_precision_divergence`] | `F7_f64_vs_mpfr` |
//! | F8 phase diagram η₁ × σ | [`phase_diagram`] | [`render_phase_diagram`] | `F8_phase_diagram` |
//!
//! CSV layouts. Landscapes: `<stem>.csv` = `x, y, train_loss, test_loss`
//! (long format, one row per grid point; x, y are coordinates in the plane),
//! `<stem>_overlays.csv` = `kind, index, x, y, value` with kind 0 = early-decay
//! trajectory, 1 = late-decay trajectory (value = step), 2 = a curve on Γ
//! (value = residual ‖r‖ after projection), 3 = marker (index as in the legend,
//! value = distance of the point from the plane), 4 = F1's proj_Γ(θ_k) of the
//! late run's large-LR phase (value = held-out loss);
//! `<stem>_trajectories.csv` = `run, step, lr, x, y, off_plane, train_loss,
//! test_loss, norm` (run 0 = early, 1 = late decay; off_plane = distance of
//! θ_k from the plane). F3: `step, decay_step, mean,
//! q10, q90` per recorded step. F4: `decay_step, mean, q10, q90, median` (final
//! test loss), plus the reference values in `F4_reference.csv`. F5: `tau,
//! <series…>` (relative distance ‖θ−θ_mn‖/‖θ_mn‖; NaN where a series has no
//! value). F6: `eta, err_gf, err_sme1, err_sme2` and optional `*_f64`
//! columns. F7: `case, step, lr, rel_diff` (case = index in the legend: label-noise SGD
//! at each η, then full-batch GD at the edge of stability). F8: `lr, multiple,
//! sigma, seeds, diverged, mean_rel_dist, min_rel_dist, max_rel_dist` per
//! cell, and `F8_phase_diagram_curves.csv` = `kind, sigma, lr` (0 = η*(θ₀),
//! 1 = slow-flow prediction, 2 = empirical divergence edge).

mod decay;
pub mod experiment;
mod landscape;
mod limits;
mod phase;
mod precision;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use crate::experiment::ExperimentConfig;
use crate::number_format::fmt_label;
use experiment::{decay_sweep_params, distance_params, landscape_params};

pub use decay::{
    decay_sweep, render_norm_vs_step, render_test_loss_vs_decay, DecaySweep, DecaySweepParams,
    NormCurves,
};
pub use landscape::{
    diagonal_landscape, digits_landscape, render_landscape, DiagonalLandscapeParams,
    DigitsLandscapeParams, EarlyLateRuns, ExtraCurve, LandscapeData, LandscapeMarker,
    LandscapePlane, LossSurface, Plane, Trajectory,
};
pub use limits::{
    flow_distance_curve, render_distance_vs_tau, render_weak_error, sde_distance_curve,
    sgd_distance_curves, DistanceCurves, DistanceParams, DistanceSeries, FittedOrder,
    WeakErrorTable,
};
pub use phase::{
    phase_diagram, render_phase_diagram, PhaseCell, PhaseDiagram, PhaseParams, PHASE_MULTIPLES,
};
pub use precision::{
    precision_divergence, render_precision_divergence, FullBatchCase, PrecisionDivergence,
    PrecisionParams,
};

/// Errors while computing or drawing a figure.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub enum FigureError {
    /// Plotting or file output.
    Plot(#[from] crate::plot::PlotError),
    /// Reading or writing a figure's CSV.
    Io(#[from] crate::io::IoError),
    /// Experiment setup (data, interpolant).
    Experiment(#[from] crate::experiment::ExperimentError),
    /// Data generation.
    Data(#[from] crate::data::DataError),
    /// SGD setting or divergence.
    Sgd(#[from] crate::dynamics::sgd::SgdError),
    /// Schedule setting.
    Schedule(#[from] crate::schedule::ScheduleError),
    /// Linear algebra (projection onto Γ).
    Linalg(#[from] crate::linalg::LinalgError),
    /// Invalid figure input (names the field and value).
    #[error("invalid figure input: {0}")]
    Input(String),
}

/// One of the figures F1–F8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FigureId {
    /// Mlp loss landscape on the UCI digits.
    F1,
    /// Diagonal loss landscape.
    F2,
    /// ‖θ_k‖ vs k.
    F3,
    /// Final test loss vs decay step.
    F4,
    /// Distance to θ_mn vs rescaled time.
    F5,
    /// Weak error vs η.
    F6,
    /// f64 vs MPFR divergence.
    F7,
    /// Phase diagram over η₁ × σ.
    F8,
}

impl FigureId {
    /// All figures in order.
    pub const ALL: [FigureId; 8] = [
        FigureId::F1,
        FigureId::F2,
        FigureId::F3,
        FigureId::F4,
        FigureId::F5,
        FigureId::F6,
        FigureId::F7,
        FigureId::F8,
    ];
    /// File stem of the figure.
    pub fn stem(self) -> &'static str {
        match self {
            FigureId::F1 => "F1_digits_landscape",
            FigureId::F2 => "F2_diagonal_landscape",
            FigureId::F3 => "F3_norm_vs_step",
            FigureId::F4 => "F4_test_loss_vs_decay",
            FigureId::F5 => "F5_distance_vs_tau",
            FigureId::F6 => "F6_weak_error",
            FigureId::F7 => "F7_f64_vs_mpfr",
            FigureId::F8 => "F8_phase_diagram",
        }
    }
}

impl std::fmt::Display for FigureId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "F{}", *self as usize + 1)
    }
}

impl FromStr for FigureId {
    type Err = FigureError;
    /// `F3` or `f3` (also `3`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t.strip_prefix(['F', 'f']).unwrap_or(t);
        match digits.parse::<usize>() {
            Ok(k @ 1..=8) => Ok(FigureId::ALL[k - 1]),
            _ => Err(FigureError::Input(format!(
                "--only = {s:?}: expected one of F1..F8"
            ))),
        }
    }
}

/// What `latedecay figures` should do.
#[derive(Debug, Clone)]
pub struct FigureOptions {
    /// Output directory.
    pub out_dir: PathBuf,
    /// Smaller runs (fewer seeds/steps, coarser grids).
    pub quick: bool,
    /// Figures to make (empty: all).
    pub only: Vec<FigureId>,
    /// Extra F5 series (e.g. SDE, slow flow) from a CSV `tau, <series…>`.
    pub f5_extra_csv: Option<PathBuf>,
    /// F6 input: CSV `eta, err_gf, err_sme1, err_sme2[, *_f64]`. Without it
    /// F6 runs the exact-moments weak-order sweep (`moments::weak_order`).
    pub f6_csv: Option<PathBuf>,
    /// The plane of F1 (default: through θ₀ and both ends).
    pub f1_plane: LandscapePlane,
    /// A user's experiment for F2–F5 and F8 (`figures --config`); F1, F6
    /// and F7 keep their own settings. `None`: the built-in experiment.
    pub experiment: Option<ExperimentConfig>,
}

impl Default for FigureOptions {
    fn default() -> Self {
        Self {
            out_dir: PathBuf::from("figures"),
            quick: false,
            only: vec![],
            f5_extra_csv: None,
            f6_csv: None,
            f1_plane: LandscapePlane::ThroughEnds,
            experiment: None,
        }
    }
}

/// What was made for one figure.
#[derive(Debug, Clone)]
pub struct FigureReport {
    /// Which figure.
    pub id: FigureId,
    /// Files written (SVG, PNG, CSV), empty when skipped.
    pub files: Vec<PathBuf>,
    /// Key numbers / notes, one per line.
    pub notes: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// What makes one figure: the files it wrote and its notes.
type FigureBody<'a> = dyn FnMut() -> Result<(Vec<PathBuf>, Vec<String>), FigureError> + 'a;

/// A figure's parameters: its built-in ones, or those of the user's experiment.
fn params_for<P>(
    user: Option<&ExperimentConfig>,
    quick: bool,
    builtin: fn(bool) -> P,
    from_user: fn(&ExperimentConfig, bool) -> Result<P, FigureError>,
) -> Result<P, FigureError> {
    user.map_or_else(|| Ok(builtin(quick)), |cfg| from_user(cfg, quick))
}

/// Make the requested figures (all by default) and return what was written.
pub fn generate(opts: &FigureOptions) -> Result<Vec<FigureReport>, FigureError> {
    let wanted = |id: FigureId| opts.only.is_empty() || opts.only.contains(&id);
    let dir = &opts.out_dir;
    let q = opts.quick;
    let mut reports = Vec::new();
    let timed = |id: FigureId, f: &mut FigureBody| -> Result<FigureReport, FigureError> {
        let t0 = Instant::now();
        let (files, notes) = f()?;
        Ok(FigureReport {
            id,
            files,
            notes,
            seconds: t0.elapsed().as_secs_f64(),
        })
    };
    if wanted(FigureId::F1) {
        reports.push(timed(FigureId::F1, &mut || {
            let params = DigitsLandscapeParams {
                plane: opts.f1_plane,
                ..DigitsLandscapeParams::new(q)
            };
            let data = digits_landscape(&params)?;
            let files = render_landscape(&data, &stem(dir, FigureId::F1))?;
            Ok((files, data.notes.clone()))
        })?);
    }
    let user = opts.experiment.as_ref();
    // Figures that need the diagonal network say so instead of failing.
    let diagonal_only =
        |id: FigureId, what: &str, f: &mut FigureBody| -> Result<FigureReport, FigureError> {
            match user {
                Some(cfg) if cfg.model != crate::model::ModelKind::Diagonal => Ok(FigureReport {
                    id,
                    files: vec![],
                    notes: vec![format!(
                        "N/A: {id} needs the diagonal network ({what}); model = {}",
                        cfg.model
                    )],
                    seconds: 0.0,
                }),
                _ => timed(id, f),
            }
        };
    if wanted(FigureId::F2) {
        let what = "Γ and {u⊙v = β*} in the plane";
        reports.push(diagonal_only(FigureId::F2, what, &mut || {
            let params = params_for(user, q, DiagonalLandscapeParams::new, landscape_params)?;
            let data = diagonal_landscape(&params)?;
            let files = render_landscape(&data, &stem(dir, FigureId::F2))?;
            Ok((files, data.notes.clone()))
        })?);
    }
    if wanted(FigureId::F3) || wanted(FigureId::F4) {
        let t0 = Instant::now();
        let params = params_for(user, q, DecaySweepParams::new, decay_sweep_params)?;
        let sweep = decay_sweep(&params)?;
        let shared = t0.elapsed().as_secs_f64();
        let mut first = true;
        if wanted(FigureId::F3) {
            reports.push(timed(FigureId::F3, &mut || {
                let files = render_norm_vs_step(&sweep, &stem(dir, FigureId::F3))?;
                Ok((files, sweep.norm_notes()))
            })?);
            reports.last_mut().expect("just pushed").seconds += shared;
            first = false;
        }
        if wanted(FigureId::F4) {
            reports.push(timed(FigureId::F4, &mut || {
                let files = render_test_loss_vs_decay(&sweep, &stem(dir, FigureId::F4))?;
                Ok((files, sweep.test_loss_notes()))
            })?);
            if first {
                reports.last_mut().expect("just pushed").seconds += shared;
            }
        }
    }
    if wanted(FigureId::F5) {
        let what = "the slow flow along Γ";
        reports.push(diagonal_only(FigureId::F5, what, &mut || {
            let params = params_for(user, q, DistanceParams::new, distance_params)?;
            let mut curves = sgd_distance_curves(&params)?;
            let flow = flow_distance_curve(&params)?;
            let sde_seeds: Vec<u64> = (1..=if q { 2 } else { 4 }).collect();
            let sde = sde_distance_curve(&params, params.lrs[1], &sde_seeds)?;
            curves.merge(&DistanceCurves {
                series: vec![sde, flow],
                ..Default::default()
            })?;
            if let Some(path) = &opts.f5_extra_csv {
                curves.merge(&DistanceCurves::from_csv(path)?)?;
            }
            let files = render_distance_vs_tau(&curves, &stem(dir, FigureId::F5))?;
            Ok((files, curves.notes()))
        })?);
    }
    if wanted(FigureId::F6) {
        reports.push(timed(FigureId::F6, &mut || {
            let stem = stem(dir, FigureId::F6);
            let table = match &opts.f6_csv {
                Some(path) => WeakErrorTable::from_csv(path)?,
                None => {
                    // Exact moments (no Monte Carlo), MPFR and f64: the
                    // documented instance of `moments::weak_order`.
                    use crate::moments::weak_order::{run_weak_order, WeakOrderConfig};
                    let mut cfg = WeakOrderConfig::default();
                    if q {
                        cfg.eta_exponent_max = 24;
                        cfg.precisions = vec![256];
                    }
                    let report = run_weak_order(&cfg)
                        .map_err(|e| FigureError::Input(format!("weak-order sweep: {e}")))?;
                    // Drawn from the report; `render_weak_error` writes the CSV.
                    WeakErrorTable::from_report(&report)?
                }
            };
            render_weak_error(&table, &stem)
        })?);
    }
    if wanted(FigureId::F7) {
        reports.push(timed(FigureId::F7, &mut || {
            let data = precision_divergence(&PrecisionParams::new(q))?;
            let files = render_precision_divergence(&data, &stem(dir, FigureId::F7))?;
            Ok((files, data.iter().map(PrecisionDivergence::note).collect()))
        })?);
    }
    if wanted(FigureId::F8) {
        let what = "θ_mn and the slow flow along Γ";
        reports.push(diagonal_only(FigureId::F8, what, &mut || {
            let mut params = PhaseParams::new(q);
            if let Some(cfg) = user {
                params.cfg = cfg.clone();
                params.seeds = cfg.run.seeds.to_vec();
                params
                    .seeds
                    .truncate(params.seeds.len().min(if q { 3 } else { 8 }));
            }
            let data = phase_diagram(&params)?;
            let files = render_phase_diagram(&data, &stem(dir, FigureId::F8))?;
            Ok((files, data.notes()))
        })?);
    }
    Ok(reports)
}

/// `stem` + `.ext` (appended, keeping dots already in the stem).
pub(crate) fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn stem(dir: &Path, id: FigureId) -> PathBuf {
    dir.join(id.stem())
}

/// Quantile `q` ∈ [0, 1] of the finite values (linear interpolation between
/// order statistics, `stats`' type 7); NaN if there are none.
///
/// # Examples
/// ```
/// use latedecay::figures::quantile;
/// assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
/// assert!((quantile(&[0.0, 10.0], 0.1) - 1.0).abs() < 1e-12);
/// ```
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    crate::stats::quantile_type7(&v, q.clamp(0.0, 1.0))
}

/// Mean of the finite values (NaN if none).
pub fn finite_mean(values: &[f64]) -> f64 {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}
