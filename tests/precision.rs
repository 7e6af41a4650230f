//! High-precision checks: C7 (general LWA flow = closed form on Γ, 256-bit MPFR
//! and f64), the exact identities of C10 (proofs/identities.md), and the f64 vs
//! MPFR trajectory divergence behind F7.

use crate::common;

use latedecay::data::Dataset;
use latedecay::dynamics::flow::{label_noise_drift, FlowSettings};
use latedecay::dynamics::gradient_flow::{
    gradient_flow_limit, lwa_isotropic_drift, lwa_label_noise_drift, GradientFlowSettings,
};
use latedecay::dynamics::sgd::{run_sgd, RecordPlan, SgdState};
use latedecay::linalg::{distance, norm};
use latedecay::manifold::project_onto_manifold;
use latedecay::model::{Diagonal, Linear, Model, Problem};
use latedecay::noise::Sampling;
use latedecay::probe::StandardProbe;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;

const BITS: u32 = 256;

fn data(n: usize, d: usize, seed: u64) -> Dataset<f64> {
    common::seeded_design(n, d, seed, false)
}

fn start_point(d2: usize) -> Vec<f64> {
    (0..d2).map(|k| 0.6 + 0.15 * ((k * 7) % 5) as f64).collect()
}

fn relative_difference<R: Real>(a: &[R], b: &[R]) -> f64 {
    distance(a, b).to_f64() / norm(b).to_f64()
}

fn on_gamma<R: Real, M: Model<R>>(problem: &Problem<R, M>, theta: &[R]) -> Vec<R> {
    let tol = 1e3 * R::epsilon(problem.ctx());
    let p = project_onto_manifold(problem, theta, tol, 100).unwrap();
    assert!(
        p.residual_norm <= 10.0 * tol,
        "projection residual {}",
        p.residual_norm
    );
    p.theta
}

#[test]
fn c7_general_form_vanishes_for_linear_mpfr() {
    let (n, d, sigma, b) = (2, 4, 0.8, 1);
    let problem = Problem::new(Linear::new(d), data(n, d, 17).convert::<Mpfr>(BITS));
    let theta0: Vec<Mpfr> = start_point(d)
        .iter()
        .map(|v| Mpfr::from_f64(*v, BITS))
        .collect();
    let theta = on_gamma(&problem, &theta0);
    let settings = GradientFlowSettings::for_precision::<Mpfr>(BITS);
    let general = lwa_label_noise_drift(&problem, &theta, sigma, b, 1e-20, &settings).unwrap();
    let closed = label_noise_drift(&problem, &theta, &FlowSettings::label_noise(sigma, b)).unwrap();
    let g = norm(&general).to_f64();
    eprintln!(
        "C7 MPFR-256 Linear: ‖general‖ = {g:e}, ‖closed‖ = {:e}",
        norm(&closed).to_f64()
    );
    assert!(norm(&closed).to_f64() == 0.0);
    assert!(g <= 1e-20, "general form for Linear: {g:e}");
}

/// How far f64 gets: best relative agreement over h ∈ {1e-1, …, 1e-7}.
#[test]
fn c7_f64_best_agreement_over_h() {
    let (n, d, sigma, b) = (2, 4, 0.8, 2);
    let problem = Problem::new(Diagonal::new(d), data(n, d, 17));
    let theta = on_gamma(&problem, &start_point(2 * d));
    let settings = GradientFlowSettings::for_precision::<f64>(());
    let closed = label_noise_drift(&problem, &theta, &FlowSettings::label_noise(sigma, b)).unwrap();
    let mut best = (f64::INFINITY, 0.0);
    for e in 1..=7 {
        let h = 10f64.powi(-e);
        let general = lwa_label_noise_drift(&problem, &theta, sigma, b, h, &settings).unwrap();
        let rel = relative_difference(&general, &closed);
        eprintln!("C7 f64: h = {h:e}: relative difference {rel:e}");
        if rel < best.0 {
            best = (rel, h);
        }
    }
    eprintln!("C7 f64 best: {:e} at h = {:e}", best.0, best.1);
    // Pre-registered: f64 reaches 1e-5 but not 1e-12 (ε^{1/2} ≈ 1.5e-8 is the
    // theoretical best of a second difference).
    assert!(best.0 < 1e-5, "f64 best {:e}", best.0);
    assert!(best.0 > 1e-12, "f64 cannot beat ε^(1/2): {:e}", best.0);
}

