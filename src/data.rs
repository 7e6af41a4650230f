//! Data: Gaussian designs with known population covariance, or CSV files.
//!
//! Data are always generated (or read) in f64 and converted exactly into the
//! working scalar type, so runs at every precision see the same numbers.
//!
//! With column normalization the columns of X are scaled by `s_j` so that
//! `c_j = (1/n) Σ_i x_ij² = 1` (to f64 rounding). The dataset is then expressed in
//! the normalized coordinates: the population covariance becomes `λ_j s_j²` and
//! the ground truth `β*_j / s_j`, so predictions `⟨β, x̃⟩` and the closed-form test
//! loss stay consistent.

use std::path::{Path, PathBuf};

pub mod digits;
pub mod teacher;
pub use digits::{DigitsConfig, DigitsTask};
pub use teacher::{TeacherConfig, TeacherTask};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::field_error::FieldError;
use crate::io::read_matrix;
use crate::linalg::{dot_into, Mat};
use crate::scalar::Real;

/// Errors while building or loading data. Each names the field/file and value.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A configuration field has an invalid value.
    #[error("invalid data config: {0}")]
    InvalidField(FieldError),
    /// Cannot read a file.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A CSV file could not be read (names the file, line, column and value).
    #[error(transparent)]
    Csv(#[from] crate::io::IoError),
    /// Sizes of X, y, β* do not fit.
    #[error("size mismatch: {0}")]
    SizeMismatch(String),
    /// Interpolation needs more features than samples.
    #[error("n = {n} samples ≥ d = {d} features: the model must be overparameterized (n < d) so that the training loss has a manifold of zero-loss minima")]
    NotOverparameterized { n: usize, d: usize },
    /// A nonlinear model needs more parameters than samples.
    #[error("n = {n} samples ≥ D = {params} parameters of the {model}: a nonlinear model must be overparameterized in its parameters (n < D) so that the training loss has a manifold of zero-loss minima; raise the width or lower n")]
    NotOverparameterizedParams {
        n: usize,
        params: usize,
        model: String,
    },
}

/// Spectrum of the population covariance Λ = diag(λ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Spectrum {
    /// Λ = I.
    Identity,
    /// λ_j = j^(−exponent), j = 1..d (then rescaled so that mean λ = 1 if `normalize_trace`).
    PowerLaw {
        exponent: f64,
        #[serde(default)]
        normalize_trace: bool,
    },
}

/// Ground truth β*.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GroundTruth {
    /// `nonzeros` leading coordinates equal to `value` (the rest zero).
    Sparse { nonzeros: usize, value: f64 },
    /// Dense i.i.d. N(0, scale²/d) entries.
    Dense { scale: f64 },
}

/// Synthetic Gaussian design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Number of samples n.
    pub n: usize,
    /// Number of features d.
    pub d: usize,
    /// Population spectrum.
    #[serde(default = "default_spectrum")]
    pub spectrum: Spectrum,
    /// Ground truth, in the model coordinates (after column normalization).
    #[serde(default = "default_truth")]
    pub ground_truth: GroundTruth,
    /// Standard deviation σ_ε of the noise in y (0 = noiseless).
    #[serde(default)]
    pub target_noise_sigma: f64,
    /// Scale columns so that (1/n) Σ_i x_ij² = 1.
    #[serde(default)]
    pub normalize_columns: bool,
    /// Seed of the data (independent of the SGD seeds).
    #[serde(default = "default_data_seed")]
    pub seed: u64,
}

fn default_spectrum() -> Spectrum {
    Spectrum::Identity
}
fn default_truth() -> GroundTruth {
    GroundTruth::Sparse {
        nonzeros: 3,
        value: 1.0,
    }
}
fn default_data_seed() -> u64 {
    20_240_601
}

/// Data read from CSV files (no header; X: n rows × d columns, y: one column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Path of X.
    pub x: PathBuf,
    /// Path of y.
    pub y: PathBuf,
    /// Optional path of β* (one column, d rows), enables the test loss.
    pub beta_star: Option<PathBuf>,
    /// Population spectrum assumed for the closed-form test loss (default Λ = I).
    #[serde(default = "default_spectrum")]
    pub spectrum: Spectrum,
    /// Noise level σ_ε assumed for the test loss.
    #[serde(default)]
    pub target_noise_sigma: f64,
    /// Scale columns so that (1/n) Σ_i x_ij² = 1.
    #[serde(default)]
    pub normalize_columns: bool,
    /// Held-out inputs (same column count as `x`); with `test_y`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_x: Option<PathBuf>,
    /// Held-out targets (one column, one row per row of `test_x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_y: Option<PathBuf>,
    /// Hold out this fraction of the rows of `x`, `y` (seeded split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// Seed of the split of `test_fraction` (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
}

