//! C12: the *shape* of the noise matters — isotropic parameter noise of
//! matched strength does not carry the iterate to θ_mn, label noise does
//! (paired over seeds; part 1), and the general slow flow ½∂²Φ\[s²I\]
//! predicts the mean isotropic drift along Γ (part 2). Both pre-registered
//! in `proofs/claims.md` ("C12") before they were run; a row of `verify`.

use serde::{Deserialize, Serialize};

use super::{fmt_evidence, ClaimError, ClaimOutcome, VerifyContext, FAMILY_ALPHA};
use crate::dynamics::sgd::{NoiseModel, RecordPlan, Sgd, StopReason};
use crate::experiment::{run_units, BranchRun, DecayGrid, Experiment, Prepared, UnitPlan};
use crate::stats::{mean, median, wilcoxon_signed_rank, Alternative};

/// C12 criterion: mean relative distance of label noise at K below this.
pub const C12_LABEL_BOUND: f64 = 0.05;
/// C12 criterion: median relative distance of isotropic noise at K at least this.
pub const C12_ISOTROPIC_MIN: f64 = 0.5;
/// C12: one-sided paired Wilcoxon level.
pub const C12_ALPHA: f64 = 0.05;

/// Final state of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShapeRun {
    /// Seed.
    pub seed: u64,
    /// Relative distance to θ_mn at K (∞ if diverged).
    pub rel_dist: f64,
    /// ‖θ_K‖ (NaN if diverged).
    pub norm: f64,
    /// Training loss at K.
    pub train_loss: f64,
}

/// The C12 study and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseShapeStudy {
    /// η (constant), σ, K.
    pub lr: f64,
    /// σ of label noise and of the matched isotropic noise.
    pub sigma: f64,
    /// Steps.
    pub steps: u64,
    /// The isotropic scale s at θ₀.
    pub isotropic_scale: f64,
    /// Label-noise runs (by seed).
    pub label: Vec<ShapeRun>,
    /// Isotropic runs (same seeds).
    pub isotropic: Vec<ShapeRun>,
    /// One-sided exact Wilcoxon p (isotropic farther than label, paired).
    pub wilcoxon_p: f64,
    /// Mean relative distance of label noise.
    pub label_mean_rel_dist: f64,
    /// Median relative distance of isotropic noise.
    pub isotropic_median_rel_dist: f64,
    /// Whether every pre-registered criterion holds.
    pub pass: bool,
}

fn runs(
    exp: &Experiment,
    prepared: &Prepared<f64>,
    method: &Sgd,
    lr: f64,
    seeds: &[u64],
    steps: u64,
) -> Result<Vec<ShapeRun>, ClaimError> {
    let grid = DecayGrid::constant_lr(steps);
    let units = UnitPlan::constant_lr(&[lr], seeds);
    let mn = prepared.minnorm.norm;
    run_units(
        prepared,
        &exp.config().init,
        method,
        &grid,
        &units,
        RecordPlan::FinalOnly,
        (),
        &|_| {},
        |unit, mut b: Vec<BranchRun<f64>>| -> Result<ShapeRun, ClaimError> {
            let b = b.remove(0);
            let last = b.records.last().cloned();
            Ok(match (b.stop, last) {
                (StopReason::Completed, Some(r)) => ShapeRun {
                    seed: unit.seed,
                    rel_dist: r.dist_minnorm / mn,
                    norm: r.norm,
                    train_loss: r.train_loss,
                },
                _ => ShapeRun {
                    seed: unit.seed,
                    rel_dist: f64::INFINITY,
                    norm: f64::NAN,
                    train_loss: f64::NAN,
                },
            })
        },
    )
}

