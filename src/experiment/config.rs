//! Experiment configuration (TOML). Every field is documented in
//! `configs/diagonal_label_noise.toml`; unknown fields are rejected.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{DataConfig, GroundTruth, SyntheticConfig};
use crate::dynamics::sgd::{RecordPlan, Sgd};
use crate::field_error::FieldError;
use crate::model::ModelKind;
use crate::noise::Sampling;
use crate::scalar::{Precision, MIN_PRECISION_BITS};
use crate::schedule::Schedule;

/// Errors reading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File could not be read.
    #[error("cannot read config {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// TOML syntax or type error (the message names the field and line).
    #[error("invalid config {path}: {message}")]
    Parse { path: String, message: String },
    /// A value is out of range.
    #[error("invalid config: {0}")]
    Invalid(FieldError),
}

/// Initialization of θ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Init {
    /// Every parameter equal to `scale` (Diagonal: u = v = scale·1); for the
    /// diagonal network `u` and `v` set the two halves separately (e.g.
    /// u₀ = 0.1, v₀ = 0 as in Andriushchenko et al.), overriding `scale`.
    Uniform {
        /// Value of every parameter (default 1).
        #[serde(default = "default_scale")]
        scale: f64,
        /// Diagonal only: the value of every u_j.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        u: Option<f64>,
        /// Diagonal only: the value of every v_j.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<f64>,
    },
    /// θ₀ read from a header-less CSV file (one column of D rows, or one row
    /// of D values; D = d for Linear, 2d = (u, v) for Diagonal). A relative
    /// path is relative to the working directory.
    File {
        /// The CSV file.
        path: std::path::PathBuf,
        /// The values, loaded by `Experiment::new`.
        #[serde(skip)]
        values: Vec<f64>,
    },
    /// i.i.d. N(0, scale²) parameters, from the run seed (stream `INIT`).
    Gaussian { scale: f64 },
}

fn default_scale() -> f64 {
    1.0
}

impl Init {
    /// Every parameter equal to `scale`.
    pub fn uniform(scale: f64) -> Self {
        Init::Uniform {
            scale,
            u: None,
            v: None,
        }
    }
}

impl Default for Init {
    fn default() -> Self {
        Init::uniform(1.0)
    }
}

/// Which seeds to run: a list `[1, 2, 3]` or a table `{ first, count }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Seeds {
    /// Explicit list.
    List(Vec<u64>),
    /// `count` consecutive seeds from `first`.
    Range { first: u64, count: u64 },
}

