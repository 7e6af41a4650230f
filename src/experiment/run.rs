//! Running experiments: one configuration, many seeds, in f64 or MPFR.

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::checked::Experiment;
use super::config::Init;
use crate::data::Dataset;
use crate::data::HeldOut;
use crate::dynamics::sgd::{run_sgd, RecordPlan, Sgd, SgdError, SgdState, StopReason};
use crate::manifold::{
    flattest_interpolant_reusing, min_norm_interpolant, Interpolant, InterpolantError,
};
use crate::model::{Diagonal, Linear, LinearInX, Mlp, Model, ModelKind, Problem};
use crate::noise::{rng_for, stream};
use crate::probe::{MlpProbe, Probe, Record, RecordPoint, StandardProbe};
use crate::scalar::{Mpfr, Real};

/// Errors of an experiment.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub enum ExperimentError {
    /// Configuration problem.
    Config(#[from] super::config::ConfigError),
    /// Data problem.
    Data(#[from] crate::data::DataError),
    /// Interpolant computation failed.
    Interpolant(#[from] InterpolantError),
    /// SGD setting or divergence.
    #[error("seed {seed}: {source}")]
    Sgd { seed: u64, source: SgdError },
    /// File output.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// Resume refused or corrupt results.
    #[error("{0}")]
    Resume(String),
}

/// A problem with a model chosen at run time.
#[derive(Debug, Clone)]
pub enum AnyProblem<R: Real> {
    /// Linear model.
    Linear(Problem<R, Linear>),
    /// Diagonal network.
    Diagonal(Problem<R, Diagonal>),
    /// Two-layer network.
    Mlp(Problem<R, Mlp>),
}

/// A probe that replaces the test loss of `inner` by the held-out loss
/// ½ · mean (f(x_i; θ) − y_i)² over a test set.
pub struct HeldOutProbe<'a, R: Real, M, P> {
    inner: P,
    model: &'a M,
    heldout: &'a HeldOut<R>,
}

impl<'a, R: Real, M: Model<R>, P: Probe<R>> HeldOutProbe<'a, R, M, P> {
    /// Wrap `inner`.
    pub fn new(inner: P, model: &'a M, heldout: &'a HeldOut<R>) -> Self {
        Self {
            inner,
            model,
            heldout,
        }
    }
}

impl<R: Real, M: Model<R>, P: Probe<R>> Probe<R> for HeldOutProbe<'_, R, M, P> {
    fn measure(&mut self, at: RecordPoint, theta: &[R]) -> Record {
        let mut r = self.inner.measure(at, theta);
        if r.train_loss.is_finite() || r.norm.is_finite() {
            r.test_loss = self.heldout.loss_and_error(self.model, theta).0;
        }
        r
    }
}

