//! Tests of the slow flow along Γ (`latedecay::dynamics::flow`) and claim C6
//! (label-noise SGD projected onto Γ tracks the flow, error O(η)).
//! Derivations and thresholds: proofs/slow_flow.md.

use latedecay::dynamics::flow::{
    label_noise_flow, label_noise_flow_generic, time_to_reach, FlowSettings, FlowTrajectory,
};
use latedecay::dynamics::sgd::{run_sgd, RecordPlan, SgdState};
use latedecay::linalg::distance;
use latedecay::manifold::{min_norm_interpolant, project_onto_manifold};
use latedecay::model::diagonal::flip_distance;
use latedecay::model::{Diagonal, Linear, ModelKind, Problem, TraceGradient};
use latedecay::noise::Sampling;
use latedecay::probe::StandardProbe;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;
use latedecay::stats::linear_fit;

use crate::common;

fn diagonal_problem(n: usize, d: usize, seed: u64) -> Problem<f64, Diagonal> {
    let data = common::seeded_design(n, d, seed, true);
    Problem::new(Diagonal::new(d), data)
}

/// The slow flow of label noise σ = 1, B = 1 from `theta0`, at `taus`.
fn unit_flow<M: TraceGradient<f64>>(
    problem: &Problem<f64, M>,
    theta0: &[f64],
    taus: &[f64],
) -> FlowTrajectory<f64> {
    label_noise_flow(problem, theta0, &FlowSettings::label_noise(1.0, 1), taus).unwrap()
}

#[test]
fn linear_flow_is_zero() {
    let data = common::design(5, 12);
    let problem = Problem::new(Linear::new(12), data);
    let theta0: Vec<f64> = (0..12).map(|k| 0.1 * k as f64 - 0.3).collect();
    let start = project_onto_manifold(&problem, &theta0, 1e-13, 50)
        .unwrap()
        .theta;
    let traj = unit_flow(&problem, &start, &[0.0, 1.0, 10.0]);
    for th in &traj.thetas {
        assert!(distance(th, &start) < 1e-12, "linear flow moved");
    }
}

/// θ on the sign pattern of θ_mn: u_j = s_j·scale, v_j = scale with s_j = sign β_mn,j
/// (+1 off the support). |u| = |v| is conserved by the flow (u² − v² decays), so the
/// signs of β are fixed along it: θ_mn is reachable only from its own orthant.
fn signed_init(mn_beta: &[f64], scale: f64) -> Vec<f64> {
    let d = mn_beta.len();
    let mut th = vec![scale; 2 * d];
    for j in 0..d {
        if mn_beta[j] < 0.0 {
            th[j] = -scale;
        }
    }
    th
}

#[test]
fn diagonal_flow_decreases_norm_and_reaches_min_norm() {
    let problem = diagonal_problem(4, 10, 11);
    let mn = min_norm_interpolant(ModelKind::Diagonal, &problem.data).unwrap();
    assert!(mn.certificate_ok);
    let init = signed_init(&mn.beta, 1.0);
    let taus: Vec<f64> = (0..=40).map(|k| k as f64 * 10.0).collect();
    let traj = unit_flow(&problem, &init, &taus);
    for w in traj.norms.windows(2) {
        assert!(w[1] <= w[0] + 1e-12, "norm increased: {} -> {}", w[0], w[1]);
    }
    for r in &traj.residuals {
        assert!(*r < 1e-11, "left Γ: residual {r}");
    }
    let d0 = flip_distance(&traj.thetas[0], &mn.theta);
    let d_end = flip_distance(traj.last(), &mn.theta);
    assert!(
        d_end < 1e-2 * d0,
        "flow did not reach θ_mn: flip distance {d0} -> {d_end}"
    );
    assert_close!(traj.norms.last().unwrap(), mn.norm, abs = 1e-5);
}

#[test]
fn diagonal_flow_from_wrong_orthant_stops_at_sign_constrained_minimum() {
    // Uniform init u = v = 1 keeps β ≥ 0; θ_mn of this instance has a negative
    // coordinate, so the flow must stop at a larger norm (documented limitation
    // of the flow, not a bug: proofs/slow_flow.md §2).
    let problem = diagonal_problem(4, 10, 11);
    let mn = min_norm_interpolant(ModelKind::Diagonal, &problem.data).unwrap();
    assert!(mn.beta.iter().any(|b| *b < -1e-3));
    let init = Diagonal::new(10).uniform_init::<f64>(1.0, ());
    let traj = unit_flow(&problem, &init, &[0.0, 300.0, 600.0]);
    let beta_end: Vec<f64> = (0..10)
        .map(|j| traj.last()[j] * traj.last()[10 + j])
        .collect();
    assert!(beta_end.iter().all(|b| *b >= -1e-12));
    assert!(traj.norms[2] > mn.norm + 1e-3);
    assert_close!(
        traj.norms[2],
        traj.norms[1],
        abs = 1e-6,
        "not yet stationary"
    );
}

