//! The generic numerical proximal solver: the GPFN step for any divergence that can only be
//! evaluated.
//!
//! For a diagonal-Gaussian belief `q = N(m_q, s_q²)`, an observation `y` and an accuracy
//! `α > 0`, it solves the step (1) of docs/maths.md ("The proximal step") over the
//! diagonal-Gaussian family:
//!
//! ```text
//! p* = argmin_{p = N(m, e^{2u})}  α · ½ Σ_k ((m_k − y_k)² + e^{2u_k})  +  D(p, q)
//! ```
//!
//! with `D` *separable*: `D(p, q) = Σ_k D₁(p_k, q_k)`, the per-coordinate value summed over
//! coordinates (the contract of [`Proximal::value`] between diagonal Gaussians). The objective
//! then splits into one independent two-parameter problem `J(m_k, u_k)` per (row, coordinate),
//! and the solver runs a damped Newton method on all of them at once, as tensors on the
//! device:
//!
//! 1. gradient `g = ∇J` and 2×2 Hessian `H`: in closed form where the divergence supplies
//!    its per-coordinate derivatives ([`CoordinateDerivatives`],
//!    [`DivergenceMaths::coordinate_derivatives`]); otherwise `g` by burn's autodiff, at the iterate
//!    and at the iterate moved by `h_m` in `m` and by `h_u` in `u` (one backward pass over the
//!    three stacked copies), and `H` the forward difference of those gradients, symmetrised;
//! 2. Newton direction `Δ = −H⁻¹ g` where `H` is positive definite, otherwise the diagonal
//!    step `Δ_j = −g_j / max(|H_jj|, c)`; the direction is capped (`|Δu| ≤ 1`,
//!    `|Δm| ≤ 2 e^u`), a trust region that keeps iterates where the Gaussian is sensible;
//! 3. backtracking: the largest step fraction in `{1, ½, …, 2⁻⁷}` whose objective is finite
//!    and not above the current one (up to f32 rounding) is taken, per coordinate (the
//!    smaller fractions are evaluated only when the full step fails somewhere); a
//!    coordinate where none is acceptable stays put; where the previous belief `p = q` (the
//!    minimiser of `D`, and the non-smooth point of e.g. total variation) has a lower
//!    objective still, the iterate jumps there.
//!
//! Each coordinate stops on its own, leaving the *active set* the iterations run over: when
//! its full Newton step (in `m/max(s, 0.1)` and `u`) is below the tolerance (after taking that
//! last step); when no step along its Newton direction is acceptable (*stalled*: the f32 floor
//! of a smooth problem, or a kink; counted, not measured, by the residual); or when its step is
//! not finite (it fails and keeps its iterate); or when its `s` falls below `10⁻⁶ s_q`
//! (*collapsed*: the step has no minimiser, its infimum is a point mass). The rest stop at
//! the iteration cap. So a few slow coordinates cost the iterations they need on themselves
//! only, and one bad coordinate stops no other. The report gives the iterations, the largest
//! final step and gradient and whether it converged. Per-coordinate values come from
//! evaluating the divergence on
//! beliefs reshaped to `[rows · dim, 1]`, which is exact for a separable `D`.

use crate::belief::DiagGaussian;
pub use crate::divergence::CoordinateDerivatives;
use crate::divergence::DivergenceMaths;
#[cfg(doc)]
use crate::divergence::Proximal;
use crate::{GpfnError, Result};
use burn::tensor::Tensor;

mod active_set;
mod problem;
#[cfg(test)]
mod tests;

use active_set::ActiveSet;
use problem::Problem;

/// The per-coordinate derivatives of a divergence at `p` against `q` (both `[n, 1]`), or
/// `None` where only its value is known.
pub type DerivativesFn<'a> =
    &'a dyn Fn(&DiagGaussian, &DiagGaussian) -> Option<CoordinateDerivatives>;

