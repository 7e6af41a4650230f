//! Weak-order sweep without Monte Carlo (claim C5, figure F6).
//!
//! For η = 2^−j, j = `eta_exponent_min..=eta_exponent_max`, K = T/η steps:
//! δ(η) = E_SGD‖θ_K‖² − E_model‖Θ_T‖² (signed), computed exactly from the
//! moment recursions of [`super::LinearMoments`] in f64 and in MPFR at each
//! requested precision. Orders p come from a least-squares fit of log₂|δ| on
//! log₂η over the smallest η's (and from successive ratios), the leading
//! coefficients C in δ ≈ C η^p by Richardson extrapolation of δ/η^p.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{LinearMoments, MomentsError};
use crate::data::{Dataset, GroundTruth, Spectrum, SyntheticConfig};
use crate::dynamics::sde::ContinuousModel;
use crate::field_error::FieldError;
use crate::scalar::{Mpfr, Real};
use crate::stats::fit_convergence_order;

/// Settings of the weak-order sweep. The default is the documented instance of
/// figure F6: synthetic data (seed 20240601, n = 6, d = 3, Λ = I, β* = (1, 1, 1),
/// target noise σ_ε = 0.1), B = 1, label noise σ = 0.5, T = 1, θ₀ = (0.5, −0.5, 0),
/// η = 2⁻² … 2⁻⁴⁰, MPFR at 256 and 512 bits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeakOrderConfig {
    /// Data (n may exceed d here: no interpolation is needed).
    pub data: SyntheticConfig,
    /// Deterministic initial point θ₀ (length d).
    pub theta0: Vec<f64>,
    /// Minibatch size B (indices with replacement).
    pub batch_size: usize,
    /// Label-noise standard deviation σ.
    pub label_noise_sigma: f64,
    /// Time horizon T (T · 2^j must be an integer number of steps).
    pub horizon: f64,
    /// Largest step size is 2^−min.
    pub eta_exponent_min: u32,
    /// Smallest step size is 2^−max.
    pub eta_exponent_max: u32,
    /// Number of smallest-η points in the least-squares order fit.
    pub fit_points: usize,
    /// Richardson levels for the leading coefficient (uses levels + 1 points).
    pub richardson_levels: usize,
    /// Largest exponent of the f64 reference fit (η = 2⁻² … 2⁻⁸, `proofs/moments.md` §5).
    pub reference_exponent_max: u32,
    /// MPFR precisions in bits (the last is the reference for f64 breakdown).
    pub precisions: Vec<u32>,
}

impl Default for WeakOrderConfig {
    fn default() -> Self {
        Self {
            data: SyntheticConfig {
                n: 6,
                d: 3,
                spectrum: Spectrum::Identity,
                ground_truth: GroundTruth::Sparse {
                    nonzeros: 3,
                    value: 1.0,
                },
                target_noise_sigma: 0.1,
                normalize_columns: false,
                seed: 20_240_601,
            },
            theta0: vec![0.5, -0.5, 0.0],
            batch_size: 1,
            label_noise_sigma: 0.5,
            horizon: 1.0,
            eta_exponent_min: 2,
            eta_exponent_max: 40,
            fit_points: 8,
            richardson_levels: 3,
            reference_exponent_max: 8,
            precisions: vec![256, 512],
        }
    }
}

impl WeakOrderConfig {
    /// The data set in f64.
    pub fn dataset(&self) -> Result<Dataset<f64>, MomentsError> {
        Ok(Dataset::synthetic(&self.data)?)
    }

    /// Step-size exponents j (η = 2^−j), largest η first.
    pub fn exponents(&self) -> Vec<u32> {
        (self.eta_exponent_min..=self.eta_exponent_max).collect()
    }

