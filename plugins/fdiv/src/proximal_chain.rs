//! What every f-divergence shares: the accuracy schedule, the proximal step by the generic
//! solver, the sampling step, the simulated flow distribution and the training loss, and the
//! macro that implements [`Divergence`] (with its maths and objective) for each of them.

use gpfn_core::belief::{BeliefFamily, DiagGaussian};
use gpfn_core::burn::tensor::Tensor;
#[cfg(doc)]
use gpfn_core::divergence::Divergence;
use gpfn_core::divergence::{DivergenceMaths, ProxStep};
use gpfn_core::proximal_solver::{SolverOptions, Start, solve_prox};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::precision::{discrete_loss_weight, discrete_time, precision_gain};
use gpfn_core::schedule::{Schedule, time_grid};
use gpfn_core::simulated_flow::{grid_index, simulated_flow};
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};

/// The weight `λ(t)` of `‖x − x̂‖²` in the training loss of an f-divergence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FLossWeight {
    /// `λ = n/2 · α_i` at `t = t_{i−1}`: KL's discrete-time weight (BFN's `Lⁿ`), which the
    /// accuracies below share, so `forward-kl` trains exactly as discrete-time BFN.
    #[default]
    Accuracy,
    /// `λ = 1`: clean-data regression, uniform over the grid.
    Data,
}

/// Settings shared by every f-divergence: the step grid and the solver.
#[derive(Clone, Copy, Debug)]
pub struct ChainSettings {
    /// Number of steps `n` of the grid the flow is simulated on (sample with `n` steps).
    pub steps: usize,
    /// Loss weighting.
    pub loss_weight: FLossWeight,
    /// Solver tolerance on the largest Newton step.
    pub tolerance: f64,
    /// Solver iteration cap.
    pub max_iterations: usize,
}

/// Default `n` of the grid.
pub fn default_steps() -> usize {
    20
}

/// Default solver tolerance.
pub fn default_tolerance() -> f64 {
    SolverOptions::default().tolerance
}

/// Default solver iteration cap.
pub fn default_max_iterations() -> usize {
    SolverOptions::default().max_iterations
}

/// `α_i = ρ(κ_i) − ρ(κ_{i−1})`, `ρ = 1/(1 − κ)`: KL's precision gains (∞ at `κ_i = 1`).
/// Every f-divergence is `f''(1)·KL` to second order around `p = q`, so small steps move the
/// belief as Bayes' rule does, and `forward-kl` reproduces BFN exactly.
pub fn accuracy(step: &ProxStep) -> f64 {
    precision_gain(step.kappa_prev, step.kappa)
}

/// The proximal step of the divergence `name` by the generic solver, started at the Bayes
/// step. A solve that stops at the iteration cap is logged (the belief is the last iterate);
/// invalid input (a non-positive accuracy, mismatched shapes) is an error that names the
/// divergence.
pub fn prox(
    div: &dyn DivergenceMaths,
    name: &str,
    settings: &ChainSettings,
    prev: &DiagGaussian,
    y: &Tensor<2>,
    alpha: f64,
) -> Result<DiagGaussian> {
    let options = SolverOptions {
        tolerance: settings.tolerance,
        max_iterations: settings.max_iterations,
        start: Start::Bayes,
    };
    let (p, report) = solve_prox(div, prev, y, alpha, &options)
        .map_err(|e| GpfnError::Invalid(format!("divergence `{name}`: {e}")))?;
    if !report.converged {
        tracing::debug!(
            divergence = name,
            ?report,
            "proximal solver stopped at its iteration cap"
        );
    }
    Ok(p)
}

/// One sampling step: deterministic `y = x̂`, stochastic BFN's sender `y ~ N(x̂, α⁻¹ I)`,
/// then the proximal step (the chain KL shares, [`gpfn_core::divergence::sender_step`]).
pub use gpfn_core::divergence::sender_step as step;

