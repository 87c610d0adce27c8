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
//!
//! On categorical data (`[belief] name = "categorical"`) the network reads beliefs
//! `θ ~ p_F(· | x; t)` (the divergence's flow on the simplex) and returns the output
//! distribution `p̂`; the loss is discrete BFN's continuous-time loss
//! `L^∞ = K β(1) t ‖e_x − p̂(θ, t)‖²`, `t ~ U[0, 1)` ([`categorical_loss`]).

use crate::config::LossReduction;
use crate::model::{CategoricalModel, FlowModel};
use burn::tensor::{Int, Tensor};
use gpfn_core::belief::categorical::{Categorical, one_hot};
use gpfn_core::divergence::{categorical_maths, column, paired_flow};
use gpfn_core::rng::Rng;
use gpfn_likelihood::categorical::continuous_time_loss;
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
    training_loss_conditional(network, model, reduction, x, noise, None, rng)
}

/// [`training_loss`] of a class-conditional network, row `i` of `x` read with class
/// `class[i]` (after label dropout; `K` the null class). `None` reads every row as the null
/// class of a conditional network, and is [`training_loss`] for an unconditional one. The
/// draws from `rng` are those of [`training_loss`].
pub fn training_loss_conditional(
    network: &Network,
    model: &FlowModel<'_>,
    reduction: LossReduction,
    x: Tensor<2>,
    noise: Option<&Tensor<2>>,
    class: Option<Tensor<1, Int>>,
    rng: &mut Rng,
) -> gpfn_core::Result<Tensor<1>> {
    if let Some(categorical) = &model.categorical {
        return categorical_loss(network, model, categorical, reduction, x, class, rng);
    }
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
    loss_at_conditional(network, model, reduction, x, input, &t, class)
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
    loss_at_conditional(network, model, reduction, x, input, t, None)
}

/// [`loss_at`] with row `i` read as class `class[i]` by a conditional network
/// ([`FlowModel::predict_x_conditional`]).
pub fn loss_at_conditional(
    network: &Network,
    model: &FlowModel<'_>,
    reduction: LossReduction,
    x: Tensor<2>,
    input: Tensor<2>,
    t: &[f64],
    class: Option<Tensor<1, Int>>,
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
    let x_hat = match class {
        Some(class) => model.predict_x_conditional(network, input, t, Some(class))?,
        None => model.predict_x(network, input, t)?,
    };
    let squared_error = (x - x_hat).square().sum_dim(1);
    Ok((squared_error * column(&weight, &device)).mean())
}

/// Discrete BFN's continuous-time loss of one batch of class indices `x: [batch, D]`:
/// `mean_rows K β(1) t ‖e_x − p̂(θ, t)‖²` with `t ~ U[0, 1)` and `θ` from the divergence's flow
/// on the simplex, the squared error reduced over variables by `reduction`; a conditional
/// network reads row `i` with class `class[i]` (`None`: unconditional, or the null class).
pub fn categorical_loss(
    network: &Network,
    model: &FlowModel<'_>,
    categorical: &CategoricalModel,
    reduction: LossReduction,
    x: Tensor<2>,
    class: Option<Tensor<1, Int>>,
    rng: &mut Rng,
) -> gpfn_core::Result<Tensor<1>> {
    let CategoricalModel { family, classes } = categorical;
    let [b, d] = x.dims();
    let maths = categorical_maths(model.divergence)?;
    let t: Vec<f64> = (0..b).map(|_| rng.uniform()).collect();
    let e_x = Categorical {
        probs: one_hot(&x, *classes),
        classes: *classes,
    };
    let theta = maths.flow(family, &e_x, &t, rng)?;
    let device = x.device();
    let out =
        network.forward_conditional(family.network_input(&theta), column(&t, &device), class)?;
    let probs = family.output_probs(out, *classes);
    let loss = continuous_time_loss(family, &e_x, &probs, &t);
    let per_dim = match reduction {
        LossReduction::Sum => 1.0,
        LossReduction::Mean => 1.0 / d as f64,
    };
    Ok(loss.mean().mul_scalar(per_dim))
}