    /// Check every field.
    pub fn validate(&self) -> Result<(), MomentsError> {
        let bad = |field, value: String, reason: &str| {
            Err(MomentsError::InvalidField(FieldError::new(
                field, value, reason,
            )))
        };
        if self.theta0.len() != self.data.d {
            return bad(
                "theta0",
                format!("{:?}", self.theta0),
                "length must equal data.d",
            );
        }
        if self.eta_exponent_min > self.eta_exponent_max || self.eta_exponent_max > 60 {
            return bad(
                "eta_exponent_max",
                self.eta_exponent_max.to_string(),
                "need eta_exponent_min ≤ eta_exponent_max ≤ 60",
            );
        }
        FieldError::check_positive("horizon", self.horizon).map_err(MomentsError::InvalidField)?;
        for j in self.exponents() {
            let k = self.horizon * 2f64.powi(j as i32);
            if k.fract() != 0.0 {
                return bad(
                    "horizon",
                    self.horizon.to_string(),
                    "T / η must be an integer number of steps for every η = 2^-j",
                );
            }
        }
        let count = self.exponents().len();
        if self.fit_points < 3 || self.fit_points > count {
            return bad(
                "fit_points",
                self.fit_points.to_string(),
                "need 3 ≤ fit_points ≤ number of step sizes",
            );
        }
        if self.richardson_levels + 1 > count {
            return bad(
                "richardson_levels",
                self.richardson_levels.to_string(),
                "needs richardson_levels + 1 step sizes",
            );
        }
        if self.reference_exponent_max < self.eta_exponent_min + 2
            || self.reference_exponent_max > self.eta_exponent_max
        {
            return bad(
                "reference_exponent_max",
                self.reference_exponent_max.to_string(),
                "need eta_exponent_min + 2 ≤ reference_exponent_max ≤ eta_exponent_max",
            );
        }
        for &b in &self.precisions {
            crate::scalar::Precision::new(b).map_err(|e| {
                MomentsError::InvalidField(FieldError::new("precisions", b, e.to_string()))
            })?;
        }
        Ok(())
    }
}

/// Signed weak errors δ(η_j) = E_SGD‖θ_K‖² − E_model‖Θ_T‖² for each model, in
/// the scalar type `R` (context `ctx`), at the config's step sizes (largest η first).
pub fn weak_errors<R: Real>(
    cfg: &WeakOrderConfig,
    models: &[ContinuousModel],
    ctx: R::Ctx,
) -> Result<Vec<Vec<R>>, MomentsError> {
    cfg.validate()?;
    let data = cfg.dataset()?.convert::<R>(ctx);
    let lm = LinearMoments::new(&data, cfg.batch_size, cfg.label_noise_sigma)?;
    let theta0 = crate::scalar::vec_from_f64::<R>(&cfg.theta0, ctx);
    let z0 = lm.initial_state(&theta0)?;
    let mut out = vec![Vec::new(); models.len()];
    let mut gf_cache: Option<R> = None;
    for j in cfg.exponents() {
        let eta = 2f64.powi(-(j as i32));
        let steps = (cfg.horizon * 2f64.powi(j as i32)) as u64;
        let sgd = lm.second_moment_trace(&lm.sgd_moments(eta, steps, &z0));
        for (slot, &model) in out.iter_mut().zip(models) {
            // Gradient flow does not depend on η: solve once.
            let target = if model == ContinuousModel::GradientFlow {
                gf_cache
                    .get_or_insert_with(|| {
                        lm.second_moment_trace(&lm.model_moments(model, eta, cfg.horizon, &z0))
                    })
                    .clone()
            } else {
                lm.second_moment_trace(&lm.model_moments(model, eta, cfg.horizon, &z0))
            };
            let mut delta = sgd.clone();
            delta -= &target;
            slot.push(delta);
        }
    }
    Ok(out)
}

/// One error curve: |δ(η)| for a model in one scalar type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodCurve {
    /// The continuous model compared with SGD.
    pub method: ContinuousModel,
    /// "f64" or "mpfr".
    pub scalar: String,
    /// Working precision in bits.
    pub precision_bits: u32,
    /// δ(η) = E_SGD‖θ_K‖² − E_model‖Θ_T‖², rounded to f64 (largest η first).
    pub signed_errors: Vec<f64>,
    /// e(η) = |δ(η)|.
    pub errors: Vec<f64>,
}