/// Run label noise σ and isotropic noise matched to σ (s² = σ² tr G(θ₀)/(BD))
/// at constant η for `steps` steps on the same seeds, and decide C12.
pub fn run_noise_shape_study(
    exp: &Experiment,
    lr: f64,
    sigma: f64,
    seeds: &[u64],
    steps: u64,
) -> Result<NoiseShapeStudy, ClaimError> {
    let cfg = exp.config();
    let prepared = Prepared::<f64>::new(exp, ())?;
    let label = Sgd {
        label_noise_sigma: sigma,
        noise: NoiseModel::Label,
        ..cfg.sgd.clone()
    };
    let iso = Sgd {
        label_noise_sigma: 0.0,
        noise: NoiseModel::Isotropic {
            scale: None,
            matched_sigma: Some(sigma),
        },
        ..cfg.sgd.clone()
    };
    let theta0 = crate::experiment::run::initial_theta::<f64>(
        &cfg.init,
        prepared.problem.dim(),
        seeds[0],
        (),
    );
    let s = match &prepared.problem {
        crate::experiment::run::AnyProblem::Diagonal(p) => iso.isotropic_scale(p, &theta0),
        crate::experiment::run::AnyProblem::Linear(p) => iso.isotropic_scale(p, &theta0),
        crate::experiment::run::AnyProblem::Mlp(p) => iso.isotropic_scale(p, &theta0),
    }
    .unwrap_or(f64::NAN);
    let l = runs(exp, &prepared, &label, lr, seeds, steps)?;
    let i = runs(exp, &prepared, &iso, lr, seeds, steps)?;
    // diverged runs (∞) enter the signed ranks as the largest differences
    let big = 1e300;
    let li: Vec<f64> = l.iter().map(|r| r.rel_dist.min(big)).collect();
    let ii: Vec<f64> = i.iter().map(|r| r.rel_dist.min(big)).collect();
    let w = wilcoxon_signed_rank(&ii, &li, Alternative::Greater)?;
    let label_mean = mean(&li)?;
    let iso_median = median(&ii)?;
    let pass = w.p_value <= C12_ALPHA
        && super::lt(label_mean, C12_LABEL_BOUND)
        && super::le(C12_ISOTROPIC_MIN, iso_median);
    Ok(NoiseShapeStudy {
        lr,
        sigma,
        steps,
        isotropic_scale: s,
        label: l,
        isotropic: i,
        wilcoxon_p: w.p_value,
        label_mean_rel_dist: label_mean,
        isotropic_median_rel_dist: iso_median,
        pass,
    })
}

/// C12 part 2 criterion: cosine between the Monte Carlo mean displacement and
/// the predicted drift at least this.
pub const C12_DRIFT_COSINE_MIN: f64 = 0.9;
/// C12 part 2 criterion: ⟨m̂, p⟩/‖p‖² within [1/this, this].
pub const C12_DRIFT_RATIO_MAX: f64 = 1.25;

/// C12 part 2: does the general slow flow ½∂²Φ\[Σ\], Σ = s²I, predict the
/// mean displacement along Γ of isotropic-noise SGD started on Γ?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftCheck {
    /// Constant η.
    pub lr: f64,
    /// Isotropic scale s.
    pub scale: f64,
    /// Horizon τ = η²K.
    pub tau: f64,
    /// K.
    pub steps: u64,
    /// Replicas (seeds `first_seed …`).
    pub replicas: usize,
    /// Replicas that diverged or whose end point could not be mapped to Γ.
    pub failed: usize,
    /// ‖ζ₀‖ of the starting point ζ₀ on Γ (Gauss–Newton projection of θ₀).
    pub start_norm: f64,
    /// Prediction p = τ·½∂²Φ(ζ₀)\[s²I\].
    pub predicted: Vec<f64>,
    /// Monte Carlo mean m̂ of Φ(θ_K) − ζ₀.
    pub mean_displacement: Vec<f64>,
    /// Standard error of m̂ as a vector norm, √(Σ_k var_k / R).
    pub standard_error: f64,
    /// cos ∠(m̂, p).
    pub cosine: f64,
    /// ⟨m̂, p⟩/‖p‖².
    pub ratio: f64,
    /// Norm of the isotropic part of p that is normal to Γ at ζ₀, relative
    /// to ‖p‖ (∂²Φ\[Σ\] of a tangent-tangent Σ has a normal part).
    pub normal_fraction: f64,
    /// cos∠ and ⟨·,·⟩/‖·‖² of m̂ against p restricted to the tangent space
    /// of Γ at ζ₀ (where the failure sits, if any).
    pub tangent_cosine: f64,
    /// Tangent ratio.
    pub tangent_ratio: f64,
    /// The same in the normal space.
    pub normal_cosine: f64,
    /// Normal ratio.
    pub normal_ratio: f64,
    /// Label-noise drift at ζ₀ for comparison: cos ∠(p, closed form).
    pub cosine_with_label_noise: f64,
    /// d‖ζ‖²/dτ predicted by the drift, 2⟨ζ₀, p⟩/τ.
    pub predicted_norm_sq_rate: f64,
    /// Whether both part-2 criteria hold.
    pub pass: bool,
}

