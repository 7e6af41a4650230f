//! C12 part 2 at other horizons and learning rates (a diagnosis, not a
//! claim): does the general slow flow ½∂²Φ[s²I] predict the mean
//! displacement along Γ of isotropic-noise SGD on the built-in instance?
//!
//! `cargo run --release --example isotropic_drift -- TAU REPLICAS [LR] [label]`
//! (defaults 1, 512, 0.004: the registered C12 part 2, quick mode; `label`
//! runs the positive control: label noise σ = 1 against its closed-form
//! slow flow, through the same Monte Carlo pipeline).

use latedecay::claims::noise_shape::{run_drift_check, DriftNoise, C12_DRIFT_H};
use latedecay::experiment::{Experiment, ExperimentConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: f64| -> f64 {
        args.get(i).map_or(default, |s| {
            s.parse().unwrap_or_else(|_| {
                eprintln!("argument {} = {s:?}: expected a number", i + 1);
                std::process::exit(2)
            })
        })
    };
    let (tau, replicas, lr) = (arg(0, 1.0), arg(1, 512.0) as usize, arg(2, 0.004));
    let exp = Experiment::new(ExperimentConfig::default_late_decay()).expect("built-in experiment");
    let t0 = std::time::Instant::now();
    let noise = if args.get(3).is_some_and(|a| a == "label") {
        DriftNoise::Label
    } else {
        DriftNoise::Isotropic
    };
    match run_drift_check(&exp, noise, lr, 1.0, tau, replicas, 1, C12_DRIFT_H) {
        Ok(d) => println!(
            "{noise:?}: τ = {tau}, R = {replicas}, η = {lr} (K = {}): cos = {:.4}, ratio = {:.4}; tangent cos {:.4} ratio {:.4}; normal cos {:.4} ratio {:.4} (normal fraction of p {:.3}); SE = {:.4}, ‖p‖ = {:.4}, failed {}, {:.1} s",
            d.steps,
            d.cosine,
            d.ratio,
            d.tangent_cosine,
            d.tangent_ratio,
            d.normal_cosine,
            d.normal_ratio,
            d.normal_fraction,
            d.standard_error,
            d.predicted.iter().map(|v| v * v).sum::<f64>().sqrt(),
            d.failed,
            t0.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}
