//! Minimum-norm interpolant θ_mn = argmin_{θ∈Γ} ‖θ‖ and flattest interpolant
//! θ_R = argmin_{θ∈Γ} tr G(θ), in any precision.
//!
//! * Linear: θ_mn = X⁺y = Xᵀ(XXᵀ)⁻¹y, solved directly in the working precision.
//! * Diagonal: β_mn solves basis pursuit min ‖β‖₁ s.t. Xβ = y (weights c_j for
//!   θ_R). The linear program is solved in f64 (clarabel), then *polished* in
//!   the working precision: β_S = least-squares solution of X_S β_S = y on the
//!   support S, the dual λ moved minimally onto {X_Sᵀλ = c_S sign β_S}, and the
//!   certificate (sign consistency, |X_jᵀλ| < c_j off S) re-checked there. With
//!   256 bits the result is correct to ~70 digits (see `tests/manifold.rs`).
//!
//! Derivations: `proofs/min_norm_interpolant.md`.

use serde::Serialize;

use super::basis_pursuit::{basis_pursuit, basis_pursuit_from, BasisPursuitError};
use crate::data::Dataset;
use crate::linalg::{dot, norm, Cholesky, LinalgError, Mat};
use crate::model::ModelKind;
use crate::scalar::Real;

/// Errors computing an interpolant.
#[derive(Debug, thiserror::Error)]
pub enum InterpolantError {
    /// n ≥ d or similar.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Singular system (X not of full row rank, or X_S rank-deficient).
    #[error("linear algebra failed: {0} (is X of full row rank?)")]
    Linalg(#[from] LinalgError),
    /// The linear program failed.
    #[error("basis pursuit failed: {0}")]
    BasisPursuit(#[from] BasisPursuitError),
    /// The model has no closed-form interpolant (the Mlp).
    #[error("the {0} has no closed-form minimum-norm or flattest interpolant (θ_mn, θ_R are defined for the linear and diagonal models only)")]
    NoClosedForm(&'static str),
}

impl<R: Real> Interpolant<R> {
    /// Placeholder for a model without a closed-form interpolant (the Mlp):
    /// no θ, NaN norm and objective, no certificate. Every distance to it is
    /// NaN.
    pub fn unavailable(ctx: R::Ctx) -> Self {
        let nan = R::from_f64(f64::NAN, ctx);
        Self {
            theta: Vec::new(),
            beta: Vec::new(),
            norm: nan.clone(),
            objective: nan.clone(),
            residual_norm: nan,
            dual: Vec::new(),
            support: Vec::new(),
            certificate_ok: false,
            support_violation: f64::NAN,
            complementarity_margin: f64::NAN,
        }
    }
}

/// An interpolant with its optimality certificate.
#[derive(Debug, Clone)]
pub struct Interpolant<R> {
    /// Parameters θ (for Diagonal: u then v, with |u_j| = |v_j|, v ≥ 0).
    pub theta: Vec<R>,
    /// β(θ).
    pub beta: Vec<R>,
    /// ‖θ‖.
    pub norm: R,
    /// Weighted ℓ1 objective Σ c_j|β_j| (Diagonal) or ‖θ‖² (Linear).
    pub objective: R,
    /// ‖Xβ − y‖ computed in the working precision.
    pub residual_norm: R,
    /// Dual vector λ ∈ ℝⁿ (θ = Xᵀλ for Linear; basis-pursuit dual for Diagonal).
    pub dual: Vec<R>,
    /// Support of β (indices with β_j ≠ 0).
    pub support: Vec<usize>,
    /// Whether the optimality certificate holds in the working precision.
    pub certificate_ok: bool,
    /// max_{j∈S} |X_jᵀλ − c_j sign β_j| (0 for Linear).
    pub support_violation: f64,
    /// min_{j∉S} (c_j − |X_jᵀλ|): strict complementarity margin (> 0 ⇒ unique).
    pub complementarity_margin: f64,
}

/// f64 summary of an interpolant (for JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct InterpolantSummary {
    /// Model.
    pub model: String,
    /// Precision in bits.
    pub precision_bits: u32,
    /// θ (rounded to f64).
    pub theta: Vec<f64>,
    /// β (rounded to f64).
    pub beta: Vec<f64>,
    /// ‖θ‖ (rounded).
    pub norm: f64,
    /// ‖θ‖ printed to all digits of the working precision.
    pub norm_digits: String,
    /// ‖β‖₁ (weighted for θ_R).
    pub objective: f64,
    /// ‖Xβ − y‖.
    pub residual: f64,
    /// Certificate result.
    pub certificate_ok: bool,
    /// Certificate violation on the support.
    pub support_violation: f64,
    /// Strict-complementarity margin.
    pub complementarity_margin: f64,
    /// Support of β.
    pub support: Vec<usize>,
    /// Dual vector.
    pub dual: Vec<f64>,
}

impl<R: Real> Interpolant<R> {
    /// f64 summary.
    pub fn summary(&self, model: ModelKind) -> InterpolantSummary {
        let digits = ((self.norm.precision_bits() as f64) * std::f64::consts::LOG10_2) as usize;
        InterpolantSummary {
            model: model.to_string(),
            precision_bits: self.norm.precision_bits(),
            theta: self.theta.iter().map(Real::to_f64).collect(),
            beta: self.beta.iter().map(Real::to_f64).collect(),
            norm: self.norm.to_f64(),
            norm_digits: format_digits(&self.norm, digits),
            objective: self.objective.to_f64(),
            residual: self.residual_norm.to_f64(),
            certificate_ok: self.certificate_ok,
            support_violation: self.support_violation,
            complementarity_margin: self.complementarity_margin,
            support: self.support.clone(),
            dual: self.dual.iter().map(Real::to_f64).collect(),
        }
    }
}

/// Print a scalar with `digits` significant digits (f64: shortest round-trip).
pub fn format_digits<R: Real>(x: &R, digits: usize) -> String {
    if R::ARBITRARY_PRECISION {
        format!("{:.*e}", digits.saturating_sub(1), x)
    } else {
        format!("{:e}", x.to_f64())
    }
}

/// θ_mn for a model (Linear: X⁺y; Diagonal: basis pursuit, polished).
pub fn min_norm_interpolant<R: Real>(
    kind: ModelKind,
    data: &Dataset<R>,
) -> Result<Interpolant<R>, InterpolantError> {
    if kind == ModelKind::Mlp {
        return Err(InterpolantError::NoClosedForm("Mlp"));
    }
    data.require_overparameterized()?;
    match kind {
        ModelKind::Mlp => Err(InterpolantError::NoClosedForm("Mlp")),
        ModelKind::Linear => linear_min_norm(data),
        ModelKind::Diagonal => {
            let ones = vec![R::one(data.ctx()); data.d()];
            diagonal_weighted(data, &ones, None)
        }
    }
}

/// θ_R = argmin_{θ∈Γ} tr G(θ). Diagonal: weighted basis pursuit with weights
/// c_j = (1/n)Σ_i x_ij². Linear: tr G is constant on Γ, every interpolant is
/// flattest; θ_mn is returned as the representative.
pub fn flattest_interpolant<R: Real>(
    kind: ModelKind,
    data: &Dataset<R>,
) -> Result<Interpolant<R>, InterpolantError> {
    if kind == ModelKind::Mlp {
        return Err(InterpolantError::NoClosedForm("Mlp"));
    }
    data.require_overparameterized()?;
    match kind {
        ModelKind::Mlp => Err(InterpolantError::NoClosedForm("Mlp")),
        ModelKind::Linear => linear_min_norm(data),
        ModelKind::Diagonal => diagonal_weighted(data, &data.column_moments.clone(), None),
    }
}

/// [`flattest_interpolant`] given θ_mn of the same data: solves no second LP
/// when θ_mn's support and (corrected) dual certify optimality for the
/// weights c_j (always the case with normalized columns, c_j ≈ 1; then θ_R
/// has θ_mn's support and the same β, bit for bit), else solves it. The
/// certificate is checked in the working precision exactly as in
/// [`flattest_interpolant`]. Linear: θ_mn itself (what
/// [`flattest_interpolant`] computes).
pub fn flattest_interpolant_reusing<R: Real>(
    kind: ModelKind,
    data: &Dataset<R>,
    minnorm: &Interpolant<R>,
) -> Result<Interpolant<R>, InterpolantError> {
    if kind == ModelKind::Mlp {
        return Err(InterpolantError::NoClosedForm("Mlp"));
    }
    data.require_overparameterized()?;
    match kind {
        ModelKind::Mlp => Err(InterpolantError::NoClosedForm("Mlp")),
        ModelKind::Linear => Ok(minnorm.clone()),
        ModelKind::Diagonal => diagonal_weighted(data, &data.column_moments.clone(), Some(minnorm)),
    }
}

fn linear_min_norm<R: Real>(data: &Dataset<R>) -> Result<Interpolant<R>, InterpolantError> {
    let chol = Cholesky::new(data.x.gram_rows())?;
    let mut dual = chol.solve(&data.y);
    // One step of iterative refinement in the working precision.
    let theta0 = data.x.tr_mul_vec(&dual);
    let mut r = data.x.mul_vec(&theta0);
    for (ri, yi) in r.iter_mut().zip(&data.y) {
        *ri -= yi;
    }
    chol.solve_mut(&mut r);
    for (l, c) in dual.iter_mut().zip(&r) {
        *l -= c;
    }
    let theta = data.x.tr_mul_vec(&dual);
    let residual_norm = residual(data, &theta);
    let objective = dot(&theta, &theta);
    let support = (0..data.d()).filter(|&j| !theta[j].is_zero()).collect();
    let tol = certificate_tolerance(data);
    Ok(Interpolant {
        norm: norm(&theta),
        beta: theta.clone(),
        certificate_ok: residual_norm.to_f64() <= tol,
        theta,
        objective,
        residual_norm,
        dual,
        support,
        support_violation: 0.0,
        complementarity_margin: f64::INFINITY,
    })
}

fn residual<R: Real>(data: &Dataset<R>, beta: &[R]) -> R {
    let mut r = vec![R::zero(data.ctx()); data.n()];
    data.linear_residuals_into(beta, &mut r);
    norm(&r)
}

/// Tolerance of the certificate in the working precision: a few hundred ulps
/// times the scale of the data.
fn certificate_tolerance<R: Real>(data: &Dataset<R>) -> f64 {
    let scale = data.x.frobenius_f64().max(1.0)
        * data.y.iter().map(|v| v.to_f64().abs()).fold(1.0, f64::max);
    1e3 * R::epsilon(data.ctx()) * scale
}

fn diagonal_weighted<R: Real>(
    data: &Dataset<R>,
    weights: &[R],
    start: Option<&Interpolant<R>>,
) -> Result<Interpolant<R>, InterpolantError> {
    let ctx = data.ctx();
    let (n, d) = (data.n(), data.d());
    let x64 = data.x.to_f64();
    let y64: Vec<f64> = data.y.iter().map(Real::to_f64).collect();
    let w64: Vec<f64> = weights.iter().map(Real::to_f64).collect();
    let reused = match start {
        Some(s) => {
            let b64: Vec<f64> = s.beta.iter().map(Real::to_f64).collect();
            let l64: Vec<f64> = s.dual.iter().map(Real::to_f64).collect();
            basis_pursuit_from(x64.as_slice(), n, d, &y64, Some(&w64), 1e-9, &b64, &l64)?
        }
        None => None,
    };
    let lp = match reused {
        Some(lp) => lp,
        None => basis_pursuit(x64.as_slice(), n, d, &y64, Some(&w64), 1e-9)?,
    };
    let support = lp.support.clone();
    let signs: Vec<f64> = support.iter().map(|&j| lp.beta[j].signum()).collect();
    let k = support.len();

    // X_S in the working precision (exact copies of the f64 data).
    let mut xs = Mat::<R>::zeros(n, k.max(1), ctx);
    for i in 0..n {
        for (c, &j) in support.iter().enumerate() {
            xs[(i, c)].assign(&data.x[(i, j)]);
        }
    }
    let mut beta = vec![R::zero(ctx); d];
    let mut dual: Vec<R> = lp.dual.iter().map(|&l| R::from_f64(l, ctx)).collect();
    if k > 0 {
        // Normal equations X_SᵀX_S β_S = X_Sᵀy, refined twice (consistent system).
        let xst = xs.transpose();
        let normal = Cholesky::new(xst.gram_rows())?;
        let mut beta_s = normal.solve(&xst.mul_vec(&data.y));
        for _ in 0..2 {
            let mut r = xs.mul_vec(&beta_s);
            for (ri, yi) in r.iter_mut().zip(&data.y) {
                *ri -= yi;
            }
            let corr = normal.solve(&xst.mul_vec(&r));
            for (b, c) in beta_s.iter_mut().zip(&corr) {
                *b -= c;
            }
        }
        for (c, &j) in support.iter().enumerate() {
            beta[j] = beta_s[c].clone();
        }
        // Dual: minimal change of the LP dual onto {X_Sᵀλ = w_S sign β_S}.
        for _ in 0..2 {
            let mut gap = xst.mul_vec(&dual);
            for (c, g) in gap.iter_mut().enumerate() {
                g.neg_mut();
                let mut target = weights[support[c]].clone();
                target *= signs[c];
                *g += &target;
            }
            normal.solve_mut(&mut gap);
            let shift = xs.mul_vec(&gap);
            for (l, s) in dual.iter_mut().zip(&shift) {
                *l += s;
            }
        }
    }
    // Certificate in the working precision.
    let xt_lambda = data.x.tr_mul_vec(&dual);
    let mut support_violation = 0.0f64;
    let mut signs_ok = true;
    for (c, &j) in support.iter().enumerate() {
        let mut v = xt_lambda[j].clone();
        let mut target = weights[j].clone();
        target *= signs[c];
        v -= &target;
        support_violation = support_violation.max(v.to_f64().abs());
        if beta[j].to_f64().signum() != signs[c] || beta[j].is_zero() {
            signs_ok = false;
        }
    }
    let mut margin = f64::INFINITY;
    for j in (0..d).filter(|j| !support.contains(j)) {
        let mut slack = weights[j].clone();
        slack -= &xt_lambda[j].abs();
        margin = margin.min(slack.to_f64());
    }
    let residual_norm = residual(data, &beta);
    let tol = certificate_tolerance(data);
    let certificate_ok =
        signs_ok && residual_norm.to_f64() <= tol && support_violation <= tol && margin > 0.0;

    // θ: u_j = sign(β_j)√|β_j|, v_j = √|β_j|.
    let mut theta = vec![R::zero(ctx); 2 * d];
    for j in 0..d {
        let mut root = beta[j].abs();
        root.sqrt_mut();
        let mut u = root.clone();
        if beta[j].is_negative() {
            u.neg_mut();
        }
        theta[j] = u;
        theta[d + j] = root;
    }
    let mut objective = R::zero(ctx);
    let mut absb = R::zero(ctx);
    for (b, w) in beta.iter().zip(weights) {
        absb.assign(b);
        absb.abs_mut();
        objective.add_mul(&absb, w);
    }
    Ok(Interpolant {
        norm: norm(&theta),
        theta,
        beta,
        objective,
        residual_norm,
        dual,
        support,
        certificate_ok,
        support_violation,
        complementarity_margin: margin,
    })
}
