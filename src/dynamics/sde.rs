//! Stochastic modified equations (SME-1, SME-2) and gradient flow, in SDE time
//! t = Σ_k η_k, schedule-aware, with the gradient-noise covariance applied
//! through its explicit factor (no matrix square roots):
//!
//! Σ(θ) = A Aᵀ,  A = [ (r_i∇f_i − ∇L)/√(nB) | σ∇f_i/√(nB) ]_{i=1..n}  (D × 2n),
//!
//! * SME-1: dΘ = −∇L dt + √η(t) A(Θ) dW,  W a 2n-dimensional Brownian motion;
//! * SME-2: dΘ = −∇(L + (η/4)‖∇L‖²) dt + √η(t) A(Θ) dW
//!   (∇‖∇L‖² = 2∇²L∇L, the Hessian–vector product by a central difference with
//!   step ε^{1/3} of the working precision);
//! * gradient flow: dΘ = −∇L dt (no noise).
//!
//! Schemes ([`Scheme`]): Euler–Maruyama (weak order 1) and Platen's explicit
//! weak order 2.0 scheme (Kloeden & Platen 1992, eq. 15.1.3; derivative-free,
//! multi-dimensional noise; weak order 2). Each declares its weak order
//! ([`Scheme::weak_order`]); both are generic over the scalar type, so every
//! scheme runs in f64 and MPFR (`tests/sde.rs` runs both on one noise path).
//!
//! Time grid: SGD step k covers [t_k, t_k + η_k) and is split into 2^level
//! equal substeps; η(t) = η_k there. Brownian paths ([`BrownianPath`]) depend
//! only on the seed and are built by dyadic refinement (Brownian bridge), so a
//! path at level l+1 contains the path at level l exactly: runs at h and h/2
//! are coupled. Derivations: `proofs/covariance.md`.

use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;
use crate::linalg::{norm, Mat};
use crate::model::{Model, Problem};
use crate::noise::{rng_for, stream};
use crate::scalar::Real;
use crate::schedule::Schedule;

/// A continuous description of SGD: the equation an SDE solver integrates
/// (`solve_sde`, Monte Carlo) and whose moments `moments::LinearMoments`
/// propagates exactly (Linear model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ContinuousModel {
    /// dΘ = −∇L dt (no noise). Weak order 1 w.r.t. SGD (the baseline).
    GradientFlow,
    /// dΘ = −∇L dt + √η A dW. Weak order 1 w.r.t. SGD.
    Sme1,
    /// dΘ = −∇(L + (η/4)‖∇L‖²) dt + √η A dW. Weak order 2 w.r.t. SGD.
    Sme2,
    /// Negative control: drift −∇(L + (η/2)‖∇L‖²) (wrong constant). Weak order 1.
    Sme2WrongHalf,
}

impl ContinuousModel {
    /// The three models of figure F6.
    pub const F6: [ContinuousModel; 3] = [Self::GradientFlow, Self::Sme1, Self::Sme2];

    /// Weak order of approximation of SGD (in η) that the equation achieves
    /// (proofs/sme.md).
    ///
    /// # Examples
    /// ```
    /// use latedecay::dynamics::sde::ContinuousModel;
    /// assert_eq!(ContinuousModel::Sme2.weak_order_vs_sgd(), 2);
    /// assert_eq!(ContinuousModel::Sme2WrongHalf.weak_order_vs_sgd(), 1);
    /// ```
    pub fn weak_order_vs_sgd(self) -> u32 {
        match self {
            Self::Sme2 => 2,
            Self::GradientFlow | Self::Sme1 | Self::Sme2WrongHalf => 1,
        }
    }
    /// Short name (CSV columns).
    pub fn name(self) -> &'static str {
        match self {
            Self::GradientFlow => "gf",
            Self::Sme1 => "sme1",
            Self::Sme2 => "sme2",
            Self::Sme2WrongHalf => "sme2_wrong_half",
        }
    }
    /// c in the drift −(I + cH)∇L = −∇(L + (c/2)‖∇L‖²) at learning rate η.
    pub fn drift_correction(self, eta: f64) -> f64 {
        match self {
            Self::GradientFlow | Self::Sme1 => 0.0,
            Self::Sme2 => eta / 2.0,
            Self::Sme2WrongHalf => eta,
        }
    }
    /// Whether the equation has the diffusion √η A dW.
    pub fn has_noise(self) -> bool {
        !matches!(self, Self::GradientFlow)
    }
}

