//! Slow-flow prediction of how long the large-LR phase must be (claims C1–C4).
//!
//! Label-noise SGD with learning rate η, batch B and noise σ drifts along the
//! minima manifold Γ following, in the time τ = Σ_k η_k²,
//!
//! dθ/dτ = −(σ²/(4B)) P(θ) ∇ tr G(θ),
//!
//! kept on Γ (for `Diagonal` with normalized columns ∇ tr G = 2θ, so this is the
//! Riemannian gradient flow of (σ²/(4B))‖θ‖² on Γ). The flow is
//! integrated here with Heun's method on the manifold: each stage evaluates the
//! tangent velocity with [`project_tangent`](crate::manifold::project_tangent), and every intermediate point is
//! retracted onto Γ with [`project_onto_manifold`]. The flow starts at the
//! limit of gradient descent from θ₀ (a proxy for Φ(θ₀), the point where the
//! noiseless dynamics would land), and stops when the relative distance to θ_mn
//! (nearest sign flip) falls below the target. The predicted number of
//! large-LR steps is τ / η₁².
//!
//! The drift is `dynamics::flow::label_noise_drift`; the integrator here (Heun
//! with retraction, stopping at the target distance) is independent of the
//! Dormand–Prince one of `dynamics::flow`, and `tests/claims_exact.rs` checks
//! that both reach the target at the same τ. The derivation and the choice of
//! the target are in `proofs/claims.md`.

use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;
use crate::linalg::norm;
use crate::manifold::project_onto_manifold;
use crate::model::diagonal::flip_distance;
use crate::model::{Diagonal, Problem};

/// Errors of the flow prediction.
#[derive(Debug, thiserror::Error)]
pub enum PhaseLengthError {
    /// Bad setting.
    #[error("slow-flow prediction: {0}")]
    Invalid(FieldError),
    /// Linear algebra failed (J Jᵀ singular).
    #[error("slow-flow prediction: {0}")]
    Linalg(#[from] crate::linalg::LinalgError),
    /// The target was not reached within `tau_max`.
    #[error(
        "slow flow did not reach relative distance {target} by τ = {tau_max} (reached {reached})"
    )]
    NotReached {
        /// Target relative distance.
        target: f64,
        /// Largest τ integrated.
        tau_max: f64,
        /// Relative distance at τ_max.
        reached: f64,
    },
}

/// Settings of [`predict_phase_length`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseLengthSettings {
    /// Label-noise σ.
    pub sigma: f64,
    /// Batch size B.
    pub batch_size: usize,
    /// Large learning rate η₁ (converts τ to steps).
    pub lr: f64,
    /// Target relative distance ‖θ(τ) − θ_mn‖/‖θ_mn‖.
    pub target_rel_dist: f64,
    /// Flow step h in τ.
    pub tau_step: f64,
    /// Give up after this τ.
    pub tau_max: f64,
}

impl Default for PhaseLengthSettings {
    fn default() -> Self {
        Self {
            sigma: 1.0,
            batch_size: 1,
            lr: 0.004,
            target_rel_dist: 0.025,
            tau_step: 0.1,
            tau_max: 2000.0,
        }
    }
}

/// One point of the integrated flow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlowPoint {
    /// Flow time τ.
    pub tau: f64,
    /// ‖θ(τ)‖.
    pub norm: f64,
    /// ‖θ(τ) − θ_mn‖ / ‖θ_mn‖ (nearest flip).
    pub rel_dist: f64,
}

/// Result of [`predict_phase_length`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowPrediction {
    /// Settings used.
    pub settings: PhaseLengthSettings,
    /// Relative distance of the flow's starting point Φ(θ₀) to θ_mn.
    pub start_rel_dist: f64,
    /// ‖r‖ at the starting point (after gradient descent and projection).
    pub start_residual: f64,
    /// Flow time at which the target was reached.
    pub tau_needed: f64,
    /// τ / η₁²: predicted number of large-LR steps.
    pub steps_needed: u64,
    /// Recorded flow points (every 1.0 in τ and the last).
    pub trajectory: Vec<FlowPoint>,
    /// Largest ‖r‖ after a retraction along the way.
    pub max_residual: f64,
}

/// Velocity of the label-noise slow flow: −(σ²/(4B)) P(θ) ∇ tr G(θ).
///
/// # Examples
///
/// ```
/// use latedecay::claims::flow::{gradient_descent_limit, slow_flow_velocity};
/// use latedecay::data::{Dataset, SyntheticConfig};
/// use latedecay::model::{Diagonal, Problem};
/// let data = Dataset::synthetic(&SyntheticConfig {
///     n: 8, d: 20, normalize_columns: true, ..Default::default()
/// }).unwrap();
/// let problem = Problem::new(Diagonal::new(20), data);
/// let (theta, residual) = gradient_descent_limit(&problem, &vec![1.0; 40], 0.01, 100_000).unwrap();
/// assert!(residual < 1e-10);
/// let v = slow_flow_velocity(&problem, &theta, 1.0, 1).unwrap();
/// // Tangent to Γ (J v = 0) …
/// let jv = problem.jacobian(&theta).mul_vec(&v);
/// assert!(jv.iter().all(|x| x.abs() < 1e-10));
/// // … and, with normalized columns (∇tr G = 2θ), it decreases ‖θ‖²:
/// // d‖θ‖²/dτ = 2⟨θ, v⟩ = −‖Pθ‖² < 0.
/// let rate: f64 = theta.iter().zip(&v).map(|(t, w)| t * w).sum();
/// assert!(rate < 0.0);
/// ```
pub fn slow_flow_velocity(
    problem: &Problem<f64, Diagonal>,
    theta: &[f64],
    sigma: f64,
    batch_size: usize,
) -> Result<Vec<f64>, PhaseLengthError> {
    let settings = crate::dynamics::flow::FlowSettings::label_noise(sigma, batch_size);
    Ok(crate::dynamics::flow::label_noise_drift(
        problem, theta, &settings,
    )?)
}

