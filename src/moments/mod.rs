//! Exact first and second moments of SGD, SME-1, SME-2 and gradient flow for
//! the **Linear** model, and the weak error of φ(θ) = ‖θ‖² *without Monte Carlo*.
//!
//! Notation (`proofs/moments.md` §0): f(x; θ) = ⟨θ, x⟩, L(θ) = (1/2n) Σ_i (x_iᵀθ − y_i)²,
//! H = XᵀX/n, h = Xᵀy/n, ∇L = Hθ − h, residual r_i = x_iᵀθ − y_i.
//! SGD with batch size B (indices with replacement) and label noise σ:
//! θ' = θ − η g, g = (1/B) Σ_b (r_b − σ ξ_b) x_b.
//!
//! The state is z = (m, vec S, τ) ∈ ℝ^{d + d² + 1}: the mean m = E θ, the
//! second moment S = E θθᵀ (row-major) and a constant coordinate τ ≡ 1 that
//! carries the affine terms. Every map below is *linear* in z:
//!
//! * SGD, one step (exact, derivation in `proofs/moments.md`):
//!   m' = m − η(Hm − τh),
//!   S' = S − η(SH + HS − mhᵀ − hmᵀ) + η²[(1/B)(Q + σ²τH) + (1 − 1/B)E∇L∇Lᵀ],
//!   with the fourth-moment term Q = (1/n) Σ_i (x_iᵀSx_i − 2y_i x_iᵀm + τy_i²) x_ix_iᵀ
//!   and E∇L∇Lᵀ = HSH − Hmhᵀ − hmᵀH + τhhᵀ.
//! * The SDE dΘ = −P∇L dt + √η A dW with AAᵀ = Σ(Θ) (P = I for SME-1,
//!   P = I + (η/2)H for SME-2, no noise for gradient flow):
//!   dm/dt = −P(Hm − τh),
//!   dS/dt = −P(HS − hmᵀ) − (SH − mhᵀ)P + (η/B)(Q + σ²τH − E∇L∇Lᵀ).
//!
//! SGD moments after K steps are `power(M_η, K) z₀`; the SDE moments at time T
//! are `expm(T G) z₀` (see [`matrix`]). [`weak_order`] sweeps η and fits orders.
//!
//! # Examples
//! ```
//! use latedecay::dynamics::sde::ContinuousModel;
//! use latedecay::moments::{LinearMoments, WeakOrderConfig};
//! let cfg = WeakOrderConfig::default();
//! let data = cfg.dataset().unwrap();
//! let lm = LinearMoments::<f64>::new(&data, 1, 0.5).unwrap();
//! let z0 = lm.initial_state(&[0.0, 0.0, 0.0]).unwrap();
//! // After K = 0 steps E‖θ‖² = ‖θ₀‖² = 0; gradient flow over T = 1 moves θ.
//! assert_eq!(lm.second_moment_trace(&lm.sgd_moments(0.25, 0, &z0)), 0.0);
//! let gf = lm.model_moments(ContinuousModel::GradientFlow, 0.25, 1.0, &z0);
//! assert!(lm.second_moment_trace(&gf) > 0.1);
//! ```

// The moment formulas are index arithmetic on d×d blocks; explicit indices
// mirror the formulas in proofs/moments.md.
#![allow(clippy::needless_range_loop)]

pub mod matrix;
pub mod weak_order;

pub use weak_order::{
    run_weak_order, weak_errors, write_f6_csv, LeadingCoefficient, MethodCurve, WeakOrderConfig,
    WeakOrderFit, WeakOrderReport,
};

use crate::data::Dataset;
use crate::dynamics::sde::ContinuousModel;
use crate::field_error::FieldError;
use crate::linalg::{dot_into, Mat};
use crate::scalar::Real;

