//! Tests of the weighted basis-pursuit solver `latedecay::manifold::basis_pursuit`.
//!
//! min Σ_j c_j |β_j|  s.t.  Xβ = y, with a KKT certificate (see
//! proofs/min_norm_interpolant.md, §3).

use std::time::Instant;

use latedecay::manifold::basis_pursuit::{
    basis_pursuit, BasisPursuit, BasisPursuitError, BasisPursuitProblem, LpMethod,
    DEFAULT_TOLERANCE,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::common;

const TOL: f64 = DEFAULT_TOLERANCE;

fn assert_close(a: f64, b: f64, eps: f64, what: &str) {
    assert_close!(
        a,
        b,
        abs = eps,
        "{what}: {a} vs {b} (|diff| = {:e} > {eps:e})",
        (a - b).abs()
    );
}

fn weighted_l1(c: &[f64], beta: &[f64]) -> f64 {
    c.iter().zip(beta).map(|(c, b)| c * b.abs()).sum()
}

/// X with i.i.d. N(0, 1/n) entries (columns of norm ≈ 1), β* = 1 on `support`, y = Xβ*.
fn gaussian_instance(
    seed: u64,
    n: usize,
    d: usize,
    support: &[usize],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = common::gaussian_matrix(seed, n, d);
    let mut beta_star = vec![0.0; d];
    for &j in support {
        beta_star[j] = 1.0;
    }
    let y = common::mat_vec(&x, n, d, &beta_star);
    (x, y, beta_star)
}

/// [`gaussian_instance`] on `k` random columns: (X, y, β*, the support).
fn sparse_instance(
    seed: u64,
    n: usize,
    d: usize,
    k: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<usize>) {
    let support = random_support(seed, d, k);
    let (x, y, beta_star) = gaussian_instance(seed, n, d, &support);
    (x, y, beta_star, support)
}

/// max_j |a_j − b_j|.
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

fn random_support(seed: u64, d: usize, k: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_5eed);
    let mut s: Vec<usize> = Vec::with_capacity(k);
    while s.len() < k {
        let j = rng.random_range(0..d);
        if !s.contains(&j) {
            s.push(j);
        }
    }
    s.sort_unstable();
    s
}

/// Independent brute force: the LP optimum is attained at a basic feasible
/// solution, i.e. β supported on some n columns with X_B β_B = y. Enumerate all
/// n-subsets with nonsingular X_B, solve by Gaussian elimination, keep the
/// minimal weighted ℓ¹ norm. (Requires rank X = n.)
fn brute_force(x: &[f64], n: usize, d: usize, y: &[f64], c: &[f64]) -> f64 {
    fn subsets(d: usize, n: usize, start: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == n {
            out.push(cur.clone());
            return;
        }
        for j in start..d {
            cur.push(j);
            subsets(d, n, j + 1, cur, out);
            cur.pop();
        }
    }
    let mut all = Vec::new();
    subsets(d, n, 0, &mut Vec::new(), &mut all);
    let mut best = f64::INFINITY;
    for b in all {
        // augmented system [X_B | y], row-major n×(n+1)
        let mut m: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let mut row: Vec<f64> = b.iter().map(|&j| x[i * d + j]).collect();
                row.push(y[i]);
                row
            })
            .collect();
        let mut singular = false;
        for col in 0..n {
            let piv = (col..n)
                .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
                .unwrap();
            if m[piv][col].abs() < 1e-12 {
                singular = true;
                break;
            }
            m.swap(col, piv);
            let pivot_row = m[col].clone();
            for (r, row) in m.iter_mut().enumerate() {
                if r != col {
                    let f = row[col] / pivot_row[col];
                    for (a, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                        *a -= f * p;
                    }
                }
            }
        }
        if singular {
            continue;
        }
        let cost: f64 = (0..n).map(|i| c[b[i]] * (m[i][n] / m[i][i]).abs()).sum();
        best = best.min(cost);
    }
    best
}

