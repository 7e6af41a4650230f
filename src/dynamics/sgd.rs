//! Discrete SGD with minibatches and label noise:
//! θ_{k+1} = θ_k − η_k (1/B) Σ_{i∈I_k} (f_i(θ_k) − y_i − σ ξ_{k,i}) ∇f_i(θ_k).
//!
//! Split in the argmin way: [`Sgd`] is the *method* (serializable settings),
//! [`SgdState`] the *state* (iterate, step, random stream), [`run_sgd`] the
//! *driver* (loop, recording through a [`Probe`], stopping). Generic over the
//! scalar type and the model.

mod fast;
mod fast_mpfr;
mod lockstep;

pub use lockstep::run_sgd_lockstep;

use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;
use crate::model::{Model, Problem};
use crate::noise::{BatchNoise, Sampling};
use crate::scalar::Real;
use crate::schedule::Schedule;

// The loop's signatures take probes and return records; they live in
// `crate::probe` (one path per item: import them from there).
use crate::probe::{NullProbe, Probe, Record, RecordPoint};

/// SGD settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sgd {
    /// Minibatch size B.
    pub batch_size: usize,
    /// Label-noise standard deviation σ (0 = plain minibatch SGD); used by
    /// the default noise model `label`, must be 0 with the others.
    #[serde(default)]
    pub label_noise_sigma: f64,
    /// Noise model (default `label`: label noise of σ = `label_noise_sigma`).
    #[serde(default, skip_serializing_if = "NoiseModel::is_label")]
    pub noise: NoiseModel,
    /// Index sampling.
    #[serde(default)]
    pub sampling: Sampling,
    /// Learning-rate schedule.
    pub schedule: Schedule,
}

/// How SGD is perturbed (`[sgd] noise = { kind = … }`; `proofs/noise_models.md`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NoiseModel {
    /// Label noise σ = `label_noise_sigma` on every sample of the batch (σ = 0:
    /// plain minibatch SGD).
    #[default]
    Label,
    /// Plain minibatch SGD (`label_noise_sigma` must be 0).
    None,
    /// Isotropic parameter noise: θ ← θ − ηg + η s ζ, ζ ~ N(0, I_D), g the
    /// plain minibatch gradient. Give `scale` = s, or `matched_sigma` = σ for
    /// s² = σ² tr G(θ₀)/(B D): the per-step noise covariance then has the
    /// trace η²σ² tr G(θ₀)/B of label noise σ at θ₀.
    Isotropic {
        /// s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<f64>,
        /// σ whose label-noise strength at θ₀ is matched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matched_sigma: Option<f64>,
    },
    /// Full-batch gradient plus label noise on one random sample (HaoChen et
    /// al.'s label-noise GD): g = ∇L(θ) − σ ξ ∇f_i(θ), i uniform, ξ ~ N(0, 1);
    /// on Γ its covariance σ²G equals that of label-noise SGD with B = 1.
    /// `batch_size` must be 1 and `sampling` the default (they are not used).
    Lngd {
        /// σ.
        sigma: f64,
    },
}

impl NoiseModel {
    /// The default model (serialization skips it, so existing configs and
    /// outputs are unchanged).
    pub fn is_label(&self) -> bool {
        *self == NoiseModel::Label
    }
}

/// Invalid SGD settings.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SgdError {
    /// A field has an invalid value.
    #[error("invalid SGD setting: {0}")]
    InvalidField(FieldError),
    /// The schedule is invalid.
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    /// The iterate diverged.
    #[error("{0}")]
    Diverged(Divergence),
}

/// Where and how a run diverged: the one record shared by
/// [`StopReason::Diverged`] and [`SgdError::Diverged`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error(
    "SGD diverged at step {step} (learning rate {lr}): {quantity} became {value}. Hint: {hint}"
)]
pub struct Divergence {
    /// Step at which a non-finite value appeared.
    pub step: u64,
    /// Learning rate at that step.
    #[serde(with = "crate::nonfinite")]
    pub lr: f64,
    /// What became non-finite (`residual` or `iterate`).
    pub quantity: String,
    /// Its value.
    pub value: String,
    /// What to change.
    pub hint: String,
}

