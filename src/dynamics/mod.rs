//! The three descriptions of the dynamics: discrete SGD ([`sgd`]), its SDE
//! approximations ([`sde`]), and the slow flow along the minima manifold
//! ([`flow`]), plus the gradient-flow limit map Φ ([`gradient_flow`]) and the
//! mean-square linear stability of SGD at a point ([`stability`]).
pub mod flow;
pub mod gradient_flow;
pub mod sde;
pub mod sgd;
pub mod stability;
