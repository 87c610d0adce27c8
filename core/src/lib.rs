//! # gpfn-core
//!
//! The spine of General Proximal Flow Networks: every generation step is a proximal update
//!
//! ```text
//! p_i = argmin_p  α_i · E_{x~p}[ ½‖x − y_i‖² ]  +  D(p, p_{i-1})
//! ```
//!
//! of a *belief* `p` under a *divergence* `D`. This crate holds the abstractions (belief
//! families, divergences, accuracy schedules, samplers, networks, data sets), the plugin
//! registry they register into, the layered configuration that picks them by name, the
//! training and sampling loops, and the conformance kit every divergence must pass.
//!
//! Divergences themselves live in plugin crates (`gpfn-kl`, `gpfn-w2`, …); linking a plugin
//! crate is all it takes to make it available.

pub mod backend;
pub mod belief;
pub mod bench;
pub mod config;
pub mod conformance;
pub mod dataset;
pub mod divergence;
pub mod error;
pub mod eval;
pub mod generate;
pub mod host;
pub mod io;
pub mod math_json;
pub mod network;
pub mod ot;
pub mod proximal_solver;
pub mod registry;
pub mod rng;
pub mod sampler;
pub mod sampling;
pub mod schedule;
pub mod simulated_flow;
pub mod train;

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
    pub use burn::tensor::{Device, Tensor};
}
