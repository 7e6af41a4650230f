//! The checked experiment: parse, don't validate.
//!
//! [`ExperimentConfig`] is the raw serde form of a TOML file and checks
//! nothing. [`Experiment::new`] is the one place where a configuration is
//! checked — every field (ranges, settings that would do nothing, duplicates),
//! the data loaded and checked (an interpolation manifold exists), and the SGD
//! settings against the data size. Everything downstream (`run`, `sweep`, the
//! decay studies of the claims, the figures) takes an `Experiment` and
//! validates nothing again.

use super::config::ExperimentConfig;
use super::run::ExperimentError;
use crate::data::Dataset;

/// An experiment whose configuration passed every check, with its data.
#[derive(Debug, Clone)]
pub struct Experiment {
    config: ExperimentConfig,
    data: Dataset<f64>,
}

impl Experiment {
    /// Check a configuration and load its data: the only way to build an
    /// `Experiment`. Errors name the field and value.
    pub fn new(mut config: ExperimentConfig) -> Result<Self, ExperimentError> {
        config.check_fields()?;
        let data = Dataset::from_config(&config.data)?;
        data.require_overparameterized()?;
        if let super::config::Init::File { path, values } = &mut config.init {
            let dim = match config.model {
                crate::model::ModelKind::Linear => data.d(),
                crate::model::ModelKind::Diagonal => 2 * data.d(),
            };
            *values = super::stability::read_theta_csv(path, dim)?;
        }
        config
            .sgd
            .validate(data.n())
            .map_err(|source| ExperimentError::Sgd { seed: 0, source })?;
        Ok(Self { config, data })
    }

    /// Read, parse and check a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ExperimentError> {
        Self::new(ExperimentConfig::from_file(path)?)
    }

    /// The checked configuration.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// The data (f64, as loaded; columns normalized if configured).
    pub fn data(&self) -> &Dataset<f64> {
        &self.data
    }

    /// The same experiment with another model on the same data (the Linear
    /// control of the claims); the data are not loaded again.
    pub fn with_model(&self, model: crate::model::ModelKind) -> Self {
        let mut config = self.config.clone();
        config.model = model;
        Self {
            config,
            data: self.data.clone(),
        }
    }
}