impl Sgd {
    /// The same method (batch, noise, sampling) with the schedule
    /// `step_decay(lr → lr_after at decay_step)`: the one place where a decay
    /// study builds the method of one decay step.
    pub fn with_step_decay(&self, lr: f64, lr_after: f64, decay_step: u64) -> Self {
        Self {
            schedule: Schedule::StepDecay {
                lr,
                lr_after,
                decay_step,
            },
            ..self.clone()
        }
    }

    /// Whether the batch source draws ξ (label noise σ > 0, or LNGD).
    pub fn draws_label_noise(&self) -> bool {
        match self.noise {
            NoiseModel::Label => self.label_noise_sigma > 0.0,
            NoiseModel::Lngd { .. } => true,
            NoiseModel::None | NoiseModel::Isotropic { .. } => false,
        }
    }

    /// The label-noise σ applied to the batch residuals (0 unless `label`).
    pub fn batch_label_sigma(&self) -> f64 {
        match self.noise {
            NoiseModel::Label => self.label_noise_sigma,
            _ => 0.0,
        }
    }

    /// The scale s of isotropic noise at θ₀ (None for the other models):
    /// `scale`, or s = σ √(tr G(θ₀)/(B D)) for `matched_sigma` = σ.
    pub fn isotropic_scale<R: Real, M: Model<R>>(
        &self,
        problem: &Problem<R, M>,
        theta0: &[R],
    ) -> Option<R> {
        let NoiseModel::Isotropic {
            scale,
            matched_sigma,
        } = self.noise
        else {
            return None;
        };
        let ctx = problem.ctx();
        Some(match (scale, matched_sigma) {
            (Some(s), _) => R::from_f64(s, ctx),
            (None, Some(sigma)) => {
                let mut s = problem.trace_gn_generic(theta0);
                s /= (self.batch_size * problem.dim()) as f64;
                s.sqrt_mut();
                s *= sigma;
                s
            }
            (None, None) => R::zero(ctx),
        })
    }

