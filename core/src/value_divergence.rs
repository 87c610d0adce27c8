//! Divergences defined by their value alone.
//!
//! A divergence known only by `D(p, q)` between diagonal Gaussians (no closed-form proximal
//! step, no closed-form flow distribution) implements [`ValueDivergence`]: its name, a
//! one-line description, the value, and the [`ChainSettings`] of its chain. Everything else is
//! the chain this module implements for every such type (blanket impls of [`Proximal`],
//! [`DivergenceMaths`] and [`Objective`]):
//!
//! * the proximal step `argmin_p α E_p[½‖x − y‖²] + D(p, p_{i−1})` by the generic solver
//!   ([`crate::proximal_solver`]), started at the Bayes step, with the type's closed-form
//!   per-coordinate derivatives where it has them;
//! * the accuracies `α_i = ρ(κ_i) − ρ(κ_{i−1})`, `ρ = 1/(1 − κ)`: KL's precision gains
//!   ([`crate::schedule::precision`]; every smooth divergence is KL to second order around
//!   `p = q`), and the sampling step BFN's sender step ([`sender_step`]);
//! * the flow distribution simulated on the `n`-step grid ([`crate::simulated_flow`]);
//! * the loss weight (KL's discrete-time weight, or `1`) and training times on that grid.
//!
//! [`value_divergence!`](crate::value_divergence!) then makes the type a registered
//! [`Divergence`]: it writes the `register_plugin!` entry and the `typetag` impl, both under
//! [`ValueDivergence::NAME`], so the name is written once.

use crate::belief::{BeliefFamily, BeliefState, DiagGaussian};
#[cfg(doc)]
use crate::divergence::Divergence;
use crate::divergence::{
    CategoricalMaths, CoordinateDerivatives, DivergenceMaths, Noise, Objective, ProxStep, Proximal,
    sender_step,
};
use crate::proximal_solver::{SolverOptions, Start, solve_with_derivatives};
use crate::rng::Rng;
use crate::schedule::precision::{discrete_loss_weight, discrete_time, precision_gain};
use crate::schedule::{BfnGeometric, Schedule, time_grid};
use crate::simulated_flow::{grid_index, simulated_flow};
use crate::{GpfnError, Result};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// A divergence defined by its value: what a plugin writes. This module's blanket impls give it
/// its maths and objective, and [`value_divergence!`](crate::value_divergence!) registers it.
///
/// ```text
/// impl ValueDivergence for Mmd {
///     const NAME: &'static str = "mmd";
///     const DESCRIPTION: &'static str = "Gaussian-kernel MMD² …";
///     fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> { mmd_value(p, q, self.length_scale) }
///     fn settings(&self) -> ChainSettings { … }
/// }
/// gpfn_core::value_divergence!(Mmd);
/// ```
pub trait ValueDivergence: Send + Sync {
    /// The config name (`[divergence] name = "…"`): [`value_divergence!`](crate::value_divergence!)
    /// registers it with `register_plugin!` and as the `typetag` name.
    const NAME: &'static str;

    /// One line for `gpfn plugins`.
    const DESCRIPTION: &'static str;

    /// `D(p, q)` per row, summed over coordinates: `[batch]`, the contract of
    /// [`Proximal::value`] (separable, `≥ 0`, `0` at `p = q`, `+∞` a value), written with burn
    /// tensor operations: the solver differentiates it by autodiff unless
    /// [`coordinate_derivatives`](Self::coordinate_derivatives) supplies the derivatives.
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1>;

    /// The chain's settings: the grid, the loss weight, the solver's tolerance and cap.
    fn settings(&self) -> ChainSettings;

    /// Closed-form per-coordinate derivatives of the value at `p` against `q` (both `[n, 1]`)
    /// for the solver ([`DivergenceMaths::coordinate_derivatives`]); `None` (the default):
    /// the solver differentiates [`value`](Self::value) by autodiff.
    fn coordinate_derivatives(
        &self,
        p: &DiagGaussian,
        q: &DiagGaussian,
    ) -> Option<CoordinateDerivatives> {
        let _ = (p, q);
        None
    }