impl CsvConfig {
    /// Files X and y, everything else default (no β*, no held-out set).
    pub fn new(x: PathBuf, y: PathBuf) -> Self {
        Self {
            x,
            y,
            beta_star: None,
            spectrum: default_spectrum(),
            target_noise_sigma: 0.0,
            normalize_columns: false,
            test_x: None,
            test_y: None,
            test_fraction: None,
            split_seed: None,
        }
    }
}

/// A held-out test set: inputs (in model coordinates, i.e. with the training
/// column scaling) and targets. The test loss is ½ · mean_i (f(x_i; θ) − y_i)²,
/// the same form as the training loss.
#[derive(Debug, Clone)]
pub struct HeldOut<R> {
    /// Inputs (N × d).
    pub x: Mat<R>,
    /// Targets (N).
    pub y: Vec<R>,
}

impl HeldOut<f64> {
    /// Exact conversion into another scalar type.
    pub fn convert<R: Real>(&self, ctx: R::Ctx) -> HeldOut<R> {
        HeldOut {
            x: Mat::from_f64(self.x.rows(), self.x.cols(), self.x.as_slice(), ctx),
            y: self.y.iter().map(|&v| R::from_f64(v, ctx)).collect(),
        }
    }
}

impl<R: Real> HeldOut<R> {
    /// No held-out samples (d columns): the probes then record NaN test losses.
    pub fn empty(d: usize, ctx: R::Ctx) -> Self {
        HeldOut {
            x: Mat::zeros(0, d, ctx),
            y: Vec::new(),
        }
    }
    /// Number of held-out samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
    /// Whether every target is ±1 (a binary classification task).
    pub fn is_binary(&self) -> bool {
        !self.y.is_empty()
            && self
                .y
                .iter()
                .all(|v| v.to_f64() == 1.0 || v.to_f64() == -1.0)
    }
    /// ½ · mean (f(x_i) − y_i)² and, for ±1 targets, the fraction of
    /// sign(f(x_i)) ≠ y_i (f = 0 counts as wrong), else NaN.
    pub fn loss_and_error<M: crate::model::Model<R>>(&self, model: &M, theta: &[R]) -> (f64, f64) {
        let ctx = theta[0].ctx();
        let mut ws = model.workspace(ctx);
        let mut acc = R::zero(ctx);
        let mut f = R::zero(ctx);
        let mut wrong = 0usize;
        for (i, yi) in self.y.iter().enumerate() {
            model.predict_into(theta, self.x.row(i), &mut f, &mut ws);
            if f.to_f64() * yi.to_f64() <= 0.0 {
                wrong += 1;
            }
            f -= yi;
            acc.add_mul(&f, &f);
        }
        acc /= 2.0 * self.y.len() as f64;
        let err = if self.is_binary() {
            wrong as f64 / self.y.len() as f64
        } else {
            f64::NAN
        };
        (acc.to_f64(), err)
    }
}

/// Where the data come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DataConfig {
    /// Gaussian design.
    Synthetic(SyntheticConfig),
    /// CSV files.
    Csv(CsvConfig),
    /// The embedded UCI digits, as a ±1 task ([`digits`]).
    Digits(DigitsConfig),
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            n: 40,
            d: 100,
            spectrum: default_spectrum(),
            ground_truth: default_truth(),
            target_noise_sigma: 0.0,
            normalize_columns: false,
            seed: default_data_seed(),
        }
    }
}

/// A regression data set in the working scalar type.
#[derive(Debug, Clone)]
pub struct Dataset<R> {
    /// Design X (n × d, row-major), in model coordinates (normalized if requested).
    pub x: Mat<R>,
    /// Targets y.
    pub y: Vec<R>,
    /// Ground truth β* in model coordinates, if known.
    pub beta_star: Option<Vec<R>>,
    /// Diagonal of the population covariance in model coordinates.
    pub population_cov: Vec<R>,
    /// Noise level σ_ε of y.
    pub target_noise_sigma: f64,
    /// Column second moments c_j = (1/n) Σ_i x_ij².
    pub column_moments: Vec<R>,
    /// Scale s_j applied to column j (all 1 without normalization).
    pub column_scale: Vec<f64>,
}

