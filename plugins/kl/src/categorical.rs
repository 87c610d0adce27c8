//! `KL(p ‖ q)` on categorical beliefs: Bayes' rule, and discrete BFN's Bayesian flow
//! (Graves et al. 2023, §6; nnaisense `model.py: DiscreteBayesianFlow`).

use crate::divergence::KlMaths;
use gpfn_core::belief::categorical::{
    Categorical, CategoricalFamily, sender_bridge, sender_sample,
};
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::{CategoricalMaths, CategoricalRenoise, Proximal};
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};

/// `ln θ` with `ln 0` kept finite (`θ` floored at the smallest normal `f32`), so that
/// `θ ln θ = 0` where `θ = 0`.
fn log(theta: &Tensor<2>) -> Tensor<2> {
    theta.clone().clamp_min(f32::MIN_POSITIVE as f64).log()
}

impl Proximal<Categorical> for KlMaths {
    /// `KL(p ‖ q) = Σ_{j,k} p_jk ln(p_jk / q_jk)` per row.
    fn value(&self, p: &Categorical, q: &Categorical) -> Tensor<1> {
        (p.probs.clone() * (log(&p.probs) - log(&q.probs)))
            .sum_dim(1)
            .squeeze_dim(1)
    }

    /// Bayes' rule (Gibbs' variational principle): `p ∝ q e^{α y}` per variable.
    fn prox(&self, prev: &Categorical, y: &Tensor<2>, alpha: f64) -> Result<Categorical> {
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(GpfnError::Invalid(format!(
                "kl on categorical beliefs: accuracy α = {alpha} must be finite and ≥ 0"
            )));
        }
        Ok(Categorical::from_logits(
            log(&prev.probs) + y.clone().mul_scalar(alpha),
            prev.classes,
        ))
    }
}

impl CategoricalMaths for KlMaths {
    /// Discrete BFN's Bayesian flow from the uniform prior: `θ = softmax(y)`,
    /// `y ~ N(β(t)(K e_x − 1), β(t) K I)` (the `n` sender samples of a chain sum to one
    /// sample at accuracy `Σ α_i = β(t)`).
    fn flow(
        &self,
        family: &CategoricalFamily,
        e_x: &Categorical,
        t: &[f64],
        rng: &mut Rng,
    ) -> Result<Categorical> {
        let beta: Vec<f64> = t.iter().map(|&t| family.beta(t)).collect();
        Ok(Categorical::from_logits(
            sender_sample(&e_x.probs, e_x.classes, &beta, rng),
            e_x.classes,
        ))
    }

    fn renoise_kernel(&self) -> Option<&dyn CategoricalRenoise> {
        Some(self)
    }
}

impl CategoricalRenoise for KlMaths {
    /// The flow's own kernel back in time: the sender's Brownian bridge from `β(t_from)` to
    /// `β(t_to)` ([`sender_bridge`]), exact for the flow of every class.
    fn renoise(
        &self,
        family: &CategoricalFamily,
        theta: &Categorical,
        (t_from, t_to): (f64, f64),
        rng: &mut Rng,
    ) -> Result<Categorical> {
        if !(0.0..=t_from).contains(&t_to) {
            return Err(GpfnError::Invalid(format!(
                "kl's categorical renoising goes back in time: t = {t_to} after {t_from}"
            )));
        }
        Ok(sender_bridge(
            theta,
            family.beta(t_from),
            family.beta(t_to),
            rng,
        ))
    }
}
