//! Minimum-norm interpolant θ_mn = argmin_{θ∈Γ} ‖θ‖ and flattest interpolant
//! θ_R = argmin_{θ∈Γ} tr G(θ), in any precision.
//!
//! * Linear: θ_mn = X⁺y = Xᵀ(XXᵀ)⁻¹y, solved directly in the working precision.
//! * Diagonal: β_mn solves basis pursuit min ‖β‖₁ s.t. Xβ = y (weights c_j for
//!   θ_R). The linear program is solved in f64 (clarabel), then *polished* in
//!   the working precision: β_S = least-squares solution of X_S β_S = y on the
//!   support S, the dual λ moved minimally onto {X_Sᵀλ = c_S sign β_S}. If that
//!   pair does not pass the certificate in the working precision (the data are
//!   not exactly consistent with the f64 support, e.g. any CSV written with 17
//!   digits), the basis is refined by primal simplex pivots in the working
//!   precision (`exact_bp`) until primal residual and dual
//!   certificate hold; the exact support can be larger than the f64 one.
//!
//! The certificate ([`Interpolant::certificate_ok`]) is relative to the data:
//! componentwise backward error max_i |Xβ − y|_i / (|X||β| + |y|)_i of the
//! primal, and |X_jᵀλ| − c_j relative to |X_j|ᵀ|λ| + c_j for the dual, each
//! against 4(k + 2)ε of the working precision — the rounding error of
//! evaluating those sums — so it cannot pass for a β that interpolates only
//! in absolute terms. Only the digits of ‖θ‖ covered by an a-posteriori error
//! bound are printed ([`InterpolantSummary::norm_digits`]).
//!
//! Derivations: `proofs/min_norm_interpolant.md`.

use serde::Serialize;

use super::basis_pursuit::{BasisPursuitError, BasisPursuitProblem, LpMethod};
use super::exact_bp::{simplex, starting_basis};
use crate::data::Dataset;
use crate::linalg::{dot, norm, Cholesky, LinalgError, Lu, Mat};
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
    /// The working-precision simplex could not start or finish.
    #[error("basis pursuit in the working precision failed: {0}")]
    Simplex(String),
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
            certificate_failure: Some("no closed-form interpolant for this model".into()),
            backward_error: f64::NAN,
            norm_error_bound: f64::NAN,
            lp_support: Vec::new(),
            simplex_pivots: 0,
            inverse_condition: f64::NAN,
        }
    }
}

/// An interpolant with its optimality certificate (serialized in f64 inside
/// [`InterpolantSummary`]).
#[derive(Debug, Clone, Serialize)]
#[serde(bound(serialize = "R: Serialize"))]
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
    #[serde(rename = "residual")]
    pub residual_norm: R,
    /// Dual vector λ ∈ ℝⁿ (θ = Xᵀλ for Linear; basis-pursuit dual for Diagonal).
    pub dual: Vec<R>,
    /// Support of β (indices with β_j ≠ 0).
    pub support: Vec<usize>,
    /// Whether the optimality certificate holds in the working precision.
    pub certificate_ok: bool,
    /// max_{j∈S} |X_jᵀλ − c_j sign β_j| / c_j (0 for Linear).
    pub support_violation: f64,
    /// min_{j∉S} (c_j − |X_jᵀλ|) / c_j: strict complementarity margin
    /// (> 0 ⇒ unique).
    pub complementarity_margin: f64,
    /// The failed condition of the certificate, its value and its tolerance
    /// (`None` when `certificate_ok`).
    pub certificate_failure: Option<String>,
    /// Componentwise backward error max_i |Xβ − y|_i / (|X||β| + |y|)_i.
    pub backward_error: f64,
    /// A-posteriori bound on |‖θ‖ − ‖θ_exact‖| (∞ when nothing is certified).
    pub norm_error_bound: f64,
    /// Support of the f64 solution the working precision started from
    /// (Diagonal: the interior-point LP; Linear: all columns).
    pub lp_support: Vec<usize>,
    /// Working-precision simplex pivots used (0: the f64 support was exact).
    pub simplex_pivots: usize,
    /// Linear: σ_min/σ_max of the row-equilibrated X (f64 SVD); Diagonal:
    /// 1/(‖X_B‖₁‖X_B⁻¹‖₁) of the final basis (`NaN` if not computed).
    pub inverse_condition: f64,
}

/// f64 summary of an interpolant (for JSON output): the interpolant rounded
/// to f64 with its precision and the certified digits of ‖θ‖.
#[derive(Debug, Clone, Serialize)]
pub struct InterpolantSummary {
    /// Model.
    pub model: String,
    /// Precision in bits.
    pub precision_bits: u32,
    /// ‖θ‖ printed with the certified digits only: the error is below one
    /// unit in the last printed digit (`norm_error_bound`); empty when the
    /// certificate failed.
    pub norm_digits: String,
    /// Number of significant digits in `norm_digits`.
    pub certified_digits: usize,
    /// θ, β, ‖θ‖, … rounded to f64 (JSON: its fields at the top level).
    #[serde(flatten)]
    pub interpolant: Interpolant<f64>,
}