impl<R: Real> AnyProblem<R> {
    /// Build from a model kind and data.
    pub fn new(kind: ModelKind, data: Dataset<R>) -> Self {
        let d = data.d();
        match kind {
            ModelKind::Linear => AnyProblem::Linear(Problem::new(Linear::new(d), data)),
            ModelKind::Diagonal => AnyProblem::Diagonal(Problem::new(Diagonal::new(d), data)),
            ModelKind::Mlp => AnyProblem::Mlp(Problem::new(Mlp::new(d, 1), data)),
        }
    }
    /// Build for a configuration (the Mlp takes width and activation from
    /// `[mlp]`; without it, a tanh network of width 1).
    pub fn for_config(cfg: &super::config::ExperimentConfig, data: Dataset<R>) -> Self {
        match (&cfg.mlp, cfg.model) {
            (Some(m), ModelKind::Mlp) => {
                let model = m.model(data.d());
                AnyProblem::Mlp(Problem::new(model, data))
            }
            _ => Self::new(cfg.model, data),
        }
    }
    /// The data.
    pub fn data(&self) -> &Dataset<R> {
        match self {
            AnyProblem::Linear(p) => &p.data,
            AnyProblem::Diagonal(p) => &p.data,
            AnyProblem::Mlp(p) => &p.data,
        }
    }
    /// Parameter dimension.
    pub fn dim(&self) -> usize {
        match self {
            AnyProblem::Linear(p) => p.dim(),
            AnyProblem::Diagonal(p) => p.dim(),
            AnyProblem::Mlp(p) => p.dim(),
        }
    }
    /// Model kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            AnyProblem::Linear(_) => ModelKind::Linear,
            AnyProblem::Diagonal(_) => ModelKind::Diagonal,
            AnyProblem::Mlp(_) => ModelKind::Mlp,
        }
    }
    /// Run SGD from θ₀ with the model's probe (distances to `reference`),
    /// optionally with a held-out test set: the recorded test loss is then
    /// the held-out loss (any model). The Mlp's probe records train loss,
    /// held-out loss (NaN without a test set), ‖θ‖ and ‖r‖; its distances to
    /// θ_mn are NaN (no closed-form θ_mn).
    #[allow(clippy::too_many_arguments)]
    pub fn run_sgd(
        &self,
        method: &Sgd,
        theta0: Vec<R>,
        seed: u64,
        steps: u64,
        plan: RecordPlan,
        reference: Option<&[R]>,
        heldout: Option<&HeldOut<R>>,
        on_progress: impl FnMut(u64),
    ) -> (Vec<R>, Vec<Record>, StopReason) {
        /// One SGD run's settings, handed to the helpers below.
        struct Job<'a, R> {
            method: &'a Sgd,
            theta0: Vec<R>,
            seed: u64,
            steps: u64,
            plan: RecordPlan,
        }
        /// One SGD run of any model with a given probe.
        fn drive<R: Real, M: Model<R>, P: Probe<R>>(
            p: &Problem<R, M>,
            job: Job<'_, R>,
            probe: &mut P,
            on_progress: impl FnMut(u64),
        ) -> (Vec<R>, Vec<Record>, StopReason) {
            let mut state = SgdState::new(job.theta0, job.seed, p.n(), job.method);
            let run = run_sgd(
                p,
                job.method,
                &mut state,
                job.steps,
                job.plan,
                probe,
                on_progress,
            );
            (run.theta, run.records, run.stop)
        }
        /// Models linear in x: the standard probe, wrapped for a held-out set.
        fn linear<R: Real, M: LinearInX<R>>(
            p: &Problem<R, M>,
            job: Job<'_, R>,
            reference: Option<&[R]>,
            heldout: Option<&HeldOut<R>>,
            on_progress: impl FnMut(u64),
        ) -> (Vec<R>, Vec<Record>, StopReason) {
            let mut standard = StandardProbe::new(p, reference);
            match heldout {
                Some(h) => {
                    let mut probe = HeldOutProbe::new(standard, &p.model, h);
                    drive(p, job, &mut probe, on_progress)
                }
                None => drive(p, job, &mut standard, on_progress),
            }
        }
        let job = Job {
            method,
            theta0,
            seed,
            steps,
            plan,
        };
        match self {
            AnyProblem::Mlp(p) => {
                let empty;
                let h = match heldout {
                    Some(h) => h,
                    None => {
                        empty = HeldOut::empty(p.data.d(), p.ctx());
                        &empty
                    }
                };
                let mut probe = MlpProbe::new(p, &h.x, &h.y, false);
                drive(p, job, &mut probe, on_progress)
            }
            AnyProblem::Linear(p) => linear(p, job, reference, heldout, on_progress),
            AnyProblem::Diagonal(p) => linear(p, job, reference, heldout, on_progress),
        }
    }

    /// Held-out loss and classification error (±1 targets; else NaN) of θ.
    pub fn heldout_loss_and_error(&self, h: &HeldOut<R>, theta: &[R]) -> (f64, f64) {
        match self {
            AnyProblem::Linear(p) => h.loss_and_error(&p.model, theta),
            AnyProblem::Diagonal(p) => h.loss_and_error(&p.model, theta),
            AnyProblem::Mlp(p) => h.loss_and_error(&p.model, theta),
        }
    }
}

