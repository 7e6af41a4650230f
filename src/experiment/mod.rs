//! Experiments: configuration (TOML), single runs over seeds, parallel
//! resumable sweeps, and results IO.
pub mod config;
pub mod run;
pub mod sweep;

pub use config::{ExperimentConfig, Init, Seeds};
pub use run::{run_experiment, ExperimentError, Prepared, RunReport};
pub use sweep::{run_sweep, SweepOptions, SweepReport};
