//! `categorical`: `K` classes per variable, a belief `θ_j ∈ Δ^{K−1}` per coordinate — the
//! discrete half of Bayesian Flow Networks (Graves et al. 2023, §6; nnaisense
//! `bayesian-flow-networks`, `model.py: DiscreteBayesianFlow`).
//!
//! **Layout.** A batch of beliefs over `D` variables is `[batch, K·D]`, *class-major*: block
//! `k` (`D` contiguous values) holds class `k`'s probability of every variable. An image item
//! `[1, H, W]` is then exactly the channel-major tensor `[K, H, W]` a U-Net reads. Data are
//! class indices `x_j ∈ {0, …, K−1}`, stored as `f32`, `[batch, D]`; [`one_hot`] turns them
//! into `e_x` in the same class-major layout.
//!
//! **Accuracy schedule** `β(t) = β(1) t²` ([`CategoricalFamily::beta`]); the sender of accuracy
//! `α` observes class `k` as `y ~ N(α(K e_k − 1), α K I)` ([`sender_sample`]); the `n`-step
//! chain's accuracies are `α_i = β(t_i) − β(t_{i−1}) = β(1)(2i − 1)/n²`
//! ([`CategoricalFamily::alpha`]).
//!
//! **As a proximal step.** Observations live in `R^{K}` per variable; for one-hot `x`,
//! `E_p[½‖x − ỹ‖²] = Σ_j (½ − ⟨p_j, ỹ_j⟩ + ½‖ỹ_j‖²)`, so the step
//! `argmin_p α E_p[½‖x − ỹ‖²] + D(p, θ)` with `D = KL` is Bayes' rule `p ∝ θ e^{α ỹ}`. The
//! sender's `y` is `α ỹ` with `ỹ = K e_k − 1 + √(K/α) ξ`: discrete BFN's update
//! `θ' ∝ θ e^{y}`. Any divergence with a proximal step on these beliefs
//! ([`crate::divergence::CategoricalMaths`]) runs the same chain.
//!
//! **Network.** It reads `θ` as `K` channels per variable (for `K = 2`, one channel
//! `2θ₁ − 1`) and returns `K` logits per variable (for `K = 2`, one logit of class 1: the
//! reference's Bernoulli output); [`CategoricalFamily::output_probs`] reads them as `p̂`.

use super::{Belief, BeliefFamily, BeliefState};
use crate::rng::Rng;
use crate::{GpfnError, Result};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Belief,
    "categorical",
    "K classes per variable, θ ∈ Δ^{K−1}; discrete BFN's Bayesian flow, β(t) = β(1) t²"
);

/// A batch of categorical beliefs: `probs` is `[batch, K·D]`, class-major, each variable's `K`
/// values a probability vector.
#[derive(Clone, Debug)]
pub struct Categorical {
    /// `θ`, `[batch, K·D]`, class-major.
    pub probs: Tensor<2>,
    /// `K`.
    pub classes: usize,
}

impl Categorical {
    /// The uniform prior `θ_j = 1/K` of BFN, for `batch` rows of `dim` variables.
    pub fn uniform(batch: usize, dim: usize, classes: usize, device: &Device) -> Self {
        Categorical {
            probs: Tensor::full([batch, classes * dim], 1.0 / classes as f64, device),
            classes,
        }
    }

    /// The beliefs `θ = softmax(logits)` within each variable.
    pub fn from_logits(logits: Tensor<2>, classes: usize) -> Self {
        let [b, w] = logits.dims();
        Categorical {
            probs: softmax(logits.reshape([b, classes, w / classes]), 1).reshape([b, w]),
            classes,
        }
    }

    /// Batch size and number of variables `D`.
    pub fn dims(&self) -> [usize; 2] {
        let [b, w] = self.probs.dims();
        [b, w / self.classes]
    }

    /// `[batch, K, D]`: the probabilities with the classes on axis 1.
    pub fn blocks(&self) -> Tensor<3> {
        blocks(self.probs.clone(), self.classes)
    }
}

