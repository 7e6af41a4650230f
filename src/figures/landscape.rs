//! F1 and F2: training- and test-loss landscapes on the plane through the
//! initial point θ₀, the early-decay solution and the late-decay solution, with
//! the two SGD trajectories projected onto the plane.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{fmt_label, FigureError};
use crate::dynamics::sgd::{run_sgd, RecordPlan, Sgd, SgdState};
use crate::experiment::run::{initial_theta, AnyProblem};
use crate::experiment::{ExperimentConfig, Prepared};
use crate::io::{grid_columns, write_columns};
use crate::linalg::LinalgError;
use crate::manifold::{project_onto_manifold, Projection};
use crate::model::{Mlp, Model, Problem};
use crate::plot::{Axes, AxisScale, ContourFigure, ContourPanel, Marker, MarkerShape, PathOverlay};
use crate::probe::{MlpProbe, Probe, Record, RecordPoint, StandardProbe};
use crate::schedule::Schedule;

/// An affine plane θ₀ + c₁e₁ + c₂e₂ in parameter space (e₁, e₂ orthonormal).
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// θ₀.
    pub origin: Vec<f64>,
    /// e₁ ∥ a − θ₀.
    pub e1: Vec<f64>,
    /// e₂ ⊥ e₁, in span(a − θ₀, b − θ₀).
    pub e2: Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Plane {
    /// The plane through `origin`, `a` and `b` (Gram–Schmidt on a − origin,
    /// b − origin). Errors if the three points are (nearly) collinear.
    ///
    /// # Examples
    /// ```
    /// use latedecay::figures::Plane;
    /// let p = Plane::through(&[0.0, 0.0, 1.0], &[2.0, 0.0, 1.0], &[1.0, 3.0, 1.0]).unwrap();
    /// assert_eq!(p.coords(&[1.0, 3.0, 1.0]), (1.0, 3.0));
    /// assert_eq!(p.point(2.0, 0.0), vec![2.0, 0.0, 1.0]);
    /// ```
    pub fn through(origin: &[f64], a: &[f64], b: &[f64]) -> Result<Self, FigureError> {
        let sub = |p: &[f64]| -> Vec<f64> { p.iter().zip(origin).map(|(x, o)| x - o).collect() };
        let mut e1 = sub(a);
        let n1 = dot(&e1, &e1).sqrt();
        if n1 == 0.0 || !n1.is_finite() {
            return Err(FigureError::Input(format!(
                "plane: first direction has norm {n1} (the two points coincide)"
            )));
        }
        e1.iter_mut().for_each(|v| *v /= n1);
        let mut e2 = sub(b);
        let c = dot(&e2, &e1);
        e2.iter_mut().zip(&e1).for_each(|(v, u)| *v -= c * u);
        let n2 = dot(&e2, &e2).sqrt();
        if n2 <= 1e-12 * n1 || !n2.is_finite() {
            return Err(FigureError::Input(format!(
                "plane: the three points are collinear (second direction has norm {n2:e})"
            )));
        }
        e2.iter_mut().for_each(|v| *v /= n2);
        Ok(Self {
            origin: origin.to_vec(),
            e1,
            e2,
        })
    }

    /// Coordinates (⟨θ − θ₀, e₁⟩, ⟨θ − θ₀, e₂⟩) of the orthogonal projection.
    pub fn coords(&self, theta: &[f64]) -> (f64, f64) {
        let mut c = (0.0, 0.0);
        for ((t, o), (a, b)) in theta
            .iter()
            .zip(&self.origin)
            .zip(self.e1.iter().zip(&self.e2))
        {
            c.0 += (t - o) * a;
            c.1 += (t - o) * b;
        }
        c
    }

    /// The point θ₀ + c₁e₁ + c₂e₂.
    pub fn point(&self, c1: f64, c2: f64) -> Vec<f64> {
        self.origin
            .iter()
            .zip(self.e1.iter().zip(&self.e2))
            .map(|(o, (a, b))| o + c1 * a + c2 * b)
            .collect()
    }

    /// Distance of θ from the plane.
    pub fn off_plane_distance(&self, theta: &[f64]) -> f64 {
        let (c1, c2) = self.coords(theta);
        let p = self.point(c1, c2);
        p.iter()
            .zip(theta)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
    }
}

/// A marked point of a landscape.
#[derive(Debug, Clone, PartialEq)]
pub struct LandscapeMarker {
    /// Legend label.
    pub label: String,
    /// Plane coordinates of the (projected) point.
    pub x: f64,
    /// Plane coordinates of the (projected) point.
    pub y: f64,
    /// Distance of the point from the plane (0 for points in the plane).
    pub off_plane: f64,
    /// Marker shape.
    pub shape: MarkerShape,
    /// Palette colour (None: white).
    pub color_index: Option<usize>,
}

/// A projected SGD trajectory.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Legend label.
    pub label: String,
    /// Steps of the recorded points.
    pub steps: Vec<u64>,
    /// Plane coordinates of θ_k.
    pub points: Vec<(f64, f64)>,
    /// Palette colour.
    pub color_index: usize,
    /// Final training loss.
    pub final_train_loss: f64,
    /// Final test loss.
    pub final_test_loss: f64,
    /// Final ‖θ‖.
    pub final_norm: f64,
    /// The run's records (step, η, train and test loss, ‖θ‖, …), one per point.
    pub records: Vec<Record>,
    /// Distance of each θ_k from the plane (‖θ_k − its projection‖).
    pub off_plane: Vec<f64>,
}