/// Gradient descent from θ₀ until ‖r‖ ≤ 1e-10, then a projection onto Γ: the
/// starting point of the slow flow (an O(lr) approximation of Φ(θ₀)).
pub fn gradient_descent_limit(
    problem: &Problem<f64, Diagonal>,
    theta0: &[f64],
    lr: f64,
    max_steps: usize,
) -> Result<(Vec<f64>, f64), PhaseLengthError> {
    let mut theta = theta0.to_vec();
    for _ in 0..max_steps {
        let res = problem.residual_norm(&theta);
        if res <= 1e-10 || !res.is_finite() {
            break;
        }
        let g = problem.gradient(&theta);
        theta.iter_mut().zip(&g).for_each(|(t, gi)| *t -= lr * gi);
    }
    let p = project_onto_manifold(problem, &theta, 1e-13, 50)?;
    Ok((p.theta, p.residual_norm))
}

/// Integrate the label-noise slow flow from Φ(θ₀) until the relative distance
/// to θ_mn reaches `settings.target_rel_dist`, and convert the flow time to a
/// number of steps at the large learning rate: steps = ⌈τ/η₁²⌉.
///
/// # Examples
///
/// ```
/// use latedecay::claims::flow::{predict_phase_length, PhaseLengthSettings};
/// use latedecay::data::{Dataset, SyntheticConfig};
/// use latedecay::manifold::min_norm_interpolant;
/// use latedecay::model::{Diagonal, ModelKind, Problem};
/// let data = Dataset::synthetic(&SyntheticConfig {
///     n: 8, d: 20, normalize_columns: true, ..Default::default()
/// }).unwrap();
/// let mn = min_norm_interpolant(ModelKind::Diagonal, &data).unwrap();
/// let problem = Problem::new(Diagonal::new(20), data);
/// let settings = PhaseLengthSettings { target_rel_dist: 0.05, ..Default::default() };
/// let p = predict_phase_length(&problem, &vec![1.0; 40], &mn.theta, &settings).unwrap();
/// assert!(p.trajectory.last().unwrap().rel_dist <= 0.05);
/// assert_eq!(p.steps_needed, (p.tau_needed / 0.004f64.powi(2)).ceil() as u64);
/// // ‖θ‖ decreases along the flow (Riemannian gradient flow of ‖θ‖²).
/// assert!(p.trajectory.windows(2).all(|w| w[1].norm <= w[0].norm + 1e-12));
/// ```
pub fn predict_phase_length(
    problem: &Problem<f64, Diagonal>,
    theta0: &[f64],
    theta_mn: &[f64],
    settings: &PhaseLengthSettings,
) -> Result<FlowPrediction, PhaseLengthError> {
    let positive = |field: &str, x: f64| {
        FieldError::check_positive(field, x).map_err(PhaseLengthError::Invalid)
    };
    positive("sigma", settings.sigma)?;
    positive("lr", settings.lr)?;
    positive("target_rel_dist", settings.target_rel_dist)?;
    positive("tau_step", settings.tau_step)?;
    positive("tau_max", settings.tau_max)?;
    if settings.batch_size == 0 {
        return Err(PhaseLengthError::Invalid(FieldError::new(
            "batch_size",
            "0",
            "must be ≥ 1",
        )));
    }
    let mn_norm = norm(theta_mn);
    let rel = |theta: &[f64]| flip_distance(theta, theta_mn) / mn_norm;
    let (mut theta, start_residual) = gradient_descent_limit(problem, theta0, 0.01, 200_000)?;
    let start_rel_dist = rel(&theta);
    let h = settings.tau_step;
    let (sigma, b) = (settings.sigma, settings.batch_size);
    let mut tau = 0.0;
    let mut trajectory = vec![FlowPoint {
        tau,
        norm: norm(&theta),
        rel_dist: start_rel_dist,
    }];
    let mut max_residual = start_residual;
    let mut next_record = 1.0;
    let mut current = start_rel_dist;
    while current > settings.target_rel_dist {
        if tau >= settings.tau_max {
            return Err(PhaseLengthError::NotReached {
                target: settings.target_rel_dist,
                tau_max: settings.tau_max,
                reached: current,
            });
        }
        // Heun: predictor on Γ, corrector with the average tangent velocity.
        let v1 = slow_flow_velocity(problem, &theta, sigma, b)?;
        let pred: Vec<f64> = theta.iter().zip(&v1).map(|(t, v)| t + h * v).collect();
        let pred = project_onto_manifold(problem, &pred, 1e-13, 50)?.theta;
        let v2 = slow_flow_velocity(problem, &pred, sigma, b)?;
        let next: Vec<f64> = theta
            .iter()
            .zip(v1.iter().zip(&v2))
            .map(|(t, (a, c))| t + 0.5 * h * (a + c))
            .collect();
        let proj = project_onto_manifold(problem, &next, 1e-13, 50)?;
        max_residual = max_residual.max(proj.residual_norm);
        theta = proj.theta;
        tau += h;
        current = rel(&theta);
        if tau + 1e-9 >= next_record || current <= settings.target_rel_dist {
            trajectory.push(FlowPoint {
                tau,
                norm: norm(&theta),
                rel_dist: current,
            });
            next_record += 1.0;
        }
    }
    let steps_needed = (tau / (settings.lr * settings.lr)).ceil() as u64;
    Ok(FlowPrediction {
        settings: settings.clone(),
        start_rel_dist,
        start_residual,
        tau_needed: tau,
        steps_needed,
        trajectory,
        max_residual,
    })
}