/// Fitted weak order of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeakOrderFit {
    /// The model.
    pub method: ContinuousModel,
    /// "f64" or "mpfr".
    pub scalar: String,
    /// Working precision in bits.
    pub precision_bits: u32,
    /// Exponents j (η = 2^−j) used in the fit.
    pub exponents: Vec<u32>,
    /// Least-squares slope of log₂ e on log₂ η.
    pub order: f64,
    /// 95% confidence interval of the slope.
    pub order_ci: (f64, f64),
    /// Successive orders log₂(δ(2η)/δ(η)) over the fitted points.
    pub successive_orders: Vec<f64>,
    /// The theoretical order of the model.
    pub expected_order: u32,
}

/// Leading coefficient C of δ(η) ≈ C η^p.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadingCoefficient {
    /// The model.
    pub method: ContinuousModel,
    /// Working precision in bits.
    pub precision_bits: u32,
    /// The order p used (the model's theoretical order).
    pub order: u32,
    /// C rounded to f64.
    pub value: f64,
    /// C to 40 significant digits (as computed in MPFR).
    pub digits: String,
    /// |last − previous| Richardson level: an estimate of the truncation error.
    pub richardson_error: f64,
}

/// Number of agreeing significant digits of C between two precisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoefficientAgreement {
    /// The model.
    pub method: ContinuousModel,
    /// The two precisions compared.
    pub precision_bits: (u32, u32),
    /// −log₁₀(|C_a − C_b| / |C_b|) (capped at the smaller precision's digits).
    pub digits: f64,
}

/// Where f64 departs from MPFR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct F64Breakdown {
    /// The model.
    pub method: ContinuousModel,
    /// Largest η at which |e_f64 − e_mpfr| / e_mpfr > 10% (None: never).
    pub eta: Option<f64>,
    /// Its exponent j (η = 2^−j).
    pub exponent: Option<u32>,
    /// Smallest f64 error e_f64(η) over the sweep (the floor of the f64 curve).
    pub f64_error_floor: f64,
}

/// Wall-clock time of one scalar type's sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// "f64" or "mpfr".
    pub scalar: String,
    /// Precision in bits.
    pub precision_bits: u32,
    /// Seconds.
    pub seconds: f64,
}

/// Everything measured by [`run_weak_order`] (serializable, figure F6 + claim C5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeakOrderReport {
    /// The settings.
    pub config: WeakOrderConfig,
    /// Step sizes η (largest first).
    pub etas: Vec<f64>,
    /// Error curves: f64 then each MPFR precision, for GF, SME-1, SME-2.
    pub curves: Vec<MethodCurve>,
    /// Orders over the smallest `fit_points` η's for each MPFR precision, and
    /// the f64 reference fit over η = 2^−min … 2^−reference_exponent_max.
    pub fits: Vec<WeakOrderFit>,
    /// Leading coefficients for each MPFR precision.
    pub coefficients: Vec<LeadingCoefficient>,
    /// Agreement of C between the first and last precision.
    pub agreement: Vec<CoefficientAgreement>,
    /// Where f64 breaks down (compared with the last precision).
    pub f64_breakdown: Vec<F64Breakdown>,
    /// Run times.
    pub timings: Vec<Timing>,
}

impl WeakOrderReport {
    /// The curve of a model in a given precision (53 = f64).
    pub fn curve(&self, method: ContinuousModel, precision_bits: u32) -> Option<&MethodCurve> {
        self.curves
            .iter()
            .find(|c| c.method == method && c.precision_bits == precision_bits)
    }
    /// The MPFR order fit of a model at a precision.
    pub fn fit(&self, method: ContinuousModel, precision_bits: u32) -> Option<&WeakOrderFit> {
        self.fits.iter().find(|f| {
            f.method == method && f.precision_bits == precision_bits && f.scalar == "mpfr"
        })
    }
    /// The f64 reference fit of a model (large η).
    pub fn reference_fit(&self, method: ContinuousModel) -> Option<&WeakOrderFit> {
        self.fits
            .iter()
            .find(|f| f.method == method && f.scalar == "f64")
    }
}