/// The simulated flow at grid times `t = j/n` under `schedule`; an off-grid time is an error
/// naming the divergence `name`.
// `DivergenceMaths::flow_at`'s arguments, plus what the macro knows of the divergence.
#[allow(clippy::too_many_arguments)]
pub fn flow_at(
    div: &dyn DivergenceMaths,
    name: &str,
    settings: &ChainSettings,
    family: &dyn BeliefFamily,
    schedule: &dyn Schedule,
    x: &Tensor<2>,
    t: &[f64],
    rng: &mut Rng,
) -> Result<Tensor<2>> {
    let n = settings.steps;
    let who = format!("divergence `{name}`");
    let steps = t
        .iter()
        .map(|&t| grid_index(t, n, &who))
        .collect::<gpfn_core::Result<Vec<_>>>()?;
    simulated_flow(div, family, &time_grid(schedule, n), x, &steps, rng)
}

/// The simulated flow at signal levels `κ`, read on the divergence's *default* schedule: each
/// `κ` is mapped to the nearest grid level `κ(j/n)`. The loops call [`flow_at`], which uses
/// the configured schedule.
pub fn flow_at_kappa(
    div: &dyn DivergenceMaths,
    settings: &ChainSettings,
    family: &dyn BeliefFamily,
    x: &Tensor<2>,
    kappa: &[f64],
    rng: &mut Rng,
) -> Result<Tensor<2>> {
    let schedule = div.default_schedule();
    let n = settings.steps;
    let levels: Vec<f64> = (0..=n)
        .map(|j| schedule.kappa(j as f64 / n as f64))
        .collect();
    let steps: Vec<usize> = kappa
        .iter()
        .map(|k| {
            (0..=n)
                .min_by(|&a, &b| (levels[a] - k).abs().total_cmp(&(levels[b] - k).abs()))
                .unwrap_or(0)
        })
        .collect();
    simulated_flow(
        div,
        family,
        &time_grid(schedule.as_ref(), n),
        x,
        &steps,
        rng,
    )
}

/// The loss weight at `t = t_{i−1}`.
pub fn loss_weight(settings: &ChainSettings, schedule: &dyn Schedule, t: f64) -> f64 {
    match settings.loss_weight {
        FLossWeight::Data => 1.0,
        FLossWeight::Accuracy => discrete_loss_weight(schedule, settings.steps, t),
    }
}

/// A grid time `t_{i−1} = (i − 1)/n`, `i ~ U{1..n}`.
pub fn sample_time(settings: &ChainSettings, rng: &mut Rng) -> f64 {
    discrete_time(settings.steps, rng)
}