/// The small flow of the precision comparisons (n = 3, d = 6, u = v = 1,
/// σ = 0.7, B = 2) and its f64 Dopri5 reference at `taus`.
fn small_flow(
    taus: &[f64],
) -> (
    Problem<f64, Diagonal>,
    Vec<f64>,
    FlowSettings,
    FlowTrajectory<f64>,
) {
    let problem = diagonal_problem(3, 6, 5);
    let init = Diagonal::new(6).uniform_init::<f64>(1.0, ());
    let settings = FlowSettings::label_noise(0.7, 2);
    let reference = label_noise_flow(&problem, &init, &settings, taus).unwrap();
    (problem, init, settings, reference)
}

#[test]
fn generic_rk4_flow_matches_dopri5_in_f64_and_mpfr() {
    let taus = [0.0, 0.5, 2.0];
    let (problem, init, settings, reference) = small_flow(&taus);
    let rk4 = label_noise_flow_generic(&problem, &init, &settings, &taus, 1e-2).unwrap();
    let mpfr_problem = Problem::new(Diagonal::new(6), problem.data.convert::<Mpfr>(128));
    let init_mp: Vec<Mpfr> = init.iter().map(|v| Mpfr::from_f64(*v, 128)).collect();
    let rk4_mp = label_noise_flow_generic(&mpfr_problem, &init_mp, &settings, &taus, 1e-2).unwrap();
    for (k, tau) in taus.iter().enumerate() {
        let mp: Vec<f64> = rk4_mp.thetas[k].iter().map(Real::to_f64).collect();
        let e1 = distance(&reference.thetas[k], &rk4.thetas[k]);
        let e2 = distance(&mp, &rk4.thetas[k]);
        assert!(e1 < 1e-8, "Dopri5 vs RK4 at τ = {tau}: {e1:e}");
        assert!(e2 < 1e-12, "f64 vs MPFR RK4 at τ = {tau}: {e2:e}");
        assert!(
            rk4_mp.residuals[k] < 1e-30,
            "MPFR residual {}",
            rk4_mp.residuals[k]
        );
    }
    assert!(
        distance(&reference.thetas[2], &reference.thetas[0]) > 0.1,
        "flow did not move"
    );
}

#[test]
fn time_to_reach_finds_first_grid_time() {
    let problem = diagonal_problem(4, 10, 11);
    let mn = min_norm_interpolant(ModelKind::Diagonal, &problem.data).unwrap();
    let init = signed_init(&mn.beta, 1.0);
    let settings = FlowSettings::label_noise(1.0, 1);
    let target = 1.01 * mn.norm;
    let (tau, theta) = time_to_reach(&problem, &init, &settings, 0.5, 500.0, |th| {
        latedecay::linalg::norm(th) <= target
    })
    .unwrap()
    .expect("reached");
    assert!(latedecay::linalg::norm(&theta) <= target);
    let before = label_noise_flow(&problem, &init, &settings, &[0.0, tau - 0.5]).unwrap();
    assert!(*before.norms.last().unwrap() > target, "not the first time");
    assert!(time_to_reach(&problem, &init, &settings, 0.5, 2.0, |th| {
        latedecay::linalg::norm(th) <= 0.5 * target
    })
    .unwrap()
    .is_none());
}

#[test]
fn invalid_settings_name_the_field() {
    let problem = diagonal_problem(3, 6, 5);
    let init = Diagonal::new(6).uniform_init::<f64>(1.0, ());
    let mut s = FlowSettings::label_noise(1.0, 0);
    let e = label_noise_flow(&problem, &init, &s, &[0.0, 1.0]).unwrap_err();
    assert!(e.to_string().contains("batch_size"), "{e}");
    s.batch_size = 1;
    s.sigma = -1.0;
    let e = label_noise_flow(&problem, &init, &s, &[0.0, 1.0]).unwrap_err();
    assert!(e.to_string().contains("sigma = -1"), "{e}");
    let e = label_noise_flow(
        &problem,
        &init,
        &FlowSettings::label_noise(1.0, 1),
        &[1.0, 0.5],
    )
    .unwrap_err();
    assert!(e.to_string().contains("increasing"), "{e}");
}

// ---------------------------------------------------------------------------
// C6: label-noise SGD projected onto Γ tracks the slow flow, error O(η).
// Pre-registered (proofs/slow_flow.md §4): d = 20, n = 8, normalized columns,
// data seed 3, θ₀ = projection of u = v = 1, σ = 1, B = 1, τ = 1,
// η ∈ {0.02, 0.01, 0.005, 0.0025, 0.00125}, SGD seeds 0..8; the log–log slope of
// the mean distance must satisfy |slope − 1| ≤ 0.15 with its 95% CI within
// [0.7, 1.3]; the ½-constant flow must give slope < 0.3 and an error at the
// smallest η at least 5× the correct one.
// ---------------------------------------------------------------------------