impl Belief for Categorical {
    /// `Σ_j (½ − ⟨θ_j, y_j⟩ + ½‖y_j‖²)` per row: `E_θ[½‖e_x − y‖²]` for one-hot `e_x`.
    fn expected_half_sq_dist(&self, y: &Tensor<2>) -> Tensor<1> {
        let d = y.dims()[1] / self.classes;
        let inner = (self.probs.clone() * y.clone())
            .sum_dim(1)
            .squeeze_dim::<1>(1);
        let norm = y
            .clone()
            .square()
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .mul_scalar(0.5);
        (norm - inner).add_scalar(0.5 * d as f64)
    }

    fn parameters(&self) -> &'static [&'static str] {
        &["logit"]
    }

    fn parameter_dims(&self, _which: usize) -> [usize; 2] {
        self.probs.dims()
    }

    /// A move of `δ` in the (unnormalised) log-probabilities: `θ' ∝ θ e^δ`.
    fn perturbed(&self, _which: usize, delta: &Tensor<2>) -> Self {
        Categorical::from_logits(self.probs.clone().log() + delta.clone(), self.classes)
    }
}

/// `[batch, K·D]` → `[batch, K, D]`.
pub fn blocks(t: Tensor<2>, classes: usize) -> Tensor<3> {
    let [b, w] = t.dims();
    t.reshape([b, classes, w / classes])
}

/// `e_x`: the one-hot encoding `[batch, K·D]` (class-major) of class indices `x: [batch, D]`.
pub fn one_hot(x: &Tensor<2>, classes: usize) -> Tensor<2> {
    let [b, d] = x.dims();
    x.clone()
        .int()
        .one_hot::<3>(classes)
        .float()
        .swap_dims(1, 2)
        .reshape([b, classes * d])
}

/// Checks that `x` holds class indices `0..K−1` (integers), naming the first that does not.
pub fn check_classes(x: &[f32], classes: usize) -> Result<()> {
    check_class_count(classes)?;
    match x
        .iter()
        .position(|&v| !(v.fract() == 0.0 && v >= 0.0 && (v as usize) < classes))
    {
        None => Ok(()),
        Some(i) => Err(GpfnError::Invalid(format!(
            "categorical data: value {} at position {i} is not a class index in 0..{}",
            x[i],
            classes - 1
        ))),
    }
}

/// `K ≥ 2`.
pub fn check_class_count(classes: usize) -> Result<()> {
    if classes < 2 {
        return Err(GpfnError::Config {
            key: "belief.classes".into(),
            message: format!("a categorical belief needs at least 2 classes, got {classes}"),
        });
    }
    Ok(())
}

/// The sender sample for one-hot (or soft) observations `e: [batch, K·D]` at accuracy
/// `alpha[r]` per row: `y = α (K e − 1) + √(α K) ξ`, `ξ ~ N(0, I)`.
pub fn sender_sample(e: &Tensor<2>, classes: usize, alpha: &[f64], rng: &mut Rng) -> Tensor<2> {
    let [b, w] = e.dims();
    let device = e.device();
    let k = classes as f64;
    let mean = e.clone().mul_scalar(k).sub_scalar(1.0) * rows(alpha, &device);
    let std: Vec<f64> = alpha.iter().map(|a| (a * k).sqrt()).collect();
    mean + rng.normal_tensor(b, w, &device) * rows(&std, &device)
}

/// The sender's accumulated observation carried back from accuracy `β` to `β' ≤ β`:
/// `y_{β'} = (β'/β) y_β + √(K β'(β − β')/β) ξ`, `ξ ~ N(0, I)`, with the beliefs as
/// `θ = softmax(y)` and `y_β` read as `ln θ` (softmax ignores the shift by `ln Σ e^y`, which
/// the bridge scales by `β'/β`). The sender's sum `y_β = β(K e_x − 1) + √K B(β)`, `B` a
/// Brownian motion in `β`, given its value at `β` is a Brownian bridge from 0: mean
/// `(β'/β) y_β`, variance `K β'(β − β')/β` per entry, the drift `β (K e_x − 1)` cancelling,
/// so the kernel takes the flow `N(β(K e_x − 1), βK)` to `N(β'(K e_x − 1), β'K)` for every
/// class `x` without knowing it. At `β' = 0` it returns the uniform prior.
pub fn sender_bridge(theta: &Categorical, beta: f64, beta_to: f64, rng: &mut Rng) -> Categorical {
    let [b, w] = theta.probs.dims();
    let k = theta.classes as f64;
    let (scale, variance) = if beta > 0.0 {
        (
            beta_to / beta,
            (k * beta_to * (beta - beta_to) / beta).max(0.0),
        )
    } else {
        (0.0, 0.0)
    };
    let y = theta
        .probs
        .clone()
        .clamp_min(f32::MIN_POSITIVE as f64)
        .log()
        .mul_scalar(scale);
    let noise = rng
        .normal_tensor(b, w, &theta.probs.device())
        .mul_scalar(variance.sqrt());
    Categorical::from_logits(y + noise, theta.classes)
}

