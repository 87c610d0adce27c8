//! Reusable pieces of proximal chains: the column helper, BFN's sender sample and the
//! Bayesian chain's sender step, the Gaussian OT map, η-resampling, the straight path, paired
//! flows, the proximal objective and the belief-family check.

use super::{Divergence, DivergenceMaths, Noise, Proximal};
use crate::belief::{Belief, BeliefFamily, BeliefState, DiagGaussian};
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
        Noise::Stochastic { .. } | Noise::Ancestral { .. } => {
            sender_sample(x_hat, 1.0 / alpha.sqrt(), rng)
        }
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

/// Particle η-resampling (docs/maths.md, "W2: optimal transport"):
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

/// The ancestral step of the straight path `z_t = a_t x + b_t ε` (`a = κ`, `b = 1 − κ`) as
/// η-resampling ([`eta_resample`]): the `η'` for which `κ_i x̂ + (1 − κ_i)(√(1−η'²) ε̂ + η' ξ)`
/// is DDIM's step with `σ_i = η σ_post`.
///
/// The Markov noising from `t_i` back to `t_{i−1}` that keeps the path's marginals is
/// `z_{i−1} = r z_i + √v ξ` with `r = a_{i−1}/a_i` and `v = b_{i−1}² − r² b_i²`; the posterior
/// `q(z_i | z_{i−1}, x)` then has variance `σ_post² = b_i² v / b_{i−1}²`, so
/// `η' = η σ_post / b_i = η √(1 − (a_{i−1} b_i / (a_i b_{i−1}))²)`. With the exact `x̂ = x`
/// every step samples the posterior exactly, so the chain's marginals are the flow's at every
/// step count. `η' = η` on the first step (`a_0 = 0`: the posterior is the prior).
pub fn ancestral_eta(step: &ProxStep, eta: f64) -> f64 {
    let (a_prev, a) = (step.kappa_prev, step.kappa);
    let (b_prev, b) = (1.0 - a_prev, 1.0 - a);
    if a <= 0.0 || b_prev <= 0.0 {
        return eta;
    }
    let r = (a_prev * b) / (a * b_prev);
    eta * (1.0 - r * r).max(0.0).sqrt()
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

/// Checks that `family` is a belief family `div` supports, with an error that names both and
/// lists the supported ones; a categorical family also needs the divergence's maths on the
/// simplex ([`Divergence::categorical`]).
pub fn check_family(div: &dyn Divergence, family: &dyn BeliefFamily) -> crate::Result<()> {
    let families = div.maths().belief_families();
    let name = family.name();
    if family.categorical().is_some() && div.categorical().is_none() {
        return Err(GpfnError::Config {
            key: "belief.name".into(),
            message: format!(
                "divergence `{}` has no proximal step on categorical beliefs, so it cannot use belief family `{name}`; it supports: {}",
                div.name(),
                families.join(", ")
            ),
        });
    }
    if families.contains(&name) {
        Ok(())
    } else {
        Err(GpfnError::Config {
            key: "belief.name".into(),
            message: format!(
                "divergence `{}` does not support belief family `{}`; it supports: {}",
                div.name(),
                name,
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

/// Checks RePaint's count of takes per step (`--resample`, [`repaint_chain`](crate::sampling::repaint_chain) and
/// [`categorical_repaint_chain`](super::categorical_repaint_chain)): at least one.
pub fn check_jumps(jumps: usize) -> Result<()> {
    if jumps == 0 {
        return Err(GpfnError::Config {
            key: "--resample".into(),
            message: "takes each step at least once: give 1 or more".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(kappa_prev: f64, kappa: f64) -> ProxStep {
        ProxStep {
            index: 2,
            t_prev: kappa_prev,
            t: kappa,
            kappa_prev,
            kappa,
            weight: 1.0 - (1.0 - kappa) / (1.0 - kappa_prev),
        }
    }

    /// `η'` against the posterior variance computed by Gaussian conditioning on the joint law
    /// of `(z_i, z_{i−1})` given `x`: `Var z_i = b_i²`, `Cov(z_i, z_{i−1}) = r b_i²` (the
    /// noising `z_{i−1} = r z_i + √v ξ`, `r = a_{i−1}/a_i`, `Var z_{i−1} = b_{i−1}²`), so
    /// `Var(z_i | z_{i−1}) = b_i² − (r b_i²)²/b_{i−1}²`.
    #[test]
    fn ancestral_eta_is_the_posterior_standard_deviation_over_b() {
        for (kp, k) in [(0.25, 0.5), (0.1, 0.2), (0.5, 0.9), (0.9, 0.95)] {
            let (bp, b) = (1.0f64 - kp, 1.0f64 - k);
            let r = kp / k;
            let var = b * b - (r * b * b).powi(2) / (bp * bp);
            let want = var.sqrt() / b;
            approx::assert_relative_eq!(
                ancestral_eta(&step(kp, k), 1.0),
                want,
                max_relative = 1e-12
            );
            approx::assert_relative_eq!(
                ancestral_eta(&step(kp, k), 0.5),
                0.5 * want,
                max_relative = 1e-12
            );
        }
        // κ = 0.25 → 0.5: σ_post² = b² v / b_prev² = 0.25 · 0.5 / 0.5625, η' = √(8/9).
        approx::assert_relative_eq!(
            ancestral_eta(&step(0.25, 0.5), 1.0),
            (8.0f64 / 9.0).sqrt(),
            max_relative = 1e-12
        );
        // From pure noise the posterior is the prior: all of the noise is fresh.
        assert_eq!(ancestral_eta(&step(0.0, 0.3), 0.7), 0.7);
        // Finer steps draw less fresh noise.
        assert!(ancestral_eta(&step(0.5, 0.51), 1.0) < ancestral_eta(&step(0.5, 0.6), 1.0));
    }
}