// ---------------------------------------------------------------------------
// C10 identities (proofs/identities.md)
// ---------------------------------------------------------------------------

/// Diagonal: any SGD step with per-coordinate factor g_j satisfies
/// u'_j² − v'_j² = (u_j² − v_j²)(1 − η²g_j²), checked at 256 bits to 1e-70
/// along a label-noise SGD run with minibatches.
#[test]
fn diagonal_imbalance_identity_mpfr() {
    let (n, d) = (5, 8);
    let data64 = data(n, d, 4);
    let data = data64.convert::<Mpfr>(BITS);
    let problem = Problem::new(Diagonal::new(d), data.clone());
    let eta = 0.05;
    let method = common::sgd(
        2,
        0.5,
        Sampling::WithReplacement,
        Schedule::constant(eta).unwrap(),
    );
    let theta0: Vec<Mpfr> = start_point(2 * d)
        .iter()
        .map(|v| Mpfr::from_f64(*v, BITS))
        .collect();
    let mut state = SgdState::new(theta0, 9, n, &method);
    let mut worst = 0.0f64;
    let mut worst_wrong = 0.0f64;
    for _ in 0..50 {
        let before = state.theta.clone();
        let mut probe = StandardProbe::new(&problem, None);
        run_sgd(
            &problem,
            &method,
            &mut state,
            1,
            RecordPlan::FinalOnly,
            &mut probe,
            |_| {},
        );
        // Recover g_j from the update of u: u' = u − η g v  ⇒ g = (u − u')/(η v).
        for j in 0..d {
            let (u, v) = (&before[j], &before[d + j]);
            let (u1, v1) = (&state.theta[j], &state.theta[d + j]);
            let mut eg = u.clone();
            eg -= u1;
            eg /= v; // η g
            let mut lhs = u1.clone() * u1;
            lhs -= &(v1.clone() * v1);
            let mut imbalance = u.clone() * u;
            imbalance -= &(v.clone() * v);
            // correct: (1 − η²g²); wrong (negative control): (1 − ηg)
            let mut factor = eg.clone() * &eg;
            factor.neg_mut();
            factor += 1.0;
            let mut diff = lhs.clone();
            diff -= &(imbalance.clone() * &factor);
            worst = worst.max(diff.to_f64().abs());
            let mut wrong = eg.clone();
            wrong.neg_mut();
            wrong += 1.0;
            let mut diff = lhs.clone();
            diff -= &(imbalance.clone() * &wrong);
            worst_wrong = worst_wrong.max(diff.to_f64().abs());
        }
    }
    eprintln!(
        "imbalance identity: worst |lhs − rhs| = {worst:e} (wrong factor 1 − ηg: {worst_wrong:e})"
    );
    assert!(worst < 1e-70, "identity violated: {worst:e}");
    assert!(
        worst_wrong > 1e-6,
        "negative control not rejected: {worst_wrong:e}"
    );
}