impl std::fmt::Display for ContinuousModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Numerical scheme for the SDE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Θ' = Θ + b h + √η A ΔW.
    EulerMaruyama,
    /// Platen's explicit weak order 2.0 scheme (two-point increments for the
    /// iterated integrals), derivative-free.
    PlatenWeak2,
}

impl Scheme {
    /// Weak order of the scheme in its step h.
    ///
    /// # Examples
    /// ```
    /// use latedecay::dynamics::sde::Scheme;
    /// assert_eq!(Scheme::EulerMaruyama.weak_order(), 1);
    /// assert_eq!(Scheme::PlatenWeak2.weak_order(), 2);
    /// ```
    pub fn weak_order(self) -> u32 {
        match self {
            Scheme::EulerMaruyama => 1,
            Scheme::PlatenWeak2 => 2,
        }
    }
}

/// SDE settings: equation, scheme, minibatch size, label noise, schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdeSettings {
    /// The equation.
    pub kind: ContinuousModel,
    /// The scheme.
    pub scheme: Scheme,
    /// Minibatch size B (enters A as 1/√B).
    pub batch_size: usize,
    /// Label-noise σ.
    pub label_noise_sigma: f64,
    /// Learning-rate schedule η_k (η(t) is piecewise constant in t = Σ η).
    pub schedule: Schedule,
    /// Each SGD step is split into 2^level solver steps.
    pub level: u32,
}

/// Errors of the SDE solvers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SdeError {
    /// A field is invalid.
    #[error("invalid SDE setting: {0}")]
    InvalidField(FieldError),
    /// The path diverged.
    #[error("SDE solution diverged at SGD step {step} (t = {time}); reduce the learning rate or refine the level")]
    Diverged {
        /// SGD step.
        step: u64,
        /// SDE time.
        time: f64,
    },
}

impl SdeSettings {
    /// Check every field.
    pub fn validate(&self) -> Result<(), SdeError> {
        if self.batch_size == 0 {
            return Err(SdeError::InvalidField(FieldError::new(
                "batch_size",
                "0",
                "must be ≥ 1",
            )));
        }
        FieldError::check_non_negative("label_noise_sigma", self.label_noise_sigma)
            .map_err(SdeError::InvalidField)?;
        if self.level > 20 {
            return Err(SdeError::InvalidField(FieldError::new(
                "level",
                self.level,
                "at most 20 (2^20 substeps per SGD step)",
            )));
        }
        self.schedule.validate().map_err(|e| {
            SdeError::InvalidField(FieldError::new(
                "schedule",
                e.0.value.clone(),
                e.to_string(),
            ))
        })
    }
}

/// A Brownian path of dimension `dim` on the grid of `base_steps` SGD steps of
/// the schedule, refined dyadically `level` times. Values W(t) at every grid
/// point are stored; the values at level l are drawn from their own random
/// stream (seed, level), so they do not depend on how finely the path is
/// refined: the path at level l+1 passes exactly through the level-l values.
#[derive(Debug, Clone)]
pub struct BrownianPath {
    /// Seed the path was built from.
    pub seed: u64,
    /// Dimension of W.
    pub dim: usize,
    /// Finest level built.
    pub level: u32,
    /// Grid times (finest level), t_0 = 0.
    pub times: Vec<f64>,
    /// W at each grid time, row-major (times × dim).
    pub values: Vec<f64>,
}

