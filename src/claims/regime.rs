//! C11: plain large-LR SGD (σ = 0) — the plateau norm decreases with η₁, the
//! final points are mean-square stable, the empirical divergence edge against
//! η*(θ₀), and a longer phase does not move the plateau. Protocol and
//! thresholds pre-registered in `proofs/claims.md` ("C11") before any run was
//! looked at; the mechanism is in `proofs/stability.md`.

use serde::{Deserialize, Serialize};

use super::{fmt_evidence, ClaimError, ClaimOutcome, VerifyContext, FAMILY_ALPHA};
use crate::dynamics::sgd::{NoiseModel, RecordPlan, Sgd, StopReason};
use crate::dynamics::stability::{map_coefficients, ReducedGradients};
use crate::experiment::run::initial_theta;
use crate::experiment::stability::jacobian;
use crate::experiment::{run_units, BranchRun, DecayGrid, Experiment, Prepared, Seeds, UnitPlan};
use crate::schedule::Schedule;
use crate::stats::{median, spearman, Alternative};

/// The η₁ grid as multiples of η*(θ₀).
pub const C11_MULTIPLES: [f64; 9] = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0];
/// (a) Spearman ρ(η₁, median plateau norm) must be ≤ this.
pub const C11_RHO_MAX: f64 = -0.8;
/// (a) at least this many converged η₁.
pub const C11_MIN_LEVELS: usize = 4;
/// (b) ρ(η₁; θ_2K) ≤ 1 + this for every converged run.
pub const C11_STABLE_TOL: f64 = 1e-9;
/// (d) median relative change of ‖θ‖ between K and 2K.
pub const C11_PLATEAU_REL_CHANGE: f64 = 1e-6;
/// (d) ‖r(θ_K)‖ bound (Γ reached by K).
pub const C11_RESIDUAL_BOUND: f64 = 1e-6;

/// One run (η₁, seed) of 2K steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeRun {
    /// η₁.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// Completed 2K steps.
    pub converged: bool,
    /// Step of divergence, if any.
    pub diverged_at: Option<u64>,
    /// ‖θ_K‖, ‖θ_2K‖ (NaN when diverged).
    pub norm_k: f64,
    /// ‖θ_2K‖.
    pub norm_2k: f64,
    /// ‖r(θ_K)‖.
    pub residual_k: f64,
    /// |‖θ_K‖ − ‖θ_2K‖|/‖θ_K‖.
    pub rel_change: f64,
    /// ρ(η₁) at θ_2K.
    pub rho_final: f64,
    /// η*(θ_2K).
    pub critical_lr_final: f64,
}

/// Per-η₁ summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeLevel {
    /// η₁.
    pub lr: f64,
    /// η₁/η*(θ₀).
    pub multiple: f64,
    /// Seeds that completed / diverged.
    pub converged_seeds: usize,
    /// Seeds that diverged.
    pub diverged_seeds: usize,
    /// Median ‖θ_2K‖ over converged seeds (NaN if none).
    pub median_norm: f64,
    /// Median η₁/η*(θ_2K) over converged seeds.
    pub median_edge_ratio: f64,
    /// Largest ρ(η₁; θ_2K) over converged seeds.
    pub max_rho: f64,
    /// Median |‖θ_K‖ − ‖θ_2K‖|/‖θ_K‖.
    pub median_rel_change: f64,
    /// Largest ‖r(θ_K)‖ over converged seeds.
    pub max_residual_k: f64,
}

/// The C11 study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeStudy {
    /// η*(θ₀) (first seed's θ₀).
    pub critical_lr_theta0: f64,
    /// 2/λ_max(G(θ₀)).
    pub full_batch_lr_theta0: f64,
    /// K (records at K and 2K).
    pub steps_k: u64,
    /// Per η₁.
    pub levels: Vec<RegimeLevel>,
    /// Every run.
    pub runs: Vec<RegimeRun>,
}

fn med(v: &[f64]) -> f64 {
    median(v).unwrap_or(f64::NAN)
}

