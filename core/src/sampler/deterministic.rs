//! `deterministic`: `y_i = x̂_i` at every step.

use super::{Sampler, default_steps, run_chain};
use crate::Result;
use crate::belief::BeliefState;
use crate::divergence::Noise;
use crate::rng::Rng;
use crate::sampling::SamplingProblem;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Sampler,
    "deterministic",
    "y_i = x̂_i: the deterministic proximal chain (ODE-like for particle beliefs)"
);

/// The deterministic sampler.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeterministicSampler {
    /// Number of steps.
    #[serde(
        default = "default_steps",
        deserialize_with = "crate::check::at_least_one"
    )]
    pub steps: usize,
}

#[typetag::serde(name = "deterministic")]
impl Sampler for DeterministicSampler {
    fn steps(&self) -> usize {
        self.steps
    }

    fn with_steps(&self, n: usize) -> Box<dyn Sampler> {
        Box::new(DeterministicSampler { steps: n })
    }

    fn chain_noise(&self) -> Result<Option<Noise>> {
        Ok(Some(Noise::Deterministic))
    }

    fn sample_from(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        run_chain(problem, start, self.steps, Noise::Deterministic, rng)
    }
}
