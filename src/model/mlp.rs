//! `Mlp`: the two-layer tanh network f(x; θ) = aᵀ tanh(W x) / √m, with
//! W ∈ ℝ^{m×d}, a ∈ ℝ^m, θ = (vec W row-major, a), D = m d + m.
//!
//! Gradients (exact): with t_k = tanh(w_k·x),
//! ∂f/∂W_kj = a_k (1 − t_k²) x_j / √m and ∂f/∂a_k = t_k / √m.
//!
//! Not linear in x, so it has no closed-form test loss: [`TeacherTask`] draws a
//! synthetic teacher–student task (a small tanh teacher network, Gaussian
//! inputs) with a large held-out sample, and [`MlpProbe`] records train loss,
//! held-out test loss, ‖θ‖ and ‖r‖ during [`run_sgd`](crate::dynamics::sgd::run_sgd).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{Model, Problem};
use crate::data::{DataError, Dataset};
use crate::dynamics::sgd::{Probe, Record};
use crate::field_error::FieldError;
use crate::linalg::{dot_into, norm, Mat};
use crate::noise::{rng_for, stream};
use crate::scalar::Real;

/// Hidden-layer activation σ of an [`Mlp`], with its exact derivative σ'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// σ(z) = tanh z, σ' = 1 − tanh² z (the default).
    #[default]
    Tanh,
    /// σ(z) = max(z, 0), σ' = 1 for z > 0 and 0 for z ≤ 0 (the subgradient 0
    /// at the kink).
    Relu,
    /// The exact GELU σ(z) = z Φ(z), Φ the standard normal CDF
    /// ½(1 + erf(z/√2)); σ' = Φ(z) + z φ(z), φ(z) = e^{−z²/2}/√(2π).
    Gelu,
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
        })
    }
}

/// Two-layer network on d inputs with m hidden units (D = m d + m),
/// f(x; θ) = aᵀ σ(W x)/√m.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mlp {
    /// Input dimension d.
    pub d: usize,
    /// Hidden width m.
    pub m: usize,
    /// Activation σ.
    pub activation: Activation,
}

impl Mlp {
    /// Tanh network on d inputs with m hidden units.
    pub fn new(d: usize, m: usize) -> Self {
        Self::with_activation(d, m, Activation::Tanh)
    }

    /// Network on d inputs with m hidden units and activation σ.
    pub fn with_activation(d: usize, m: usize, activation: Activation) -> Self {
        assert!(
            d > 0 && m > 0,
            "Mlp needs d ≥ 1 and m ≥ 1 (got d = {d}, m = {m})"
        );
        Self { d, m, activation }
    }

    /// Random init from `seed` (stream `INIT`): W_kj ~ N(0, w_scale²/d) (so that
    /// w_k·x has variance w_scale² for x ~ N(0, I)), a_k ~ N(0, a_scale²).
    pub fn gaussian_init<R: Real>(
        &self,
        seed: u64,
        w_scale: f64,
        a_scale: f64,
        ctx: R::Ctx,
    ) -> Vec<R> {
        let mut rng = rng_for(seed, stream::INIT);
        let sw = w_scale / (self.d as f64).sqrt();
        (0..self.m * self.d + self.m)
            .map(|k| {
                let z: f64 = rng.sample(StandardNormal);
                let s = if k < self.m * self.d { sw } else { a_scale };
                R::from_f64(z * s, ctx)
            })
            .collect()
    }

