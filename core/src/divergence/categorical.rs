//! Divergences on categorical beliefs, and the chain that samples them.
//!
//! A divergence that also acts on the simplex ([`Divergence::categorical`]) supplies its
//! proximal step on [`Categorical`] beliefs and its flow distribution (the law of `θ` at time
//! `t` given the data); the sampling step — draw an observation from the network's output
//! distribution, send it at accuracy `α_i`, take the proximal step — is shared
//! ([`CategoricalMaths::step`]). With `D = KL` this is discrete BFN (Graves et al. 2023, §6):
//! the proximal step is Bayes' rule `θ' ∝ θ e^{y}` and the flow is
//! `θ = softmax(y)`, `y ~ N(β(t)(K e_x − 1), β(t) K I)`.

use super::{Divergence, Noise, Proximal};
use crate::Result;
use crate::belief::categorical::{Categorical, CategoricalFamily, draw_classes, mode, one_hot};
use crate::rng::Rng;
use crate::{GpfnError, host};
use burn::tensor::{Device, Tensor};

/// The maths of a divergence on categorical beliefs.
pub trait CategoricalMaths: Proximal<Categorical> {
    /// A sample of the flow distribution `p_F(θ | x; t)`: the beliefs at times `t` (one per
    /// row) of a chain that observed the data `e_x` (one-hot, as a [`Categorical`]) through
    /// the sender, from the uniform prior.
    fn flow(
        &self,
        family: &CategoricalFamily,
        e_x: &Categorical,
        t: &[f64],
        rng: &mut Rng,
    ) -> Result<Categorical>;

    /// One sampling step from `prev` given the network's output distribution `probs`
    /// (`[batch, K·D]`) at accuracy `alpha`: the proximal step with observation
    ///
    /// * stochastic (BFN's sampler; also `ancestral`): `ỹ = K e_k − 1 + √(K/α) ξ` with the
    ///   class `k ~ p̂` drawn per variable — the sender sample `y = α ỹ` of a drawn class;
    /// * deterministic: `ỹ = K p̂ − 1`, the sender's mean under `p̂` with no noise.
    fn step(
        &self,
        prev: Categorical,
        probs: &Tensor<2>,
        alpha: f64,
        noise: Noise,
        rng: &mut Rng,
    ) -> Result<Categorical> {
        let k = prev.classes as f64;
        let observation = match noise {
            Noise::Deterministic => probs.clone().mul_scalar(k).sub_scalar(1.0),
            Noise::Stochastic { .. } | Noise::Ancestral { .. } => {
                let [b, w] = probs.dims();
                let e = draw_classes(probs, prev.classes, rng);
                e.mul_scalar(k).sub_scalar(1.0)
                    + rng
                        .normal_tensor(b, w, &probs.device())
                        .mul_scalar((k / alpha).sqrt())
            }
        };
        self.prox(&prev, &observation, alpha)
    }

    /// The kernel that carries a belief back along this divergence's flow
    /// ([`CategoricalRenoise`]), for RePaint's resampling ([`categorical_repaint_chain`]);
    /// `None` (the default) when the flow has none.
    fn renoise_kernel(&self) -> Option<&dyn CategoricalRenoise> {
        None
    }
}

/// A draw of the belief at an earlier time `t' ≤ t` given the belief at `t`, with the law the
/// divergence's flow gives `θ_{t'}` given `θ_t` whatever the data: the categorical analogue of
/// the straight path's [`renoise`](crate::sampling::renoise), which RePaint's resampling uses
/// to redo a step.
pub trait CategoricalRenoise {
    /// `θ_{t_to}` given `theta` at `t_from`, for `times = (t_from, t_to)`, `t_to ≤ t_from`.
    fn renoise(
        &self,
        family: &CategoricalFamily,
        theta: &Categorical,
        times: (f64, f64),
        rng: &mut Rng,
    ) -> Result<Categorical>;
}

/// What the categorical chain needs.
pub struct CategoricalProblem<'a> {
    /// The divergence whose proximal steps are taken.
    pub divergence: &'a dyn Divergence,
    /// The family: `K`'s accuracy schedule and the network's input and output.
    pub family: &'a CategoricalFamily,
    /// `K`.
    pub classes: usize,
    /// The network: raw output (logits) for the input [`CategoricalFamily::network_input`] at
    /// time `t`.
    pub predictor: &'a (dyn Fn(Tensor<2>, f64) -> Tensor<2> + 'a),
    /// Number of samples.
    pub batch: usize,
    /// Number of variables `D`.
    pub dim: usize,
    /// Device.
    pub device: Device,
    /// Variables whose class is known (masked completion), or `None`.
    pub known: Option<&'a KnownClasses>,
}

/// Variables whose class is given (masked completion): the chain's output distribution for
/// them is the data's one-hot `e_x`, so each proximal step observes them through the sender
/// of their true class and their beliefs follow the flow distribution of the data at each
/// accuracy, as the belief of a known coordinate does in training; the final mode is `x`.
pub struct KnownClasses {
    /// `[batch, K·D]`, class-major: `1 − m`, 0 in every class block of a known variable.
    keep: Tensor<2>,
    /// `[batch, K·D]`: `e_x m`, the one-hot of the known variables (0 elsewhere).
    one_hot: Tensor<2>,
}