impl BrownianPath {
    /// Build the path of `seed` on the SGD-step grid of `schedule` (steps
    /// 0..`base_steps`), refined to `level`.
    ///
    /// # Examples
    /// ```
    /// use latedecay::dynamics::sde::BrownianPath;
    /// use latedecay::schedule::Schedule;
    /// let s = Schedule::constant(0.1).unwrap();
    /// let coarse = BrownianPath::new(3, 2, &s, 10, 0);
    /// let fine = BrownianPath::new(3, 2, &s, 10, 3);
    /// assert_eq!(coarse.endpoint(), fine.endpoint()); // bitwise equal W(T)
    /// ```
    pub fn new(seed: u64, dim: usize, schedule: &Schedule, base_steps: u64, level: u32) -> Self {
        let base = base_steps as usize;
        // level 0: W at t_k, k = 0..K
        let mut times = Vec::with_capacity(base + 1);
        let mut t = 0.0;
        times.push(0.0);
        for k in 0..base_steps {
            t += schedule.lr(k);
            times.push(t);
        }
        let mut values = vec![0.0; (base + 1) * dim];
        let mut rng = Self::level_rng(seed, 0);
        for k in 0..base {
            let sd = schedule.lr(k as u64).sqrt();
            for j in 0..dim {
                let z: f64 = crate::noise::standard_normal(&mut rng);
                values[(k + 1) * dim + j] = values[k * dim + j] + sd * z;
            }
        }
        for l in 1..=level {
            let mut rng = Self::level_rng(seed, l);
            let intervals = times.len() - 1;
            let mut new_times = Vec::with_capacity(2 * intervals + 1);
            let mut new_values = Vec::with_capacity((2 * intervals + 1) * dim);
            for i in 0..intervals {
                let (a, b) = (times[i], times[i + 1]);
                let mid = 0.5 * (a + b);
                new_times.push(a);
                new_values.extend_from_slice(&values[i * dim..(i + 1) * dim]);
                new_times.push(mid);
                // bridge: W(mid) | W(a), W(b) ~ N((W(a)+W(b))/2, (b−a)/4)
                let sd = (0.25 * (b - a)).sqrt();
                for j in 0..dim {
                    let z: f64 = crate::noise::standard_normal(&mut rng);
                    new_values
                        .push(0.5 * (values[i * dim + j] + values[(i + 1) * dim + j]) + sd * z);
                }
            }
            new_times.push(times[intervals]);
            new_values.extend_from_slice(&values[intervals * dim..]);
            times = new_times;
            values = new_values;
        }
        Self {
            seed,
            dim,
            level,
            times,
            values,
        }
    }

    /// `count` independent fair signs (±1) attached to solver step `index` of
    /// level `at_level`, drawn from their own stream by random access (ChaCha
    /// word position), so they depend only on (seed, level, index) and are
    /// independent of the Brownian values. Used for the two-point variables
    /// V_{r,j} of the weak order 2 scheme.
    pub fn two_point_signs(&self, at_level: u32, index: usize, count: usize) -> Vec<f64> {
        use rand::Rng;
        let mut rng = rng_for(self.seed, stream::BROWNIAN);
        rng.set_stream(stream::BROWNIAN + ((at_level as u64 + 1) << 16) + (1 << 40));
        let words = count.div_ceil(32) as u128;
        rng.set_word_pos(index as u128 * words);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let w = rng.next_u32();
            for b in 0..32 {
                if out.len() == count {
                    break;
                }
                out.push(if (w >> b) & 1 == 0 { 1.0 } else { -1.0 });
            }
        }
        out
    }

    fn level_rng(seed: u64, level: u32) -> rand_chacha::ChaCha8Rng {
        let mut rng = rng_for(seed, stream::BROWNIAN);
        rng.set_stream(stream::BROWNIAN + ((level as u64 + 1) << 16));
        rng
    }

    /// W(T) at the last grid time.
    pub fn endpoint(&self) -> &[f64] {
        &self.values[self.values.len() - self.dim..]
    }

    /// W at grid index `i` of level `at_level` (≤ `self.level`).
    pub fn value_at(&self, i: usize, at_level: u32) -> &[f64] {
        let stride = 1usize << (self.level - at_level);
        let k = i * stride;
        &self.values[k * self.dim..(k + 1) * self.dim]
    }
}

/// Workspace-free evaluation of the drift and the noise factor.
struct Coefficients<'a, R: Real, M> {
    problem: &'a Problem<R, M>,
    settings: &'a SdeSettings,
    fd_step: f64,
}

