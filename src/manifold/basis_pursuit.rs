//! Weighted basis pursuit in `f64`: the minimum weighted-ℓ¹ interpolant
//!
//! ```text
//!     min_β  Σ_j c_j |β_j|   subject to   X β = y,
//! ```
//!
//! with `X ∈ R^{n×d}` (row-major), `y ∈ R^n` and positive weights `c ∈ R^d`.
//!
//! For the diagonal linear network `β = u ⊙ v`, the minimum-norm interpolant
//! in `θ = (u, v)` is `u_j = sign(β_j) √|β_j|`, `v_j = √|β_j|` where `β` solves
//! basis pursuit with `c = 1`; with general `c` the same construction gives
//! the interpolant minimising `Σ_j c_j (u_j² + v_j²)` (see
//! `proofs/min_norm_interpolant.md`).
//!
//! Method:
//! 1. The problem is written as the LP `min cᵀp + cᵀq` s.t. `X(p − q) = y`,
//!    `p, q ≥ 0`, and solved by clarabel's interior-point method with tight
//!    tolerances (`y` and `c` are rescaled to unit max-norm first).
//! 2. The support is identified from the interior-point iterate: candidate
//!    supports are the `k` largest entries of `|β|` for the `k ≤ min(n, d)`
//!    with the largest gaps `|β|_(k) / |β|_(k+1)`.
//! 3. Refinement: on a candidate support `S` with `X_S` of full column rank,
//!    `X_S β_S = y` is solved by least squares on nalgebra's Householder QR
//!    (f64 only, so the library fits here; `crate::linalg` is generic), and the dual is made
//!    to satisfy `X_Sᵀ λ = c_S ⊙ sign(β_S)` exactly (either the smallest
//!    correction of clarabel's dual or the minimum-norm solution, whichever has
//!    the larger strict-complementarity margin).
//! 4. The KKT certificate ([`BasisPursuitProblem::check_certificate`]) decides: the first
//!    refined candidate that passes it is returned. Otherwise clarabel's raw
//!    solution is returned with `certificate.ok = false` and `refined = false`.

use crate::field_error::first_non_finite;
use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};

/// A reasonable default for the `tol` argument of [`basis_pursuit`].
pub const DEFAULT_TOLERANCE: f64 = 1e-9;

/// Interior-point tolerances handed to clarabel (absolute and relative gap,
/// feasibility) for the rescaled problem.
const SOLVER_TOLERANCE: f64 = 1e-10;
/// Iteration cap for clarabel (it typically needs 10–30 iterations).
const SOLVER_MAX_ITER: u32 = 500;
/// Number of gap-ranked candidate supports tried in the refinement.
const MAX_SUPPORT_CANDIDATES: usize = 8;
/// `X_S` is treated as rank deficient when some `|R_jj|` of its Householder QR
/// is below this multiple of the largest column norm of `X_S`.
const RANK_TOLERANCE: f64 = 1e-10;

/// KKT certificate of optimality (and of uniqueness) for a primal–dual pair
/// `(β, λ)` of the weighted basis-pursuit problem.
///
/// The support is `S = { j : |β_j| > tol · ‖β‖_∞ }`. The dual-side quantities
/// are measured relative to the weights `c_j`, so they are dimensionless and
/// directly comparable to `tol`.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// All of: `‖Xβ − y‖₂ ≤ tol·‖y‖₂`,
    /// `|Σ c_j|β_j| − yᵀλ| ≤ tol·max(Σ c_j|β_j|, |yᵀλ|)`,
    /// `max_support_violation ≤ tol` and `max_offsupport_slack_violation ≤ tol`.
    /// (Strict complementarity is *not* required for optimality.)
    pub ok: bool,
    /// `‖Xβ − y‖₂` (absolute).
    pub primal_residual: f64,
    /// `|Σ_j c_j |β_j| − yᵀλ|` (absolute).
    pub duality_gap: f64,
    /// `max_{j∈S} |(Xᵀλ)_j − c_j sign(β_j)| / c_j` (0 if `S` is empty).
    pub max_support_violation: f64,
    /// `max_{j∉S} max(0, |(Xᵀλ)_j| − c_j) / c_j` (0 if `S` is everything).
    pub max_offsupport_slack_violation: f64,
    /// `min_{j∉S} (c_j − |(Xᵀλ)_j|) / c_j`; `+∞` if `S` is everything.
    /// Positive means strict complementarity.
    pub strict_complementarity_margin: f64,
    /// `X_S` has full column rank (`|S| ≤ n` and no Householder pivot of `X_S`
    /// below `1e-10` times its largest column norm).
    pub support_injective: bool,
    /// `ok`, `strict_complementarity_margin > tol` and `support_injective`:
    /// then `β` is the unique minimiser.
    pub unique: bool,
}

