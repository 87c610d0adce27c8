//! Optimal transport on device tensors, shared by the plugins: entropic optimal transport
//! (log-domain Sinkhorn with ε-scaling), the debiased Sinkhorn divergence, exact assignment
//! for small uniform problems, and minibatch OT pairing.
//!
//! The entropic objective (docs/maths.md, "Entropic optimal transport") is
//!
//! ```text
//! OT_ε(a, b) = min_{P ∈ Π(a, b)}  ⟨P, C⟩ + ε KL(P ‖ a⊗b),      C_ij = ‖x_i − y_j‖²
//! ```
//!
//! and the debiased Sinkhorn divergence is
//! `S_ε(a, b) = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b)`.

mod assignment;
mod cost;
mod debiased;
mod features;
mod pairing;
mod sinkhorn;
mod sinkhorn_f64;

pub use assignment::{assignment_cost, min_cost_assignment};
pub use cost::GroundCost;
pub use debiased::DebiasedSinkhorn;
pub use features::feature_sinkhorn_divergence;
pub use features::{cloud_divergence, point_cloud};
pub use pairing::{exact_pairing, mean_cost};
pub use sinkhorn::{Sinkhorn, SinkhornSolution};
pub use sinkhorn_f64::{DivergenceF64, SinkhornF64, SolutionF64, SolveReport};
