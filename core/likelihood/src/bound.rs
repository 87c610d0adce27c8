//! BFN's variational bounds on `−ln p(x)` (Graves et al. 2023, §4 for continuous data, §5
//! for the discretised reconstruction), for any Bayesian chain on a schedule `κ(t)`.
//!
//! With precision `ρ(t) = 1/(1 − κ(t))` (BFN: `σ₁^{−2t}`), `α_i = ρ(t_i) − ρ(t_{i−1})`,
//! `t_i = i/n`, the flow `μ ~ N(κ x, κ(1 − κ) I)` and the predictor `x̂(μ, t)`:
//!
//! ```text
//! Lⁿ(x)  = n/2 · E_{i ~ U{1..n}} E_μ[ α_i ‖x − x̂(μ, t_{i−1})‖² ]        (eq. 45: n-step loss)
//! L^∞(x) = E_{t ~ U(0,1)} E_μ[ ρ'(t)/2 · ‖x − x̂(μ, t)‖² ]                (BFN: −ln σ₁ σ₁^{−2t} ‖·‖²)
//! L^r(x) = −E_{μ at t = 1}[ ln p_O(x | x̂(μ, 1)) ],   p_O = N(x̂, σ² I),  σ² = 1/ρ(1) = 1 − κ(1)
//! ```
//!
//! and `−ln p(x) ≤ Lⁿ(x) + L^r(x)`; `L^∞ + L^r` is the bound of the `n → ∞` chain. For data
//! quantised into `K` bins, `p_O` is discretised over the bins (§5, with the network's point
//! prediction as the Gaussian's mean: gpfn's networks output `x̂`, not `(μ_x, σ_x)`), and the
//! bound is on the probability of the bins themselves: no dequantisation is needed. Each
//! term is estimated by Monte Carlo with `repeats` draws per item, the draws of `t` (and of
//! `i`) stratified: one in each of `repeats` equal sub-intervals of `[0, 1)`.

use crate::RowPredictor;
use crate::bins::log_bin_probability;
use gpfn_core::belief::BeliefFamily;
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::{Divergence, Likelihood};
use gpfn_core::host::host_f64;
use gpfn_core::rng::Rng;
use gpfn_core::schedule::Schedule;
use gpfn_core::schedule::precision::{precision, precision_gain};
use gpfn_core::{GpfnError, Result};

/// What the bounds need.
pub struct BoundProblem<'a> {
    /// The divergence (checked to admit the bound).
    pub divergence: &'a dyn Divergence,
    /// The belief family.
    pub family: &'a dyn BeliefFamily,
    /// The schedule `κ(t)`.
    pub schedule: &'a dyn Schedule,
    /// `x̂ = F(μ, t)`.
    pub predictor: &'a RowPredictor<'a>,
}

/// The three terms per item, in nats, each averaged over the repeats.
#[derive(Clone, Debug)]
pub struct BoundTerms {
    /// `L^∞(x)`.
    pub continuous: Vec<f64>,
    /// `Lⁿ(x)`.
    pub discrete: Vec<f64>,
    /// `L^r(x)`.
    pub reconstruction: Vec<f64>,
}

/// `ρ'(t) = κ'(t)/(1 − κ(t))²`.
fn precision_rate(schedule: &dyn Schedule, t: f64) -> f64 {
    let k = schedule.kappa(t);
    schedule.kappa_dot(t) / ((1.0 - k) * (1.0 - k))
}

/// The `r`-th of `repeats` strata of `[0, 1)`, at the uniform draw `u`: `(r + u)/repeats`.
fn stratum(r: usize, repeats: usize, u: f64) -> f64 {
    (r as f64 + u) / repeats as f64
}

/// `‖x − x̂(μ, t)‖²` per row, `μ` drawn from the flow at `t` (one time per row).
fn squared_errors(
    problem: &BoundProblem<'_>,
    x: &Tensor<2>,
    t: &[f64],
    rng: &mut Rng,
) -> Result<Vec<f64>> {
    let mu = problem
        .divergence
        .maths()
        .flow_at(problem.family, problem.schedule, x, t, rng)?;
    let x_hat = (problem.predictor)(mu, t)?;
    Ok(host_f64((x.clone() - x_hat).square().sum_dim(1)))
}

