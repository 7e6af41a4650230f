//! Gradient flow dθ/dt = −∇L(θ) to convergence, its limit map Φ (Φ(θ) = the
//! point of Γ that gradient flow from θ converges to), and the general
//! Li–Wang–Arora slow-flow drift ½ ∂²Φ(θ)[Σ(θ)] by finite differences.
//!
//! The integrator is Gragg–Bulirsch–Stoer (modified midpoint rule with
//! polynomial extrapolation in h²), generic over [`Real`]: all its
//! coefficients are exact rationals, so its order (2k with k extrapolation
//! levels) is available at any precision — in 256-bit MPFR it reaches the
//! 1e-70 accuracy needed to take second differences of Φ with step 1e-20. A
//! fixed-coefficient method given by f64 decimals (e.g. Dop853's tableau) would
//! be wrong at the 1e-16 level in MPFR.
//!
//! Derivation of ∂²Φ\[Σ\] = −(σ²/(2B)) P∇trG for label noise on Γ and of the
//! finite-difference error (O(h²) truncation, O(ε/h²) roundoff):
//! `proofs/slow_flow.md` §3.

use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;
use crate::linalg::norm;
use crate::model::{Model, Problem};
use crate::scalar::Real;

/// Settings of the gradient-flow solve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientFlowSettings {
    /// Initial macro step in t (adapted: halved when extrapolation does not
    /// converge, enlarged when it converges early).
    pub initial_step: f64,
    /// Largest macro step.
    pub max_step: f64,
    /// Largest number of extrapolation levels (order 2·levels).
    pub max_levels: usize,
    /// Stop when ‖∇L(θ)‖ ≤ `grad_tol`.
    pub grad_tol: f64,
    /// Relative tolerance of one extrapolated step (defaults to a few ulps).
    pub step_tol: f64,
    /// Give up after this much flow time.
    pub max_time: f64,
    /// When ‖∇L‖ ≤ this (> `grad_tol`), finish with gradient descent at step
    /// 1/λ_max(G) instead of the extrapolated flow (0: never). In f64 the
    /// extrapolated steps can stall at ‖∇L‖ ≈ 1e-9 on larger problems (their
    /// acceptance test sits at the rounding level); so close to Γ the
    /// descent's limit differs from the flow's by O(‖∇L‖²), far below the
    /// tolerance.
    #[serde(default)]
    pub polish_below: f64,
}

impl GradientFlowSettings {
    /// Defaults for a scalar context: `grad_tol` = `step_tol` = 1e3 ε of that
    /// precision (the modified midpoint rule accumulates O(n ε) roundoff over
    /// its n substeps, so a few ε is not reachable).
    ///
    /// # Examples
    /// ```
    /// use latedecay::dynamics::gradient_flow::GradientFlowSettings;
    /// let s = GradientFlowSettings::for_precision::<f64>(());
    /// assert!(s.grad_tol < 1e-12 && s.grad_tol > 1e-14);
    /// ```
    pub fn for_precision<R: Real>(ctx: R::Ctx) -> Self {
        let eps = R::epsilon(ctx);
        Self {
            initial_step: 0.1,
            max_step: 1.0,
            max_levels: if R::ctx_bits(ctx) > 53 { 16 } else { 8 },
            grad_tol: 1e3 * eps,
            step_tol: 1e3 * eps,
            max_time: 1e5,
            polish_below: 0.0,
        }
    }
}

/// Errors of the gradient-flow solve.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GradientFlowError {
    /// Did not converge.
    #[error("gradient flow did not converge by t = {time}: ‖∇L‖ = {grad_norm:e} > grad_tol = {grad_tol:e}")]
    NotConverged {
        /// Time reached.
        time: f64,
        /// Gradient norm reached.
        grad_norm: f64,
        /// Target.
        grad_tol: f64,
    },
    /// The macro step underflowed.
    #[error("gradient flow step size underflow at t = {time} (step {step:e})")]
    StepUnderflow {
        /// Time reached.
        time: f64,
        /// Step.
        step: f64,
    },
    /// A setting is invalid.
    #[error("invalid gradient-flow setting: {0}")]
    InvalidField(FieldError),
}

/// The limit of gradient flow.
#[derive(Debug, Clone)]
pub struct GradientFlowLimit<R> {
    /// Φ(θ₀), the limit point.
    pub theta: Vec<R>,
    /// Flow time used.
    pub time: f64,
    /// ‖∇L‖ at the end.
    pub grad_norm: f64,
    /// Accepted macro steps.
    pub steps: usize,
    /// Gradient evaluations.
    pub evaluations: usize,
}

