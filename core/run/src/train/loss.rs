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
use crate::model::FlowModel;
use burn::tensor::Tensor;
use gpfn_core::divergence::{column, paired_flow};
use gpfn_core::rng::Rng;
use gpfn_network::Network;

/// The training loss of one batch `x: [batch, dim]`, as a one-element tensor. With
/// `noise = Some(ε)` (row `i` paired with data row `i`, as reflow's pairs are) the network
/// input is [`paired_flow`]`(x, κ, ε)` instead of a fresh draw of the model's
/// [`flow_at`](gpfn_core::divergence::DivergenceMaths::flow_at).
pub fn training_loss(
    network: &Network,
    model: &FlowModel<'_>,
    reduction: LossReduction,
    x: Tensor<2>,
    noise: Option<&Tensor<2>>,
    rng: &mut Rng,
) -> gpfn_core::Result<Tensor<1>> {
    let divergence = model.divergence;
    let schedule = model.schedule.as_ref();
    let b = x.dims()[0];
    let t: Vec<f64> = (0..b)
        .map(|_| divergence.objective().sample_time(rng))
        .collect();
    let input = match noise {
        Some(eps) => {
            let kappa: Vec<f64> = t.iter().map(|&t| schedule.kappa(t)).collect();
            paired_flow(divergence, &x, &kappa, eps)?
        }
        None => divergence
            .maths()
            .flow_at(model.family.as_ref(), schedule, &x, &t, rng)?,
    };
    loss_at(network, model, reduction, x, input, &t)
}

/// The loss for given network inputs `input` at times `t` (one per row of `x`):
/// `mean_rows λ(t) ‖x − x̂(input, t)‖²`, the squared error reduced over dimensions by
/// `reduction`.
pub fn loss_at(
    network: &Network,
    model: &FlowModel<'_>,
    reduction: LossReduction,
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
        .map(|&t| {
            per_dim
                * model
                    .divergence
                    .objective()
                    .loss_weight(model.schedule.as_ref(), t)
        })
        .collect();
    let x_hat = model.predict_x(network, input, t)?;
    let squared_error = (x - x_hat).square().sum_dim(1);
    Ok((squared_error * column(&weight, &device)).mean())
}
