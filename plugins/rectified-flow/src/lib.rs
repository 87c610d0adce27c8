//! # gpfn-rectified-flow: Rectified Flow as a discrete JKO scheme
//!
//! Rectified Flow (Liu et al. 2023) is the W2 proximal flow on the uniform grid `t_i = i/n`:
//! the JKO step `z_i = argmin_z α_i ½‖z − x̂_i‖² + ½‖z − z_{i−1}‖²` moves a particle by
//! `z_i = (1 − w_i) z_{i−1} + w_i x̂_i` with `w_i = 1/(n − i + 1)`, which is explicit Euler for
//!
//! ```text
//! dz/dt = (x̂(z, t) − z)/(1 − t)
//! ```
//!
//! This crate gives the whole toolkit on top of that reading:
//!
//! * the `rectified-flow` divergence ([`RectifiedFlow`]): W2's step on `particle` beliefs,
//!   the velocity-matching loss `‖v − v̂‖² = ‖x − x̂‖²/(1 − t)²`, with `uniform`,
//!   `logit-normal` or `distill` (`t = 0`) time sampling;
//! * the `heun` sampler ([`HeunSampler`]): second order, `2n − 1` network evaluations;
//! * the straightness measure ([`straightness()`]) of Liu et al., on a chain started from
//!   given prior noise ([`prior_with_noise`]).
//!
//! Reflow and one-step distillation are workflows on a trained run, not part of the
//! divergence: they live in `gpfn-reflow` (`workflows/reflow`), and this crate
//! depends on `gpfn-core` only.
//!
//! The network's parametrisation (`x`, `eps` or `velocity`) is `[network] target`, shared by
//! every divergence; `velocity` makes the network output `v̂` with `x̂ = z + (1 − t) v̂`.

mod divergence;
mod heun;
mod prior;
mod straightness;

pub use divergence::{RectifiedFlow, TimeSampling};
pub use heun::{HeunEnd, HeunSampler, heun_chain};
pub use prior::prior_with_noise;
pub use straightness::{Straightness, straightness};