fn assert_certified(bp: &BasisPursuit) {
    let c = &bp.certificate;
    assert!(bp.refined, "refinement failed: {bp:?}");
    assert!(c.ok, "certificate not ok: {c:?}");
    assert!(c.max_support_violation <= TOL, "{c:?}");
    assert!(c.max_offsupport_slack_violation <= TOL, "{c:?}");
    assert_eq!(bp.primal_residual, c.primal_residual);
    assert_eq!(bp.duality_gap, c.duality_gap);
}

// ---------------------------------------------------------------------------
// hand-made instances

#[test]
fn hand_made_unweighted() {
    // min |b1| + |b2| s.t. b1 + 2 b2 = 2  →  β = (0, 1), λ = 1/2.
    let bp = basis_pursuit(&[1.0, 2.0], 1, 2, &[2.0], None, TOL).unwrap();
    assert_certified(&bp);
    assert_close(bp.beta[0], 0.0, 0.0, "beta[0] is an exact zero");
    assert_close(bp.beta[1], 1.0, 1e-14, "beta[1]");
    assert_close(bp.dual[0], 0.5, 1e-14, "lambda");
    assert_close(bp.objective, 1.0, 1e-14, "objective");
    assert_close(bp.dual_objective, 1.0, 1e-14, "dual objective");
    assert_eq!(bp.support, vec![1]);
    // margin: 1 − |X_1ᵀλ| = 1 − 1/2
    assert_close(
        bp.certificate.strict_complementarity_margin,
        0.5,
        1e-14,
        "margin",
    );
    assert!(bp.certificate.unique && bp.certificate.support_injective);
}

#[test]
fn hand_made_weighted_changes_solution() {
    // min |b1|/4 + |b2| s.t. b1 + 2 b2 = 2  →  β = (2, 0) (cost 1/2 < 1), λ = 1/4.
    let w = [0.25, 1.0];
    let bp = basis_pursuit(&[1.0, 2.0], 1, 2, &[2.0], Some(&w), TOL).unwrap();
    assert_certified(&bp);
    assert_close(bp.beta[0], 2.0, 1e-14, "beta[0]");
    assert_eq!(bp.beta[1], 0.0);
    assert_close(bp.dual[0], 0.25, 1e-14, "lambda");
    assert_close(bp.objective, 0.5, 1e-14, "objective");
    // margin: (1 − |2·1/4|)/1
    assert_close(
        bp.certificate.strict_complementarity_margin,
        0.5,
        1e-14,
        "margin",
    );
    assert!(bp.certificate.unique);
}

#[test]
fn check_certificate_rejects_suboptimal_or_infeasible_pairs() {
    let x = [1.0, 2.0];
    let y = [2.0];
    // the optimal pair passes
    let cert = BasisPursuitProblem::new(&x, 1, 2, &y, None)
        .unwrap()
        .check_certificate(&[0.0, 1.0], &[0.5], TOL)
        .unwrap();
    assert!(cert.ok && cert.unique);
    // feasible but not optimal: β = (2, 0), cost 2; with λ = 1/2 the support condition fails
    let cert = BasisPursuitProblem::new(&x, 1, 2, &y, None)
        .unwrap()
        .check_certificate(&[2.0, 0.0], &[0.5], TOL)
        .unwrap();
    assert!(!cert.ok);
    assert_close(cert.max_support_violation, 0.5, 1e-15, "support violation");
    assert_close(cert.duality_gap, 1.0, 1e-15, "gap");
    // with λ = 1 the support condition holds but λ is dual infeasible (|2λ| = 2 > 1)
    let cert = BasisPursuitProblem::new(&x, 1, 2, &y, None)
        .unwrap()
        .check_certificate(&[2.0, 0.0], &[1.0], TOL)
        .unwrap();
    assert!(!cert.ok);
    assert_close(
        cert.max_offsupport_slack_violation,
        1.0,
        1e-15,
        "slack violation",
    );
    // slightly infeasible primal
    let cert = BasisPursuitProblem::new(&x, 1, 2, &y, None)
        .unwrap()
        .check_certificate(&[0.0, 1.0 + 1e-6], &[0.5], TOL)
        .unwrap();
    assert!(!cert.ok);
    assert_close(cert.primal_residual, 2e-6, 1e-15, "residual");
}