impl Dataset<f64> {
    /// Build from raw f64 parts (validates sizes and finiteness).
    pub fn from_parts(
        x: Mat<f64>,
        y: Vec<f64>,
        beta_star: Option<Vec<f64>>,
        spectrum_diag: Vec<f64>,
        target_noise_sigma: f64,
        normalize_columns: bool,
    ) -> Result<Self, DataError> {
        let (n, d) = (x.rows(), x.cols());
        if y.len() != n {
            return Err(DataError::SizeMismatch(format!(
                "y has {} entries but X has {n} rows",
                y.len()
            )));
        }
        if let Some(b) = &beta_star {
            if b.len() != d {
                return Err(DataError::SizeMismatch(format!(
                    "beta_star has {} entries but X has {d} columns",
                    b.len()
                )));
            }
        }
        if spectrum_diag.len() != d {
            return Err(DataError::SizeMismatch(format!(
                "spectrum has {} entries but X has {d} columns",
                spectrum_diag.len()
            )));
        }
        FieldError::check_non_negative("target_noise_sigma", target_noise_sigma)
            .map_err(DataError::InvalidField)?;
        let mut x = x;
        let mut column_scale = vec![1.0; d];
        if normalize_columns {
            for (j, (scale, ms)) in column_scale.iter_mut().zip(column_moments(&x)).enumerate() {
                if ms == 0.0 {
                    return Err(DataError::InvalidField(FieldError::new(
                        "normalize_columns",
                        "true",
                        format!("column {j} of X is zero and cannot be normalized"),
                    )));
                }
                *scale = 1.0 / ms.sqrt();
            }
            for i in 0..n {
                for (j, s) in column_scale.iter().enumerate() {
                    x[(i, j)] *= s;
                }
            }
        }
        let population_cov: Vec<f64> = spectrum_diag
            .iter()
            .zip(&column_scale)
            .map(|(l, s)| l * s * s)
            .collect();
        let beta_star =
            beta_star.map(|b| b.iter().zip(&column_scale).map(|(b, s)| b / s).collect());
        let column_moments = column_moments(&x);
        Ok(Self {
            x,
            y,
            beta_star,
            population_cov,
            target_noise_sigma,
            column_moments,
            column_scale,
        })
    }

    /// Generate a synthetic Gaussian design.
    ///
    /// # Examples
    /// ```
    /// use latedecay::data::{Dataset, SyntheticConfig};
    /// let cfg = SyntheticConfig { n: 5, d: 12, normalize_columns: true, ..Default::default() };
    /// let data = Dataset::synthetic(&cfg).unwrap();
    /// assert_eq!((data.n(), data.d()), (5, 12));
    /// assert!((data.column_moments[0] - 1.0).abs() < 1e-8);
    /// ```
    pub fn synthetic(cfg: &SyntheticConfig) -> Result<Self, DataError> {
        validate_synthetic(cfg)?;
        let (n, d) = (cfg.n, cfg.d);
        let lambda = spectrum_diag(&cfg.spectrum, d);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut x = Mat::<f64>::zeros(n, d, ());
        for i in 0..n {
            for (j, l) in lambda.iter().enumerate() {
                let z: f64 = crate::noise::standard_normal(&mut rng);
                x[(i, j)] = z * l.sqrt();
            }
        }
        // Column normalization acts on the design; β* is specified in the
        // normalized (model) coordinates.
        let mut column_scale = vec![1.0; d];
        if cfg.normalize_columns {
            for (scale, ms) in column_scale.iter_mut().zip(column_moments(&x)) {
                *scale = 1.0 / ms.sqrt();
            }
        }
        for i in 0..n {
            for (j, s) in column_scale.iter().enumerate() {
                x[(i, j)] = quantize(x[(i, j)] * s);
            }
        }
        let beta_star: Vec<f64> = match cfg.ground_truth {
            GroundTruth::Sparse { nonzeros, value } => (0..d)
                .map(|j| if j < nonzeros { value } else { 0.0 })
                .collect(),
            GroundTruth::Dense { scale } => (0..d)
                .map(|_| {
                    let z: f64 = crate::noise::standard_normal(&mut rng);
                    z * scale / (d as f64).sqrt()
                })
                .collect(),
        };
        let y: Vec<f64> = (0..n)
            .map(|i| {
                let clean: f64 = x.row(i).iter().zip(&beta_star).map(|(a, b)| a * b).sum();
                let eps: f64 = crate::noise::standard_normal(&mut rng);
                clean + cfg.target_noise_sigma * eps
            })
            .collect();
        let population_cov: Vec<f64> = lambda
            .iter()
            .zip(&column_scale)
            .map(|(l, s)| l * s * s)
            .collect();
        if let Some((i, yi)) = crate::field_error::first_non_finite(&y) {
            return Err(DataError::InvalidField(FieldError::new(
                "target_noise_sigma / ground_truth",
                format!("{} / {:?}", cfg.target_noise_sigma, cfg.ground_truth),
                format!("the targets overflow (y[{i}] = {yi})"),
            )));
        }
        let mut data = Self::from_parts(
            x,
            y,
            Some(beta_star),
            population_cov,
            cfg.target_noise_sigma,
            false,
        )?;
        data.column_scale = column_scale;
        Ok(data)
    }