/// Initial θ for a model, an init rule and a seed.
pub fn initial_theta<R: Real>(init: &Init, dim: usize, seed: u64, ctx: R::Ctx) -> Vec<R> {
    match *init {
        Init::Uniform { scale, u, v } => {
            let half = dim / 2;
            (0..dim)
                .map(|k| {
                    let x = match (k < half, u, v) {
                        (true, Some(u), _) => u,
                        (false, _, Some(v)) => v,
                        _ => scale,
                    };
                    R::from_f64(x, ctx)
                })
                .collect()
        }
        Init::File { ref values, .. } => {
            assert_eq!(values.len(), dim, "init file not loaded by Experiment::new");
            values.iter().map(|&x| R::from_f64(x, ctx)).collect()
        }
        Init::Gaussian { scale } => {
            let mut rng = rng_for(seed, stream::INIT);
            (0..dim)
                .map(|_| {
                    let z: f64 = crate::noise::standard_normal(&mut rng);
                    let mut v = R::from_f64(z, ctx);
                    v *= scale;
                    v
                })
                .collect()
        }
    }
}

/// Data, problem and reference interpolants, prepared once per configuration.
#[derive(Debug, Clone)]
pub struct Prepared<R: Real> {
    /// The problem.
    pub problem: AnyProblem<R>,
    /// θ_mn.
    pub minnorm: Interpolant<R>,
    /// θ_R (flattest).
    pub flattest: Interpolant<R>,
    /// Held-out test set, if any.
    pub heldout: Option<HeldOut<R>>,
    /// The Mlp's init scales (`[mlp]`), for [`Self::initial`].
    pub mlp: Option<crate::model::mlp::MlpSection>,
}

impl<R: Real> Prepared<R> {
    /// The problem and interpolants of a checked experiment in context `ctx`.
    pub fn new(exp: &Experiment, ctx: R::Ctx) -> Result<Self, ExperimentError> {
        let model = exp.config().model;
        let data = exp.data().convert::<R>(ctx);
        let heldout = exp.heldout().map(|h| h.convert::<R>(ctx));
        let (minnorm, flattest) = if model == ModelKind::Mlp || !exp.config().run.reference {
            // Mlp: no closed-form θ_mn or θ_R; `[run] reference = false`: not
            // wanted. No LP is solved for them.
            (Interpolant::unavailable(ctx), Interpolant::unavailable(ctx))
        } else {
            let minnorm = min_norm_interpolant(model, &data)?;
            // θ_R from θ_mn's solution when that certifies (no second LP).
            let flattest = flattest_interpolant_reusing(model, &data, &minnorm)?;
            (minnorm, flattest)
        };
        Ok(Self {
            problem: AnyProblem::for_config(exp.config(), data),
            minnorm,
            flattest,
            heldout,
            mlp: exp.config().mlp.clone(),
        })
    }

    /// Initial θ of a seed: `[mlp]` init for the Mlp, else `init`.
    pub fn initial(&self, init: &Init, seed: u64, ctx: R::Ctx) -> Vec<R> {
        match (&self.problem, &self.mlp) {
            (AnyProblem::Mlp(p), Some(m)) => p.model.gaussian_init(seed, m.w_scale, m.a_scale, ctx),
            _ => initial_theta::<R>(init, self.problem.dim(), seed, ctx),
        }
    }