impl<R: Real> Interpolant<R> {
    /// f64 summary.
    pub fn summary(&self, model: ModelKind) -> InterpolantSummary {
        let digits = self.certified_digits();
        let f64s = |v: &[R]| v.iter().map(Real::to_f64).collect();
        InterpolantSummary {
            model: model.to_string(),
            precision_bits: self.norm.precision_bits(),
            norm_digits: if digits == 0 {
                String::new()
            } else {
                format_digits(&self.norm, digits)
            },
            certified_digits: digits,
            interpolant: Interpolant {
                theta: f64s(&self.theta),
                beta: f64s(&self.beta),
                norm: self.norm.to_f64(),
                objective: self.objective.to_f64(),
                residual_norm: self.residual_norm.to_f64(),
                dual: f64s(&self.dual),
                support: self.support.clone(),
                certificate_ok: self.certificate_ok,
                support_violation: self.support_violation,
                complementarity_margin: self.complementarity_margin,
                certificate_failure: self.certificate_failure.clone(),
                backward_error: self.backward_error,
                norm_error_bound: self.norm_error_bound,
                lp_support: self.lp_support.clone(),
                simplex_pivots: self.simplex_pivots,
                inverse_condition: self.inverse_condition,
            },
        }
    }

    /// Significant digits of ‖θ‖ covered by the error bound: the largest D
    /// with `2·norm_error_bound ≤ ‖θ‖·10^{−D}`, so that ‖θ‖ rounded to D digits
    /// is within one unit of its last digit; at most the digits of the working
    /// precision (16 for f64), 0 when the certificate failed.
    pub fn certified_digits(&self) -> usize {
        let bits = self.norm.precision_bits() as f64;
        let max_digits = if R::ARBITRARY_PRECISION {
            (bits * std::f64::consts::LOG10_2) as usize
        } else {
            16
        };
        let norm = self.norm.to_f64();
        if !self.certificate_ok
            || norm.is_nan()
            || norm <= 0.0
            || !self.norm_error_bound.is_finite()
        {
            return if self.certificate_ok && norm == 0.0 {
                1
            } else {
                0
            };
        }
        if self.norm_error_bound == 0.0 {
            return max_digits;
        }
        let d = (norm / (2.0 * self.norm_error_bound)).log10().floor();
        if d < 1.0 {
            0
        } else {
            (d as usize).min(max_digits)
        }
    }
}

/// Print a scalar with `digits` significant digits (at most 17 for f64).
pub fn format_digits<R: Real>(x: &R, digits: usize) -> String {
    if R::ARBITRARY_PRECISION {
        format!("{:.*e}", digits.saturating_sub(1), x)
    } else {
        format!("{:.*e}", digits.clamp(1, 17) - 1, x.to_f64())
    }
}

/// θ_mn for a model (Linear: X⁺y; Diagonal: basis pursuit, polished).
pub fn min_norm_interpolant<R: Real>(
    kind: ModelKind,
    data: &Dataset<R>,
) -> Result<Interpolant<R>, InterpolantError> {
    closed_form(kind, data, Objective::Norm, None)
}

/// θ_R = argmin_{θ∈Γ} tr G(θ). Diagonal: weighted basis pursuit with weights
/// c_j = (1/n)Σ_i x_ij². Linear: tr G is constant on Γ, every interpolant is
/// flattest; θ_mn is returned as the representative.
pub fn flattest_interpolant<R: Real>(
    kind: ModelKind,
    data: &Dataset<R>,
) -> Result<Interpolant<R>, InterpolantError> {
    closed_form(kind, data, Objective::Weighted, None)
}

/// [`flattest_interpolant`] given θ_mn of the same data: the f64 LP starts
/// from θ_mn's support and dual and solves nothing when they already
/// certify optimality for the weights c_j (always the case with normalized
/// columns, c_j ≈ 1), else it is solved as usual. The working-precision
/// refinement and certificate are those of [`flattest_interpolant`].
/// Linear: θ_mn itself (what [`flattest_interpolant`] computes).
pub fn flattest_interpolant_reusing<R: Real>(
    kind: ModelKind,
    data: &Dataset<R>,
    minnorm: &Interpolant<R>,
) -> Result<Interpolant<R>, InterpolantError> {
    closed_form(kind, data, Objective::Weighted, Some(minnorm))
}