#[test]
fn degenerate_instance_is_optimal_but_not_unique() {
    // min |b1| + |b2| s.t. b1 + b2 = 1: every β ≥ 0 on the segment is optimal.
    let bp = basis_pursuit(&[1.0, 1.0], 1, 2, &[1.0], None, TOL).unwrap();
    assert_certified(&bp);
    assert_close(bp.objective, 1.0, 1e-13, "objective");
    assert_eq!(bp.support.len(), 1);
    assert!(bp.certificate.strict_complementarity_margin.abs() <= 1e-12);
    assert!(!bp.certificate.unique);
}

#[test]
fn zero_right_hand_side() {
    let (x, _, _) = gaussian_instance(3, 5, 8, &[0]);
    let bp = basis_pursuit(&x, 5, 8, &[0.0; 5], None, TOL).unwrap();
    assert_certified(&bp);
    assert!(bp.beta.iter().all(|&b| b == 0.0));
    assert!(bp.support.is_empty());
    assert_eq!(bp.objective, 0.0);
    assert!(bp.certificate.unique);
}

#[test]
fn overdetermined_consistent_system() {
    // n = 3 > d = 2: X β = y has the unique solution β = (1, −2).
    let x = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let bp = basis_pursuit(&x, 3, 2, &[1.0, -2.0, -1.0], None, TOL).unwrap();
    assert_certified(&bp);
    assert_close(bp.beta[0], 1.0, 1e-13, "beta[0]");
    assert_close(bp.beta[1], -2.0, 1e-13, "beta[1]");
    assert_close(bp.objective, 3.0, 1e-13, "objective");
    assert!(bp.certificate.support_injective);
}

// ---------------------------------------------------------------------------
// random Gaussian instances

#[test]
fn gaussian_exact_recovery_n40_d100() {
    let (n, d) = (40, 100);
    let mut worst_err: f64 = 0.0;
    for seed in 0..20u64 {
        let (x, y, beta_star, support) = sparse_instance(seed, n, d, 3);
        let t0 = Instant::now();
        let bp = basis_pursuit(&x, n, d, &y, None, TOL).unwrap();
        let elapsed = t0.elapsed();
        assert_certified(&bp);
        assert!(bp.certificate.unique, "seed {seed}: {:?}", bp.certificate);
        assert_eq!(bp.support, support, "seed {seed}");
        let err = max_abs_diff(&bp.beta, &beta_star);
        assert!(err <= 1e-8, "seed {seed}: max |β − β*| = {err:e}");
        assert_close(bp.objective, 3.0, 1e-8, "objective");
        worst_err = worst_err.max(err);
        if seed == 0 {
            eprintln!(
                "n=40 d=100 seed 0: |β−β*|∞ = {err:.2e}, residual = {:.2e}, gap = {:.2e}, \
                 support viol = {:.2e}, margin = {:.3}, clarabel {} its ({}), time = {:.2?}",
                bp.primal_residual,
                bp.duality_gap,
                bp.certificate.max_support_violation,
                bp.certificate.strict_complementarity_margin,
                bp.solver_iterations,
                bp.solver_status,
                elapsed
            );
        }
    }
    eprintln!("n=40 d=100, 20 seeds: worst |β−β*|∞ = {worst_err:.2e}");
}

#[test]
fn tolerance_too_tight_falls_back_to_raw_solution() {
    // No f64 pair can meet tol = 1e-20; the raw clarabel solution is returned with ok = false.
    let support = [4, 50, 77];
    let (x, y, beta_star) = gaussian_instance(11, 40, 100, &support);
    let bp = basis_pursuit(&x, 40, 100, &y, None, 1e-20).unwrap();
    assert!(!bp.refined);
    assert!(!bp.certificate.ok && !bp.certificate.unique);
    // still close to β*
    let err = max_abs_diff(&bp.beta, &beta_star);
    assert!(err < 1e-6, "raw solution error {err:e}");
}