/// One Gragg–Bulirsch–Stoer macro step of size `big_h` for dy/dt = v(y)
/// from `y` (with `v0` = v(y)): modified midpoint rule with n = 2, 4, 6, …
/// substeps and Aitken–Neville extrapolation in h² with exact rational
/// weights. Returns the extrapolated value and the level used, or `None` if
/// successive diagonal entries did not agree to `step_tol`·(1 + ‖y‖) within
/// `max_levels` levels. Generic over [`Real`]: the order is 2·(level + 1) at
/// any precision.
pub fn gbs_step<R: Real, E>(
    field: &mut impl FnMut(&[R]) -> Result<Vec<R>, E>,
    y: &[R],
    v0: &[R],
    big_h: &R,
    max_levels: usize,
    step_tol: f64,
    evaluations: &mut usize,
) -> Result<Option<(Vec<R>, usize)>, E> {
    let ctx = y[0].ctx();
    let dim = y.len();
    let mut prev_row: Vec<Vec<R>> = Vec::new();
    let mut tmp = R::zero(ctx);
    let scale = 1.0 + norm(y).to_f64();
    for level in 0..max_levels {
        let substeps = 2 * (level + 1);
        // h = H/n in the working precision (an f64 quotient would make the
        // levels integrate over slightly different intervals: a 1e-17 floor).
        let mut h = big_h.clone();
        h /= substeps as f64;
        let mut two_h = h.clone();
        two_h *= 2.0;
        // modified midpoint: z0 = y, z1 = z0 + h f(z0), z_{m+1} = z_{m-1} + 2h f(z_m)
        let mut z_prev = y.to_vec();
        let mut z = y.to_vec();
        for (zi, fi) in z.iter_mut().zip(v0) {
            zi.add_mul(fi, &h);
        }
        for _ in 1..substeps {
            let g = field(&z)?;
            *evaluations += 1;
            for ((zp, zi), gi) in z_prev.iter_mut().zip(z.iter_mut()).zip(&g) {
                // new = z_prev + 2h v(z); then shift
                tmp.assign(zp);
                tmp.add_mul(gi, &two_h);
                zp.assign(zi);
                zi.assign(&tmp);
            }
        }
        // Gragg smoothing: ½ (z_n + z_{n−1} + h f(z_n))
        let g = field(&z)?;
        *evaluations += 1;
        let mut t = z;
        for ((ti, zp), gi) in t.iter_mut().zip(&z_prev).zip(&g) {
            *ti += zp;
            ti.add_mul(gi, &h);
            *ti *= 0.5;
        }
        // Aitken–Neville in h²: row `level`
        let mut row: Vec<Vec<R>> = vec![t];
        for k in 1..=level {
            // 1/((n_j/n_{j−k})² − 1) = n_{j−k}²/(n_j² − n_{j−k}²), exact integers
            let num = (substeps * substeps) as f64;
            let den = (2 * (level - k + 1)).pow(2) as f64;
            let prev_same = &row[k - 1];
            let prev_above = &prev_row[k - 1];
            let mut next = prev_same.clone();
            for i in 0..dim {
                tmp.assign(&prev_same[i]);
                tmp -= &prev_above[i];
                tmp *= den;
                tmp /= num - den;
                next[i] += &tmp;
            }
            row.push(next);
        }
        if level >= 1 {
            let a = &row[level];
            let b = &row[level - 1];
            let mut err = 0.0f64;
            for i in 0..dim {
                tmp.assign(&a[i]);
                tmp -= &b[i];
                err = err.max(tmp.to_f64().abs());
            }
            if err <= step_tol * scale {
                let best = row.pop().expect("row is non-empty");
                return Ok(Some((best, level)));
            }
        }
        prev_row = row;
    }
    Ok(None)
}

