//! The exact log-likelihood of a straight-path particle flow.
//!
//! The deterministic sampler integrates `dz/dt = u(z, t) = κ'(t) (x̂(z, t) − z)/(1 − κ(t))` from
//! `z(0) ~ N(0, I)`. Along it the density obeys the instantaneous change of variables
//! (Chen et al. 2018), `d ln p_t(z(t))/dt = −tr ∂u/∂z`, so for an item `x`:
//!
//! ```text
//! ln p_{t_end}(x) = ln N(z(0); 0, I) − ∫_0^{t_end} tr ∂u/∂z (z(t), t) dt,
//! ```
//!
//! with `z` integrated backwards from `z(t_end) = x`. The state `(z, ℓ)`, `dℓ/dt = tr ∂u/∂z`,
//! `ℓ(t_end) = 0`, is integrated by Dormand–Prince 5(4) from `t_end` to 0 (error control on
//! both), so `ℓ(0) = −∫_0^{t_end} tr` and `ln p = ln N(z(0)) + ℓ(0)`. The velocity is singular
//! at `t = 1`, so the density is that of the flow at `t_end < 1` (`likelihood.t_end`;
//! docs/likelihood.md).
//!
//! The trace: `εᵀ (∂u/∂z) ε` is one backward pass of `u · ε` (a vector–Jacobian product);
//! with `ε` the coordinate vectors the sum over them is the exact trace (`d` probes per
//! item), with `K` random probes (Rademacher or Gaussian) it is Hutchinson's unbiased
//! estimator, averaged over the probes. Each probe is a row of the batch (items are
//! independent rows of the network), integrated with the item's own copy of `z`.

use crate::{LikelihoodOptions, ProbeKind, RowPredictor};
use gpfn_core::belief::BeliefFamily;
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::divergence::Divergence;
use gpfn_core::host::host_f64;
use gpfn_core::ode::Dopri5;
use gpfn_core::rng::Rng;
use gpfn_core::sampling::check_straight_path;
use gpfn_core::schedule::Schedule;
use gpfn_core::{GpfnError, Result};

/// What the ODE likelihood needs.
pub struct OdeProblem<'a> {
    /// The divergence (checked to be a straight-path particle flow).
    pub divergence: &'a dyn Divergence,
    /// The belief family (checked to have particles).
    pub family: &'a dyn BeliefFamily,
    /// The schedule `κ(t)`.
    pub schedule: &'a dyn Schedule,
    /// `x̂ = F(z, t)`, differentiable: called with `z` on the autodiff device.
    pub predictor: &'a RowPredictor<'a>,
    /// The (non-autodiff) device the state lives on.
    pub device: Device,
}

/// Per-item log-densities.
pub struct OdeLogDensity {
    /// `ln p_{t_end}(x)` per item (the mean over its probes).
    pub log_density: Vec<f64>,
    /// Per item, the sample variance of one Hutchinson probe's `ln p` (two or more random
    /// probes only).
    pub probe_variance: Option<Vec<f64>>,
    /// Evaluations of the velocity (each a forward and a backward pass of the network).
    pub evaluations: usize,
    /// `z(0)` per item (`[items · dim]`, row-major): where the flow's ODE carries `x` back to
    /// at `t = 0` (every probe of an item follows the same trajectory; its first probe's).
    /// A composition of flows (Local Flow Matching's blocks) feeds it to the next block.
    pub start: Vec<f32>,
    /// `ln N(z(0); 0, I)` per item: the prior's term of `log_density`, so
    /// `log_density − log_prior` is the flow's change-of-variables term alone.
    pub log_prior: Vec<f64>,
}