    /// Load X, y and optionally β* from CSV files (no header).
    pub fn from_csv(cfg: &CsvConfig) -> Result<Self, DataError> {
        let (n, d, xs) = read_matrix(&cfg.x)?;
        let (ny, dy, ys) = read_matrix(&cfg.y)?;
        if dy != 1 {
            return Err(DataError::SizeMismatch(format!(
                "{}: y must have exactly one column, found {dy}",
                cfg.y.display()
            )));
        }
        if ny != n {
            return Err(DataError::SizeMismatch(format!(
                "{} has {ny} rows but {} has {n} rows",
                cfg.y.display(),
                cfg.x.display()
            )));
        }
        let beta_star = read_beta_star(cfg.beta_star.as_deref(), d)?;
        validate_spectrum(&cfg.spectrum)?;
        Self::from_parts(
            Mat::from_row_major(n, d, xs),
            ys,
            beta_star,
            spectrum_diag(&cfg.spectrum, d),
            cfg.target_noise_sigma,
            cfg.normalize_columns,
        )
    }

    /// Build from any [`DataConfig`] (the training part when a test set is
    /// split off).
    pub fn from_config(cfg: &DataConfig) -> Result<Self, DataError> {
        Ok(Self::with_heldout(cfg)?.0)
    }

    /// The training data and, if the config defines one, the held-out test
    /// set (CSV `test_x`/`test_y` or `test_fraction`; digits: every image not
    /// used for training). Synthetic data have none (their test loss is the
    /// closed form; see [`Self::synthetic_heldout`]).
    pub fn with_heldout(cfg: &DataConfig) -> Result<(Self, Option<HeldOut<f64>>), DataError> {
        match cfg {
            DataConfig::Synthetic(s) => Ok((Self::synthetic(s)?, None)),
            DataConfig::Csv(c) if c.test_x.is_none() && c.test_fraction.is_none() => {
                check_heldout_fields(c)?;
                Ok((Self::from_csv(c)?, None))
            }
            DataConfig::Csv(c) => csv_with_heldout(c),
            DataConfig::Digits(g) => {
                digits::validate(g)?;
                let (pixels, labels) = digits::load_digits()?;
                let d = digits::DIGITS_D;
                let perm = digits::seeded_permutation(labels.len(), g.split_seed);
                let (train_rows, test_rows) = perm.split_at(g.n_train);
                let targets: Vec<f64> = labels.iter().map(|&l| g.task.target(l)).collect();
                let (x, y) = take_rows(&pixels, &targets, d, train_rows);
                let (tx, ty) = take_rows(&pixels, &targets, d, test_rows);
                let train = Self::from_parts(x, y, None, vec![1.0; d], 0.0, false)?;
                Ok((train, Some(HeldOut { x: tx, y: ty })))
            }
        }
    }