/// Implements [`Divergence`] for a divergence defined by its value: a config type with a
/// `settings() -> ChainSettings` method and a `divergence_value(p, q) -> Tensor<1>` method,
/// registered under `$name`. The type is its own maths and its own objective; everything but
/// the value is this module's shared chain (KL accuracies, the generic solver's step, the
/// simulated flow, the loss weight, grid times). The f-divergences use it, and so can a
/// plugin crate (it needs `typetag` among its dependencies):
///
/// ```text
/// gpfn_fdiv::impl_value_divergence!(MyDivergence, "my-divergence");
/// ```
///
/// With `, with_derivatives` after the name, the type also has a
/// `divergence_derivatives(p, q) -> Option<CoordinateDerivatives>` method, the closed-form
/// per-coordinate derivatives the solver then uses instead of autodiff.
#[macro_export]
macro_rules! impl_value_divergence {
    ($ty:ty, $name:literal) => {
        $crate::impl_value_divergence!(@impl $ty, $name, {});
    };
    ($ty:ty, $name:literal, with_derivatives) => {
        $crate::impl_value_divergence!(@impl $ty, $name, {
            fn coordinate_derivatives(
                &self,
                p: &gpfn_core::belief::DiagGaussian,
                q: &gpfn_core::belief::DiagGaussian,
            ) -> Option<gpfn_core::divergence::CoordinateDerivatives> {
                self.divergence_derivatives(p, q)
            }
        });
    };
    (@impl $ty:ty, $name:literal, { $($extra:tt)* }) => {
        #[typetag::serde(name = $name)]
        impl gpfn_core::divergence::Divergence for $ty {
            fn maths(&self) -> &dyn gpfn_core::divergence::DivergenceMaths {
                self
            }

            fn objective(&self) -> &dyn gpfn_core::divergence::Objective {
                self
            }
        }

        impl gpfn_core::divergence::Proximal<gpfn_core::belief::DiagGaussian> for $ty {
            fn value(
                &self,
                p: &gpfn_core::belief::DiagGaussian,
                q: &gpfn_core::belief::DiagGaussian,
            ) -> gpfn_core::burn::tensor::Tensor<1> {
                self.divergence_value(p, q)
            }

            fn prox(
                &self,
                prev: &gpfn_core::belief::DiagGaussian,
                y: &gpfn_core::burn::tensor::Tensor<2>,
                alpha: f64,
            ) -> gpfn_core::Result<gpfn_core::belief::DiagGaussian> {
                $crate::proximal_chain::prox(self, $name, &self.settings(), prev, y, alpha)
            }
        }

        impl gpfn_core::divergence::DivergenceMaths for $ty {
            fn belief_families(&self) -> &'static [&'static str] {
                &["diag-gaussian"]
            }

            fn default_schedule(&self) -> Box<dyn gpfn_core::schedule::Schedule> {
                Box::new(gpfn_core::schedule::BfnGeometric::default())
            }

            fn accuracy(&self, step: &gpfn_core::divergence::ProxStep) -> f64 {
                $crate::proximal_chain::accuracy(step)
            }

            fn step(
                &self,
                _family: &dyn gpfn_core::belief::BeliefFamily,
                state: gpfn_core::belief::BeliefState,
                x_hat: &gpfn_core::burn::tensor::Tensor<2>,
                step: &gpfn_core::divergence::ProxStep,
                noise: gpfn_core::divergence::Noise,
                rng: &mut gpfn_core::rng::Rng,
            ) -> gpfn_core::Result<gpfn_core::belief::BeliefState> {
                $crate::proximal_chain::step(self, state, x_hat, step, noise, rng)
            }

            fn flow(
                &self,
                family: &dyn gpfn_core::belief::BeliefFamily,
                x: &gpfn_core::burn::tensor::Tensor<2>,
                kappa: &[f64],
                rng: &mut gpfn_core::rng::Rng,
            ) -> gpfn_core::Result<gpfn_core::burn::tensor::Tensor<2>> {
                $crate::proximal_chain::flow_at_kappa(self, &self.settings(), family, x, kappa, rng)
            }

            fn flow_at(
                &self,
                family: &dyn gpfn_core::belief::BeliefFamily,
                schedule: &dyn gpfn_core::schedule::Schedule,
                x: &gpfn_core::burn::tensor::Tensor<2>,
                t: &[f64],
                rng: &mut gpfn_core::rng::Rng,
            ) -> gpfn_core::Result<gpfn_core::burn::tensor::Tensor<2>> {
                $crate::proximal_chain::flow_at(
                    self, $name, &self.settings(), family, schedule, x, t, rng,
                )
            }

            fn flow_grid(&self) -> Option<usize> {
                Some(self.settings().steps)
            }

            $($extra)*
        }

        impl gpfn_core::divergence::Objective for $ty {
            fn loss_weight(&self, schedule: &dyn gpfn_core::schedule::Schedule, t: f64) -> f64 {
                $crate::proximal_chain::loss_weight(&self.settings(), schedule, t)
            }

            fn sample_time(&self, rng: &mut gpfn_core::rng::Rng) -> f64 {
                $crate::proximal_chain::sample_time(&self.settings(), rng)
            }
        }
    };
}
