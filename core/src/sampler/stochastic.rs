//! `stochastic`: BFN's sender samples for Gaussian beliefs, η-resampling for particles.

use super::{Sampler, checked_eta, default_steps, run_chain};
use crate::Result;
use crate::belief::BeliefState;
use crate::divergence::Noise;
use crate::rng::Rng;
use crate::sampling::SamplingProblem;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Sampler,
    "stochastic",
    "sender noise y ~ N(x̂, α⁻¹) (Gaussian beliefs) or η-resampling (particles); parameter eta"
);

/// The stochastic sampler.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StochasticSampler {
    /// Number of steps.
    #[serde(
        default = "default_steps",
        deserialize_with = "crate::check::at_least_one"
    )]
    pub steps: usize,
    /// η ∈ [0, 1] of particle resampling (1 = fresh noise, 0 = deterministic transport).
    #[serde(default = "default_eta", deserialize_with = "crate::check::unit")]
    pub eta: f64,
}

fn default_eta() -> f64 {
    1.0
}

impl StochasticSampler {
    fn noise(&self) -> Result<Noise> {
        Ok(Noise::Stochastic {
            eta: checked_eta(self.eta)?,
        })
    }
}

#[typetag::serde(name = "stochastic")]
impl Sampler for StochasticSampler {
    fn steps(&self) -> usize {
        self.steps
    }

    fn with_steps(&self, n: usize) -> Box<dyn Sampler> {
        Box::new(StochasticSampler {
            steps: n,
            eta: self.eta,
        })
    }

    fn chain_noise(&self) -> Result<Option<Noise>> {
        Ok(Some(self.noise()?))
    }

    fn sample_from(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        run_chain(problem, start, self.steps, self.noise()?, rng)
    }
}