/// One class per variable drawn from `probs: [batch, K·D]`, one-hot, on the device: with
/// `u ~ U[0, 1)` per variable and the cumulative sums `c_k = Σ_{l ≤ k} θ_l`, class `k` is the
/// one with `c_{k−1} ≤ u < c_k` (the last class takes the rounding remainder).
pub fn draw_classes(probs: &Tensor<2>, classes: usize, rng: &mut Rng) -> Tensor<2> {
    let [b, w] = probs.dims();
    let d = w / classes;
    let device = probs.device();
    let u: Vec<f32> = (0..b * d).map(|_| rng.uniform() as f32).collect();
    let u = Tensor::<1>::from_data(TensorData::new(u, [b * d]), &device).reshape([b, 1, d]);
    let cum = blocks(probs.clone(), classes).cumsum(1);
    // above[k] = 1 where u < c_k; the last class's c_K is 1 up to rounding: force it.
    let above = cum.lower_equal(u.repeat_dim(1, classes)).bool_not().float();
    let last = Tensor::ones([b, 1, d], &device);
    let above = if classes > 1 {
        Tensor::cat(vec![above.slice([0..b, 0..classes - 1, 0..d]), last], 1)
    } else {
        last
    };
    let below = Tensor::cat(
        vec![
            Tensor::zeros([b, 1, d], &device),
            above.clone().slice([0..b, 0..classes - 1, 0..d]),
        ],
        1,
    );
    (above - below).reshape([b, w])
}

/// The most probable class of each variable, `[batch, D]` (as `f32` class indices).
pub fn mode(probs: &Tensor<2>, classes: usize) -> Tensor<2> {
    let [b, w] = probs.dims();
    blocks(probs.clone(), classes)
        .argmax(1)
        .float()
        .reshape([b, w / classes])
}

/// A per-row column `[batch, 1]` of `values`.
fn rows(values: &[f64], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len(), 1]), device)
}

/// The categorical belief family (`[belief] name = "categorical"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoricalFamily {
    /// `K`; taken from the data set when absent (and checked against it when given).
    #[serde(default)]
    pub classes: Option<usize>,
    /// `β(1)` of the accuracy schedule `β(t) = β(1) t²`.
    #[serde(default = "default_beta_1")]
    pub beta_1: f64,
    /// For `K = 2`: one input channel `2θ₁ − 1` and one output logit (the reference's
    /// Bernoulli output; default), or `false` for `K` channels and `K` logits as for any `K`.
    #[serde(default = "default_single_logit")]
    pub single_logit: bool,
}

fn default_single_logit() -> bool {
    true
}

/// `β(1) = 3`: Graves et al. (2023) for binarised MNIST (their §7.2; the reference's
/// `configs/mnist_discrete.yaml` sets `max_sqrt_beta: 3`, i.e. `β(1) = 9`; docs/maths.md).
fn default_beta_1() -> f64 {
    3.0
}

impl Default for CategoricalFamily {
    fn default() -> Self {
        CategoricalFamily {
            classes: None,
            beta_1: default_beta_1(),
            single_logit: default_single_logit(),
        }
    }
}

impl CategoricalFamily {
    /// `β(t) = β(1) t²`.
    pub fn beta(&self, t: f64) -> f64 {
        self.beta_1 * t * t
    }

    /// `dβ/dt = 2 β(1) t`.
    pub fn beta_dot(&self, t: f64) -> f64 {
        2.0 * self.beta_1 * t
    }