/// Result of [`basis_pursuit`].
#[derive(Debug, Clone, PartialEq)]
pub struct BasisPursuit {
    /// Primal solution `β ∈ R^d` (exact zeros off the support when `refined`).
    pub beta: Vec<f64>,
    /// Dual solution `λ ∈ R^n` with `|Xᵀλ|_j ≤ c_j`.
    pub dual: Vec<f64>,
    /// Indices `j` with `β_j ≠ 0` (refined) or `|β_j| > tol·‖β‖_∞` (raw), sorted.
    pub support: Vec<usize>,
    /// Primal objective `Σ_j c_j |β_j|`.
    pub objective: f64,
    /// Dual objective `yᵀλ`.
    pub dual_objective: f64,
    /// `‖Xβ − y‖₂` (same as `certificate.primal_residual`).
    pub primal_residual: f64,
    /// `|objective − dual_objective|` (same as `certificate.duality_gap`).
    pub duality_gap: f64,
    /// KKT certificate of `(beta, dual)`; `ok` is forced to `false` when the
    /// refinement failed and the raw interior-point solution is returned.
    pub certificate: Certificate,
    /// Whether the support refinement succeeded (`false`: raw clarabel output).
    pub refined: bool,
    /// Clarabel's termination status (`"Trivial"` when `y = 0` and no solve was needed).
    pub solver_status: String,
    /// Clarabel's iteration count.
    pub solver_iterations: u32,
}

/// Input and solver errors of [`BasisPursuitProblem`] and [`basis_pursuit`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BasisPursuitError {
    #[error("{name} = 0: X must have at least one row and one column")]
    EmptyDimension { name: &'static str },
    #[error("x has length {len} but n * d = {n} * {d} = {expected}")]
    XLength {
        len: usize,
        n: usize,
        d: usize,
        expected: usize,
    },
    #[error("y has length {len} but X has {n} rows")]
    YLength { len: usize, n: usize },
    #[error("weights has length {len} but X has {d} columns")]
    WeightsLength { len: usize, d: usize },
    #[error("beta has length {len} but X has {d} columns")]
    BetaLength { len: usize, d: usize },
    #[error("lambda has length {len} but X has {n} rows")]
    LambdaLength { len: usize, n: usize },
    #[error("x[{row}, {col}] = {value} is not finite")]
    NonFiniteX { row: usize, col: usize, value: f64 },
    #[error("{name}[{index}] = {value} is not finite")]
    NonFinite {
        name: &'static str,
        index: usize,
        value: f64,
    },
    #[error("weights[{index}] = {value} must be positive")]
    NonPositiveWeight { index: usize, value: f64 },
    #[error("tol = {value} must be positive and finite")]
    InvalidTolerance { value: f64 },
    #[error("solver setup failed: {message}")]
    SolverSetup { message: String },
    #[error("solver status: {status}")]
    SolverFailed { status: String },
}

/// Solve the weighted basis-pursuit problem `min Σ c_j|β_j|` s.t. `Xβ = y`
/// in one call: [`BasisPursuitProblem::new`] then
/// [`solve`](BasisPursuitProblem::solve) with [`LpMethod::Auto`].
///
/// * `x`: `X` row-major, `x[i * d + j] = X_ij`, length `n * d`.
/// * `weights`: `c` (all ones when `None`), every entry finite and `> 0`.
/// * `tol`: tolerance of the KKT certificate (e.g. [`DEFAULT_TOLERANCE`]).
///
/// `n < d` is not required. If `Xβ = y` has no solution the error is
/// `solver status: PrimalInfeasible` (or another non-solved status).
pub fn basis_pursuit(
    x: &[f64],
    n: usize,
    d: usize,
    y: &[f64],
    weights: Option<&[f64]>,
    tol: f64,
) -> Result<BasisPursuit, BasisPursuitError> {
    BasisPursuitProblem::new(x, n, d, y, weights)?.solve(tol, LpMethod::Auto)
}

/// A weighted basis-pursuit problem `min Σ c_j|β_j|` s.t. `Xβ = y`, its
/// input checked once by [`BasisPursuitProblem::new`] (dimensions,
/// finiteness, positive weights); solving and certifying take only checked
/// problems.
#[derive(Debug, Clone, PartialEq)]
pub struct BasisPursuitProblem<'a> {
    x: &'a [f64],
    n: usize,
    d: usize,
    y: &'a [f64],
    c: Vec<f64>,
}