/// Where the Newton iteration starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Start {
    /// At the previous belief `q` itself.
    Previous,
    /// At the KL (Bayes) step `ρ = ρ_q + α`, `m = (ρ_q m_q + α y)/ρ`: every f-divergence is
    /// KL to second order around `p = q`, so this is close for small moves, and it stays off
    /// the non-smooth point `p = q` of divergences such as total variation.
    #[default]
    Bayes,
}

/// Settings of the solver.
#[derive(Clone, Copy, Debug)]
pub struct SolverOptions {
    /// Convergence tolerance on the largest full Newton step, in `Δm/max(s, 0.1)` and `Δ log s`.
    /// The f32 floor of that step is ~1e-6 (gradient rounding over small `s`), so the
    /// default is 1e-5; the last step is taken, leaving errors far below the tolerance.
    pub tolerance: f64,
    /// Iteration cap.
    pub max_iterations: usize,
    /// Initial iterate.
    pub start: Start,
}

impl Default for SolverOptions {
    fn default() -> Self {
        SolverOptions {
            tolerance: 1e-5,
            max_iterations: 60,
            start: Start::Bayes,
        }
    }
}

/// How a solve went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolverReport {
    /// Newton iterations taken (by the slowest coordinate).
    pub iterations: usize,
    /// The residual: the largest full Newton step, `max(|Δm_k|/max(s_k, 0.1), |Δu_k|)`, over
    /// the coordinates that converged or stopped at the cap, each at its last iterate; `+∞`
    /// when a coordinate failed (a step that was not finite).
    pub max_step: f64,
    /// The largest gradient component `|∇J_k|` over the same coordinates.
    pub max_gradient: f64,
    /// Whether every coordinate converged (`step ≤ tolerance`), stalled or collapsed: none
    /// stopped at the cap and none failed.
    pub converged: bool,
    /// Coordinates left out of `max_step` because no step along their Newton direction
    /// lowered the objective: at the f32 noise floor of a smooth problem, or at a kink
    /// (total variation at `p = q`).
    pub stalled: usize,
    /// Coordinates that stopped because their std fell below `10⁻⁶ s_q` on the way to a
    /// point mass: the step has no minimiser there (a bounded divergence such as squared
    /// Hellinger, with `y` far from a narrow `q`; docs/maths.md) and the belief returned is
    /// that point mass to within `10⁻⁶ s_q`.
    pub collapsed: usize,
}

/// Solves the proximal step of `div` (see the module documentation) with its
/// [`Proximal::value`], and its [`DivergenceMaths::coordinate_derivatives`] where it has them.
pub fn solve_prox(
    div: &dyn DivergenceMaths,
    prev: &DiagGaussian,
    y: &Tensor<2>,
    alpha: f64,
    options: &SolverOptions,
) -> Result<(DiagGaussian, SolverReport)> {
    solve_with_derivatives(
        &|p, q| div.value(p, q),
        &|p, q| div.coordinate_derivatives(p, q),
        prev,
        y,
        alpha,
        options,
    )
}

/// Solves `argmin_p α E_p[½‖x − y‖²] + D(p, q)` over diagonal Gaussians for a separable,
/// differentiable `value(p, q) = Σ_k D₁(p_k, q_k)` (per row, `[rows]`), known by its value
/// only (derivatives by autodiff). `α = +∞` returns the point mass at `y` (std 0). Errors on
/// a non-positive or NaN `α` and on mismatched shapes.
pub fn solve(
    value: &dyn Fn(&DiagGaussian, &DiagGaussian) -> Tensor<1>,
    prev: &DiagGaussian,
    y: &Tensor<2>,
    alpha: f64,
    options: &SolverOptions,
) -> Result<(DiagGaussian, SolverReport)> {
    solve_with_derivatives(value, &|_, _| None, prev, y, alpha, options)
}

