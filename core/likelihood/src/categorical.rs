//! Discrete BFN's variational bounds on `−ln P(x)` for categorical data (Graves et al. 2023,
//! §6; nnaisense `model.py: DiscreteBayesianFlowLoss`). With `K` classes, the accuracy
//! schedule `β(t) = β(1) t²`, `α_i = β(1)(2i − 1)/n²`, the flow `θ ~ p_F(· | x; t)` of the
//! divergence and the network's output distribution `p̂ = p_O(· | θ, t)`, per item (summed
//! over its `D` variables):
//!
//! ```text
//! L^∞(x) = K β(1) E_{t ~ U(0,1)} E_θ[ t ‖e_x − p̂(θ, t)‖² ]                 (= ½ K β'(t) ‖·‖²)
//! Lⁿ(x)  = n E_{i ~ U{1..n}} E_θ[ KL(p_S(· | x; α_i) ‖ p_R(· | θ; t_{i−1}, α_i)) ]
//! L^r(x) = −E_{θ at t = 1}[ ln p_O(x | θ, 1) ]
//! ```
//!
//! with the sender `p_S = N(α(K e_x − 1), α K I)` and the receiver the mixture
//! `p_R = Σ_k p̂_k N(α(K e_k − 1), α K I)`. The Gaussians share their covariance and their
//! means' norms, so for `y ~ p_S` the log-ratio is `ln p_S(y) − ln p_R(y) =
//! y_x − ln Σ_k p̂_k e^{y_k}` (the quadratic terms cancel), which is the Monte Carlo estimate
//! of the KL the reference draws. `−ln P(x) ≤ Lⁿ + L^r`; `L^∞ + L^r` is the bound of the
//! `n → ∞` chain. Both are in nats per item; data are exact classes, so no dequantisation.

use crate::RowPredictor;
use gpfn_core::belief::categorical::{
    Categorical, CategoricalFamily, blocks, one_hot, sender_sample,
};
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::CategoricalMaths;
use gpfn_core::host::host_f64;
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};

/// What the categorical bounds need.
pub struct CategoricalBoundProblem<'a> {
    /// The divergence's maths on the simplex (its flow distribution).
    pub maths: &'a dyn CategoricalMaths,
    /// The family: `β(1)` and the network's input and output.
    pub family: &'a CategoricalFamily,
    /// `K`.
    pub classes: usize,
    /// The network's raw output for the input [`CategoricalFamily::network_input`] at one time
    /// per row.
    pub predictor: &'a RowPredictor<'a>,
}

/// The three terms per item, in nats, each averaged over the repeats.
#[derive(Clone, Debug)]
pub struct CategoricalBoundTerms {
    /// `L^∞(x)`.
    pub continuous: Vec<f64>,
    /// `Lⁿ(x)`.
    pub discrete: Vec<f64>,
    /// `L^r(x)`.
    pub reconstruction: Vec<f64>,
}

/// `ln p` with `ln 0` floored at the smallest normal `f32`'s logarithm (`≈ −87.3`), so that a
/// class the output rules out costs a large finite amount rather than `∞ · 0 = NaN`.
fn log(p: Tensor<2>) -> Tensor<2> {
    p.clamp_min(f32::MIN_POSITIVE as f64).log()
}

/// `K β(1) t ‖e_x − p̂‖²` per row: the integrand of `L^∞` (`e_x` and `p̂` `[batch, K·D]`,
/// one time per row).
pub fn continuous_time_loss(
    family: &CategoricalFamily,
    e_x: &Categorical,
    probs: &Tensor<2>,
    t: &[f64],
) -> Tensor<1> {
    let k = e_x.classes as f64;
    let weight: Vec<f64> = t.iter().map(|&t| k * family.beta_1 * t).collect();
    let device = probs.device();
    ((e_x.probs.clone() - probs.clone()).square().sum_dim(1)
        * gpfn_core::divergence::column(&weight, &device))
    .squeeze_dim(1)
}