impl Trajectory {
    /// Plane coordinates and off-plane distances of the kept θ_k.
    fn place(&mut self, plane: &Plane, thetas: &[Vec<f64>]) {
        self.points = thetas.iter().map(|t| plane.coords(t)).collect();
        self.off_plane = thetas.iter().map(|t| plane.off_plane_distance(t)).collect();
    }
}

/// A further curve of a landscape (solid), e.g. proj_Γ(θ_k) along a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraCurve {
    /// Legend label.
    pub label: String,
    /// Plane coordinates.
    pub points: Vec<(f64, f64)>,
    /// A value per point (written to the overlays CSV).
    pub values: Vec<f64>,
}

/// Training and test loss on a grid of the plane.
#[derive(Debug, Clone)]
pub struct LossSurface {
    /// Plane coordinates of the grid (c₁).
    pub xs: Vec<f64>,
    /// Plane coordinates of the grid (c₂).
    pub ys: Vec<f64>,
    /// Training loss `train[iy][ix]`.
    pub train: Vec<Vec<f64>>,
    /// Test loss `test[iy][ix]`.
    pub test: Vec<Vec<f64>>,
}

impl LossSurface {
    /// Both losses at every point of the grid `xs × ys` of `plane`.
    fn evaluate(plane: &Plane, xs: Vec<f64>, ys: Vec<f64>, train: &LossFn, test: &LossFn) -> Self {
        let train = eval_grid(plane, &xs, &ys, train);
        let test = eval_grid(plane, &xs, &ys, test);
        Self {
            xs,
            ys,
            train,
            test,
        }
    }
}

/// A loss at a point θ (evaluated on grid rows in parallel).
type LossFn<'a> = dyn Fn(&[f64]) -> f64 + Sync + 'a;

/// Everything behind F1 / F2.
#[derive(Debug, Clone)]
pub struct LandscapeData {
    /// Figure title prefix (model and setting).
    pub title: String,
    /// Label of the test-loss panel.
    pub test_label: String,
    /// Both losses on the grid of the plane.
    pub surface: LossSurface,
    /// Early- and late-decay trajectories.
    pub trajectories: Vec<Trajectory>,
    /// A curve on Γ (projected onto the plane), empty if none.
    pub gamma: Vec<(f64, f64)>,
    /// Residual ‖r‖ of each point of `gamma` (before projecting onto the plane).
    pub gamma_residuals: Vec<f64>,
    /// Legend label of the Γ curve.
    pub gamma_label: String,
    /// Further curves (solid lines), e.g. proj_Γ(θ_k) of the late run.
    pub extra_curves: Vec<ExtraCurve>,
    /// Marked points.
    pub markers: Vec<LandscapeMarker>,
    /// Key numbers.
    pub notes: Vec<String>,
    /// Axis labels (c₁, c₂).
    pub axis_labels: (String, String),
}

/// A point in plane coordinates.
type Point = (f64, f64);
/// Final θ, the trajectory summary and θ_k at the records.
type RunOut = (Vec<f64>, Trajectory, Vec<Vec<f64>>);

/// The two SGD runs of a landscape figure (F1, F2): early vs late decay of
/// the experiment's η₁ → η₂, from the same θ₀ and seed.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyLateRuns {
    /// The experiment (its schedule must be a step decay; η₁, η₂ are used).
    pub cfg: ExperimentConfig,
    /// Seed of SGD (F1: also of the init).
    pub seed: u64,
    /// Decay step of the early-decay run.
    pub early_decay: u64,
    /// Decay step of the late-decay run.
    pub late_decay: u64,
    /// Steps after the decay (both runs).
    pub steps_after: u64,
}

impl EarlyLateRuns {
    /// Runs early (colour 1) then late (colour 4), about 150 records each;
    /// returns per run the final θ, the trajectory summary and the θ_k kept
    /// by the probe (`thetas` takes them out of it).
    fn run<M: Model<f64>, P: Probe<f64>>(
        &self,
        problem: &Problem<f64, M>,
        theta0: &[f64],
        mut new_probe: impl FnMut() -> P,
        thetas: impl Fn(P) -> Vec<Vec<f64>>,
    ) -> Result<[RunOut; 2], FigureError> {
        let mut one = |decay: u64, color: usize| {
            landscape_run(problem, self, theta0, decay, color, new_probe(), &thetas)
        };
        Ok([one(self.early_decay, 1)?, one(self.late_decay, 4)?])
    }
}

fn landscape_run<M: Model<f64>, P: Probe<f64>>(
    problem: &Problem<f64, M>,
    runs: &EarlyLateRuns,
    theta0: &[f64],
    decay: u64,
    color: usize,
    mut probe: P,
    thetas: impl Fn(P) -> Vec<Vec<f64>>,
) -> Result<RunOut, FigureError> {
    let method = &step_decay_of(&runs.cfg, decay)?;
    method.validate(problem.n())?;
    let total = decay + runs.steps_after;
    let mut state = SgdState::new(theta0.to_vec(), runs.seed, problem.n(), method);
    let out = run_sgd(
        problem,
        method,
        &mut state,
        total,
        RecordPlan::Every {
            every: (total / 150).max(1),
        },
        &mut probe,
        |_| {},
    )
    .into_result()?;
    let last = out.records.last().expect("final record").clone();
    Ok((
        out.theta,
        Trajectory {
            label: format!("SGD, decay at {}", decay_label(decay)),
            steps: out.records.iter().map(|r| r.step).collect(),
            points: vec![],
            color_index: color,
            final_train_loss: last.train_loss,
            final_test_loss: last.test_loss,
            final_norm: last.norm,
            records: out.records.clone(),
            off_plane: vec![],
        },
        thetas(probe),
    ))
}