/// θ_mn (`Objective::Norm`) or θ_R (`Objective::Weighted`), optionally
/// starting from θ_mn (`warm`).
fn closed_form<R: Real>(
    kind: ModelKind,
    data: &Dataset<R>,
    objective: Objective,
    warm: Option<&Interpolant<R>>,
) -> Result<Interpolant<R>, InterpolantError> {
    // The model is checked before the data, so an Mlp is told it has no
    // closed form whatever its data.
    let diagonal = match kind {
        ModelKind::Mlp => return Err(InterpolantError::NoClosedForm("Mlp")),
        ModelKind::Linear => false,
        ModelKind::Diagonal => true,
    };
    data.require_overparameterized()?;
    if !diagonal {
        // Linear: θ_mn is also flattest (tr G is constant on Γ).
        return warm.map_or_else(|| linear_min_norm(data), |minnorm| Ok(minnorm.clone()));
    }
    let weights = match objective {
        Objective::Norm => vec![R::one(data.ctx()); data.d()],
        Objective::Weighted => data.column_moments.clone(),
    };
    diagonal_weighted(data, &weights, objective, warm)
}

/// Rounding constant γ_k = k·ε/(1 − k·ε) of a k-term sum in precision ε
/// (ε = [`Real::epsilon`], the spacing at 1, twice the unit roundoff: a
/// factor 2 of safety).
fn gamma(k: usize, eps: f64) -> f64 {
    let ke = k as f64 * eps;
    ke / (1.0 - ke).max(0.5)
}

/// Tolerance of every certificate condition: 4γ_{k+2}, a few times the
/// rounding error of evaluating a (k + 2)-term sum in the working precision.
fn tolerance(k: usize, eps: f64) -> f64 {
    4.0 * gamma(k + 2, eps)
}

/// Componentwise residual of Xβ = y (support `support`).
struct Residual {
    /// max_i |r_i| / (|X||β| + |y|)_i (0/0 = 0).
    backward_error: f64,
    /// ‖ |r| + γ(|X||β| + |y|) ‖₁: bound on ‖X β − y‖₁ of the exact product.
    bound_l1: f64,
    /// Same, 2-norm.
    bound_l2: f64,
}

fn residual_of<R: Real>(x: &Mat<R>, y: &[R], beta: &[R], support: &[usize]) -> (Residual, R) {
    let ctx = x.ctx();
    let eps = R::epsilon(ctx);
    let g = gamma(support.len() + 1, eps);
    let mut r = vec![R::zero(ctx); y.len()];
    let (mut be, mut l1, mut l2) = (0.0f64, 0.0f64, 0.0f64);
    let mut scale = R::zero(ctx);
    let mut ratio = R::zero(ctx);
    for (i, ri) in r.iter_mut().enumerate() {
        ri.assign(&y[i]);
        ri.neg_mut();
        scale.assign(&y[i]);
        scale.abs_mut();
        for &j in support {
            ri.add_mul(&x[(i, j)], &beta[j]);
            let mut t = x[(i, j)].abs();
            t *= &beta[j].abs();
            scale += &t;
        }
        if !ri.is_zero() {
            ratio.assign(ri);
            ratio.abs_mut();
            ratio /= &scale;
            be = be.max(ratio.to_f64());
        }
        let bound = ri.to_f64().abs() + g * scale.to_f64();
        l1 += bound;
        l2 += bound * bound;
    }
    let rn = norm(&r);
    (
        Residual {
            backward_error: be,
            bound_l1: l1,
            bound_l2: l2.sqrt(),
        },
        rn,
    )
}

/// Dual side of the basis-pursuit certificate for (β, λ).
struct DualCheck {
    /// max_{j∈S} |X_jᵀλ − c_j sign β_j| / c_j.
    support_violation: f64,
    /// Same relative to |X_j|ᵀ|λ| + c_j (compared with the tolerance).
    support_violation_rel: f64,
    /// max_{j∉S} (|X_jᵀλ| − c_j)₊ / (|X_j|ᵀ|λ| + c_j).
    offsupport_violation_rel: f64,
    /// min_{j∉S} (c_j − |X_jᵀλ|) / c_j (+∞ if S is everything).
    margin: f64,
    /// δ with |X_jᵀλ| ≤ (1 + δ)c_j for all j, including the rounding of X_jᵀλ:
    /// λ/(1 + δ) is exactly dual feasible.
    dual_scale: f64,
}

/// `(X_jᵀλ, |X_j|ᵀ|λ|)` summed in row order: the dual constraint of column
/// `j` and its rounding scale (pricing in `exact_bp`, the certificate here).
pub(super) fn column_dual<R: Real>(x: &Mat<R>, j: usize, lambda: &[R], abs_lambda: &[R]) -> (R, R) {
    let ctx = x.ctx();
    let mut z = R::zero(ctx);
    let mut a = R::zero(ctx);
    for (i, (l, al)) in lambda.iter().zip(abs_lambda).enumerate() {
        z.add_mul(&x[(i, j)], l);
        a.add_mul(&x[(i, j)].abs(), al);
    }
    (z, a)
}