#[test]
fn weights_change_the_solution() {
    let (n, d) = (40, 100);
    let (x, y, beta_star, support) = sparse_instance(7, n, d, 3);

    let plain = basis_pursuit(&x, n, d, &y, None, TOL).unwrap();
    assert_certified(&plain);
    assert_eq!(plain.support, support);

    // make the true support expensive
    let mut c = vec![1.0; d];
    for &j in &support {
        c[j] = 10.0;
    }
    let weighted = basis_pursuit(&x, n, d, &y, Some(&c), TOL).unwrap();
    assert_certified(&weighted);
    assert_ne!(weighted.support, support);
    // optimal for its own objective, strictly worse for the other one
    assert!(weighted.objective < weighted_l1(&c, &beta_star) - 1e-6);
    assert!(weighted_l1(&[1.0; 100], &weighted.beta) > plain.objective + 1e-6);
    assert_close(
        weighted.objective,
        weighted_l1(&c, &weighted.beta),
        1e-12,
        "objective",
    );
    // the dual respects the weights
    let cert = BasisPursuitProblem::new(&x, n, d, &y, Some(&c))
        .unwrap()
        .check_certificate(&weighted.beta, &weighted.dual, TOL)
        .unwrap();
    assert!(cert.ok);
    // ... and the unweighted certificate rejects the weighted solution
    let cert = BasisPursuitProblem::new(&x, n, d, &y, None)
        .unwrap()
        .check_certificate(&weighted.beta, &weighted.dual, TOL)
        .unwrap();
    assert!(!cert.ok);
}

#[test]
fn uniform_weights_scale_the_dual_only() {
    let (n, d) = (40, 100);
    let (x, y, _, _) = sparse_instance(5, n, d, 3);
    let plain = basis_pursuit(&x, n, d, &y, None, TOL).unwrap();
    let scaled = basis_pursuit(&x, n, d, &y, Some(&[7.0; 100]), TOL).unwrap();
    assert_certified(&scaled);
    assert_eq!(plain.support, scaled.support);
    for (a, b) in plain.beta.iter().zip(&scaled.beta) {
        assert_close(*a, *b, 1e-12, "beta");
    }
    assert_close(scaled.objective, 7.0 * plain.objective, 1e-11, "objective");
}

// ---------------------------------------------------------------------------
// brute force comparison on tiny instances

fn all_minors_well_conditioned(x: &[f64], d: usize) -> bool {
    // n = 2: every pair of columns has |det| ≥ 0.05
    (0..d).all(|a| ((a + 1)..d).all(|b| (x[a] * x[d + b] - x[b] * x[d + a]).abs() >= 0.05))
}

