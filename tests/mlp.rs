//! Derivative checks for the two-layer tanh network `Mlp`, one proptest suite
//! per scalar type (f64 and 256-bit MPFR), plus training on the teacher task.
//!
//! Tolerances as in tests/models.rs: central differences with step h have
//! truncation error O(h²·f''') and roundoff O(ε·|f|/h). For f64, h = 1e-5
//! (error ≲ 1e-9 relative, tolerance 1e-7); for MPFR at 256 bits h = 1e-25
//! (truncation ~1e-50, roundoff ~1e-52, tolerance 1e-45).

use latedecay::dynamics::sgd::{run_sgd, RecordPlan, Sgd, SgdState};
use latedecay::model::mlp::{heldout_loss, MlpProbe, TeacherConfig, TeacherTask};
use latedecay::model::{finite_difference_gradient, Mlp, Model, Problem};
use latedecay::noise::Sampling;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;
use proptest::prelude::*;

mod common;
use common::{check_model_derivatives, max_rel_err};

fn task<R: Real>(n: usize, d: usize, seed: u64, ctx: R::Ctx) -> Problem<R, Mlp> {
    let t = TeacherTask::new(&TeacherConfig {
        n,
        d,
        teacher_width: 2,
        n_test: 10,
        target_noise_sigma: 0.1,
        seed,
    })
    .unwrap();
    Problem::new(Mlp::new(d, 3), t.train.convert::<R>(ctx))
}

macro_rules! mlp_suite {
    ($modname:ident, $scalar:ty, $ctx:expr, $h:expr, $tol:expr) => {
        mod $modname {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(24))]
                #[test]
                fn mlp_derivatives(seed in 0u64..1000, coords in prop::collection::vec(-1.5f64..1.5, 15)) {
                    // d = 4, m = 3: D = 12 + 3 = 15.
                    let problem = task::<$scalar>(4, 4, seed, $ctx);
                    let theta: Vec<$scalar> = coords.iter().map(|&c| <$scalar>::from_f64(c, $ctx)).collect();
                    check_model_derivatives(&problem, &theta, $h, $tol)?;
                }
            }
        }
    };
}

mlp_suite!(f64_suite, f64, (), 1e-5, 1e-7);
mlp_suite!(mpfr_suite, Mpfr, 256, 1e-25, 1e-45);

/// Negative control: dropping the tanh' factor (1 − t²) from ∂f/∂W is caught.
#[test]
fn derivative_check_rejects_a_wrong_gradient() {
    let problem = task::<f64>(3, 4, 9, ());
    let model = problem.model;
    let theta: Vec<f64> = (0..15).map(|k| 0.7 * ((k as f64) * 1.3).sin()).collect();
    let x = problem.data.x.row(0).to_vec();
    let mut ws = Model::<f64>::workspace(&model, ());
    let mut wrong = vec![0.0; 15];
    model.grad_into(&theta, &x, &mut wrong, &mut ws);
    let a = &theta[12..];
    for k in 0..3 {
        for j in 0..4 {
            wrong[k * 4 + j] = a[k] * x[j] / 3f64.sqrt(); // missing (1 − t_k²)
        }
    }
    let fd = finite_difference_gradient(
        |t: &[f64]| {
            let mut ws = Model::<f64>::workspace(&model, ());
            let mut out = 0.0;
            model.predict_into(t, &x, &mut out, &mut ws);
            out
        },
        &theta,
        1e-5,
    );
    assert!(max_rel_err(&wrong, &fd) > 1e-3);
}

/// f in f64 and MPFR agree to f64 precision (same formula, both scalar types).
#[test]
fn f64_and_mpfr_predictions_agree() {
    let p64 = task::<f64>(5, 6, 3, ());
    let pmp = task::<Mpfr>(5, 6, 3, 256);
    let model = Mlp::new(6, 3);
    let theta64 = model.gaussian_init::<f64>(4, 1.0, 1.0, ());
    let thetamp = model.gaussian_init::<Mpfr>(4, 1.0, 1.0, 256);
    let r64 = p64.residuals(&theta64);
    let rmp = pmp.residuals(&thetamp);
    for (a, b) in r64.iter().zip(&rmp) {
        assert!((a - b.to_f64()).abs() < 1e-14 * (1.0 + a.abs()));
    }
}

/// SGD on the teacher task drives the training loss near zero and the probe's
/// held-out loss agrees with `heldout_loss`.
#[test]
fn sgd_fits_the_teacher_task() {
    let t = TeacherTask::new(&TeacherConfig {
        n: 12,
        d: 6,
        n_test: 500,
        ..Default::default()
    })
    .unwrap();
    let model = Mlp::new(6, 16);
    let problem = Problem::new(model, t.train.clone());
    let theta0 = model.gaussian_init::<f64>(1, 1.0, 1.0, ());
    let method = Sgd {
        noise: Default::default(),
        batch_size: 1,
        label_noise_sigma: 0.0,
        sampling: Sampling::WithReplacement,
        schedule: Schedule::constant(0.1).unwrap(),
    };
    let mut state = SgdState::new(theta0.clone(), 1, problem.n(), &method);
    let mut probe = MlpProbe::new(&problem, &t.test_x, &t.test_y, true);
    let run = run_sgd(
        &problem,
        &method,
        &mut state,
        100_000,
        RecordPlan::Every { every: 10_000 },
        &mut probe,
        |_| {},
    )
    .into_result()
    .unwrap();
    let first = &run.records[0];
    let last = run.records.last().unwrap();
    assert!(
        last.train_loss < 1e-3 * first.train_loss,
        "{} → {}",
        first.train_loss,
        last.train_loss
    );
    assert_eq!(probe.thetas.len(), run.records.len());
    let direct = heldout_loss(&model, &run.theta, &t.test_x, &t.test_y);
    assert!((direct - last.test_loss).abs() < 1e-12);
    assert!(last.test_loss.is_finite() && last.test_loss > 0.0);
    // Bad input names the field.
    let err = TeacherTask::new(&TeacherConfig {
        teacher_width: 99,
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("teacher_width"), "{err}");
}