/// Run the study: σ = 0, constant η₁ = m·η*(θ₀) for m in `multiples`, 2K
/// steps per seed, stability at every converged final iterate.
pub fn run_regime_study(
    exp: &Experiment,
    multiples: &[f64],
    seeds: &[u64],
    k: u64,
) -> Result<RegimeStudy, ClaimError> {
    let cfg = exp.config();
    let prepared = Prepared::<f64>::new(exp, ())?;
    let problem = &prepared.problem;
    let n = problem.data().n();
    let method = Sgd {
        label_noise_sigma: 0.0,
        noise: NoiseModel::Label,
        ..cfg.sgd.clone()
    };
    let coef = map_coefficients(method.batch_size, n, method.sampling);
    let theta0 = initial_theta::<f64>(&cfg.init, problem.dim(), seeds[0], ());
    let red0 = ReducedGradients::from_jacobian(&jacobian(problem, &theta0));
    let eta0 = red0.critical_lr(coef, 1e-10);
    let lrs: Vec<f64> = multiples.iter().map(|m| m * eta0).collect();
    let grid = DecayGrid::constant_lr(2 * k);
    let units = UnitPlan::constant_lr(&lrs, seeds);
    let runs: Vec<RegimeRun> = run_units(
        &prepared,
        &cfg.init,
        &method,
        &grid,
        &units,
        RecordPlan::Every { every: k },
        (),
        &|_| {},
        |unit, mut branches: Vec<BranchRun<f64>>| -> Result<RegimeRun, ClaimError> {
            let BranchRun {
                records,
                stop,
                theta,
                ..
            } = branches.remove(0);
            let at = |s: u64| records.iter().find(|r| r.step == s);
            let nan = f64::NAN;
            match stop {
                StopReason::Diverged(d) => Ok(RegimeRun {
                    lr: unit.lr,
                    seed: unit.seed,
                    converged: false,
                    diverged_at: Some(d.step),
                    norm_k: at(k).map_or(nan, |r| r.norm),
                    norm_2k: nan,
                    residual_k: at(k).map_or(nan, |r| r.residual_norm),
                    rel_change: nan,
                    rho_final: nan,
                    critical_lr_final: nan,
                }),
                StopReason::Completed => {
                    let (rk, r2k) = (at(k).expect("K recorded"), at(2 * k).expect("2K recorded"));
                    let red = ReducedGradients::from_jacobian(&jacobian(problem, &theta));
                    Ok(RegimeRun {
                        lr: unit.lr,
                        seed: unit.seed,
                        converged: true,
                        diverged_at: None,
                        norm_k: rk.norm,
                        norm_2k: r2k.norm,
                        residual_k: rk.residual_norm,
                        rel_change: (rk.norm - r2k.norm).abs() / rk.norm,
                        rho_final: red.spectral_radius(unit.lr, coef),
                        critical_lr_final: red.critical_lr(coef, 1e-4),
                    })
                }
            }
        },
    )?;
    let levels = lrs
        .iter()
        .zip(multiples)
        .map(|(&lr, &m)| {
            let sel: Vec<&RegimeRun> = runs.iter().filter(|r| r.lr == lr).collect();
            let ok: Vec<&&RegimeRun> = sel.iter().filter(|r| r.converged).collect();
            let col =
                |f: &dyn Fn(&RegimeRun) -> f64| -> Vec<f64> { ok.iter().map(|r| f(r)).collect() };
            RegimeLevel {
                lr,
                multiple: m,
                converged_seeds: ok.len(),
                diverged_seeds: sel.len() - ok.len(),
                median_norm: med(&col(&|r| r.norm_2k)),
                median_edge_ratio: med(&col(&|r| r.lr / r.critical_lr_final)),
                max_rho: col(&|r| r.rho_final).into_iter().fold(f64::NAN, f64::max),
                median_rel_change: med(&col(&|r| r.rel_change)),
                max_residual_k: col(&|r| r.residual_k).into_iter().fold(f64::NAN, f64::max),
            }
        })
        .collect();
    Ok(RegimeStudy {
        critical_lr_theta0: eta0,
        full_batch_lr_theta0: 2.0 / red0.lambda_max(),
        steps_k: k,
        levels,
        runs,
    })
}

