//! The SIMD levels of `latedecay::simd` give bit-identical results: every
//! available level (and the scalar reference) is forced in turn and SGD runs
//! of the Linear, Diagonal and Mlp models, B = 1 and minibatches, with their
//! probes (residuals, norms, distances, held-out loss), are compared bit for
//! bit.
//!
//! One test function: the dispatch level is process-wide.

#[macro_use]
mod common;

use latedecay::dynamics::sgd::{RecordPlan, Sgd, StopReason};
use latedecay::model::mlp::{Activation, Mlp};
use latedecay::model::{Diagonal, Linear, LinearInX, Model, Problem};
use latedecay::noise::Sampling;
use latedecay::probe::{MlpProbe, Probe, StandardProbe};
use latedecay::schedule::Schedule;
use latedecay::simd::{self, Level};

/// Bits of a final iterate and of every record.
type RunBits = (Vec<u64>, Vec<Vec<u64>>);

fn run<M: LinearInX<f64>>(
    problem: &Problem<f64, M>,
    batch_size: usize,
    reference: &[f64],
) -> RunBits {
    run_with(
        problem,
        batch_size,
        StandardProbe::new(problem, Some(reference)),
    )
}

fn run_with<M: Model<f64>>(
    problem: &Problem<f64, M>,
    batch_size: usize,
    mut probe: impl Probe<f64>,
) -> RunBits {
    let method = Sgd {
        batch_size,
        label_noise_sigma: 1.0,
        sampling: Sampling::WithReplacement,
        schedule: Schedule::step_decay(0.004, 0.0004, 3000).unwrap(),
        noise: Default::default(),
    };
    let theta0 = vec![1.0; problem.model.param_dim()];
    let plan = RecordPlan::Every { every: 250 };
    let out = common::run_from(problem, &method, (theta0, 7), 5000, plan, &mut probe);
    // A diverged run would compare NaN bits and prove little.
    assert_eq!(out.stop, StopReason::Completed);
    (
        out.theta.iter().map(|v| v.to_bits()).collect(),
        out.records.iter().map(common::record_bits).collect(),
    )
}

#[test]
fn every_simd_level_gives_bit_identical_sgd_runs() {
    let levels = simd::available();
    assert!(levels.contains(&Level::Scalar));
    assert!(levels.contains(&simd::detected()));
    eprintln!("available SIMD levels: {levels:?}");
    // d = 101 and 100: with and without an 8-lane tail; n = 40.
    let mut results: Vec<(Level, Vec<RunBits>)> = Vec::new();
    for &level in &levels {
        simd::set_dispatch(Some(level)).unwrap();
        assert_eq!(simd::active(), level);
        let mut runs = Vec::new();
        for d in [100usize, 101] {
            let data = common::normalized_design(40, d);
            let diag = Problem::new(Diagonal::new(d), data.clone());
            let lin = Problem::new(Linear::new(d), data);
            let ref_diag = vec![0.5; 2 * d];
            let ref_lin = vec![0.25; d];
            for b in [1usize, 8] {
                runs.push(run(&diag, b, &ref_diag));
                runs.push(run(&lin, b, &ref_lin));
            }
        }
        // Mlp, d = 13 (5 full lanes + tail in each w_k), 6 hidden units.
        let data = common::normalized_design(40, 13);
        let (test_x, test_y) = (data.x.clone(), data.y.clone());
        for act in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
            let mlp = Problem::new(Mlp::with_activation(13, 6, act), data.clone());
            for b in [1usize, 8] {
                let probe = MlpProbe::new(&mlp, &test_x, &test_y, false);
                runs.push(run_with(&mlp, b, probe));
            }
        }
        results.push((level, runs));
    }
    simd::set_dispatch(None).unwrap();
    let (base_level, base) = &results[0];
    assert_eq!(*base_level, Level::Scalar);
    for (level, runs) in &results[1..] {
        for (i, (a, b)) in base.iter().zip(runs).enumerate() {
            assert_eq!(
                a.0, b.0,
                "final iterate of run {i}: {level} differs from scalar"
            );
            assert_eq!(a.1, b.1, "records of run {i}: {level} differs from scalar");
        }
    }
    // An unavailable level is refused.
    #[cfg(target_arch = "x86_64")]
    assert!(simd::set_dispatch(Some(Level::Neon)).is_err());
}
