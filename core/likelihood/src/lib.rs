//! # gpfn-likelihood: every model scored in the same units
//!
//! The negative log-likelihood of data under a GPFN model, in nats per item and bits per
//! dimension, by the estimator its divergence admits
//! ([`gpfn_core::divergence::Likelihood`]; docs/likelihood.md):
//!
//! * **Bayesian (KL = BFN)**: the variational bounds of Graves et al. (2023) — the `n`-step
//!   loss `Lⁿ` and the continuous-time loss `L^∞`, each plus the reconstruction term `L^r`
//!   (discretised over the 8-bit bins for image data) — by Monte Carlo over `t` and the flow
//!   ([`bound`]);
//! * **particle flows on the straight path (W2, Rectified Flow, Sinkhorn's network flow)**:
//!   the exact `ln p` by the instantaneous change of variables along the probability-flow
//!   ODE, integrated with Dormand–Prince 5(4), the trace exact or by Hutchinson's estimator
//!   ([`ode`]);
//! * **categorical data (KL on the simplex = discrete BFN)**: the bounds of Graves et al.
//!   (2023, §6) in nats per item, `L^∞` and `Lⁿ` each plus `L^r` ([`categorical`]);
//! * 8-bit data are treated as **uniformly dequantised** for densities ([`bins`]), so both
//!   give upper bounds on `−log₂ P(pixels)` per dimension.
//!
//! The estimators take the predictor as a closure, so the closed-form tests run them on
//! oracle predictors of Gaussian data; `gpfn-eval` runs them on a trained network.

pub mod bins;
pub mod bound;
pub mod categorical;
pub mod estimate;
pub mod ode;
pub mod options;

pub use estimate::{Estimate, NllEstimate, NllReport};

/// Discrete BFN's bounds against closed forms.
#[cfg(test)]
mod categorical_tests;
/// The estimators against closed forms (a module of the unit tests rather than a test binary
/// of its own: one link of burn fewer in CI).
#[cfg(test)]
mod closed_form_tests;
pub use options::{LikelihoodOptions, ProbeKind, TraceEstimator};

use gpfn_core::Result;
use gpfn_core::burn::tensor::Tensor;

/// A predictor `x̂ = F(z, t)` with one time per row, on whatever device `z` lives (the
/// autodiff device for the ODE likelihood, which differentiates through it).
pub type RowPredictor<'a> = dyn Fn(Tensor<2>, &[f64]) -> Result<Tensor<2>> + 'a;