    /// Split θ into (vec W, a).
    pub fn split<'a, R>(&self, theta: &'a [R]) -> (&'a [R], &'a [R]) {
        theta.split_at(self.m * self.d)
    }

    /// The two factors of the per-sample gradient at x: ∇_W f = c ⊗ x and
    /// ∇_a f = h with c_k = a_k σ'(w_k·x)/√m (`coef`) and h_k = σ(w_k·x)/√m
    /// (`hidden`), both of length m. Hence ⟨∇f(x), ∇f(x')⟩ =
    /// (x·x')(c·c') + h·h': the Gram matrix JJᵀ in O(n²(m + d)) operations
    /// instead of O(n²md) (the Gauss–Newton projection of C13 uses it).
    ///
    /// # Examples
    /// ```
    /// use latedecay::model::{mlp::Mlp, Model};
    /// let model = Mlp::new(2, 3);
    /// let theta = model.gaussian_init::<f64>(1, 1.0, 1.0, ());
    /// let x = [0.3, -0.7];
    /// let mut ws = Model::<f64>::workspace(&model, ());
    /// let (mut c, mut h) = (vec![0.0; 3], vec![0.0; 3]);
    /// model.gradient_factors_into(&theta, &x, &mut c, &mut h, &mut ws);
    /// let mut g = vec![0.0; 9];
    /// model.grad_into(&theta, &x, &mut g, &mut ws);
    /// for k in 0..3 {
    ///     assert!((g[k * 2 + 1] - c[k] * x[1]).abs() < 1e-15);
    ///     assert!((g[6 + k] - h[k]).abs() < 1e-15);
    /// }
    /// ```
    pub fn gradient_factors_into<R: Real>(
        &self,
        theta: &[R],
        x: &[R],
        coef: &mut [R],
        hidden: &mut [R],
        ws: &mut MlpWorkspace<R>,
    ) {
        assert!(coef.len() == self.m && hidden.len() == self.m);
        self.hidden_into(theta, x, ws);
        let (_, a) = self.split(theta);
        let s = self.inv_sqrt_m();
        for k in 0..self.m {
            self.derivative_into(k, ws);
            coef[k].set_mul(&ws.tmp, &a[k]);
            coef[k] *= s;
            hidden[k].assign(&ws.hidden[k]);
            hidden[k] *= s;
        }
    }
}

/// The `[mlp]` section of a config (`model = "mlp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSection {
    /// Hidden width m.
    pub width: usize,
    /// Activation (default tanh).
    #[serde(default)]
    pub activation: Activation,
    /// Init W_kj ~ N(0, w_scale²/d) (default 1).
    #[serde(default = "one")]
    pub w_scale: f64,
    /// Init a_k ~ N(0, a_scale²) (default 1).
    #[serde(default = "one")]
    pub a_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl MlpSection {
    /// The network on d inputs.
    pub fn model(&self, d: usize) -> Mlp {
        Mlp::with_activation(d, self.width, self.activation)
    }
}

/// Scratch for [`Mlp`].
#[derive(Debug)]
pub struct MlpWorkspace<R> {
    /// σ(w_k·x), k = 1..m.
    hidden: Vec<R>,
    /// Pre-activations w_k·x (ReLU and GELU only).
    pre: Vec<R>,
    /// Φ(w_k·x) (GELU only).
    cdf: Vec<R>,
    /// √2 and 1/√(2π) in the working precision (GELU only).
    sqrt2: R,
    inv_sqrt_2pi: R,
    /// Accumulated update direction (minibatches with B > 1).
    direction: Vec<R>,
    /// One per-sample gradient.
    grad: Vec<R>,
    tmp: R,
    tmp2: R,
}

impl Mlp {
    fn inv_sqrt_m(&self) -> f64 {
        1.0 / (self.m as f64).sqrt()
    }

    /// hidden_k = σ(w_k · x) (and the pre-activations for ReLU/GELU).
    fn hidden_into<R: Real>(&self, theta: &[R], x: &[R], ws: &mut MlpWorkspace<R>) {
        let (w, _) = self.split(theta);
        match self.activation {
            Activation::Tanh => {
                for (k, h) in ws.hidden.iter_mut().enumerate() {
                    dot_into(h, &w[k * self.d..(k + 1) * self.d], x);
                    h.tanh_mut();
                }
            }
            Activation::Relu => {
                for (k, (h, z)) in ws.hidden.iter_mut().zip(ws.pre.iter_mut()).enumerate() {
                    dot_into(z, &w[k * self.d..(k + 1) * self.d], x);
                    if z.is_negative() {
                        h.set_f64(0.0);
                    } else {
                        h.assign(z);
                    }
                }
            }
            Activation::Gelu => {
                for k in 0..self.m {
                    let z = &mut ws.pre[k];
                    dot_into(z, &w[k * self.d..(k + 1) * self.d], x);
                    // Φ(z) = ½(1 + erf(z/√2))
                    let c = &mut ws.cdf[k];
                    c.assign(z);
                    *c /= &ws.sqrt2;
                    c.erf_mut();
                    *c += 1.0;
                    *c *= 0.5;
                    ws.hidden[k].set_mul(z, c);
                }
            }
        }
    }