/// Run C12 part 2 on the diagonal network of `exp`: ζ₀ = the Gauss–Newton
/// projection of the first seed's θ₀ onto Γ, R replicas of isotropic SGD (scale s,
/// constant η, K = round(τ/η²) steps) from ζ₀, each end point mapped to Γ
/// by Φ, and the mean displacement compared with τ·½∂²Φ(ζ₀)\[s²I\]
/// (finite-difference step `h`).
pub fn run_isotropic_drift_check(
    exp: &Experiment,
    lr: f64,
    scale: f64,
    tau: f64,
    replicas: usize,
    first_seed: u64,
    h: f64,
) -> Result<DriftCheck, ClaimError> {
    run_drift_check(
        exp,
        DriftNoise::Isotropic,
        lr,
        scale,
        tau,
        replicas,
        first_seed,
        h,
    )
}

/// Which noise [`run_drift_check`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftNoise {
    /// θ ← θ − ηg + ηsζ; prediction ½∂²Φ\[s²I\] by second differences.
    Isotropic,
    /// Label noise σ = s; prediction the closed form −(σ²/4B)P∇tr G (C7):
    /// the positive control of the Monte Carlo pipeline (no tangent diffusion).
    Label,
}

/// [`run_isotropic_drift_check`] for either noise (see [`DriftNoise`]).
#[allow(clippy::too_many_arguments)]
pub fn run_drift_check(
    exp: &Experiment,
    noise: DriftNoise,
    lr: f64,
    scale: f64,
    tau: f64,
    replicas: usize,
    first_seed: u64,
    h: f64,
) -> Result<DriftCheck, ClaimError> {
    use crate::dynamics::flow::{label_noise_drift, FlowSettings};
    use crate::dynamics::gradient_flow::{
        gradient_flow_limit, lwa_isotropic_drift, GradientFlowSettings,
    };
    use crate::dynamics::sgd::run_sgd_to_end;
    use crate::experiment::run::AnyProblem;
    use crate::schedule::Schedule;
    use rayon::prelude::*;
    let cfg = exp.config();
    let prepared = Prepared::<f64>::new(exp, ())?;
    let AnyProblem::Diagonal(problem) = &prepared.problem else {
        return Err(ClaimError::NotApplicable(format!(
            "C12 part 2 needs the diagonal network (model = {})",
            cfg.model
        )));
    };
    // Φ by the extrapolated flow, finished by descent below ‖∇L‖ = 1e-8 (the
    // f64 flow alone stalls near 1e-9 on this instance).
    let mut gf = GradientFlowSettings::for_precision::<f64>(());
    gf.polish_below = 1e-8;
    let shared = |e: crate::dynamics::gradient_flow::GradientFlowError| {
        ClaimError::Shared(format!("C12 part 2: {e}"))
    };
    let theta0 =
        crate::experiment::run::initial_theta::<f64>(&cfg.init, problem.dim(), first_seed, ());
    let zeta0 = crate::manifold::project_onto_manifold(problem, &theta0, 1e-13, 100)?.theta;
    let drift = match noise {
        DriftNoise::Isotropic => {
            lwa_isotropic_drift(problem, &zeta0, scale, h, &gf).map_err(shared)?
        }
        DriftNoise::Label => label_noise_drift(
            problem,
            &zeta0,
            &FlowSettings::label_noise(scale, cfg.sgd.batch_size),
        )?,
    };
    let predicted: Vec<f64> = drift.iter().map(|v| v * tau).collect();
    let steps = (tau / (lr * lr)).round() as u64;
    let method = Sgd {
        schedule: Schedule::constant(lr).map_err(|e| ClaimError::Shared(e.to_string()))?,
        label_noise_sigma: if noise == DriftNoise::Label {
            scale
        } else {
            0.0
        },
        noise: match noise {
            DriftNoise::Isotropic => NoiseModel::Isotropic {
                scale: Some(scale),
                matched_sigma: None,
            },
            DriftNoise::Label => NoiseModel::Label,
        },
        ..cfg.sgd.clone()
    };
    let ends: Vec<Option<Vec<f64>>> = (0..replicas as u64)
        .into_par_iter()
        .map(|r| {
            let run = run_sgd_to_end(problem, &method, zeta0.clone(), first_seed + r, steps);
            match run.stop {
                StopReason::Completed => gradient_flow_limit(problem, &run.theta, &gf)
                    .ok()
                    .map(|l| l.theta.iter().zip(&zeta0).map(|(a, b)| a - b).collect()),
                StopReason::Diverged(_) => None,
            }
        })
        .collect();
    let ok: Vec<&Vec<f64>> = ends.iter().flatten().collect();
    let dim = zeta0.len();
    let rf = ok.len() as f64;
    let mut mean_d = vec![0.0; dim];
    for d in &ok {
        mean_d
            .iter_mut()
            .zip(d.iter())
            .for_each(|(m, v)| *m += v / rf);
    }
    let mut var_sum = 0.0;
    for k in 0..dim {
        let ss: f64 = ok.iter().map(|d| (d[k] - mean_d[k]).powi(2)).sum();
        var_sum += ss / (rf - 1.0).max(1.0);
    }
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    let pn = dot(&predicted, &predicted).sqrt();
    let mn = dot(&mean_d, &mean_d).sqrt();
    let cosine = dot(&mean_d, &predicted) / (pn * mn);
    let ratio = dot(&mean_d, &predicted) / (pn * pn);
    let tangent = crate::manifold::project_tangent(problem, &zeta0, &predicted)?;
    let normal: Vec<f64> = predicted.iter().zip(&tangent).map(|(p, t)| p - t).collect();
    let m_tangent = crate::manifold::project_tangent(problem, &zeta0, &mean_d)?;
    let m_normal: Vec<f64> = mean_d.iter().zip(&m_tangent).map(|(p, t)| p - t).collect();
    let compare = |m: &[f64], q: &[f64]| {
        let qq = dot(q, q);
        (dot(m, q) / (dot(m, m) * qq).sqrt(), dot(m, q) / qq)
    };
    let (tangent_cosine, tangent_ratio) = compare(&m_tangent, &tangent);
    let (normal_cosine, normal_ratio) = compare(&m_normal, &normal);
    let label = label_noise_drift(problem, &zeta0, &FlowSettings::label_noise(1.0, 1))?;
    let cos_label = dot(&label, &predicted) / (dot(&label, &label).sqrt() * pn);
    let pass = ok.len() >= 2
        && super::le(C12_DRIFT_COSINE_MIN, cosine)
        && super::le(1.0 / C12_DRIFT_RATIO_MAX, ratio)
        && super::le(ratio, C12_DRIFT_RATIO_MAX);
    Ok(DriftCheck {
        lr,
        scale,
        tau,
        steps,
        replicas,
        failed: replicas - ok.len(),
        start_norm: dot(&zeta0, &zeta0).sqrt(),
        predicted_norm_sq_rate: 2.0 * dot(&zeta0, &predicted) / tau,
        predicted,
        mean_displacement: mean_d,
        standard_error: (var_sum / rf).sqrt(),
        cosine,
        ratio,
        normal_fraction: dot(&normal, &normal).sqrt() / pn,
        tangent_cosine,
        tangent_ratio,
        normal_cosine,
        normal_ratio,
        cosine_with_label_noise: cos_label,
        pass,
    })
}

