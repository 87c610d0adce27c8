//! `sde`: Euler–Maruyama for the reverse SDE of the straight path, with the score implied by
//! the prediction.
//!
//! On particle beliefs whose flow is `z = κ x + (1 − κ) ε`, the marginals `p_κ` of the
//! probability-flow ODE `dz = u dκ`, `u = (x̂ − z)/(1 − κ)`, are shared by every SDE
//! `dz = [u + ½ g² ∇ ln p_κ] dκ + g dW` (their Fokker–Planck equations coincide). The score
//! implied by `x̂` is `∇ ln p_κ(z) = −ε̂/(1 − κ)` with `ε̂ = (z − κ x̂)/(1 − κ)`; with the noise
//! scale `g(κ)² = 2η (1 − κ)²` (η ≥ 0; η = 0 is the ODE, whose Euler step is the deterministic
//! sampler):
//!
//! ```text
//! dz = [(x̂ − z)/(1 − κ) − η (z − κ x̂)] dκ + √(2η) (1 − κ) dW
//! ```
//!
//! The `(1 − κ)²` keeps the injected noise in proportion to the path's own (`1 − κ`), so the
//! step's relative error stays `O(Δκ)` up to the end. Each step of the uniform grid is one
//! Euler–Maruyama step; the last (`κ = 1`) is the JKO step to `x̂`, whose prediction is the
//! sample, as for every sampler: `n` steps cost `n` evaluations. Euler–Maruyama is first
//! order in law: with the oracle `x̂ = x` the variance of `z − κ x` follows
//! `v' = (1 − Δκ/(1 − κ) − η Δκ)² v + 2η Δκ (1 − κ)²` instead of landing on `(1 − κ')²`; the
//! gap is `O(Δκ)` (tests: `plugins/w2/tests/sde/mod.rs`).

use super::{Sampler, default_steps};
use crate::belief::BeliefState;
use crate::rng::Rng;
use crate::sampling::{SamplingProblem, check_steps, check_straight_path};
use crate::schedule::time_grid;
use crate::{GpfnError, Result};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Sampler,
    "sde",
    "Euler–Maruyama for the straight path's reverse SDE with the score implied by x̂; parameter eta (noise scale, 0 = the ODE)"
);

/// The reverse-SDE sampler (`[sampler] name = "sde"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdeSampler {
    /// Number of steps (= network evaluations).
    #[serde(
        default = "default_steps",
        deserialize_with = "crate::check::at_least_one"
    )]
    pub steps: usize,
    /// Noise scale η ≥ 0 of `g(κ)² = 2η (1 − κ)²`.
    #[serde(default = "default_eta")]
    pub eta: f64,
}

fn default_eta() -> f64 {
    1.0
}

/// Where an SDE chain stopped.
pub struct SdeEnd {
    /// The particle after the steps taken.
    pub particle: Tensor<2>,
    /// The last prediction `x̂` (the sample after all `n` steps).
    pub prediction: Tensor<2>,
}

impl SdeSampler {
    fn checked_eta(&self) -> Result<f64> {
        if self.eta.is_finite() && self.eta >= 0.0 {
            Ok(self.eta)
        } else {
            Err(GpfnError::Config {
                key: "sampler.eta".into(),
                message: format!("the noise scale η must be finite and ≥ 0, got {}", self.eta),
            })
        }
    }

    /// Runs the first `stop_after` (default all `n`) steps from the particle of `start`.
    pub fn chain(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        stop_after: Option<usize>,
        rng: &mut Rng,
    ) -> Result<SdeEnd> {
        let eta = self.checked_eta()?;
        let n = self.steps;
        check_steps(problem, n)?;
        check_straight_path(problem.divergence, problem.family, "sde")?;
        let mut z = problem.family.network_input(&start)?;
        let mut prediction = None;
        for step in time_grid(problem.schedule, n)
            .iter()
            .take(stop_after.unwrap_or(n))
        {
            let x_hat = (problem.predictor)(z.clone(), step.t_prev);
            let k = step.kappa_prev;
            if step.index == n || step.kappa >= 1.0 {
                // The JKO step: z_n = (1 − w) z + w x̂, w = 1 at κ = 1.
                let w = step.weight;
                z = z.mul_scalar(1.0 - w) + x_hat.clone().mul_scalar(w);
            } else {
                let dk = step.kappa - k;
                let drift = (x_hat.clone() - z.clone()).div_scalar(1.0 - k)
                    - (z.clone() - x_hat.clone().mul_scalar(k)).mul_scalar(eta);
                let [rows, cols] = z.dims();
                let xi = rng.normal_tensor(rows, cols, &problem.device);
                z = z + drift.mul_scalar(dk) + xi.mul_scalar((2.0 * eta * dk).sqrt() * (1.0 - k));
            }
            prediction = Some(x_hat);
        }
        let prediction = prediction.unwrap_or_else(|| z.clone());
        Ok(SdeEnd {
            particle: z,
            prediction,
        })
    }
}

#[typetag::serde(name = "sde")]
impl Sampler for SdeSampler {
    fn steps(&self) -> usize {
        self.steps
    }

    fn with_steps(&self, n: usize) -> Box<dyn Sampler> {
        Box::new(SdeSampler {
            steps: n,
            eta: self.eta,
        })
    }

    fn sample_from(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        Ok(self.chain(problem, start, None, rng)?.prediction)
    }
}