/// log₂|v| in the working precision, rounded to f64.
fn log2_abs<R: Real>(v: &R) -> f64 {
    let mut a = v.abs();
    a.ln_mut();
    a.to_f64() / std::f64::consts::LN_2
}

/// Fit the order over the points with the given indices (into the sweep):
/// least squares of log₂|δ| on log₂η = −j with a 95% CI
/// ([`crate::stats::fit_convergence_order`]), and successive orders log₂(δ_{i−1}/δ_i)/(j_i − j_{i−1}).
///
/// # Examples
/// ```
/// use latedecay::dynamics::sde::ContinuousModel;
/// use latedecay::moments::weak_order::fit_weak_order;
/// let exps = [10u32, 11, 12, 13];
/// let deltas: Vec<f64> = exps.iter().map(|&j| 0.5 * 4f64.powi(-(j as i32))).collect();
/// let fit = fit_weak_order(ContinuousModel::Sme2, &exps, &deltas, 0..4).unwrap();
/// assert!((fit.order - 2.0).abs() < 1e-12);
/// ```
pub fn fit_weak_order<R: Real>(
    method: ContinuousModel,
    exponents: &[u32],
    deltas: &[R],
    indices: std::ops::Range<usize>,
) -> Result<WeakOrderFit, MomentsError> {
    let xs: Vec<f64> = indices.clone().map(|i| -(exponents[i] as f64)).collect();
    let ys: Vec<f64> = indices.clone().map(|i| log2_abs(&deltas[i])).collect();
    let fit = fit_convergence_order(&xs, &ys, 0.95)?;
    let successive_orders = indices
        .clone()
        .skip(1)
        .map(|i| {
            let mut ratio = deltas[i - 1].clone();
            ratio /= &deltas[i];
            log2_abs(&ratio) / (exponents[i] - exponents[i - 1]) as f64
        })
        .collect();
    let bits = deltas[0].precision_bits();
    Ok(WeakOrderFit {
        method,
        scalar: if R::ARBITRARY_PRECISION {
            "mpfr"
        } else {
            "f64"
        }
        .into(),
        precision_bits: bits,
        exponents: indices.map(|i| exponents[i]).collect(),
        order: fit.order,
        order_ci: fit.ci,
        successive_orders,
        expected_order: method.weak_order_vs_sgd(),
    })
}

/// Richardson extrapolation of c(η) = δ(η)/η^p = C + C₁η + C₂η² + … over the
/// last `levels + 1` points (consecutive η halve): level l combines
/// (2^l R_{l−1}(η/2) − R_{l−1}(η)) / (2^l − 1). Returns (C, |R_L − R_{L−1}|).
///
/// # Examples
/// ```
/// use latedecay::moments::weak_order::richardson_coefficient;
/// // δ(η) = 3η + 5η² − 7η³ (order 1): two levels remove the η and η² terms.
/// let exps = [4u32, 5, 6];
/// let deltas: Vec<f64> = exps
///     .iter()
///     .map(|&j| {
///         let e = 2f64.powi(-(j as i32));
///         3.0 * e + 5.0 * e * e - 7.0 * e * e * e
///     })
///     .collect();
/// let (c, _) = richardson_coefficient(&exps, &deltas, 1, 2);
/// assert!((c - 3.0).abs() < 1e-13);
/// ```
pub fn richardson_coefficient<R: Real>(
    exponents: &[u32],
    deltas: &[R],
    order: u32,
    levels: usize,
) -> (R, f64) {
    let len = deltas.len();
    let start = len - levels - 1;
    let ctx = deltas[0].ctx();
    // c_j = δ_j · 2^(p j)
    let mut table: Vec<R> = (start..len)
        .map(|i| {
            let mut c = deltas[i].clone();
            let mut scale = R::one(ctx);
            for _ in 0..(order * exponents[i]) {
                scale *= 2.0;
            }
            c *= &scale;
            c
        })
        .collect();
    let mut previous_best = table[table.len() - 1].clone();
    let mut tmp = R::zero(ctx);
    for l in 1..=levels {
        previous_best.assign(&table[table.len() - 1]);
        let factor = 2f64.powi(l as i32);
        for i in 0..table.len() - 1 {
            tmp.assign(&table[i + 1]);
            tmp *= factor;
            tmp -= &table[i];
            tmp /= factor - 1.0;
            table[i].assign(&tmp);
        }
        table.pop();
    }
    let best = table.pop().expect("levels + 1 points");
    let mut diff = best.clone();
    diff -= &previous_best;
    (best, diff.abs().to_f64())
}