/// Linear: the null-space part (I − X⁺X)θ_k never moves, at 256 bits.
#[test]
fn linear_null_space_invariance_mpfr() {
    let (n, d) = (4, 9);
    let data = data(n, d, 8).convert::<Mpfr>(BITS);
    let problem = Problem::new(Linear::new(d), data.clone());
    let method = common::sgd(
        1,
        1.0,
        Sampling::WithReplacement,
        Schedule::step_decay(0.1, 0.01, 100).unwrap(),
    );
    let theta0: Vec<Mpfr> = start_point(d)
        .iter()
        .map(|v| Mpfr::from_f64(*v, BITS))
        .collect();
    let null_part = |th: &[Mpfr]| -> Vec<Mpfr> {
        // (I − X⁺X)θ = θ − Xᵀ(XXᵀ)⁻¹Xθ
        let xt = data.x.mul_vec(th);
        let chol = latedecay::linalg::Cholesky::new(data.x.gram_rows()).unwrap();
        let lam = chol.solve(&xt);
        let back = data.x.tr_mul_vec(&lam);
        th.iter()
            .zip(&back)
            .map(|(a, b)| {
                let mut c = a.clone();
                c -= b;
                c
            })
            .collect()
    };
    let p0 = null_part(&theta0);
    let mut state = SgdState::new(theta0, 3, n, &method);
    let mut probe = StandardProbe::new(&problem, None);
    run_sgd(
        &problem,
        &method,
        &mut state,
        300,
        RecordPlan::FinalOnly,
        &mut probe,
        |_| {},
    );
    let moved = distance(&state.theta, &p0).to_f64();
    let drift = distance(&null_part(&state.theta), &p0).to_f64();
    eprintln!("null-space drift {drift:e} (θ moved {moved:e})");
    assert!(moved > 0.1);
    assert!(drift < 1e-70, "null-space part moved: {drift:e}");
}

// ---------------------------------------------------------------------------
// F7: f64 vs MPFR, same seed
// ---------------------------------------------------------------------------

/// Small and large LR on a d = 20, n = 8 instance: the f64 trajectory stays
/// within 1e-10 (relative) of the 256-bit one for 20 000 steps, so the trusted
/// horizon (threshold 1e-3) lies beyond the run; the distance is nonzero (f64
/// does round). Negative control: a threshold below the rounding level is
/// flagged at the first record.
#[test]
fn f7_f64_vs_mpfr_divergence_and_trusted_horizon() {
    use latedecay::compare::{divergence_curve, write_divergence_csv};
    let data = common::seeded_design(8, 20, 3, true);
    let theta0 = vec![1.0; 40];
    // Label-noise SGD (B = 1, σ = 1, seed 1) at constant `lr`, recorded every
    // 1000 steps, with the f64 accuracy `threshold`.
    let sgd_curve = |lr: f64, steps: u64, threshold: f64| {
        let method = common::sgd(
            1,
            1.0,
            Sampling::WithReplacement,
            Schedule::constant(lr).unwrap(),
        );
        let model = Diagonal::new(20);
        divergence_curve(
            model, &data, &method, &theta0, 1, steps, 1000, BITS, threshold,
        )
        .unwrap()
    };
    let mut curves = Vec::new();
    for lr in [0.005, 0.05] {
        let c = sgd_curve(lr, 20_000, 1e-3);
        let max = c.relative_distance.iter().cloned().fold(0.0, f64::max);
        eprintln!(
            "F7 lr {lr}: max relative distance {max:e}, horizon {:?}",
            c.trusted_horizon
        );
        assert!(max > 0.0 && max < 1e-10, "lr {lr}: {max:e}");
        assert!(c.trusted_horizon.is_none());
        curves.push(c);
    }
    // Negative control: with a threshold below the f64 rounding level the
    // horizon must be detected at the first record where f64 has rounded.
    let c = sgd_curve(0.05, 2000, 1e-300);
    assert_eq!(c.trusted_horizon, Some(1000));
    // Large LR, chaotic: full-batch GD at the edge of stability (lr = 1, init
    // 0.5). The f64/MPFR distance starts at roundoff and grows exponentially;
    // pre-registered: below 1e-8 at step 50, trusted horizon in (50, 400].
    // Whether GD is chaotic there depends on the instance: after the synthetic
    // design moved to the 2⁻³⁰ grid, data seed 3 converges at lr = 1; a scan of
    // seeds 1–39 found chaos (horizon ≤ 400) for seeds 8, 9, 10, 15, 30, 39, and
    // this test uses seed 15 (proofs/identities.md §3).
    let data = common::seeded_design(8, 20, 15, true);
    let gd = common::sgd(
        8,
        0.0,
        latedecay::noise::Sampling::Shuffle,
        Schedule::constant(1.0).unwrap(),
    );
    let c = divergence_curve(
        Diagonal::new(20),
        &data,
        &gd,
        &[0.5; 40],
        0,
        400,
        5,
        BITS,
        1e-3,
    )
    .unwrap();
    eprintln!(
        "F7 full-batch GD lr 1: horizon {:?}, distance at 50/100/150: {:e} {:e} {:e}",
        c.trusted_horizon,
        c.relative_distance[10],
        c.relative_distance[20],
        c.relative_distance[30]
    );
    assert_eq!(c.method, "full_batch_gd");
    assert!(c.relative_distance[10] < 1e-8);
    let horizon = c
        .trusted_horizon
        .expect("chaotic GD must lose f64 accuracy");
    assert!(horizon > 50 && horizon <= 400, "horizon {horizon}");
    curves.push(c);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f7.csv");
    write_divergence_csv(&path, &curves).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1 + 2 * 21 + 81);
    assert!(text.starts_with("full_batch,lr,step,relative_distance"));
}

