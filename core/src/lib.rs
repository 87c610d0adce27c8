//! # gpfn-core
//!
//! The spine of General Proximal Flow Networks: every generation step is a proximal update
//!
//! ```text
//! p_i = argmin_p  α_i · E_{x~p}[ ½‖x − y_i‖² ]  +  D(p, p_{i-1})
//! ```
//!
//! of a *belief* `p` under a *divergence* `D`. This crate holds what a divergence plugin needs
//! and nothing more: the abstractions (belief families, divergences, accuracy schedules,
//! samplers), the plugin registry they register into, the proximal chain that samples, the
//! generic proximal solver and the chain of every divergence defined by its value alone
//! ([`value_divergence`]), and the conformance kit every divergence must pass.
//!
//! Divergences themselves live in plugin crates (`gpfn-kl`, `gpfn-w2`, …); linking a plugin
//! crate is all it takes to make it available. What sits on top — optimal transport
//! (`gpfn-ot`), networks (`gpfn-network`), data sets (`gpfn-data`), files (`gpfn-io`), the
//! run with its config, training loop and checkpoints (`gpfn-run`), evaluation (`gpfn-eval`)
//! and the command line (`gpfn-cli`) — depends on this crate, never the other way round
//! (docs/architecture.md draws the graph).

pub mod belief;
pub mod check;
pub mod conformance;
pub mod divergence;
pub mod error;
pub mod host;
pub mod ode;
pub mod proximal_solver;
pub mod registry;
pub mod rng;
pub mod sampler;
pub mod sampling;
pub mod schedule;
pub mod simulated_flow;
pub mod value_divergence;

pub use burn;
pub use error::{GpfnError, Result};
pub use inventory;
pub use typetag;

/// Everything a plugin crate usually needs.
pub mod prelude {
    pub use crate::belief::{BeliefFamily, BeliefState, DiagGaussian};
    pub use crate::divergence::{Divergence, Noise, ProxStep};
    pub use crate::error::{GpfnError, Result};
    pub use crate::register_plugin;
    pub use crate::registry::PluginKind;
    pub use crate::rng::Rng;
    pub use crate::schedule::Schedule;
    pub use crate::value_divergence;
    pub use crate::value_divergence::{ChainSettings, LossWeight, ValueDivergence};
    pub use burn::tensor::{Device, Tensor};
}
