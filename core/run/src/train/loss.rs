//! The GPFN training loss.
//!
//! For data `x`, a time `t` drawn by the divergence (continuous: `t ~ U[0, 1)`), the network
//! input `z ~ flow_at(x, t)` (the flow at `κ(t)`, or simulated on a grid) and the prediction `x̂ = F(z, t)`:
//!
//! ```text
//! L = E_{x, t, z} [ λ(t) · ‖x − x̂‖² ]
//! ```
//!
//! with the divergence's weight `λ(t)` (KL: BFN's `−ln σ₁ · σ₁^{−2t}`). Where the data come
//! with paired prior noise (reflow), `z` is the flow of that noise rather than a fresh draw.

use crate::config::LossReduction;
use crate::predict::Readout;
use crate::predict::predict_x;
use burn::tensor::Tensor;
use gpfn_core::belief::BeliefFamily;
use gpfn_core::divergence::{Divergence, column, paired_flow};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::Schedule;
use gpfn_network::Network;

/// The training loss of one batch `x: [batch, dim]`, as a one-element tensor. With
/// `noise = Some(ε)` (row `i` paired with data row `i`, as reflow's pairs are) the network
/// input is [`Divergence::paired_flow`]`(x, κ, ε)` instead of a fresh draw of
/// [`Divergence::flow_at`].
#[allow(clippy::too_many_arguments)]
pub fn training_loss(
    network: &Network,
    readout: Readout,
    reduction: LossReduction,
    divergence: &dyn Divergence,
    family: &dyn BeliefFamily,
    schedule: &dyn Schedule,
    x: Tensor<2>,
    noise: Option<&Tensor<2>>,
    rng: &mut Rng,
) -> gpfn_core::Result<Tensor<1>> {
    let b = x.dims()[0];
    let t: Vec<f64> = (0..b)
        .map(|_| divergence.objective().sample_time(rng))
        .collect();
    let input = match noise {
        Some(eps) => {
            let kappa: Vec<f64> = t.iter().map(|&t| schedule.kappa(t)).collect();
            paired_flow(divergence, &x, &kappa, eps)?
        }
        None => divergence.maths().flow_at(family, schedule, &x, &t, rng)?,
    };
    loss_at(
        network, readout, reduction, divergence, schedule, x, input, &t,
    )
}

/// The loss for given network inputs `input` at times `t` (one per row of `x`):
/// `mean_rows λ(t) ‖x − x̂(input, t)‖²`, the squared error reduced over dimensions by
/// `reduction`.
#[allow(clippy::too_many_arguments)]
pub fn loss_at(
    network: &Network,
    readout: Readout,
    reduction: LossReduction,
    divergence: &dyn Divergence,
    schedule: &dyn Schedule,
    x: Tensor<2>,
    input: Tensor<2>,
    t: &[f64],
) -> gpfn_core::Result<Tensor<1>> {
    let device = x.device();
    let d = x.dims()[1];
    let per_dim = match reduction {
        LossReduction::Sum => 1.0,
        LossReduction::Mean => 1.0 / d as f64,
    };
    let weight: Vec<f64> = t
        .iter()
        .map(|&t| per_dim * divergence.objective().loss_weight(schedule, t))
        .collect();
    let x_hat = predict_x(
        network,
        readout.target,
        &readout.output,
        divergence,
        schedule,
        input,
        t,
    )?;
    let squared_error = (x - x_hat).square().sum_dim(1);
    Ok((squared_error * column(&weight, &device)).mean())
}
