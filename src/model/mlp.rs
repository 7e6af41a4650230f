//! `Mlp`: the two-layer tanh network f(x; θ) = aᵀ tanh(W x) / √m, with
//! W ∈ ℝ^{m×d}, a ∈ ℝ^m, θ = (vec W row-major, a), D = m d + m.
//!
//! Gradients (exact): with t_k = tanh(w_k·x),
//! ∂f/∂W_kj = a_k (1 − t_k²) x_j / √m and ∂f/∂a_k = t_k / √m.
//!
//! Not linear in x, so it has no closed-form test loss: [`heldout_loss`] is
//! the loss on a held-out sample (the UCI digits, or the synthetic
//! teacher–student task of [`crate::data::teacher`]), which
//! [`crate::probe::MlpProbe`] records during SGD.

use serde::{Deserialize, Serialize};

use super::Model;
use crate::linalg::{dot_into, Mat};
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
                let z: f64 = crate::noise::standard_normal(&mut rng);
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
    fn add_scaled_grad(&self, theta: &[R], x: &[R], c: &R, g: &mut [R], ws: &mut Self::Workspace) {
        let mut row = std::mem::take(&mut ws.grad);
        self.grad_into(theta, x, &mut row, ws);
        crate::linalg::axpy(g, c, &row);
        ws.grad = row;
    }
    fn descend(&self, theta: &mut [R], x: &Mat<R>, batch: &[(usize, R)], ws: &mut Self::Workspace) {
        if let [(row, coef)] = batch {
            let xr = x.row(*row);
            self.hidden_into(theta, xr, ws);
            self.descend_one(theta, xr, coef, ws);
            return;
        }
        let mut direction = std::mem::take(&mut ws.direction);
        for v in direction.iter_mut() {
            v.set_f64(0.0);
        }
        for (row, coef) in batch {
            self.add_scaled_grad(theta, x.row(*row), coef, &mut direction, ws);
        }
        for (t, g) in theta.iter_mut().zip(&direction) {
            *t -= g;
        }
        ws.direction = direction;
    }
    fn descend_one(&self, theta: &mut [R], xr: &[R], coef: &R, ws: &mut Self::Workspace) {
        // `predict_into` left σ(W x) (and the pre-activations) in ws.
        let s = self.inv_sqrt_m();
        // Every W_k uses the old a_k (a is updated last).
        let (w, a) = theta.split_at_mut(self.m * self.d);
        for k in 0..self.m {
            self.derivative_into(k, ws);
            let t = &ws.hidden[k];
            ws.tmp *= &a[k];
            ws.tmp *= coef;
            ws.tmp *= s;
            // w_k −= tmp·x as w_k += (−tmp)·x: the same bits (negation is
            // exact), and f64 gets the dispatched SIMD axpy.
            ws.tmp.neg_mut();
            R::axpy_into(&mut w[k * self.d..(k + 1) * self.d], &ws.tmp, xr);
            ws.tmp2.set_mul(coef, t);
            ws.tmp2 *= s;
            a[k] -= &ws.tmp2;
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

#[cfg(test)]
mod tests {
    use super::{Activation, Mlp};
    use crate::linalg::Mat;
    use crate::model::Model;
    use crate::scalar::Mpfr;

    /// `descend_one` (σ(Wx) reused from the prediction) moves θ to
    /// the same bits as `descend` (σ(Wx) recomputed), for every activation,
    /// in f64 and in MPFR.
    #[test]
    fn descend_one_after_predict_matches_descend() {
        let (d, m) = (5, 3);
        let xs: Vec<f64> = (0..2 * d).map(|i| (0.7 * i as f64).sin()).collect();
        let theta0: Vec<f64> = (0..m * d + m)
            .map(|i| (1.3 * i as f64 + 0.2).cos())
            .collect();
        for act in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
            let model = Mlp::with_activation(d, m, act);
            let x = Mat::from_f64(2, d, &xs, ());
            let mut ws = Model::<f64>::workspace(&model, ());
            let (mut a, mut b) = (theta0.clone(), theta0.clone());
            let mut f = 0.0;
            model.predict_into(&a, x.row(1), &mut f, &mut ws);
            model.descend_one(&mut a, x.row(1), &(0.3 * f), &mut ws);
            model.descend(&mut b, &x, &[(1, 0.3 * f)], &mut ws);
            assert!(a != theta0, "{act:?}: the step moved θ");
            let bits = |t: &[f64]| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{act:?}");
            let xm = Mat::from_f64(2, d, &xs, 256);
            let mut wm = Model::<Mpfr>::workspace(&model, 256);
            let t0: Vec<Mpfr> = theta0.iter().map(|v| Mpfr::with_val(256, *v)).collect();
            let (mut am, mut bm) = (t0.clone(), t0);
            let mut fm = Mpfr::with_val(256, 0.0);
            model.predict_into(&am, xm.row(0), &mut fm, &mut wm);
            fm *= 0.3;
            model.descend_one(&mut am, xm.row(0), &fm, &mut wm);
            model.descend(&mut bm, &xm, &[(0, fm)], &mut wm);
            assert_eq!(am, bm, "{act:?} (MPFR)");
        }
    }
}