/// Records like the inner probe and keeps θ_k (as f64) at every record.
struct KeepTheta<P> {
    inner: P,
    thetas: Vec<Vec<f64>>,
}

impl<P: Probe<f64>> Probe<f64> for KeepTheta<P> {
    fn measure(&mut self, at: RecordPoint, theta: &[f64]) -> Record {
        self.thetas.push(theta.to_vec());
        self.inner.measure(at, theta)
    }
}

fn decay_label(t: u64) -> String {
    if t == 0 {
        "T = 0".into()
    } else if t.is_multiple_of(1000) {
        format!("T = {}k", t / 1000)
    } else {
        format!("T = {t}")
    }
}

/// Square grid covering `pts` with 15% padding on each side.
fn grid_around(pts: &[(f64, f64)], n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for &(x, y) in pts.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (sx, sy) = ((x1 - x0).max(1e-9), (y1 - y0).max(1e-9));
    let big = sx.max(sy);
    let (px, py) = (0.15 * sx + 0.03 * big, 0.15 * sy + 0.03 * big);
    let lin = |a: f64, b: f64| -> Vec<f64> {
        (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect()
    };
    (lin(x0 - px, x1 + px), lin(y0 - py, y1 + py))
}

/// Evaluate `f` on the grid of the plane (rows in parallel).
fn eval_grid(plane: &Plane, xs: &[f64], ys: &[f64], f: &LossFn) -> Vec<Vec<f64>> {
    ys.par_iter()
        .map(|&y| xs.iter().map(|&x| f(&plane.point(x, y))).collect())
        .collect()
}

/// Project the segment from `a` to `b` (extended by 20% at both ends) onto Γ
/// point by point (Gauss–Newton, minimum-norm correction); keep the points
/// whose residual reaches `tol`.
fn gamma_curve<M: Model<f64>>(
    problem: &Problem<f64, M>,
    plane: &Plane,
    a: &[f64],
    b: &[f64],
    points: usize,
    tol: f64,
) -> Result<(Vec<Point>, Vec<f64>), FigureError> {
    gamma_curve_with(
        &|p: &[f64]| project_onto_manifold(problem, p, tol, 60),
        plane,
        a,
        b,
        points,
    )
}

/// A projection onto Γ.
type ProjectFn<'a> = dyn Fn(&[f64]) -> Result<Projection<f64>, LinalgError> + Sync + 'a;

/// The plane coordinates of the projections that converged, with
/// `value(projection)` of each, in input order; the first projection that
/// failed outright (a linear-algebra error) is the error.
fn converged_on_plane(
    plane: &Plane,
    projections: Vec<Result<Projection<f64>, LinalgError>>,
    value: impl Fn(&Projection<f64>) -> f64,
) -> Result<(Vec<Point>, Vec<f64>), FigureError> {
    let mut points = Vec::new();
    let mut values = Vec::new();
    for proj in projections {
        let proj = proj?;
        if proj.converged {
            points.push(plane.coords(&proj.theta));
            values.push(value(&proj));
        }
    }
    Ok((points, values))
}

/// [`gamma_curve`] with a given projection (points in parallel; points whose
/// projection does not converge are left out).
fn gamma_curve_with(
    project: &ProjectFn<'_>,
    plane: &Plane,
    a: &[f64],
    b: &[f64],
    points: usize,
) -> Result<(Vec<Point>, Vec<f64>), FigureError> {
    let projected: Vec<Result<Projection<f64>, LinalgError>> = (0..points)
        .into_par_iter()
        .map(|i| {
            let t = -0.2 + 1.4 * i as f64 / (points - 1) as f64;
            let p: Vec<f64> = a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect();
            project(&p)
        })
        .collect();
    converged_on_plane(plane, projected, |p| p.residual_norm)
}

/// How F1 chooses its plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandscapePlane {
    /// Through θ₀, the early-decay end and the late-decay end (default):
    /// the plane that contains both runs' start and end points.
    ThroughEnds,
    /// Centred at the late-decay end θ_late, spanned by two Gaussian random
    /// directions (from `seed`), each *filter-normalized* (Li et al. 2018,
    /// "Visualizing the loss landscape of neural nets"): the incoming weights
    /// w_k of every hidden unit and the output weights a are rescaled to the
    /// norms of θ_late's; the grid covers ±1 in units of those directions.
    FilterNormalized {
        /// Seed of the two directions.
        seed: u64,
    },
}

/// F1 settings: the Mlp on the UCI digits (the C13 experiment,
/// `configs/digits_mlp.toml`), label-noise SGD, early vs late decay.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitsLandscapeParams {
    /// The two runs (the experiment must be an Mlp with a held-out set).
    pub runs: EarlyLateRuns,
    /// Grid points per axis.
    pub grid: usize,
    /// Points of the Γ curve (the early–late chord, projected).
    pub gamma_points: usize,
    /// Points of the late run's large-LR phase projected onto Γ.
    pub phase_points: usize,
    /// The plane.
    pub plane: LandscapePlane,
}