/// By hand so that a wrong key or type in `{ first, count }` is named (an
/// untagged enum would only say that no variant matched).
impl<'de> Deserialize<'de> for Seeds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Seeds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of seeds [1, 2, 3] or a table { first = 1, count = 16 }")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Seeds, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element::<u64>()? {
                    v.push(x);
                }
                Ok(Seeds::List(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Seeds, A::Error> {
                use serde::de::Error;
                let (mut first, mut count) = (None, None);
                while let Some(k) = a.next_key::<String>()? {
                    match k.as_str() {
                        "first" if first.is_none() => first = Some(a.next_value::<u64>()?),
                        "count" if count.is_none() => count = Some(a.next_value::<u64>()?),
                        "first" | "count" => return Err(A::Error::duplicate_field("first/count")),
                        other => return Err(A::Error::unknown_field(other, &["first", "count"])),
                    }
                }
                Ok(Seeds::Range {
                    first: first.ok_or_else(|| A::Error::missing_field("first"))?,
                    count: count.ok_or_else(|| A::Error::missing_field("count"))?,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Seeds {
    /// The seeds, in order.
    pub fn to_vec(&self) -> Vec<u64> {
        match self {
            Seeds::List(v) => v.clone(),
            Seeds::Range { first, count } => (*first..first + count).collect(),
        }
    }
}

/// The `[run]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Seeds of the SGD noise (and of a Gaussian init).
    pub seeds: Seeds,
    /// Total number of SGD steps. For a step-decay schedule it may be omitted
    /// when `steps_after_decay` is given: steps = decay_step + steps_after_decay.
    pub steps: Option<u64>,
    /// Steps to run after the decay (step-decay schedules).
    pub steps_after_decay: Option<u64>,
    /// Which steps to record.
    #[serde(default = "default_record")]
    pub record: RecordPlan,
    /// Compute the references θ_mn and θ_R (the basis-pursuit LPs) before the
    /// first step (default true). `false` skips them for runs that need only
    /// the iterate and the losses (no start-up LP at large d): `run` then
    /// says that θ_mn was not computed instead of printing distances to it.
    /// Sweeps and claims compare with θ_mn and refuse `false`.
    #[serde(
        default = "default_reference",
        skip_serializing_if = "is_default_reference"
    )]
    pub reference: bool,
}

fn default_reference() -> bool {
    true
}

/// Configs written back keep their old form unless `reference = false`.
fn is_default_reference(v: &bool) -> bool {
    *v
}

fn default_record() -> RecordPlan {
    RecordPlan::LogSpaced { points: 60 }
}

/// The `[sweep]` section: a grid of decay steps × initial learning rates × seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSection {
    /// Decay steps T to compare.
    pub decay_steps: Vec<u64>,
    /// Initial (large) learning rates η₁; default: the schedule's `lr`.
    #[serde(default)]
    pub lrs: Vec<f64>,
    /// Ratio η₂/η₁ after the decay; default: the schedule's ratio.
    pub decay_factor: Option<f64>,
    /// Steps after the decay (the same for every T).
    pub steps_after_decay: u64,
}

/// The optional `[claims]` section: how `latedecay verify --config` tests the
/// claims on this experiment. Every field is optional; the defaults are the
/// built-in protocol of the mode (`proofs/claims.md`), with T_max from the
/// slow-flow prediction on this instance. Unset fields are left out when the
/// config is echoed (`skip_serializing_none`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimsSection {
    /// Seeds of the decay studies (C1–C4, C8); default 1…16 (quick) or the
    /// fresh seeds 1001…1064 (full).
    pub seeds: Option<Seeds>,
    /// An explicit decay grid (replaces 0 and T_max/2^k).
    pub decay_steps: Option<Vec<u64>>,
    /// The longest decay step T_max (replaces the slow-flow prediction).
    pub t_max: Option<u64>,
    /// Number of halvings of T_max in the grid (default 6 quick, 8 full).
    pub halvings: Option<u32>,
    /// Steps after the decay (default: `sweep.steps_after_decay`, else
    /// `run.steps_after_decay`, else 40 000).
    pub steps_after_decay: Option<u64>,
    /// Relative distance to θ_mn the slow flow must reach for T_max (0.025).
    pub flow_target_rel_dist: Option<f64>,
    /// T_max = factor × the flow prediction (2).
    pub flow_safety_factor: Option<f64>,
    /// T_max is rounded up to a multiple of this (100 000).
    pub round_to: Option<u64>,
    /// C9: constant learning rates of the σ = 0 runs (default η₁/4, η₁/2, η₁).
    pub plateau_lrs: Option<Vec<f64>>,
    /// C9: seeds (default 1…8 quick, 1001…1032 full).
    pub plateau_seeds: Option<Seeds>,
    /// C9: steps per run (default T_max).
    pub plateau_steps: Option<u64>,
    /// C10: SGD steps replayed in MPFR (2 000 quick, 20 000 full).
    pub identity_steps: Option<u64>,
    /// C10: MPFR precision in bits (256).
    pub identity_bits: Option<u32>,
    /// C11: seeds of the σ = 0 large-LR study (default 1…8 quick, 1001…1032 full).
    pub regime_seeds: Option<Seeds>,
    /// C11: K, runs of 2K steps (default 400 000 quick, 800 000 full).
    pub regime_steps: Option<u64>,
    /// Pre-registered thresholds (defaults in `proofs/claims.md`).
    pub thresholds: Option<ThresholdSection>,
}