    /// Held-out classification error of θ (±1 test targets), else NaN.
    pub fn heldout_error(&self, theta: &[R]) -> f64 {
        match &self.heldout {
            Some(h)
                if h.is_binary() && !theta.is_empty() && theta.iter().all(|t| t.is_finite()) =>
            {
                self.problem.heldout_loss_and_error(h, theta).1
            }
            _ => f64::NAN,
        }
    }
    /// Run one seed from the configured initialization, with the standard probe
    /// (distances to θ_mn); advances `bar` by the steps taken.
    #[allow(clippy::too_many_arguments)]
    pub fn run_seed(
        &self,
        init: &Init,
        method: &Sgd,
        seed: u64,
        steps: u64,
        plan: RecordPlan,
        ctx: R::Ctx,
        bar: &ProgressBar,
    ) -> (SeedSummary, Vec<Record>) {
        let theta0 = self.initial(init, seed, ctx);
        let mut last = 0;
        let reference = (!self.minnorm.theta.is_empty()).then_some(&self.minnorm.theta[..]);
        let (theta, records, stop) = self.problem.run_sgd(
            method,
            theta0,
            seed,
            steps,
            plan,
            reference,
            self.heldout.as_ref(),
            |k| {
                bar.inc(k - last);
                last = k;
            },
        );
        bar.inc(steps.saturating_sub(last));
        let completed = stop == StopReason::Completed;
        let mut summary = summarize(seed, &records, stop, self.minnorm.norm.to_f64());
        if completed {
            summary.test_error = self.heldout_error(&theta);
        }
        (summary, records)
    }

    /// Reference numbers in f64.
    pub fn reference(&self) -> ReferenceValues {
        let data = self.problem.data();
        let nan = f64::NAN;
        ReferenceValues {
            minnorm_norm: self.minnorm.norm.to_f64(),
            minnorm_test_loss: data
                .test_loss(&self.minnorm.beta)
                .map_or(nan, |v| v.to_f64()),
            flattest_norm: self.flattest.norm.to_f64(),
            flattest_test_loss: data
                .test_loss(&self.flattest.beta)
                .map_or(nan, |v| v.to_f64()),
            null_risk: data.null_risk().map_or(nan, |v| v.to_f64()),
            optimal_risk: 0.5 * data.target_noise_sigma * data.target_noise_sigma,
            minnorm_certificate_ok: self.minnorm.certificate_ok,
        }
    }
}

/// Reference values of a problem.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReferenceValues {
    /// ‖θ_mn‖.
    #[serde(with = "crate::nonfinite")]
    pub minnorm_norm: f64,
    /// R(β_mn).
    #[serde(with = "crate::nonfinite")]
    pub minnorm_test_loss: f64,
    /// ‖θ_R‖.
    #[serde(with = "crate::nonfinite")]
    pub flattest_norm: f64,
    /// R(β_R).
    #[serde(with = "crate::nonfinite")]
    pub flattest_test_loss: f64,
    /// R(0), the risk of the zero predictor.
    #[serde(with = "crate::nonfinite")]
    pub null_risk: f64,
    /// Bayes risk ½σ_ε².
    #[serde(with = "crate::nonfinite")]
    pub optimal_risk: f64,
    /// Whether θ_mn's certificate holds.
    pub minnorm_certificate_ok: bool,
}