impl<R: Real, M: Model<R>> Coefficients<'_, R, M> {
    /// Drift b(θ) for learning rate `lr`.
    fn drift(&self, theta: &[R], lr: f64) -> Vec<R> {
        let mut g = self.problem.gradient(theta);
        let correction = self.settings.kind.drift_correction(lr);
        if correction != 0.0 {
            // b = −∇L − c ∇²L ∇L (c = η/2 for SME-2), ∇²L ∇L by a central difference.
            let hv = hessian_vector(self.problem, theta, &g, self.fd_step);
            let c = R::from_f64(correction, self.problem.ctx());
            for (gi, hi) in g.iter_mut().zip(&hv) {
                gi.add_mul(&c, hi);
            }
        }
        for gi in g.iter_mut() {
            gi.neg_mut();
        }
        g
    }

    /// Noise factor A(θ) (D × 2n), already multiplied by √η.
    fn factor(&self, theta: &[R], lr: f64) -> Mat<R> {
        noise_factor(
            self.problem,
            theta,
            self.settings.batch_size,
            self.settings.label_noise_sigma,
            lr,
        )
    }
}

/// Hessian–vector product ∇²L(θ) v by a central difference of ∇L with step
/// `eps`·max(1, ‖θ‖)/‖v‖ (exact up to roundoff for quadratic L).
pub fn hessian_vector<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    v: &[R],
    eps: f64,
) -> Vec<R> {
    let ctx = problem.ctx();
    let vn = norm(v).to_f64();
    if vn == 0.0 {
        return vec![R::zero(ctx); theta.len()];
    }
    let step = eps * norm(theta).to_f64().max(1.0) / vn;
    let s = R::from_f64(step, ctx);
    let shifted = |sign: f64| -> Vec<R> {
        let mut ss = s.clone();
        ss *= sign;
        theta
            .iter()
            .zip(v)
            .map(|(t, vi)| {
                let mut x = t.clone();
                x.add_mul(&ss, vi);
                x
            })
            .collect()
    };
    let gp = problem.gradient(&shifted(1.0));
    let gm = problem.gradient(&shifted(-1.0));
    gp.into_iter()
        .zip(&gm)
        .map(|(mut a, b)| {
            a -= b;
            a /= 2.0 * step;
            a
        })
        .collect()
}

/// The explicit noise factor √η·A(θ), D × 2n: column i is
/// √η (r_i∇f_i − ∇L)/√(nB), column n+i is √η σ∇f_i/√(nB). Then
/// A Aᵀ = Σ(θ) = (1/(nB))Σ_i (r_i∇f_i − ∇L)(·)ᵀ + (σ²/B) G (times η).
///
/// # Examples
/// ```
/// use latedecay::data::{Dataset, SyntheticConfig};
/// use latedecay::dynamics::sde::noise_factor;
/// use latedecay::model::{Linear, Problem};
/// let data = Dataset::synthetic(&SyntheticConfig { n: 3, d: 5, ..Default::default() }).unwrap();
/// let problem = Problem::new(Linear::new(5), data);
/// let a = noise_factor(&problem, &[0.0; 5], 1, 0.5, 1.0);
/// assert_eq!((a.rows(), a.cols()), (5, 6));
/// ```
pub fn noise_factor<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    batch_size: usize,
    sigma: f64,
    lr: f64,
) -> Mat<R> {
    let ctx = problem.ctx();
    let n = problem.n();
    let dim = problem.dim();
    let r = problem.residuals(theta);
    let jac = problem.jacobian(theta);
    let mut grad = jac.tr_mul_vec(&r);
    for g in grad.iter_mut() {
        *g /= n as f64;
    }
    // scale = √(η/(nB)), computed in the working precision
    let mut scale = R::from_f64(lr, ctx);
    scale /= (n * batch_size) as f64;
    scale.sqrt_mut();
    let mut sigma_scale = scale.clone();
    sigma_scale *= sigma;
    let mut a: Mat<R> = Mat::zeros(dim, 2 * n, ctx);
    let mut tmp = R::zero(ctx);
    for i in 0..n {
        for k in 0..dim {
            tmp.set_mul(&r[i], &jac[(i, k)]);
            tmp -= &grad[k];
            tmp *= &scale;
            a[(k, i)].assign(&tmp);
            tmp.set_mul(&sigma_scale, &jac[(i, k)]);
            a[(k, n + i)].assign(&tmp);
        }
    }
    a
}

