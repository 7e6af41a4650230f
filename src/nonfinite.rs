//! Lossless serde for f64 fields: finite values as JSON numbers, NaN and ±∞
//! as the strings `"NaN"`, `"inf"`, `"-inf"` (JSON has no such numbers and
//! serde_json would write `null`, which cannot be read back as an f64).
//! Reading accepts numbers, those strings (also `"Infinity"`), and `null` as
//! NaN (files written before this module). Strings are what Rust's `Display`
//! prints, so CSV output through serde is unchanged.
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct S { #[serde(with = "latedecay::nonfinite")] x: f64 }
//! let text = serde_json::to_string(&S { x: f64::NAN }).unwrap();
//! assert_eq!(text, r#"{"x":"NaN"}"#);
//! let back: S = serde_json::from_str(&text).unwrap();
//! assert!(back.x.is_nan());
//! let old: S = serde_json::from_str(r#"{"x":null}"#).unwrap();
//! assert!(old.x.is_nan());
//! ```

use serde::{Deserialize, Deserializer, Serializer};

/// Serialize an f64: a number if finite, else `"NaN"`, `"inf"` or `"-inf"`.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_str(&v.to_string())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Number(f64),
    Text(String),
    Null(()),
}

/// Deserialize what [`serialize`] writes (and `null` as NaN).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Option::<Repr>::deserialize(d)? {
        Some(Repr::Number(x)) => Ok(x),
        None | Some(Repr::Null(())) => Ok(f64::NAN),
        Some(Repr::Text(t)) => match t.trim() {
            "NaN" | "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "Infinity" | "+Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.parse::<f64>().map_err(|_| {
                serde::de::Error::custom(format!("expected a number, NaN or ±inf, found {other:?}"))
            }),
        },
    }
}