fn dual_check<R: Real>(x: &Mat<R>, c: &[R], beta: &[R], lambda: &[R]) -> DualCheck {
    let (n, d) = (x.rows(), x.cols());
    let ctx = x.ctx();
    let eps = R::epsilon(ctx);
    let g = gamma(n, eps);
    let abs_lambda: Vec<R> = lambda.iter().map(Real::abs).collect();
    let mut out = DualCheck {
        support_violation: 0.0,
        support_violation_rel: 0.0,
        offsupport_violation_rel: 0.0,
        margin: f64::INFINITY,
        dual_scale: 0.0,
    };
    for j in 0..d {
        let (z, a) = column_dual(x, j, lambda, &abs_lambda);
        let mut denom = a.clone();
        denom += &c[j];
        let mut excess = z.abs();
        excess -= &c[j];
        let mut rel_c = excess.clone();
        rel_c /= &c[j];
        let mut round = a.clone();
        round /= &c[j];
        out.dual_scale = out.dual_scale.max(rel_c.to_f64() + g * round.to_f64());
        if beta[j].is_zero() {
            let mut rel = excess.clone();
            rel /= &denom;
            out.offsupport_violation_rel = out.offsupport_violation_rel.max(rel.to_f64());
            out.margin = out.margin.min(-rel_c.to_f64());
        } else {
            let mut v = z.clone();
            let mut target = c[j].clone();
            if beta[j].is_negative() {
                target.neg_mut();
            }
            v -= &target;
            v.abs_mut();
            let mut rel = v.clone();
            rel /= &denom;
            v /= &c[j];
            out.support_violation = out.support_violation.max(v.to_f64());
            out.support_violation_rel = out.support_violation_rel.max(rel.to_f64());
        }
    }
    out
}

/// The first failed condition of a certificate, with value and tolerance.
fn first_failure(conditions: &[(&str, f64, f64)]) -> Option<String> {
    conditions
        .iter()
        .find(|(_, value, tol)| value.is_nan() || value > tol)
        .map(|(what, value, tol)| format!("{what} = {value:.3e} > tolerance {tol:.3e}"))
}

/// ‖X_B⁻¹‖₁ in the working precision (largest absolute column sum).
fn inverse_norm1<R: Real>(x: &Mat<R>, basis: &[usize]) -> Option<f64> {
    let n = x.rows();
    let mut b = Mat::<R>::zeros(n, n, x.ctx());
    for i in 0..n {
        for (k, &j) in basis.iter().enumerate() {
            b[(i, k)].assign(&x[(i, j)]);
        }
    }
    let inv = Lu::new(b).ok()?.inverse();
    let v = (0..n)
        .map(|k| (0..n).map(|i| inv[(i, k)].to_f64().abs()).sum::<f64>())
        .fold(0.0, f64::max);
    v.is_finite().then_some(v)
}