proptest! {
    #![proptest_config(ProptestConfig {
        max_global_rejects: 1 << 20,
        ..common::prop_config(256)
    })]

    #[test]
    fn matches_brute_force_n2_d4(
        x in prop::collection::vec(-1.0f64..1.0, 8),
        y in prop::collection::vec(-1.0f64..1.0, 2),
        w in prop::collection::vec(0.5f64..2.0, 4),
        weighted in any::<bool>(),
    ) {
        let (n, d) = (2, 4);
        prop_assume!(all_minors_well_conditioned(&x, d));
        prop_assume!(y[0].hypot(y[1]) > 0.05);
        let c = if weighted { w.clone() } else { vec![1.0; d] };
        let weights = if weighted { Some(w.as_slice()) } else { None };
        let bp = basis_pursuit(&x, n, d, &y, weights, TOL).unwrap();
        let brute = brute_force(&x, n, d, &y, &c);
        prop_assert!(bp.certificate.ok, "{:?}", bp);
        prop_assert!(bp.refined);
        prop_assert!((bp.objective - brute).abs() <= 1e-9 * brute.max(1.0),
            "objective {} vs brute force {}", bp.objective, brute);
        prop_assert!(bp.support.len() <= n);
        let r = common::mat_vec(&x, n, d, &bp.beta);
        prop_assert!((r[0] - y[0]).abs() < 1e-12 && (r[1] - y[1]).abs() < 1e-12);
    }

    #[test]
    fn matches_brute_force_n3_d7_gaussian(seed in any::<u64>(), weighted in any::<bool>()) {
        let (n, d) = (3, 7);
        let mut rng = StdRng::seed_from_u64(seed);
        let x: Vec<f64> = (0..n * d).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
        let c: Vec<f64> = if weighted {
            (0..d).map(|_| rng.random_range(0.2..5.0)).collect()
        } else {
            vec![1.0; d]
        };
        let bp = basis_pursuit(&x, n, d, &y, Some(&c), TOL).unwrap();
        let brute = brute_force(&x, n, d, &y, &c);
        prop_assert!(bp.certificate.ok, "{:?}", bp);
        prop_assert!((bp.objective - brute).abs() <= 1e-8 * brute.max(1.0),
            "objective {} vs brute force {}", bp.objective, brute);
    }
}

// ---------------------------------------------------------------------------
// errors

fn err_msg(r: Result<BasisPursuit, BasisPursuitError>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn input_errors_name_the_field_and_value() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
    let y = [1.0, 2.0];
    assert_eq!(
        err_msg(basis_pursuit(
            &x,
            2,
            3,
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            None,
            TOL
        )),
        "y has length 5 but X has 2 rows"
    );
    assert_eq!(
        err_msg(basis_pursuit(&x[..5], 2, 3, &y, None, TOL)),
        "x has length 5 but n * d = 2 * 3 = 6"
    );
    assert_eq!(
        err_msg(basis_pursuit(&x, 2, 3, &y, Some(&[1.0, 1.0, -1.0]), TOL)),
        "weights[2] = -1 must be positive"
    );
    assert_eq!(
        err_msg(basis_pursuit(&x, 2, 3, &y, Some(&[0.0, 1.0, 1.0]), TOL)),
        "weights[0] = 0 must be positive"
    );
    assert_eq!(
        err_msg(basis_pursuit(
            &x,
            2,
            3,
            &y,
            Some(&[1.0, f64::NAN, 1.0]),
            TOL
        )),
        "weights[1] = NaN is not finite"
    );
    assert_eq!(
        err_msg(basis_pursuit(&x, 2, 3, &y, Some(&[1.0, 1.0]), TOL)),
        "weights has length 2 but X has 3 columns"
    );
    let mut bad = x;
    bad[4] = f64::INFINITY;
    assert_eq!(
        err_msg(basis_pursuit(&bad, 2, 3, &y, None, TOL)),
        "x[1, 1] = inf is not finite"
    );
    assert_eq!(
        err_msg(basis_pursuit(
            &x,
            2,
            3,
            &[1.0, f64::NEG_INFINITY],
            None,
            TOL
        )),
        "y[1] = -inf is not finite"
    );
    assert_eq!(
        err_msg(basis_pursuit(&x, 2, 3, &y, None, 0.0)),
        "tol = 0 must be positive and finite"
    );
    assert_eq!(
        err_msg(basis_pursuit(&[], 0, 3, &[], None, TOL)),
        "n = 0: X must have at least one row and one column"
    );
    let problem = BasisPursuitProblem::new(&x, 2, 3, &y, None).unwrap();
    for (beta, lambda, msg) in [
        (
            &[0.0; 2][..],
            &[0.0; 2][..],
            "beta has length 2 but X has 3 columns",
        ),
        (&[0.0; 3], &[0.0; 3], "lambda has length 3 but X has 2 rows"),
    ] {
        let err = problem.check_certificate(beta, lambda, TOL).unwrap_err();
        assert_eq!(err.to_string(), msg);
    }
}

