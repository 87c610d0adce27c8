//! Belief families: what the model believes about the data, and what the network sees of it.
//!
//! A belief over `x ∈ R^d` is kept for a whole batch. Every family of the sampling chain
//! carries the diagonal-Gaussian summary `N(mean, std²)` the proximal step acts on; the
//! `particle` family also carries one sample `z ~ p` per row that the step transports.
//!
//! What the proximal step needs of a belief is the [`Belief`] trait: the expected loss
//! `E_p[½‖x − y‖²]` and coordinates to perturb it in. The proximal maths
//! ([`crate::divergence::Proximal`]), the proximal objective and the optimality contract of
//! the conformance kit are generic over it, so another family — the categorical belief per
//! coordinate of [`categorical`], updated by Bayes' rule as in discrete BFN — brings its own
//! type and step without touching the Gaussian ones.

pub mod categorical;
mod diag_gaussian;
mod particle;

pub use categorical::{Categorical, CategoricalFamily};
pub use diag_gaussian::DiagGaussianFamily;
pub use particle::ParticleFamily;

use crate::registry::PluginKind;
use crate::rng::Rng;
use crate::{GpfnError, Result};
use burn::tensor::{Device, Tensor};
use std::fmt::Debug;

/// A batch of diagonal Gaussians `N(mean, std²)`, both `[batch, dim]`.
#[derive(Clone, Debug)]
pub struct DiagGaussian {
    /// Means, `[batch, dim]`.
    pub mean: Tensor<2>,
    /// Standard deviations (> 0), `[batch, dim]`.
    pub std: Tensor<2>,
}

impl DiagGaussian {
    /// The standard normal prior `N(0, I)` for `batch` rows of dimension `dim`.
    pub fn standard(batch: usize, dim: usize, device: &Device) -> Self {
        DiagGaussian {
            mean: Tensor::zeros([batch, dim], device),
            std: Tensor::ones([batch, dim], device),
        }
    }

    /// Builds a belief from host vectors (one row).
    pub fn from_vecs(mean: &[f32], std: &[f32], device: &Device) -> Self {
        let d = mean.len();
        DiagGaussian {
            mean: Tensor::<1>::from_floats(mean, device).reshape([1, d]),
            std: Tensor::<1>::from_floats(std, device).reshape([1, d]),
        }
    }

    /// Precision `ρ = 1/std²`.
    pub fn precision(&self) -> Tensor<2> {
        self.std.clone().square().recip()
    }

    /// `E_{x~p}[½‖x − y‖²]` per row: `½ Σ_k ((m_k − y_k)² + s_k²)`.
    pub fn expected_half_sq_dist(&self, y: &Tensor<2>) -> Tensor<1> {
        let m = (self.mean.clone() - y.clone()).square() + self.std.clone().square();
        m.sum_dim(1).squeeze_dim(1).mul_scalar(0.5)
    }

    /// Batch size and dimension.
    pub fn dims(&self) -> [usize; 2] {
        self.mean.dims()
    }
}

/// A batch of beliefs of one family, as the proximal step sees it.
pub trait Belief: Clone + Debug + Send + Sync {
    /// `E_{x~p}[½‖x − y‖²]` per row, `[batch]`: the expected loss term of the proximal
    /// objective, for observations `y` in the space the family's `x` lives in.
    fn expected_half_sq_dist(&self, y: &Tensor<2>) -> Tensor<1>;

    /// Names of the free parameters, in the coordinates [`perturbed`](Self::perturbed) moves
    /// (`["mean", "log std"]` for a diagonal Gaussian).
    fn parameters(&self) -> &'static [&'static str];

    /// `[batch, width]` of parameter `which`.
    fn parameter_dims(&self, which: usize) -> [usize; 2];

    /// The belief with parameter `which` moved by `delta` (`[batch, width]`).
    fn perturbed(&self, which: usize, delta: &Tensor<2>) -> Self;
}

impl Belief for DiagGaussian {
    fn expected_half_sq_dist(&self, y: &Tensor<2>) -> Tensor<1> {
        DiagGaussian::expected_half_sq_dist(self, y)
    }

    fn parameters(&self) -> &'static [&'static str] {
        &["mean", "log std"]
    }

    fn parameter_dims(&self, _which: usize) -> [usize; 2] {
        self.dims()
    }

    /// `mean + δ`, or `std · e^δ` (a move of `δ` in `ln s`).
    fn perturbed(&self, which: usize, delta: &Tensor<2>) -> Self {
        match which {
            0 => DiagGaussian {
                mean: self.mean.clone() + delta.clone(),
                std: self.std.clone(),
            },
            _ => DiagGaussian {
                mean: self.mean.clone(),
                std: self.std.clone() * delta.clone().exp(),
            },
        }
    }
}

/// The belief of a batch while sampling.
#[derive(Clone, Debug)]
pub struct BeliefState {
    /// The Gaussian summary the proximal step acts on.
    pub gaussian: DiagGaussian,
    /// One sample per row of the belief, for families that move particles.
    pub particle: Option<Tensor<2>>,
}

/// A belief family (`[belief] name = "…"`): its prior and what the network sees. A family is
/// a plugin like any other: `register_plugin!(Belief, "name", "…")` beside
/// `#[typetag::serde(name = "name")] impl BeliefFamily for …`, in any crate; its name is the
/// registered one ([`name`](dyn BeliefFamily::name)).
///
/// The Gaussian chain's families (`diag-gaussian`, `particle`) give a prior and a network
/// input; a family whose beliefs are not Gaussian refuses both (with an error naming it) and
/// says what it is instead ([`categorical`](Self::categorical)).
#[typetag::serde(tag = "name")]
pub trait BeliefFamily: Debug + Send + Sync + dyn_clone::DynClone {
    /// Whether the family carries a particle per row.
    fn has_particle(&self) -> bool;

    /// The prior belief `p_0 = N(0, I)` (with `z_0 ~ p_0` for particle families).
    fn prior(
        &self,
        batch: usize,
        dim: usize,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<BeliefState>;

    /// The network input of a belief: its mean, or its particle.
    fn network_input(&self, state: &BeliefState) -> Result<Tensor<2>>;

    /// The categorical family's settings, where the beliefs are categorical (on the simplex)
    /// rather than Gaussian.
    fn categorical(&self) -> Option<&CategoricalFamily> {
        None
    }
}

impl dyn BeliefFamily + '_ {
    /// The registered name (`[belief] name`).
    pub fn name(&self) -> &'static str {
        self.typetag_name()
    }
}

/// The family registered as `name`, with default settings; an unknown name is an error that
/// lists the registered families (`key` names the option that asked for it).
pub fn family_by_name(name: &str, key: &str) -> Result<Box<dyn BeliefFamily>> {
    if crate::registry::find(PluginKind::Belief, name).is_none() {
        return Err(GpfnError::UnknownPlugin {
            key: key.into(),
            kind: PluginKind::Belief.as_str().into(),
            name: name.into(),
            registered: crate::registry::names(PluginKind::Belief).join(", "),
        });
    }
    serde_json::from_value(serde_json::json!({ "name": name })).map_err(|e| GpfnError::Config {
        key: key.into(),
        message: format!("belief family `{name}` with default settings: {e}"),
    })
}

dyn_clone::clone_trait_object!(BeliefFamily);