fn linear_min_norm<R: Real>(data: &Dataset<R>) -> Result<Interpolant<R>, InterpolantError> {
    let (n, d) = (data.n(), data.d());
    let ctx = data.ctx();
    let eps = R::epsilon(ctx);
    let all: Vec<usize> = (0..d).collect();

    // Conditioning at the precision of the data (f64, rows equilibrated by
    // powers of 2): numerical rank with numpy's / MATLAB's default tolerance
    // max(n, d)·2⁻⁵²·σ_max.
    let x64 = data.x.to_f64();
    let row_scale: Vec<f64> = (0..n)
        .map(|i| {
            let m = x64.row(i).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if m > 0.0 && m.is_finite() {
                2f64.powi(-(m.log2().floor() as i32))
            } else {
                1.0
            }
        })
        .collect();
    let xs = nalgebra::DMatrix::from_fn(n, d, |i, j| x64[(i, j)] * row_scale[i]);
    let ys = nalgebra::DVector::from_fn(n, |i, _| data.y[i].to_f64() * row_scale[i]);
    let svd = xs.clone().svd(true, true);
    let sigma = &svd.singular_values;
    let sigma_max = sigma.max();
    let sigma_min = sigma.min();
    let rank_tol = n.max(d) as f64 * f64::EPSILON * sigma_max;
    let rank = sigma.iter().filter(|&&s| s > rank_tol).count();
    let inverse_condition = if sigma_max > 0.0 {
        sigma_min / sigma_max
    } else {
        0.0
    };

    if rank < n {
        // Minimum-norm least-squares solution of the rank-r problem (f64),
        // reported with the failed certificate.
        let (u, vt) = (svd.u.as_ref().unwrap(), svd.v_t.as_ref().unwrap());
        let mut theta64 = vec![0.0; d];
        let mut fit = nalgebra::DVector::<f64>::zeros(n);
        let mut dual64 = vec![0.0; n];
        for k in 0..rank {
            let coef = u.column(k).dot(&ys);
            for (j, t) in theta64.iter_mut().enumerate() {
                *t += coef / sigma[k] * vt[(k, j)];
            }
            fit += u.column(k) * coef;
            for (i, l) in dual64.iter_mut().enumerate() {
                *l += u[(i, k)] * coef / (sigma[k] * sigma[k]) * row_scale[i];
            }
        }
        let ls_residual = (&ys - &fit).norm() / ys.norm().max(f64::MIN_POSITIVE);
        let theta: Vec<R> = theta64.iter().map(|&v| R::from_f64(v, ctx)).collect();
        let dual: Vec<R> = dual64.iter().map(|&v| R::from_f64(v, ctx)).collect();
        let (res, residual_norm) = residual_of(&data.x, &data.y, &theta, &all);
        let failure = format!(
            "rank: X has numerical rank {rank} < n = {n} (σ_min/σ_max = {inverse_condition:.3e} ≤ \
             tolerance max(n, d)·2⁻⁵² = {:.3e}, rows equilibrated); relative residual of the \
             rank-{rank} least-squares fit = {ls_residual:.3e}: {}",
            n.max(d) as f64 * f64::EPSILON,
            if ls_residual > 1e3 * n.max(d) as f64 * f64::EPSILON {
                "the interpolation conditions are inconsistent"
            } else {
                "consistent, but θ_mn is not determined to the precision of the data"
            }
        );
        return Ok(Interpolant {
            norm: norm(&theta),
            beta: theta.clone(),
            objective: dot(&theta, &theta),
            theta,
            residual_norm,
            dual,
            support: all.clone(),
            certificate_ok: false,
            support_violation: 0.0,
            complementarity_margin: f64::INFINITY,
            certificate_failure: Some(failure),
            backward_error: res.backward_error,
            norm_error_bound: f64::INFINITY,
            lp_support: all,
            simplex_pivots: 0,
            inverse_condition,
        });
    }

    // θ = Xᵀλ with (XXᵀ)λ = y, first on X as given (unchanged results on
    // well-scaled data), then with rows equilibrated when that does not
    // reach the working precision (the row scaling leaves θ_mn unchanged).
    let solve = |x: &Mat<R>, y: &[R]| -> Result<Vec<R>, LinalgError> {
        let chol = Cholesky::new(x.gram_rows())?;
        let mut dual = chol.solve(y);
        // One step of iterative refinement in the working precision.
        let theta0 = x.tr_mul_vec(&dual);
        let mut r = x.mul_vec(&theta0);
        for (ri, yi) in r.iter_mut().zip(y) {
            *ri -= yi;
        }
        chol.solve_mut(&mut r);
        for (l, c) in dual.iter_mut().zip(&r) {
            *l -= c;
        }
        Ok(dual)
    };
    // Equilibrated: θ is refined directly (θ ← θ − X_eᵀG_e⁻¹(X_eθ − y_e)), so
    // an entry that must be tiny (a column with a huge entry) is not the
    // cancellation of O(1) terms of X_eᵀλ.
    let solve_equilibrated = |x: &Mat<R>, y: &[R]| -> Result<(Vec<R>, Vec<R>), LinalgError> {
        let chol = Cholesky::new(x.gram_rows())?;
        let mut dual = chol.solve(y);
        let mut theta = x.tr_mul_vec(&dual);
        for _ in 0..4 {
            let mut r = x.mul_vec(&theta);
            for (ri, yi) in r.iter_mut().zip(y) {
                *ri -= yi;
            }
            chol.solve_mut(&mut r);
            let step = x.tr_mul_vec(&r);
            for (t, s) in theta.iter_mut().zip(&step) {
                *t -= s;
            }
            for (l, c) in dual.iter_mut().zip(&r) {
                *l -= c;
            }
        }
        Ok((theta, dual))
    };
    let tol = tolerance(d, eps);
    // (θ, λ, residual, ‖r‖, ‖Δθ‖ of the componentwise polish)
    type Solved<R> = (Vec<R>, Vec<R>, Residual, R, f64);
    let mut best: Option<Solved<R>> = None;
    for equilibrate in [false, true] {
        let solved = if equilibrate {
            let mut xe = data.x.clone();
            let mut ye = data.y.clone();
            for i in 0..n {
                for v in xe.row_mut(i) {
                    *v *= row_scale[i];
                }
                ye[i] *= row_scale[i];
            }
            solve_equilibrated(&xe, &ye).map(|(theta, mut l)| {
                for (li, s) in l.iter_mut().zip(&row_scale) {
                    *li *= *s;
                }
                (theta, l)
            })
        } else {
            solve(&data.x, &data.y).map(|l| (data.x.tr_mul_vec(&l), l))
        };
        let Ok((mut theta, dual)) = solved else {
            continue;
        };
        let shift = if equilibrate {
            componentwise_polish(&data.x, &data.y, &mut theta, tol)
        } else {
            0.0
        };
        let (res, rn) = residual_of(&data.x, &data.y, &theta, &all);
        let better = match &best {
            None => true,
            Some((_, _, b, _, _)) => res.backward_error < b.backward_error,
        };
        if better {
            best = Some((theta, dual, res, rn, shift));
        }
        if best.as_ref().is_some_and(|b| b.2.backward_error <= tol) {
            break;
        }
    }
    let Some((theta, dual, res, residual_norm, shift)) = best else {
        return Err(InterpolantError::Linalg(LinalgError::Singular {
            op: "Cholesky of X Xᵀ (also with rows equilibrated)",
            pivot: 0,
        }));
    };
    let objective = dot(&theta, &theta);
    let support = (0..d).filter(|&j| !theta[j].is_zero()).collect();
    let failure = first_failure(&[(
        "primal residual: max_i |Xθ − y|_i / (|X||θ| + |y|)_i",
        res.backward_error,
        tol,
    )]);
    // ‖θ − X⁺y‖ ≤ ‖e‖ + (‖r‖ + σ_max‖e‖)/σ_min with e the rounding of Xᵀλ
    // (in the equilibrated metric; σ from the f64 SVD, halved for safety).
    let nrm = norm(&theta);
    let theta_norm = nrm.to_f64();
    let abs_dual: Vec<f64> = dual.iter().map(|v| v.to_f64().abs()).collect();
    let e_norm = shift
        + gamma(n, eps)
            * (0..d)
                .map(|j| {
                    let s: f64 = (0..n).map(|i| x64[(i, j)].abs() * abs_dual[i]).sum();
                    s * s
                })
                .sum::<f64>()
                .sqrt();
    let r_eq: f64 = res.bound_l2 * row_scale.iter().fold(0.0f64, |m, &s| m.max(s));
    let smin = 0.5 * sigma_min;
    let mut bound = e_norm + (r_eq + sigma_max * e_norm) / smin + gamma(d + 2, eps) * theta_norm;
    if failure.is_some() || !bound.is_finite() {
        bound = f64::INFINITY;
    }
    Ok(Interpolant {
        norm: nrm,
        beta: theta.clone(),
        certificate_ok: failure.is_none(),
        theta,
        objective,
        residual_norm,
        dual,
        support,
        support_violation: 0.0,
        complementarity_margin: f64::INFINITY,
        certificate_failure: failure,
        backward_error: res.backward_error,
        norm_error_bound: bound,
        lp_support: all,
        simplex_pivots: 0,
        inverse_condition,
    })
}