    /// Check every field against the data size n.
    pub fn validate(&self, n: usize) -> Result<(), SgdError> {
        if self.batch_size == 0 {
            return Err(SgdError::InvalidField(FieldError::new(
                "batch_size",
                "0",
                "must be ≥ 1",
            )));
        }
        if self.sampling == Sampling::Shuffle && self.batch_size > n {
            return Err(SgdError::InvalidField(FieldError::new(
                "batch_size",
                self.batch_size,
                format!("exceeds n = {n} with sampling = shuffle"),
            )));
        }
        FieldError::check_non_negative("label_noise_sigma", self.label_noise_sigma)
            .map_err(SgdError::InvalidField)?;
        let invalid = |field: &str, value: String, reason: &str| {
            Err(SgdError::InvalidField(FieldError::new(
                field, value, reason,
            )))
        };
        if !self.noise.is_label() && self.label_noise_sigma != 0.0 {
            return invalid(
                "label_noise_sigma",
                self.label_noise_sigma.to_string(),
                "must be 0 (or omitted) with noise.kind ≠ \"label\": the noise model replaces label noise",
            );
        }
        match self.noise {
            NoiseModel::Label | NoiseModel::None => {}
            NoiseModel::Isotropic {
                scale,
                matched_sigma,
            } => match (scale, matched_sigma) {
                (Some(x), None) | (None, Some(x)) if x.is_finite() && x > 0.0 => {}
                (Some(_), Some(_)) | (None, None) => {
                    return invalid(
                        "noise",
                        format!("{:?}", self.noise),
                        "isotropic noise needs exactly one of scale, matched_sigma",
                    )
                }
                (Some(x), None) | (None, Some(x)) => {
                    return invalid(
                        "noise",
                        x.to_string(),
                        "scale / matched_sigma must be finite and > 0 (use kind = \"none\" for no noise)",
                    )
                }
            },
            NoiseModel::Lngd { sigma } => {
                FieldError::check_non_negative("noise.sigma", sigma)
                    .map_err(SgdError::InvalidField)?;
                if self.batch_size != 1 || self.sampling != Sampling::WithReplacement {
                    return invalid(
                        "batch_size",
                        self.batch_size.to_string(),
                        "noise.kind = \"lngd\" uses the full batch: batch_size must be 1 and sampling the default (they would do nothing)",
                    );
                }
            }
        }
        self.schedule.validate()?;
        Ok(())
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// All requested steps were taken.
    Completed,
    /// A residual or the iterate became NaN/infinite.
    Diverged(Divergence),
}

impl StopReason {
    /// `Ok` for a completed run, the divergence as an error otherwise.
    pub fn into_result(self) -> Result<(), SgdError> {
        match self {
            StopReason::Completed => Ok(()),
            StopReason::Diverged(d) => Err(SgdError::Diverged(d)),
        }
    }
}

/// The mutable state of an SGD run.
#[derive(Debug, Clone)]
pub struct SgdState<R> {
    /// Current iterate θ_k.
    pub theta: Vec<R>,
    /// Steps taken so far (k).
    pub step: u64,
    noise: BatchNoise,
    /// The stream of isotropic parameter noise (noise.kind = "isotropic").
    param_noise: Option<rand_chacha::ChaCha8Rng>,
    /// θ₀, kept for the divergence hint (runs may be continued in segments).
    initial_theta: Vec<R>,
    /// Kahan sums of the SDE time Σ η_k and the flow time Σ η_k² with their
    /// compensations, carried across segments so that a run continued in
    /// segments (or branched from a cloned state) records the same times as
    /// one uninterrupted run.
    times: ElapsedTimes,
}

/// Compensated (Kahan) running sums t = Σ_{j<k} η_j and τ = Σ_{j<k} η_j².
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ElapsedTimes {
    sde: f64,
    sde_c: f64,
    flow: f64,
    flow_c: f64,
}

impl ElapsedTimes {
    /// The record point of step `step` at η = `lr` with these times.
    fn at(&self, step: u64, lr: f64) -> RecordPoint {
        RecordPoint {
            step,
            lr,
            sde_time: self.sde,
            flow_time: self.flow,
        }
    }
    fn advance(&mut self, lr: f64) {
        let dt = lr - self.sde_c;
        let nt = self.sde + dt;
        self.sde_c = (nt - self.sde) - dt;
        self.sde = nt;
        let dtau = lr * lr - self.flow_c;
        let ntau = self.flow + dtau;
        self.flow_c = (ntau - self.flow) - dtau;
        self.flow = ntau;
    }
}

impl<R: Real> SgdState<R> {
    /// Initial state: θ_0 and the random stream of `seed`.
    pub fn new(theta0: Vec<R>, seed: u64, n: usize, method: &Sgd) -> Self {
        Self {
            initial_theta: theta0.clone(),
            theta: theta0,
            step: 0,
            noise: BatchNoise::new(seed, n, method.sampling, method.draws_label_noise()),
            param_noise: matches!(method.noise, NoiseModel::Isotropic { .. })
                .then(|| crate::noise::rng_for(seed, crate::noise::stream::PARAM_NOISE)),
            times: ElapsedTimes::default(),
        }
    }
}

/// Which steps to record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordPlan {
    /// Every `every` steps (and the last step).
    Every { every: u64 },
    /// About `points` log-spaced steps (and the last step).
    LogSpaced { points: u32 },
    /// Only the final step.
    FinalOnly,
}