    /// The divergence's maths on categorical beliefs, for one that also acts on the simplex
    /// (default `None`). `Some` lists `"categorical"` in its
    /// [`belief_families`](DivergenceMaths::belief_families) and is what
    /// [`value_divergence!`](crate::value_divergence!)'s `Divergence::categorical` returns. A
    /// simplex flow simulated on a grid uses the same [`ChainSettings::steps`] (the kit and
    /// the categorical chain read it through [`DivergenceMaths::flow_grid`]).
    fn on_simplex(&self) -> Option<&dyn CategoricalMaths> {
        None
    }
}

/// The weight `λ(t)` of `‖x − x̂‖²` in the training loss of a value-defined divergence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossWeight {
    /// `λ = n/2 · α_i` at `t = t_{i−1}`: KL's discrete-time weight (BFN's `Lⁿ`), which the
    /// accuracies share, so `forward-kl` trains exactly as discrete-time BFN.
    #[default]
    Accuracy,
    /// `λ = 1`: clean-data regression, uniform over the grid.
    Data,
}

/// The settings of the chain of a [`ValueDivergence`]: the step grid and the solver. A plugin
/// reads them from fields of its config struct (defaults: [`default_steps`],
/// [`LossWeight::default`], [`default_tolerance`], [`default_max_iterations`]).
#[derive(Clone, Copy, Debug)]
pub struct ChainSettings {
    /// Number of steps `n` of the grid the flow is simulated on (sample with `n` steps; 0 is
    /// read as 1).
    pub steps: usize,
    /// Loss weighting.
    pub loss_weight: LossWeight,
    /// Solver tolerance on the largest Newton step.
    pub tolerance: f64,
    /// Solver iteration cap.
    pub max_iterations: usize,
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            steps: default_steps(),
            loss_weight: LossWeight::default(),
            tolerance: default_tolerance(),
            max_iterations: default_max_iterations(),
        }
    }
}

impl ChainSettings {
    /// The grid's step count, at least 1.
    fn n(&self) -> usize {
        self.steps.max(1)
    }
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

/// `divergence `NAME``, for errors.
fn who<T: ValueDivergence>() -> String {
    format!("divergence `{}`", T::NAME)
}

impl<T: ValueDivergence> Proximal<DiagGaussian> for T {
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        ValueDivergence::value(self, p, q)
    }

    /// The step by the generic solver, started at the Bayes step. A solve that stops at the
    /// iteration cap is logged (the belief is the last iterate); invalid input (a
    /// non-positive accuracy, mismatched shapes) is an error that names the divergence.
    fn prox(&self, prev: &DiagGaussian, y: &Tensor<2>, alpha: f64) -> Result<DiagGaussian> {
        let settings = self.settings();
        let options = SolverOptions {
            tolerance: settings.tolerance,
            max_iterations: settings.max_iterations,
            start: Start::Bayes,
        };
        let (p, report) = solve_with_derivatives(
            &|p, q| ValueDivergence::value(self, p, q),
            &|p, q| ValueDivergence::coordinate_derivatives(self, p, q),
            prev,
            y,
            alpha,
            &options,
        )
        .map_err(|e| GpfnError::Invalid(format!("{}: {e}", who::<T>())))?;
        if !report.converged {
            tracing::debug!(
                divergence = T::NAME,
                ?report,
                "proximal solver stopped at its iteration cap"
            );
        }
        Ok(p)
    }
}

