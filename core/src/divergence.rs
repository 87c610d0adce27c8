//! The divergence trait: what a plugin supplies, and the generic pieces it may reuse.
//!
//! One GPFN step, for belief `p_{i−1}`, accuracy `α_i > 0` and observation `y_i`:
//!
//! ```text
//! p_i = argmin_p  α_i · E_{x~p}[ ½‖x − y_i‖² ]  +  D(p, p_{i−1})
//! ```
//!
//! A divergence plugin supplies its belief families, the proximal step, the *flow
//! distribution* (the law of the network input at time `t` given `x`) used for training, the
//! loss weighting and the default schedule.

use crate::belief::{BeliefFamily, BeliefState, DiagGaussian};
use crate::rng::Rng;
use crate::schedule::Schedule;
use burn::tensor::{Device, Tensor, TensorData};
use std::fmt::Debug;

pub use crate::schedule::ProxStep;

/// How a sampler picks the observation of each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// `y_i = x̂_i`: the deterministic sampler.
    Deterministic,
    /// The stochastic sampler: BFN's sender sample `y_i ~ N(x̂_i, α_i⁻¹ I)` for Gaussian
    /// beliefs; for particle beliefs, η-resampling `z_i = κ_i x̂ + (1 − κ_i)(√(1−η²) ε̂ + η ξ)`.
    Stochastic {
        /// `η ∈ [0, 1]`; η = 0 is the deterministic transport.
        eta: f64,
    },
}

/// Closed-form derivatives of a separable divergence's per-coordinate value
/// `D₁(N(m, e^{2u}), q)` in the solver's coordinates `(m, u = ln s)`, each `[n, 1]` like the
/// beliefs they were computed at: the gradient `(∂_m D₁, ∂_u D₁)` and the Hessian
/// `(∂²_mm D₁, ∂²_mu D₁, ∂²_uu D₁)`. With them the generic proximal solver
/// ([`crate::proximal_solver`]) needs no autodiff and no finite
/// differences: one evaluation of a few element-wise expressions per Newton iteration, and the
/// exact Hessian (quadratic convergence).
#[derive(Clone, Debug)]
pub struct CoordinateDerivatives {
    /// `∂D₁/∂m`.
    pub dm: Tensor<2>,
    /// `∂D₁/∂u`.
    pub du: Tensor<2>,
    /// `∂²D₁/∂m²`.
    pub dmm: Tensor<2>,
    /// `∂²D₁/∂m∂u`.
    pub dmu: Tensor<2>,
    /// `∂²D₁/∂u²`.
    pub duu: Tensor<2>,
}

/// A divergence (`[divergence] name = "…"`) and everything GPFN needs from it.
#[typetag::serde(tag = "name")]
pub trait Divergence: Debug + Send + Sync + dyn_clone::DynClone {
    /// The registered name.
    fn divergence_name(&self) -> &'static str;