impl RecordPlan {
    /// Sorted list of steps to record in a run of `total` steps (0 and `total` included).
    pub fn steps(&self, total: u64) -> Vec<u64> {
        let mut steps = match *self {
            RecordPlan::Every { every } => {
                let every = every.max(1);
                (0..=total / every).map(|k| k * every).collect()
            }
            RecordPlan::LogSpaced { points } => {
                let mut v = vec![0];
                let top = (total.max(1) as f64).ln();
                for i in 0..=points {
                    v.push((top * i as f64 / points.max(1) as f64).exp().round() as u64);
                }
                v
            }
            RecordPlan::FinalOnly => vec![0],
        };
        steps.push(total);
        steps.sort_unstable();
        steps.dedup();
        steps.retain(|&s| s <= total);
        steps
    }
}

/// Result of an SGD run.
#[derive(Debug, Clone)]
pub struct SgdRun<R> {
    /// Final iterate.
    pub theta: Vec<R>,
    /// Recorded measurements.
    pub records: Vec<Record>,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Steps taken.
    pub steps: u64,
}

impl<R> SgdRun<R> {
    /// Turn a divergence into an error.
    pub fn into_result(self) -> Result<Self, SgdError> {
        match self.stop.clone().into_result() {
            Ok(()) => Ok(self),
            Err(e) => Err(e),
        }
    }
}

/// Hint for a divergence: compare η with the mean-square stability limit η*
/// of SGD with this batch size and sampling at θ₀ (`proofs/stability.md`),
/// and with the full-batch limit 2/λ_max(G). Computed in f64; never prints a
/// NaN (a non-finite θ₀ or a zero Jacobian gets a plain hint).
pub fn divergence_hint<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    method: &Sgd,
    theta0: &[R],
    lr: f64,
) -> String {
    let advice =
        "reduce the learning rate or the initialization scale (or increase the batch size)";
    if !theta0.iter().all(Real::is_finite) {
        return format!("θ₀ is not finite (lr was {lr:.3e}); {advice}");
    }
    let jac = problem.jacobian(theta0).to_f64();
    if !jac.as_slice().iter().all(|v| v.is_finite()) {
        return format!("the Jacobian at θ₀ is not finite (lr was {lr:.3e}); {advice}");
    }
    let coef = crate::dynamics::stability::map_coefficients(
        method.batch_size,
        problem.n(),
        method.sampling,
    );
    let Some((eta_star, lmax)) = stability_limits(&jac, coef) else {
        return format!(
            "the Jacobian at θ₀ is zero, so SGD is linearly neutral there (lr was {lr:.3e}); {advice}"
        );
    };
    if !(eta_star.is_finite() && lmax.is_finite() && lmax > 0.0) {
        return format!("lr was {lr:.3e}; {advice}");
    }
    format!(
        "at θ₀, SGD with B = {} is mean-square stable only for lr < η* ≈ {eta_star:.3e} (full-batch limit 2/λ_max(G) ≈ {:.3e}; lr was {lr:.3e}); {advice}",
        method.batch_size,
        2.0 / lmax
    )
}