    /// A fresh held-out sample of `n_test` rows from the same Gaussian design
    /// and targets as [`Self::synthetic`] (own random stream, the same column
    /// scaling as the training data): the test set of a nonlinear model on
    /// synthetic data.
    pub fn synthetic_heldout(
        &self,
        cfg: &SyntheticConfig,
        n_test: usize,
    ) -> Result<HeldOut<f64>, DataError> {
        let d = cfg.d;
        let lambda = spectrum_diag(&cfg.spectrum, d);
        let beta_star = self.beta_star.clone().unwrap_or_else(|| vec![0.0; d]);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_7e57);
        let mut x = Mat::<f64>::zeros(n_test, d, ());
        for i in 0..n_test {
            for j in 0..d {
                let z: f64 = crate::noise::standard_normal(&mut rng);
                x[(i, j)] = quantize(z * lambda[j].sqrt() * self.column_scale[j]);
            }
        }
        let y = (0..n_test)
            .map(|i| {
                let clean: f64 = x.row(i).iter().zip(&beta_star).map(|(a, b)| a * b).sum();
                let eps: f64 = crate::noise::standard_normal(&mut rng);
                clean + cfg.target_noise_sigma * eps
            })
            .collect();
        Ok(HeldOut { x, y })
    }

    /// Exact conversion into another scalar type.
    pub fn convert<R: Real>(&self, ctx: R::Ctx) -> Dataset<R> {
        let conv = |v: &[f64]| v.iter().map(|&a| R::from_f64(a, ctx)).collect::<Vec<R>>();
        let x = Mat::from_f64(self.x.rows(), self.x.cols(), self.x.as_slice(), ctx);
        // c_j recomputed in the working precision (not rounded through f64).
        let column_moments = column_moments(&x);
        Dataset {
            x,
            y: conv(&self.y),
            beta_star: self.beta_star.as_deref().map(conv),
            population_cov: conv(&self.population_cov),
            target_noise_sigma: self.target_noise_sigma,
            column_moments,
            column_scale: self.column_scale.clone(),
        }
    }
}

impl<R: Real> Dataset<R> {
    /// Number of samples n.
    pub fn n(&self) -> usize {
        self.x.rows()
    }
    /// Number of features d.
    pub fn d(&self) -> usize {
        self.x.cols()
    }
    /// Scalar context of the data.
    pub fn ctx(&self) -> R::Ctx {
        self.y[0].ctx()
    }
    /// Require n < d (a manifold of interpolants exists).
    pub fn require_overparameterized(&self) -> Result<(), DataError> {
        if self.n() >= self.d() {
            Err(DataError::NotOverparameterized {
                n: self.n(),
                d: self.d(),
            })
        } else {
            Ok(())
        }
    }

    /// Closed-form population loss R(β) = ½(β−β*)ᵀΛ(β−β*) + ½σ_ε², or `None`
    /// when β* is unknown.
    pub fn test_loss(&self, beta: &[R]) -> Option<R> {
        let beta_star = self.beta_star.as_ref()?;
        let ctx = self.ctx();
        let mut acc = R::zero(ctx);
        let mut diff = R::zero(ctx);
        let mut weighted = R::zero(ctx);
        for ((b, bs), l) in beta.iter().zip(beta_star).zip(&self.population_cov) {
            diff.assign(b);
            diff -= bs;
            weighted.set_mul(&diff, l);
            acc.add_mul(&weighted, &diff);
        }
        acc *= 0.5;
        acc += 0.5 * self.target_noise_sigma * self.target_noise_sigma;
        Some(acc)
    }

    /// Risk of the zero predictor, R(0) = ½β*ᵀΛβ* + ½σ_ε².
    pub fn null_risk(&self) -> Option<R> {
        let zero = vec![R::zero(self.ctx()); self.d()];
        self.test_loss(&zero)
    }

    /// Residuals of a linear predictor: `out_i = ⟨β, x_i⟩ − y_i`.
    pub fn linear_residuals_into(&self, beta: &[R], out: &mut [R]) {
        for (i, o) in out.iter_mut().enumerate() {
            dot_into(o, self.x.row(i), beta);
            *o -= &self.y[i];
        }
    }
}

/// Column second moments c_j = (1/n) Σ_i x_ij² in the scalar type of `x`.
pub fn column_moments<R: Real>(x: &Mat<R>) -> Vec<R> {
    let ctx = x.ctx();
    let mut c = vec![R::zero(ctx); x.cols()];
    for i in 0..x.rows() {
        for (cj, xij) in c.iter_mut().zip(x.row(i)) {
            cj.add_mul(xij, xij);
        }
    }
    for cj in c.iter_mut() {
        *cj /= x.rows() as f64;
    }
    c
}

