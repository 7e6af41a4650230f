//! latedecay: numerical and statistical checks of why a late learning-rate
//! decay generalizes better. See `README.md` and the derivations in `proofs/`.
pub mod claims;
pub mod cli;
pub mod compare;
pub mod data;
pub mod dynamics;
pub mod experiment;
pub mod field_error;
pub mod figures;
pub mod io;
pub mod linalg;
pub mod manifold;
pub mod model;
pub mod moments;
pub mod noise;
pub mod nonfinite;
pub mod number_format;
pub mod plot;
pub mod probe;
pub mod scalar;
pub mod schedule;
pub mod simd;
pub mod stats;
