//! What the test suites share: the one float-comparison macro
//! ([`assert_close!`]), the small problems most tests start from, bit views of
//! records, and the derivative checks every model must pass (in any scalar
//! type). Include with `#[macro_use] mod common;`.
#![allow(dead_code, unused_macros)] // each test crate uses its own subset

use latedecay::model::{finite_difference_gradient, Model, Problem};
use latedecay::scalar::Real;
use proptest::prelude::*;

/// The configuration of every property test: `cases` cases drawn from a
/// fixed seed, so `cargo test` (and CI) sees the same inputs on every run and
/// machine. `PROPTEST_RNG_SEED=N` explores other inputs; keep a failing case
/// in the file's `.proptest-regressions` (as `tests/mlp.proptest-regressions`
/// keeps the GELU case that exposed statrs' discontinuous erf).
pub fn prop_config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(cases);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(20_261_201);
    }
    config
}

/// A trend criterion of `metric` with the registered thresholds of C1–C4
/// (ρ ≤ `TREND_MAX_RHO`, relative drop ≥ `TREND_MIN_RELATIVE_DECREASE`).
pub fn registered_trend(
    metric: latedecay::claims::Metric,
    level: Option<latedecay::claims::analysis::LevelSpec>,
) -> latedecay::claims::analysis::TrendSpec {
    latedecay::claims::analysis::TrendSpec {
        metric,
        max_rho: latedecay::claims::registry::TREND_MAX_RHO,
        min_relative_decrease: latedecay::claims::registry::TREND_MIN_RELATIVE_DECREASE,
        level,
    }
}

/// The `model`, `[data]` and `[sgd]` sections of the small diagonal
/// experiment of the config and CLI tests (n = 8, d = 20, normalized
/// columns, label noise σ = 1, η 0.02 → 0.002 at step 2000), as a literal for
/// `concat!` (each suite appends its own `[run]` and `[sweep]`).
macro_rules! small_diagonal_toml {
    () => {
        r#"model = "diagonal"
[data]
source = "synthetic"
n = 8
d = 20
normalize_columns = true
[sgd]
batch_size = 1
label_noise_sigma = 1.0
schedule = { kind = "step_decay", lr = 0.02, lr_after = 0.002, decay_step = 2000 }
"#
    };
}

/// What a bit-identity test compares with its generic-path reference
/// (computed on `Level::Scalar`, which runs that path itself): every vector
/// level on 2 threads, and on 1 thread as well on the level the CPU selects
/// (the thread count only splits independent cases among the threads).
pub fn vector_levels_and_threads() -> Vec<(latedecay::simd::Level, usize)> {
    use latedecay::simd::{self, Level};
    let mut runs = Vec::new();
    for level in simd::available()
        .into_iter()
        .filter(|&l| l != Level::Scalar)
    {
        if level == simd::detected() {
            runs.push((level, 1));
        }
        runs.push((level, 2));
    }
    runs
}

/// `work` on a rayon pool of `threads` threads.
pub fn on_threads<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(work)
}

/// The `latedecay` binary of this build.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_latedecay"))
}

/// A fresh temporary directory holding the config `c.toml` with `text`:
/// (the directory, the config's path).
pub fn config_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, text).unwrap();
    (dir, cfg)
}

/// `latedecay sweep --config cfg --out out` (append flags: `--threads` is
/// global, it may follow the subcommand).
pub fn sweep_cmd(cfg: &std::path::Path, out: &std::path::Path) -> std::process::Command {
    let mut c = bin();
    c.args(["sweep", "--config"]).arg(cfg).arg("--out").arg(out);
    c
}

/// Runs `cmd` and returns its stdout; a non-zero exit fails the test with
/// both outputs.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("binary runs");
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `verify --config` in quick mode: the claims `ids` on the protocol of `cfg`.
pub fn verify_quick(
    cfg: &latedecay::experiment::ExperimentConfig,
    ids: &[&str],
) -> latedecay::claims::VerifyReport {
    use latedecay::claims::{default_registry, Mode, Protocol, VerifyContext};
    let mut registry = default_registry();
    registry.retain_ids(ids);
    let protocol = Protocol::from_config(cfg, Mode::Quick).unwrap();
    registry.verify_with(&VerifyContext::with_protocol(Mode::Quick, protocol))
}

/// The row `id` of `report`, which must have a measured verdict (PASS or
/// FAIL: the claim ran; which one is not the point of the caller).
pub fn measured_row<'a>(
    report: &'a latedecay::claims::VerifyReport,
    id: &str,
) -> &'a latedecay::claims::ClaimRow {
    use latedecay::claims::Verdict;
    let row = report.row(id).unwrap();
    assert!(
        matches!(row.verdict, Verdict::Pass | Verdict::Fail),
        "{id}: {:?}: {}\n{}",
        row.verdict,
        row.evidence,
        report.to_table()
    );
    row
}