/// `ln p_{t_end}(x)` for the items `x` (`[items · dim]`, row-major) under the flow of
/// `problem`, `t_end` from `options` (default: that of continuous data,
/// [`LikelihoodOptions::t_end_for`]).
pub fn ode_log_density(
    problem: &OdeProblem<'_>,
    x: &[f32],
    dim: usize,
    options: &LikelihoodOptions,
    rng: &mut Rng,
) -> Result<OdeLogDensity> {
    options.validate()?;
    let t_end = options.t_end_for(None);
    check_straight_path(problem.divergence, problem.family, "the ODE likelihood")?;
    if dim == 0 || x.is_empty() || !x.len().is_multiple_of(dim) {
        return Err(GpfnError::Shape(format!(
            "{} values are no whole number of items of dimension {dim}",
            x.len()
        )));
    }
    let items = x.len() / dim;
    let (probes, exact) = options.probes_for(dim);
    let rows = items * probes;
    // Row r = item r / probes, probe r % probes.
    let mut z_rows = Vec::with_capacity(rows * (dim + 1));
    let mut eps = Vec::with_capacity(rows * dim);
    for item in x.chunks(dim) {
        for k in 0..probes {
            z_rows.extend_from_slice(item);
            z_rows.push(0.0);
            for j in 0..dim {
                eps.push(if exact {
                    f32::from(j == k)
                } else {
                    match options.probe {
                        ProbeKind::Rademacher => {
                            if rng.uniform() < 0.5 {
                                -1.0
                            } else {
                                1.0
                            }
                        }
                        ProbeKind::Gaussian => rng.normal() as f32,
                    }
                });
            }
        }
    }
    let device = &problem.device;
    let state0 = Tensor::<2>::from_data(TensorData::new(z_rows, [rows, dim + 1]), device);
    let eps = Tensor::<2>::from_data(TensorData::new(eps, [rows, dim]), device);
    let eps_ad = eps.clone().autodiff();
    let schedule = problem.schedule;
    let mut rhs = |t: f64, state: &Tensor<2>| -> Result<Tensor<2>> {
        let rate = schedule.kappa_dot(t) / (1.0 - schedule.kappa(t));
        let z = state.clone().narrow(1, 0, dim).autodiff().require_grad();
        let x_hat = (problem.predictor)(z.clone(), &vec![t; rows])?;
        let u = (x_hat - z.clone()).mul_scalar(rate);
        let grads = (u.clone() * eps_ad.clone()).sum().backward();
        let vjp = z.grad(&grads).ok_or_else(|| {
            GpfnError::Invalid(
                "the predictor's output does not depend on its input: no gradient for the trace"
                    .into(),
            )
        })?;
        let trace = (vjp * eps.clone()).sum_dim(1);
        Ok(Tensor::cat(vec![u.inner(), trace], 1))
    };
    let solver = Dopri5 {
        rtol: options.rtol,
        atol: options.atol,
        max_evaluations: options.max_evaluations,
    };
    let end = solver.solve(&mut rhs, t_end, 0.0, state0)?;
    let values = host_f64(end.y);
    let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    // ln p per row: ln N(z(0)) + ℓ(0).
    let per_row: Vec<(f64, f64)> = values
        .chunks(dim + 1)
        .map(|row| {
            let sq: f64 = row[..dim].iter().map(|v| v * v).sum();
            (-0.5 * sq - dim as f64 * half_log_2pi, row[dim])
        })
        .collect();
    let mut log_density = Vec::with_capacity(items);
    let mut variance = Vec::with_capacity(items);
    let start: Vec<f32> = values
        .chunks(dim + 1)
        .step_by(probes)
        .flat_map(|row| row[..dim].iter().map(|&v| v as f32))
        .collect();
    let log_prior: Vec<f64> = per_row.iter().step_by(probes).map(|r| r.0).collect();
    for group in per_row.chunks(probes) {
        if exact {
            // The rows are copies of one trajectory: the trace is the sum of the probes'.
            let ell: f64 = group.iter().map(|r| r.1).sum();
            log_density.push(group[0].0 + ell);
        } else {
            let est: Vec<f64> = group.iter().map(|(prior, ell)| prior + ell).collect();
            let mean = est.iter().sum::<f64>() / est.len() as f64;
            log_density.push(mean);
            if est.len() > 1 {
                variance.push(
                    est.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (est.len() - 1) as f64,
                );
            }
        }
    }
    if log_density.iter().any(|v| !v.is_finite()) {
        return Err(GpfnError::Invalid(
            "the ODE likelihood produced a non-finite log-density".into(),
        ));
    }
    Ok(OdeLogDensity {
        log_density,
        probe_variance: (!exact && probes > 1).then_some(variance),
        evaluations: end.evaluations,
        start,
        log_prior,
    })
}
