//! Samplers: how the observation of each proximal step is chosen, and how many steps run.

mod deterministic;
mod stochastic;

pub use deterministic::DeterministicSampler;
pub use stochastic::StochasticSampler;

use crate::Result;
use crate::belief::BeliefState;
use crate::rng::Rng;
use crate::sampling::SamplingProblem;
use burn::tensor::Tensor;
use std::fmt::Debug;

/// A sampler (`[sampler] name = "…"`).
#[typetag::serde(tag = "name")]
pub trait Sampler: Debug + Send + Sync + dyn_clone::DynClone {
    /// Number of proximal steps (= network evaluations).
    fn steps(&self) -> usize;

    /// The same sampler with `n` steps.
    fn with_steps(&self, n: usize) -> Box<dyn Sampler>;

    /// Draws `problem.batch` samples.
    fn sample(&self, problem: &SamplingProblem<'_>, rng: &mut Rng) -> Result<Tensor<2>>;

    /// Draws one sample per row of `start`, a prior belief given by the caller (reflow records
    /// the prior noise it pairs with each sample). Samplers that cannot start from a given
    /// belief keep this default, which says so.
    fn sample_from(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        let _ = (problem, start, rng);
        Err(crate::GpfnError::Invalid(
            "this sampler cannot start from a given prior belief".into(),
        ))
    }
}

pub(crate) fn default_steps() -> usize {
    20
}

dyn_clone::clone_trait_object!(Sampler);