/// C12 part 2: replicas in quick and full mode.
pub const C12_DRIFT_REPLICAS: [usize; 2] = [512, 2048];
/// C12 part 2: horizon τ.
pub const C12_DRIFT_TAU: f64 = 1.0;
/// C12 part 2: finite-difference step of ∂²Φ.
pub const C12_DRIFT_H: f64 = 0.01;
/// C12 runs for D ≤ this (part 2 costs D second differences of Φ).
pub const C12_MAX_DIM: usize = 1000;
/// C12 part 1: steps K and seeds 1–8 (both modes).
pub const C12_STEPS: u64 = 1_600_000;

/// The `verify` row C12: part 1 (label vs matched isotropic noise, paired
/// over seeds 1–8 at η₁ and σ of the experiment) and part 2 (the isotropic
/// drift predicted by ½∂²Φ\[s²I\]), on the diagonal network.
pub fn c12(ctx: &VerifyContext) -> Result<ClaimOutcome, ClaimError> {
    let p = &ctx.protocol;
    if p.base.model != crate::model::ModelKind::Diagonal {
        return Err(ClaimError::NotApplicable(format!(
            "model = \"{}\": C12 compares noise shapes on the diagonal network (θ_mn, ∂²Φ)",
            p.base.model
        )));
    }
    let sigma = p.base.sgd.label_noise_sigma;
    if sigma.is_nan() || sigma <= 0.0 {
        return Err(ClaimError::NotApplicable(format!(
            "sgd.label_noise_sigma = {sigma}: C12 matches isotropic noise to label noise σ > 0"
        )));
    }
    let (lr, _) = super::study::step_decay_rates(&p.base)?;
    let seeds: Vec<u64> = (1..=8).collect();
    let mut cfg = p.base.clone();
    cfg.sweep = None;
    cfg.claims = None;
    cfg.run.seeds = crate::experiment::Seeds::List(seeds.clone());
    cfg.sgd.schedule = crate::schedule::Schedule::Constant { lr };
    cfg.run.steps = Some(C12_STEPS);
    cfg.run.steps_after_decay = None;
    cfg.name = format!("label noise σ = {sigma} vs matched isotropic noise, η = {lr}");
    let exp = Experiment::new(cfg.clone())?;
    let dim = 2 * exp.data().d();
    if dim > C12_MAX_DIM {
        return Err(ClaimError::NotApplicable(format!(
            "D = {dim} > {C12_MAX_DIM}: part 2 needs D second differences of Φ"
        )));
    }
    let shape = run_noise_shape_study(&exp, lr, sigma, &seeds, C12_STEPS)?;
    let replicas = C12_DRIFT_REPLICAS[usize::from(ctx.mode == super::Mode::Full)];
    let drift = run_isotropic_drift_check(
        &exp,
        lr,
        shape.isotropic_scale,
        C12_DRIFT_TAU,
        replicas,
        1,
        C12_DRIFT_H,
    )?;
    let mut failures = vec![];
    if !super::lt(shape.label_mean_rel_dist, C12_LABEL_BOUND) {
        failures.push(format!(
            "(1) label-noise mean distance {} ≥ {C12_LABEL_BOUND}",
            fmt_evidence(shape.label_mean_rel_dist)
        ));
    }
    if !super::le(C12_ISOTROPIC_MIN, shape.isotropic_median_rel_dist) {
        failures.push(format!(
            "(1) isotropic median distance {} < {C12_ISOTROPIC_MIN}",
            fmt_evidence(shape.isotropic_median_rel_dist)
        ));
    }
    if !drift.pass {
        failures.push(format!(
            "(2) cos = {:.3} (≥ {C12_DRIFT_COSINE_MIN}), ratio = {:.3} (∈ [{:.2}, {C12_DRIFT_RATIO_MAX}])",
            drift.cosine,
            drift.ratio,
            1.0 / C12_DRIFT_RATIO_MAX
        ));
    }
    let pn = drift.predicted.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut evidence = format!(
        "(1) η = {lr}, σ = {sigma}, s = {}, K = {C12_STEPS}, seeds 1–8: mean rel. dist label {} vs median isotropic {}, Wilcoxon p = {:.4}; (2) τ = {C12_DRIFT_TAU} (K = {}), {} replicas ({} failed) from ζ₀ on Γ (‖ζ₀‖ = {}): ‖p‖ = {}, ‖m̂‖ = {}, SE {}, cos = {:.4}, ratio = {:.4}; tangent part cos {:.3} ratio {:.3}, normal part (fraction {:.3} of p) cos {:.3} ratio {:.3}; cos(p, label-noise drift) = {:.3}, predicted d‖ζ‖²/dτ = {}",
        fmt_evidence(shape.isotropic_scale),
        fmt_evidence(shape.label_mean_rel_dist),
        fmt_evidence(shape.isotropic_median_rel_dist),
        shape.wilcoxon_p,
        drift.steps,
        drift.replicas,
        drift.failed,
        fmt_evidence(drift.start_norm),
        fmt_evidence(pn),
        fmt_evidence(drift.mean_displacement.iter().map(|v| v * v).sum::<f64>().sqrt()),
        fmt_evidence(drift.standard_error),
        drift.cosine,
        drift.ratio,
        drift.tangent_cosine,
        drift.tangent_ratio,
        drift.normal_fraction,
        drift.normal_cosine,
        drift.normal_ratio,
        drift.cosine_with_label_noise,
        fmt_evidence(drift.predicted_norm_sq_rate)
    );
    if !failures.is_empty() {
        evidence.push_str(&format!("; NOT MET: {}", failures.join("; ")));
    }
    let tests = vec![super::ComponentTest {
        name: "paired Wilcoxon: isotropic farther from θ_mn than label noise".into(),
        statistic: shape.isotropic_median_rel_dist,
        estimate: shape.isotropic_median_rel_dist - shape.label_mean_rel_dist,
        p_value: shape.wilcoxon_p,
        method: "exact one-sided Wilcoxon signed-rank".into(),
        gating: true,
    }];
    let threshold = format!(
        "(1) label mean < {C12_LABEL_BOUND}, isotropic median ≥ {C12_ISOTROPIC_MIN}, p_Holm ≤ {FAMILY_ALPHA}; (2) cos ≥ {C12_DRIFT_COSINE_MIN}, ratio ∈ [{:.2}, {C12_DRIFT_RATIO_MAX}]",
        1.0 / C12_DRIFT_RATIO_MAX
    );
    let details = serde_json::json!({ "shape": shape, "drift": drift, "failures": failures });
    let statistic = "(1) paired Wilcoxon p; (2) cos∠(m̂, ½∂²Φ[s²I]τ)";
    let ok = failures.is_empty();
    let outcome = ClaimOutcome::new(statistic, shape.wilcoxon_p, threshold, ok, evidence);
    Ok(outcome.with_run(Some(shape.wilcoxon_p), tests, cfg, seeds, details))
}
