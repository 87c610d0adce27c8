//! `heun`: the second-order sampler of the straight-path ODE.
//!
//! On particle beliefs whose flow is the straight path `z = κ x + (1 − κ) ε`, the
//! deterministic proximal step is explicit Euler, in the signal level `κ`, for the
//! probability-flow ODE
//!
//! ```text
//! dz/dκ = u(z, κ) = (x̂(z, t(κ)) − z)/(1 − κ)        (uniform schedule: dz/dt = (x̂ − z)/(1 − t))
//! ```
//!
//! Heun's method takes that step as its predictor and corrects it with the trapezoidal rule:
//! for `Δκ = κ_i − κ_{i−1}`,
//!
//! ```text
//! z̃ = z + Δκ u(z, κ_{i−1})          (= the JKO step (1 − w_i) z + w_i x̂)
//! z_i = z + ½ Δκ [u(z, κ_{i−1}) + u(z̃, κ_i)]
//! ```
//!
//! `u` is singular at `κ = 1`, so the last step is the Euler (JKO) step alone, as in EDM
//! (Karras et al. 2022); the sample is that step's prediction `x̂_n`, like every sampler's.
//! An `n`-step chain therefore costs `2(n − 1) + 1 = 2n − 1` network evaluations; with `n = 1`
//! it is the one-step Euler sampler. Its global error is `O(h²)`
//! (`tests/rectified_flow.rs`, Gaussian to Gaussian).

use gpfn_core::Result;
use gpfn_core::belief::BeliefState;
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::rng::Rng;
use gpfn_core::sampler::Sampler;
use gpfn_core::sampling::{SamplingProblem, check_steps, check_straight_path};
use gpfn_core::schedule::time_grid;
use serde::{Deserialize, Serialize};

gpfn_core::register_plugin!(
    Sampler,
    "heun",
    "Heun's second-order ODE sampler for straight-path particle flows; 2·steps − 1 evaluations"
);

/// Heun's sampler (`[sampler] name = "heun"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeunSampler {
    /// Number of steps `n` (network evaluations: `2n − 1`).
    #[serde(
        default = "default_steps",
        deserialize_with = "gpfn_core::check::at_least_one"
    )]
    pub steps: usize,
}

fn default_steps() -> usize {
    10
}

impl Default for HeunSampler {
    fn default() -> Self {
        HeunSampler {
            steps: default_steps(),
        }
    }
}

/// What a Heun chain ends with.
pub struct HeunEnd {
    /// The last prediction `x̂` (the sample).
    pub prediction: Tensor<2>,
    /// Network evaluations made.
    pub nfe: usize,
}

/// Runs `n` Heun steps from the particle of `start`.
pub fn heun_chain(problem: &SamplingProblem<'_>, start: BeliefState, n: usize) -> Result<HeunEnd> {
    check_steps(problem, n)?;
    check_straight_path(problem.divergence, problem.family, "heun")?;
    let mut z = problem.family.network_input(&start)?;
    let mut prediction = None;
    let mut nfe = 0;
    let grid = time_grid(problem.schedule, n);
    for step in &grid {
        let x1 = (problem.predictor)(z.clone(), step.t_prev);
        nfe += 1;
        // Predictor: z̃ = z + Δκ u₁ = (1 − w) z + w x̂₁, the JKO step.
        let w = step.weight;
        let euler = z.clone().mul_scalar(1.0 - w) + x1.clone().mul_scalar(w);
        if step.index == n || step.kappa >= 1.0 {
            z = euler;
        } else {
            let x2 = (problem.predictor)(euler.clone(), step.t);
            nfe += 1;
            // Corrector: z + ½ Δκ (u₁ + u₂), with Δκ u₁ = w (x̂₁ − z) and
            // Δκ u₂ = w' (x̂₂ − z̃), w' = Δκ/(1 − κ_i).
            let w2 = (step.kappa - step.kappa_prev) / (1.0 - step.kappa);
            z = z.clone()
                + (x1.clone() - z).mul_scalar(0.5 * w)
                + (x2 - euler).mul_scalar(0.5 * w2);
        }
        prediction = Some(x1);
    }
    Ok(HeunEnd {
        prediction: prediction.unwrap_or(z),
        nfe,
    })
}

#[typetag::serde(name = "heun")]
impl Sampler for HeunSampler {
    fn steps(&self) -> usize {
        self.steps
    }

    /// `2n − 1`: a predictor and a corrector evaluation per step, except the last step, which
    /// ends at `t = 1` where the corrector is not evaluated.
    fn evaluations(&self) -> usize {
        (2 * self.steps).saturating_sub(1)
    }

    fn with_steps(&self, n: usize) -> Box<dyn Sampler> {
        Box::new(HeunSampler { steps: n })
    }

    fn sample_from(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        _rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        Ok(heun_chain(problem, start, self.steps)?.prediction)
    }
}