#[test]
fn infeasible_systems_report_the_solver_status() {
    // rank-one X with y outside its range
    let msg = err_msg(basis_pursuit(
        &[1.0, 1.0, 1.0, 1.0],
        2,
        2,
        &[1.0, 2.0],
        None,
        TOL,
    ));
    assert_eq!(msg, "solver status: PrimalInfeasible");
    // overdetermined inconsistent system (n = 3 > d = 2)
    let x = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let msg = err_msg(basis_pursuit(&x, 3, 2, &[1.0, -2.0, 0.0], None, TOL));
    assert!(
        msg.starts_with("solver status: ") && msg.contains("Infeasible"),
        "{msg}"
    );
    let r = basis_pursuit(&x, 3, 2, &[1.0, -2.0, 0.0], None, TOL);
    assert!(matches!(r, Err(BasisPursuitError::SolverFailed { .. })));
}

/// Column generation (the default for d ≥ 2000) finds the same support and
/// the same refined β, bit for bit, as one full LP solve, with a certificate
/// checked on the full problem; sparse and dense-ish solutions, with weights.
#[test]
fn column_generation_matches_the_full_lp() {
    for (seed, n, d, k) in [(1u64, 20usize, 2500usize, 3usize), (2, 30, 3000, 12)] {
        let (x, y, _, _) = sparse_instance(seed, n, d, k);
        let mut rng = StdRng::seed_from_u64(seed + 100);
        let c: Vec<f64> = (0..d).map(|_| rng.random_range(0.8..1.2)).collect();
        for w in [None, Some(&c[..])] {
            let full = BasisPursuitProblem::new(&x, n, d, &y, w)
                .unwrap()
                .solve(TOL, LpMethod::Full)
                .unwrap();
            let cg = BasisPursuitProblem::new(&x, n, d, &y, w)
                .unwrap()
                .solve(TOL, LpMethod::ColumnGeneration)
                .unwrap();
            let auto = basis_pursuit(&x, n, d, &y, w, TOL).unwrap();
            assert!(full.certificate.ok && cg.certificate.ok && auto.certificate.ok);
            assert!(cg.refined && cg.certificate.unique);
            assert_eq!(cg.support, full.support);
            let bits = |b: &BasisPursuit| b.beta.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&cg), bits(&full));
            assert_eq!(bits(&auto), bits(&full));
            let cert = BasisPursuitProblem::new(&x, n, d, &y, w)
                .unwrap()
                .check_certificate(&cg.beta, &cg.dual, TOL)
                .unwrap();
            assert!(cert.ok);
        }
    }
}

/// Reusing the solution for weights 1 certifies the solution for weights
/// close to 1 without an LP (same support, same β), and refuses (None) a
/// start that is not optimal for the new weights.
#[test]
fn reused_solution_is_certified_or_refused() {
    let (n, d) = (20usize, 60usize);
    let (x, y, _, support) = sparse_instance(5, n, d, 3);
    let ones = basis_pursuit(&x, n, d, &y, None, TOL).unwrap();
    let near: Vec<f64> = (0..d).map(|j| 1.0 + 1e-9 * (j % 7) as f64).collect();
    let reused = BasisPursuitProblem::new(&x, n, d, &y, Some(&near))
        .unwrap()
        .solve_from(TOL, &ones.beta, &ones.dual)
        .unwrap()
        .expect("certified");
    let direct = basis_pursuit(&x, n, d, &y, Some(&near), TOL).unwrap();
    assert!(reused.certificate.ok);
    assert_eq!(reused.support, direct.support);
    assert_eq!(reused.beta, direct.beta);
    // Weights that make the old support expensive: the start is refused.
    let mut far = vec![1.0; d];
    for &j in &support {
        far[j] = 50.0;
    }
    let refused = BasisPursuitProblem::new(&x, n, d, &y, Some(&far))
        .unwrap()
        .solve_from(TOL, &ones.beta, &ones.dual)
        .unwrap();
    assert!(refused.is_none() || refused.unwrap().certificate.ok);
}