impl DigitsLandscapeParams {
    /// Defaults: the built-in digits experiment, seed 1, decay at 10k vs
    /// 400k then 50k steps at η₂ (quick: 10k vs 100k, 20k after), grid 61²
    /// (quick 31²), Γ curve of 41 (21) points, 20 (10) phase projections.
    pub fn new(quick: bool) -> Self {
        Self {
            runs: EarlyLateRuns {
                cfg: crate::claims::landscape::digits_config(),
                seed: 1,
                early_decay: 10_000,
                late_decay: if quick { 100_000 } else { 400_000 },
                steps_after: if quick { 20_000 } else { 50_000 },
            },
            grid: if quick { 31 } else { 61 },
            gamma_points: if quick { 21 } else { 41 },
            phase_points: if quick { 10 } else { 20 },
            plane: LandscapePlane::ThroughEnds,
        }
    }
}

/// A dataset label for titles: "UCI digits, even vs odd, n = 300".
fn dataset_label(cfg: &ExperimentConfig, n: usize) -> String {
    match &cfg.data {
        crate::data::DataConfig::Digits(d) => {
            let task = match d.task {
                crate::data::digits::DigitsTask::EvenOdd => "even vs odd",
                crate::data::digits::DigitsTask::LowHigh => "0–4 vs 5–9",
            };
            format!("UCI digits, {task}, n = {n}")
        }
        crate::data::DataConfig::Csv(_) => format!("CSV data, n = {n}"),
        crate::data::DataConfig::Synthetic(_) => format!("synthetic data, n = {n}"),
    }
}

/// Two filter-normalized random directions at θ (Li et al. 2018).
fn filter_normalized_directions(model: &Mlp, theta: &[f64], seed: u64) -> [Vec<f64>; 2] {
    let mut rng = crate::noise::rng_for(seed, crate::noise::stream::INIT);
    let (m, d) = (model.m, model.d);
    let mut dir = || -> Vec<f64> {
        let mut v: Vec<f64> = (0..m * d + m)
            .map(|_| crate::noise::standard_normal(&mut rng))
            .collect();
        // Filters: the rows w_k of W, and the output weights a.
        let mut filters: Vec<std::ops::Range<usize>> = (0..m).map(|k| k * d..(k + 1) * d).collect();
        filters.push(m * d..m * d + m);
        for f in filters {
            let nt = theta[f.clone()].iter().map(|x| x * x).sum::<f64>().sqrt();
            let nv = v[f.clone()].iter().map(|x| x * x).sum::<f64>().sqrt();
            if nv > 0.0 {
                v[f].iter_mut().for_each(|x| *x *= nt / nv);
            }
        }
        v
    };
    [dir(), dir()]
}