/// How [`BasisPursuitProblem::solve`] solves the linear program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpMethod {
    /// [`LpMethod::ColumnGeneration`] when `d ≥ COLUMN_GENERATION_MIN_D`
    /// (and `d > 4n`), else [`LpMethod::Full`].
    Auto,
    /// One interior-point solve of the LP on all `2d` variables.
    Full,
    /// Column generation (exploits `n ≪ d`): solve the LP restricted to a
    /// working set of columns (initially the `max(4n, 64)` largest
    /// `|X_jᵀy|/c_j`), price every column with the restricted dual λ and add
    /// the columns with `|X_jᵀλ| > (1 − 10⁻⁶) c_j`, repeat until none is left.
    /// The final `(β, λ)` is refined and certified on the *full* problem
    /// exactly as after a full solve; if the loop does not settle, the full
    /// LP is solved instead.
    ColumnGeneration,
}

/// Smallest `d` for which [`LpMethod::Auto`] uses column generation (below
/// it a full solve takes milliseconds, and the shipped experiments keep
/// their original solver path).
pub const COLUMN_GENERATION_MIN_D: usize = 2000;

impl LpMethod {
    fn resolve(self, n: usize, d: usize) -> LpMethod {
        match self {
            LpMethod::Auto if d >= COLUMN_GENERATION_MIN_D && d > 4 * n => {
                LpMethod::ColumnGeneration
            }
            LpMethod::Auto => LpMethod::Full,
            m => m,
        }
    }
}

impl<'a> BasisPursuitProblem<'a> {
    /// Check `X` (row-major `n × d`, finite), `y` (length `n`, finite) and the
    /// weights (`None`: all ones; else length `d`, finite, `> 0`).
    pub fn new(
        x: &'a [f64],
        n: usize,
        d: usize,
        y: &'a [f64],
        weights: Option<&[f64]>,
    ) -> Result<Self, BasisPursuitError> {
        let c = validate_problem(x, n, d, y, weights)?;
        Ok(Self { x, n, d, y, c })
    }

    /// Solve with the LP `method` and certify the solution (the same
    /// certificate whatever the method); `tol` as in [`basis_pursuit`].
    pub fn solve(&self, tol: f64, method: LpMethod) -> Result<BasisPursuit, BasisPursuitError> {
        let Self { n, d, y, .. } = *self;
        validate_tolerance(tol)?;

        if y.iter().all(|&v| v == 0.0) {
            // β = 0 is feasible with zero cost, λ = 0 is dual optimal.
            let beta = vec![0.0; d];
            let lambda = vec![0.0; n];
            let certificate = self.certificate(&beta, &lambda, tol);
            return Ok(self.assemble(
                beta,
                lambda,
                Vec::new(),
                certificate,
                true,
                "Trivial".to_string(),
                0,
            ));
        }

        let raw = match method.resolve(n, d) {
            LpMethod::ColumnGeneration => match self.solve_lp_column_generation()? {
                Some(raw) => raw,
                None => self.solve_lp()?,
            },
            _ => self.solve_lp()?,
        };
        let status_name = raw.status.to_string();
        match raw.status {
            SolverStatus::PrimalInfeasible
            | SolverStatus::AlmostPrimalInfeasible
            | SolverStatus::DualInfeasible
            | SolverStatus::AlmostDualInfeasible
            | SolverStatus::Unsolved => {
                return Err(BasisPursuitError::SolverFailed {
                    status: status_name,
                })
            }
            _ => {}
        }
        if raw.beta.iter().chain(&raw.lambda).any(|v| !v.is_finite()) {
            return Err(BasisPursuitError::SolverFailed {
                status: status_name,
            });
        }

        if let Some(r) = self.refine(&raw.beta, &raw.lambda, tol) {
            return Ok(self.assemble(
                r.beta,
                r.lambda,
                r.support,
                r.certificate,
                true,
                status_name,
                raw.iterations,
            ));
        }

        match raw.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => {
                let mut certificate = self.certificate(&raw.beta, &raw.lambda, tol);
                certificate.ok = false;
                certificate.unique = false;
                let support = support_of(&raw.beta, tol);
                Ok(self.assemble(
                    raw.beta,
                    raw.lambda,
                    support,
                    certificate,
                    false,
                    status_name,
                    raw.iterations,
                ))
            }
            _ => Err(BasisPursuitError::SolverFailed {
                status: status_name,
            }),
        }
    }

    /// Evaluate the KKT certificate of a candidate primal–dual pair `(β, λ)`.
    ///
    /// Conditions (with `S = { j : |β_j| > tol·‖β‖_∞ }`):
    /// `Xβ = y`, `(Xᵀλ)_j = c_j sign(β_j)` on `S`, `|Xᵀλ|_j ≤ c_j` off `S`, and a
    /// zero duality gap, each up to `tol` (see [`Certificate`] for the scaling).
    pub fn check_certificate(
        &self,
        beta: &[f64],
        lambda: &[f64],
        tol: f64,
    ) -> Result<Certificate, BasisPursuitError> {
        let (n, d) = (self.n, self.d);
        validate_tolerance(tol)?;
        if beta.len() != d {
            return Err(BasisPursuitError::BetaLength { len: beta.len(), d });
        }
        if lambda.len() != n {
            return Err(BasisPursuitError::LambdaLength {
                len: lambda.len(),
                n,
            });
        }
        check_finite("beta", beta)?;
        check_finite("lambda", lambda)?;
        Ok(self.certificate(beta, lambda, tol))
    }

    /// Certify a known primal–dual pair for (possibly different) weights without
    /// solving an LP: the support refinement of [`basis_pursuit`] is run from
    /// `(beta_start, lambda_start)` (e.g. the solution for other weights) and the
    /// KKT certificate is checked on the full problem. `Ok(None)`: the pair
    /// does not lead to a certified solution for these weights (solve with
    /// [`BasisPursuitProblem::solve`] instead).
    pub fn solve_from(
        &self,
        tol: f64,
        beta_start: &[f64],
        lambda_start: &[f64],
    ) -> Result<Option<BasisPursuit>, BasisPursuitError> {
        let (n, d) = (self.n, self.d);
        validate_tolerance(tol)?;
        if beta_start.len() != d {
            return Err(BasisPursuitError::BetaLength {
                len: beta_start.len(),
                d,
            });
        }
        if lambda_start.len() != n {
            return Err(BasisPursuitError::LambdaLength {
                len: lambda_start.len(),
                n,
            });
        }
        check_finite("beta", beta_start)?;
        check_finite("lambda", lambda_start)?;
        Ok(self.refine(beta_start, lambda_start, tol).map(|r| {
            self.assemble(
                r.beta,
                r.lambda,
                r.support,
                r.certificate,
                true,
                "Reused".to_string(),
                0,
            )
        }))
    }
}