/// `[claims.thresholds]`: the pre-registered criteria, each optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSection {
    /// C1–C4: Spearman ρ(T, median) must be ≤ this (−0.8).
    pub trend_max_rho: Option<f64>,
    /// C1–C4: minimum relative drop of the median, earliest → latest T (0.5).
    pub trend_min_relative_decrease: Option<f64>,
    /// C2: mean relative distance to θ_mn at T_max below this (0.05).
    pub c2_rel_dist_bound: Option<f64>,
    /// C3: mean excess test loss at T_max below this fraction of R(0) (0.01).
    pub c3_excess_fraction: Option<f64>,
    /// C8: equivalence margin of the test loss, fraction of R(θ_∞) (0.01).
    pub c8_test_loss_margin_fraction: Option<f64>,
    /// C8: equivalence margin of the relative distance to θ_∞ (0.01).
    pub c8_rel_dist_margin: Option<f64>,
    /// C8: bound on the null-space drift relative to ‖θ₀‖ (1e-9).
    pub c8_null_drift_bound: Option<f64>,
    /// C9: fraction of the norm gap closed in the last half (0.01).
    pub c9_gap_fraction: Option<f64>,
    /// C9: ‖r‖ at K/2 below this (1e-6).
    pub c9_residual_bound: Option<f64>,
    /// C10: relative error bound in MPFR (1e-60).
    pub c10_bound: Option<f64>,
}

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Free-form name, echoed in outputs.
    #[serde(default)]
    pub name: String,
    /// Model.
    pub model: ModelKind,
    /// Precision in bits: 53 runs in f64, more runs in MPFR.
    #[serde(default = "default_precision")]
    pub precision_bits: u32,
    /// Data.
    pub data: DataConfig,
    /// Initialization.
    #[serde(default)]
    pub init: Init,
    /// SGD method.
    pub sgd: Sgd,
    /// Run settings.
    pub run: RunSection,
    /// Optional sweep grid.
    pub sweep: Option<SweepSection>,
    /// Optional protocol of `verify --config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsSection>,
    /// The network of `model = "mlp"` (width, activation, init scales).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp: Option<crate::model::mlp::MlpSection>,
}

/// Most seeds of one run or study.
pub const MAX_SEEDS: u64 = 1_000_000;
/// Largest minibatch.
pub const MAX_BATCH_SIZE: usize = 10_000_000;
/// Most records per run.
pub const MAX_RECORDS: u64 = 10_000_000;
/// Most decay steps or learning rates of a sweep.
pub const MAX_GRID: usize = 100_000;

/// The first value that occurs twice.
fn first_duplicate(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut seen = std::collections::BTreeSet::new();
    values.into_iter().find(|v| !seen.insert(*v))
}

fn default_precision() -> u32 {
    MIN_PRECISION_BITS
}