/// Result of an SDE run.
#[derive(Debug, Clone)]
pub struct SdeRun<R> {
    /// Θ at the end.
    pub theta: Vec<R>,
    /// Θ at the requested SGD steps (step, Θ).
    pub snapshots: Vec<(u64, Vec<R>)>,
    /// Solver steps taken.
    pub solver_steps: u64,
}

/// Solve the SDE from `theta0` over the time of `steps` SGD steps of the
/// schedule, with the Brownian path of `seed` at the settings' level,
/// recording Θ at `record_steps` (SGD step indices, sorted).
pub fn solve_sde<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    settings: &SdeSettings,
    theta0: &[R],
    steps: u64,
    seed: u64,
    record_steps: &[u64],
) -> Result<SdeRun<R>, SdeError> {
    settings.validate()?;
    let noise_dim = 2 * problem.n();
    let path = if settings.kind.has_noise() {
        Some(BrownianPath::new(
            seed,
            noise_dim,
            &settings.schedule,
            steps,
            settings.level,
        ))
    } else {
        None
    };
    solve_sde_with_path(
        problem,
        settings,
        theta0,
        steps,
        path.as_ref(),
        record_steps,
    )
}

/// As [`solve_sde`] with a given Brownian path (built at a level ≥ the
/// settings' level; coarser solvers use every 2^(path.level − level)-th point).
pub fn solve_sde_with_path<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    settings: &SdeSettings,
    theta0: &[R],
    steps: u64,
    path: Option<&BrownianPath>,
    record_steps: &[u64],
) -> Result<SdeRun<R>, SdeError> {
    settings.validate()?;
    let ctx = problem.ctx();
    let noise_dim = 2 * problem.n();
    if let Some(p) = path {
        if p.level < settings.level || p.dim != noise_dim {
            return Err(SdeError::InvalidField(FieldError::new(
                "brownian_path",
                format!("level {} dim {}", p.level, p.dim),
                format!("need level ≥ {} and dim {noise_dim}", settings.level),
            )));
        }
    } else if settings.kind.has_noise() {
        return Err(SdeError::InvalidField(FieldError::new(
            "brownian_path",
            "none",
            "SME-1/SME-2 need a Brownian path",
        )));
    }
    let coeffs = Coefficients {
        problem,
        settings,
        fd_step: R::epsilon(ctx).cbrt(),
    };
    let sub = 1usize << settings.level;
    let mut theta = theta0.to_vec();
    let mut snapshots = Vec::new();
    let mut next_record = 0;
    let mut dw = vec![0.0; noise_dim];
    let mut solver_steps = 0;
    let mut time = 0.0;
    for k in 0..=steps {
        while next_record < record_steps.len() && record_steps[next_record] == k {
            snapshots.push((k, theta.clone()));
            next_record += 1;
        }
        if k == steps {
            break;
        }
        let lr = settings.schedule.lr(k);
        let h = lr / sub as f64;
        for s in 0..sub {
            if let Some(p) = path {
                let i = k as usize * sub + s;
                let w0 = p.value_at(i, settings.level);
                let w1 = p.value_at(i + 1, settings.level);
                for ((d, a), b) in dw.iter_mut().zip(w0).zip(w1) {
                    *d = b - a;
                }
            }
            theta = match settings.scheme {
                Scheme::EulerMaruyama => {
                    em_step(&coeffs, &theta, lr, h, path.map(|_| dw.as_slice()))
                }
                Scheme::PlatenWeak2 => {
                    let m = noise_dim;
                    let signs = path.map(|p| {
                        p.two_point_signs(settings.level, k as usize * sub + s, m * (m - 1) / 2)
                    });
                    platen_step(
                        &coeffs,
                        &theta,
                        lr,
                        h,
                        path.map(|_| dw.as_slice()),
                        signs.as_deref(),
                    )
                }
            };
            solver_steps += 1;
            time += h;
        }
        if !theta.iter().all(Real::is_finite) {
            return Err(SdeError::Diverged { step: k, time });
        }
    }
    Ok(SdeRun {
        theta,
        snapshots,
        solver_steps,
    })
}