impl<T: ValueDivergence> DivergenceMaths for T {
    /// `diag-gaussian`, and `categorical` where [`ValueDivergence::on_simplex`] is `Some`.
    fn belief_families(&self) -> &'static [&'static str] {
        if self.on_simplex().is_some() {
            &["diag-gaussian", "categorical"]
        } else {
            &["diag-gaussian"]
        }
    }

    fn default_schedule(&self) -> Box<dyn Schedule> {
        Box::new(BfnGeometric::default())
    }

    /// KL's precision gain `ρ(κ_i) − ρ(κ_{i−1})` (∞ at `κ_i = 1`).
    fn accuracy(&self, step: &ProxStep) -> f64 {
        precision_gain(step.kappa_prev, step.kappa)
    }

    /// `y = x̂` (deterministic) or BFN's sender sample `y ~ N(x̂, α⁻¹ I)`, then the proximal
    /// step.
    fn step(
        &self,
        _family: &dyn BeliefFamily,
        state: BeliefState,
        x_hat: &Tensor<2>,
        step: &ProxStep,
        noise: Noise,
        rng: &mut Rng,
    ) -> Result<BeliefState> {
        sender_step(self, state, x_hat, step, noise, rng)
    }

    /// The simulated flow at signal levels `κ`, read on the *default* schedule: each `κ` is
    /// mapped to the nearest grid level `κ(j/n)`. The loops call [`flow_at`](Self::flow_at),
    /// which uses the configured schedule.
    fn flow(
        &self,
        family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        let schedule = self.default_schedule();
        let n = self.settings().n();
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
        let grid = time_grid(schedule.as_ref(), n);
        simulated_flow(self, family, &grid, x, &steps, rng)
    }

    /// The simulated flow at grid times `t = j/n` under `schedule`; an off-grid time is an
    /// error naming the divergence.
    fn flow_at(
        &self,
        family: &dyn BeliefFamily,
        schedule: &dyn Schedule,
        x: &Tensor<2>,
        t: &[f64],
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        let n = self.settings().n();
        let who = who::<T>();
        let steps = t
            .iter()
            .map(|&t| grid_index(t, n, &who))
            .collect::<Result<Vec<_>>>()?;
        simulated_flow(self, family, &time_grid(schedule, n), x, &steps, rng)
    }

    fn flow_grid(&self) -> Option<usize> {
        Some(self.settings().n())
    }

    fn coordinate_derivatives(
        &self,
        p: &DiagGaussian,
        q: &DiagGaussian,
    ) -> Option<CoordinateDerivatives> {
        ValueDivergence::coordinate_derivatives(self, p, q)
    }
}

impl<T: ValueDivergence> Objective for T {
    /// KL's discrete-time weight `n/2 · α_i` at `t = t_{i−1}`, or `1`.
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64 {
        let settings = self.settings();
        match settings.loss_weight {
            LossWeight::Data => 1.0,
            LossWeight::Accuracy => discrete_loss_weight(schedule, settings.n(), t),
        }
    }

    /// A grid time `t_{i−1} = (i − 1)/n`, `i ~ U{1..n}`.
    fn sample_time(&self, rng: &mut Rng) -> f64 {
        discrete_time(self.settings().n(), rng)
    }
}

/// Registers a [`ValueDivergence`] as a [`Divergence`](crate::divergence::Divergence) under its
/// [`NAME`](ValueDivergence::NAME): the `register_plugin!` entry (with its
/// [`DESCRIPTION`](ValueDivergence::DESCRIPTION)) and the `#[typetag::serde]` impl, so that
/// `[divergence] name = NAME` deserialises into the type. The type must be
/// `Clone + Debug + Serialize + Deserialize`; the plugin crate needs no `typetag` dependency.
///
/// ```text
/// gpfn_core::value_divergence!(Mmd);
/// ```
#[macro_export]
macro_rules! value_divergence {
    ($ty:ty) => {
        $crate::register_plugin!(
            Divergence,
            <$ty as $crate::value_divergence::ValueDivergence>::NAME,
            <$ty as $crate::value_divergence::ValueDivergence>::DESCRIPTION
        );

        const _: () = {
            use $crate::typetag;

            #[typetag::serde(name = <$ty as $crate::value_divergence::ValueDivergence>::NAME)]
            impl $crate::divergence::Divergence for $ty {
                fn maths(&self) -> &dyn $crate::divergence::DivergenceMaths {
                    self
                }

                fn objective(&self) -> &dyn $crate::divergence::Objective {
                    self
                }

                fn categorical(&self) -> Option<&dyn $crate::divergence::CategoricalMaths> {
                    $crate::value_divergence::ValueDivergence::on_simplex(self)
                }
            }
        };
    };
}
