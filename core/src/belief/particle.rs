//! `particle`: a Gaussian belief plus one sample `z ~ p` per row, which the proximal step
//! transports; the network sees `z`.

use super::{BeliefFamily, BeliefState, DiagGaussian};
use crate::rng::Rng;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Belief,
    "particle",
    "one particle z ~ p per sample, moved by the step's transport map; the network sees z"
);

/// The particle belief family.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticleFamily {}

#[typetag::serde(name = "particle")]
impl BeliefFamily for ParticleFamily {
    fn has_particle(&self) -> bool {
        true
    }

    fn prior(
        &self,
        batch: usize,
        dim: usize,
        device: &Device,
        rng: &mut Rng,
    ) -> crate::Result<BeliefState> {
        Ok(BeliefState {
            gaussian: DiagGaussian::standard(batch, dim, device),
            particle: Some(rng.normal_tensor(batch, dim, device)),
        })
    }

    fn network_input(&self, state: &BeliefState) -> crate::Result<Tensor<2>> {
        Ok(state
            .particle
            .clone()
            .unwrap_or_else(|| state.gaussian.mean.clone()))
    }
}