// ---------------------------------------------------------------------------
// validation

fn validate_problem(
    x: &[f64],
    n: usize,
    d: usize,
    y: &[f64],
    weights: Option<&[f64]>,
) -> Result<Vec<f64>, BasisPursuitError> {
    if n == 0 {
        return Err(BasisPursuitError::EmptyDimension { name: "n" });
    }
    if d == 0 {
        return Err(BasisPursuitError::EmptyDimension { name: "d" });
    }
    let expected = n.saturating_mul(d);
    if x.len() != expected {
        return Err(BasisPursuitError::XLength {
            len: x.len(),
            n,
            d,
            expected,
        });
    }
    if y.len() != n {
        return Err(BasisPursuitError::YLength { len: y.len(), n });
    }
    if let Some((k, value)) = first_non_finite(x) {
        return Err(BasisPursuitError::NonFiniteX {
            row: k / d,
            col: k % d,
            value,
        });
    }
    check_finite("y", y)?;
    match weights {
        None => Ok(vec![1.0; d]),
        Some(w) => {
            if w.len() != d {
                return Err(BasisPursuitError::WeightsLength { len: w.len(), d });
            }
            check_finite("weights", w)?;
            if let Some(index) = w.iter().position(|&v| v <= 0.0) {
                return Err(BasisPursuitError::NonPositiveWeight {
                    index,
                    value: w[index],
                });
            }
            Ok(w.to_vec())
        }
    }
}

fn check_finite(name: &'static str, v: &[f64]) -> Result<(), BasisPursuitError> {
    first_non_finite(v).map_or(Ok(()), |(index, value)| {
        Err(BasisPursuitError::NonFinite { name, index, value })
    })
}

fn validate_tolerance(tol: f64) -> Result<(), BasisPursuitError> {
    if tol.is_finite() && tol > 0.0 {
        Ok(())
    } else {
        Err(BasisPursuitError::InvalidTolerance { value: tol })
    }
}

// ---------------------------------------------------------------------------
// the solver: interior-point LP, column generation, support refinement,
// certificate

