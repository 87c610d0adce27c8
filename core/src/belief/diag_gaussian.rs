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
    fn family_name(&self) -> &'static str {
        "diag-gaussian"
    }

    fn has_particle(&self) -> bool {
        false
    }

    fn prior(&self, batch: usize, dim: usize, device: &Device, _rng: &mut Rng) -> BeliefState {
        BeliefState {
            gaussian: DiagGaussian::standard(batch, dim, device),
            particle: None,
        }
    }

    fn network_input(&self, state: &BeliefState) -> Tensor<2> {
        state.gaussian.mean.clone()
    }
}