/// Componentwise polish of an interpolant of a badly scaled X (e.g. one entry
/// of 1e308): θ = Xᵀλ gets a coordinate that must be ≈ 1e-309 only as the
/// cancellation of O(1) terms, to ε absolute, which leaves the row of the
/// huge entry with residual ≈ 1e308·ε. For each row whose backward error
/// exceeds `tol`, the coordinate of its largest entry absorbs the residual
/// (Gauss–Seidel sweeps, at most 8). Returns ‖Δθ‖₂, the departure from
/// range(Xᵀ) it introduces (part of the error bound).
fn componentwise_polish<R: Real>(x: &Mat<R>, y: &[R], theta: &mut [R], tol: f64) -> f64 {
    let (n, d) = (x.rows(), x.cols());
    let mut moved = vec![0.0f64; d];
    for _ in 0..8 {
        let mut changed = false;
        for i in 0..n {
            let mut r = y[i].clone();
            r.neg_mut();
            let mut scale = y[i].abs();
            for j in 0..d {
                r.add_mul(&x[(i, j)], &theta[j]);
                let mut t = x[(i, j)].abs();
                t *= &theta[j].abs();
                scale += &t;
            }
            if r.is_zero() {
                continue;
            }
            let mut ratio = r.abs();
            ratio /= &scale;
            if ratio.to_f64() <= 0.25 * tol {
                continue;
            }
            let jmax = (0..d)
                .max_by(|&a, &b| {
                    x[(i, a)]
                        .to_f64()
                        .abs()
                        .total_cmp(&x[(i, b)].to_f64().abs())
                })
                .unwrap_or(0);
            if x[(i, jmax)].is_zero() {
                continue;
            }
            let mut step = r;
            step /= &x[(i, jmax)];
            moved[jmax] += step.to_f64().abs();
            theta[jmax] -= &step;
            changed = true;
        }
        if !changed {
            break;
        }
    }
    moved.iter().map(|m| m * m).sum::<f64>().sqrt()
}

/// What ‖θ‖ measures for the diagonal network: the objective itself
/// (‖θ_mn‖² = 2 min ‖β‖₁) or not (θ_R: ‖θ_R‖² = 2‖β_R‖₁ with β_R minimizing
/// the weighted norm).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Objective {
    Norm,
    Weighted,
}

/// (β, λ) in the working precision with support S = {β_j ≠ 0}, checked.
struct Candidate<R> {
    beta: Vec<R>,
    dual: Vec<R>,
    support: Vec<usize>,
    residual: Residual,
    residual_norm: R,
    dual_check: DualCheck,
    failure: Option<String>,
}