/// Relative margin of the pricing step: columns with `|X_jᵀλ| > (1 − margin)
/// c_j` enter the working set (near-active ones too, so that the restricted
/// interior-point dual cannot hide an active column).
const PRICING_MARGIN: f64 = 1e-6;
/// Rounds of column generation before falling back to the full LP.
const MAX_PRICING_ROUNDS: usize = 60;

/// A clarabel solution mapped back to `(β, λ)`.
struct RawSolution {
    beta: Vec<f64>,
    lambda: Vec<f64>,
    status: SolverStatus,
    iterations: u32,
}

/// A refined primal–dual pair that passed the certificate.
struct Refined {
    beta: Vec<f64>,
    lambda: Vec<f64>,
    support: Vec<usize>,
    certificate: Certificate,
}

fn support_of(beta: &[f64], tol: f64) -> Vec<usize> {
    let threshold = tol * max_abs(beta);
    (0..beta.len())
        .filter(|&j| beta[j].abs() > threshold)
        .collect()
}

impl BasisPursuitProblem<'_> {
    /// Solve `min cᵀp + cᵀq` s.t. `X(p − q) = y`, `p, q ≥ 0` with clarabel.
    ///
    /// Clarabel form: `min qᵀz` s.t. `Az + s = b`, `s ∈ {0}^n × R_+^{2d}` with
    /// `A = [X, −X; −I, 0; 0, −I]`, `b = (y, 0, 0)`. Its stationarity condition
    /// `[c; c] + Aᵀz_dual = 0` gives `c ± Xᵀz_eq ≥ 0`, so `λ = −z_eq` is the
    /// basis-pursuit dual (`|Xᵀλ| ≤ c`, dual objective `yᵀλ`).
    fn solve_lp(&self) -> Result<RawSolution, BasisPursuitError> {
        let Self { x, n, d, y, .. } = *self;
        let c = &self.c;
        let y_scale = max_abs(y);
        let c_scale = c.iter().cloned().fold(0.0, f64::max);
        let nvar = 2 * d;
        let ncon = n + 2 * d;

        let mut colptr = Vec::with_capacity(nvar + 1);
        let mut rowval = Vec::with_capacity(2 * (n + 1) * d);
        let mut nzval = Vec::with_capacity(2 * (n + 1) * d);
        colptr.push(0);
        for (half, sign) in [(0usize, 1.0f64), (1, -1.0)] {
            for j in 0..d {
                for i in 0..n {
                    let v = x[i * d + j];
                    if v != 0.0 {
                        rowval.push(i);
                        nzval.push(sign * v);
                    }
                }
                rowval.push(n + half * d + j);
                nzval.push(-1.0);
                colptr.push(rowval.len());
            }
        }
        let a = CscMatrix::new(ncon, nvar, colptr, rowval, nzval);
        let p = CscMatrix::<f64>::zeros((nvar, nvar));
        let q: Vec<f64> = c.iter().chain(c).map(|&v| v / c_scale).collect();
        let mut b = vec![0.0; ncon];
        for (bi, &yi) in b.iter_mut().zip(y) {
            *bi = yi / y_scale;
        }
        let cones = [
            SupportedConeT::ZeroConeT(n),
            SupportedConeT::NonnegativeConeT(2 * d),
        ];
        let settings = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(SOLVER_MAX_ITER)
            .tol_gap_abs(SOLVER_TOLERANCE)
            .tol_gap_rel(SOLVER_TOLERANCE)
            .tol_feas(SOLVER_TOLERANCE)
            .tol_ktratio(1e-8)
            .build()
            .map_err(|e| BasisPursuitError::SolverSetup {
                message: e.to_string(),
            })?;
        let mut solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings).map_err(|e| {
            BasisPursuitError::SolverSetup {
                message: e.to_string(),
            }
        })?;
        solver.solve();
        let sol = &solver.solution;
        let beta = (0..d)
            .map(|j| y_scale * (sol.x[j] - sol.x[d + j]))
            .collect();
        let lambda = sol.z[..n].iter().map(|&z| -c_scale * z).collect();
        Ok(RawSolution {
            beta,
            lambda,
            status: sol.status,
            iterations: sol.iterations,
        })
    }

    /// Column generation for the LP (see [`LpMethod::ColumnGeneration`]).
    /// `Ok(None)`: it did not settle (the caller solves the full LP).
    fn solve_lp_column_generation(&self) -> Result<Option<RawSolution>, BasisPursuitError> {
        let Self { x, n, d, y, .. } = *self;
        let c = &self.c;
        let all: Vec<usize> = (0..d).collect();
        let score = self.transpose_times_rows(y);
        let mut order: Vec<usize> = all.clone();
        order.sort_by(|&a, &b| {
            (score[b].abs() / c[b])
                .total_cmp(&(score[a].abs() / c[a]))
                .then(a.cmp(&b))
        });
        let batch = (4 * n).max(64);
        let mut working: Vec<usize> = order[..batch.min(d)].to_vec();
        let mut in_set = vec![false; d];
        for &j in &working {
            in_set[j] = true;
        }
        let mut iterations = 0;
        for _ in 0..MAX_PRICING_ROUNDS {
            working.sort_unstable();
            let k = working.len();
            let mut xw = Vec::with_capacity(n * k);
            for i in 0..n {
                let row = &x[i * d..(i + 1) * d];
                xw.extend(working.iter().map(|&j| row[j]));
            }
            let cw: Vec<f64> = working.iter().map(|&j| c[j]).collect();
            let raw = BasisPursuitProblem {
                x: &xw,
                n,
                d: k,
                y,
                c: cw,
            }
            .solve_lp()?;
            iterations += raw.iterations;
            let solved = matches!(
                raw.status,
                SolverStatus::Solved | SolverStatus::AlmostSolved
            ) && raw.beta.iter().chain(&raw.lambda).all(|v| v.is_finite());
            let mut entering: Vec<(f64, usize)> = if solved {
                let xt_lambda = self.transpose_times_rows(&raw.lambda);
                (0..d)
                    .filter(|&j| !in_set[j])
                    .map(|j| (xt_lambda[j].abs() / c[j], j))
                    .filter(|&(ratio, _)| ratio > 1.0 - PRICING_MARGIN)
                    .collect()
            } else {
                // Restricted problem infeasible (or not solved): grow the set.
                order
                    .iter()
                    .filter(|&&j| !in_set[j])
                    .map(|&j| (0.0, j))
                    .collect()
            };
            if solved && entering.is_empty() {
                let mut beta = vec![0.0; d];
                for (&j, &b) in working.iter().zip(&raw.beta) {
                    beta[j] = b;
                }
                return Ok(Some(RawSolution {
                    beta,
                    lambda: raw.lambda,
                    status: raw.status,
                    iterations,
                }));
            }
            if entering.is_empty() {
                return Ok(None);
            }
            entering.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for &(_, j) in entering.iter().take(batch) {
                in_set[j] = true;
                working.push(j);
            }
        }
        Ok(None)
    }

    /// `Xᵀλ` for the row-major `n×d` matrix (row by row, cache friendly).
    fn transpose_times_rows(&self, lambda: &[f64]) -> Vec<f64> {
        let (x, n, d) = (self.x, self.n, self.d);
        let mut out = vec![0.0; d];
        for (i, &l) in lambda.iter().enumerate().take(n) {
            for (o, &v) in out.iter_mut().zip(&x[i * d..(i + 1) * d]) {
                *o += v * l;
            }
        }
        out
    }

    /// Try the gap-ranked candidate supports; return the first refined pair that
    /// passes the certificate.
    fn refine(&self, beta_raw: &[f64], lambda_raw: &[f64], tol: f64) -> Option<Refined> {
        let Self { n, d, y, .. } = *self;
        let c = &self.c;
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| beta_raw[b].abs().total_cmp(&beta_raw[a].abs()));
        let mut candidates: Vec<(f64, usize)> = (1..=n.min(d))
            .filter_map(|k| {
                let hi = beta_raw[order[k - 1]].abs();
                let lo = if k < d { beta_raw[order[k]].abs() } else { 0.0 };
                (hi > 0.0).then(|| (if lo > 0.0 { hi / lo } else { f64::INFINITY }, k))
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.truncate(MAX_SUPPORT_CANDIDATES);

        for &(_, k) in &candidates {
            let mut support = order[..k].to_vec();
            support.sort_unstable();
            let qr = SupportQr::new(self.columns(&support), n, k);
            if !qr.full_column_rank() {
                continue;
            }
            let Some(beta_s) = qr.least_squares(y) else {
                continue;
            };
            let signs_agree = support
                .iter()
                .zip(&beta_s)
                .all(|(&j, &b)| b != 0.0 && b.signum() == beta_raw[j].signum());
            if !signs_agree {
                continue;
            }
            let mut beta = vec![0.0; d];
            for (&j, &b) in support.iter().zip(&beta_s) {
                beta[j] = b;
            }
            // Target X_Sᵀλ = g := c_S ⊙ sign(β_S).
            let g: Vec<f64> = support.iter().map(|&j| c[j] * beta[j].signum()).collect();
            // (a) smallest correction of clarabel's dual: λ_raw + X_S(X_SᵀX_S)⁻¹(g − X_Sᵀλ_raw)
            let xs_t_lambda = self.transpose_times(&support, lambda_raw);
            let defect: Vec<f64> = g.iter().zip(&xs_t_lambda).map(|(a, b)| a - b).collect();
            let Some(correction) = qr.min_norm_transpose_solve(&defect) else {
                continue;
            };
            let projected: Vec<f64> = lambda_raw
                .iter()
                .zip(&correction)
                .map(|(a, b)| a + b)
                .collect();
            // (b) minimum-norm solution of X_Sᵀλ = g.
            let Some(min_norm) = qr.min_norm_transpose_solve(&g) else {
                continue;
            };

            let mut best: Option<(Vec<f64>, Certificate)> = None;
            for lambda in [projected, min_norm] {
                let cert = self.certificate(&beta, &lambda, tol);
                let better = match &best {
                    None => cert.ok,
                    Some((_, b)) => {
                        cert.ok
                            && cert.strict_complementarity_margin > b.strict_complementarity_margin
                    }
                };
                if better {
                    best = Some((lambda, cert));
                }
            }
            if let Some((lambda, certificate)) = best {
                return Some(Refined {
                    beta,
                    lambda,
                    support,
                    certificate,
                });
            }
        }
        None
    }

    fn certificate(&self, beta: &[f64], lambda: &[f64], tol: f64) -> Certificate {
        let Self { x, n, d, y, .. } = *self;
        let c = &self.c;
        let beta_max = max_abs(beta);
        let threshold = tol * beta_max;

        let mut residual = y.iter().map(|&v| -v).collect::<Vec<f64>>();
        for (i, r) in residual.iter_mut().enumerate() {
            let row = &x[i * d..(i + 1) * d];
            *r += row.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>();
        }
        let primal_residual = norm2(&residual);
        let y_norm = norm2(y);

        let xt_lambda = self.transpose_times(&(0..d).collect::<Vec<_>>(), lambda);
        let objective: f64 = c.iter().zip(beta).map(|(c, b)| c * b.abs()).sum();
        let dual_objective: f64 = y.iter().zip(lambda).map(|(a, b)| a * b).sum();
        let duality_gap = (objective - dual_objective).abs();

        let mut max_support_violation: f64 = 0.0;
        let mut max_offsupport_slack_violation: f64 = 0.0;
        let mut strict_complementarity_margin = f64::INFINITY;
        let mut support = Vec::new();
        for j in 0..d {
            if beta[j].abs() > threshold {
                support.push(j);
                let v = (xt_lambda[j] - c[j] * beta[j].signum()).abs() / c[j];
                max_support_violation = max_support_violation.max(v);
            } else {
                let slack = (c[j] - xt_lambda[j].abs()) / c[j];
                max_offsupport_slack_violation = max_offsupport_slack_violation.max(-slack);
                strict_complementarity_margin = strict_complementarity_margin.min(slack);
            }
        }
        let support_injective = support.len() <= n
            && SupportQr::new(self.columns(&support), n, support.len()).full_column_rank();

        let ok = primal_residual <= tol * y_norm
            && duality_gap <= tol * objective.max(dual_objective.abs())
            && max_support_violation <= tol
            && max_offsupport_slack_violation <= tol;
        let unique = ok && strict_complementarity_margin > tol && support_injective;
        Certificate {
            ok,
            primal_residual,
            duality_gap,
            max_support_violation,
            max_offsupport_slack_violation,
            strict_complementarity_margin,
            support_injective,
            unique,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        &self,
        beta: Vec<f64>,
        lambda: Vec<f64>,
        support: Vec<usize>,
        certificate: Certificate,
        refined: bool,
        solver_status: String,
        solver_iterations: u32,
    ) -> BasisPursuit {
        let (y, c) = (self.y, &self.c);
        let objective = c.iter().zip(&beta).map(|(c, b)| c * b.abs()).sum();
        let dual_objective = y.iter().zip(&lambda).map(|(a, b)| a * b).sum();
        BasisPursuit {
            beta,
            dual: lambda,
            support,
            objective,
            dual_objective,
            primal_residual: certificate.primal_residual,
            duality_gap: certificate.duality_gap,
            certificate,
            refined,
            solver_status,
            solver_iterations,
        }
    }

    /// Columns `cols` of the row-major `n×d` matrix as a column-major `n×|cols|` array.
    fn columns(&self, cols: &[usize]) -> Vec<f64> {
        let (x, n, d) = (self.x, self.n, self.d);
        let mut out = Vec::with_capacity(n * cols.len());
        for &j in cols {
            out.extend((0..n).map(|i| x[i * d + j]));
        }
        out
    }

    /// `(X_{:,cols})ᵀ λ`.
    fn transpose_times(&self, cols: &[usize], lambda: &[f64]) -> Vec<f64> {
        let (x, n, d) = (self.x, self.n, self.d);
        cols.iter()
            .map(|&j| (0..n).map(|i| x[i * d + j] * lambda[i]).sum())
            .collect()
    }
}

// ---------------------------------------------------------------------------
// small dense linear algebra

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, a| m.max(a.abs()))
}