/// Errors of the moment computations; each names the offending field and value.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub enum MomentsError {
    /// A setting is out of range.
    #[error("invalid moments setting: {0}")]
    InvalidField(FieldError),
    /// The data could not be built.
    Data(#[from] crate::data::DataError),
    /// Statistics (order fit) failed.
    Stats(#[from] crate::stats::StatsError),
    /// Writing the CSV failed.
    Io(#[from] crate::io::IoError),
}

/// The Linear-model moment problem: data, H, h, batch size and label noise.
#[derive(Debug, Clone)]
pub struct LinearMoments<R: Real> {
    x: Mat<R>,
    y: Vec<R>,
    hess: Mat<R>,
    h: Vec<R>,
    batch_size: usize,
    label_noise_sigma: f64,
}

/// Scratch d×d matrices and vectors for one application of a map.
struct Scratch<R: Real> {
    s: Mat<R>,
    out_s: Mat<R>,
    tmp: Mat<R>,
    tmp2: Mat<R>,
    hm: Vec<R>,
    v: Vec<R>,
    scalar: R,
    scalar2: R,
}

impl<R: Real> LinearMoments<R> {
    /// Set up H = XᵀX/n, h = Xᵀy/n for SGD with `batch_size` B ≥ 1 and label
    /// noise σ ≥ 0.
    pub fn new(
        data: &Dataset<R>,
        batch_size: usize,
        label_noise_sigma: f64,
    ) -> Result<Self, MomentsError> {
        if batch_size == 0 {
            return Err(MomentsError::InvalidField(FieldError::new(
                "batch_size",
                "0",
                "must be ≥ 1",
            )));
        }
        FieldError::check_non_negative("label_noise_sigma", label_noise_sigma)
            .map_err(MomentsError::InvalidField)?;
        let (n, d) = (data.n(), data.d());
        let ctx = data.ctx();
        let xt = data.x.transpose();
        let mut hess = xt.gram_rows();
        let mut h = xt.mul_vec(&data.y);
        for v in hess.as_mut_slice() {
            *v /= n as f64;
        }
        for v in h.iter_mut() {
            *v /= n as f64;
        }
        debug_assert_eq!(hess.rows(), d);
        let _ = ctx;
        Ok(Self {
            x: data.x.clone(),
            y: data.y.clone(),
            hess,
            h,
            batch_size,
            label_noise_sigma,
        })
    }

    /// Parameter dimension d.
    pub fn d(&self) -> usize {
        self.x.cols()
    }
    /// Number of samples n.
    pub fn n(&self) -> usize {
        self.x.rows()
    }
    /// Length of the augmented state z = (m, vec S, τ): d + d² + 1.
    pub fn state_len(&self) -> usize {
        let d = self.d();
        d + d * d + 1
    }
    /// H = XᵀX/n.
    pub fn hessian(&self) -> &Mat<R> {
        &self.hess
    }
    /// h = Xᵀy/n.
    pub fn h(&self) -> &[R] {
        &self.h
    }
    fn ctx(&self) -> R::Ctx {
        self.y[0].ctx()
    }

    /// The state of a deterministic start θ₀: m = θ₀, S = θ₀θ₀ᵀ, τ = 1.
    pub fn initial_state(&self, theta0: &[R]) -> Result<Vec<R>, MomentsError> {
        let d = self.d();
        if theta0.len() != d {
            return Err(MomentsError::InvalidField(FieldError::new(
                "theta0",
                format!("length {}", theta0.len()),
                format!("must have d = {d} entries"),
            )));
        }
        let ctx = self.ctx();
        let mut z = vec![R::zero(ctx); self.state_len()];
        for j in 0..d {
            z[j].assign(&theta0[j]);
            for k in 0..d {
                z[d + j * d + k].set_mul(&theta0[j], &theta0[k]);
            }
        }
        z[d + d * d].set_f64(1.0);
        Ok(z)
    }

    /// Mean m = E θ from a state.
    pub fn mean<'a>(&self, z: &'a [R]) -> &'a [R] {
        &z[..self.d()]
    }

    /// Second moment S = E θθᵀ (d×d) from a state.
    pub fn second_moment(&self, z: &[R]) -> Mat<R> {
        let d = self.d();
        Mat::from_row_major(d, d, z[d..d + d * d].to_vec())
    }

    /// E‖θ‖² = tr S.
    pub fn second_moment_trace(&self, z: &[R]) -> R {
        let d = self.d();
        let mut t = R::zero(self.ctx());
        for j in 0..d {
            t += &z[d + j * d + j];
        }
        t
    }

    fn scratch(&self) -> Scratch<R> {
        let (d, ctx) = (self.d(), self.ctx());
        Scratch {
            s: Mat::zeros(d, d, ctx),
            out_s: Mat::zeros(d, d, ctx),
            tmp: Mat::zeros(d, d, ctx),
            tmp2: Mat::zeros(d, d, ctx),
            hm: vec![R::zero(ctx); d],
            v: vec![R::zero(ctx); d],
            scalar: R::zero(ctx),
            scalar2: R::zero(ctx),
        }
    }

    /// out_s += coef · E∇L∇Lᵀ = coef (HSH − Hmhᵀ − hmᵀH + τhhᵀ); needs sc.hm = Hm.
    fn add_grad_outer(&self, z: &[R], coef: &R, sc: &mut Scratch<R>) {
        let d = self.d();
        let tau = &z[d + d * d];
        self.hess.mul_into(&sc.s, &mut sc.tmp);
        sc.tmp.mul_into(&self.hess, &mut sc.tmp2); // HSH
        for j in 0..d {
            for k in 0..d {
                // HSH − (Hm)_j h_k − h_j (Hm)_k + τ h_j h_k
                sc.scalar.assign(&sc.tmp2[(j, k)]);
                sc.scalar.sub_mul(&sc.hm[j], &self.h[k]);
                sc.scalar.sub_mul(&self.h[j], &sc.hm[k]);
                sc.scalar2.set_mul(&self.h[j], &self.h[k]);
                sc.scalar.add_mul(&sc.scalar2, tau);
                sc.out_s[(j, k)].add_mul(coef, &sc.scalar);
            }
        }
    }

    /// out_s += coef · (Q + σ²τH), Q = (1/n) Σ_i (x_iᵀSx_i − 2y_i x_iᵀm + τy_i²) x_ix_iᵀ.
    fn add_sample_second_moment(&self, z: &[R], coef: &R, sc: &mut Scratch<R>) {
        let (d, n) = (self.d(), self.n());
        let m = &z[..d];
        let tau = &z[d + d * d];
        for i in 0..n {
            let xi = self.x.row(i);
            sc.s.mul_vec_into(xi, &mut sc.v);
            // w_i = x_iᵀSx_i − 2 y_i x_iᵀm + τ y_i²
            dot_into(&mut sc.scalar, xi, &sc.v);
            dot_into(&mut sc.scalar2, xi, m);
            sc.scalar2 *= &self.y[i];
            sc.scalar2 *= 2.0;
            sc.scalar -= &sc.scalar2;
            sc.scalar2.set_mul(&self.y[i], &self.y[i]);
            sc.scalar2 *= tau;
            sc.scalar += &sc.scalar2;
            sc.scalar *= coef;
            sc.scalar /= n as f64;
            for j in 0..d {
                sc.scalar2.set_mul(&sc.scalar, &xi[j]);
                for k in 0..d {
                    sc.out_s[(j, k)].add_mul(&sc.scalar2, &xi[k]);
                }
            }
        }
        if self.label_noise_sigma > 0.0 {
            sc.scalar.assign(coef);
            sc.scalar *= self.label_noise_sigma * self.label_noise_sigma;
            sc.scalar *= tau;
            for j in 0..d {
                for k in 0..d {
                    sc.out_s[(j, k)].add_mul(&sc.scalar, &self.hess[(j, k)]);
                }
            }
        }
    }

    /// Load m and the symmetric part (S + Sᵀ)/2 of S from z into the scratch
    /// and compute Hm. Symmetrizing makes every map vanish on antisymmetric
    /// S, so the matrices of different maps are comparable entry by entry
    /// (true states are symmetric and unaffected).
    fn load(&self, z: &[R], sc: &mut Scratch<R>) {
        let d = self.d();
        for j in 0..d {
            for k in 0..d {
                sc.s[(j, k)].assign(&z[d + j * d + k]);
                sc.s[(j, k)] += &z[d + k * d + j];
                sc.s[(j, k)] /= 2.0;
            }
        }
        self.hess.mul_vec_into(&z[..d], &mut sc.hm);
    }

    /// Write (m', S', τ') = linear image; `out_m` already in `out[..d]`.
    fn store(&self, z: &[R], sc: &Scratch<R>, out: &mut [R]) {
        let d = self.d();
        out[d..d + d * d].clone_from_slice(sc.out_s.as_slice());
        out[d + d * d].assign(&z[d + d * d]);
    }

    /// One exact SGD step of the moments: `out = M_η z` (see the module docs).
    pub fn apply_sgd_step(&self, eta: f64, z: &[R], out: &mut [R]) {
        let mut sc = self.scratch();
        self.apply_sgd_step_with(eta, z, out, &mut sc);
    }

    fn apply_sgd_step_with(&self, eta: f64, z: &[R], out: &mut [R], sc: &mut Scratch<R>) {
        let d = self.d();
        let ctx = self.ctx();
        let tau = &z[d + d * d];
        self.load(z, sc);
        // m' = m − η(Hm − τh)
        for j in 0..d {
            out[j].assign(&sc.hm[j]);
            out[j].sub_mul(&self.h[j], tau);
            out[j] *= -eta;
            out[j] += &z[j];
        }
        // S' = S − η(SH + HS − mhᵀ − hmᵀ) + η²[...]
        sc.out_s.as_mut_slice().clone_from_slice(sc.s.as_slice());
        let mut coef = R::from_f64(-eta, ctx);
        self.add_drift_terms(z, &coef, None, sc);
        let b = self.batch_size as f64;
        coef.set_f64(eta);
        coef *= eta;
        coef /= b;
        self.add_sample_second_moment(z, &coef, sc);
        if self.batch_size > 1 {
            coef.set_f64(eta);
            coef *= eta;
            coef *= 1.0 - 1.0 / b;
            self.add_grad_outer(z, &coef, sc);
        }
        self.store(z, sc, out);
    }

    /// out_s += coef · [P(HS − hmᵀ) + (SH − mhᵀ)P] with P = I + c H (c = `precond`).
    fn add_drift_terms(&self, z: &[R], coef: &R, precond: Option<&R>, sc: &mut Scratch<R>) {
        let d = self.d();
        let m = &z[..d];
        // tmp = HS − hmᵀ
        self.hess.mul_into(&sc.s, &mut sc.tmp);
        for j in 0..d {
            for k in 0..d {
                sc.tmp[(j, k)].sub_mul(&self.h[j], &m[k]);
            }
        }
        if let Some(c) = precond {
            // tmp ← (I + cH) tmp
            self.hess.mul_into(&sc.tmp, &mut sc.tmp2);
            sc.tmp.add_scaled(c, &sc.tmp2);
        }
        // out_s += coef (tmp + tmpᵀ): for symmetric S, (SH − mhᵀ)P = (P(HS − hmᵀ))ᵀ;
        // the transpose is also the correct linear extension for any S.
        for j in 0..d {
            for k in 0..d {
                sc.out_s[(j, k)].add_mul(coef, &sc.tmp[(j, k)]);
                sc.out_s[(j, k)].add_mul(coef, &sc.tmp[(k, j)]);
            }
        }
    }

    /// Generator of the moment ODE: `out = G z` with dz/dt = G z (module docs).
    pub fn apply_generator(&self, model: ContinuousModel, eta: f64, z: &[R], out: &mut [R]) {
        let mut sc = self.scratch();
        self.apply_generator_with(model, eta, z, out, &mut sc);
    }

    fn apply_generator_with(
        &self,
        model: ContinuousModel,
        eta: f64,
        z: &[R],
        out: &mut [R],
        sc: &mut Scratch<R>,
    ) {
        let d = self.d();
        let ctx = self.ctx();
        let tau = &z[d + d * d];
        self.load(z, sc);
        let c = model.drift_correction(eta);
        let c_r = R::from_f64(c, ctx);
        // dm = −(I + cH)(Hm − τh)
        for j in 0..d {
            sc.v[j].assign(&sc.hm[j]);
            sc.v[j].sub_mul(&self.h[j], tau);
        }
        for j in 0..d {
            out[j].assign(&sc.v[j]);
            if c != 0.0 {
                dot_into(&mut sc.scalar, self.hess.row(j), &sc.v);
                out[j].add_mul(&c_r, &sc.scalar);
            }
            out[j].neg_mut();
        }
        for v in sc.out_s.as_mut_slice() {
            v.set_f64(0.0);
        }
        let mut coef = R::from_f64(-1.0, ctx);
        self.add_drift_terms(z, &coef, (c != 0.0).then_some(&c_r), sc);
        if model.has_noise() {
            // + (η/B)(Q + σ²τH − E∇L∇Lᵀ)
            coef.set_f64(eta);
            coef /= self.batch_size as f64;
            self.add_sample_second_moment(z, &coef, sc);
            coef.neg_mut();
            self.add_grad_outer(z, &coef, sc);
        }
        self.store(z, sc, out);
        out[d + d * d].set_f64(0.0);
    }

    /// Matrix of a linear map of the augmented state, column j = map(e_j).
    fn matrix_of(&self, mut map: impl FnMut(&[R], &mut [R], &mut Scratch<R>)) -> Mat<R> {
        let len = self.state_len();
        let ctx = self.ctx();
        let mut mat = Mat::<R>::zeros(len, len, ctx);
        let mut e = vec![R::zero(ctx); len];
        let mut col = vec![R::zero(ctx); len];
        let mut sc = self.scratch();
        for j in 0..len {
            e[j].set_f64(1.0);
            map(&e, &mut col, &mut sc);
            e[j].set_f64(0.0);
            for (i, v) in col.iter().enumerate() {
                mat[(i, j)].assign(v);
            }
        }
        mat
    }

    /// The augmented one-step matrix M_η of the SGD moments (z_{k+1} = M_η z_k).
    pub fn sgd_matrix(&self, eta: f64) -> Mat<R> {
        self.matrix_of(|z, out, sc| self.apply_sgd_step_with(eta, z, out, sc))
    }

    /// The augmented generator G of a model's moment ODE (dz/dt = G z) at step size η.
    pub fn generator_matrix(&self, model: ContinuousModel, eta: f64) -> Mat<R> {
        self.matrix_of(|z, out, sc| self.apply_generator_with(model, eta, z, out, sc))
    }

    /// SGD moments after `steps` steps of size η: M_η^K z₀ by repeated squaring.
    pub fn sgd_moments(&self, eta: f64, steps: u64, z0: &[R]) -> Vec<R> {
        matrix::power(&self.sgd_matrix(eta), steps).mul_vec(z0)
    }

    /// Model moments at time T: exp(T G) z₀ by scaling and squaring.
    pub fn model_moments(
        &self,
        model: ContinuousModel,
        eta: f64,
        horizon: f64,
        z0: &[R],
    ) -> Vec<R> {
        let mut g = self.generator_matrix(model, eta);
        g.scale_mut(&R::from_f64(horizon, self.ctx()));
        matrix::expm(&g).mul_vec(z0)
    }
}
