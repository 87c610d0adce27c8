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
    chain_steps(problem, start, (n, stop_after), noise, 1, rng)
}

/// The chain's loop: the first `stop_after` (all, `None`) of the `n` steps, each taken `jumps`
/// times with the particle carried back by [`renoise`] between takes.
fn chain_steps(
    problem: &SamplingProblem<'_>,
    start: BeliefState,
    (n, stop_after): (usize, Option<usize>),
    noise: Noise,
    jumps: usize,
    rng: &mut Rng,
) -> Result<ChainEnd> {
    let mut state = start;
    let mut prediction = None;
    for step in time_grid(problem.schedule, n)
        .iter()
        .take(stop_after.unwrap_or(n))
    {
        for take in 0..jumps {
            let input = problem.family.network_input(&state)?;
            let x_hat = (problem.predictor)(input, step.t_prev);
            // The summary the step starts from, kept only when the step is to be redone.
            let redo_from = (take + 1 < jumps).then(|| state.gaussian.clone());
            let next =
                problem
                    .divergence
                    .maths()
                    .step(problem.family, state, &x_hat, step, noise, rng)?;
            prediction = Some(x_hat);
            state = match redo_from {
                None => next,
                Some(gaussian) => BeliefState {
                    particle: next
                        .particle
                        .map(|z| renoise(z, step.kappa, step.kappa_prev, rng)),
                    gaussian,
                },
            };
        }
    }
    let prediction = match prediction {
        Some(p) => p,
        None => problem.family.network_input(&state)?,
    };
    Ok(ChainEnd { prediction, state })
}

/// The straight path's forward kernel from `κ'` back to `κ ≤ κ'`: `z_κ = (κ/κ') z_{κ'} + σ ξ`
/// with `σ² = (1 − κ)² − (κ (1 − κ')/κ')²`, `ξ ~ N(0, I)`, which takes `N(κ' x, (1 − κ')²)` to
/// `N(κ x, (1 − κ)²)` for every `x` (the means scale by `κ/κ'`, the variances add up). At
/// `κ' = 1` it is `κ z_1 + (1 − κ) ξ`; at `κ = 0` fresh noise.
pub fn renoise(z: Tensor<2>, kappa_from: f64, kappa_to: f64, rng: &mut Rng) -> Tensor<2> {
    let [b, d] = z.dims();
    let scale = kappa_to / kappa_from;
    let sigma = ((1.0 - kappa_to).powi(2) - (scale * (1.0 - kappa_from)).powi(2))
        .max(0.0)
        .sqrt();
    let device = z.device();
    z.mul_scalar(scale) + rng.normal_tensor(b, d, &device).mul_scalar(sigma)
}

/// [`proximal_chain_from`] with RePaint's resampling (Lugmayr et al. 2022) for particle flows
/// on the straight path: step `i` is taken `jumps` times; between takes its particle is
/// carried back from `κ_i` to `κ_{i−1}` by [`renoise`] and the step is redone from there (from
/// the belief summary it started from), so the network sees each noise level `jumps` times
/// and the unknown coordinates of a masked completion harmonise with the known ones. `jumps =
/// 1` is [`proximal_chain_from`]; the network is called `jumps · n` times. A family without
/// particles, or a divergence off the straight path, is an error naming `--resample`.
pub fn repaint_chain(
    problem: &SamplingProblem<'_>,
    start: BeliefState,
    n: usize,
    noise: Noise,
    jumps: usize,
    rng: &mut Rng,
) -> Result<ChainEnd> {
    crate::divergence::check_jumps(jumps)?;
    if jumps > 1 {
        check_straight_path(problem.divergence, problem.family, "--resample").map_err(|e| {
            GpfnError::Config {
                key: "--resample".into(),
                message: e.to_string(),
            }
        })?;
    }
    check_steps(problem, n)?;
    chain_steps(problem, start, (n, None), noise, jumps, rng)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// [`renoise`] takes the path's marginal `N(κ' x, (1 − κ')²)` to `N(κ x, (1 − κ)²)`: with
    /// 20 000 draws per case, the mean within 5 standard errors `5 (1 − κ)/√N` and the variance
    /// within 5 standard errors `5 √(2/N)` ≈ 5 % relative (plus f32 rounding, far smaller).
    #[test]
    fn renoise_carries_the_straight_path_back() {
        let device = burn::tensor::Device::flex();
        let (n, x) = (20_000usize, 2.0f64);
        for (from, to) in [(0.9, 0.5), (1.0, 0.3), (0.4, 0.0), (0.6, 0.6)] {
            let mut rng = Rng::seed(5);
            let eps = rng.normal_tensor(n, 1, &device);
            let z = eps.mul_scalar(1.0 - from).add_scalar(from * x);
            let back: Vec<f64> = renoise(z, from, to, &mut rng)
                .into_data()
                .iter::<f32>()
                .map(f64::from)
                .collect();
            let mean = back.iter().sum::<f64>() / n as f64;
            let var = back.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let sd = 1.0 - to;
            assert!(
                (mean - to * x).abs() <= 5.0 * sd / (n as f64).sqrt() + 1e-6,
                "{from} → {to}: mean {mean}"
            );
            if to < 1.0 {
                let rel = (var / (sd * sd) - 1.0).abs();
                assert!(
                    rel <= 5.0 * (2.0 / n as f64).sqrt(),
                    "{from} → {to}: var {var}"
                );
            }
        }
    }
}
