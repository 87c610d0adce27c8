//! The `rectified-flow` divergence: W2's JKO step on a uniform grid, trained by velocity
//! matching.

use gpfn_core::divergence::{Divergence, DivergenceMaths, Objective};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::Schedule;
use gpfn_w2::{W2LossWeight, W2Maths};
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

/// The logistic function `σ(u) = 1/(1 + e^{−u})`.
fn logistic(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

/// W2's maths (`uniform` schedule, the JKO step, the straight path) with Rectified Flow's own
/// objective: nothing of W2 is restated here.
#[typetag::serde(name = "rectified-flow")]
impl Divergence for RectifiedFlow {
    fn maths(&self) -> &dyn DivergenceMaths {
        &W2Maths
    }

    fn objective(&self) -> &dyn Objective {
        self
    }
}

impl Objective for RectifiedFlow {
    /// Velocity matching: `‖v − v̂‖²` with `v = dz/dt = κ'(x − z)/(1 − κ)` and
    /// `v̂ = κ'(x̂ − z)/(1 − κ)` is `λ ‖x − x̂‖²` with `λ = (κ'/(1 − κ))²` (uniform:
    /// `1/(1 − t)²`), capped at `max_weight`.
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64 {
        W2LossWeight::Velocity.at(schedule, t, self.max_weight)
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
