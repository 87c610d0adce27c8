//! How straight the sampling paths are: the straightness of Liu et al. (2023).
//!
//! For the ODE trajectory `z_κ` from noise `z₀` to sample `z₁`, with velocity
//! `u = dz/dκ = (x̂ − z)/(1 − κ)` (on the uniform schedule `κ = t` and `u = dz/dt`),
//!
//! ```text
//! S = E_{z₀} ∫₀¹ ‖(z₁ − z₀) − u(z_κ, κ)‖² dκ
//! ```
//!
//! `S ≥ 0`, and `S = 0` exactly when every path is a straight line travelled at constant
//! speed — the paths a one-step sampler follows without error. We evaluate it on the `n`-step
//! Euler (JKO) trajectory, for which `z_n − z_0 = Σ_i Δκ_i u_i` exactly, so
//! `S_n = E Σ_i Δκ_i ‖(z_n − z_0) − u_i‖²` is the Δκ-weighted spread of the step velocities
//! `u_i = (x̂_i − z_{i−1})/(1 − κ_{i−1})` around their mean; it converges to `S` as `n` grows.
//! [`Straightness::relative`] divides by `E‖z₁ − z₀‖²`, so it does not depend on the data's
//! scale (`0` straight, `1` when the velocity deviates from the chord as much as the chord is
//! long).

use gpfn_core::belief::BeliefState;
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::Noise;
use gpfn_core::rng::Rng;
use gpfn_core::sampling::SamplingProblem;
use gpfn_core::schedule::time_grid;
use gpfn_core::{GpfnError, Result};

/// The straightness of a batch of paths.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Straightness {
    /// `S_n = E Σ_i Δκ_i ‖(z_n − z_0) − u_i‖²`.
    pub s: f64,
    /// `S_n / E‖z_n − z_0‖²`.
    pub relative: f64,
    /// `E‖z_n − z_0‖²`, the mean squared length of the chord.
    pub chord: f64,
}

/// The straightness of the `n`-step deterministic (JKO) paths of `problem` from `start`.
pub fn straightness(
    problem: &SamplingProblem<'_>,
    start: BeliefState,
    n: usize,
) -> Result<Straightness> {
    if n == 0 {
        return Err(GpfnError::Config {
            key: "steps".into(),
            message: "straightness needs at least one step".into(),
        });
    }
    if !problem.family.has_particle() {
        return Err(GpfnError::Config {
            key: "belief.name".into(),
            message: "straightness is defined for particle paths".into(),
        });
    }
    let z0 = problem.family.network_input(&start)?;
    let mut state = start;
    let mut velocities: Vec<(f64, Tensor<2>)> = Vec::with_capacity(n);
    let mut rng = Rng::seed(0); // the deterministic step draws nothing
    for step in &time_grid(problem.schedule, n) {
        let z = problem.family.network_input(&state)?;
        let x_hat = (problem.predictor)(z.clone(), step.t_prev);
        let u = (x_hat.clone() - z).div_scalar(1.0 - step.kappa_prev);
        velocities.push((step.kappa - step.kappa_prev, u));
        state = problem.divergence.maths().step(
            problem.family,
            state,
            &x_hat,
            step,
            Noise::Deterministic,
            &mut rng,
        )?;
    }
    let chord = problem.family.network_input(&state)? - z0;
    let rows = chord.dims()[0] as f64;
    let mean_sq = |t: Tensor<2>| t.square().sum().into_scalar::<f32>() as f64 / rows;
    let s: f64 = velocities
        .into_iter()
        .map(|(dk, u)| dk * mean_sq(chord.clone() - u))
        .sum();
    let length = mean_sq(chord);
    Ok(Straightness {
        s,
        relative: if length > 0.0 { s / length } else { 0.0 },
        chord: length,
    })
}
