//! The `sinkhorn` divergence.

use crate::coupling::{Coupling, couple};
use crate::step::entropic_transport_step;
use gpfn_core::belief::{BeliefFamily, BeliefState, DiagGaussian};
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::{
    Divergence, DivergenceMaths, Noise, Objective, ProxStep, Proximal, eta_noise, straight_path,
};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::Schedule;
use gpfn_core::{GpfnError, Result};
use gpfn_ot::Sinkhorn;
use gpfn_w2::{W2LossWeight, W2Maths};
use serde::{Deserialize, Serialize};

gpfn_core::register_plugin!(
    Divergence,
    "sinkhorn",
    "entropic OT: particles move together by the Sinkhorn plan's barycentric projection; minibatch OT coupling in training"
);

/// Entropic optimal transport between the batch of particles and the batch of predictions.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkhornDivergence {
    /// Entropic regularisation of the particle step, relative to the mean squared distance
    /// between particles and predictions: `ε = epsilon · mean_ij ‖z_i − x̂_j‖²`.
    #[serde(
        default = "default_epsilon",
        deserialize_with = "gpfn_core::check::positive"
    )]
    pub epsilon: f64,
    /// Marginal-error tolerance of the Sinkhorn solver.
    #[serde(
        default = "default_tolerance",
        deserialize_with = "gpfn_core::check::positive"
    )]
    pub tolerance: f64,
    /// Most Sinkhorn iterations per step.
    #[serde(
        default = "default_max_iterations",
        deserialize_with = "gpfn_core::check::at_least_one"
    )]
    pub max_iterations: usize,
    /// The particle step transports consecutive blocks of this many rows of a batch (set it
    /// to the training batch size so that sampling couples like training did).
    #[serde(
        default = "default_block_size",
        deserialize_with = "gpfn_core::check::at_least_one"
    )]
    pub block_size: usize,
    /// Pairing of noise and data in training (and of fresh noise and predictions in the
    /// stochastic sampler).
    #[serde(default)]
    pub coupling: Coupling,
    /// Loss weighting, as for `w2`.
    #[serde(default)]
    pub loss_weight: W2LossWeight,
    /// Cap on the velocity weight.
    #[serde(
        default = "default_max_weight",
        deserialize_with = "gpfn_core::check::positive"
    )]
    pub max_weight: f64,
}

fn default_epsilon() -> f64 {
    0.01
}
fn default_tolerance() -> f64 {
    1e-3
}
fn default_max_iterations() -> usize {
    500
}
fn default_block_size() -> usize {
    256
}
fn default_max_weight() -> f64 {
    100.0
}

impl Default for SinkhornDivergence {
    fn default() -> Self {
        SinkhornDivergence {
            epsilon: default_epsilon(),
            tolerance: default_tolerance(),
            max_iterations: default_max_iterations(),
            block_size: default_block_size(),
            coupling: Coupling::Exact,
            loss_weight: W2LossWeight::Velocity,
            max_weight: default_max_weight(),
        }
    }
}

impl SinkhornDivergence {
    fn solver(&self) -> Sinkhorn {
        Sinkhorn {
            tolerance: self.tolerance,
            max_iterations: self.max_iterations,
            ..Default::default()
        }
    }

    fn coupled(&self, target: &Tensor<2>, noise: Tensor<2>) -> Tensor<2> {
        match self.coupling {
            Coupling::Exact => couple(target, noise),
            Coupling::Independent => noise,
        }
    }
}

#[typetag::serde(name = "sinkhorn")]
impl Divergence for SinkhornDivergence {
    fn maths(&self) -> &dyn DivergenceMaths {
        self
    }

    fn objective(&self) -> &dyn Objective {
        self
    }
}