/// Final measurements of one seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeedSummary {
    /// Seed.
    pub seed: u64,
    /// Steps run.
    pub steps: u64,
    /// Final ‖θ‖.
    #[serde(with = "crate::nonfinite")]
    pub norm: f64,
    /// Final test loss.
    #[serde(with = "crate::nonfinite")]
    pub test_loss: f64,
    /// Final training loss.
    #[serde(with = "crate::nonfinite")]
    pub train_loss: f64,
    /// Final ‖β‖₁.
    #[serde(with = "crate::nonfinite")]
    pub beta_l1: f64,
    /// Final distance to θ_mn.
    #[serde(with = "crate::nonfinite")]
    pub dist_minnorm: f64,
    /// Final distance to θ_mn divided by ‖θ_mn‖.
    #[serde(with = "crate::nonfinite")]
    pub rel_dist_minnorm: f64,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Final held-out classification error (±1 test targets; else NaN).
    #[serde(with = "crate::nonfinite", default = "nan")]
    pub test_error: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// Mean and standard deviation of the summaries over seeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Aggregate {
    /// Number of seeds that completed (the means are over these).
    pub seeds: usize,
    /// Number of seeds that diverged (left out of the means).
    #[serde(default)]
    pub diverged: usize,
    /// Mean final ‖θ‖.
    #[serde(with = "crate::nonfinite")]
    pub norm: f64,
    /// Std of final ‖θ‖.
    #[serde(with = "crate::nonfinite")]
    pub norm_sd: f64,
    /// Mean final test loss.
    #[serde(with = "crate::nonfinite")]
    pub test_loss: f64,
    /// Std of final test loss.
    #[serde(with = "crate::nonfinite")]
    pub test_loss_sd: f64,
    /// Mean final training loss.
    #[serde(with = "crate::nonfinite")]
    pub train_loss: f64,
    /// Mean final distance to θ_mn.
    #[serde(with = "crate::nonfinite")]
    pub dist_minnorm: f64,
    /// Mean relative distance.
    #[serde(with = "crate::nonfinite")]
    pub rel_dist_minnorm: f64,
    /// Std of the relative distance.
    #[serde(with = "crate::nonfinite")]
    pub rel_dist_minnorm_sd: f64,
    /// Mean held-out classification error (NaN unless ±1 test targets).
    #[serde(with = "crate::nonfinite", default = "nan")]
    pub test_error: f64,
    /// Its standard deviation.
    #[serde(with = "crate::nonfinite", default = "nan")]
    pub test_error_sd: f64,
}

fn mean_sd(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

impl Aggregate {
    /// Aggregate seed summaries (only completed runs).
    pub fn of(summaries: &[SeedSummary]) -> Self {
        let ok: Vec<&SeedSummary> = summaries
            .iter()
            .filter(|s| s.stop == StopReason::Completed)
            .collect();
        let (norm, norm_sd) = mean_sd(ok.iter().map(|s| s.norm));
        let (test_loss, test_loss_sd) = mean_sd(ok.iter().map(|s| s.test_loss));
        let (train_loss, _) = mean_sd(ok.iter().map(|s| s.train_loss));
        let (dist_minnorm, _) = mean_sd(ok.iter().map(|s| s.dist_minnorm));
        let (rel, rel_sd) = mean_sd(ok.iter().map(|s| s.rel_dist_minnorm));
        let (test_error, test_error_sd) = mean_sd(ok.iter().map(|s| s.test_error));
        Self {
            test_error,
            test_error_sd,
            seeds: ok.len(),
            diverged: summaries.len() - ok.len(),
            norm,
            norm_sd,
            test_loss,
            test_loss_sd,
            train_loss,
            dist_minnorm,
            rel_dist_minnorm: rel,
            rel_dist_minnorm_sd: rel_sd,
        }
    }
}

/// Summary of a finished seed from its last record.
pub fn summarize(
    seed: u64,
    records: &[Record],
    stop: StopReason,
    minnorm_norm: f64,
) -> SeedSummary {
    // A diverged run has no result: its measurements are NaN (never the
    // last record before the divergence, e.g. step 0), its steps the
    // divergence step.
    if let StopReason::Diverged(d) = &stop {
        let nan = f64::NAN;
        return SeedSummary {
            seed,
            steps: d.step,
            norm: nan,
            test_loss: nan,
            train_loss: nan,
            beta_l1: nan,
            dist_minnorm: nan,
            rel_dist_minnorm: nan,
            stop,
            test_error: nan,
        };
    }
    let last = records
        .last()
        .cloned()
        .unwrap_or(Record::unmeasured(RecordPoint {
            step: 0,
            lr: f64::NAN,
            sde_time: 0.0,
            flow_time: 0.0,
        }));
    SeedSummary {
        seed,
        steps: last.step,
        norm: last.norm,
        test_loss: last.test_loss,
        train_loss: last.train_loss,
        beta_l1: last.beta_l1,
        dist_minnorm: last.dist_minnorm,
        rel_dist_minnorm: last.dist_minnorm / minnorm_norm,
        stop,
        test_error: f64::NAN,
    }
}

impl RunReport {
    /// The seeds that diverged, with where.
    pub fn diverged(&self) -> Vec<(u64, &crate::dynamics::sgd::Divergence)> {
        self.per_seed
            .iter()
            .filter_map(|s| match &s.stop {
                StopReason::Diverged(d) => Some((s.seed, d)),
                StopReason::Completed => None,
            })
            .collect()
    }
}

/// Result of `latedecay run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Config name.
    pub name: String,
    /// Model.
    pub model: ModelKind,
    /// Precision in bits.
    pub precision_bits: u32,
    /// Steps per seed.
    pub steps: u64,
    /// Reference values.
    pub reference: ReferenceValues,
    /// Whether θ_mn and θ_R were computed (`[run] reference`; false: the
    /// reference values and distances to θ_mn are NaN and `run` says so).
    pub reference_computed: bool,
    /// Per-seed final values.
    pub per_seed: Vec<SeedSummary>,
    /// Averages over seeds.
    pub mean: Aggregate,
    /// Recorded trajectories, one per seed (not serialized into the JSON report).
    #[serde(skip)]
    pub trajectories: Vec<Vec<Record>>,
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, message: &str) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// What [`run_experiment_with`] calls as soon as a seed has finished.
pub type OnSeed<'a> = &'a (dyn Fn(&SeedSummary, &[Record]) -> Result<(), ExperimentError> + Sync);