impl ExperimentConfig {
    /// Parse TOML text (`origin` names the source in errors). Unknown fields
    /// and type errors are rejected here; everything else is checked once,
    /// by [`super::Experiment::new`].
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Read and parse a TOML file (see [`Self::from_toml_str`]). Relative
    /// data paths resolve against the config file's directory, so a config
    /// works from any working directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut cfg = Self::from_toml_str(&text, &path.display().to_string())?;
        if let DataConfig::Csv(c) = &mut cfg.data {
            let base = path.parent().unwrap_or(Path::new(""));
            let resolve = |p: &mut std::path::PathBuf| {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            };
            resolve(&mut c.x);
            resolve(&mut c.y);
            if let Some(b) = &mut c.beta_star {
                resolve(b);
            }
            for p in [&mut c.test_x, &mut c.test_y].into_iter().flatten() {
                resolve(p);
            }
        }
        Ok(cfg)
    }

    /// Check ranges that serde cannot; called by [`super::Experiment::new`]
    /// only.
    pub(crate) fn check_fields(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, value: String, reason: &str| {
            ConfigError::Invalid(FieldError::new(field, value, reason))
        };
        if !self.run.reference && (self.sweep.is_some() || self.claims.is_some()) {
            return Err(invalid(
                "run.reference",
                "false".into(),
                "sweeps and claims compare with θ_mn: remove run.reference (or set it to true)",
            ));
        }
        Precision::new(self.precision_bits).map_err(|e| {
            invalid(
                "precision_bits",
                self.precision_bits.to_string(),
                &e.to_string(),
            )
        })?;
        self.sgd
            .validate(usize::MAX)
            .map_err(|e| invalid("sgd", String::new(), &e.to_string()))?;
        if let Seeds::Range { first, count } = self.run.seeds {
            if count > MAX_SEEDS {
                return Err(invalid(
                    "run.seeds.count",
                    count.to_string(),
                    &format!("at most {MAX_SEEDS} seeds per run"),
                ));
            }
            if first.checked_add(count).is_none() {
                return Err(invalid(
                    "run.seeds",
                    format!("{{ first = {first}, count = {count} }}"),
                    "first + count overflows u64",
                ));
            }
        }
        if self.run.seeds.to_vec().is_empty() {
            return Err(invalid(
                "run.seeds",
                format!("{:?}", self.run.seeds),
                "no seeds",
            ));
        }
        match self.init {
            Init::Uniform { scale, .. } | Init::Gaussian { scale } if !scale.is_finite() => {
                return Err(invalid("init.scale", scale.to_string(), "must be finite"))
            }
            Init::Uniform { u, v, .. } if u.is_some() || v.is_some() => {
                for (field, x) in [("init.u", u), ("init.v", v)] {
                    if let Some(x) = x.filter(|x| !x.is_finite()) {
                        return Err(invalid(field, x.to_string(), "must be finite"));
                    }
                }
                if self.model != ModelKind::Diagonal {
                    return Err(invalid(
                        "init.u",
                        format!("{u:?}, v = {v:?}"),
                        "separate u and v scales need model = \"diagonal\"",
                    ));
                }
            }
            _ => {}
        }
        if self.run.steps.is_none() && self.run.steps_after_decay.is_none() && self.sweep.is_none()
        {
            return Err(invalid(
                "run.steps",
                "missing".into(),
                "give run.steps, or run.steps_after_decay with a step_decay schedule",
            ));
        }
        if self.run.steps.is_none()
            && self.run.steps_after_decay.is_some()
            && !matches!(self.sgd.schedule, Schedule::StepDecay { .. })
        {
            return Err(invalid(
                "run.steps_after_decay",
                format!("{:?}", self.run.steps_after_decay),
                "needs sgd.schedule.kind = \"step_decay\" (or give run.steps)",
            ));
        }
        if self.sgd.batch_size > MAX_BATCH_SIZE {
            return Err(invalid(
                "sgd.batch_size",
                self.sgd.batch_size.to_string(),
                &format!("at most {MAX_BATCH_SIZE}"),
            ));
        }
        let records = self.record_count();
        match self.run.record {
            RecordPlan::Every { every: 0 } => {
                return Err(invalid("run.record.every", "0".into(), "must be ≥ 1"))
            }
            RecordPlan::LogSpaced { points: 0 } => {
                return Err(invalid("run.record.points", "0".into(), "must be ≥ 1"))
            }
            _ if records > MAX_RECORDS => {
                return Err(invalid(
                    "run.record",
                    {
                        let (steps, source) = self.longest_run();
                        format!("{:?} over {steps} steps ({source})", self.run.record)
                    },
                    &format!(
                        "would record {records} points per run; at most {MAX_RECORDS} (raise `every` or lower `points`)"
                    ),
                ))
            }
            _ => {}
        }
        if let Some(sw) = &self.sweep {
            if sw.decay_steps.len() > MAX_GRID || sw.lrs.len() > MAX_GRID {
                return Err(invalid(
                    "sweep",
                    format!("{} decay steps, {} lrs", sw.decay_steps.len(), sw.lrs.len()),
                    &format!("at most {MAX_GRID} of each"),
                ));
            }
        }
        self.check_mlp_fields()?;
        // Settings that change nothing are rejected with the reason.
        if let DataConfig::Synthetic(syn) = &self.data {
            if syn.normalize_columns && syn.spectrum != crate::data::Spectrum::Identity {
                return Err(invalid(
                    "data.spectrum",
                    format!("{:?}", syn.spectrum),
                    "has no effect with normalize_columns = true (column scaling absorbs a diagonal spectrum exactly); remove it or set normalize_columns = false",
                ));
            }
        }
        if let (Some(steps), Some(after)) = (self.run.steps, self.run.steps_after_decay) {
            return Err(invalid(
                "run.steps_after_decay",
                after.to_string(),
                &format!("run.steps = {steps} is also given; give one of them"),
            ));
        }
        if let (Some(steps), Schedule::StepDecay { decay_step, .. }) =
            (self.run.steps, &self.sgd.schedule)
        {
            if *decay_step > steps {
                return Err(invalid(
                    "sgd.schedule.decay_step",
                    decay_step.to_string(),
                    &format!("exceeds run.steps = {steps}: the decay would never happen"),
                ));
            }
        }
        if let Seeds::List(v) = &self.run.seeds {
            if v.len() as u64 > MAX_SEEDS {
                return Err(invalid(
                    "run.seeds",
                    format!("{} seeds", v.len()),
                    &format!("at most {MAX_SEEDS} seeds per run"),
                ));
            }
            if let Some(d) = first_duplicate(v.iter().copied()) {
                return Err(invalid(
                    "run.seeds",
                    format!("{v:?}"),
                    &format!("seed {d} appears twice"),
                ));
            }
        }
        if let Some(sw) = &self.sweep {
            if let Some(d) = first_duplicate(sw.decay_steps.iter().copied()) {
                return Err(invalid(
                    "sweep.decay_steps",
                    format!("{:?}", sw.decay_steps),
                    &format!("decay step {d} appears twice"),
                ));
            }
            if let Some(d) = first_duplicate(sw.lrs.iter().map(|x| x.to_bits())) {
                return Err(invalid(
                    "sweep.lrs",
                    format!("{:?}", sw.lrs),
                    &format!("learning rate {} appears twice", f64::from_bits(d)),
                ));
            }
            if sw.decay_steps.is_empty() {
                return Err(invalid("sweep.decay_steps", "[]".into(), "no decay steps"));
            }
            if !matches!(self.sgd.schedule, Schedule::StepDecay { .. }) {
                return Err(invalid(
                    "sgd.schedule.kind",
                    format!("{:?}", self.sgd.schedule),
                    "a sweep over decay steps needs kind = \"step_decay\"",
                ));
            }
            for &lr in &sw.lrs {
                FieldError::check_positive("sweep.lrs", lr).map_err(ConfigError::Invalid)?;
            }
            if let Some(f) = sw.decay_factor {
                if !(f.is_finite() && f > 0.0) {
                    return Err(invalid("sweep.decay_factor", f.to_string(), "must be > 0"));
                }
            }
        }
        Ok(())
    }

    /// `model = "mlp"` needs `[mlp]` (and only it); its init is set there.
    fn check_mlp_fields(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, value: String, reason: &str| {
            ConfigError::Invalid(FieldError::new(field, value, reason))
        };
        match (&self.mlp, self.model) {
            (None, ModelKind::Mlp) => Err(invalid(
                "mlp",
                "missing".into(),
                "model = \"mlp\" needs an [mlp] section (width, optionally activation = \"tanh\" | \"relu\" | \"gelu\", w_scale, a_scale)",
            )),
            (Some(_), ModelKind::Linear | ModelKind::Diagonal) => Err(invalid(
                "mlp",
                "given".into(),
                &format!("has no effect with model = \"{}\"; remove it or set model = \"mlp\"", self.model),
            )),
            (Some(m), ModelKind::Mlp) => {
                if m.width == 0 || m.width > 1_000_000 {
                    return Err(invalid("mlp.width", m.width.to_string(), "must be in 1 … 10⁶"));
                }
                for (field, v) in [("mlp.w_scale", m.w_scale), ("mlp.a_scale", m.a_scale)] {
                    FieldError::check_positive(field, v).map_err(ConfigError::Invalid)?;
                }
                if self.init != Init::default() {
                    return Err(invalid(
                        "init",
                        format!("{:?}", self.init),
                        "the Mlp is initialized by [mlp] w_scale and a_scale (W_kj ~ N(0, w_scale²/d), a_k ~ N(0, a_scale²)); remove [init]",
                    ));
                }
                Ok(())
            }
            (None, _) => Ok(()),
        }
    }

    /// The longest single run the config asks for (run section or sweep),
    /// and the fields that set it.
    fn longest_run(&self) -> (u64, &'static str) {
        let sweep = self.sweep.as_ref().map_or(0, |sw| {
            sw.decay_steps
                .iter()
                .max()
                .map_or(0, |t| t.saturating_add(sw.steps_after_decay))
        });
        let (run, source) = match (
            self.run.steps,
            self.run.steps_after_decay,
            &self.sgd.schedule,
        ) {
            (Some(s), _, _) => (s, "run.steps"),
            (None, Some(a), Schedule::StepDecay { decay_step, .. }) => (
                decay_step.saturating_add(a),
                "sgd.schedule.decay_step + run.steps_after_decay",
            ),
            (None, a, _) => (a.unwrap_or(0), "run.steps_after_decay"),
        };
        if sweep > run {
            (sweep, "max sweep.decay_steps + sweep.steps_after_decay")
        } else {
            (run, source)
        }
    }

    /// Records per run the record plan makes on the longest run.
    fn record_count(&self) -> u64 {
        match self.run.record {
            RecordPlan::Every { every } => self.longest_run().0 / every.max(1) + 2,
            RecordPlan::LogSpaced { points } => points as u64 + 3,
            RecordPlan::FinalOnly => 2,
        }
    }

    /// Total steps of the `run` section.
    pub fn total_steps(&self) -> u64 {
        if let Some(s) = self.run.steps {
            return s;
        }
        let after = self.run.steps_after_decay.unwrap_or(0);
        match self.sgd.schedule {
            Schedule::StepDecay { decay_step, .. } => decay_step + after,
            _ => after,
        }
    }

    /// The built-in default: label-noise SGD on the diagonal network, n = 40,
    /// d = 100, β* with 3 ones, normalized columns, u = v = 1, B = 1, σ = 1,
    /// η₁ = 0.004 → η₂ = 0.0004, 40k steps after the decay, decay steps
    /// 0 / 50k / 200k / 800k, 16 seeds.
    pub fn default_late_decay() -> Self {
        Self {
            name: "label-noise diagonal network: early vs late decay".into(),
            model: ModelKind::Diagonal,
            precision_bits: 53,
            data: DataConfig::Synthetic(SyntheticConfig {
                n: 40,
                d: 100,
                ground_truth: GroundTruth::Sparse {
                    nonzeros: 3,
                    value: 1.0,
                },
                normalize_columns: true,
                ..Default::default()
            }),
            init: Init::uniform(1.0),
            sgd: Sgd {
                noise: Default::default(),
                batch_size: 1,
                label_noise_sigma: 1.0,
                sampling: Sampling::WithReplacement,
                schedule: Schedule::StepDecay {
                    lr: 0.004,
                    lr_after: 0.0004,
                    decay_step: 800_000,
                },
            },
            run: RunSection {
                seeds: Seeds::Range {
                    first: 1,
                    count: 16,
                },
                steps: None,
                steps_after_decay: Some(40_000),
                record: RecordPlan::LogSpaced { points: 60 },
                reference: true,
            },
            sweep: Some(SweepSection {
                decay_steps: vec![0, 50_000, 200_000, 800_000],
                lrs: vec![],
                decay_factor: None,
                steps_after_decay: 40_000,
            }),
            claims: None,
            mlp: None,
        }
    }
}