/// The `[sgd]` section of the small TOML experiments: B = 1, label noise
/// `sigma`, η `lr` → `lr_after` at step `decay_step` (floats written with
/// `{:?}`, so 1.0 stays a TOML float).
pub fn sgd_toml(sigma: f64, lr: f64, lr_after: f64, decay_step: u64) -> String {
    format!(
        "[sgd]\nbatch_size = 1\nlabel_noise_sigma = {sigma:?}\nschedule = {{ kind = \"step_decay\", \
         lr = {lr:?}, lr_after = {lr_after:?}, decay_step = {decay_step} }}\n"
    )
}

/// |given − expected| ≤ tol (for `prop_assert!`; elsewhere [`assert_close!`]).
pub fn close(given: f64, expected: f64, tol: f64) -> bool {
    (given - expected).abs() <= tol
}

/// The tolerance policy of every test: `assert_close!(given, expected, abs = ε)`
/// passes when |given − expected| ≤ ε; `rel = r` when
/// |given − expected| ≤ r·|expected| (relative to the *expected* value, so a
/// tolerance reads as a fraction of the reference). NaN never passes. An
/// optional message with format arguments follows, as in `assert!`. Both
/// sides may be `f64` or `&f64`.
macro_rules! assert_close {
    ($given:expr, $expected:expr, abs = $tol:expr $(,)?) => {
        assert_close!(@check $given, $expected, $tol, 0.0, "")
    };
    ($given:expr, $expected:expr, rel = $tol:expr $(,)?) => {
        assert_close!(@check $given, $expected, 0.0, $tol, "")
    };
    ($given:expr, $expected:expr, abs = $tol:expr, $($msg:tt)+) => {
        assert_close!(@check $given, $expected, $tol, 0.0, format!($($msg)+))
    };
    ($given:expr, $expected:expr, rel = $tol:expr, $($msg:tt)+) => {
        assert_close!(@check $given, $expected, 0.0, $tol, format!($($msg)+))
    };
    (@check $given:expr, $expected:expr, $abs:expr, $rel:expr, $msg:expr) => {{
        let given: f64 = *::std::borrow::Borrow::<f64>::borrow(&$given);
        let expected: f64 = *::std::borrow::Borrow::<f64>::borrow(&$expected);
        let (abs, rel): (f64, f64) = ($abs, $rel);
        let diff = (given - expected).abs();
        let allowed = abs + rel * expected.abs();
        assert!(
            diff <= allowed,
            "assert_close!({}, {}): {given:e} vs {expected:e}, |diff| = {diff:e} > {}{}{}",
            stringify!($given),
            stringify!($expected),
            if rel > 0.0 { format!("rel {rel:e} (= {allowed:e})") } else { format!("abs {abs:e}") },
            if $msg.is_empty() { "" } else { ": " },
            $msg
        );
    }};
}

/// The bits of every f64 field of a record (NaN included), for bit-identity
/// checks between runs.
pub fn record_bits(r: &latedecay::probe::Record) -> Vec<u64> {
    [
        r.lr,
        r.sde_time,
        r.flow_time,
        r.train_loss,
        r.test_loss,
        r.norm,
        r.beta_l1,
        r.residual_norm,
        r.dist_minnorm,
    ]
    .iter()
    .map(|v| v.to_bits())
    .collect()
}

/// max_i |a_i − b_i| / max(1, max_i |b_i|).
pub fn max_rel_err<R: Real>(a: &[R], b: &[R]) -> f64 {
    let scale = b.iter().map(|v| v.to_f64().abs()).fold(1.0, f64::max);
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let mut d = x.clone();
            d -= y;
            d.to_f64().abs() / scale
        })
        .fold(0.0, f64::max)
}

/// Central finite differences (step `h`) of the prediction f(θ; x) in θ.
pub fn fd_prediction_gradient<R: Real, M: Model<R>>(
    model: &M,
    x: &[R],
    theta: &[R],
    h: f64,
    ctx: R::Ctx,
) -> Vec<R> {
    finite_difference_gradient(
        |t: &[R]| {
            let mut ws = model.workspace(ctx);
            let mut out = R::zero(ctx);
            model.predict_into(t, x, &mut out, &mut ws);
            out
        },
        theta,
        h,
    )
}