    /// `ws.tmp = σ'(w_k · x)` after [`Self::hidden_into`].
    fn derivative_into<R: Real>(&self, k: usize, ws: &mut MlpWorkspace<R>) {
        match self.activation {
            Activation::Tanh => {
                let t = &ws.hidden[k];
                ws.tmp.set_mul(t, t);
                ws.tmp.neg_mut();
                ws.tmp += 1.0;
            }
            Activation::Relu => {
                let z = &ws.pre[k];
                ws.tmp.set_f64(if z.is_negative() || z.is_zero() {
                    0.0
                } else {
                    1.0
                });
            }
            Activation::Gelu => {
                // Φ(z) + z φ(z), φ(z) = exp(−z²/2)/√(2π)
                let z = &ws.pre[k];
                ws.tmp.set_mul(z, z);
                ws.tmp *= -0.5;
                ws.tmp.exp_mut();
                ws.tmp *= &ws.inv_sqrt_2pi;
                ws.tmp *= z;
                ws.tmp += &ws.cdf[k];
            }
        }
    }
}

impl<R: Real> Model<R> for Mlp {
    type Workspace = MlpWorkspace<R>;

    fn name(&self) -> &'static str {
        "mlp"
    }
    fn input_dim(&self) -> usize {
        self.d
    }
    fn param_dim(&self) -> usize {
        self.m * self.d + self.m
    }
    fn workspace(&self, ctx: R::Ctx) -> Self::Workspace {
        let extra = if self.activation == Activation::Tanh {
            0
        } else {
            self.m
        };
        let mut sqrt2 = R::from_f64(2.0, ctx);
        sqrt2.sqrt_mut();
        let mut inv_sqrt_2pi = R::pi(ctx);
        inv_sqrt_2pi *= 2.0;
        inv_sqrt_2pi.sqrt_mut();
        inv_sqrt_2pi.recip_mut();
        MlpWorkspace {
            hidden: vec![R::zero(ctx); self.m],
            pre: vec![R::zero(ctx); extra],
            cdf: vec![R::zero(ctx); extra],
            sqrt2,
            inv_sqrt_2pi,
            direction: vec![R::zero(ctx); self.m * self.d + self.m],
            grad: vec![R::zero(ctx); self.m * self.d + self.m],
            tmp: R::zero(ctx),
            tmp2: R::zero(ctx),
        }
    }
    fn predict_into(&self, theta: &[R], x: &[R], out: &mut R, ws: &mut Self::Workspace) {
        self.hidden_into(theta, x, ws);
        let (_, a) = self.split(theta);
        dot_into(out, a, &ws.hidden);
        *out *= self.inv_sqrt_m();
    }
    fn grad_into(&self, theta: &[R], x: &[R], out: &mut [R], ws: &mut Self::Workspace) {
        self.hidden_into(theta, x, ws);
        let (_, a) = self.split(theta);
        let s = self.inv_sqrt_m();
        let (gw, ga) = out.split_at_mut(self.m * self.d);
        for k in 0..self.m {
            // coef = a_k σ'(w_k·x) / √m
            self.derivative_into(k, ws);
            let t = &ws.hidden[k];
            ws.tmp *= &a[k];
            ws.tmp *= s;
            for (g, xj) in gw[k * self.d..(k + 1) * self.d].iter_mut().zip(x) {
                g.set_mul(&ws.tmp, xj);
            }
            ga[k].assign(t);
            ga[k] *= s;
        }
    }
    fn descend(&self, theta: &mut [R], x: &Mat<R>, batch: &[(usize, R)], ws: &mut Self::Workspace) {
        let s = self.inv_sqrt_m();
        let md = self.m * self.d;
        if let [(row, coef)] = batch {
            // B = 1: update in place; every W_k uses the old a_k (a is updated last).
            let xr = x.row(*row);
            self.hidden_into(theta, xr, ws);
            let (w, a) = theta.split_at_mut(md);
            for k in 0..self.m {
                self.derivative_into(k, ws);
                let t = &ws.hidden[k];
                ws.tmp *= &a[k];
                ws.tmp *= coef;
                ws.tmp *= s;
                for (wj, xj) in w[k * self.d..(k + 1) * self.d].iter_mut().zip(xr) {
                    wj.sub_mul(&ws.tmp, xj);
                }
                ws.tmp2.set_mul(coef, t);
                ws.tmp2 *= s;
                a[k] -= &ws.tmp2;
            }
            return;
        }
        for v in ws.direction.iter_mut() {
            v.set_f64(0.0);
        }
        let mut grad = std::mem::take(&mut ws.grad);
        for (row, coef) in batch {
            self.grad_into(theta, x.row(*row), &mut grad, ws);
            crate::linalg::axpy(&mut ws.direction, coef, &grad);
        }
        ws.grad = grad;
        for (t, g) in theta.iter_mut().zip(&ws.direction) {
            *t -= g;
        }
    }
}