/// Run gradient flow dθ/dt = −∇L(θ) from `theta0` until ‖∇L‖ ≤ `grad_tol`
/// (adaptive GBS, generic precision) and return the limit Φ(θ₀).
///
/// # Examples
/// ```
/// use latedecay::data::{Dataset, SyntheticConfig};
/// use latedecay::dynamics::gradient_flow::{gradient_flow_limit, GradientFlowSettings};
/// use latedecay::model::{Linear, Problem};
/// let data = Dataset::synthetic(&SyntheticConfig { n: 2, d: 4, ..Default::default() }).unwrap();
/// let problem = Problem::new(Linear::new(4), data);
/// let s = GradientFlowSettings::for_precision::<f64>(());
/// let lim = gradient_flow_limit(&problem, &[0.0; 4], &s).unwrap();
/// assert!(problem.residual_norm(&lim.theta) < 1e-10);
/// ```
pub fn gradient_flow_limit<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta0: &[R],
    settings: &GradientFlowSettings,
) -> Result<GradientFlowLimit<R>, GradientFlowError> {
    for (field, v) in [
        ("initial_step", settings.initial_step),
        ("max_step", settings.max_step),
        ("grad_tol", settings.grad_tol),
        ("step_tol", settings.step_tol),
        ("max_time", settings.max_time),
    ] {
        FieldError::check_positive(field, v).map_err(GradientFlowError::InvalidField)?;
    }
    if settings.max_levels < 2 {
        return Err(GradientFlowError::InvalidField(FieldError::new(
            "max_levels",
            settings.max_levels,
            "must be ≥ 2",
        )));
    }
    let mut theta = theta0.to_vec();
    let mut time = 0.0;
    let mut big_h = settings.initial_step.min(settings.max_step);
    let mut steps = 0;
    let mut evaluations = 0;
    loop {
        let g = problem.gradient(&theta);
        evaluations += 1;
        let grad_norm = norm(&g).to_f64();
        if grad_norm > settings.grad_tol && grad_norm <= settings.polish_below {
            return polish(problem, theta, time, steps, evaluations, settings);
        }
        if grad_norm <= settings.grad_tol {
            return Ok(GradientFlowLimit {
                theta,
                time,
                grad_norm,
                steps,
                evaluations,
            });
        }
        if time > settings.max_time || !grad_norm.is_finite() {
            return Err(GradientFlowError::NotConverged {
                time,
                grad_norm,
                grad_tol: settings.grad_tol,
            });
        }
        let mut field = |z: &[R]| -> Result<Vec<R>, std::convert::Infallible> {
            let mut v = problem.gradient(z);
            for x in v.iter_mut() {
                x.neg_mut();
            }
            Ok(v)
        };
        let mut v0 = g;
        for x in v0.iter_mut() {
            x.neg_mut();
        }
        let outcome = match gbs_step(
            &mut field,
            &theta,
            &v0,
            &R::from_f64(big_h, problem.ctx()),
            settings.max_levels,
            settings.step_tol,
            &mut evaluations,
        ) {
            Ok(o) => o,
            Err(never) => match never {},
        };
        match outcome {
            Some((next, level)) => {
                theta = next;
                time += big_h;
                steps += 1;
                if level + 3 < settings.max_levels {
                    big_h = (big_h * 1.5).min(settings.max_step);
                }
            }
            None => {
                big_h *= 0.5;
                if big_h < 1e-12 {
                    return Err(GradientFlowError::StepUnderflow { time, step: big_h });
                }
            }
        }
    }
}

/// Gradient descent at step 1/λ_max(G(θ)) from θ until ‖∇L‖ ≤ `grad_tol`
/// (see [`GradientFlowSettings::polish_below`]); counts as steps of the flow.
fn polish<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    mut theta: Vec<R>,
    time: f64,
    steps: usize,
    mut evaluations: usize,
    settings: &GradientFlowSettings,
) -> Result<GradientFlowLimit<R>, GradientFlowError> {
    let red =
        crate::dynamics::stability::ReducedGradients::from_jacobian(&problem.jacobian(&theta));
    let lr = 1.0 / red.lambda_max();
    let step = R::from_f64(lr, problem.ctx());
    let mut extra = 0usize;
    loop {
        let g = problem.gradient(&theta);
        evaluations += 1;
        let grad_norm = norm(&g).to_f64();
        let t = time + lr * extra as f64;
        if grad_norm <= settings.grad_tol {
            return Ok(GradientFlowLimit {
                theta,
                time: t,
                grad_norm,
                steps: steps + extra,
                evaluations,
            });
        }
        if t > settings.max_time || !grad_norm.is_finite() {
            return Err(GradientFlowError::NotConverged {
                time: t,
                grad_norm,
                grad_tol: settings.grad_tol,
            });
        }
        for (x, gi) in theta.iter_mut().zip(&g) {
            x.sub_mul(gi, &step);
        }
        extra += 1;
    }
}