/// [`solve`], with the divergence's closed-form per-coordinate derivatives: `derivatives`
/// returns them at `p` against `q` (both `[n, 1]`), or `None` to fall back on autodiff.
///
/// The steps, each a function below: [`check_input`]; the point mass for `α = ∞`
/// ([`point_mass`]); the flattened per-coordinate [`Problem`] and its [`Problem::start`];
/// then Newton iterations over the [`ActiveSet`] — converged coordinates retire after their
/// last step ([`ActiveSet::retire_converged`]), non-finite ones fail
/// ([`ActiveSet::retire_failed`]), the rest take a backtracking step
/// ([`Problem::line_search`]) and stalled or collapsing ones retire where they stand
/// ([`ActiveSet::retire_stuck`]).
pub fn solve_with_derivatives(
    value: &dyn Fn(&DiagGaussian, &DiagGaussian) -> Tensor<1>,
    derivatives: DerivativesFn<'_>,
    prev: &DiagGaussian,
    y: &Tensor<2>,
    alpha: f64,
    options: &SolverOptions,
) -> Result<(DiagGaussian, SolverReport)> {
    let [b, d] = check_input(prev, y, alpha)?;
    let on_autodiff = prev.mean.is_autodiff();
    let back = |t: Tensor<2>| {
        let t = t.reshape([b, d]);
        if on_autodiff { t.autodiff() } else { t }
    };
    if alpha.is_infinite() {
        return Ok(point_mass(y, back));
    }
    let mut problem = Problem::new(value, derivatives, prev, y, alpha);
    let (mut m, mut u) = problem.start(options.start);
    let mut set = ActiveSet::new(b * d, &m.device());
    loop {
        let newton = problem.newton(&m, &u);
        let Some(newton) = set.retire_converged(newton, &m, &u, options) else {
            break;
        };
        let Some(newton) = set.retire_failed(newton, &mut problem, &mut m, &mut u) else {
            break;
        };
        let (fraction, at_prev) = problem.line_search(&m, &u, &newton);
        let stalled = fraction
            .clone()
            .equal_elem(0.0)
            .bool_and(at_prev.clone().bool_not());
        m = (m + newton.dm * fraction.clone()).mask_where(at_prev.clone(), problem.mq.clone());
        u = (u + newton.du * fraction).mask_where(at_prev, problem.uq.clone());
        set.report.iterations += 1;
        if !set.retire_stuck(stalled, &mut problem, &mut m, &mut u) {
            break;
        }
    }
    Ok((
        DiagGaussian {
            mean: back(set.m_out),
            std: back(set.u_out.exp()),
        },
        set.report,
    ))
}

/// The solver's input contract: `α > 0` (not NaN) and `prev`, `y` of one shape `[rows, dim]`,
/// which it returns.
fn check_input(prev: &DiagGaussian, y: &Tensor<2>, alpha: f64) -> Result<[usize; 2]> {
    if alpha.is_nan() || alpha <= 0.0 {
        return Err(GpfnError::Invalid(format!(
            "proximal solver: the accuracy must be positive, got {alpha}"
        )));
    }
    let [b, d] = prev.dims();
    if y.dims() != [b, d] || prev.std.dims() != [b, d] {
        return Err(GpfnError::Shape(format!(
            "proximal solver: belief is {:?} (std {:?}) but y is {:?}",
            [b, d],
            prev.std.dims(),
            y.dims()
        )));
    }
    Ok([b, d])
}

/// `α = ∞`: the step is the point mass at `y` (std 0), reached without iterating.
fn point_mass(
    y: &Tensor<2>,
    back: impl Fn(Tensor<2>) -> Tensor<2>,
) -> (DiagGaussian, SolverReport) {
    let report = SolverReport {
        iterations: 0,
        max_step: 0.0,
        max_gradient: 0.0,
        converged: true,
        stalled: 0,
        collapsed: 0,
    };
    let y = y.clone().inner().detach();
    (
        DiagGaussian {
            std: back(y.clone().mul_scalar(0.0)),
            mean: back(y),
        },
        report,
    )
}
