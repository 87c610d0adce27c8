//! `diag-gaussian`: the belief is `N(μ, diag(σ²))` and the network sees `μ` (BFN's θ).

use super::{BeliefFamily, BeliefState, DiagGaussian};
use crate::rng::Rng;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Belief,
    "diag-gaussian",
    "diagonal Gaussian N(μ, σ²); the network sees the mean μ (BFN's input)"
);

/// The diagonal-Gaussian belief family.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagGaussianFamily {}

#[typetag::serde(name = "diag-gaussian")]
impl BeliefFamily for DiagGaussianFamily {
    fn has_particle(&self) -> bool {
        false
    }

    fn prior(
        &self,
        batch: usize,
        dim: usize,
        device: &Device,
        _rng: &mut Rng,
    ) -> crate::Result<BeliefState> {
        Ok(BeliefState {
            gaussian: DiagGaussian::standard(batch, dim, device),
            particle: None,
        })
    }

    fn network_input(&self, state: &BeliefState) -> crate::Result<Tensor<2>> {
        Ok(state.gaussian.mean.clone())
    }
}
