//! The `rectified-flow` divergence: W2's JKO step on a uniform grid, trained by velocity
//! matching.

use gpfn_core::belief::{BeliefFamily, BeliefState, DiagGaussian};
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::{Divergence, Noise, ProxStep};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::Schedule;
use gpfn_w2::{W2Divergence, W2LossWeight};
use serde::{Deserialize, Serialize};

gpfn_core::register_plugin!(
    Divergence,
    "rectified-flow",
    "Rectified Flow: ½ W2² JKO steps on a uniform grid, velocity matching; time_sampling"
);

/// How training times `t` are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSampling {
    /// `t ~ U[0, 1)` (Liu et al. 2023).
    #[default]
    Uniform,
    /// `t = σ(m + s n)`, `n ~ N(0, 1)`, `σ` the logistic function (Esser et al. 2024), with
    /// `m = location`, `s = scale`. Here `t = 1` is data; Esser et al. put data at `t = 0`, so
    /// their location `m` is our `−m` (the default `m = 0` is the same in both).
    LogitNormal,
    /// `t = 0` only: one-step distillation on reflow pairs, `‖(x − z₀) − v̂(z₀, 0)‖²`.
    Distill,
}

/// Rectified Flow: the `½ W2²` proximal step on particle beliefs, on the `uniform` schedule by
/// default, trained by velocity matching.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRectifiedFlow")]
pub struct RectifiedFlow {
    /// How training times are drawn.
    pub time_sampling: TimeSampling,
    /// Location `m` of `logit-normal` time sampling.
    pub location: f64,
    /// Scale `s > 0` of `logit-normal` time sampling.
    pub scale: f64,
    /// Cap on the loss weight `λ(t) = (κ'/(1 − κ))²`, which diverges as `t → 1`.
    pub max_weight: f64,
}

/// The unchecked form [`RectifiedFlow`] deserialises through.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRectifiedFlow {
    #[serde(default)]
    time_sampling: TimeSampling,
    #[serde(default)]
    location: f64,
    #[serde(default = "default_scale")]
    scale: f64,
    #[serde(default = "default_max_weight")]
    max_weight: f64,
}

fn default_scale() -> f64 {
    1.0
}

/// `10⁴`: on the uniform schedule the weight `1/(1 − t)²` is exact for `t < 0.99`. It bounds
/// the f32 rounding of `x − x̂` amplified by `1/(1 − t)` near `t = 1`.
fn default_max_weight() -> f64 {
    1e4
}

impl TryFrom<RawRectifiedFlow> for RectifiedFlow {
    type Error = String;

    fn try_from(r: RawRectifiedFlow) -> Result<Self, String> {
        if !(r.scale.is_finite() && r.scale > 0.0) {
            return Err(format!(
                "scale of logit-normal time sampling must be positive, got {}",
                r.scale
            ));
        }
        if !r.location.is_finite() {
            return Err(format!("location must be finite, got {}", r.location));
        }
        if r.max_weight.is_nan() || r.max_weight <= 0.0 {
            return Err(format!("max_weight must be positive, got {}", r.max_weight));
        }
        Ok(RectifiedFlow {
            time_sampling: r.time_sampling,
            location: r.location,
            scale: r.scale,
            max_weight: r.max_weight,
        })
    }
}

impl Default for RectifiedFlow {
    fn default() -> Self {
        RectifiedFlow {
            time_sampling: TimeSampling::Uniform,
            location: 0.0,
            scale: default_scale(),
            max_weight: default_max_weight(),
        }
    }
}

impl RectifiedFlow {
    /// The W2 divergence Rectified Flow is: its step, value, flow and velocity-matching loss
    /// weight (capped at this `max_weight`); only the time sampling is Rectified Flow's own.
    fn w2(&self) -> W2Divergence {
        W2Divergence {
            loss_weight: W2LossWeight::Velocity,
            max_weight: self.max_weight,
        }
    }
}

/// The logistic function `σ(u) = 1/(1 + e^{−u})`.
fn logistic(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

#[typetag::serde(name = "rectified-flow")]
impl Divergence for RectifiedFlow {
    fn divergence_name(&self) -> &'static str {
        "rectified-flow"
    }

    fn belief_families(&self) -> &'static [&'static str] {
        &["particle"]
    }

    /// `uniform`: `κ(t) = t`, the grid `w_i = 1/(n − i + 1)` of Rectified Flow.
    fn default_schedule(&self) -> Box<dyn Schedule> {
        self.w2().default_schedule()
    }

    /// `½ W2²(p, q) = ½ Σ_k [(m_p − m_q)² + (s_p − s_q)²]`.
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        self.w2().value(p, q)
    }

    /// `α_i = w_i/(1 − w_i)`; on the uniform grid `α_i = 1/(n − i)` (∞ at the last step).
    fn accuracy(&self, step: &ProxStep) -> f64 {
        self.w2().accuracy(step)
    }

    /// `m' = (1 − w) m + w y`, `s' = (1 − w) s`, `w = α/(1 + α)`.
    fn prox(&self, prev: &DiagGaussian, y: &Tensor<2>, alpha: f64) -> DiagGaussian {
        self.w2().prox(prev, y, alpha)
    }

    /// The JKO step `z_i = (1 − w_i) z_{i−1} + w_i x̂` (deterministic: Euler for
    /// `dz/dt = κ'(x̂ − z)/(1 − κ)`), or η-resampling (stochastic).
    fn step(
        &self,
        family: &dyn BeliefFamily,
        state: BeliefState,
        x_hat: &Tensor<2>,
        step: &ProxStep,
        noise: Noise,
        rng: &mut Rng,
    ) -> BeliefState {
        self.w2().step(family, state, x_hat, step, noise, rng)
    }

    /// The straight path `z = κ x + (1 − κ) ε`, `ε ~ N(0, I)`.
    fn flow(
        &self,
        family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> Tensor<2> {
        self.w2().flow(family, x, kappa, rng)
    }

    fn flow_coefficients(&self, kappa: f64) -> Option<(f64, f64)> {
        self.w2().flow_coefficients(kappa)
    }

    /// Velocity matching: `‖v − v̂‖²` with `v = dz/dt = κ'(x − z)/(1 − κ)` and
    /// `v̂ = κ'(x̂ − z)/(1 − κ)` is `λ ‖x − x̂‖²` with `λ = (κ'/(1 − κ))²` (uniform:
    /// `1/(1 − t)²`), capped at `max_weight`.
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64 {
        self.w2().loss_weight(schedule, t)
    }

    /// `uniform`: `t ~ U[0, 1)`; `logit-normal`: `t = σ(m + s n)`; `distill`: `t = 0`.
    fn sample_time(&self, rng: &mut Rng) -> f64 {
        match self.time_sampling {
            TimeSampling::Uniform => rng.uniform(),
            TimeSampling::LogitNormal => logistic(self.location + self.scale * rng.normal()),
            TimeSampling::Distill => 0.0,
        }
    }
}
