//! Samplers: how the observation of each proximal step is chosen, and how many steps run.

mod ancestral;
mod deterministic;
mod dopri5;
mod sde;
mod stochastic;

pub use ancestral::AncestralSampler;
pub use deterministic::DeterministicSampler;
pub use dopri5::{Dopri5Sampler, OdeSample};
pub use sde::{SdeEnd, SdeSampler};
pub use stochastic::StochasticSampler;

use crate::Result;
use crate::belief::BeliefState;
use crate::divergence::Noise;
use crate::rng::Rng;
use crate::sampling::SamplingProblem;
use burn::tensor::Tensor;
use std::fmt::Debug;

/// A sampler (`[sampler] name = "…"`).
#[typetag::serde(tag = "name")]
pub trait Sampler: Debug + Send + Sync + dyn_clone::DynClone {
    /// Number of proximal steps (0 for an adaptive sampler, whose tolerance sets them).
    fn steps(&self) -> usize;

    /// Network evaluations per sample (NFE) the sampler plans: one per step unless a sampler
    /// says otherwise (Heun's: `2·steps − 1`); an adaptive sampler's estimate. Reports and
    /// sweeps give the evaluations actually made (`gpfn_run::generate::Drawn::nfe`).
    fn evaluations(&self) -> usize {
        self.steps()
    }

    /// The same sampler with `n` steps (an adaptive sampler returns itself).
    fn with_steps(&self, n: usize) -> Box<dyn Sampler>;

    /// `Some(rtol)` for an adaptive sampler, whose error control picks its steps.
    fn tolerance(&self) -> Option<f64> {
        None
    }

    /// An adaptive sampler with both tolerances set to `tolerance` (`None` for a fixed-step
    /// sampler).
    fn with_tolerance(&self, tolerance: f64) -> Option<Box<dyn Sampler>> {
        let _ = tolerance;
        None
    }

    /// How the sampler picks each step's observation when it runs a proximal chain step by
    /// step — what the categorical chain ([`crate::divergence::categorical_chain`]) asks of
    /// it; `None` for a sampler that integrates an ODE or SDE of particles instead.
    fn chain_noise(&self) -> Result<Option<Noise>> {
        Ok(None)
    }

    /// Draws `problem.batch` samples, starting from the family's prior (drawn from `rng`).
    fn sample(&self, problem: &SamplingProblem<'_>, rng: &mut Rng) -> Result<Tensor<2>> {
        let start = problem
            .family
            .prior(problem.batch, problem.dim, &problem.device, rng)?;
        self.sample_from(problem, start, rng)
    }

    /// Draws one sample per row of `start`, a prior belief given by the caller (reflow records
    /// the prior noise it pairs with each sample).
    fn sample_from(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        rng: &mut Rng,
    ) -> Result<Tensor<2>>;
}

/// The registered sampler `name` with `steps` steps (an adaptive sampler takes none) and its
/// other parameters at their defaults; `key` names the option that asked for it in errors.
pub fn by_name(name: &str, steps: usize, key: &str) -> Result<Box<dyn Sampler>> {
    let probe = build(name, serde_json::json!({}), key)?;
    if probe.tolerance().is_some() {
        // An adaptive sampler takes no step count.
        return Ok(probe);
    }
    build(name, serde_json::json!({ "steps": steps }), key)
}

/// The registered sampler `name` with the fields of `fields` (a JSON object; the rest at their
/// defaults); `key` names the option that asked for it in errors.
pub fn build(name: &str, fields: serde_json::Value, key: &str) -> Result<Box<dyn Sampler>> {
    use crate::registry::{PluginKind, find, names};
    if find(PluginKind::Sampler, name).is_none() {
        return Err(crate::GpfnError::UnknownPlugin {
            key: key.into(),
            kind: "sampler".into(),
            name: name.into(),
            registered: names(PluginKind::Sampler).join(", "),
        });
    }
    let mut object = match fields {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    object.insert("name".into(), name.into());
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
        crate::GpfnError::Config {
            key: key.into(),
            message: e.to_string(),
        }
    })
}

/// A short label of the sampler's setting for file names: `<name>-<steps>`, or
/// `<name>-tol<rtol>` for an adaptive sampler.
pub fn tag_of(sampler: &dyn Sampler) -> String {
    match sampler.tolerance() {
        Some(tol) => format!("{}-tol{tol:e}", name_of(sampler)),
        None => format!("{}-{}", name_of(sampler), sampler.steps()),
    }
}

/// The registered name of `sampler` (its `name` tag).
pub fn name_of(sampler: &dyn Sampler) -> String {
    serde_json::to_value(sampler)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or_else(|| "sampler".into())
}

pub(crate) fn default_steps() -> usize {
    20
}

dyn_clone::clone_trait_object!(Sampler);

/// `η` of the stochastic samplers, checked to lie in `[0, 1]` (`sampler.eta`).
fn checked_eta(eta: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&eta) {
        Ok(eta)
    } else {
        Err(crate::GpfnError::Config {
            key: "sampler.eta".into(),
            message: format!("η must lie in [0, 1], got {eta}"),
        })
    }
}

/// The proximal chain of `steps` steps with `noise` from `start`: what the deterministic,
/// stochastic and ancestral samplers run.
fn run_chain(
    problem: &SamplingProblem<'_>,
    start: BeliefState,
    steps: usize,
    noise: crate::divergence::Noise,
    rng: &mut Rng,
) -> Result<Tensor<2>> {
    let end = crate::sampling::proximal_chain_from(problem, start, steps, noise, rng, None)?;
    Ok(end.prediction)
}
