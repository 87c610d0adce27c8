//! The `w2` divergence.

use gpfn_core::Result;
use gpfn_core::belief::{BeliefFamily, BeliefState, DiagGaussian};
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::{
    Divergence, DivergenceMaths, Noise, Objective, ProxStep, Proximal, eta_resample, particle_flow,
};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::{Schedule, Uniform};
use serde::{Deserialize, Serialize};

gpfn_core::register_plugin!(
    Divergence,
    "w2",
    "½ W2²: optimal-transport proximal step moving particles on straight paths"
);

/// The weight `λ(t)` of `‖x − x̂‖²` in W2's training loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum W2LossWeight {
    /// `λ = 1`: clean-data regression, uniform over `t`.
    Data,
    /// `λ = (κ'/(1 − κ))²`, capped at `max_weight`: the squared error of the implied velocity
    /// `v̂ = κ'(x̂ − z)/(1 − κ)` (Rectified Flow's velocity matching). The default: it weights
    /// the late, fine-detail part of the path that the data weighting underfits.
    #[default]
    Velocity,
}

/// ½ W2²: the optimal-transport divergence.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct W2Divergence {
    /// Loss weighting.
    #[serde(default)]
    pub loss_weight: W2LossWeight,
    /// Cap on the velocity weight (it diverges as `t → 1`).
    #[serde(
        default = "default_max_weight",
        deserialize_with = "gpfn_core::check::positive"
    )]
    pub max_weight: f64,
}

fn default_max_weight() -> f64 {
    100.0
}

impl Default for W2Divergence {
    fn default() -> Self {
        W2Divergence {
            loss_weight: W2LossWeight::Velocity,
            max_weight: default_max_weight(),
        }
    }
}

/// `½ W2²(p, q)` between diagonal Gaussians, per row: `½ Σ_k [(m_p − m_q)² + (s_p − s_q)²]`.
pub fn half_w2_squared(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    let dm = (p.mean.clone() - q.mean.clone()).square();
    let ds = (p.std.clone() - q.std.clone()).square();
    (dm + ds).sum_dim(1).squeeze_dim(1).mul_scalar(0.5)
}

/// The maths of `½ W2²` on diagonal Gaussians and their particles: shared by `w2`,
/// `rectified-flow` and (its Gaussian part) `sinkhorn`. It has no settings: W2's settings are
/// its training objective's.
#[derive(Clone, Copy, Debug, Default)]
pub struct W2Maths;

impl Proximal<DiagGaussian> for W2Maths {
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        half_w2_squared(p, q)
    }

    /// `m' = (1−w) m + w y`, `s' = (1−w) s`, `w = α/(1+α)`.
    fn prox(&self, prev: &DiagGaussian, y: &Tensor<2>, alpha: f64) -> Result<DiagGaussian> {
        let w = if alpha.is_finite() {
            alpha / (1.0 + alpha)
        } else {
            1.0
        };
        Ok(DiagGaussian {
            mean: prev.mean.clone().mul_scalar(1.0 - w) + y.clone().mul_scalar(w),
            std: prev.std.clone().mul_scalar(1.0 - w),
        })
    }
}

impl DivergenceMaths for W2Maths {
    fn belief_families(&self) -> &'static [&'static str] {
        &["particle"]
    }

    /// The deterministic step is Euler for the straight path's probability-flow ODE.
    fn likelihood(&self) -> gpfn_core::divergence::Likelihood {
        gpfn_core::divergence::Likelihood::ParticleOde
    }

    /// `uniform`: `κ(t) = t`, the grid `w_i = 1/(n − i + 1)` of Rectified Flow.
    fn default_schedule(&self) -> Box<dyn Schedule> {
        Box::new(Uniform {})
    }

    /// `α_i = w_i/(1 − w_i)` (∞ when the step reaches `κ = 1`).
    fn accuracy(&self, step: &ProxStep) -> f64 {
        if step.weight >= 1.0 {
            f64::INFINITY
        } else {
            step.weight / (1.0 - step.weight)
        }
    }

    /// The JKO step `z_i = (1 − w_i) z_{i−1} + w_i x̂` (deterministic: Euler for
    /// `dz/dt = κ'(x̂ − z)/(1 − κ)`), η-resampling (stochastic), or DDIM's ancestral step
    /// (η-resampling with [`gpfn_core::divergence::ancestral_eta`]).
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
        let particle = state.particle.map(|z| match noise.particle_eta(step) {
            // The OT map between N(m, s²) and N(m', s'²) = z ↦ m' + (s'/s)(z − m)
            // = (1 − w) z + w x̂.
            None => z.mul_scalar(1.0 - w) + x_hat.clone().mul_scalar(w),
            Some(eta) => eta_resample(x_hat, &z, step, eta, rng),
        });
        Ok(BeliefState { gaussian, particle })
    }

    /// `z = κ x + (1 − κ) ε`, `ε ~ N(0, I)`.
    fn flow(
        &self,
        _family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        Ok(particle_flow(x, kappa, rng))
    }

    fn flow_coefficients(&self, kappa: f64) -> Option<(f64, f64)> {
        Some((kappa, 1.0 - kappa))
    }
}

impl W2LossWeight {
    /// `λ(t)`: `1` (`data`), or `(κ'/(1 − κ))²` capped at `max_weight` (`velocity`).
    pub fn at(self, schedule: &dyn Schedule, t: f64, max_weight: f64) -> f64 {
        match self {
            W2LossWeight::Data => 1.0,
            W2LossWeight::Velocity => {
                let r = schedule.kappa_dot(t) / (1.0 - schedule.kappa(t)).max(1e-12);
                (r * r).min(max_weight)
            }
        }
    }
}

#[typetag::serde(name = "w2")]
impl Divergence for W2Divergence {
    fn maths(&self) -> &dyn DivergenceMaths {
        &W2Maths
    }

    fn objective(&self) -> &dyn Objective {
        self
    }
}

impl Objective for W2Divergence {
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64 {
        self.loss_weight.at(schedule, t, self.max_weight)
    }
}
