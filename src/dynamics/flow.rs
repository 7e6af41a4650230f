//! The slow flow along the minima manifold Γ (time τ = Σ_k η_k²).
//!
//! Label noise, closed form (derivation: `proofs/slow_flow.md`):
//!
//! dθ/dτ = −(σ²/(4B)) P(θ) ∇ tr G(θ),   P(θ) = I − Jᵀ(JJᵀ)⁻¹J,
//!
//! kept on Γ by projecting back onto Γ (Gauss–Newton, [`project_onto_manifold`]).
//! For `Diagonal` with normalized columns ∇ tr G = 2θ, so the flow is the
//! Riemannian gradient flow of (σ²/(4B))‖θ‖² on Γ; for `Linear` ∇ tr G = 0 and
//! the flow is zero.
//!
//! Two integrators:
//! * [`label_noise_flow`] (f64): Dormand–Prince 5(4) from `ode_solvers`
//!   (sparse output) between consecutive output times, each output point
//!   projected back onto Γ (segments longer than `max_segment` are split);
//! * [`label_noise_flow_generic`] (any [`Real`]): classical RK4 with fixed step
//!   `dtau`, projected onto Γ after every step (cross-checks, moderate accuracy);
//! * [`label_noise_flow_gbs`] (any [`Real`], for MPFR): adaptive
//!   Gragg–Bulirsch–Stoer macro steps with exact rational weights, projected
//!   after every step — ~1e-70 self-consistency at 256 bits.
//!
//! The drift constant ¼ is a field ([`FlowSettings::drift_constant`]) so that the
//! negative control "constant ½" can be run through the same code (and rejected
//! by the C6 check in `tests/flow.rs`).

use ode_solvers::{DVector, Dopri5, OutputType, System};
use serde::{Deserialize, Serialize};

use super::gradient_flow::{gbs_step, GradientFlowSettings};
use crate::field_error::FieldError;
use crate::linalg::{norm, LinalgError};
use crate::manifold::{project_onto_manifold, project_tangent};
use crate::model::{Problem, TraceGradient};
use crate::scalar::Real;

/// The label-noise constant of the closed-form flow: dθ/dτ = −(¼)(σ²/B) P∇trG.
pub const LABEL_NOISE_DRIFT_CONSTANT: f64 = 0.25;

/// Settings of the label-noise slow flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    /// Label-noise standard deviation σ.
    pub sigma: f64,
    /// Minibatch size B.
    pub batch_size: usize,
    /// The constant c in dθ/dτ = −c (σ²/B) P ∇trG (¼ is correct; ½ is the
    /// negative control).
    #[serde(default = "default_constant")]
    pub drift_constant: f64,
    /// Relative tolerance of the adaptive f64 integrator.
    #[serde(default = "default_rtol")]
    pub rtol: f64,
    /// Absolute tolerance of the adaptive f64 integrator.
    #[serde(default = "default_atol")]
    pub atol: f64,
    /// Longest τ-interval integrated without projecting back onto Γ.
    #[serde(default = "default_max_segment")]
    pub max_segment: f64,
    /// Target residual ‖r(θ)‖ of the projections onto Γ; it is raised to
    /// 1e3 ε of the working precision if smaller (the default: as tight as the
    /// precision allows, 2e-13 in f64, 2e-74 at 256 bits).
    #[serde(default = "default_projection_tol")]
    pub projection_tol: f64,
}

fn default_constant() -> f64 {
    LABEL_NOISE_DRIFT_CONSTANT
}
fn default_rtol() -> f64 {
    1e-10
}
fn default_atol() -> f64 {
    1e-12
}
fn default_max_segment() -> f64 {
    0.25
}
fn default_projection_tol() -> f64 {
    // "as tight as the precision allows": raised to 1e3 ε of the context.
    f64::MIN_POSITIVE
}

impl FlowSettings {
    /// Correct label-noise flow (constant ¼) with default tolerances.
    ///
    /// # Examples
    /// ```
    /// use latedecay::dynamics::flow::FlowSettings;
    /// let s = FlowSettings::label_noise(0.5, 2);
    /// assert_eq!(s.coefficient(), 0.25 * 0.25 / 2.0);
    /// ```
    pub fn label_noise(sigma: f64, batch_size: usize) -> Self {
        Self {
            sigma,
            batch_size,
            drift_constant: LABEL_NOISE_DRIFT_CONSTANT,
            rtol: default_rtol(),
            atol: default_atol(),
            max_segment: default_max_segment(),
            projection_tol: default_projection_tol(),
        }
    }