/// (η*, λ_max(G)) from the f64 Jacobian at θ₀ and the map coefficients, or
/// `None` for a zero Jacobian: the costly part of [`divergence_hint`] (a
/// bisection over Lanczos spectral radii, ≈ 0.1 s at n = 40), a pure function
/// of its inputs, so it is memoized by their bits — every seed that starts
/// from the same θ₀ and diverges (in one run call, or in the many calls of
/// a sweep) gets the same hint without recomputing it.
fn stability_limits(jac: &crate::linalg::Mat<f64>, coef: (f64, f64)) -> Option<(f64, f64)> {
    use std::sync::Mutex;
    type Key = (usize, Vec<u64>, [u64; 2]);
    type Entry = (Key, Option<(f64, f64)>);
    // A few distinct θ₀ at a time; the oldest entry goes first.
    const CAPACITY: usize = 16;
    static MEMO: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
    let key: Key = (
        jac.cols(),
        jac.as_slice().iter().map(|v| v.to_bits()).collect(),
        [coef.0.to_bits(), coef.1.to_bits()],
    );
    let memo = || {
        MEMO.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some((_, hit)) = memo().iter().find(|(k, _)| *k == key) {
        return *hit;
    }
    // Computed outside the lock (two threads may both compute an entry: the
    // same value).
    let red = crate::dynamics::stability::ReducedGradients::from_jacobian(jac);
    let limits = (red.rank() > 0).then(|| (red.critical_lr(coef, 1e-6), red.lambda_max()));
    let mut m = memo();
    if !m.iter().any(|(k, _)| *k == key) {
        if m.len() == CAPACITY {
            m.remove(0);
        }
        m.push((key, limits));
    }
    limits
}

/// λ_max(G(θ)) in f64 by power iteration on JᵀJ/n.
pub fn sharpness_estimate<R: Real, M: Model<R>>(problem: &Problem<R, M>, theta: &[R]) -> f64 {
    let jac = problem.jacobian(theta).to_f64();
    let n = problem.n() as f64;
    let dim = jac.cols();
    let mut v = vec![1.0 / (dim as f64).sqrt(); dim];
    let mut lambda = 0.0;
    for _ in 0..100 {
        let jv = jac.mul_vec(&v);
        let mut w = jac.tr_mul_vec(&jv);
        w.iter_mut().for_each(|x| *x /= n);
        let nw = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if nw == 0.0 || !nw.is_finite() {
            return nw;
        }
        lambda = nw;
        v = w.into_iter().map(|x| x / nw).collect();
    }
    lambda
}

/// Run SGD for `steps` steps from `state`, recording at `plan`'s steps through
/// `probe`. `on_progress(k)` is called every ~1% of the run (for progress bars).
pub fn run_sgd<R, M, P>(
    problem: &Problem<R, M>,
    method: &Sgd,
    state: &mut SgdState<R>,
    steps: u64,
    plan: RecordPlan,
    probe: &mut P,
    on_progress: impl FnMut(u64),
) -> SgdRun<R>
where
    R: Real,
    M: Model<R>,
    P: Probe<R>,
{
    let record_steps = plan.steps(state.step + steps);
    run_sgd_recording(
        problem,
        method,
        state,
        steps,
        &record_steps,
        probe,
        on_progress,
    )
}

/// [`run_sgd`] with an explicit sorted list of steps to record (those in
/// `[state.step, state.step + steps]` are measured): the decay-study engine
/// records a trunk at the union of its branches' record steps.
pub fn run_sgd_recording<R, M, P>(
    problem: &Problem<R, M>,
    method: &Sgd,
    state: &mut SgdState<R>,
    steps: u64,
    record_steps: &[u64],
    probe: &mut P,
    mut on_progress: impl FnMut(u64),
) -> SgdRun<R>
where
    R: Real,
    M: Model<R>,
    P: Probe<R>,
{
    let ctx = problem.ctx();
    let batch_size = method.batch_size;
    let sigma = method.batch_label_sigma();
    let lngd_sigma = match method.noise {
        NoiseModel::Lngd { sigma } => Some(sigma),
        _ => None,
    };
    let iso_scale = method.isotropic_scale(problem, &state.initial_theta);
    let mut full_batch: Vec<(usize, R)> = match lngd_sigma {
        Some(_) => (0..=problem.n())
            .map(|i| (i.min(problem.n() - 1), R::zero(ctx)))
            .collect(),
        None => Vec::new(),
    };
    let mut zeta = R::zero(ctx);
    let schedule = &method.schedule;
    // MPFR: X's entries are f64 values; the loop below only multiplies by
    // them into values of the working precision, so a 53-bit copy gives the
    // same bits with cheaper products (256 bits: ≈ 1.1× the steps/s).
    let narrow_x = problem.data.x.exact_narrow();
    let x = narrow_x.as_ref().unwrap_or(&problem.data.x);
    let y = &problem.data.y;
    let mut ws = problem.model.workspace(ctx);
    let mut indices = vec![0usize; batch_size];
    let mut xi = vec![0.0f64; batch_size];
    let mut batch: Vec<(usize, R)> = (0..batch_size).map(|_| (0, R::zero(ctx))).collect();
    let mut noise_term = R::zero(ctx);
    let theta0 = state.initial_theta.clone();
    let mut next_record = record_steps.partition_point(|&s| s < state.step);
    let end = state.step + steps;
    let mut records =
        Vec::with_capacity(record_steps[next_record..].partition_point(|&s| s <= end));
    let progress_every = (steps / 100).max(1);
    let mut stop = StopReason::Completed;

    let diverged_at = |quantity: &str, step: u64, lr: f64| {
        StopReason::Diverged(Divergence {
            step,
            lr,
            quantity: quantity.into(),
            value: "non-finite".into(),
            hint: divergence_hint(problem, method, &theta0, lr),
        })
    };
    // The f64 fast path (Linear/Diagonal, label or no noise, any B and
    // sampling): whole segments of steps between records and progress calls
    // in one loop compiled per SIMD level, bit-identical to the steps below
    // (`fast`). The scalar level keeps the generic path as the reference.
    let fast_kernel = problem.model.sgd_kernel().filter(|_| {
        matches!(method.noise, NoiseModel::Label | NoiseModel::None)
            && R::as_f64_slice(&state.theta).is_some()
            && crate::simd::active() != crate::simd::Level::Scalar
    });
    let d = problem.data.d();
    // The MPFR fast path: Diagonal, B = 1, label or no noise, 64·N bits.
    let mut mpfr_fast = match (
        problem.model.sgd_kernel(),
        R::as_mpfr_slice(x.as_slice()),
        R::as_mpfr_slice(y),
    ) {
        (Some(crate::model::SgdKernel::Diagonal), Some(xm), Some(ym))
            if batch_size == 1
                && matches!(method.noise, NoiseModel::Label | NoiseModel::None)
                && crate::simd::active() != crate::simd::Level::Scalar =>
        {
            fast_mpfr::MpfrFastProblem::new(R::ctx_bits(ctx), xm, ym, d, sigma)
        }
        _ => None,
    };
    // The fast path's X and θ on 64-byte-aligned padded rows: θ's two rows
    // always, X's copy once per call when the call runs at least n steps
    // (the copy costs about as much as n/8 steps).
    let padded_x = R::as_f64_slice(x.as_slice())
        .filter(|_| fast_kernel.is_some() && steps >= problem.n() as u64)
        .map(|xf| fast::AlignedRows::from_rows(xf, d));
    let mut theta_rows = fast_kernel.map(|_| fast::AlignedRows::zeroed(2, d));
    let (mut coefs, mut direction) = match fast_kernel {
        Some(_) => (vec![0.0f64; batch_size], vec![0.0f64; d]),
        None => (Vec::new(), Vec::new()),
    };
    while state.step <= end {
        let k = state.step;
        let lr = schedule.lr(k);
        if next_record < record_steps.len() && record_steps[next_record] == k {
            let times = state.times;
            records.push(probe.measure(times.at(k, lr), &state.theta));
            next_record += 1;
            if !state.theta.iter().all(Real::is_finite) {
                stop = diverged_at("iterate", k, lr);
                break;
            }
        }
        if k == end {
            break;
        }
        // Up to the next record (a record step ≤ k is never reached again,
        // as in the loop below), progress call or the end; η constant over
        // the segment is looked up once (the same value).
        let segment_end = || {
            let mut seg_end = end.min((k / progress_every + 1) * progress_every);
            if let Some(&r) = record_steps.get(next_record) {
                if r > k {
                    seg_end = seg_end.min(r);
                }
            }
            let constant_lr = schedule.constant_until(k).map(|change| {
                seg_end = seg_end.min(change);
                lr
            });
            (seg_end, constant_lr)
        };
        if let (Some(fp), Some(theta)) = (&mpfr_fast, R::as_mpfr_slice_mut(&mut state.theta)) {
            // MPFR, Diagonal, B = 1 (`fast_mpfr`): the same bits; a segment
            // that stops early (θ outside its exponent bound, or not
            // representable) hands the rest of the run to the loop below.
            let (seg_end, constant_lr) = segment_end();
            let mut feed = fast::Feed::new(&mut state.noise, schedule, state.times, k, constant_lr);
            let done = fast_mpfr::run_segment(fp, theta, &mut feed, seg_end - k);
            state.times = feed.times;
            state.step += done;
            if state.step < seg_end {
                mpfr_fast = None;
            }
            if done > 0 {
                if state.step.is_multiple_of(progress_every) {
                    on_progress(state.step);
                }
                continue;
            }
            // Nothing ran (θ not representable): step k in the loop below,
            // without coming back to k's records.
        }
        if let (Some(kernel), Some(theta_rows), Some(xf), Some(yf)) = (
            fast_kernel,
            theta_rows.as_mut(),
            R::as_f64_slice(x.as_slice()),
            R::as_f64_slice(y),
        ) {
            let (seg_end, constant_lr) = segment_end();
            let theta = R::as_f64_slice_mut(&mut state.theta).expect("f64 iterate");
            let (x, stride) = match &padded_x {
                Some(p) => (p.as_slice(), p.stride),
                None => (xf, d),
            };
            let mut segment = fast::Segment {
                kernel,
                theta,
                x,
                stride,
                theta_rows,
                d,
                y: yf,
                sigma,
                indices: &mut indices,
                xi: &mut xi,
                coefs: &mut coefs,
                direction: &mut direction,
            };
            let mut feed = fast::Feed::new(&mut state.noise, schedule, state.times, k, constant_lr);
            let done = fast::run_segment(&mut segment, &mut feed, seg_end - k);
            state.times = feed.times;
            state.step += done;
            if state.step < seg_end {
                stop = diverged_at("residual", state.step, schedule.lr(state.step));
                break;
            }
            if state.step.is_multiple_of(progress_every) {
                on_progress(state.step);
            }
            continue;
        }
        state.noise.next_batch(&mut indices, &mut xi);
        if let Some(lsig) = lngd_sigma {
            // LNGD: coef_j = (η/n) r_j for every j, plus −η σ ξ at the drawn row
            let (row, xi0) = (indices[0], xi[0]);
            if !lngd_batch(
                problem,
                &state.theta,
                &mut full_batch,
                &mut ws,
                lr,
                lsig,
                row,
                xi0,
            ) {
                stop = diverged_at("residual", k, lr);
                break;
            }
            problem
                .model
                .descend(&mut state.theta, x, &full_batch, &mut ws);
            state.step += 1;
            state.times.advance(lr);
            if state.step.is_multiple_of(progress_every) {
                on_progress(state.step);
            }
            continue;
        }
        // coef_b = (η/B)(f_b − y_b − σ ξ_b)
        let mut diverged = false;
        for ((entry, &row), &xi_b) in batch.iter_mut().zip(&indices).zip(&xi) {
            entry.0 = row;
            let r = &mut entry.1;
            problem
                .model
                .predict_into(&state.theta, x.row(row), r, &mut ws);
            *r -= &y[row];
            if sigma > 0.0 {
                noise_term.set_f64(xi_b);
                noise_term *= sigma;
                *r -= &noise_term;
            }
            if !r.is_finite() {
                diverged = true;
            }
            *r *= lr;
            if batch_size > 1 {
                *r /= batch_size as f64;
            }
        }
        if diverged {
            stop = diverged_at("residual", k, lr);
            break;
        }
        if let [(row, coef)] = batch.as_slice() {
            // right after predict_into at this θ and row (the Mlp reuses σ(Wx))
            let xr = x.row(*row);
            problem
                .model
                .descend_one(&mut state.theta, xr, coef, &mut ws);
        } else {
            problem.model.descend(&mut state.theta, x, &batch, &mut ws);
        }
        if let (Some(s), Some(rng)) = (&iso_scale, state.param_noise.as_mut()) {
            // θ ← θ + η s ζ, ζ ~ N(0, I_D) drawn in f64
            for t in state.theta.iter_mut() {
                let z: f64 = crate::noise::standard_normal(&mut *rng);
                zeta.set_f64(z);
                zeta *= s;
                zeta *= lr;
                *t += &zeta;
            }
        }
        state.step += 1;
        state.times.advance(lr);
        if state.step.is_multiple_of(progress_every) {
            on_progress(state.step);
        }
    }
    SgdRun {
        theta: state.theta.clone(),
        records,
        stop,
        steps: state.step,
    }
}

/// The LNGD batch: (j, (η/n) r_j) for every row and (i, −η σ ξ) for the drawn
/// row i; false if a residual is not finite.
#[allow(clippy::too_many_arguments)]
fn lngd_batch<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    batch: &mut [(usize, R)],
    ws: &mut M::Workspace,
    lr: f64,
    sigma: f64,
    row: usize,
    xi: f64,
) -> bool {
    let n = problem.n();
    let mut finite = true;
    for (j, entry) in batch[..n].iter_mut().enumerate() {
        entry.0 = j;
        let r = &mut entry.1;
        problem
            .model
            .predict_into(theta, problem.data.x.row(j), r, ws);
        *r -= &problem.data.y[j];
        finite &= r.is_finite();
        *r *= lr / n as f64;
    }
    let last = &mut batch[n];
    last.0 = row;
    last.1.set_f64(xi);
    last.1 *= -lr * sigma;
    finite
}