/// Second directional derivative ∂²Φ(θ)[a, a] by the central second
/// difference (Φ(θ+ha) − 2Φ(θ) + Φ(θ−ha))/h². For θ on Γ, Φ(θ) = θ is used
/// only if `theta_on_gamma` (otherwise Φ(θ) is solved for too).
pub fn second_derivative_of_limit<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    direction: &[R],
    h: f64,
    settings: &GradientFlowSettings,
    theta_on_gamma: bool,
) -> Result<Vec<R>, GradientFlowError> {
    let ctx = problem.ctx();
    let mut step = R::from_f64(h, ctx);
    let shifted = |sign: f64, step: &mut R| {
        step.set_f64(h * sign);
        theta
            .iter()
            .zip(direction)
            .map(|(t, a)| {
                let mut v = t.clone();
                v.add_mul(a, step);
                v
            })
            .collect::<Vec<R>>()
    };
    let plus = gradient_flow_limit(problem, &shifted(1.0, &mut step), settings)?.theta;
    let minus = gradient_flow_limit(problem, &shifted(-1.0, &mut step), settings)?.theta;
    let center = if theta_on_gamma {
        theta.to_vec()
    } else {
        gradient_flow_limit(problem, theta, settings)?.theta
    };
    let mut out = plus;
    for ((o, m), c) in out.iter_mut().zip(&minus).zip(&center) {
        *o += m;
        o.sub_mul(c, &R::from_f64(2.0, ctx));
        *o /= h;
        *o /= h;
    }
    Ok(out)
}

/// The general (Li–Wang–Arora) slow-flow drift ½ ∂²Φ(θ)\[Σ\] at θ on Γ for a
/// noise covariance given by factors, Σ = Σ_k a_k a_kᵀ: ½ Σ_k ∂²Φ(θ)[a_k, a_k],
/// each by a central second difference with step h. The drift of every noise
/// model (label noise, isotropic) goes through here.
pub fn lwa_drift<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    factors: impl IntoIterator<Item = Vec<R>>,
    h: f64,
    settings: &GradientFlowSettings,
) -> Result<Vec<R>, GradientFlowError> {
    use rayon::prelude::*;
    let ctx = problem.ctx();
    // The second differences are independent solves: run them in parallel,
    // then add them (and report the first error) in factor order, the same
    // whatever the thread count.
    let factors: Vec<Vec<R>> = factors.into_iter().collect();
    let d2s: Vec<Result<Vec<R>, GradientFlowError>> = factors
        .par_iter()
        .map(|a| second_derivative_of_limit(problem, theta, a, h, settings, true))
        .collect();
    let mut total = vec![R::zero(ctx); theta.len()];
    for d2 in d2s {
        for (t, v) in total.iter_mut().zip(&d2?) {
            *t += v;
        }
    }
    for t in total.iter_mut() {
        *t *= 0.5;
    }
    Ok(total)
}

/// [`lwa_drift`] for label noise: Σ = (σ²/B) G = Σ_i a_i a_iᵀ with
/// a_i = σ∇f_i/√(nB).
pub fn lwa_label_noise_drift<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    sigma: f64,
    batch_size: usize,
    h: f64,
    settings: &GradientFlowSettings,
) -> Result<Vec<R>, GradientFlowError> {
    let ctx = problem.ctx();
    let jac = problem.jacobian(theta);
    // factor scale σ/√(nB), applied in the working precision
    let mut scale = R::from_f64((problem.n() * batch_size) as f64, ctx);
    scale.sqrt_mut();
    scale.recip_mut();
    scale *= sigma;
    let factors = (0..problem.n()).map(|i| {
        jac.row(i)
            .iter()
            .map(|v| {
                let mut x = v.clone();
                x *= &scale;
                x
            })
            .collect::<Vec<R>>()
    });
    lwa_drift(problem, theta, factors, h, settings)
}

/// [`lwa_drift`] for isotropic parameter noise θ ← θ − ηg + ηsζ: Σ = s²I,
/// a_k = s·e_k for k = 1 … D.
pub fn lwa_isotropic_drift<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    scale: f64,
    h: f64,
    settings: &GradientFlowSettings,
) -> Result<Vec<R>, GradientFlowError> {
    let ctx = problem.ctx();
    let dim = theta.len();
    let factors = (0..dim).map(|k| {
        let mut a = vec![R::zero(ctx); dim];
        a[k] = R::from_f64(scale, ctx);
        a
    });
    lwa_drift(problem, theta, factors, h, settings)
}
