//! `ancestral`: the DDPM-type sampler. Particle beliefs on the straight path take DDIM's step
//! with `σ_i = η σ_post` (η = 1: each step samples the Gaussian posterior `q(z_i | z_{i−1}, x̂)`;
//! η = 0: the deterministic transport); Gaussian beliefs take BFN's sender sample, BFN's own
//! ancestral sampler. See [`crate::divergence::ancestral_eta`].

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
    "ancestral",
    "DDPM-type: particles sample the straight path's Gaussian posterior (DDIM's η); BFN's sender noise for Gaussian beliefs; parameter eta"
);

/// The ancestral sampler.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AncestralSampler {
    /// Number of steps.
    #[serde(
        default = "default_steps",
        deserialize_with = "crate::check::at_least_one"
    )]
    pub steps: usize,
    /// DDIM's η ∈ [0, 1]: the share of the posterior's standard deviation each step draws.
    #[serde(default = "default_eta", deserialize_with = "crate::check::unit")]
    pub eta: f64,
}

fn default_eta() -> f64 {
    1.0
}

impl AncestralSampler {
    fn noise(&self) -> Result<Noise> {
        Ok(Noise::Ancestral {
            eta: checked_eta(self.eta)?,
        })
    }
}

#[typetag::serde(name = "ancestral")]
impl Sampler for AncestralSampler {
    fn steps(&self) -> usize {
        self.steps
    }

    fn with_steps(&self, n: usize) -> Box<dyn Sampler> {
        Box::new(AncestralSampler {
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