/// F1 data: training and held-out loss of the digits Mlp on a plane (through
/// θ₀, θ_early, θ_late, or filter-normalized random directions at θ_late),
/// both trajectories, a curve on Γ, and proj_Γ of the late run's large-LR
/// iterates.
pub fn digits_landscape(p: &DigitsLandscapeParams) -> Result<LandscapeData, FigureError> {
    use crate::claims::landscape::{input_gram, project_mlp_onto_manifold};
    let exp = crate::experiment::Experiment::new(p.runs.cfg.clone())?;
    let prepared = Prepared::<f64>::new(&exp, ())?;
    let AnyProblem::Mlp(problem) = &prepared.problem else {
        return Err(FigureError::Input(format!(
            "model = {}: F1 needs model = \"mlp\"",
            p.runs.cfg.model
        )));
    };
    let Some(heldout) = prepared.heldout.as_ref() else {
        return Err(FigureError::Input(
            "data: F1 needs a held-out test set".into(),
        ));
    };
    if p.runs.late_decay <= p.runs.early_decay {
        return Err(FigureError::Input(format!(
            "late_decay = {}: must be > early_decay = {}",
            p.runs.late_decay, p.runs.early_decay
        )));
    }
    if p.grid < 2 || p.gamma_points < 2 || p.phase_points < 1 {
        return Err(FigureError::Input(format!(
            "grid = {}, gamma_points = {}, phase_points = {}: need ≥ 2, ≥ 2, ≥ 1",
            p.grid, p.gamma_points, p.phase_points
        )));
    }
    let model = problem.model;
    let theta0 = prepared.initial(&p.runs.cfg.init, p.runs.seed, ());
    let [(early, mut t_early, th_early), (late, mut t_late, th_late)] = p.runs.run(
        problem,
        &theta0,
        || MlpProbe::new(problem, &heldout.x, &heldout.y, true),
        |probe| probe.thetas,
    )?;
    let (plane, fixed_grid) = match p.plane {
        LandscapePlane::ThroughEnds => (Plane::through(&theta0, &early, &late)?, None),
        LandscapePlane::FilterNormalized { seed } => {
            let [d1, d2] = filter_normalized_directions(&model, &late, seed);
            let a: Vec<f64> = late.iter().zip(&d1).map(|(x, v)| x + v).collect();
            let b: Vec<f64> = late.iter().zip(&d2).map(|(x, v)| x + v).collect();
            let plane = Plane::through(&late, &a, &b)?;
            let (r1, _) = plane.coords(&a);
            let (_, r2) = plane.coords(&b);
            (plane, Some((r1.abs(), r2.abs())))
        }
    };
    t_early.place(&plane, &th_early);
    t_late.place(&plane, &th_late);
    let xxt = input_gram(problem);
    let project = |t: &[f64]| project_mlp_onto_manifold(problem, &xxt, t, 1e-9, 60);
    let (gamma, gamma_residuals) =
        gamma_curve_with(&project, &plane, &early, &late, p.gamma_points)?;
    // proj_Γ(θ_k) at phase_points steps of the late run's large-LR phase.
    let phase: Vec<&Vec<f64>> = {
        let steps = &t_late.records;
        let want: Vec<u64> = (1..=p.phase_points as u64)
            .map(|j| j * p.runs.late_decay / p.phase_points as u64)
            .collect();
        // The recorded step nearest to each wanted step, within the phase.
        want.iter()
            .filter_map(|&w| {
                steps
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.step <= p.runs.late_decay)
                    .min_by_key(|(_, r)| r.step.abs_diff(w))
                    .map(|(i, _)| &th_late[i])
            })
            .collect()
    };
    let phase_proj: Vec<Result<Projection<f64>, LinalgError>> =
        phase.par_iter().map(|t| project(t)).collect();
    let (proj_pts, proj_losses) = converged_on_plane(&plane, phase_proj, |p| {
        heldout.loss_and_error(&model, &p.theta).0
    })?;
    let end_proj = |t: &[f64]| -> Result<Option<(Vec<f64>, f64, f64)>, FigureError> {
        let pr = project(t)?;
        Ok(pr.converged.then(|| {
            let (l, e) = heldout.loss_and_error(&model, &pr.theta);
            (pr.theta, l, e)
        }))
    };
    let early_proj = end_proj(&early)?;
    let late_proj = end_proj(&late)?;
    let (_, err_early) = heldout.loss_and_error(&model, &early);
    let (_, err_late) = heldout.loss_and_error(&model, &late);
    let mut markers = vec![
        marker("θ₀ (init)", &plane, &theta0, MarkerShape::Circle, None),
        marker(
            &format!(
                "early end (held-out {})",
                fmt_label(t_early.final_test_loss)
            ),
            &plane,
            &early,
            MarkerShape::Square,
            Some(1),
        ),
        marker(
            &format!("late end (held-out {})", fmt_label(t_late.final_test_loss)),
            &plane,
            &late,
            MarkerShape::Diamond,
            Some(4),
        ),
    ];
    for (what, pr, color) in [("early", &early_proj, 1), ("late", &late_proj, 4)] {
        if let Some((th, l, _)) = pr {
            markers.push(marker(
                &format!("proj_Γ({what} end) (held-out {})", fmt_label(*l)),
                &plane,
                th,
                MarkerShape::Cross,
                Some(color),
            ));
        }
    }
    let (xs, ys) = match fixed_grid {
        Some((r1, r2)) => {
            let lin = |r: f64| -> Vec<f64> {
                (0..p.grid)
                    .map(|i| -r + 2.0 * r * i as f64 / (p.grid - 1) as f64)
                    .collect()
            };
            (lin(r1), lin(r2))
        }
        None => {
            let mut pts: Vec<(f64, f64)> = t_early.points.clone();
            pts.extend(&t_late.points);
            pts.extend(markers.iter().map(|m| (m.x, m.y)));
            pts.extend(&gamma);
            pts.extend(&proj_pts);
            grid_around(&pts, p.grid)
        }
    };
    let surface = LossSurface::evaluate(&plane, xs, ys, &|t| problem.train_loss(t), &|t| {
        heldout.loss_and_error(&model, t).0
    });
    let dataset = dataset_label(&p.runs.cfg, problem.n());
    let dim = Model::<f64>::param_dim(&model);
    let sgd = &p.runs.cfg.sgd;
    let (lr, lr_after) = match sgd.schedule {
        Schedule::StepDecay { lr, lr_after, .. } => (lr, lr_after),
        _ => (f64::NAN, f64::NAN),
    };
    let fmt_proj = |pr: &Option<(Vec<f64>, f64, f64)>| match pr {
        Some((_, l, e)) => format!("held-out loss {} (error {})", fmt_label(*l), fmt_label(*e)),
        None => "projection did not converge".into(),
    };
    let mut notes = vec![
        format!(
            "{dataset}, {} held out; Mlp width {}, {} (D = {dim}); label-noise SGD B = {}, σ = {}, η = {lr} → {lr_after}; seed {}",
            heldout.len(),
            model.m,
            model.activation,
            sgd.batch_size,
            sgd.label_noise_sigma,
            p.runs.seed
        ),
        format!("{}; held-out classification error {}", traj_note(&t_early), fmt_label(err_early)),
        format!("{}; held-out classification error {}", traj_note(&t_late), fmt_label(err_late)),
        format!(
            "on Γ: proj_Γ(early end) {}, proj_Γ(late end) {}",
            fmt_proj(&early_proj),
            fmt_proj(&late_proj)
        ),
        format!(
            "proj_Γ(θ_k) of the late run's large-LR phase ({} of {} converged): held-out loss {} at k = {} → {} at k = {}",
            proj_pts.len(),
            phase.len(),
            proj_losses.first().map_or("—".into(), |v| fmt_label(*v)),
            p.runs.late_decay / p.phase_points as u64,
            proj_losses.last().map_or("—".into(), |v| fmt_label(*v)),
            p.runs.late_decay
        ),
        format!(
            "largest distance of a trajectory point from the plane: early {}, late {} (‖θ_late‖ = {})",
            fmt_label(t_early.off_plane.iter().copied().fold(0.0, f64::max)),
            fmt_label(t_late.off_plane.iter().copied().fold(0.0, f64::max)),
            fmt_label(t_late.final_norm)
        ),
        gamma_note(&gamma_residuals, p.gamma_points),
        "one seed, an illustration; the statistics over seeds are claim C13 (`latedecay verify`)"
            .into(),
    ];
    if let LandscapePlane::FilterNormalized { seed } = p.plane {
        notes.push(format!(
            "plane: filter-normalized random directions at θ_late (Li et al. 2018), seed {seed}"
        ));
    }
    let axis_labels = match p.plane {
        LandscapePlane::ThroughEnds => (
            "c₁ = ⟨θ − θ₀, e₁⟩".to_string(),
            "c₂ = ⟨θ − θ₀, e₂⟩".to_string(),
        ),
        LandscapePlane::FilterNormalized { .. } => (
            "c₁ = ⟨θ − θ_late, e₁⟩ (±‖δ₁‖)".to_string(),
            "c₂ = ⟨θ − θ_late, e₂⟩ (±‖δ₂⊥‖)".to_string(),
        ),
    };
    Ok(LandscapeData {
        title: dataset.clone(),
        test_label: format!("held-out loss ({} held-out digits)", heldout.len()),
        surface,
        trajectories: vec![t_early, t_late],
        gamma,
        gamma_residuals,
        gamma_label: "Γ (early–late chord, projected)".into(),
        extra_curves: vec![ExtraCurve {
            label: "proj_Γ(θ_k), late run, large-LR phase".into(),
            points: proj_pts,
            values: proj_losses,
        }],
        markers,
        notes,
        axis_labels,
    })
}