    /// Belief families this divergence supports; the first is its default.
    fn belief_families(&self) -> &'static [&'static str];

    /// The schedule used when the config names none.
    fn default_schedule(&self) -> Box<dyn Schedule>;

    /// `D(p, q)` per row, summed over coordinates: `[batch]`.
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1>;

    /// For a separable `D = Σ_k D₁`: the closed-form gradient and Hessian of `D₁(p_k, q_k)` in
    /// `(m, ln s)` at `p` against `q` (both `[n, 1]`, one coordinate per row), which the generic
    /// proximal solver uses instead of autodiff and finite differences. `None` (the default):
    /// known by value only.
    fn coordinate_derivatives(
        &self,
        _p: &DiagGaussian,
        _q: &DiagGaussian,
    ) -> Option<CoordinateDerivatives> {
        None
    }

    /// The accuracy `α_i` of `step`, for a chain started from the standard normal prior.
    fn accuracy(&self, step: &ProxStep) -> f64;

    /// The proximal step on a Gaussian belief:
    /// `argmin_p α E_p[½‖x − y‖²] + D(p, prev)`.
    fn prox(&self, prev: &DiagGaussian, y: &Tensor<2>, alpha: f64) -> DiagGaussian;

    /// One sampling step: update the belief given the network's prediction `x̂`.
    fn step(
        &self,
        family: &dyn BeliefFamily,
        state: BeliefState,
        x_hat: &Tensor<2>,
        step: &ProxStep,
        noise: Noise,
        rng: &mut Rng,
    ) -> BeliefState;

    /// A sample of the flow distribution: the network input at signal levels `kappa` (one per
    /// row of `x`) given the data `x`.
    fn flow(
        &self,
        family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> Tensor<2>;

    /// A sample of the flow distribution at times `t` (one per row of `x`) under `schedule`:
    /// what the training loss and the conformance kit call. The default reads the closed form
    /// [`flow`](Self::flow) at the signal levels `κ(t)`; a divergence whose flow is simulated
    /// (see [`flow_grid`](Self::flow_grid)) overrides it, and fails for times off its grid.
    fn flow_at(
        &self,
        family: &dyn BeliefFamily,
        schedule: &dyn Schedule,
        x: &Tensor<2>,
        t: &[f64],
        rng: &mut Rng,
    ) -> crate::Result<Tensor<2>> {
        let kappa: Vec<f64> = t.iter().map(|&t| schedule.kappa(t)).collect();
        Ok(self.flow(family, x, &kappa, rng))
    }

    /// `Some(n)` when the flow distribution has no closed form and is simulated on the `n`-step
    /// grid (`crate::simulated_flow`): such a divergence trains on the grid times its
    /// `sample_time` draws, is sampled with `n` steps, and its step need not move the mean by
    /// the linear contraction `(1 − w_i) m + w_i y`. `None` (the default): the flow is a closed
    /// form in `κ(t)` and the mean contracts with the schedule's weight.
    fn flow_grid(&self) -> Option<usize> {
        None
    }

    /// Weight of `‖x − x̂‖²` in the training loss at time `t`.
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64;

    /// `(a, b)` when the flow distribution is `input = a x + b ε`, `ε ~ N(0, I)` (used to turn a
    /// noise prediction into `x̂`); `None` when it has no such closed form.
    fn flow_coefficients(&self, kappa: f64) -> Option<(f64, f64)> {
        let _ = kappa;
        None
    }

    /// The flow distribution's sample for *given* prior noise `ε` (`[batch, dim]`, one row per
    /// row of `x`): reflow trains on pairs `(ε, x)` coupled by a sampler instead of drawing
    /// fresh noise. The default uses [`Divergence::flow_coefficients`]:
    /// `input = a(κ) x + b(κ) ε`; a divergence without that closed form cannot train on pairs.
    fn paired_flow(
        &self,
        family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        noise: &Tensor<2>,
    ) -> crate::Result<Tensor<2>> {
        let _ = family;
        if noise.dims() != x.dims() {
            return Err(crate::GpfnError::Shape(format!(
                "paired noise has shape {:?}, the data {:?}",
                noise.dims(),
                x.dims()
            )));
        }
        let mut a = Vec::with_capacity(kappa.len());
        let mut b = Vec::with_capacity(kappa.len());
        for &k in kappa {
            let (ak, bk) = self
                .flow_coefficients(k)
                .ok_or_else(|| crate::GpfnError::Config {
                    key: "data".into(),
                    message: format!(
                        "divergence `{}` has no closed-form flow `a x + b ε`, so it cannot \
                         train on paired noise",
                        self.divergence_name()
                    ),
                })?;
            a.push(ak);
            b.push(bk);
        }
        let device = x.device();
        Ok(x.clone() * column(&a, &device) + noise.clone() * column(&b, &device))
    }

    /// Whether `step` and `flow` pair the rows of a batch with each other (minibatch optimal
    /// transport): row `i`'s particle then follows the batch's coupling rather than `x_i`
    /// alone, so the conformance kit compares the law of the whole batch instead of the law
    /// of each row.
    fn couples_batch(&self) -> bool {
        false
    }

    /// Draws a training time `t` (default: uniform on `[0, 1)`, the continuous-time loss).
    fn sample_time(&self, rng: &mut Rng) -> f64 {
        rng.uniform()
    }
}

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
    div: &dyn Divergence,
    state: BeliefState,
    x_hat: &Tensor<2>,
    step: &ProxStep,
    noise: Noise,
    rng: &mut Rng,
) -> BeliefState {
    let alpha = div.accuracy(step);
    let y = match noise {
        Noise::Deterministic => x_hat.clone(),
        Noise::Stochastic { .. } => sender_sample(x_hat, 1.0 / alpha.sqrt(), rng),
    };
    BeliefState {
        gaussian: div.prox(&state.gaussian, &y, alpha),
        particle: None,
    }
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
/// [`Divergence::prox`] minimises.
pub fn prox_objective(
    div: &dyn Divergence,
    p: &DiagGaussian,
    q: &DiagGaussian,
    y: &Tensor<2>,
    alpha: f64,
) -> Tensor<1> {
    p.expected_half_sq_dist(y).mul_scalar(alpha) + div.value(p, q)
}

/// Checks that `name` is a belief family `div` supports, with an error that lists them.
pub fn check_family(div: &dyn Divergence, family: &str) -> crate::Result<()> {
    if div.belief_families().contains(&family) {
        Ok(())
    } else {
        Err(crate::GpfnError::Config {
            key: "belief.name".into(),
            message: format!(
                "divergence `{}` does not support belief family `{}`; it supports: {}",
                div.divergence_name(),
                family,
                div.belief_families().join(", ")
            ),
        })
    }
}

dyn_clone::clone_trait_object!(Divergence);