/// Held-out loss ½·mean_i (f(x_i; θ) − y_i)² of an Mlp over the rows of `x`.
///
/// # Examples
/// ```
/// use latedecay::linalg::Mat;
/// use latedecay::model::mlp::{heldout_loss, Mlp};
/// // One hidden unit, a = 2, w = (1, 0): f(x) = 2 tanh(x_1).
/// let model = Mlp::new(2, 1);
/// let theta = vec![1.0, 0.0, 2.0];
/// let x = Mat::from_f64(1, 2, &[0.5, 3.0], ());
/// let y = vec![0.0];
/// let f = 2.0 * 0.5f64.tanh();
/// assert!((heldout_loss(&model, &theta, &x, &y) - 0.5 * f * f).abs() < 1e-15);
/// ```
pub fn heldout_loss<R: Real>(model: &Mlp, theta: &[R], x: &Mat<R>, y: &[R]) -> R {
    let ctx = theta[0].ctx();
    let mut ws = Model::<R>::workspace(model, ctx);
    let mut acc = R::zero(ctx);
    let mut f = R::zero(ctx);
    for (i, yi) in y.iter().enumerate() {
        model.predict_into(theta, x.row(i), &mut f, &mut ws);
        f -= yi;
        acc.add_mul(&f, &f);
    }
    acc /= 2.0 * y.len() as f64;
    acc
}

/// Settings of the synthetic teacher–student task.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherConfig {
    /// Training samples n.
    pub n: usize,
    /// Input dimension d.
    pub d: usize,
    /// Hidden units of the teacher network.
    pub teacher_width: usize,
    /// Held-out samples used for the test loss.
    pub n_test: usize,
    /// Noise σ_ε added to the training labels (0 = noiseless).
    pub target_noise_sigma: f64,
    /// Seed of inputs, teacher weights and label noise.
    pub seed: u64,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        Self {
            n: 20,
            d: 10,
            teacher_width: 2,
            n_test: 4000,
            target_noise_sigma: 0.0,
            seed: 20_240_602,
        }
    }
}

/// A teacher network, training data from it and a held-out test sample.
#[derive(Debug, Clone)]
pub struct TeacherTask {
    /// The teacher architecture (width `teacher_width`).
    pub teacher: Mlp,
    /// The teacher parameters.
    pub teacher_theta: Vec<f64>,
    /// Training data (β* unknown: the task is not linear).
    pub train: Dataset<f64>,
    /// Held-out inputs (`n_test` × d).
    pub test_x: Mat<f64>,
    /// Held-out noiseless teacher outputs.
    pub test_y: Vec<f64>,
}

