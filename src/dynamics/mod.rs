//! The three descriptions of the dynamics: discrete SGD ([`sgd`]), its SDE
//! approximations, and the slow flow along the minima manifold.
pub mod sgd;