struct Sweep<R> {
    bits: u32,
    deltas: Vec<Vec<R>>,
    seconds: f64,
}

fn sweep<R: Real>(cfg: &WeakOrderConfig, ctx: R::Ctx) -> Result<Sweep<R>, MomentsError> {
    let start = Instant::now();
    let deltas = weak_errors::<R>(cfg, &ContinuousModel::F6, ctx)?;
    Ok(Sweep {
        bits: R::ctx_bits(ctx),
        deltas,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn curves<R: Real>(s: &Sweep<R>) -> Vec<MethodCurve> {
    ContinuousModel::F6
        .iter()
        .zip(&s.deltas)
        .map(|(&method, d)| {
            let signed: Vec<f64> = d.iter().map(Real::to_f64).collect();
            MethodCurve {
                method,
                scalar: R::NAME.into(),
                precision_bits: s.bits,
                errors: signed.iter().map(|v| v.abs()).collect(),
                signed_errors: signed,
            }
        })
        .collect()
}

/// Run the full sweep: f64 and every MPFR precision, fits, coefficients,
/// agreement between precisions and the f64 breakdown.
pub fn run_weak_order(cfg: &WeakOrderConfig) -> Result<WeakOrderReport, MomentsError> {
    cfg.validate()?;
    if cfg.precisions.is_empty() {
        return Err(MomentsError::InvalidField(FieldError::new(
            "precisions",
            "[]",
            "need at least one MPFR precision",
        )));
    }
    let exponents = cfg.exponents();
    let etas: Vec<f64> = exponents.iter().map(|&j| 2f64.powi(-(j as i32))).collect();
    let count = exponents.len();
    let mut report = WeakOrderReport {
        config: cfg.clone(),
        etas,
        curves: Vec::new(),
        fits: Vec::new(),
        coefficients: Vec::new(),
        agreement: Vec::new(),
        f64_breakdown: Vec::new(),
        timings: Vec::new(),
    };

    let f = sweep::<f64>(cfg, ())?;
    report.curves.extend(curves(&f));
    report.timings.push(Timing {
        scalar: "f64".into(),
        precision_bits: 53,
        seconds: f.seconds,
    });
    let reference_len = (cfg.reference_exponent_max - cfg.eta_exponent_min + 1) as usize;
    for (&method, d) in ContinuousModel::F6.iter().zip(&f.deltas) {
        report
            .fits
            .push(fit_weak_order(method, &exponents, d, 0..reference_len)?);
    }

    let mut coefficient_values: Vec<Vec<Mpfr>> = Vec::new();
    let mut last: Option<Sweep<Mpfr>> = None;
    for &bits in &cfg.precisions {
        let s = sweep::<Mpfr>(cfg, bits)?;
        report.curves.extend(curves(&s));
        report.timings.push(Timing {
            scalar: "mpfr".into(),
            precision_bits: bits,
            seconds: s.seconds,
        });
        let mut values = Vec::new();
        for (&method, d) in ContinuousModel::F6.iter().zip(&s.deltas) {
            report.fits.push(fit_weak_order(
                method,
                &exponents,
                d,
                count - cfg.fit_points..count,
            )?);
            let (c, err) = richardson_coefficient(
                &exponents,
                d,
                method.weak_order_vs_sgd(),
                cfg.richardson_levels,
            );
            report.coefficients.push(LeadingCoefficient {
                method,
                precision_bits: bits,
                order: method.weak_order_vs_sgd(),
                value: c.to_f64(),
                digits: format!("{c:.39e}"),
                richardson_error: err,
            });
            values.push(c);
        }
        coefficient_values.push(values);
        last = Some(s);
    }

    if cfg.precisions.len() >= 2 {
        let (a, b) = (cfg.precisions[0], cfg.precisions[cfg.precisions.len() - 1]);
        let cap = a.min(b) as f64 * std::f64::consts::LOG10_2;
        for (k, &method) in ContinuousModel::F6.iter().enumerate() {
            let ca = &coefficient_values[0][k];
            let cb = &coefficient_values[coefficient_values.len() - 1][k];
            let mut diff = Mpfr::with_val(b, ca);
            diff -= cb;
            let rel = diff.abs().to_f64() / cb.to_f64().abs();
            let digits = if rel == 0.0 {
                cap
            } else {
                (-rel.log10()).min(cap)
            };
            report.agreement.push(CoefficientAgreement {
                method,
                precision_bits: (a, b),
                digits,
            });
        }
    }

    let reference = last.expect("at least one precision");
    for (k, &method) in ContinuousModel::F6.iter().enumerate() {
        let mut found = None;
        for i in 0..count {
            let mp = reference.deltas[k][i].to_f64();
            let dev = (f.deltas[k][i] - mp).abs() / mp.abs();
            if dev > 0.1 {
                found = Some(i);
                break;
            }
        }
        report.f64_breakdown.push(F64Breakdown {
            method,
            eta: found.map(|i| report.etas[i]),
            exponent: found.map(|i| exponents[i]),
            f64_error_floor: f.deltas[k]
                .iter()
                .map(|v| v.abs())
                .fold(f64::INFINITY, f64::min),
        });
    }
    Ok(report)
}

/// The columns behind figure F6: `eta`, then `err_gf, err_sme1, err_sme2`
/// (MPFR at the last precision of the report) and `err_gf_f64, err_sme1_f64,
/// err_sme2_f64`; errors are e(η) = |E_SGD‖θ_K‖² − E_model‖Θ_T‖²|.
#[allow(clippy::type_complexity)]
pub fn f6_columns(
    report: &WeakOrderReport,
) -> Result<(Vec<f64>, Vec<(String, Vec<f64>)>), MomentsError> {
    let bits = *report.config.precisions.last().ok_or_else(|| {
        MomentsError::InvalidField(FieldError::new(
            "precisions",
            "[]",
            "the report has no MPFR curve",
        ))
    })?;
    let names = [
        "err_gf",
        "err_sme1",
        "err_sme2",
        "err_gf_f64",
        "err_sme1_f64",
        "err_sme2_f64",
    ];
    let mut columns = Vec::with_capacity(names.len());
    for precision in [bits, 53] {
        for method in ContinuousModel::F6 {
            let curve = report.curve(method, precision).ok_or_else(|| {
                MomentsError::InvalidField(FieldError::new(
                    "curves",
                    format!("{method} at {precision} bits"),
                    "missing from the report",
                ))
            })?;
            columns.push((names[columns.len()].to_string(), curve.errors.clone()));
        }
    }
    Ok((report.etas.clone(), columns))
}

/// Write the CSV behind figure F6 (the columns of [`f6_columns`]).
pub fn write_f6_csv(report: &WeakOrderReport, path: impl AsRef<Path>) -> Result<(), MomentsError> {
    let (eta, columns) = f6_columns(report)?;
    let mut headers = vec!["eta"];
    headers.extend(columns.iter().map(|(n, _)| n.as_str()));
    let mut values = vec![eta];
    values.extend(columns.iter().map(|(_, c)| c.clone()));
    crate::io::write_columns(path, &headers, &values)?;
    Ok(())
}