    /// The coefficient c σ²/B multiplying −P∇trG (f64).
    pub fn coefficient(&self) -> f64 {
        self.drift_constant * self.sigma * self.sigma / self.batch_size as f64
    }

    /// The coefficient c σ²/B in a working precision (σ and c are taken as
    /// the exact values of their f64s; the product is not rounded to f64).
    pub fn coefficient_in<R: Real>(&self, ctx: R::Ctx) -> R {
        let mut c = R::from_f64(self.sigma, ctx);
        c *= self.sigma;
        c *= self.drift_constant;
        c /= self.batch_size as f64;
        c
    }

    /// Check every field.
    pub fn validate(&self) -> Result<(), FlowError> {
        let bad = |field: &'static str, value: String, reason: &str| {
            FlowError::InvalidField(FieldError::new(field, value, reason))
        };
        FieldError::check_non_negative("sigma", self.sigma).map_err(FlowError::InvalidField)?;
        if self.batch_size == 0 {
            return Err(bad("batch_size", "0".into(), "must be ≥ 1"));
        }
        FieldError::check_finite("drift_constant", self.drift_constant)
            .map_err(FlowError::InvalidField)?;
        for (field, v) in [
            ("rtol", self.rtol),
            ("atol", self.atol),
            ("max_segment", self.max_segment),
            ("projection_tol", self.projection_tol),
        ] {
            FieldError::check_positive(field, v).map_err(FlowError::InvalidField)?;
        }
        Ok(())
    }
}

/// Errors of the flow integrators.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A setting has an invalid value.
    #[error("invalid flow setting: {0}")]
    InvalidField(FieldError),
    /// The output times are not increasing or not finite.
    #[error("invalid tau grid: {0}")]
    InvalidGrid(String),
    /// JJᵀ singular (θ is a singular point of Γ).
    #[error("tangent projection failed at tau = {tau}: {source}")]
    Linalg {
        /// Time.
        tau: f64,
        /// Cause.
        source: LinalgError,
    },
    /// The adaptive integrator failed.
    #[error("ode_solvers integration failed between tau = {from} and {to}: {message}")]
    Integration {
        /// Segment start.
        from: f64,
        /// Segment end.
        to: f64,
        /// Message.
        message: String,
    },
    /// The projection onto Γ did not reach its tolerance.
    #[error("projection onto the manifold failed at tau = {tau}: residual {residual:e}")]
    Projection {
        /// Time.
        tau: f64,
        /// Residual reached.
        residual: f64,
    },
}

/// A flow trajectory sampled on a τ grid.
#[derive(Debug, Clone)]
pub struct FlowTrajectory<R> {
    /// Output times τ (the requested grid).
    pub taus: Vec<f64>,
    /// θ(τ) at each output time (projected onto Γ).
    pub thetas: Vec<Vec<R>>,
    /// ‖θ(τ)‖.
    pub norms: Vec<f64>,
    /// ‖r(θ(τ))‖ after projection.
    pub residuals: Vec<f64>,
    /// Vector-field evaluations used.
    pub evaluations: usize,
}

impl<R: Real> FlowTrajectory<R> {
    /// The last point.
    pub fn last(&self) -> &[R] {
        self.thetas
            .last()
            .expect("a trajectory has at least one point")
    }
}

/// The closed-form label-noise drift `−c (σ²/B) · P(θ) ∇trG(θ)` with the
/// coefficient of `settings` computed in the working precision.
///
/// # Examples
/// ```
/// use latedecay::data::{Dataset, SyntheticConfig};
/// use latedecay::dynamics::flow::{label_noise_drift, FlowSettings};
/// use latedecay::model::{Linear, Problem};
/// let data = Dataset::synthetic(&SyntheticConfig { n: 3, d: 6, ..Default::default() }).unwrap();
/// let problem = Problem::new(Linear::new(6), data);
/// let v = label_noise_drift(&problem, &[0.1; 6], &FlowSettings::label_noise(1.0, 1)).unwrap();
/// assert!(v.iter().all(|x| *x == 0.0)); // Linear: ∇ tr G = 0
/// ```
pub fn label_noise_drift<R: Real, M: TraceGradient<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    settings: &FlowSettings,
) -> Result<Vec<R>, LinalgError> {
    let ctx = problem.ctx();
    let mut coef: R = settings.coefficient_in(ctx);
    coef.neg_mut();
    let mut g = vec![R::zero(ctx); theta.len()];
    problem
        .model
        .grad_trace_gn_into(theta, &problem.data, &mut g);
    let mut p = project_tangent(problem, theta, &g)?;
    for v in p.iter_mut() {
        *v *= &coef;
    }
    Ok(p)
}