fn norm2(v: &[f64]) -> f64 {
    // scaled to avoid overflow/underflow
    let scale = max_abs(v);
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    scale
        * v.iter()
            .map(|a| (a / scale) * (a / scale))
            .sum::<f64>()
            .sqrt()
}

/// QR `A = Q R` of a column-major `n×k` matrix with `k ≤ n` (`X_S`),
/// nalgebra's Householder [`nalgebra::linalg::QR`].
struct SupportQr {
    qr: nalgebra::linalg::QR<f64, nalgebra::Dyn, nalgebra::Dyn>,
    r: nalgebra::DMatrix<f64>,
    max_column_norm: f64,
}

impl SupportQr {
    fn new(a: Vec<f64>, n: usize, k: usize) -> Self {
        debug_assert!(k <= n && a.len() == n * k);
        let max_column_norm = (0..k)
            .map(|j| norm2(&a[j * n..(j + 1) * n]))
            .fold(0.0, f64::max);
        let qr = nalgebra::DMatrix::from_vec(n, k, a).qr();
        let r = qr.r();
        Self {
            qr,
            r,
            max_column_norm,
        }
    }

    fn full_column_rank(&self) -> bool {
        (0..self.r.ncols()).all(|j| self.r[(j, j)].abs() > RANK_TOLERANCE * self.max_column_norm)
    }