fn marker(
    label: &str,
    plane: &Plane,
    theta: &[f64],
    shape: MarkerShape,
    color_index: Option<usize>,
) -> LandscapeMarker {
    let (x, y) = plane.coords(theta);
    LandscapeMarker {
        label: label.to_string(),
        x,
        y,
        off_plane: plane.off_plane_distance(theta),
        shape,
        color_index,
    }
}

fn traj_note(t: &Trajectory) -> String {
    format!(
        "{}: final train loss {}, test loss {}, ‖θ‖ = {}",
        t.label,
        fmt_label(t.final_train_loss),
        fmt_label(t.final_test_loss),
        fmt_label(t.final_norm)
    )
}

fn gamma_note(res: &[f64], tried: usize) -> String {
    format!(
        "Γ curve: {} of {} points projected, max residual ‖r‖ = {}",
        res.len(),
        tried,
        fmt_label(res.iter().copied().fold(0.0, f64::max))
    )
}

/// F2 settings: the default late-decay experiment (optionally smaller d).
#[derive(Debug, Clone, PartialEq)]
pub struct DiagonalLandscapeParams {
    /// The two runs (the experiment gives data, init and SGD).
    pub runs: EarlyLateRuns,
    /// Grid points per axis.
    pub grid: usize,
}

impl DiagonalLandscapeParams {
    /// Defaults: `ExperimentConfig::default_late_decay()` (d = 100, n = 40),
    /// T = 0 vs T = 800k (quick: 200k), 40k steps after the decay.
    pub fn new(quick: bool) -> Self {
        Self {
            runs: EarlyLateRuns {
                cfg: ExperimentConfig::default_late_decay(),
                seed: 1,
                early_decay: 0,
                late_decay: if quick { 200_000 } else { 800_000 },
                steps_after: 40_000,
            },
            grid: if quick { 31 } else { 71 },
        }
    }
}

/// The experiment's SGD method with its η₁ → η₂ decaying at `decay`.
fn step_decay_of(cfg: &ExperimentConfig, decay: u64) -> Result<Sgd, FigureError> {
    let (lr, lr_after) = match cfg.sgd.schedule {
        Schedule::StepDecay { lr, lr_after, .. } => (lr, lr_after),
        ref other => {
            return Err(FigureError::Input(format!(
                "sgd.schedule = {other:?}: the figures need a step_decay schedule"
            )))
        }
    };
    let method = cfg.sgd.with_step_decay(lr, lr_after, decay);
    method.schedule.validate()?;
    Ok(method)
}

pub(crate) fn diagonal_problem(
    cfg: &ExperimentConfig,
) -> Result<(Prepared<f64>, Problem<f64, crate::model::Diagonal>), FigureError> {
    let prepared = Prepared::<f64>::new(&crate::experiment::Experiment::new(cfg.clone())?, ())?;
    let problem = match &prepared.problem {
        AnyProblem::Diagonal(p) => p.clone(),
        AnyProblem::Linear(_) | AnyProblem::Mlp(_) => {
            return Err(FigureError::Input(format!(
                "model = {}: this figure needs the diagonal model",
                cfg.model
            )))
        }
    };
    Ok((prepared, problem))
}

/// θ_ref with each coordinate pair (u_j, v_j) sign-flipped to be nearest θ.
pub(crate) fn nearest_flip(theta_ref: &[f64], theta: &[f64]) -> Vec<f64> {
    let d = theta.len() / 2;
    let mut out = theta_ref.to_vec();
    for j in 0..d {
        let plus = (theta[j] - theta_ref[j]).powi(2) + (theta[j + d] - theta_ref[j + d]).powi(2);
        let minus = (theta[j] + theta_ref[j]).powi(2) + (theta[j + d] + theta_ref[j + d]).powi(2);
        if minus < plus {
            out[j] = -theta_ref[j];
            out[j + d] = -theta_ref[j + d];
        }
    }
    out
}

