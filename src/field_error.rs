//! The one record of a rejected setting: which field, the value given, and
//! why. Every error type of the crate that rejects a setting wraps it (with
//! its own context prefix, e.g. "invalid SGD setting: …"), so a user always
//! reads `field = value: reason`.
//!
//! ```
//! use latedecay::field_error::FieldError;
//! let e = FieldError::new("batch_size", 0, "must be ≥ 1");
//! assert_eq!(e.to_string(), "batch_size = 0: must be ≥ 1");
//! ```

/// A rejected setting: `field = value: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value}: {reason}")]
pub struct FieldError {
    /// The field, as written in a config (`sgd.batch_size`) or an argument.
    pub field: String,
    /// The value given.
    pub value: String,
    /// Why it is rejected (what is accepted).
    pub reason: String,
}

impl FieldError {
    /// A rejected `field = value`, with the reason.
    pub fn new(field: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// The first entry of `x` that is NaN or infinite, with its index: the one
/// scan behind every "non-finite input" error of the crate.
///
/// ```
/// use latedecay::field_error::first_non_finite;
/// assert_eq!(first_non_finite(&[1.0, f64::NAN, f64::INFINITY]).map(|(i, _)| i), Some(1));
/// assert_eq!(first_non_finite(&[0.0, -2.5]), None);
/// ```
pub fn first_non_finite(x: &[f64]) -> Option<(usize, f64)> {
    x.iter()
        .position(|v| !v.is_finite())
        .map(|index| (index, x[index]))
}

/// The checks of a numeric setting, one wording per condition, so that every
/// error reads the same (`field = value: must be finite and > 0`).
///
/// ```
/// use latedecay::field_error::FieldError;
/// assert!(FieldError::check_positive("lr", 0.1).is_ok());
/// let e = FieldError::check_positive("lr", 0.0).unwrap_err();
/// assert_eq!(e.to_string(), "lr = 0: must be finite and > 0");
/// let e = FieldError::check_non_negative("sigma", f64::NAN).unwrap_err();
/// assert_eq!(e.to_string(), "sigma = NaN: must be finite and ≥ 0");
/// assert!(FieldError::check_non_negative("sigma", 0.0).is_ok());
/// assert!(FieldError::check_finite("scale", f64::INFINITY).is_err());
/// ```
impl FieldError {
    /// `value` must be finite and > 0.
    pub fn check_positive(field: impl Into<String>, value: f64) -> Result<(), Self> {
        Self::require(
            value.is_finite() && value > 0.0,
            field,
            value,
            "must be finite and > 0",
        )
    }
    /// `value` must be finite and ≥ 0.
    pub fn check_non_negative(field: impl Into<String>, value: f64) -> Result<(), Self> {
        Self::require(
            value.is_finite() && value >= 0.0,
            field,
            value,
            "must be finite and ≥ 0",
        )
    }
    /// `value` must be finite.
    pub fn check_finite(field: impl Into<String>, value: f64) -> Result<(), Self> {
        Self::require(value.is_finite(), field, value, "must be finite")
    }
    fn require(ok: bool, field: impl Into<String>, value: f64, reason: &str) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(Self::new(field, value, reason))
        }
    }
}