/// The bounds' terms for the items `x: [items, dim]`, with `steps = n`, the reconstruction
/// discretised over `bins` bins when given.
pub fn bfn_bounds(
    problem: &BoundProblem<'_>,
    x: &Tensor<2>,
    steps: usize,
    bins: Option<usize>,
    repeats: usize,
    rng: &mut Rng,
) -> Result<BoundTerms> {
    if problem.divergence.maths().likelihood() != Likelihood::VariationalBound {
        return Err(GpfnError::Invalid(format!(
            "divergence `{}` is not a Bayesian chain: BFN's variational bound needs each step to be \
             Bayes' rule with a Gaussian sender",
            problem.divergence.name()
        )));
    }
    if steps == 0 || repeats == 0 {
        return Err(GpfnError::Invalid(
            "the bounds need n ≥ 1 and at least one draw per item".into(),
        ));
    }
    let kappa1 = problem.schedule.kappa(1.0);
    if kappa1 >= 1.0 {
        return Err(GpfnError::Invalid(format!(
            "the schedule reaches κ(1) = {kappa1}: the output distribution N(x̂, 1 − κ(1)) at t = 1 \
             has no variance, so the reconstruction term is undefined (BFN needs σ₁ > 0)"
        )));
    }
    let sigma = (1.0 - kappa1).sqrt();
    let [items, dim] = x.dims();
    let xs = host_f64(x.clone());
    let mut terms = BoundTerms {
        continuous: vec![0.0; items],
        discrete: vec![0.0; items],
        reconstruction: vec![0.0; items],
    };
    let n = steps as f64;
    let share = 1.0 / repeats as f64;
    for r in 0..repeats {
        // L^∞: t ~ U(0, 1), stratified over the repeats: the r-th draw of every item lies in
        // [r/R, (r+1)/R), so each item's R draws cover the unit interval evenly (an unbiased
        // estimate whose variance falls like 1/R² for a smooth integrand, against 1/R for
        // independent draws; the weight ρ'(t) grows by 1/σ₁² over the interval).
        let t: Vec<f64> = (0..items)
            .map(|_| stratum(r, repeats, rng.uniform()))
            .collect();
        let se = squared_errors(problem, x, &t, rng)?;
        for (i, (e, &ti)) in se.iter().zip(&t).enumerate() {
            terms.continuous[i] += share * 0.5 * precision_rate(problem.schedule, ti) * e;
        }
        // Lⁿ: i ~ U{1..n}, evaluated at t_{i−1}; stratified the same way (i = ⌊n u⌋ + 1 for
        // the stratified u is uniform on {1..n} over the strata together).
        let idx: Vec<usize> = (0..items)
            .map(|_| ((stratum(r, repeats, rng.uniform()) * n) as usize).min(steps - 1) + 1)
            .collect();
        let t: Vec<f64> = idx.iter().map(|&i| (i - 1) as f64 / n).collect();
        let se = squared_errors(problem, x, &t, rng)?;
        for (r, (e, &i)) in se.iter().zip(&idx).enumerate() {
            let alpha = precision_gain(
                problem.schedule.kappa((i - 1) as f64 / n),
                problem.schedule.kappa(i as f64 / n),
            );
            terms.discrete[r] += share * 0.5 * n * alpha * e;
        }
        // L^r at t = 1.
        let ones = vec![1.0; items];
        let mu =
            problem
                .divergence
                .maths()
                .flow_at(problem.family, problem.schedule, x, &ones, rng)?;
        let x_hat = host_f64((problem.predictor)(mu, &ones)?);
        for r in 0..items {
            let row = r * dim..(r + 1) * dim;
            let nll: f64 = match bins {
                Some(k) => xs[row.clone()]
                    .iter()
                    .zip(&x_hat[row])
                    .map(|(&xv, &m)| -log_bin_probability(xv, m, sigma, k))
                    .sum(),
                None => xs[row.clone()]
                    .iter()
                    .zip(&x_hat[row])
                    .map(|(&xv, &m)| {
                        0.5 * (2.0 * std::f64::consts::PI / precision(kappa1)).ln()
                            + (xv - m).powi(2) / (2.0 * sigma * sigma)
                    })
                    .sum(),
            };
            terms.reconstruction[r] += share * nll;
        }
    }
    Ok(terms)
}