fn em_step<R: Real, M: Model<R>>(
    c: &Coefficients<'_, R, M>,
    theta: &[R],
    lr: f64,
    h: f64,
    dw: Option<&[f64]>,
) -> Vec<R> {
    let ctx = c.problem.ctx();
    let b = c.drift(theta, lr);
    let mut out = theta.to_vec();
    let hh = R::from_f64(h, ctx);
    for (o, bi) in out.iter_mut().zip(&b) {
        o.add_mul(&hh, bi);
    }
    if let Some(dw) = dw {
        let a = c.factor(theta, lr);
        add_factor_times(&mut out, &a, dw, ctx);
    }
    out
}

/// out += A · w (w in f64, converted exactly).
fn add_factor_times<R: Real>(out: &mut [R], a: &Mat<R>, w: &[f64], ctx: R::Ctx) {
    let wr: Vec<R> = w.iter().map(|x| R::from_f64(*x, ctx)).collect();
    for (k, o) in out.iter_mut().enumerate() {
        for (j, wj) in wr.iter().enumerate() {
            o.add_mul(&a[(k, j)], wj);
        }
    }
}

/// θ + h (a + b)/2, each coordinate rounded as (a_i + b_i)·½ then θ_i + h·that.
fn trapezoid<R: Real>(theta: &[R], a: &[R], b: &[R], hh: &R, ctx: R::Ctx) -> Vec<R> {
    let half = R::from_f64(0.5, ctx);
    let mut out = theta.to_vec();
    let mut tmp = R::zero(ctx);
    for ((o, ai), bi) in out.iter_mut().zip(a).zip(b) {
        tmp.assign(ai);
        tmp += bi;
        tmp *= &half;
        o.add_mul(hh, &tmp);
    }
    out
}

