//! The prior with a given draw, as reflow and the straightness measure replay it.

use gpfn_core::belief::{BeliefState, DiagGaussian};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};

/// The particle belief whose particle is `noise` (`[rows, dim]` host values): the prior
/// `N(0, I)` with a given draw `z₀`, as reflow replays it.
pub fn prior_with_noise(noise: &[f32], rows: usize, device: &Device) -> BeliefState {
    let dim = noise.len() / rows.max(1);
    BeliefState {
        gaussian: DiagGaussian::standard(rows, dim, device),
        particle: Some(Tensor::from_data(
            TensorData::new(noise.to_vec(), [rows, dim]),
            device,
        )),
    }
}