/// F2 data: Diagonal landscapes with Γ, θ_mn and the test minimizer marked.
pub fn diagonal_landscape(p: &DiagonalLandscapeParams) -> Result<LandscapeData, FigureError> {
    let (prepared, problem) = diagonal_problem(&p.runs.cfg)?;
    let theta0: Vec<f64> = initial_theta(&p.runs.cfg.init, problem.dim(), p.runs.seed, ());
    let reference = prepared.reference();
    let theta_mn = &prepared.minnorm.theta;
    let [(early, mut t_early, th_early), (late, mut t_late, th_late)] = p.runs.run(
        &problem,
        &theta0,
        || KeepTheta {
            inner: StandardProbe::new(&problem, Some(theta_mn)),
            thetas: vec![],
        },
        |probe| probe.thetas,
    )?;
    let plane = Plane::through(&theta0, &early, &late)?;
    t_early.place(&plane, &th_early);
    t_late.place(&plane, &th_late);
    let (gamma, gamma_residuals) = gamma_curve(&problem, &plane, &early, &late, 41, 1e-10)?;
    let mn = nearest_flip(theta_mn, &late);
    // The minimum-norm point of the test minimizer set {u ⊙ v = β*}:
    // u_j = sign(β*_j)√|β*_j|, v_j = √|β*_j|.
    let beta_star = problem.data.beta_star.clone().unwrap_or_default();
    let d = problem.data.d();
    let mut star = vec![0.0; 2 * d];
    for (j, b) in beta_star.iter().enumerate() {
        star[j] = if *b < 0.0 {
            -b.abs().sqrt()
        } else {
            b.abs().sqrt()
        };
        star[j + d] = b.abs().sqrt();
    }
    let star = nearest_flip(&star, &late);
    let markers = vec![
        marker("θ₀ (init)", &plane, &theta0, MarkerShape::Circle, None),
        marker(
            &format!("early end (test {})", fmt_label(t_early.final_test_loss)),
            &plane,
            &early,
            MarkerShape::Square,
            Some(1),
        ),
        marker(
            &format!("late end (test {})", fmt_label(t_late.final_test_loss)),
            &plane,
            &late,
            MarkerShape::Diamond,
            Some(4),
        ),
        marker("θ_mn (projected)", &plane, &mn, MarkerShape::Star, Some(7)),
        marker(
            "u⊙v = β* (projected)",
            &plane,
            &star,
            MarkerShape::Cross,
            None,
        ),
    ];
    let mut pts: Vec<(f64, f64)> = t_early.points.clone();
    pts.extend(&t_late.points);
    pts.extend(markers.iter().map(|m| (m.x, m.y)));
    pts.extend(&gamma);
    let (xs, ys) = grid_around(&pts, p.grid);
    let surface = LossSurface::evaluate(&plane, xs, ys, &|t| problem.train_loss(t), &|t| {
        problem.test_loss(t).unwrap_or(f64::NAN)
    });
    let dist = |t: &[f64]| -> f64 {
        t.iter()
            .zip(&mn)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
            / reference.minnorm_norm
    };
    let data = &problem.data;
    let notes = vec![
        format!(
            "Diagonal d = {}, n = {}, label-noise SGD σ = {}, B = {}",
            d,
            data.n(),
            p.runs.cfg.sgd.label_noise_sigma,
            p.runs.cfg.sgd.batch_size
        ),
        traj_note(&t_early),
        traj_note(&t_late),
        format!(
            "‖θ_mn‖ = {}, R(β_mn) = {}; ‖θ−θ_mn‖/‖θ_mn‖: early {}, late {}; θ_mn is {} off the plane",
            fmt_label(reference.minnorm_norm),
            fmt_label(reference.minnorm_test_loss),
            fmt_label(dist(&early)),
            fmt_label(dist(&late)),
            fmt_label(plane.off_plane_distance(&mn))
        ),
        gamma_note(&gamma_residuals, 41),
    ];
    Ok(LandscapeData {
        title: format!("Diagonal network (d = {}, n = {})", d, data.n()),
        test_label: "test loss R(β(θ))".into(),
        surface,
        trajectories: vec![t_early, t_late],
        gamma,
        gamma_residuals,
        gamma_label: "Γ (early–late chord, projected)".into(),
        extra_curves: vec![],
        markers,
        notes,
        axis_labels: (
            "c₁ = ⟨θ − θ₀, e₁⟩".to_string(),
            "c₂ = ⟨θ − θ₀, e₂⟩".to_string(),
        ),
    })
}

/// `items`, with every label emptied unless `keep` (no legend entry).
fn labelled<T: Clone>(items: &[T], keep: bool, label: impl Fn(&mut T) -> &mut String) -> Vec<T> {
    let mut out = items.to_vec();
    if !keep {
        out.iter_mut().for_each(|t| label(t).clear());
    }
    out
}

