//! Probes and records: what a run measures at its recorded steps. The SGD
//! loop ([`crate::dynamics::sgd::run_sgd`]) calls a [`Probe`] at the steps of
//! its record plan and keeps the [`Record`]s; the probes read the model and
//! the data ([`crate::model`]) but the models know nothing of them, so the
//! layers only point downwards (model ← probe ← dynamics).

use serde::{Deserialize, Serialize};

use crate::linalg::{norm, norm_l1, Mat};
use crate::model::mlp::{heldout_loss, MlpWorkspace};
use crate::model::{LinearInX, Mlp, Model, Problem};
use crate::scalar::Real;

/// Measurements at one recorded step (all in f64 for output).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// Step k.
    pub step: u64,
    /// η_k.
    #[serde(with = "crate::nonfinite")]
    pub lr: f64,
    /// SDE time t = Σ_{j<k} η_j.
    #[serde(with = "crate::nonfinite")]
    pub sde_time: f64,
    /// Slow-flow time τ = Σ_{j<k} η_j².
    #[serde(with = "crate::nonfinite")]
    pub flow_time: f64,
    /// Training loss L(θ_k).
    #[serde(with = "crate::nonfinite")]
    pub train_loss: f64,
    /// Test loss R(β(θ_k)) (NaN if β* unknown).
    #[serde(with = "crate::nonfinite")]
    pub test_loss: f64,
    /// ‖θ_k‖.
    #[serde(with = "crate::nonfinite")]
    pub norm: f64,
    /// ‖β(θ_k)‖₁ (NaN for models not linear in x).
    #[serde(with = "crate::nonfinite")]
    pub beta_l1: f64,
    /// ‖r(θ_k)‖, the residual norm (distance to Γ to first order).
    #[serde(with = "crate::nonfinite")]
    pub residual_norm: f64,
    /// Distance to θ_mn (nearest sign flip for Diagonal; NaN without reference).
    #[serde(with = "crate::nonfinite")]
    pub dist_minnorm: f64,
}

/// When a record is taken: step k, η_k and the elapsed times t and τ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordPoint {
    /// Step k.
    pub step: u64,
    /// η_k.
    pub lr: f64,
    /// SDE time t = Σ_{j<k} η_j.
    pub sde_time: f64,
    /// Slow-flow time τ = Σ_{j<k} η_j².
    pub flow_time: f64,
}

impl Record {
    /// A record with the step, learning rate and times only (every
    /// measurement NaN): what [`NullProbe`] returns, and what the probes
    /// fill in.
    pub fn unmeasured(at: RecordPoint) -> Self {
        let RecordPoint {
            step,
            lr,
            sde_time,
            flow_time,
        } = at;
        Self {
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

/// Computes the measurements of a [`Record`] from θ.
pub trait Probe<R: Real> {
    /// Measure θ at a step.
    fn measure(&mut self, at: RecordPoint, theta: &[R]) -> Record;
}

/// A probe that measures nothing, for runs where only the iterate matters
/// (any model; records carry only step, learning rate and times).
#[derive(Debug, Clone, Copy, Default)]
pub struct NullProbe;

impl<R: Real> Probe<R> for NullProbe {
    fn measure(&mut self, at: RecordPoint, _: &[R]) -> Record {
        Record::unmeasured(at)
    }
}

/// The standard probe for models linear in x: every field of [`Record`].
pub struct StandardProbe<'a, R: Real, M> {
    problem: &'a Problem<R, M>,
    reference: Option<&'a [R]>,
    residuals: Vec<R>,
    beta: Vec<R>,
}

impl<'a, R: Real, M: LinearInX<R>> StandardProbe<'a, R, M> {
    /// Probe for a problem, with an optional θ_mn reference (distances by
    /// [`Model::reference_distance`]: the nearest sign flip for Diagonal).
    pub fn new(problem: &'a Problem<R, M>, reference: Option<&'a [R]>) -> Self {
        let ctx = problem.ctx();
        Self {
            problem,
            reference,
            residuals: vec![R::zero(ctx); problem.n()],
            beta: vec![R::zero(ctx); problem.data.d()],
        }
    }
}

impl<R: Real, M: LinearInX<R>> Probe<R> for StandardProbe<'_, R, M> {
    fn measure(&mut self, at: RecordPoint, theta: &[R]) -> Record {
        let p = self.problem;
        self.problem.model.beta_into(theta, &mut self.beta);
        p.data
            .linear_residuals_into(&self.beta, &mut self.residuals);
        let res_norm = norm(&self.residuals).to_f64();
        let n = p.n() as f64;
        Record {
            train_loss: res_norm * res_norm / (2.0 * n),
            test_loss: p
                .data
                .test_loss(&self.beta)
                .map_or(f64::NAN, |v| v.to_f64()),
            norm: norm(theta).to_f64(),
            beta_l1: norm_l1(&self.beta).to_f64(),
            residual_norm: res_norm,
            dist_minnorm: self
                .reference
                .map_or(f64::NAN, |r| p.model.reference_distance(theta, r).to_f64()),
            ..Record::unmeasured(at)
        }
    }
}

/// Probe for [`Mlp`] runs: train loss, held-out test loss, ‖θ‖, ‖r‖; can also
/// keep θ_k (in f64) at each recorded step, e.g. to project a trajectory.
pub struct MlpProbe<'a, R: Real> {
    problem: &'a Problem<R, Mlp>,
    test_x: &'a Mat<R>,
    test_y: &'a [R],
    residuals: Vec<R>,
    ws: MlpWorkspace<R>,
    keep_theta: bool,
    /// θ_k at every recorded step (only with `keep_theta`).
    pub thetas: Vec<Vec<f64>>,
}

impl<'a, R: Real> MlpProbe<'a, R> {
    /// Probe with a held-out sample (`test_x` rows, `test_y` targets).
    pub fn new(
        problem: &'a Problem<R, Mlp>,
        test_x: &'a Mat<R>,
        test_y: &'a [R],
        keep_theta: bool,
    ) -> Self {
        let ctx = problem.ctx();
        Self {
            problem,
            test_x,
            test_y,
            residuals: vec![R::zero(ctx); problem.n()],
            ws: problem.model.workspace(ctx),
            keep_theta,
            thetas: Vec::new(),
        }
    }
}

impl<R: Real> Probe<R> for MlpProbe<'_, R> {
    fn measure(&mut self, at: RecordPoint, theta: &[R]) -> Record {
        let p = self.problem;
        p.residuals_into(theta, &mut self.residuals, &mut self.ws);
        let res_norm = norm(&self.residuals).to_f64();
        if self.keep_theta {
            self.thetas.push(theta.iter().map(Real::to_f64).collect());
        }
        Record {
            train_loss: res_norm * res_norm / (2.0 * p.n() as f64),
            test_loss: heldout_loss(&p.model, theta, self.test_x, self.test_y).to_f64(),
            norm: norm(theta).to_f64(),
            residual_norm: res_norm,
            ..Record::unmeasured(at)
        }
    }
}
