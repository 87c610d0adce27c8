//! The simulated flow distribution, for divergences whose flow has no closed form.
//!
//! The flow distribution is the law of the network input at time `t` given the data `x`
//! (docs/maths.md, "The proximal step" and "Simulated flow distributions"). Where no closed
//! form exists it is *simulated* by running the stochastic oracle chain from the prior: for
//! `j = 1..i` on the step grid, `y_j ~ N(x, α_j⁻¹ I)` and
//! `p_j = prox(p_{j−1}, y_j, α_j)` — exactly the divergence's own stochastic sampling step
//! ([`DivergenceMaths::step`] with [`Noise::Stochastic`]) fed the oracle prediction `x̂ = x`. The
//! sample is the network input of `p_i`. So the training inputs and the sampler's inputs have
//! the same law by construction, on the grid the chain is run on (and only on it).

use crate::belief::{BeliefFamily, BeliefState, DiagGaussian};
use crate::divergence::{DivergenceMaths, Noise};
use crate::rng::Rng;
use crate::schedule::ProxStep;
use crate::{GpfnError, Result};
use burn::tensor::{Int, Tensor, TensorData};

/// The network input after `steps[r]` steps (0 = the prior) of the stochastic oracle chain on
/// `grid`, for each row `r` of `x`. Rows are sorted by their step count, so step `j` runs on
/// the rows that need it only: the cost is `Σ_r steps[r]` row-steps.
pub fn simulated_flow(
    div: &dyn DivergenceMaths,
    family: &dyn BeliefFamily,
    grid: &[ProxStep],
    x: &Tensor<2>,
    steps: &[usize],
    rng: &mut Rng,
) -> Result<Tensor<2>> {
    let [b, d] = x.dims();
    if steps.len() != b {
        return Err(GpfnError::Shape(format!(
            "simulated flow: {} step counts for {b} rows",
            steps.len()
        )));
    }
    if let Some(&bad) = steps.iter().find(|&&s| s > grid.len()) {
        return Err(GpfnError::Invalid(format!(
            "simulated flow: {bad} steps asked of a {}-step grid",
            grid.len()
        )));
    }
    let device = x.device();
    // Rows in decreasing order of their step counts.
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&i, &j| steps[j].cmp(&steps[i]));
    let index = |ix: &[usize]| {
        let v: Vec<i64> = ix.iter().map(|&i| i as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(v, [ix.len()]), &device)
    };
    let x_sorted = x.clone().select(0, index(&order));
    let mut state = family.prior(b, d, &device, rng)?;
    // Network inputs of the rows that have finished, last-finished first once reversed.
    let mut finished: Vec<Tensor<2>> = Vec::new();
    let mut active = b;
    for step in grid {
        let still = order.iter().filter(|&&r| steps[r] >= step.index).count();
        if still == 0 {
            break;
        }
        if still < active {
            let input = family.network_input(&state)?;
            finished.push(input.slice(still..active));
            state = rows(state, still);
            active = still;
        }
        let oracle = x_sorted.clone().slice(0..active);
        state = div.step(
            family,
            state,
            &oracle,
            step,
            Noise::Stochastic { eta: 1.0 },
            rng,
        )?;
    }
    let mut parts = vec![family.network_input(&state)?.slice(0..active)];
    parts.extend(finished.into_iter().rev());
    let sorted = Tensor::cat(parts, 0);
    let mut inverse = vec![0usize; b];
    for (pos, &r) in order.iter().enumerate() {
        inverse[r] = pos;
    }
    Ok(sorted.select(0, index(&inverse)))
}

/// The first `n` rows of a belief state.
fn rows(state: BeliefState, n: usize) -> BeliefState {
    BeliefState {
        gaussian: DiagGaussian {
            mean: state.gaussian.mean.slice(0..n),
            std: state.gaussian.std.slice(0..n),
        },
        particle: state.particle.map(|z| z.slice(0..n)),
    }
}

/// The grid index of time `t` on an `n`-step grid (`t = j/n`), or an error naming the grid
/// when `t` is not a grid time: a simulated flow exists on its grid only.
pub fn grid_index(t: f64, n: usize, who: &str) -> Result<usize> {
    let j = (t * n as f64).round();
    if !(0.0..=n as f64).contains(&j) || (t * n as f64 - j).abs() > 1e-6 {
        return Err(GpfnError::Invalid(format!(
            "{who} simulates its flow distribution on the {n}-step grid t = j/{n}; \
             t = {t} is not on it (train with its `sample_time`, sample with sampler.steps = {n})"
        )));
    }
    Ok(j as usize)
}
