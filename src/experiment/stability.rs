//! `latedecay stability`: mean-square linear stability of SGD
//! ([`crate::dynamics::stability`]) at θ₀, at θ_mn, at a given point and at
//! the final iterate of a run of the configuration's first seed.

use std::path::Path;

use super::checked::Experiment;
use super::run::{initial_theta, AnyProblem, ExperimentError, Prepared};
use crate::data::DataError;
use crate::dynamics::sgd::RecordPlan;
use crate::dynamics::stability::{stability_report, StabilityReport};
use crate::io::read_matrix;
use crate::scalar::{Mpfr, Real};

/// Where to evaluate besides θ₀ and θ_mn.
#[derive(Debug, Clone, Default)]
pub struct StabilityOptions {
    /// A point θ from a CSV file (one column of D rows, or one row of D values).
    pub theta_file: Option<std::path::PathBuf>,
    /// Also run the configuration's first seed for `run`'s steps and evaluate
    /// at its final iterate.
    pub after_run: bool,
}

/// Read θ (D values) from a header-less CSV: one column or one row.
pub fn read_theta_csv(path: &Path, dim: usize) -> Result<Vec<f64>, DataError> {
    let (rows, cols, values) = read_matrix(path)?;
    if values.len() != dim || (rows != 1 && cols != 1) {
        return Err(DataError::SizeMismatch(format!(
            "{}: θ must be one column of {dim} rows or one row of {dim} values (the model has D = {dim} parameters), found {rows} × {cols}",
            path.display()
        )));
    }
    Ok(values)
}

/// The jacobian of a run-time problem.
pub(crate) fn jacobian<R: Real>(p: &AnyProblem<R>, theta: &[R]) -> crate::linalg::Mat<R> {
    match p {
        AnyProblem::Linear(p) => p.jacobian(theta),
        AnyProblem::Diagonal(p) => p.jacobian(theta),
        AnyProblem::Mlp(p) => p.jacobian(theta),
    }
}

/// Stability reports at θ₀ (first seed), θ_mn, the given point and the final
/// iterate of a run, in the configuration's precision, for its B, sampling
/// and η₁ (the schedule's first learning rate).
pub fn stability_study(
    exp: &Experiment,
    opts: &StabilityOptions,
) -> Result<Vec<StabilityReport>, ExperimentError> {
    let bits = exp.config().precision_bits;
    if bits == 53 {
        study_in::<f64>(exp, opts, ())
    } else {
        study_in::<Mpfr>(exp, opts, bits)
    }
}

fn study_in<R: Real>(
    exp: &Experiment,
    opts: &StabilityOptions,
    ctx: R::Ctx,
) -> Result<Vec<StabilityReport>, ExperimentError> {
    let cfg = exp.config();
    let prepared = Prepared::<R>::new(exp, ctx)?;
    let problem = &prepared.problem;
    let seed = cfg.run.seeds.to_vec()[0];
    let lr = cfg.sgd.schedule.lr(0);
    let (b, sampling) = (cfg.sgd.batch_size, cfg.sgd.sampling);
    let report = |label: &str, theta: &[R]| {
        stability_report(label, theta, &jacobian(problem, theta), b, sampling, lr)
    };
    let theta0 = initial_theta::<R>(&cfg.init, problem.dim(), seed, ctx);
    let mut out = vec![
        report(&format!("theta0 (seed {seed})"), &theta0),
        report("theta_mn", &prepared.minnorm.theta),
    ];
    if let Some(path) = &opts.theta_file {
        let v = read_theta_csv(path, problem.dim())?;
        let theta: Vec<R> = v.iter().map(|&x| R::from_f64(x, ctx)).collect();
        out.push(report(&format!("file {}", path.display()), &theta));
    }
    if opts.after_run {
        let steps = cfg.total_steps();
        let (theta, _, stop) = problem.run_sgd(
            &cfg.sgd,
            theta0,
            seed,
            steps,
            RecordPlan::FinalOnly,
            None,
            None,
            |_| {},
        );
        stop.into_result()
            .map_err(|source| ExperimentError::Sgd { seed, source })?;
        out.push(report(
            &format!("after run (seed {seed}, {steps} steps)"),
            &theta,
        ));
    }
    Ok(out)
}