/// Render F1/F2: two filled-contour panels (train, test) with a shared log
/// colour scale, trajectories, Γ and markers; writes `stem.{svg,png,csv}` and
/// `stem_overlays.csv`.
pub fn render_landscape(data: &LandscapeData, stem: &Path) -> Result<Vec<PathBuf>, FigureError> {
    // Log colour scale: floor at 1e-12 × the largest value so that exact zeros
    // (points on Γ) do not stretch the scale.
    let max = data
        .surface
        .train
        .iter()
        .chain(&data.surface.test)
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let floor = (max * 1e-12).max(f64::MIN_POSITIVE);
    let clip = |g: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        g.iter()
            .map(|r| {
                r.iter()
                    .map(|&v| if v.is_finite() { v.max(floor) } else { v })
                    .collect()
            })
            .collect()
    };
    // The curves (black: palette colour 6) beneath the trajectories.
    let mut paths = if data.gamma.len() >= 2 {
        vec![PathOverlay {
            label: data.gamma_label.clone(),
            points: data.gamma.clone(),
            color_index: Some(6),
            dashed: true,
        }]
    } else {
        vec![]
    };
    let extra = data.extra_curves.iter().filter(|c| c.points.len() >= 2);
    paths.extend(extra.map(|c| PathOverlay {
        label: c.label.clone(),
        points: c.points.clone(),
        color_index: Some(6),
        dashed: false,
    }));
    paths.extend(data.trajectories.iter().map(|t| PathOverlay {
        label: t.label.clone(),
        points: t.points.clone(),
        color_index: Some(t.color_index),
        dashed: false,
    }));
    let markers: Vec<Marker> = data
        .markers
        .iter()
        .map(|m| Marker {
            label: m.label.clone(),
            x: m.x,
            y: m.y,
            shape: m.shape,
            color_index: m.color_index,
        })
        .collect();
    let panel = |title: String, values: Vec<Vec<f64>>, legend: bool| ContourPanel {
        axes: Axes::new(title)
            .x(&data.axis_labels.0, AxisScale::Linear)
            .y(&data.axis_labels.1, AxisScale::Linear),
        xs: data.surface.xs.clone(),
        ys: data.surface.ys.clone(),
        values,
        log_color: true,
        // The second panel repeats the overlays without legend entries.
        paths: labelled(&paths, legend, |p| &mut p.label),
        markers: labelled(&markers, legend, |m| &mut m.label),
    };
    let fig = ContourFigure {
        panels: vec![
            panel(
                format!("{}: training loss L(θ)", data.title),
                clip(&data.surface.train),
                true,
            ),
            panel(data.test_label.clone(), clip(&data.surface.test), false),
        ],
        colorbar_label: "loss (log scale)".into(),
        shared_color_scale: true,
        iso_lines: true,
    };
    let mut files = fig.render(stem)?;
    let csv = super::with_ext(stem, "csv");
    let grid = &data.surface;
    let mut cols = grid_columns(&grid.xs, &grid.ys, &grid.train)?;
    cols.push(grid_columns(&grid.xs, &grid.ys, &grid.test)?.remove(2));
    write_columns(&csv, &["x", "y", "train_loss", "test_loss"], &cols)?;
    files.push(csv);
    let mut ov: [Vec<f64>; 5] = Default::default();
    let mut push = |kind: f64, idx: usize, (x, y): (f64, f64), v: f64| {
        ov[0].push(kind);
        ov[1].push(idx as f64);
        ov[2].push(x);
        ov[3].push(y);
        ov[4].push(v);
    };
    for (k, t) in data.trajectories.iter().enumerate() {
        for (i, (&pt, &s)) in t.points.iter().zip(&t.steps).enumerate() {
            push(k as f64, i, pt, s as f64);
        }
    }
    for (i, (&pt, &r)) in data.gamma.iter().zip(&data.gamma_residuals).enumerate() {
        push(2.0, i, pt, r);
    }
    for (i, m) in data.markers.iter().enumerate() {
        push(3.0, i, (m.x, m.y), m.off_plane);
    }
    for (c, curve) in data.extra_curves.iter().enumerate() {
        for (i, (&pt, &v)) in curve.points.iter().zip(&curve.values).enumerate() {
            push(4.0 + c as f64, i, pt, v);
        }
    }
    let sibling = |suffix: &str| {
        super::with_ext(
            &stem.with_file_name(format!(
                "{}_{suffix}",
                stem.file_name()
                    .and_then(|s| s.to_str())
                    .unwrap_or("landscape")
            )),
            "csv",
        )
    };
    let ov_path = sibling("overlays");
    write_columns(&ov_path, &["kind", "index", "x", "y", "value"], &ov)?;
    files.push(ov_path);
    // Every trajectory point with its step, η, losses, ‖θ‖ and its distance
    // from the plane (how much of θ_k the picture shows).
    let mut tr: [Vec<f64>; 9] = Default::default();
    for (k, t) in data.trajectories.iter().enumerate() {
        for ((&(x, y), r), &off) in t.points.iter().zip(&t.records).zip(&t.off_plane) {
            for (col, v) in tr.iter_mut().zip([
                k as f64,
                r.step as f64,
                r.lr,
                x,
                y,
                off,
                r.train_loss,
                r.test_loss,
                r.norm,
            ]) {
                col.push(v);
            }
        }
    }
    let tr_path = sibling("trajectories");
    write_columns(
        &tr_path,
        &[
            "run",
            "step",
            "lr",
            "x",
            "y",
            "off_plane",
            "train_loss",
            "test_loss",
            "norm",
        ],
        &tr,
    )?;
    files.push(tr_path);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Li et al. (2018): every filter (row w_k of W, and the output weights
    /// a) of a direction has the norm of θ's filter.
    #[test]
    fn directions_are_filter_normalized() {
        let model = Mlp::new(5, 3);
        let theta = model.gaussian_init::<f64>(2, 1.0, 1.0, ());
        let [d1, d2] = filter_normalized_directions(&model, &theta, 7);
        let nrm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for d in [&d1, &d2] {
            for k in 0..3 {
                let f = k * 5..(k + 1) * 5;
                assert!((nrm(&d[f.clone()]) - nrm(&theta[f])).abs() < 1e-12);
            }
            assert!((nrm(&d[15..18]) - nrm(&theta[15..18])).abs() < 1e-12);
        }
        assert_ne!(d1, d2);
        // Negative control: a raw Gaussian direction is not normalized so.
        let raw: Vec<f64> = d1.iter().map(|x| x * 1.5).collect();
        assert!((nrm(&raw[0..5]) - nrm(&theta[0..5])).abs() > 1e-3);
    }
}