fn check_grid(taus: &[f64]) -> Result<(), FlowError> {
    if taus.is_empty() {
        return Err(FlowError::InvalidGrid("empty".into()));
    }
    if !taus.iter().all(|t| t.is_finite() && *t >= 0.0) {
        return Err(FlowError::InvalidGrid(format!(
            "times must be finite and ≥ 0, got {taus:?}"
        )));
    }
    if taus.windows(2).any(|w| w[1] <= w[0]) {
        return Err(FlowError::InvalidGrid(
            "times must be strictly increasing".into(),
        ));
    }
    Ok(())
}

fn projection_tol<R: Real>(settings: &FlowSettings, ctx: R::Ctx) -> f64 {
    settings.projection_tol.max(1e3 * R::epsilon(ctx))
}

/// The common start of every slow-flow integrator: check the settings and
/// the output grid, project θ₀ onto Γ, and open the trajectory with the
/// start point at `taus[0]`. Returns the projection tolerance, the start
/// point and the trajectory.
fn start_flow<R: Real, M: TraceGradient<R>>(
    problem: &Problem<R, M>,
    theta0: &[R],
    settings: &FlowSettings,
    taus: &[f64],
) -> Result<(f64, Vec<R>, FlowTrajectory<R>), FlowError> {
    settings.validate()?;
    check_grid(taus)?;
    let tol = projection_tol::<R>(settings, problem.ctx());
    let (theta, res0) = project(problem, theta0, tol, taus[0])?;
    let out = FlowTrajectory {
        taus: taus.to_vec(),
        thetas: vec![theta.clone()],
        norms: vec![norm(&theta).to_f64()],
        residuals: vec![res0],
        evaluations: 0,
    };
    Ok((tol, theta, out))
}

fn project<R: Real, M: TraceGradient<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    tol: f64,
    tau: f64,
) -> Result<(Vec<R>, f64), FlowError> {
    let proj = project_onto_manifold(problem, theta, tol, 100)
        .map_err(|source| FlowError::Linalg { tau, source })?;
    // Accept the roundoff floor: 10× the tolerance.
    if proj.residual_norm.is_nan() || proj.residual_norm > 10.0 * tol {
        return Err(FlowError::Projection {
            tau,
            residual: proj.residual_norm,
        });
    }
    Ok((proj.theta, proj.residual_norm))
}

struct FlowSystem<'a, M> {
    problem: &'a Problem<f64, M>,
    settings: &'a FlowSettings,
    failed: &'a std::cell::Cell<bool>,
    evaluations: &'a std::cell::Cell<usize>,
}

impl<M: TraceGradient<f64>> System<f64, DVector<f64>> for FlowSystem<'_, M> {
    fn system(&self, _tau: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        self.evaluations.set(self.evaluations.get() + 1);
        match label_noise_drift(self.problem, y.as_slice(), self.settings) {
            Ok(v) => dy.as_mut_slice().copy_from_slice(&v),
            Err(_) => {
                self.failed.set(true);
                dy.fill(f64::NAN);
            }
        }
    }
}