fn candidate<R: Real>(
    data: &Dataset<R>,
    weights: &[R],
    beta: Vec<R>,
    dual: Vec<R>,
) -> Candidate<R> {
    let eps = R::epsilon(data.ctx());
    let support: Vec<usize> = (0..data.d()).filter(|&j| !beta[j].is_zero()).collect();
    let (residual, residual_norm) = residual_of(&data.x, &data.y, &beta, &support);
    let dual_check = dual_check(&data.x, weights, &beta, &dual);
    let failure = first_failure(&[
        (
            "primal residual: max_i |Xβ − y|_i / (|X||β| + |y|)_i",
            residual.backward_error,
            tolerance(support.len(), eps),
        ),
        (
            "support condition: max_{j∈S} |X_jᵀλ − c_j sign β_j| / (|X_j|ᵀ|λ| + c_j)",
            dual_check.support_violation_rel,
            tolerance(data.n(), eps),
        ),
        (
            "dual feasibility: max_{j∉S} (|X_jᵀλ| − c_j) / (|X_j|ᵀ|λ| + c_j)",
            dual_check.offsupport_violation_rel,
            tolerance(data.n(), eps),
        ),
    ]);
    Candidate {
        beta,
        dual,
        support,
        residual,
        residual_norm,
        dual_check,
        failure,
    }
}

