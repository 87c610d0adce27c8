//! # gpfn-sinkhorn: entropic optimal-transport proximal steps
//!
//! The `sinkhorn` divergence acts on the `particle` belief family. Its Gaussian summary
//! moves exactly like `w2`'s (the ε → 0 limit, `½ W2²`); its particles move together, as a
//! batch: with particles `z` and predictions `y = x̂`, the entropic plan `P` between the two
//! uniform clouds gives the barycentric projection `T(z_i) = Σ_j P_ij y_j / Σ_j P_ij`, and
//!
//! ```text
//! z_i' = (1 − w) z_i + w T(z_i)
//! ```
//!
//! which is the W2 step `(1 − w) z_i + w y_i` when the identity is the optimal assignment and
//! ε → 0. Training pairs each data point with a noise sample by minibatch optimal transport
//! (`coupling = "exact"`, the default), so that training paths are straighter; the
//! stochastic sampler re-couples its fresh noise to the predictions the same way.

mod coupling;
mod divergence;
mod step;

pub use coupling::{Coupling, couple};
pub use divergence::SinkhornDivergence;
pub use step::entropic_transport_step;