/// Run `steps` SGD steps of `method` from θ₀ with the noise of `seed`, without
/// measurements: the final iterate is `theta` of the result (check `stop`, or
/// use [`SgdRun::into_result`]).
pub fn run_sgd_to_end<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    method: &Sgd,
    theta0: Vec<R>,
    seed: u64,
    steps: u64,
) -> SgdRun<R> {
    let mut state = SgdState::new(theta0, seed, problem.n(), method);
    run_sgd(
        problem,
        method,
        &mut state,
        steps,
        RecordPlan::FinalOnly,
        &mut NullProbe,
        |_| {},
    )
}

#[cfg(test)]
mod tests {
    use super::stability_limits;
    use crate::dynamics::stability::ReducedGradients;
    use crate::linalg::Mat;

    fn jacobian(scale: f64) -> Mat<f64> {
        let mut j = Mat::zeros(3, 4, ());
        for i in 0..3 {
            for k in 0..4 {
                j[(i, k)] = scale * (1.0 + (i * 4 + k) as f64).sin();
            }
        }
        j
    }

    /// The memo gives, for each Jacobian and coefficients, what a fresh
    /// computation gives (alternating keys, so a key that lumped them
    /// together would fail), and `None` for a zero Jacobian.
    #[test]
    fn stability_limits_memo_matches_a_fresh_computation() {
        let fresh = |j: &Mat<f64>, coef: (f64, f64)| {
            let red = ReducedGradients::from_jacobian(j);
            (red.critical_lr(coef, 1e-6), red.lambda_max())
        };
        let bits = |v: Option<(f64, f64)>| v.map(|(a, b)| (a.to_bits(), b.to_bits()));
        let (a, b) = (jacobian(1.0), jacobian(1.5));
        let cases = [(&a, (0.0, 1.0)), (&b, (0.0, 1.0)), (&a, (0.5, 0.5))];
        let expected: Vec<_> = cases.iter().map(|(j, c)| fresh(j, *c)).collect();
        assert!(expected[0] != expected[1] && expected[0] != expected[2]);
        for _ in 0..2 {
            for ((j, c), e) in cases.iter().zip(&expected) {
                assert_eq!(bits(stability_limits(j, *c)), bits(Some(*e)));
            }
        }
        assert_eq!(stability_limits(&Mat::zeros(3, 4, ()), (0.0, 1.0)), None);
    }
}
