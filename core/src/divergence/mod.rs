//! The divergence: what a plugin supplies.
//!
//! One GPFN step, for belief `p_{i−1}`, accuracy `α_i > 0` and observation `y_i`:
//!
//! ```text
//! p_i = argmin_p  α_i · E_{x~p}[½‖x − y_i‖²]  +  D(p, p_{i−1})
//! ```
//!
//! A plugin (`[divergence] name = "…"`) is two things, each a trait of its own:
//!
//! * the **maths** of `D` ([`DivergenceMaths`], over the generic [`Proximal`]): its value, its
//!   proximal step, the sampling step built on it, and the *flow distribution* (the law of the
//!   network input at time `t` given `x`) that training draws from;
//! * the **training objective** ([`Objective`]): the loss weight `λ(t)` and the distribution
//!   of training times.
//!
//! A plugin that only changes the objective (Rectified Flow's time sampling on W2's maths)
//! returns another plugin's maths and writes its own objective: nothing is forwarded. The
//! reusable pieces of the chain (sender sample and step, Gaussian OT map, η-resampling,
//! straight path, the proximal objective) are in [`pieces`], re-exported here.

mod categorical;
mod pieces;

pub use crate::schedule::ProxStep;
pub use categorical::{
    CategoricalEnd, CategoricalMaths, CategoricalProblem, CategoricalRenoise, KnownClasses,
    categorical_chain, categorical_maths, categorical_repaint_chain,
};
pub use pieces::{
    ancestral_eta, check_family, check_jumps, column, eta_noise, eta_resample, paired_flow,
    particle_flow, prox_objective, sender_sample, sender_step, straight_path, transport,
};

use crate::Result;
use crate::belief::{Belief, BeliefFamily, BeliefState, DiagGaussian};
use crate::rng::Rng;
use crate::schedule::Schedule;
use burn::tensor::Tensor;
use std::fmt::Debug;

/// A divergence (`[divergence] name = "…"`): its maths, and the objective its predictor is
/// trained with. Its name is the one it is registered under (`#[typetag::serde(name = …)]`),
/// read with [`name`](dyn Divergence::name).
#[typetag::serde(tag = "name")]
pub trait Divergence: Debug + Send + Sync + dyn_clone::DynClone {
    /// Value, proximal step, sampling step, flow distribution.
    fn maths(&self) -> &dyn DivergenceMaths;

    /// Loss weight and training-time distribution.
    fn objective(&self) -> &dyn Objective;

    /// The maths on categorical beliefs, for a divergence that also acts on the simplex
    /// (`[belief] name = "categorical"`); list `"categorical"` in
    /// [`DivergenceMaths::belief_families`] too.
    fn categorical(&self) -> Option<&dyn CategoricalMaths> {
        None
    }
}

impl dyn Divergence + '_ {
    /// The registered name (`[divergence] name`).
    pub fn name(&self) -> &'static str {
        self.typetag_name()
    }
}

/// The proximal maths of a divergence on beliefs of type `B`.
pub trait Proximal<B: Belief>: Send + Sync {
    /// `D(p, q)` per row, summed over coordinates: `[batch]` (`+∞` is a value, not an error).
    fn value(&self, p: &B, q: &B) -> Tensor<1>;

    /// The proximal step `argmin_p α E_p[½‖x − y‖²] + D(p, prev)`. Errors name the divergence
    /// and the problem; a step never returns NaN for valid input.
    fn prox(&self, prev: &B, y: &Tensor<2>, alpha: f64) -> Result<B>;
}

