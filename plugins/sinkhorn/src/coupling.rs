//! Minibatch optimal-transport coupling of noise and data.
//!
//! Given a batch of data `x` and an i.i.d. batch of noise `ε ~ N(0, I)`, pair `x_i` with
//! `ε_{σ(i)}` where `σ` minimises `Σ_i ‖x_i − ε_{σ(i)}‖²` (the exact OT plan between the two
//! uniform batches, a permutation). Both marginals of the batch are unchanged (every data
//! point and every noise sample is used once); only the pairing, and with it the straight
//! paths `z = κ x + (1 − κ) ε`, changes: paths cross less.

use gpfn_core::burn::tensor::{Int, Tensor, TensorData};
use gpfn_ot::exact_pairing;
use serde::{Deserialize, Serialize};

/// How noise is paired with data in the flow distribution (and, in the stochastic sampler,
/// with the predictions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coupling {
    /// Exact minibatch OT (an optimal assignment per batch).
    #[default]
    Exact,
    /// Independent pairing, as in `w2` (for ablations; the deterministic sampler's batch
    /// transport then does not reproduce the flow distribution).
    Independent,
}

/// `noise` with its rows reordered so that row `i` is the optimal partner of `x_i`.
/// Falls back to the given order (with a warning) if the costs are not finite.
pub fn couple(x: &Tensor<2>, noise: Tensor<2>) -> Tensor<2> {
    match exact_pairing(x, &noise) {
        Ok(sigma) => {
            let n = sigma.len();
            let idx: Vec<i64> = sigma.into_iter().map(|j| j as i64).collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &noise.device());
            noise.select(0, idx)
        }
        Err(e) => {
            tracing::warn!("minibatch OT coupling skipped: {e}");
            noise
        }
    }
}