/// Run every seed of `cfg.run` (in parallel; results independent of threads).
/// A diverged seed does not stop the others: its summary says so
/// ([`RunReport::diverged`]).
pub fn run_experiment(exp: &Experiment) -> Result<RunReport, ExperimentError> {
    run_experiment_with(exp, &|_, _| Ok(()))
}

/// [`run_experiment`], handing each seed to `on_seed` as soon as it is done
/// (`run --out` writes its trajectory there).
pub fn run_experiment_with(
    exp: &Experiment,
    on_seed: OnSeed,
) -> Result<RunReport, ExperimentError> {
    let bits = exp.config().precision_bits;
    if bits == 53 {
        run_experiment_in::<f64>(exp, (), on_seed)
    } else {
        run_experiment_in::<Mpfr>(exp, bits, on_seed)
    }
}

fn run_experiment_in<R: Real>(
    exp: &Experiment,
    ctx: R::Ctx,
    on_seed: OnSeed,
) -> Result<RunReport, ExperimentError> {
    use rayon::prelude::*;
    let cfg = exp.config();
    let prepared = Prepared::<R>::new(exp, ctx)?;
    let steps = cfg.total_steps();
    let seeds = cfg.run.seeds.to_vec();
    let reference = prepared.reference();
    let bar = progress_bar(steps * seeds.len() as u64, "run");
    let results: Vec<(SeedSummary, Vec<Record>)> = seeds
        .par_iter()
        .map(|&seed| {
            let (summary, records) =
                prepared.run_seed(&cfg.init, &cfg.sgd, seed, steps, cfg.run.record, ctx, &bar);
            on_seed(&summary, &records)?;
            Ok((summary, records))
        })
        .collect::<Result<_, ExperimentError>>()?;
    bar.finish_and_clear();
    let (per_seed, trajectories): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    Ok(RunReport {
        name: cfg.name.clone(),
        model: cfg.model,
        precision_bits: cfg.precision_bits,
        steps,
        reference,
        reference_computed: cfg.run.reference,
        mean: Aggregate::of(&per_seed),
        per_seed,
        trajectories,
    })
}