/// The Gaussian part is `w2`'s (the ε → 0 limit of the entropic cost).
impl Proximal<DiagGaussian> for SinkhornDivergence {
    /// `½ W2²` between the Gaussian summaries.
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        W2Maths.value(p, q)
    }

    /// The `w2` closed form `m' = (1−w) m + w y`, `s' = (1−w) s`.
    fn prox(&self, prev: &DiagGaussian, y: &Tensor<2>, alpha: f64) -> Result<DiagGaussian> {
        W2Maths.prox(prev, y, alpha)
    }
}

impl DivergenceMaths for SinkhornDivergence {
    fn belief_families(&self) -> &'static [&'static str] {
        &["particle"]
    }

    fn default_schedule(&self) -> Box<dyn Schedule> {
        W2Maths.default_schedule()
    }

    /// `α_i = w_i/(1 − w_i)`, as for `w2`.
    fn accuracy(&self, step: &ProxStep) -> f64 {
        W2Maths.accuracy(step)
    }

    fn couples_batch(&self) -> bool {
        true
    }

    /// The deterministic step couples a block of particles, so one particle's law under it
    /// is no ODE's in `R^d`; what has a density is the flow of the network alone, the
    /// straight path's ODE that the step integrates with one particle per block (there the
    /// entropic plan is the identity and the step is W2's). `gpfn eval nll` scores that.
    fn likelihood(&self) -> gpfn_core::divergence::Likelihood {
        gpfn_core::divergence::Likelihood::ParticleOde
    }

    /// Deterministic: the particles move together by the entropic plan's barycentric
    /// projection; a failed Sinkhorn solve is an error naming `sinkhorn`, never a silent W2
    /// step. Stochastic: η-resampled noise, re-coupled to the predictions.
    fn step(
        &self,
        _family: &dyn BeliefFamily,
        state: BeliefState,
        x_hat: &Tensor<2>,
        step: &ProxStep,
        noise: Noise,
        rng: &mut Rng,
    ) -> Result<BeliefState> {
        let gaussian = self.prox(&state.gaussian, x_hat, self.accuracy(step))?;
        let w = step.weight;
        let Some(z) = state.particle else {
            return Ok(BeliefState {
                gaussian,
                particle: None,
            });
        };
        let particle = match noise.particle_eta(step) {
            None => {
                entropic_transport_step(&z, x_hat, w, &self.solver(), self.epsilon, self.block_size)
                    .map_err(|e| {
                        GpfnError::Invalid(format!(
                            "divergence `sinkhorn`: the entropic transport step {} failed: {e}",
                            step.index
                        ))
                    })?
            }
            Some(eta) => {
                // η-resampling of the noise (the stochastic or the ancestral sampler's η), then
                // re-coupled to the predictions by minibatch OT so that the batch follows the
                // (coupled) flow distribution: n = √(1−η²) ε̂ + η ξ,  z' = κ x̂ + (1 − κ) n_σ.
                let n = self.coupled(x_hat, eta_noise(x_hat, &z, step, eta, rng));
                x_hat.clone().mul_scalar(step.kappa) + n.mul_scalar(1.0 - step.kappa)
            }
        };
        Ok(BeliefState {
            gaussian,
            particle: Some(particle),
        })
    }

    /// `z = κ x + (1 − κ) ε_σ`, `ε ~ N(0, I)` i.i.d. and `σ` the minibatch OT pairing of the
    /// batch `x` with the batch `ε` (identity for `coupling = "independent"`).
    fn flow(
        &self,
        _family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        let [b, d] = x.dims();
        let eps = self.coupled(x, rng.normal_tensor(b, d, &x.device()));
        Ok(straight_path(x, kappa, eps))
    }

    fn flow_coefficients(&self, kappa: f64) -> Option<(f64, f64)> {
        Some((kappa, 1.0 - kappa))
    }
}

impl Objective for SinkhornDivergence {
    /// As for `w2`, with this divergence's `loss_weight` and `max_weight`.
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64 {
        self.loss_weight.at(schedule, t, self.max_weight)
    }
}