/// β* from its CSV file (one column, d rows), if a file is given.
fn read_beta_star(path: Option<&Path>, d: usize) -> Result<Option<Vec<f64>>, DataError> {
    let Some(p) = path else { return Ok(None) };
    let (nb, db, bs) = read_matrix(p)?;
    if db != 1 || nb != d {
        return Err(DataError::SizeMismatch(format!(
            "{}: beta_star must be one column with d = {d} rows, found {nb} rows × {db} columns",
            p.display()
        )));
    }
    Ok(Some(bs))
}

fn validate_spectrum(s: &Spectrum) -> Result<(), DataError> {
    if let Spectrum::PowerLaw { exponent, .. } = s {
        FieldError::check_non_negative("spectrum.exponent", *exponent)
            .map_err(DataError::InvalidField)?;
    }
    Ok(())
}

/// Largest design n·d generated or read (2.5·10⁸ entries, 2 GB of f64):
/// sizes are checked before anything is allocated.
pub const MAX_DESIGN_ENTRIES: u64 = 250_000_000;

fn validate_synthetic(cfg: &SyntheticConfig) -> Result<(), DataError> {
    let entries = (cfg.n as u64).saturating_mul(cfg.d as u64);
    if entries > MAX_DESIGN_ENTRIES {
        return Err(DataError::InvalidField(FieldError::new(
            "n × d",
            format!("{} × {} = {entries}", cfg.n, cfg.d),
            format!("at most {MAX_DESIGN_ENTRIES} design entries (2 GB)"),
        )));
    }
    if cfg.n == 0 {
        return Err(DataError::InvalidField(FieldError::new(
            "n",
            "0",
            "need at least one sample",
        )));
    }
    if cfg.d == 0 {
        return Err(DataError::InvalidField(FieldError::new(
            "d",
            "0",
            "need at least one feature",
        )));
    }
    validate_spectrum(&cfg.spectrum)?;
    match cfg.ground_truth {
        GroundTruth::Sparse { nonzeros, value } => {
            if nonzeros > cfg.d {
                return Err(DataError::InvalidField(FieldError::new(
                    "ground_truth.nonzeros",
                    nonzeros,
                    format!("exceeds d = {}", cfg.d),
                )));
            }
            FieldError::check_finite("ground_truth.value", value)
                .map_err(DataError::InvalidField)?;
        }
        GroundTruth::Dense { scale } => {
            FieldError::check_finite("ground_truth.scale", scale)
                .map_err(DataError::InvalidField)?;
        }
    }
    FieldError::check_non_negative("target_noise_sigma", cfg.target_noise_sigma)
        .map_err(DataError::InvalidField)?;
    Ok(())
}

/// Diagonal of Λ for a spectrum.
pub fn spectrum_diag(s: &Spectrum, d: usize) -> Vec<f64> {
    match s {
        Spectrum::Identity => vec![1.0; d],
        Spectrum::PowerLaw {
            exponent,
            normalize_trace,
        } => {
            let mut l: Vec<f64> = (1..=d).map(|j| (j as f64).powf(-exponent)).collect();
            if *normalize_trace {
                let mean = l.iter().sum::<f64>() / d as f64;
                l.iter_mut().for_each(|v| *v /= mean);
            }
            l
        }
    }
}

/// Grid of the synthetic design-matrix entries: multiples of 2⁻³⁰.
pub const ENTRY_GRID: f64 = 1.0 / (1u64 << 30) as f64;

/// Round to the entry grid. Entries of size < 2⁴ then have ≤ 34 significant
/// bits, so noiseless targets y_i = Σ_j x_ij β*_j with a sparse β* of simple
/// values (e.g. ones) are computed *exactly* in f64: the interpolation problem
/// is exactly consistent in every precision (needed to polish θ_mn to 50+
/// digits). The perturbation (≤ 5e-10) is statistically irrelevant.
fn quantize(v: f64) -> f64 {
    (v / ENTRY_GRID).round() * ENTRY_GRID
}

fn csv_field_error(
    field: &str,
    value: impl std::fmt::Display,
    reason: impl Into<String>,
) -> DataError {
    DataError::InvalidField(FieldError::new(field, value, reason.into()))
}

