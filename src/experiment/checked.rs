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
use crate::data::{DataConfig, DataError, Dataset, HeldOut};
use crate::model::{Model, ModelKind};

/// An experiment whose configuration passed every check, with its data.
#[derive(Debug, Clone)]
pub struct Experiment {
    config: ExperimentConfig,
    data: Dataset<f64>,
    heldout: Option<HeldOut<f64>>,
}

/// Held-out samples drawn for a nonlinear model on synthetic data.
pub const SYNTHETIC_HELDOUT: usize = 2000;

impl Experiment {
    /// Check a configuration and load its data: the only way to build an
    /// `Experiment`. Errors name the field and value.
    pub fn new(mut config: ExperimentConfig) -> Result<Self, ExperimentError> {
        config.check_fields()?;
        let (data, mut heldout) = Dataset::with_heldout(&config.data)?;
        match (config.model, &config.mlp) {
            (ModelKind::Mlp, Some(m)) => {
                // A nonlinear model interpolates when n < D (parameters).
                let model = m.model(data.d());
                let params = Model::<f64>::param_dim(&model);
                if data.n() >= params {
                    return Err(DataError::NotOverparameterizedParams {
                        n: data.n(),
                        params,
                        model: format!("Mlp (width {}, d = {} inputs)", m.width, data.d()),
                    }
                    .into());
                }
                if let (DataConfig::Synthetic(s), None) = (&config.data, &heldout) {
                    heldout = Some(data.synthetic_heldout(s, SYNTHETIC_HELDOUT)?);
                }
            }
            _ => data.require_overparameterized()?,
        }
        if let super::config::Init::File { path, values } = &mut config.init {
            let dim = match config.model {
                ModelKind::Linear => data.d(),
                ModelKind::Diagonal => 2 * data.d(),
                ModelKind::Mlp => config
                    .mlp
                    .as_ref()
                    .map_or(0, |m| Model::<f64>::param_dim(&m.model(data.d()))),
            };
            *values = super::stability::read_theta_csv(path, dim)?;
        }
        config
            .sgd
            .validate(data.n())
            .map_err(|source| ExperimentError::Sgd { seed: 0, source })?;
        Ok(Self {
            config,
            data,
            heldout,
        })
    }

    /// The held-out test set, if the data define one (CSV `test_x`/`test_y`
    /// or `test_fraction`, digits) or the model is an Mlp on synthetic data.
    pub fn heldout(&self) -> Option<&HeldOut<f64>> {
        self.heldout.as_ref()
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
        if model != ModelKind::Mlp {
            config.mlp = None;
        }
        Self {
            config,
            data: self.data.clone(),
            heldout: self.heldout.clone(),
        }
    }
}