/// Integrate the label-noise slow flow in f64 with Dormand–Prince 5(4)
/// (`ode_solvers::Dopri5`, sparse output) from `theta0` (projected onto Γ
/// first) and return θ at every τ in `taus` (strictly increasing, ≥ 0; the
/// flow starts at τ = 0, or at `taus[0]` if that is larger — the start point
/// is reported at `taus[0]`).
pub fn label_noise_flow<M: TraceGradient<f64>>(
    problem: &Problem<f64, M>,
    theta0: &[f64],
    settings: &FlowSettings,
    taus: &[f64],
) -> Result<FlowTrajectory<f64>, FlowError> {
    let (tol, mut theta, mut out) = start_flow(problem, theta0, settings, taus)?;
    for w in taus.windows(2) {
        let (start, end) = (w[0], w[1]);
        let pieces = ((end - start) / settings.max_segment).ceil().max(1.0) as usize;
        let mut residual = 0.0;
        for p in 0..pieces {
            let a = start + (end - start) * p as f64 / pieces as f64;
            let b = if p + 1 == pieces {
                end
            } else {
                start + (end - start) * (p + 1) as f64 / pieces as f64
            };
            let failed = std::cell::Cell::new(false);
            let evaluations = std::cell::Cell::new(0usize);
            let system = FlowSystem {
                problem,
                settings,
                failed: &failed,
                evaluations: &evaluations,
            };
            let y0 = DVector::from_vec(theta.clone());
            let mut solver = Dopri5::new(system, a, b, b - a, y0, settings.rtol, settings.atol);
            solver.set_output(OutputType::Sparse);
            let stats = solver.integrate();
            if let Err(e) = stats {
                return Err(FlowError::Integration {
                    from: a,
                    to: b,
                    message: e.to_string(),
                });
            }
            out.evaluations += evaluations.get();
            if failed.get() {
                return Err(FlowError::Integration {
                    from: a,
                    to: b,
                    message: "the tangent projection failed (JJᵀ singular)".into(),
                });
            }
            let last = solver
                .y_out()
                .last()
                .ok_or_else(|| FlowError::Integration {
                    from: a,
                    to: b,
                    message: "no output".into(),
                })?
                .as_slice()
                .to_vec();
            if !last.iter().all(|v| v.is_finite()) {
                return Err(FlowError::Integration {
                    from: a,
                    to: b,
                    message: "non-finite state".into(),
                });
            }
            let (t, r) = project(problem, &last, tol, b)?;
            theta = t;
            residual = r;
        }
        out.norms.push(norm(&theta));
        out.residuals.push(residual);
        out.thetas.push(theta.clone());
    }
    Ok(out)
}

/// Integrate the label-noise slow flow in any precision with classical RK4 of
/// fixed step ≤ `dtau`, projecting onto Γ after every step. Output at `taus`.
///
/// Global error O(dτ⁴) plus the projection residual; with 256 bits and
/// dτ = 1e-3 the error is ~1e-12·C, so use it for cross-checks and
/// moderate accuracy, not for 1e-20 claims.
pub fn label_noise_flow_generic<R: Real, M: TraceGradient<R>>(
    problem: &Problem<R, M>,
    theta0: &[R],
    settings: &FlowSettings,
    taus: &[f64],
    dtau: f64,
) -> Result<FlowTrajectory<R>, FlowError> {
    FieldError::check_positive("dtau", dtau).map_err(FlowError::InvalidField)?;
    let ctx = problem.ctx();
    let (tol, mut theta, mut out) = start_flow(problem, theta0, settings, taus)?;
    let dim = theta.len();
    let mut stage = vec![R::zero(ctx); dim];
    let mut tmp = R::zero(ctx);
    for w in taus.windows(2) {
        let (start, end) = (w[0], w[1]);
        let steps = ((end - start) / dtau).ceil().max(1.0) as usize;
        let h = (end - start) / steps as f64;
        let mut residual = 0.0;
        for s in 0..steps {
            let tau = start + s as f64 * h;
            let lin = |tau: f64, e| FlowError::Linalg { tau, source: e };
            let k1 = label_noise_drift(problem, &theta, settings).map_err(|e| lin(tau, e))?;
            axpy_into(&mut stage, &theta, &k1, h / 2.0, &mut tmp);
            let k2 = label_noise_drift(problem, &stage, settings).map_err(|e| lin(tau, e))?;
            axpy_into(&mut stage, &theta, &k2, h / 2.0, &mut tmp);
            let k3 = label_noise_drift(problem, &stage, settings).map_err(|e| lin(tau, e))?;
            axpy_into(&mut stage, &theta, &k3, h, &mut tmp);
            let k4 = label_noise_drift(problem, &stage, settings).map_err(|e| lin(tau, e))?;
            out.evaluations += 4;
            for i in 0..dim {
                tmp.assign(&k2[i]);
                tmp += &k3[i];
                tmp *= 2.0;
                tmp += &k1[i];
                tmp += &k4[i];
                tmp *= h / 6.0;
                theta[i] += &tmp;
            }
            if !theta.iter().all(Real::is_finite) {
                return Err(FlowError::Integration {
                    from: tau,
                    to: tau + h,
                    message: "non-finite state".into(),
                });
            }
            let (t, r) = project(problem, &theta, tol, tau + h)?;
            theta = t;
            residual = r;
        }
        out.norms.push(norm(&theta).to_f64());
        out.residuals.push(residual);
        out.thetas.push(theta.clone());
    }
    Ok(out)
}