    /// `argmin_z ‖A z − b‖₂` (`None` if `R` is singular).
    fn least_squares(&self, b: &[f64]) -> Option<Vec<f64>> {
        let k = self.r.ncols();
        let mut qtb = nalgebra::DVector::from_column_slice(b);
        self.qr.q_tr_mul(&mut qtb);
        let z = self
            .r
            .solve_upper_triangular(&qtb.rows(0, k).into_owned())?;
        Some(z.as_slice().to_vec())
    }

    /// Minimum-norm solution of `Aᵀ λ = g`: `λ = Q₁ R⁻ᵀ g` (`None` if `R` is
    /// singular).
    fn min_norm_transpose_solve(&self, g: &[f64]) -> Option<Vec<f64>> {
        let w = self
            .r
            .tr_solve_upper_triangular(&nalgebra::DVector::from_column_slice(g))?;
        Some((self.qr.q() * w).as_slice().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn qr_least_squares_and_min_norm() {
        // A = [[1, 2], [3, 4], [5, 7]] (column-major below)
        let a = vec![1.0, 3.0, 5.0, 2.0, 4.0, 7.0];
        let qr = SupportQr::new(a.clone(), 3, 2);
        assert!(qr.full_column_rank());
        // consistent system: b = A (1, -1)
        let b = [-1.0, -1.0, -2.0];
        let z = qr.least_squares(&b).unwrap();
        assert!((z[0] - 1.0).abs() < 1e-14 && (z[1] + 1.0).abs() < 1e-14);
        // Aᵀλ = g, λ in range(A)
        let g = [1.0, -2.0];
        let lambda = qr.min_norm_transpose_solve(&g).unwrap();
        let atl = [dot(&a[0..3], &lambda), dot(&a[3..6], &lambda)];
        assert!((atl[0] - g[0]).abs() < 1e-13 && (atl[1] - g[1]).abs() < 1e-13);
        // λ ⟂ null(Aᵀ): null(Aᵀ) is spanned by the cross product of the columns
        let nvec = [
            3.0 * 7.0 - 5.0 * 4.0,
            5.0 * 2.0 - 1.0 * 7.0,
            4.0 - 3.0 * 2.0,
        ];
        assert!(dot(&nvec, &lambda).abs() < 1e-13);
    }

    #[test]
    fn qr_detects_rank_deficiency() {
        let a = vec![1.0, 2.0, 3.0, 2.0, 4.0, 6.0];
        assert!(!SupportQr::new(a, 3, 2).full_column_rank());
        assert!(!SupportQr::new(vec![0.0; 3], 3, 1).full_column_rank());
    }
}