/// The held-out fields of a CSV config that make sense together.
fn check_heldout_fields(c: &CsvConfig) -> Result<(), DataError> {
    match (&c.test_x, &c.test_y) {
        (Some(p), None) => {
            return Err(csv_field_error(
                "data.test_y",
                "missing",
                format!("data.test_x = {} needs data.test_y", p.display()),
            ))
        }
        (None, Some(p)) => {
            return Err(csv_field_error(
                "data.test_x",
                "missing",
                format!("data.test_y = {} needs data.test_x", p.display()),
            ))
        }
        _ => {}
    }
    if let Some(f) = c.test_fraction {
        if c.test_x.is_some() {
            return Err(csv_field_error(
                "data.test_fraction",
                f,
                "give either data.test_fraction or data.test_x/test_y, not both",
            ));
        }
        if !(f.is_finite() && f > 0.0 && f < 1.0) {
            return Err(csv_field_error(
                "data.test_fraction",
                f,
                "must be in (0, 1)",
            ));
        }
    }
    if let (Some(s), None) = (c.split_seed, c.test_fraction) {
        return Err(csv_field_error(
            "data.split_seed",
            s,
            "has no effect without data.test_fraction",
        ));
    }
    Ok(())
}

/// The rows `rows` of the row-major `xs` (`d` columns) and of `ys`, in
/// increasing row order (a split keeps the file's order in both parts).
fn take_rows(xs: &[f64], ys: &[f64], d: usize, rows: &[usize]) -> (Mat<f64>, Vec<f64>) {
    let mut rows = rows.to_vec();
    rows.sort_unstable();
    let x: Vec<f64> = rows
        .iter()
        .flat_map(|&i| xs[i * d..(i + 1) * d].iter().copied())
        .collect();
    let y: Vec<f64> = rows.iter().map(|&i| ys[i]).collect();
    (Mat::from_row_major(rows.len(), d, x), y)
}

/// CSV data with a held-out set from `test_x`/`test_y` or `test_fraction`.
fn csv_with_heldout(c: &CsvConfig) -> Result<(Dataset<f64>, Option<HeldOut<f64>>), DataError> {
    check_heldout_fields(c)?;
    if let (Some(px), Some(py)) = (&c.test_x, &c.test_y) {
        let train = Dataset::from_csv(c)?;
        let (nt, dt, xs) = read_matrix(px)?;
        if dt != train.d() {
            return Err(DataError::SizeMismatch(format!(
                "{} (data.test_x) has {dt} columns but {} (data.x) has {}",
                px.display(),
                c.x.display(),
                train.d()
            )));
        }
        let (ny, dy, ys) = read_matrix(py)?;
        if dy != 1 {
            return Err(DataError::SizeMismatch(format!(
                "{} (data.test_y): must have exactly one column, found {dy}",
                py.display()
            )));
        }
        if ny != nt {
            return Err(DataError::SizeMismatch(format!(
                "{} (data.test_y) has {ny} rows but {} (data.test_x) has {nt} rows",
                py.display(),
                px.display()
            )));
        }
        let mut x = Mat::from_row_major(nt, dt, xs);
        for i in 0..nt {
            for (j, s) in train.column_scale.iter().enumerate() {
                x[(i, j)] *= s;
            }
        }
        return Ok((train, Some(HeldOut { x, y: ys })));
    }
    let fraction = c.test_fraction.expect("checked by the caller");
    let (n, d, xs) = read_matrix(&c.x)?;
    let (ny, dy, ys) = read_matrix(&c.y)?;
    if dy != 1 || ny != n {
        // the plain loader words these errors
        Dataset::from_csv(c)?;
    }
    let n_test = (fraction * n as f64).round() as usize;
    if n_test == 0 || n_test >= n {
        return Err(csv_field_error(
            "data.test_fraction",
            fraction,
            format!(
                "holds out {n_test} of the {n} rows of {}; both parts need at least one row",
                c.x.display()
            ),
        ));
    }
    let perm = digits::seeded_permutation(n, c.split_seed.unwrap_or(0));
    let (test_rows, train_rows) = perm.split_at(n_test);
    let (x, y) = take_rows(&xs, &ys, d, train_rows);
    let (mut tx, ty) = take_rows(&xs, &ys, d, test_rows);
    let beta_star = read_beta_star(c.beta_star.as_deref(), d)?;
    validate_spectrum(&c.spectrum)?;
    let train = Dataset::from_parts(
        x,
        y,
        beta_star,
        spectrum_diag(&c.spectrum, d),
        c.target_noise_sigma,
        c.normalize_columns,
    )?;
    for i in 0..tx.rows() {
        for (j, s) in train.column_scale.iter().enumerate() {
            tx[(i, j)] *= s;
        }
    }
    Ok((train, Some(HeldOut { x: tx, y: ty })))
}