/// The maths of a divergence on diagonal-Gaussian beliefs (with or without particles): what
/// sampling, training and the conformance kit use.
pub trait DivergenceMaths: Proximal<DiagGaussian> {
    /// Belief families this divergence supports; the first is its default.
    fn belief_families(&self) -> &'static [&'static str];

    /// The schedule used when the config names none.
    fn default_schedule(&self) -> Box<dyn Schedule>;

    /// The accuracy `α_i` of `step`, for a chain started from the standard normal prior.
    fn accuracy(&self, step: &ProxStep) -> f64;

    /// One sampling step: update the belief given the network's prediction `x̂`.
    fn step(
        &self,
        family: &dyn BeliefFamily,
        state: BeliefState,
        x_hat: &Tensor<2>,
        step: &ProxStep,
        noise: Noise,
        rng: &mut Rng,
    ) -> Result<BeliefState>;

    /// A sample of the flow distribution: the network input at signal levels `kappa` (one per
    /// row of `x`) given the data `x`.
    fn flow(
        &self,
        family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> Result<Tensor<2>>;

    /// The flow distribution at times `t` (one per row of `x`) under `schedule`: what training
    /// and the conformance kit call. Default: [`flow`](Self::flow) at `κ(t)`; a divergence
    /// whose flow is simulated on its grid ([`flow_grid`](Self::flow_grid)) overrides it.
    fn flow_at(
        &self,
        family: &dyn BeliefFamily,
        schedule: &dyn Schedule,
        x: &Tensor<2>,
        t: &[f64],
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        let kappa: Vec<f64> = t.iter().map(|&t| schedule.kappa(t)).collect();
        self.flow(family, x, &kappa, rng)
    }

    /// `Some(n)` when the flow has no closed form and is simulated on the `n`-step grid
    /// (`crate::simulated_flow`): such a divergence trains on grid times, is sampled with `n`
    /// steps, and its step need not contract the mean with the schedule's weight.
    fn flow_grid(&self) -> Option<usize> {
        None
    }

    /// `(a, b)` when the flow is `input = a x + b ε`, `ε ~ N(0, I)` (to read a noise or
    /// velocity prediction as `x̂`, and to train on paired noise).
    fn flow_coefficients(&self, kappa: f64) -> Option<(f64, f64)> {
        let _ = kappa;
        None
    }

    /// Whether `step` and `flow` pair the rows of a batch (minibatch optimal transport); the
    /// conformance kit then compares the law of the whole batch.
    fn couples_batch(&self) -> bool {
        false
    }

    /// Which likelihood the model of this divergence has (`gpfn eval nll`, docs/likelihood.md).
    fn likelihood(&self) -> Likelihood {
        Likelihood::None
    }

    /// For a separable `D = Σ_k D₁`: closed-form derivatives of `D₁` at `p` against `q` (both
    /// `[n, 1]`) for the generic proximal solver. `None`: known by value only.
    fn coordinate_derivatives(
        &self,
        p: &DiagGaussian,
        q: &DiagGaussian,
    ) -> Option<CoordinateDerivatives> {
        let _ = (p, q);
        None
    }
}

/// The training objective: `E_t[λ(t) ‖x − x̂(input_t, t)‖²]` with `t` drawn by
/// [`sample_time`](Self::sample_time).
pub trait Objective: Send + Sync {
    /// The weight `λ(t)` of `‖x − x̂‖²` at time `t`.
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64;

    /// Draws a training time (default: uniform on `[0, 1)`, the continuous-time loss).
    fn sample_time(&self, rng: &mut Rng) -> f64 {
        rng.uniform()
    }
}

/// The likelihood a divergence's generative model admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Likelihood {
    /// Each step is Bayes' rule with BFN's sender `y ~ N(x, α⁻¹ I)` on a Gaussian belief:
    /// the variational bounds of Graves et al. (2023) (the `n`-step and the continuous-time
    /// loss, plus the reconstruction term) bound `−ln p(x)`.
    VariationalBound,
    /// The deterministic sampler moves particles along the straight path's probability-flow
    /// ODE `dz/dκ = (x̂ − z)/(1 − κ)`: the instantaneous change of variables gives
    /// `ln p(x)` exactly.
    ParticleOde,
    /// Neither.
    None,
}

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
    /// The ancestral (DDPM-type) sampler: for particle beliefs on the straight path
    /// `z = κ x + (1 − κ) ε`, DDIM's step `z_i = κ_i x̂ + √((1−κ_i)² − σ_i²) ε̂ + σ_i ξ` with
    /// `σ_i = η` times the standard deviation of the Gaussian posterior `q(z_i | z_{i−1}, x)`
    /// ([`ancestral_eta`] gives it as η-resampling's `η`); for Gaussian beliefs BFN's sender
    /// sample, which is BFN's ancestral sampler.
    Ancestral {
        /// `η ∈ [0, 1]`: 1 samples the posterior, 0 is the deterministic transport.
        eta: f64,
    },
}

impl Noise {
    /// For particle beliefs: the `η` of η-resampling ([`eta_resample`]) this noise asks for at
    /// `step` — `η` itself for the stochastic sampler, [`ancestral_eta`] for the ancestral one —
    /// or `None` for the deterministic transport.
    pub fn particle_eta(self, step: &ProxStep) -> Option<f64> {
        match self {
            Noise::Deterministic => None,
            Noise::Stochastic { eta } => Some(eta),
            Noise::Ancestral { eta } => Some(ancestral_eta(step, eta)),
        }
    }
}

/// Closed-form derivatives of a separable divergence's per-coordinate value
/// `D₁(N(m, e^{2u}), q)` in the solver's coordinates `(m, u = ln s)`, each `[n, 1]` like the
/// beliefs they were computed at: the gradient `(∂_m D₁, ∂_u D₁)` and the Hessian
/// `(∂²_mm D₁, ∂²_mu D₁, ∂²_uu D₁)`. With them the generic proximal solver
/// ([`crate::proximal_solver`]) needs no autodiff and no finite differences: one evaluation of
/// a few element-wise expressions per Newton iteration, and the exact Hessian (quadratic
/// convergence).
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

dyn_clone::clone_trait_object!(Divergence);