/// The derivative identities every model must satisfy at θ: ∇f_i and ∇L
/// against central finite differences (step `h`, tolerance `tol`), and
/// `descend` = θ − Σ_b c_b ∇f_b(θ_old) for B = 1 and B = 3 (to `tol · 1e-3`).
pub fn check_model_derivatives<R: Real, M: Model<R>>(
    problem: &Problem<R, M>,
    theta: &[R],
    h: f64,
    tol: f64,
) -> Result<(), TestCaseError> {
    let ctx = problem.ctx();
    let model = &problem.model;
    let dim = problem.dim();
    let mut ws = model.workspace(ctx);
    for i in 0..problem.n() {
        let x = problem.data.x.row(i).to_vec();
        let mut grad = vec![R::zero(ctx); dim];
        model.grad_into(theta, &x, &mut grad, &mut ws);
        let fd = fd_prediction_gradient(model, &x, theta, h, ctx);
        prop_assert!(max_rel_err(&grad, &fd) < tol, "∇f mismatch at sample {i}");
    }
    // ∇L = Jᵀr/n against finite differences of L.
    let grad_l = problem.gradient(theta);
    let fd_l = finite_difference_gradient(|t: &[R]| problem.train_loss(t), theta, h);
    prop_assert!(max_rel_err(&grad_l, &fd_l) < tol, "∇L mismatch");
    // descend = θ − Σ_b c_b ∇f_b(θ_old), for B = 1 and B = 3.
    for batch_rows in [vec![1usize], vec![0, 2, 1]] {
        let batch: Vec<(usize, R)> = batch_rows
            .iter()
            .enumerate()
            .map(|(b, &row)| (row, R::from_f64(0.01 * (b as f64 + 1.0), ctx)))
            .collect();
        let mut expected = theta.to_vec();
        let mut grad = vec![R::zero(ctx); dim];
        for (row, coef) in &batch {
            model.grad_into(theta, problem.data.x.row(*row), &mut grad, &mut ws);
            for (e, g) in expected.iter_mut().zip(&grad) {
                e.sub_mul(coef, g);
            }
        }
        let mut stepped = theta.to_vec();
        model.descend(&mut stepped, &problem.data.x, &batch, &mut ws);
        prop_assert!(
            max_rel_err(&stepped, &expected) < tol * 1e-3,
            "descend mismatch"
        );
    }
    Ok(())
}

/// The synthetic Gaussian design (n × d, default spectrum and β*), with the
/// data seed `seed` and optionally normalized columns: the small problem most
/// tests start from.
pub fn seeded_design(
    n: usize,
    d: usize,
    seed: u64,
    normalize_columns: bool,
) -> latedecay::data::Dataset<f64> {
    latedecay::data::Dataset::synthetic(&latedecay::data::SyntheticConfig {
        n,
        d,
        seed,
        normalize_columns,
        ..Default::default()
    })
    .expect("valid synthetic design")
}

/// A row-major n × d matrix of i.i.d. N(0, 1/n) entries (columns of norm
/// ≈ 1) from `StdRng` seeded with `seed`: the LP and θ_mn instances.
pub fn gaussian_matrix(seed: u64, n: usize, d: usize) -> Vec<f64> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let scale = 1.0 / (n as f64).sqrt();
    (0..n * d)
        .map(|_| scale * rng.sample::<f64, _>(rand_distr::StandardNormal))
        .collect()
}

/// Xβ for a row-major n × d matrix X.
pub fn mat_vec(x: &[f64], n: usize, d: usize, beta: &[f64]) -> Vec<f64> {
    (0..n)
        .map(|i| (0..d).map(|j| x[i * d + j] * beta[j]).sum())
        .collect()
}

/// [`seeded_design`] with the default data seed and raw columns.
pub fn design(n: usize, d: usize) -> latedecay::data::Dataset<f64> {
    let seed = latedecay::data::SyntheticConfig::default().seed;
    seeded_design(n, d, seed, false)
}

/// [`seeded_design`] with the default data seed and normalized columns.
pub fn normalized_design(n: usize, d: usize) -> latedecay::data::Dataset<f64> {
    let seed = latedecay::data::SyntheticConfig::default().seed;
    seeded_design(n, d, seed, true)
}

/// `steps` steps of `method` from a fresh state, `start` = (θ₀, noise seed),
/// recorded at `plan` by `probe`, without a progress callback.
pub fn run_from<R: Real, M: Model<R>, P: latedecay::probe::Probe<R>>(
    problem: &Problem<R, M>,
    method: &latedecay::dynamics::sgd::Sgd,
    (theta0, seed): (Vec<R>, u64),
    steps: u64,
    plan: latedecay::dynamics::sgd::RecordPlan,
    probe: &mut P,
) -> latedecay::dynamics::sgd::SgdRun<R> {
    let mut state = latedecay::dynamics::sgd::SgdState::new(theta0, seed, problem.n(), method);
    latedecay::dynamics::sgd::run_sgd(problem, method, &mut state, steps, plan, probe, |_| {})
}

/// Label-noise SGD (the default noise model) with batch size `batch_size`,
/// label-noise σ `sigma`, `sampling` and `schedule`.
pub fn sgd(
    batch_size: usize,
    sigma: f64,
    sampling: latedecay::noise::Sampling,
    schedule: latedecay::schedule::Schedule,
) -> latedecay::dynamics::sgd::Sgd {
    latedecay::dynamics::sgd::Sgd {
        noise: Default::default(),
        batch_size,
        label_noise_sigma: sigma,
        sampling,
        schedule,
    }
}