    /// The accuracy of step `i` of `n`: `α_i = β(i/n) − β((i−1)/n) = β(1)(2i − 1)/n²`.
    pub fn alpha(&self, i: usize, n: usize) -> f64 {
        self.beta_1 * (2 * i - 1) as f64 / (n * n) as f64
    }

    /// `K` for data with `data_classes` classes (`None`: continuous data), checked against
    /// the configured `classes`.
    pub fn resolve_classes(&self, data_classes: Option<usize>, data: &str) -> Result<usize> {
        let Some(k) = data_classes else {
            return Err(GpfnError::Config {
                key: "belief.name".into(),
                message: format!(
                    "belief family `categorical` needs categorical data; data set `{data}` is continuous"
                ),
            });
        };
        check_class_count(k)?;
        match self.classes {
            Some(c) if c != k => Err(GpfnError::Config {
                key: "belief.classes".into(),
                message: format!("belief.classes = {c}, but data set `{data}` has {k} classes"),
            }),
            _ => Ok(k),
        }
    }

    /// Checks the settings: `β(1) > 0` and finite, `K ≥ 2` where given.
    pub fn validate(&self) -> Result<()> {
        if !(self.beta_1 > 0.0 && self.beta_1.is_finite()) {
            return Err(GpfnError::Config {
                key: "belief.beta_1".into(),
                message: format!("β(1) must be positive and finite, got {}", self.beta_1),
            });
        }
        if let Some(k) = self.classes {
            check_class_count(k)?;
        }
        Ok(())
    }

    /// Whether `K` classes are read through one logit (`K = 2` with `single_logit`).
    fn single(&self, classes: usize) -> bool {
        classes == 2 && self.single_logit
    }

    /// Channels per variable of the network's input and output: `(1, 1)` for `K = 2` with
    /// `single_logit` (`2θ₁ − 1` in, the logit of class 1 out), `(K, K)` otherwise.
    pub fn network_channels(&self, classes: usize) -> (usize, usize) {
        if self.single(classes) {
            (1, 1)
        } else {
            (classes, classes)
        }
    }

    /// The network input of beliefs `θ`: `θ` itself (`[batch, K·D]`), or for `K = 2` with
    /// `single_logit` the single channel `2θ₁ − 1` (`[batch, D]`; the reference feeds `2θ₀ − 1`, the same input
    /// with its sign flipped, which the first layer absorbs).
    pub fn network_input(&self, theta: &Categorical) -> Tensor<2> {
        if self.single(theta.classes) {
            let [b, d] = theta.dims();
            theta
                .probs
                .clone()
                .slice([0..b, d..2 * d])
                .mul_scalar(2.0)
                .sub_scalar(1.0)
        } else {
            theta.probs.clone()
        }
    }

    /// The output distribution `p̂` (`[batch, K·D]`) of the network's output: `softmax` of `K`
    /// logits per variable, or for `K = 2` with `single_logit` the Bernoulli `p̂₁ = σ(l)`, `p̂₀ = 1 − p̂₁`.
    pub fn output_probs(&self, out: Tensor<2>, classes: usize) -> Tensor<2> {
        if self.single(classes) {
            let p1 = sigmoid(out);
            Tensor::cat(vec![p1.clone().neg().add_scalar(1.0), p1], 1)
        } else {
            Categorical::from_logits(out, classes).probs
        }
    }
}

#[typetag::serde(name = "categorical")]
impl BeliefFamily for CategoricalFamily {
    fn has_particle(&self) -> bool {
        false
    }

    /// Refused: categorical beliefs are not Gaussian; their chain is
    /// [`crate::divergence::categorical_chain`].
    fn prior(
        &self,
        _batch: usize,
        _dim: usize,
        _device: &Device,
        _rng: &mut Rng,
    ) -> Result<BeliefState> {
        Err(not_gaussian())
    }

    /// Refused, as [`prior`](Self::prior).
    fn network_input(&self, _state: &BeliefState) -> Result<Tensor<2>> {
        Err(not_gaussian())
    }

    fn categorical(&self) -> Option<&CategoricalFamily> {
        Some(self)
    }
}

fn not_gaussian() -> GpfnError {
    GpfnError::Invalid(
        "belief family `categorical` has no Gaussian belief: it is sampled by the categorical chain (samplers `stochastic`, `deterministic`)".into(),
    )
}
