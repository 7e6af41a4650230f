//! Quick throughput check: `cargo run --release --example speed` (see also `cargo bench`).
use latedecay::data::{Dataset, SyntheticConfig};
use latedecay::dynamics::sgd::{run_sgd, RecordPlan, Sgd, SgdState};
use latedecay::model::{Diagonal, Problem};
use latedecay::probe::StandardProbe;
use latedecay::scalar::{Mpfr, Real};
use latedecay::schedule::Schedule;
use std::time::Instant;

fn main() {
    let data = Dataset::synthetic(&SyntheticConfig::default()).unwrap();
    let m = Sgd {
        noise: Default::default(),
        batch_size: 1,
        label_noise_sigma: 1.0,
        sampling: Default::default(),
        schedule: Schedule::constant(0.004).unwrap(),
    };
    let which = std::env::args().nth(1).unwrap_or_default();
    let p = Problem::new(Diagonal::new(100), data.clone());
    let steps = if which == "mpfr" { 0 } else { 5_000_000 };
    let mut st = SgdState::new(vec![1.0f64; 200], 1, 40, &m);
    let t0 = Instant::now();
    run_sgd(
        &p,
        &m,
        &mut st,
        steps,
        RecordPlan::FinalOnly,
        &mut StandardProbe::new(&p, None),
        |_| {},
    );
    println!(
        "f64: {:.2}M steps/s",
        steps as f64 / t0.elapsed().as_secs_f64() / 1e6
    );
    let pm = Problem::new(Diagonal::new(100), data.convert::<Mpfr>(256));
    let steps = if which == "f64" { 0 } else { 40_000 };
    let mut st = SgdState::new(vec![Mpfr::from_f64(1.0, 256); 200], 1, 40, &m);
    let t0 = Instant::now();
    run_sgd(
        &pm,
        &m,
        &mut st,
        steps,
        RecordPlan::FinalOnly,
        &mut StandardProbe::new(&pm, None),
        |_| {},
    );
    println!(
        "mpfr256: {:.0} steps/s",
        steps as f64 / t0.elapsed().as_secs_f64()
    );
}