/// `out = base + alpha · dir`.
fn axpy_into<R: Real>(out: &mut [R], base: &[R], dir: &[R], alpha: f64, tmp: &mut R) {
    for ((o, b), d) in out.iter_mut().zip(base).zip(dir) {
        tmp.assign(d);
        *tmp *= alpha;
        o.assign(b);
        *o += &*tmp;
    }
}

/// Integrate the label-noise slow flow in any precision with adaptive
/// Gragg–Bulirsch–Stoer macro steps ([`gbs_step`], exact rational weights, order
/// up to 2·`max_levels`), projecting onto Γ after every accepted macro step;
/// output at `taus`. Time is tracked in the working precision so that the
/// output times are hit exactly. Uses `initial_step`, `max_step`, `max_levels`
/// and `step_tol` of `gbs` (the gradient-flow fields are ignored). With
/// 256 bits the result is accurate to ~1e-60 (test
/// `tests/flow.rs::high_precision_flow_converges_in_mpfr`).
pub fn label_noise_flow_gbs<R: Real, M: TraceGradient<R>>(
    problem: &Problem<R, M>,
    theta0: &[R],
    settings: &FlowSettings,
    taus: &[f64],
    gbs: &GradientFlowSettings,
) -> Result<FlowTrajectory<R>, FlowError> {
    let ctx = problem.ctx();
    let (tol, mut theta, mut out) = start_flow(problem, theta0, settings, taus)?;
    let mut tau = R::from_f64(taus[0], ctx);
    let mut big_h = gbs.initial_step.min(gbs.max_step);
    let mut residual = out.residuals[0];
    for &end in &taus[1..] {
        let end_r = R::from_f64(end, ctx);
        loop {
            let mut remaining = end_r.clone();
            remaining -= &tau;
            if remaining.is_zero() || remaining.is_negative() {
                break;
            }
            let last = remaining.to_f64() <= big_h;
            let step = if last {
                remaining
            } else {
                R::from_f64(big_h, ctx)
            };
            let at = tau.to_f64();
            let mut field = |z: &[R]| label_noise_drift(problem, z, settings);
            let v0 = field(&theta).map_err(|source| FlowError::Linalg { tau: at, source })?;
            let outcome = gbs_step(
                &mut field,
                &theta,
                &v0,
                &step,
                gbs.max_levels,
                gbs.step_tol,
                &mut out.evaluations,
            )
            .map_err(|source| FlowError::Linalg { tau: at, source })?;
            match outcome {
                Some((next, level)) => {
                    let (t, r) = project(problem, &next, tol, at)?;
                    theta = t;
                    residual = r;
                    tau += &step;
                    if level + 3 < gbs.max_levels && !last {
                        big_h = (big_h * 1.5).min(gbs.max_step);
                    }
                }
                None => {
                    big_h = 0.5 * big_h.min(step.to_f64());
                    if big_h < 1e-12 {
                        return Err(FlowError::Integration {
                            from: at,
                            to: end,
                            message: format!("GBS step size underflow ({big_h:e})"),
                        });
                    }
                }
            }
        }
        out.norms.push(norm(&theta).to_f64());
        out.residuals.push(residual);
        out.thetas.push(theta.clone());
    }
    Ok(out)
}

/// First τ on the grid `0, step, 2·step, … ≤ tau_max` at which `reached(θ(τ))`
/// holds for the f64 flow from `theta0` (projected onto Γ), with θ(τ) there.
/// `None` if it is not reached by `tau_max`.
pub fn time_to_reach<M: TraceGradient<f64>>(
    problem: &Problem<f64, M>,
    theta0: &[f64],
    settings: &FlowSettings,
    step: f64,
    tau_max: f64,
    mut reached: impl FnMut(&[f64]) -> bool,
) -> Result<Option<(f64, Vec<f64>)>, FlowError> {
    FieldError::check_positive("step", step).map_err(FlowError::InvalidField)?;
    let tol = projection_tol::<f64>(settings, ());
    let (mut theta, _) = project(problem, theta0, tol, 0.0)?;
    let mut tau = 0.0;
    loop {
        if reached(&theta) {
            return Ok(Some((tau, theta)));
        }
        if tau + step > tau_max * (1.0 + 1e-12) {
            return Ok(None);
        }
        let traj = label_noise_flow(problem, &theta, settings, &[tau, tau + step])?;
        theta = traj.last().to_vec();
        tau += step;
    }
}
