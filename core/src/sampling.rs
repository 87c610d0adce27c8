//! The proximal chain that every sampler runs.
//!
//! Starting from the prior `p_0 = N(0, I)`, for `i = 1..n`: the network predicts
//! `x̂_i = F(input(p_{i−1}), t_{i−1})`, and the divergence's proximal step moves the belief to
//! `p_i` with the observation the sampler picks. The sample is the last prediction `x̂_n`, so an
//! `n`-step chain costs exactly `n` network evaluations (NFE = n).

use crate::belief::{BeliefFamily, BeliefState};
use crate::divergence::{Divergence, Noise};
use crate::rng::Rng;
use crate::schedule::{Schedule, time_grid};
use crate::{GpfnError, Result};
use burn::tensor::{Device, Tensor};

/// A predictor `x̂ = F(z, t)`: network input `[batch, dim]` at time `t` (shared by the batch).
pub type Predictor<'a> = dyn Fn(Tensor<2>, f64) -> Tensor<2> + 'a;

/// Everything a sampler needs.
pub struct SamplingProblem<'a> {
    /// The divergence whose proximal steps are taken.
    pub divergence: &'a dyn Divergence,
    /// The belief family.
    pub family: &'a dyn BeliefFamily,
    /// The accuracy/time schedule.
    pub schedule: &'a dyn Schedule,
    /// The network.
    pub predictor: &'a Predictor<'a>,
    /// Number of samples.
    pub batch: usize,
    /// Data dimension.
    pub dim: usize,
    /// Device the tensors live on.
    pub device: Device,
}

/// What a chain ends with.
pub struct ChainEnd {
    /// The last prediction `x̂` (the sample).
    pub prediction: Tensor<2>,
    /// The belief after the last step taken.
    pub state: BeliefState,
}

/// Runs `n` proximal steps (or only the first `stop_after`), from the prior.
pub fn proximal_chain(
    problem: &SamplingProblem<'_>,
    n: usize,
    noise: Noise,
    rng: &mut Rng,
    stop_after: Option<usize>,
) -> Result<ChainEnd> {
    let start = problem
        .family
        .prior(problem.batch, problem.dim, &problem.device, rng)?;
    proximal_chain_from(problem, start, n, noise, rng, stop_after)
}

/// Runs `n` proximal steps (or only the first `stop_after`) from the belief `start` (a prior
/// drawn by the caller, e.g. recorded noise that reflow pairs with the sample).
pub fn proximal_chain_from(
    problem: &SamplingProblem<'_>,
    start: BeliefState,
    n: usize,
    noise: Noise,
    rng: &mut Rng,
    stop_after: Option<usize>,
) -> Result<ChainEnd> {
    check_steps(problem, n)?;
    let grid = time_grid(problem.schedule, n);
    let mut state = start;
    let mut prediction = None;
    for step in grid.iter().take(stop_after.unwrap_or(n)) {
        let input = problem.family.network_input(&state)?;
        let x_hat = (problem.predictor)(input, step.t_prev);
        state = problem
            .divergence
            .maths()
            .step(problem.family, state, &x_hat, step, noise, rng)?;
        prediction = Some(x_hat);
    }
    let prediction = match prediction {
        Some(p) => p,
        None => problem.family.network_input(&state)?,
    };
    Ok(ChainEnd { prediction, state })
}

/// Checks that an `n`-step chain can sample `problem`: at least one step, and, for a
/// divergence whose flow is simulated on a grid ([`DivergenceMaths::flow_grid`]), exactly the
/// grid's steps (its network was trained on those inputs only).
///
/// [`DivergenceMaths::flow_grid`]: crate::divergence::DivergenceMaths::flow_grid
pub fn check_steps(problem: &SamplingProblem<'_>, n: usize) -> Result<()> {
    if n == 0 {
        return Err(GpfnError::Config {
            key: "sampler.steps".into(),
            message: "a chain needs at least one step".into(),
        });
    }
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
    Ok(())
}

/// Checks that `div` on `family` is a particle flow on the straight path
/// `z = κ x + (1 − κ) ε`, whose probability-flow ODE `dz/dκ = (x̂ − z)/(1 − κ)` the ODE
/// samplers (`heun`, `dopri5`) and the exact likelihood integrate; `what` names the one
/// asking, in errors.
pub fn check_straight_path(
    div: &dyn Divergence,
    family: &dyn BeliefFamily,
    what: &str,
) -> Result<()> {
    if !family.has_particle() {
        return Err(GpfnError::Config {
            key: "sampler.name".into(),
            message: format!(
                "{what} integrates the particle ODE; belief family `{}` has no particle",
                family.name()
            ),
        });
    }
    for kappa in [0.25, 0.5, 0.75] {
        let straight = div
            .maths()
            .flow_coefficients(kappa)
            .is_some_and(|(a, b)| (a - kappa).abs() < 1e-12 && (b - (1.0 - kappa)).abs() < 1e-12);
        if !straight {
            return Err(GpfnError::Config {
                key: "sampler.name".into(),
                message: format!(
                    "{what} integrates dz/dκ = (x̂ − z)/(1 − κ), the ODE of the straight path \
                     z = κ x + (1 − κ) ε; divergence `{}` has another flow",
                    div.name()
                ),
            });
        }
    }
    Ok(())
}