/// One Monte Carlo draw of `KL(p_S ‖ p_R)` per row, summed over variables: with
/// `y ~ N(α(K e_x − 1), α K I)`, `y_x − ln Σ_k p̂_k e^{y_k}` (module docs), at accuracy
/// `alpha[r]` per row.
pub fn sender_receiver_kl(
    e_x: &Categorical,
    probs: &Tensor<2>,
    alpha: &[f64],
    rng: &mut Rng,
) -> Tensor<1> {
    let classes = e_x.classes;
    let y = sender_sample(&e_x.probs, classes, alpha, rng);
    let y_x = (y.clone() * e_x.probs.clone())
        .sum_dim(1)
        .squeeze_dim::<1>(1);
    let mixture = blocks(log(probs.clone()) + y, classes);
    // ln Σ_k p̂_k e^{y_k}, stably: max + ln Σ e^{· − max}.
    let max = mixture.clone().max_dim(1);
    let lse = (mixture - max.clone()).exp().sum_dim(1).log() + max;
    let [b, _, d] = lse.dims();
    y_x - lse.reshape([b, d]).sum_dim(1).squeeze_dim::<1>(1)
}

/// `−ln p̂(x)` per row, summed over variables: the reconstruction term's integrand.
pub fn reconstruction_loss(e_x: &Categorical, probs: &Tensor<2>) -> Tensor<1> {
    (log(probs.clone()) * e_x.probs.clone())
        .sum_dim(1)
        .squeeze_dim::<1>(1)
        .neg()
}

/// The `r`-th of `repeats` strata of `[0, 1)` at the uniform draw `u`: `(r + u)/repeats`.
fn stratum(r: usize, repeats: usize, u: f64) -> f64 {
    (r as f64 + u) / repeats as f64
}

impl CategoricalBoundProblem<'_> {
    /// `p̂` for beliefs `theta` at one time per row.
    fn output(&self, theta: &Categorical, t: &[f64]) -> Result<Tensor<2>> {
        let out = (self.predictor)(self.family.network_input(theta), t)?;
        Ok(self.family.output_probs(out, self.classes))
    }

    /// The bounds' terms for the items `x: [items, D]` (class indices), with `steps = n`
    /// and `repeats` Monte Carlo draws per item and term (the draws of `t` and of `i`
    /// stratified: one in each of `repeats` equal sub-intervals of `[0, 1)`).
    pub fn terms(
        &self,
        x: &Tensor<2>,
        steps: usize,
        repeats: usize,
        rng: &mut Rng,
    ) -> Result<CategoricalBoundTerms> {
        if steps == 0 || repeats == 0 {
            return Err(GpfnError::Invalid(format!(
                "categorical bound: steps = {steps} and repeats = {repeats} must both be ≥ 1"
            )));
        }
        let items = x.dims()[0];
        let e_x = Categorical {
            probs: one_hot(x, self.classes),
            classes: self.classes,
        };
        let mut continuous = vec![0.0; items];
        let mut discrete = vec![0.0; items];
        let mut reconstruction = vec![0.0; items];
        let add = |acc: &mut [f64], v: Vec<f64>| {
            for (a, v) in acc.iter_mut().zip(v) {
                *a += v / repeats as f64;
            }
        };
        for r in 0..repeats {
            // L^∞: t in stratum r.
            let t: Vec<f64> = (0..items)
                .map(|_| stratum(r, repeats, rng.uniform()))
                .collect();
            let theta = self.maths.flow(self.family, &e_x, &t, rng)?;
            let probs = self.output(&theta, &t)?;
            add(
                &mut continuous,
                host_f64(continuous_time_loss(self.family, &e_x, &probs, &t)),
            );
            // Lⁿ: i in stratum r of {1..n}, θ at t_{i−1}.
            let i: Vec<usize> = (0..items)
                .map(|_| {
                    let u = stratum(r, repeats, rng.uniform());
                    ((u * steps as f64) as usize).min(steps - 1) + 1
                })
                .collect();
            let t_prev: Vec<f64> = i.iter().map(|&i| (i - 1) as f64 / steps as f64).collect();
            let alpha: Vec<f64> = i.iter().map(|&i| self.family.alpha(i, steps)).collect();
            let theta = self.maths.flow(self.family, &e_x, &t_prev, rng)?;
            let probs = self.output(&theta, &t_prev)?;
            let kl = host_f64(sender_receiver_kl(&e_x, &probs, &alpha, rng));
            add(
                &mut discrete,
                kl.into_iter().map(|v| v * steps as f64).collect(),
            );
            // L^r: θ at t = 1.
            let ones = vec![1.0; items];
            let theta = self.maths.flow(self.family, &e_x, &ones, rng)?;
            let probs = self.output(&theta, &ones)?;
            add(
                &mut reconstruction,
                host_f64(reconstruction_loss(&e_x, &probs)),
            );
        }
        Ok(CategoricalBoundTerms {
            continuous,
            discrete,
            reconstruction,
        })
    }
}
