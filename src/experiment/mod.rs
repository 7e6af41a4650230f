//! Experiments: configuration (TOML), single runs over seeds, the
//! decay-study engine (one trunk per seed and η₁, a branch per decay step),
//! parallel resumable and shardable sweeps on it, and results IO.
pub mod checked;
pub mod config;
pub mod decay_study;
pub mod run;
pub mod stability;
pub mod sweep;

pub use checked::Experiment;
pub use config::{ExperimentConfig, Init, Seeds};
pub use decay_study::{run_decay_unit, run_units, BranchRun, DecayGrid, UnitPlan};
pub use run::{run_experiment, ExperimentError, Prepared, RunReport};
pub use sweep::{merge_shards, run_sweep, Shard, SweepOptions, SweepReport};