/// Platen's explicit weak order 2.0 scheme (Kloeden–Platen (15.1.3)) for
/// dX = a dt + Σ_j b^j dW^j with m = 2n noise columns. The Gaussian increments
/// ΔŴ^j = ΔW^j are taken from the Brownian path; the iterated-integral
/// surrogates V_{r,j} (r < j) are two-point ±h with the independent fair signs
/// `signs` (upper triangle, row-major; [`BrownianPath::two_point_signs`]):
/// V_{j,r} = −V_{r,j}, V_{j,j} = −h.
fn platen_step<R: Real, M: Model<R>>(
    c: &Coefficients<'_, R, M>,
    theta: &[R],
    lr: f64,
    h: f64,
    dw: Option<&[f64]>,
    signs: Option<&[f64]>,
) -> Vec<R> {
    let ctx = c.problem.ctx();
    let dim = theta.len();
    let a0 = c.drift(theta, lr);
    let hh = R::from_f64(h, ctx);
    let Some(dw) = dw else {
        // Deterministic: Heun's method (order 2).
        let mut pred = theta.to_vec();
        for (p, a) in pred.iter_mut().zip(&a0) {
            p.add_mul(&hh, a);
        }
        return trapezoid(theta, &a0, &c.drift(&pred, lr), &hh, ctx);
    };
    let m = dw.len();
    let sqrt_h = h.sqrt();
    let b0 = c.factor(theta, lr);
    // Ῡ = Y + a h + Σ_j b^j ΔW^j
    let mut upsilon = theta.to_vec();
    for (u, a) in upsilon.iter_mut().zip(&a0) {
        u.add_mul(&hh, a);
    }
    add_factor_times(&mut upsilon, &b0, dw, ctx);
    // (a(Ῡ) + a)/2: the sum is commutative, so this is Heun's expression.
    let mut out = trapezoid(theta, &a0, &c.drift(&upsilon, lr), &hh, ctx);
    let mut tmp = R::zero(ctx);
    // two-point V_{r,j}: upper-triangle index of (lo, hi) in row-major order
    let signs = signs.expect("the weak order 2 scheme needs two-point signs");
    let v = |r: usize, j: usize| -> f64 {
        if r == j {
            return -h;
        }
        let (lo, hi) = if r < j { (r, j) } else { (j, r) };
        let idx = lo * (2 * m - lo - 1) / 2 + (hi - lo - 1);
        let s = signs[idx] * h;
        if r < j {
            s
        } else {
            -s
        }
    };
    let inv_sqrt_h = 1.0 / sqrt_h;
    // R̄^j_± = Y + a h ± b^j √h ; U^r_± = Y ± b^r √h
    let mut base = theta.to_vec();
    for (u, a) in base.iter_mut().zip(&a0) {
        u.add_mul(&hh, a);
    }
    let shift = |from: &[R], col: usize, sign: f64| -> Vec<R> {
        let s = R::from_f64(sign * sqrt_h, ctx);
        from.iter()
            .enumerate()
            .map(|(k, x)| {
                let mut y = x.clone();
                y.add_mul(&b0[(k, col)], &s);
                y
            })
            .collect()
    };
    let mut coef = R::zero(ctx);
    for j in 0..m {
        let rp = c.factor(&shift(&base, j, 1.0), lr);
        let rm = c.factor(&shift(&base, j, -1.0), lr);
        // ¼ [b^j(R+) + b^j(R−) + 2b^j] ΔW^j + ¼ [b^j(R+) − b^j(R−)] ((ΔW^j)² − h)/√h
        let c1 = 0.25 * dw[j];
        let c2 = 0.25 * (dw[j] * dw[j] - h) * inv_sqrt_h;
        for k in 0..dim {
            tmp.assign(&rp[(k, j)]);
            tmp += &rm[(k, j)];
            coef.assign(&b0[(k, j)]);
            coef *= 2.0;
            tmp += &coef;
            tmp *= c1;
            out[k] += &tmp;
            tmp.assign(&rp[(k, j)]);
            tmp -= &rm[(k, j)];
            tmp *= c2;
            out[k] += &tmp;
        }
    }
    for r in 0..m {
        let up = c.factor(&shift(theta, r, 1.0), lr);
        let um = c.factor(&shift(theta, r, -1.0), lr);
        for j in 0..m {
            if j == r {
                continue;
            }
            // ¼ [b^j(U^r_+) + b^j(U^r_−) − 2b^j] ΔW^j/√h
            // + ¼ [b^j(U^r_+) − b^j(U^r_−)] (ΔW^j ΔW^r + V_{r,j})/√h
            let c1 = 0.25 * dw[j] * inv_sqrt_h;
            let c2 = 0.25 * (dw[j] * dw[r] + v(r, j)) * inv_sqrt_h;
            for k in 0..dim {
                tmp.assign(&up[(k, j)]);
                tmp += &um[(k, j)];
                coef.assign(&b0[(k, j)]);
                coef *= 2.0;
                tmp -= &coef;
                tmp *= c1;
                out[k] += &tmp;
                tmp.assign(&up[(k, j)]);
                tmp -= &um[(k, j)];
                tmp *= c2;
                out[k] += &tmp;
            }
        }
    }
    out
}