impl KnownClasses {
    /// The known variables of class indices `x: [batch, D]` where `mask: [batch, D]` is 1
    /// (the other entries of `x` must still be classes `0..K`; their value is unused).
    pub fn new(x: &Tensor<2>, mask: Tensor<2>, classes: usize) -> Self {
        let mask = Tensor::cat(vec![mask; classes], 1);
        KnownClasses {
            one_hot: one_hot(x, classes) * mask.clone(),
            keep: mask.neg().add_scalar(1.0),
        }
    }
}

/// The categorical maths of `divergence`, or an error naming it.
pub fn categorical_maths(divergence: &dyn Divergence) -> Result<&dyn CategoricalMaths> {
    divergence.categorical().ok_or_else(|| GpfnError::Config {
        key: "belief.name".into(),
        message: format!(
            "divergence `{}` has no proximal step on categorical beliefs",
            divergence.name()
        ),
    })
}

impl CategoricalProblem<'_> {
    /// `p̂ = p_O(· | θ, t)`: the network's output distribution for beliefs `theta`, with the
    /// known variables' (if any) replaced by their data, `p̂ (1 − m) + e_x m`.
    pub fn output(&self, theta: &Categorical, t: f64) -> Tensor<2> {
        let out = (self.predictor)(self.family.network_input(theta), t);
        let probs = self.family.output_probs(out, self.classes);
        match self.known {
            Some(k) => probs * k.keep.clone() + k.one_hot.clone(),
            None => probs,
        }
    }
}

/// What the categorical chain ends with.
pub struct CategoricalEnd {
    /// The sample: the mode of the output distribution at `t = 1`, class indices `[batch, D]`.
    pub sample: Tensor<2>,
    /// The output distribution at `t = 1`.
    pub probs: Tensor<2>,
    /// Network evaluations made (`n + 1`: one per step, one at `t = 1`).
    pub evaluations: usize,
}

/// The reference's sampler (`model.py: BFN.sample`) for `n` steps, with the observation
/// chosen by `noise` ([`CategoricalMaths::step`]): from the uniform prior, for
/// `i = 1..n`, `p̂ = p_O(· | θ, t_{i−1})`, `θ ← step(θ, p̂, α_i)`; the sample is the mode of
/// `p_O(· | θ_n, 1)`. A divergence whose flow is simulated on a grid
/// ([`DivergenceMaths::flow_grid`](super::DivergenceMaths::flow_grid)) is sampled on that grid
/// only: another `n` is an error naming `sampler.steps`.
pub fn categorical_chain(
    problem: &CategoricalProblem<'_>,
    n: usize,
    noise: Noise,
    rng: &mut Rng,
) -> Result<CategoricalEnd> {
    categorical_repaint_chain(problem, n, noise, 1, rng)
}

/// [`categorical_chain`] with RePaint's resampling (Lugmayr et al. 2022) on the simplex: step
/// `i` is taken `jumps` times; between takes its belief is carried back from `t_i` to
/// `t_{i−1}` by the divergence's [`CategoricalRenoise`] kernel and the step is redone, so
/// the unknown variables of a masked completion ([`KnownClasses`]) see each accuracy `jumps`
/// times beside the known ones. `jumps = 1` is [`categorical_chain`]; the network is called
/// `jumps · n + 1` times. A divergence without the kernel is an error naming `--resample`,
/// before any network call.
pub fn categorical_repaint_chain(
    problem: &CategoricalProblem<'_>,
    n: usize,
    noise: Noise,
    jumps: usize,
    rng: &mut Rng,
) -> Result<CategoricalEnd> {
    if n == 0 {
        return Err(GpfnError::Config {
            key: "sampler.steps".into(),
            message: "the categorical chain needs at least one step".into(),
        });
    }
    super::check_jumps(jumps)?;
    let maths = categorical_maths(problem.divergence)?;
    if let Some(grid) = problem.divergence.maths().flow_grid()
        && grid != n
    {
        return Err(GpfnError::Config {
            key: "sampler.steps".into(),
            message: format!(
                "divergence `{}` simulates its flow on a {grid}-step grid and was trained there; \
                 sample it with {grid} steps, not {n}",
                problem.divergence.name()
            ),
        });
    }
    let kernel = match (jumps, maths.renoise_kernel()) {
        (1, _) => None,
        (_, Some(kernel)) => Some(kernel),
        (_, None) => {
            return Err(GpfnError::Config {
                key: "--resample".into(),
                message: format!(
                    "divergence `{}` has no kernel that carries a categorical belief back along \
                     its flow (`kl` has one); leave --resample at 1",
                    problem.divergence.name()
                ),
            });
        }
    };
    let mut theta =
        Categorical::uniform(problem.batch, problem.dim, problem.classes, &problem.device);
    for i in 1..=n {
        let (t_prev, t) = ((i - 1) as f64 / n as f64, i as f64 / n as f64);
        for take in 0..jumps {
            let probs = problem.output(&theta, t_prev);
            theta = maths.step(theta, &probs, problem.family.alpha(i, n), noise, rng)?;
            if let Some(kernel) = kernel.filter(|_| take + 1 < jumps) {
                theta = kernel.renoise(problem.family, &theta, (t, t_prev), rng)?;
            }
        }
    }
    let probs = problem.output(&theta, 1.0);
    let finite = host::host_f64(probs.clone().sum())
        .iter()
        .all(|v| v.is_finite());
    if !finite {
        return Err(GpfnError::Invalid(format!(
            "divergence `{}`: the categorical chain produced non-finite beliefs",
            problem.divergence.name()
        )));
    }
    Ok(CategoricalEnd {
        sample: mode(&probs, problem.classes),
        probs,
        evaluations: n * jumps + 1,
    })
}