/// The f64 extrapolated flow stalls near ‖∇L‖ ≈ 3e-9 on the built-in
/// instance (n = 40, d = 100) from a point 1e-3 off Γ; finishing by descent
/// below `polish_below` reaches 1e-13 and the same point as plain gradient
/// descent (whose limit differs from the flow's by O(η·δ²) ≈ 1e-9 here).
#[test]
fn gradient_flow_limit_with_descent_finish_converges_in_f64() {
    let problem = Problem::new(Diagonal::new(100), common::normalized_design(40, 100));
    let zeta = on_gamma(&problem, &vec![1.0; 200]);
    let mut start = zeta.clone();
    start[0] += 1e-3;
    let mut s = GradientFlowSettings::for_precision::<f64>(());
    s.grad_tol = 1e-13;
    s.polish_below = 1e-8;
    let lim = gradient_flow_limit(&problem, &start, &s).unwrap();
    assert!(lim.grad_norm <= 1e-13, "{}", lim.grad_norm);
    let mut gd = start.clone();
    for _ in 0..60_000 {
        let g = problem.gradient(&gd);
        gd.iter_mut().zip(&g).for_each(|(t, gi)| *t -= 0.01 * gi);
    }
    assert!(problem.residual_norm(&gd) < 1e-12);
    let gap = distance(&lim.theta, &gd);
    assert!(gap < 1e-6, "flow limit vs descent limit: {gap:e}");
    assert!(distance(&lim.theta, &zeta) < 2e-3);
}

/// For the Linear model Φ is affine (a projection onto an affine Γ), so the
/// general drift ½∂²Φ[s²I] vanishes; on the diagonal network it does not,
/// it scales as s² and converges in h (C12 part 2's prediction).
#[test]
fn isotropic_drift_vanishes_on_linear_and_scales_with_s_squared() {
    let (n, d) = (3, 6);
    let mut s = GradientFlowSettings::for_precision::<f64>(());
    s.grad_tol = 1e-13;
    s.polish_below = 1e-8;
    let lin = Problem::new(Linear::new(d), data(n, d, 5));
    let theta = on_gamma(&lin, &start_point(d));
    let drift = lwa_isotropic_drift(&lin, &theta, 1.0, 1e-2, &s).unwrap();
    assert!(norm(&drift) < 1e-6, "{}", norm(&drift));
    let diag = Problem::new(Diagonal::new(d), data(n, d, 5));
    let theta = on_gamma(&diag, &start_point(2 * d));
    let a = lwa_isotropic_drift(&diag, &theta, 1.0, 1e-2, &s).unwrap();
    let b = lwa_isotropic_drift(&diag, &theta, 2.0, 5e-3, &s).unwrap();
    let c = lwa_isotropic_drift(&diag, &theta, 1.0, 3e-3, &s).unwrap();
    assert!(norm(&a) > 1e-2, "{}", norm(&a));
    // s = 2 with h/2 evaluates Φ at the same points: exactly 4×.
    let four: Vec<f64> = a.iter().map(|v| 4.0 * v).collect();
    assert!(relative_difference(&b, &four) < 1e-9);
    assert!(relative_difference(&c, &a) < 1e-3);
}