/// SME-1 by Euler–Maruyama, streaming the Brownian increments (no stored path),
/// for long runs such as figure F5 (hundreds of thousands of SGD steps).
///
/// With `substeps` solver steps per SGD step, h = η_k / substeps and
/// s = √(η_k h / (nB)), one step is
/// Θ ← Θ − Σ_i c_i ∇f_i(Θ), c_i = h r_i/n − s [(r_i ξ_i + σ ζ_i) − (r_i/n) Σ_j ξ_j],
/// with ξ, ζ ~ N(0, 1) i.i.d. This is exactly −h∇L + √η_k A ΔW for the factor
/// columns (r_i∇f_i − ∇L)/√(nB) and σ∇f_i/√(nB) (proofs/covariance.md), written
/// through the model's `descend` so it costs one full-batch gradient per step.
/// The increments come from stream `BROWNIAN` of `seed` but are *not* coupled
/// to [`BrownianPath`] (use [`solve_sde_with_path`] for coupled step sizes).
/// `record(k, Θ)` is called at SGD steps 0, `record_every`, 2·`record_every`, ….
#[allow(clippy::too_many_arguments)]
pub fn sme1_euler_streaming<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta0: Vec<R>,
    settings: &SdeSettings,
    steps: u64,
    substeps: u32,
    seed: u64,
    record_every: u64,
    mut record: impl FnMut(u64, &[R]),
) -> Result<Vec<R>, SdeError> {
    settings.validate()?;
    if substeps == 0 || record_every == 0 {
        return Err(SdeError::InvalidField(FieldError::new(
            if substeps == 0 {
                "substeps"
            } else {
                "record_every"
            },
            "0",
            "must be ≥ 1",
        )));
    }
    let ctx = problem.ctx();
    let n = problem.n();
    let sigma = settings.label_noise_sigma;
    let mut rng = rng_for(seed, stream::BROWNIAN);
    let mut ws = problem.model.workspace(ctx);
    let mut theta = theta0;
    let mut residuals = vec![R::zero(ctx); n];
    let mut batch: Vec<(usize, R)> = (0..n).map(|i| (i, R::zero(ctx))).collect();
    let (mut xi, mut zeta) = (vec![0.0f64; n], vec![0.0f64; n]);
    let (mut noise, mut mean_part) = (R::zero(ctx), R::zero(ctx));
    let mut time = 0.0;
    for k in 0..=steps {
        if k % record_every == 0 {
            record(k, &theta);
        }
        if k == steps {
            break;
        }
        let eta = settings.schedule.lr(k);
        let h = eta / substeps as f64;
        let s = (eta * h / (n as f64 * settings.batch_size as f64)).sqrt();
        for _ in 0..substeps {
            problem.residuals_into(&theta, &mut residuals, &mut ws);
            let mut xi_sum = 0.0;
            for i in 0..n {
                xi[i] = crate::noise::standard_normal(&mut rng);
                zeta[i] = crate::noise::standard_normal(&mut rng);
                xi_sum += xi[i];
            }
            for (i, (entry, r)) in batch.iter_mut().zip(&residuals).enumerate() {
                if !r.is_finite() {
                    return Err(SdeError::Diverged { step: k, time });
                }
                // c_i = (r_i/n)(h + s Σξ) − s (r_i ξ_i + σ ζ_i)
                mean_part.assign(r);
                mean_part *= (h + s * xi_sum) / n as f64;
                noise.assign(r);
                noise *= xi[i];
                noise += sigma * zeta[i];
                noise *= s;
                entry.1.assign(&mean_part);
                entry.1 -= &noise;
            }
            problem
                .model
                .descend(&mut theta, &problem.data.x, &batch, &mut ws);
            time += h;
        }
    }
    Ok(theta)
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use crate::data::{Dataset, SyntheticConfig};
    use crate::model::Linear;

    /// The drift corrections: SME-1 has none, SME-2 adds −(η/2)H∇L and the
    /// negative control twice that (exact for the quadratic Linear loss up to
    /// the central difference's rounding).
    #[test]
    fn drift_correction_scales_the_hessian_term() {
        let data = Dataset::synthetic(&SyntheticConfig {
            n: 3,
            d: 4,
            ..Default::default()
        })
        .unwrap();
        let problem = Problem::new(Linear::new(4), data);
        let theta = [0.3, -0.2, 0.5, 0.1];
        let lr = 0.1;
        let drift = |kind| {
            let settings = SdeSettings {
                kind,
                scheme: Scheme::EulerMaruyama,
                batch_size: 1,
                label_noise_sigma: 0.5,
                schedule: Schedule::constant(lr).unwrap(),
                level: 0,
            };
            Coefficients {
                problem: &problem,
                settings: &settings,
                fd_step: f64::EPSILON.cbrt(),
            }
            .drift(&theta, lr)
        };
        let sme1 = drift(ContinuousModel::Sme1);
        let sme2 = drift(ContinuousModel::Sme2);
        let wrong = drift(ContinuousModel::Sme2WrongHalf);
        assert_eq!(sme1, drift(ContinuousModel::GradientFlow));
        let mut correction_norm = 0.0f64;
        for i in 0..theta.len() {
            let half = sme2[i] - sme1[i];
            correction_norm = correction_norm.max(half.abs());
            assert!(
                (wrong[i] - sme1[i] - 2.0 * half).abs() < 1e-9,
                "coordinate {i}"
            );
        }
        assert!(correction_norm > 1e-4, "the η/2 H∇L term must be visible");
    }
}
