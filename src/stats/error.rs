//! The error type of the statistics routines and the input checks that produce it.

/// Errors reported by the statistics routines.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// Not enough observations for the requested procedure.
    #[error("{what} needs at least {needed} observations, got {got}")]
    TooFewSamples {
        /// Procedure or quantity that needed the observations.
        what: &'static str,
        /// Minimum required.
        needed: usize,
        /// Number supplied.
        got: usize,
    },
    /// Two samples that must be paired have different lengths.
    #[error("length mismatch: first sample has {left} values, second has {right}")]
    LengthMismatch {
        /// Length of the first slice.
        left: usize,
        /// Length of the second slice.
        right: usize,
    },
    /// An input value is NaN or infinite.
    #[error("non-finite input: {name}[{index}] = {value}")]
    NonFinite {
        /// Name of the offending argument.
        name: &'static str,
        /// Index of the offending element.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The data have zero spread, so the statistic is undefined.
    #[error("zero variance in {what}: every value equals {value}")]
    ZeroVariance {
        /// Which quantity has no spread.
        what: &'static str,
        /// The common value.
        value: f64,
    },
    /// A scalar parameter is out of its admissible range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// What was expected.
        reason: &'static str,
    },
}

pub(super) fn check_finite(name: &'static str, x: &[f64]) -> Result<(), StatsError> {
    crate::field_error::first_non_finite(x).map_or(Ok(()), |(index, value)| {
        Err(StatsError::NonFinite { name, index, value })
    })
}

pub(super) fn check_len(what: &'static str, x: &[f64], needed: usize) -> Result<(), StatsError> {
    if x.len() < needed {
        Err(StatsError::TooFewSamples {
            what,
            needed,
            got: x.len(),
        })
    } else {
        Ok(())
    }
}

pub(super) fn check_same_len(a: &[f64], b: &[f64]) -> Result<(), StatsError> {
    if a.len() != b.len() {
        Err(StatsError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        })
    } else {
        Ok(())
    }
}

pub(super) fn check_confidence(confidence: f64) -> Result<(), StatsError> {
    if confidence.is_finite() && confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "confidence",
            value: confidence,
            reason: "must lie strictly between 0 and 1",
        })
    }
}