fn c6_errors(
    problem: &Problem<f64, Diagonal>,
    start: &[f64],
    target: &[f64],
    etas: &[f64],
    tau: f64,
) -> Vec<f64> {
    etas.iter()
        .map(|&eta| {
            let steps = (tau / (eta * eta)).round() as u64;
            let method = common::sgd(
                1,
                1.0,
                Sampling::WithReplacement,
                Schedule::constant(eta).unwrap(),
            );
            let dists: Vec<f64> = (0..8)
                .map(|seed| {
                    let mut st = SgdState::new(start.to_vec(), seed, problem.n(), &method);
                    let mut probe = StandardProbe::new(problem, None);
                    let run = run_sgd(
                        problem,
                        &method,
                        &mut st,
                        steps,
                        RecordPlan::FinalOnly,
                        &mut probe,
                        |_| {},
                    );
                    let p = project_onto_manifold(problem, &run.theta, 1e-12, 50).unwrap();
                    distance(&p.theta, target)
                })
                .collect();
            dists.iter().sum::<f64>() / dists.len() as f64
        })
        .collect()
}

#[test]
fn c6_projected_sgd_tracks_slow_flow_at_rate_eta() {
    let problem = diagonal_problem(8, 20, 3);
    let init = Diagonal::new(20).uniform_init::<f64>(1.0, ());
    let start = project_onto_manifold(&problem, &init, 1e-13, 50)
        .unwrap()
        .theta;
    let tau = 1.0;
    let etas = [0.02, 0.01, 0.005, 0.0025, 0.00125];
    let good = unit_flow(&problem, &start, &[0.0, tau]);
    let mut wrong_settings = FlowSettings::label_noise(1.0, 1);
    wrong_settings.drift_constant = 0.5;
    let wrong = label_noise_flow(&problem, &start, &wrong_settings, &[0.0, tau]).unwrap();
    assert!(
        distance(good.last(), &start) > 1.0,
        "the flow must move O(1) by τ = 1"
    );
    // Both targets are compared with the same SGD runs (same seeds).
    let err_good = c6_errors(&problem, &start, good.last(), &etas, tau);
    let err_wrong = c6_errors(&problem, &start, wrong.last(), &etas, tau);
    let log_eta: Vec<f64> = etas.iter().map(|e: &f64| e.ln()).collect();
    let fit = linear_fit(
        &log_eta,
        &err_good.iter().map(|e| e.ln()).collect::<Vec<_>>(),
        0.95,
    )
    .unwrap();
    let fit_wrong = linear_fit(
        &log_eta,
        &err_wrong.iter().map(|e| e.ln()).collect::<Vec<_>>(),
        0.95,
    )
    .unwrap();
    eprintln!(
        "C6: errors {err_good:?}, slope {:.3} CI ({:.3}, {:.3}); ½-flow errors {err_wrong:?}, slope {:.3}",
        fit.slope, fit.slope_ci.0, fit.slope_ci.1, fit_wrong.slope
    );
    assert_close!(fit.slope, 1.0, abs = 0.15, "slope {}", fit.slope);
    assert!(
        fit.slope_ci.0 >= 0.7 && fit.slope_ci.1 <= 1.3,
        "CI {:?}",
        fit.slope_ci
    );
    assert!(fit_wrong.slope < 0.3, "½-flow slope {}", fit_wrong.slope);
    assert!(err_wrong[4] > 5.0 * err_good[4], "½-flow not rejected");
}

/// The GBS flow at 256 bits is self-consistent to 1e-60 (two different
/// maximal macro steps) and agrees with the f64 Dopri5 flow to 1e-8.
#[test]
fn high_precision_flow_converges_in_mpfr() {
    use latedecay::dynamics::flow::label_noise_flow_gbs;
    use latedecay::dynamics::gradient_flow::GradientFlowSettings;
    let taus = [0.0, 0.5, 1.0];
    let (problem, init, settings, reference) = small_flow(&taus);
    let pm = Problem::new(Diagonal::new(6), problem.data.convert::<Mpfr>(256));
    let init_mp: Vec<Mpfr> = init.iter().map(|v| Mpfr::from_f64(*v, 256)).collect();
    let mut gbs = GradientFlowSettings::for_precision::<Mpfr>(256);
    gbs.max_step = 0.25;
    let a = label_noise_flow_gbs(&pm, &init_mp, &settings, &taus, &gbs).unwrap();
    gbs.max_step = 0.1;
    gbs.initial_step = 0.05;
    let b = label_noise_flow_gbs(&pm, &init_mp, &settings, &taus, &gbs).unwrap();
    for (k, tau) in taus.iter().enumerate() {
        let self_diff = distance(&a.thetas[k], &b.thetas[k]).to_f64();
        let af: Vec<f64> = a.thetas[k].iter().map(Real::to_f64).collect();
        let vs_f64 = distance(&af, &reference.thetas[k]);
        eprintln!("GBS flow τ = {tau}: self-consistency {self_diff:e}, vs f64 Dopri5 {vs_f64:e}",);
        assert!(self_diff < 1e-60, "GBS flow not converged: {self_diff:e}");
        assert!(vs_f64 < 1e-8, "GBS vs Dopri5: {vs_f64:e}");
        assert!(a.residuals[k] < 1e-70);
    }
    assert!(a.norms[2] < a.norms[0]);
}