/// The slow group (each test ≳ 20 s): `cargo test --release -- --skip slow::`
/// runs everything else, `cargo test --release slow::` only these.
mod slow {
    use super::*;

    #[test]
    fn gradient_flow_limit_reaches_gamma_in_mpfr() {
        let (n, d) = (2, 4);
        let problem = Problem::new(Diagonal::new(d), data(n, d, 17).convert::<Mpfr>(BITS));
        let theta0: Vec<Mpfr> = start_point(2 * d)
            .iter()
            .map(|v| Mpfr::from_f64(*v, BITS))
            .collect();
        let settings = GradientFlowSettings::for_precision::<Mpfr>(BITS);
        let lim = gradient_flow_limit(&problem, &theta0, &settings).unwrap();
        let res = problem.residual_norm(&lim.theta).to_f64();
        assert!(res < 1e-68, "residual {res:e}");
        // Linear: Φ is the orthogonal projection onto {Xθ = y}: Φ(θ) = θ − X⁺(Xθ − y).
        let lp = Problem::new(Linear::new(d), data(n, d, 17).convert::<Mpfr>(BITS));
        let th: Vec<Mpfr> = start_point(d)
            .iter()
            .map(|v| Mpfr::from_f64(*v, BITS))
            .collect();
        let lim = gradient_flow_limit(&lp, &th, &settings).unwrap();
        let exact = on_gamma(&lp, &th); // Gauss–Newton step = exact orthogonal projection
        let err = distance(&lim.theta, &exact).to_f64();
        assert!(err < 1e-60, "Linear Φ vs projection: {err:e}");
    }

    /// C7 at 256 bits: ½∂²Φ[Σ] by second differences of the GBS gradient-flow limit
    /// (h = 1e-20) equals −(σ²/(4B))P∇trG to ≤ 1e-20 relative (proofs/slow_flow.md §3).
    #[test]
    fn c7_general_form_equals_closed_form_mpfr_diagonal() {
        let (n, d, sigma, b) = (2, 4, 0.8, 2);
        let problem = Problem::new(Diagonal::new(d), data(n, d, 17).convert::<Mpfr>(BITS));
        let theta0: Vec<Mpfr> = start_point(2 * d)
            .iter()
            .map(|v| Mpfr::from_f64(*v, BITS))
            .collect();
        let theta = on_gamma(&problem, &theta0);
        let settings = GradientFlowSettings::for_precision::<Mpfr>(BITS);
        let t = std::time::Instant::now();
        let general = lwa_label_noise_drift(&problem, &theta, sigma, b, 1e-20, &settings).unwrap();
        let closed =
            label_noise_drift(&problem, &theta, &FlowSettings::label_noise(sigma, b)).unwrap();
        let mut half = FlowSettings::label_noise(sigma, b);
        half.drift_constant = 0.5;
        let wrong = label_noise_drift(&problem, &theta, &half).unwrap();
        let rel = relative_difference(&general, &closed);
        let rel_wrong = relative_difference(&general, &wrong);
        eprintln!(
            "C7 MPFR-256 Diagonal: relative difference {rel:e} (½-constant: {rel_wrong:.3}), {:?}",
            t.elapsed()
        );
        assert!(norm(&closed).to_f64() > 1e-3, "trivial drift");
        assert!(rel <= 1e-20, "general vs closed form: {rel:e}");
        assert!(rel_wrong > 0.4, "½-constant flow not rejected: {rel_wrong}");
    }
}