impl TeacherTask {
    /// Draw the task: x ~ N(0, I_d); teacher rows w_k = e_k·2 (k-th unit
    /// vector scaled by 2, so the target uses only the first `teacher_width`
    /// inputs — a sparse nonlinear target), a_k = ±√width alternating, so that
    /// f*(x) = Σ_k ±tanh(2 x_k).
    pub fn new(cfg: &TeacherConfig) -> Result<Self, DataError> {
        let bad = |field: &'static str, value: String, reason: &str| {
            DataError::InvalidField(FieldError::new(field, value, reason))
        };
        if cfg.n == 0 {
            return Err(bad("n", "0".into(), "need at least one sample"));
        }
        if cfg.d == 0 {
            return Err(bad("d", "0".into(), "need at least one input"));
        }
        if cfg.teacher_width == 0 || cfg.teacher_width > cfg.d {
            return Err(bad(
                "teacher_width",
                cfg.teacher_width.to_string(),
                &format!("must be in 1..=d = {}", cfg.d),
            ));
        }
        if cfg.n_test == 0 {
            return Err(bad("n_test", "0".into(), "need a held-out sample"));
        }
        if !(cfg.target_noise_sigma.is_finite() && cfg.target_noise_sigma >= 0.0) {
            return Err(bad(
                "target_noise_sigma",
                cfg.target_noise_sigma.to_string(),
                "must be finite and ≥ 0",
            ));
        }
        let (d, mt) = (cfg.d, cfg.teacher_width);
        let teacher = Mlp::new(d, mt);
        let mut teacher_theta = vec![0.0; mt * d + mt];
        for k in 0..mt {
            teacher_theta[k * d + k] = 2.0;
            teacher_theta[mt * d + k] = if k % 2 == 0 { 1.0 } else { -1.0 } * (mt as f64).sqrt();
        }
        let mut rng: ChaCha8Rng = rng_for(cfg.seed, stream::SGD);
        let mut draw = |rows: usize| {
            let v: Vec<f64> = (0..rows * d).map(|_| rng.sample(StandardNormal)).collect();
            Mat::from_f64(rows, d, &v, ())
        };
        let x = draw(cfg.n);
        let test_x = draw(cfg.n_test);
        let label = |x: &Mat<f64>| -> Vec<f64> {
            let mut ws = Model::<f64>::workspace(&teacher, ());
            (0..x.rows())
                .map(|i| {
                    let mut f = 0.0;
                    teacher.predict_into(&teacher_theta, x.row(i), &mut f, &mut ws);
                    f
                })
                .collect()
        };
        let mut y = label(&x);
        let test_y = label(&test_x);
        let mut noise_rng = rng_for(cfg.seed, stream::BROWNIAN);
        for yi in y.iter_mut() {
            let z: f64 = noise_rng.sample(StandardNormal);
            *yi += cfg.target_noise_sigma * z;
        }
        let train = Dataset::from_parts(x, y, None, vec![1.0; d], cfg.target_noise_sigma, false)?;
        Ok(Self {
            teacher,
            teacher_theta,
            train,
            test_x,
            test_y,
        })
    }

    /// Test loss of the zero predictor, ½·mean(y_test²) (the scale of the task).
    pub fn null_test_loss(&self) -> f64 {
        0.5 * self.test_y.iter().map(|y| y * y).sum::<f64>() / self.test_y.len() as f64
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
    fn measure(
        &mut self,
        step: u64,
        lr: f64,
        sde_time: f64,
        flow_time: f64,
        theta: &[R],
    ) -> Record {
        let p = self.problem;
        p.residuals_into(theta, &mut self.residuals, &mut self.ws);
        let res_norm = norm(&self.residuals).to_f64();
        if self.keep_theta {
            self.thetas.push(theta.iter().map(Real::to_f64).collect());
        }
        Record {
            step,
            lr,
            sde_time,
            flow_time,
            train_loss: res_norm * res_norm / (2.0 * p.n() as f64),
            test_loss: heldout_loss(&p.model, theta, self.test_x, self.test_y).to_f64(),
            norm: norm(theta).to_f64(),
            beta_l1: f64::NAN,
            residual_norm: res_norm,
            dist_minnorm: f64::NAN,
        }
    }
}
