//! Reusable pieces of proximal chains: the column helper, BFN's sender sample and the
//! Bayesian chain's sender step, the Gaussian OT map, η-resampling, the straight path, paired
//! flows, the proximal objective and the belief-family check.

use super::{Divergence, DivergenceMaths, Noise, Proximal};
use crate::belief::{Belief, BeliefState, DiagGaussian};
use crate::rng::Rng;
use crate::schedule::ProxStep;
use crate::{GpfnError, Result};
use burn::tensor::{Device, Tensor, TensorData};

/// A `[rows, 1]` column tensor from host values, for per-row scaling.
pub fn column(values: &[f64], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len(), 1]), device)
}

/// The Bayesian chain's sampling step, shared by `kl` (BFN) and the f-divergences of the
/// generic chain: the observation is `y = x̂` (deterministic) or BFN's sender sample
/// `y ~ N(x̂, α⁻¹ I)` (stochastic; `η` concerns particle beliefs only), then the belief takes
/// the divergence's proximal step `prox(prev, y, α)` with `α = accuracy(step)`.
pub fn sender_step(
    div: &dyn DivergenceMaths,
    state: BeliefState,
    x_hat: &Tensor<2>,
    step: &ProxStep,
    noise: Noise,
    rng: &mut Rng,
) -> Result<BeliefState> {
    let alpha = div.accuracy(step);
    let y = match noise {
        Noise::Deterministic => x_hat.clone(),
        Noise::Stochastic { .. } => sender_sample(x_hat, 1.0 / alpha.sqrt(), rng),
    };
    Ok(BeliefState {
        gaussian: div.prox(&state.gaussian, &y, alpha)?,
        particle: None,
    })
}

/// BFN's sender sample `y ~ N(x̂, α⁻¹ I)`, with the noise scale `1/√α` given directly so that
/// `α = ∞` (scale 0) is allowed.
pub fn sender_sample(x_hat: &Tensor<2>, noise_std: f64, rng: &mut Rng) -> Tensor<2> {
    let [b, d] = x_hat.dims();
    if noise_std == 0.0 {
        return x_hat.clone();
    }
    x_hat.clone()
        + rng
            .normal_tensor(b, d, &x_hat.device())
            .mul_scalar(noise_std)
}

/// The monotone optimal-transport map between two diagonal Gaussians, applied to `z`:
/// `T(z) = m' + (s'/s)(z − m)`.
pub fn transport(prev: &DiagGaussian, next: &DiagGaussian, z: &Tensor<2>) -> Tensor<2> {
    next.mean.clone() + (next.std.clone() / prev.std.clone()) * (z.clone() - prev.mean.clone())
}

/// Particle η-resampling (DESIGN §1):
/// `z_i = κ_i x̂ + (1 − κ_i) n`, with `n` the resampled noise of [`eta_noise`].
pub fn eta_resample(
    x_hat: &Tensor<2>,
    z: &Tensor<2>,
    step: &ProxStep,
    eta: f64,
    rng: &mut Rng,
) -> Tensor<2> {
    let noise = eta_noise(x_hat, z, step, eta, rng);
    x_hat.clone().mul_scalar(step.kappa) + noise.mul_scalar(1.0 - step.kappa)
}

/// The noise of η-resampling: `n = √(1−η²) ε̂ + η ξ`, `ξ ~ N(0, I)`, where
/// `ε̂ = (z_{i−1} − κ_{i−1} x̂)/(1 − κ_{i−1})` is the noise the particle implies.
pub fn eta_noise(
    x_hat: &Tensor<2>,
    z: &Tensor<2>,
    step: &ProxStep,
    eta: f64,
    rng: &mut Rng,
) -> Tensor<2> {
    let [b, d] = z.dims();
    let eps_hat =
        (z.clone() - x_hat.clone().mul_scalar(step.kappa_prev)).div_scalar(1.0 - step.kappa_prev);
    let mut noise = eps_hat.mul_scalar((1.0 - eta * eta).max(0.0).sqrt());
    if eta > 0.0 {
        noise = noise + rng.normal_tensor(b, d, &z.device()).mul_scalar(eta);
    }
    noise
}

/// The straight-path flow of particle beliefs: `z = κ x + (1 − κ) ε`, `ε ~ N(0, I)`.
pub fn particle_flow(x: &Tensor<2>, kappa: &[f64], rng: &mut Rng) -> Tensor<2> {
    let [b, d] = x.dims();
    straight_path(x, kappa, rng.normal_tensor(b, d, &x.device()))
}

/// `z = κ x + (1 − κ) ε` per row, for given noise `ε` (`[batch, dim]`, one row per row of `x`).
pub fn straight_path(x: &Tensor<2>, kappa: &[f64], eps: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    let one_minus: Vec<f64> = kappa.iter().map(|k| 1.0 - k).collect();
    x.clone() * column(kappa, &device) + eps * column(&one_minus, &device)
}

/// The proximal objective `J(p) = α E_p[½‖x − y‖²] + D(p, q)` per row: what
/// [`Proximal::prox`] minimises, for beliefs of any family.
pub fn prox_objective<B: Belief>(
    div: &dyn Proximal<B>,
    p: &B,
    q: &B,
    y: &Tensor<2>,
    alpha: f64,
) -> Tensor<1> {
    p.expected_half_sq_dist(y).mul_scalar(alpha) + div.value(p, q)
}

/// Checks that `name` is a belief family `div` supports, with an error that lists them.
pub fn check_family(div: &dyn Divergence, family: &str) -> crate::Result<()> {
    let families = div.maths().belief_families();
    if families.contains(&family) {
        Ok(())
    } else {
        Err(GpfnError::Config {
            key: "belief.name".into(),
            message: format!(
                "divergence `{}` does not support belief family `{}`; it supports: {}",
                div.name(),
                family,
                families.join(", ")
            ),
        })
    }
}

/// The flow distribution's sample for *given* prior noise `ε` (`[batch, dim]`, one row per row
/// of `x`): reflow trains on pairs `(ε, x)` coupled by a sampler instead of drawing fresh
/// noise. It needs the closed form `input = a(κ) x + b(κ) ε`
/// ([`DivergenceMaths::flow_coefficients`]); a divergence without it cannot train on pairs.
pub fn paired_flow(
    div: &dyn Divergence,
    x: &Tensor<2>,
    kappa: &[f64],
    noise: &Tensor<2>,
) -> Result<Tensor<2>> {
    if noise.dims() != x.dims() {
        return Err(GpfnError::Shape(format!(
            "paired noise has shape {:?}, the data {:?}",
            noise.dims(),
            x.dims()
        )));
    }
    let mut a = Vec::with_capacity(kappa.len());
    let mut b = Vec::with_capacity(kappa.len());
    for &k in kappa {
        let (ak, bk) = div
            .maths()
            .flow_coefficients(k)
            .ok_or_else(|| GpfnError::Config {
                key: "data".into(),
                message: format!(
                    "divergence `{}` has no closed-form flow `a x + b ε`, so it cannot train \
                     on paired noise",
                    div.name()
                ),
            })?;
        a.push(ak);
        b.push(bk);
    }
    let device = x.device();
    Ok(x.clone() * column(&a, &device) + noise.clone() * column(&b, &device))
}