/// The C11 row.
pub fn c11(ctx: &VerifyContext) -> Result<ClaimOutcome, ClaimError> {
    let p = &ctx.protocol;
    let k = p.regime_steps;
    let seeds = p.regime_seeds.clone();
    let mut cfg = p.base.clone();
    cfg.sgd.label_noise_sigma = 0.0;
    cfg.sgd.noise = NoiseModel::Label;
    cfg.sweep = None;
    cfg.claims = None;
    cfg.run.seeds = Seeds::List(seeds.clone());
    cfg.run.steps = Some(2 * k);
    cfg.run.steps_after_decay = None;
    cfg.sgd.schedule = Schedule::Constant { lr: 0.001 };
    cfg.name = format!(
        "σ = 0, constant η₁ ∈ {C11_MULTIPLES:?} × η*(θ₀), 2K = {} steps",
        2 * k
    );
    let exp = Experiment::new(cfg.clone())?;
    let study = run_regime_study(&exp, &C11_MULTIPLES, &seeds, k)?;
    let half = seeds.len() as f64 / 2.0;
    let conv: Vec<&RegimeLevel> = study
        .levels
        .iter()
        .filter(|l| l.converged_seeds as f64 > half)
        .collect();
    let mut failures = Vec::new();
    // (a)
    let (lr_c, norm_c): (Vec<f64>, Vec<f64>) = conv.iter().map(|l| (l.lr, l.median_norm)).unzip();
    let corr = spearman(&lr_c, &norm_c, Alternative::Less);
    let (rho_a, p_a) = match &corr {
        Ok(c) => (c.rho, c.p_value),
        Err(_) => (f64::NAN, 1.0),
    };
    if conv.len() < C11_MIN_LEVELS {
        failures.push(format!(
            "(a) only {} converged η₁ (< {C11_MIN_LEVELS})",
            conv.len()
        ));
    }
    if !super::le(rho_a, C11_RHO_MAX) {
        failures.push(format!("(a) Spearman ρ = {rho_a:.3} > {C11_RHO_MAX}"));
    }
    // (b)
    let max_rho = study
        .runs
        .iter()
        .filter(|r| r.converged)
        .map(|r| r.rho_final)
        .fold(f64::NEG_INFINITY, f64::max);
    let unstable = study
        .runs
        .iter()
        .filter(|r| r.converged && !super::le(r.rho_final, 1.0 + C11_STABLE_TOL))
        .count();
    if unstable > 0 {
        failures.push(format!(
            "(b) {unstable} converged runs end with ρ(η₁) > 1 (max {max_rho:.9})"
        ));
    }
    // (c)
    let edge = study
        .levels
        .iter()
        .find(|l| l.diverged_seeds as f64 > half)
        .map(|l| l.lr);
    let edge_ratio = edge.map_or(f64::NAN, |e| e / study.critical_lr_theta0);
    // (d)
    for l in &conv {
        if !super::le(l.median_rel_change, C11_PLATEAU_REL_CHANGE) {
            failures.push(format!(
                "(d) η₁ = {}: median relative change K→2K {:.2e} > {C11_PLATEAU_REL_CHANGE:.0e}",
                fmt_evidence(l.lr),
                l.median_rel_change
            ));
        }
        if !super::le(l.max_residual_k, C11_RESIDUAL_BOUND) {
            failures.push(format!(
                "(d) η₁ = {}: ‖r(θ_K)‖ = {:.2e} > {C11_RESIDUAL_BOUND:.0e} (Γ not reached by K)",
                fmt_evidence(l.lr),
                l.max_residual_k
            ));
        }
    }
    let per_level: Vec<String> = study
        .levels
        .iter()
        .map(|l| {
            format!(
                "{}×η*={}: {}/{} conv., ‖θ‖ {}, η₁/η*(θ_end) {}, ρ_max {}, Δ {:.0e}",
                l.multiple,
                fmt_evidence(l.lr),
                l.converged_seeds,
                l.converged_seeds + l.diverged_seeds,
                fmt_evidence(l.median_norm),
                fmt_evidence(l.median_edge_ratio),
                if l.max_rho.is_finite() {
                    format!("{:.6}", l.max_rho)
                } else {
                    "—".into()
                },
                l.median_rel_change
            )
        })
        .collect();
    let verdict_part = |bad: &str| {
        if failures.iter().any(|f| f.starts_with(bad)) {
            "FAIL"
        } else {
            "ok"
        }
    };
    let mut evidence = format!(
        "η*(θ₀) = {} (2/λ_max = {}), K = {k}, {} seeds; (a) {} ρ = {:.3}, p = {:.2e}; (b) {} max ρ(η₁; θ_end) = {:.6}; (c) FINDING: empirical edge {} = {}×η*(θ₀); (d) {}; per η₁: {}",
        fmt_evidence(study.critical_lr_theta0),
        fmt_evidence(study.full_batch_lr_theta0),
        seeds.len(),
        verdict_part("(a)"),
        rho_a,
        p_a,
        verdict_part("(b)"),
        max_rho,
        edge.map_or("none on the grid".into(), fmt_evidence),
        fmt_evidence(edge_ratio),
        verdict_part("(d)"),
        per_level.join("; ")
    );
    if !failures.is_empty() {
        evidence.push_str(&format!("; NOT MET: {}", failures.join("; ")));
    }
    let tests = vec![super::ComponentTest {
        name: "Spearman ρ(η₁, median plateau ‖θ‖) over converged η₁".into(),
        statistic: rho_a,
        estimate: rho_a,
        p_value: p_a,
        method: corr
            .as_ref()
            .map_or_else(|e| e.to_string(), |c| c.method.to_string()),
        gating: true,
    }];
    let threshold = format!(
        "(a) ρ ≤ {C11_RHO_MAX}, ≥ {C11_MIN_LEVELS} converged η₁, p_Holm ≤ {FAMILY_ALPHA}; (b) ρ(η₁; θ_end) ≤ 1; (d) Δ‖θ‖ K→2K ≤ {C11_PLATEAU_REL_CHANGE:.0e}, ‖r(θ_K)‖ ≤ {C11_RESIDUAL_BOUND:.0e}; (c) reported"
    );
    let details = serde_json::json!({
        "study": study, "edge_lr": edge, "edge_ratio_to_critical_lr_theta0": edge_ratio,
        "failures": failures,
    });
    let statistic = "Spearman ρ(η₁, median plateau ‖θ‖), σ = 0";
    let outcome = ClaimOutcome::new(statistic, rho_a, threshold, failures.is_empty(), evidence);
    Ok(outcome.with_run(Some(p_a), tests, cfg, seeds, details))
}