fn diagonal_weighted<R: Real>(
    data: &Dataset<R>,
    weights: &[R],
    objective_kind: Objective,
    start: Option<&Interpolant<R>>,
) -> Result<Interpolant<R>, InterpolantError> {
    let ctx = data.ctx();
    let eps = R::epsilon(ctx);
    let (n, d) = (data.n(), data.d());
    let x64 = data.x.to_f64();
    let y64: Vec<f64> = data.y.iter().map(Real::to_f64).collect();
    let w64: Vec<f64> = weights.iter().map(Real::to_f64).collect();
    // The f64 interior-point LP gives the starting support; on data it cannot
    // handle (e.g. entries near 1e308) the working-precision simplex starts
    // from a basis chosen from X alone.
    // A given start (θ_mn for θ_R) whose support and dual certify the LP's
    // optimality replaces the solve.
    let problem = BasisPursuitProblem::new(x64.as_slice(), n, d, &y64, Some(&w64))?;
    let reused = match start {
        Some(s) => {
            let b64: Vec<f64> = s.beta.iter().map(Real::to_f64).collect();
            let l64: Vec<f64> = s.dual.iter().map(Real::to_f64).collect();
            problem.solve_from(1e-9, &b64, &l64).ok().flatten()
        }
        None => None,
    };
    let lp = match reused {
        Some(lp) => Some(lp),
        None => match problem.solve(1e-9, LpMethod::Auto) {
            Ok(lp) => Some(lp),
            Err(BasisPursuitError::SolverFailed { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    let lp_support = lp.as_ref().map(|l| l.support.clone()).unwrap_or_default();

    // 1. Polish on the f64 support (exact when the data are consistent with it).
    let polished = lp.as_ref().and_then(|lp| polish(data, weights, lp));
    let polished = polished.map(|(beta, dual)| candidate(data, weights, beta, dual));
    let (chosen, basis, pivots, mut failure_note) = match polished {
        Some(c) if c.failure.is_none() => (c, None, 0, None),
        other => {
            // 2. Simplex pivots in the working precision from the f64 basis.
            let lp_dual_slack = |j: usize| -> f64 {
                match &lp {
                    Some(lp) => {
                        let z: f64 = (0..n).map(|i| x64[(i, j)] * lp.dual[i]).sum();
                        (w64[j] - z.abs()) / w64[j]
                    }
                    None => 0.0,
                }
            };
            let start = starting_basis(x64.as_slice(), n, d, &lp_support, &lp_dual_slack);
            let run = start.and_then(|start| {
                let signs: Vec<f64> = start
                    .iter()
                    .map(|&j| match &lp {
                        Some(lp) if lp.beta[j] != 0.0 => lp.beta[j].signum(),
                        Some(lp) => {
                            let z: f64 = (0..n).map(|i| x64[(i, j)] * lp.dual[i]).sum();
                            if z < 0.0 {
                                -1.0
                            } else {
                                1.0
                            }
                        }
                        None => 1.0,
                    })
                    .collect();
                simplex(&data.x, &data.y, weights, start, signs)
            });
            match (run, other) {
                (Ok(v), _) => {
                    let mut c = candidate(data, weights, v.beta, v.lambda.clone());
                    if c.failure.is_some() {
                        // Keep the degenerate (rounding-level) entries if
                        // zeroing them cost the primal residual.
                        let full = candidate(data, weights, v.beta_full, v.lambda);
                        if full.failure.is_none() {
                            c = full;
                        }
                    }
                    (c, Some((v.basis, v.inverse_norm1)), v.pivots, None)
                }
                (Err(e), Some(c)) => (c, None, 0, Some(format!("working-precision simplex: {e}"))),
                (Err(e), None) => {
                    return Err(InterpolantError::Simplex(e.to_string()));
                }
            }
        }
    };
    let Candidate {
        beta,
        dual,
        support,
        ..
    } = chosen;
    let certificate_ok = chosen.failure.is_none();
    let certificate_failure = match (chosen.failure, failure_note.take()) {
        (Some(f), Some(note)) => Some(format!("{f}; {note}")),
        (f, _) => f,
    };

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
    let norm_theta = norm(&theta);

    // A-posteriori error bound of ‖θ‖ through a basis B ⊇ S (the simplex's,
    // or S completed by independent columns): the exact data have a feasible
    // point β + Δ with X_BΔ_B = −r, ‖Δ‖₁ ≤ ‖X_B⁻¹‖₁‖r‖₁, and λ/(1 + δ) is dual
    // feasible, so min Σc|β| ∈ [yᵀλ/(1 + δ), Σc|β| + c_max‖Δ‖₁].
    let (basis, inv1) = match basis {
        Some((b, inv1)) => (Some(b), Some(inv1)),
        None => {
            let slack = |j: usize| -> f64 {
                let z: f64 = (0..n).map(|i| x64[(i, j)] * dual[i].to_f64()).sum();
                (w64[j] - z.abs()) / w64[j]
            };
            match starting_basis(x64.as_slice(), n, d, &support, &slack) {
                Ok(b) => {
                    let inv1 = inverse_norm1(&data.x, &b);
                    (Some(b), inv1)
                }
                Err(_) => (None, None),
            }
        }
    };
    let inverse_condition = match (&basis, inv1) {
        (Some(b), Some(inv1)) => {
            let norm1 = b
                .iter()
                .map(|&j| (0..n).map(|i| x64[(i, j)].abs()).sum::<f64>())
                .fold(0.0, f64::max);
            1.0 / (norm1 * inv1)
        }
        _ => f64::NAN,
    };
    let theta_f = norm_theta.to_f64();
    let obj = objective.to_f64();
    let norm_error_bound = match inv1 {
        Some(inv1) if certificate_ok => {
            let c_max = w64.iter().fold(0.0f64, |m, &v| m.max(v));
            let delta_beta = 2.0 * inv1 * chosen.residual.bound_l1;
            let rounding = gamma(2 * d + 2, eps) * theta_f;
            match objective_kind {
                Objective::Norm => {
                    let y_dot: f64 = {
                        let mut s = R::zero(ctx);
                        for (a, b) in data.y.iter().zip(&dual) {
                            s.add_mul(a, b);
                        }
                        s.to_f64()
                    };
                    let y_abs: f64 = data
                        .y
                        .iter()
                        .zip(&dual)
                        .map(|(a, b)| a.to_f64().abs() * b.to_f64().abs())
                        .sum();
                    let lower =
                        (y_dot - gamma(n, eps) * y_abs) / (1.0 + chosen.dual_check.dual_scale);
                    let upper_gap = c_max * delta_beta + gamma(d, eps) * obj;
                    let e_obj = (obj - lower).max(upper_gap).max(0.0);
                    2.0 * e_obj / theta_f + rounding
                }
                Objective::Weighted => {
                    if chosen.dual_check.margin > tolerance(n, eps) {
                        2.0 * delta_beta / theta_f + rounding
                    } else {
                        f64::INFINITY
                    }
                }
            }
        }
        _ => f64::INFINITY,
    };
    Ok(Interpolant {
        norm: norm_theta,
        theta,
        beta,
        objective,
        residual_norm: chosen.residual_norm,
        dual,
        support,
        certificate_ok,
        support_violation: chosen.dual_check.support_violation,
        complementarity_margin: chosen.dual_check.margin,
        certificate_failure,
        backward_error: chosen.residual.backward_error,
        norm_error_bound,
        lp_support,
        simplex_pivots: pivots,
        inverse_condition,
    })
}

/// The polish of the f64 LP solution on its support: β_S from the normal
/// equations X_SᵀX_S β_S = X_Sᵀy (refined twice), λ the LP dual moved
/// minimally onto {X_Sᵀλ = c_S sign β_S^{LP}} (twice). `None` if X_S is
/// singular in the working precision.
fn polish<R: Real>(
    data: &Dataset<R>,
    weights: &[R],
    lp: &super::basis_pursuit::BasisPursuit,
) -> Option<(Vec<R>, Vec<R>)> {
    let ctx = data.ctx();
    let (n, d) = (data.n(), data.d());
    let support = &lp.support;
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
        let normal = Cholesky::new(xst.gram_rows()).ok()?;
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
    // A sign that differs from the LP's makes the dual target wrong: report
    // it through the support condition (β_j keeps its own sign there), but a
    // β_j that vanished is a different support.
    if support.iter().any(|&j| beta[j].is_zero()) {
        return None;
    }
    Some((beta, dual))
}
