//! The generic numerical proximal solver: the GPFN step for any divergence that can only be
//! evaluated.
//!
//! For a diagonal-Gaussian belief `q = N(m_q, s_q²)`, an observation `y` and an accuracy
//! `α > 0`, it solves DESIGN §1's step over the diagonal-Gaussian family:
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
use crate::host::host_f64;
use crate::{GpfnError, Result};
use burn::tensor::{Bool, Device, IndexingUpdateOp, Int, Tensor, TensorData};

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

/// Step fractions tried by the backtracking line search, largest first.
const FRACTIONS: [f32; 8] = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125];
/// Relative forward-difference steps of the Hessian: `h_m = H_REL · max(s, 0.01)`, `h_u = H_REL`.
/// f32 gradients carry ~1e-7 relative error, so the Hessian is accurate to ~1e-4 relative:
/// enough for Newton's direction, and it does not touch the fixed point (`g = 0`).
const H_REL: f32 = 1e-3;
/// Mean steps are measured in units of `max(s, 0.1)`: f32 resolves an O(1) mean to ~1e-7, so
/// a tolerance of 1e-5 on `|Δm|/s` would be below rounding once `s ≪ 0.1`.
const MEAN_SCALE_FLOOR: f32 = 0.1;
/// `ln 10⁶`: a coordinate whose `ln s` is this far below `ln s_q` is collapsing to a point
/// mass. A Bayes step shrinks `s` by `(1 + α s_q²)^{−½}`, which needs `α s_q² > 10¹²` to come
/// as far, so no step with a minimiser stops here.
const COLLAPSE_LOG_RATIO: f32 = 13.815_51;
/// Smallest curvature used by the diagonal fallback step.
const MIN_CURVATURE: f32 = 1e-6;

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

/// The coordinates still iterating. `rows[k]` is the coordinate (of `n`) that row `k` of the
/// problem solves; a coordinate leaves the set when it converges (after its last Newton
/// step), stalls, collapses or fails, and its result goes into `m_out`, `u_out`.
struct ActiveSet {
    rows: Vec<usize>,
    m_out: Tensor<2>,
    u_out: Tensor<2>,
    failed: usize,
    report: SolverReport,
    device: Device,
}

impl ActiveSet {
    fn new(n: usize, device: &Device) -> ActiveSet {
        let zeros = Tensor::<2>::zeros([n, 1], device);
        ActiveSet {
            rows: (0..n).collect(),
            m_out: zeros.clone(),
            u_out: zeros,
            failed: 0,
            report: SolverReport {
                iterations: 0,
                max_step: 0.0,
                max_gradient: 0.0,
                converged: false,
                stalled: 0,
                collapsed: 0,
            },
            device: device.clone(),
        }
    }

    /// Coordinates whose full Newton step is within the tolerance take that last (tiny) step —
    /// near the fixed point it squares the error — and retire; at the iteration cap the rest
    /// retire at their current iterate and give the residual. `None` when no coordinate is
    /// left to iterate.
    fn retire_converged(
        &mut self,
        newton: Newton,
        m: &Tensor<2>,
        u: &Tensor<2>,
        options: &SolverOptions,
    ) -> Option<(Newton, Vec<usize>, Vec<f64>)> {
        // Step and gradient per coordinate, read back together (one synchronisation).
        let host = host_f64(Tensor::cat(
            vec![newton.step.clone(), newton.gradient.clone()],
            1,
        ));
        let (step, gradient): (Vec<f64>, Vec<f64>) =
            host.chunks_exact(2).map(|c| (c[0], c[1])).unzip();
        let (out, keep): (Vec<usize>, Vec<usize>) =
            (0..step.len()).partition(|&k| step[k] <= options.tolerance);
        for &k in &out {
            self.record_residual(step[k], gradient[k]);
        }
        if !out.is_empty() {
            let m_next = m.clone() + newton.dm.clone();
            let u_next = u.clone() + newton.du.clone();
            self.store(&out, &m_next, &u_next);
        }
        if keep.is_empty() || self.report.iterations >= options.max_iterations {
            for &k in &keep {
                self.record_residual(step[k], gradient[k]);
            }
            self.store(&keep, m, u);
            self.report.converged = keep.is_empty() && self.failed == 0;
            return None;
        }
        Some((newton, keep, step))
    }

    /// A non-finite step (NaN beliefs, an infinite objective) cannot be taken: that coordinate
    /// fails and keeps its iterate. The problem shrinks to the coordinates that go on; `None`
    /// when none does.
    fn retire_failed(
        &mut self,
        (newton, keep, step): (Newton, Vec<usize>, Vec<f64>),
        problem: &mut Problem<'_>,
        m: &mut Tensor<2>,
        u: &mut Tensor<2>,
    ) -> Option<Newton> {
        let (finite, bad): (Vec<usize>, Vec<usize>) =
            keep.into_iter().partition(|&k| step[k].is_finite());
        if !bad.is_empty() {
            self.failed += bad.len();
            self.report.max_step = f64::INFINITY;
            self.store(&bad, m, u);
        }
        let mut newton = newton;
        if finite.len() < self.rows.len() {
            let ix = index(&finite, &self.device);
            newton = newton.select(ix.clone());
            problem.keep(ix, &finite, m, u, &mut self.rows);
        }
        (!self.rows.is_empty()).then_some(newton)
    }

    /// Stalled coordinates (no acceptable move along their Newton direction) would get the
    /// same direction again, and collapsing ones (`s` below `10⁻⁶ s_q`: no minimiser, the
    /// infimum is the point mass) would shrink `s` for ever: both retire where they stand,
    /// uncounted by the residual. `false` when no coordinate is left to iterate.
    fn retire_stuck(
        &mut self,
        stalled: Tensor<2, Bool>,
        problem: &mut Problem<'_>,
        m: &mut Tensor<2>,
        u: &mut Tensor<2>,
    ) -> bool {
        let collapsing = u
            .clone()
            .lower(problem.uq.clone().sub_scalar(COLLAPSE_LOG_RATIO));
        let state = host_f64(stalled.float() + collapsing.float().mul_scalar(2.0));
        let (moving, stuck): (Vec<usize>, Vec<usize>) =
            (0..self.rows.len()).partition(|&k| state[k] == 0.0);
        if stuck.is_empty() {
            return true;
        }
        self.report.stalled += stuck.iter().filter(|&&k| state[k] == 1.0).count();
        self.report.collapsed += stuck.iter().filter(|&&k| state[k] >= 2.0).count();
        self.store(&stuck, m, u);
        if moving.is_empty() {
            self.report.converged = self.failed == 0;
            return false;
        }
        let ix = index(&moving, &self.device);
        problem.keep(ix, &moving, m, u, &mut self.rows);
        true
    }

    fn record_residual(&mut self, step: f64, gradient: f64) {
        self.report.max_step = self.report.max_step.max(step);
        self.report.max_gradient = self.report.max_gradient.max(gradient);
    }

    /// Writes rows `local` of `m`, `u` into the outputs at their coordinates `rows[local]`.
    fn store(&mut self, local: &[usize], m: &Tensor<2>, u: &Tensor<2>) {
        store(
            &mut self.m_out,
            &mut self.u_out,
            &self.rows,
            local,
            m,
            u,
            &self.device,
        );
    }
}

/// An index tensor of host positions.
fn index(ix: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = ix.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(v, [ix.len()]), device)
}

/// Writes rows `local` of `m`, `u` (problem rows) into the outputs at their coordinates
/// `rows[local]`. Each coordinate is written once, into zeros, so adding is assigning (every
/// backend has the additive `select_assign`).
fn store(
    m_out: &mut Tensor<2>,
    u_out: &mut Tensor<2>,
    rows: &[usize],
    local: &[usize],
    m: &Tensor<2>,
    u: &Tensor<2>,
    device: &Device,
) {
    if local.is_empty() {
        return;
    }
    let from = index(local, device);
    let to = index(&local.iter().map(|&k| rows[k]).collect::<Vec<_>>(), device);
    let put = |out: &Tensor<2>, t: &Tensor<2>| {
        out.clone().select_assign(
            0,
            to.clone(),
            t.clone().select(0, from.clone()),
            IndexingUpdateOp::Add,
        )
    };
    *m_out = put(m_out, m);
    *u_out = put(u_out, u);
}

/// The per-coordinate problems, flattened to `[n, 1]` columns on a device without autodiff.
struct Problem<'a> {
    value: &'a dyn Fn(&DiagGaussian, &DiagGaussian) -> Tensor<1>,
    derivatives: DerivativesFn<'a>,
    mq: Tensor<2>,
    sq: Tensor<2>,
    /// `ln s_q`: the previous belief in the solver's coordinates.
    uq: Tensor<2>,
    /// `J` at the previous belief, `[n, 1]` (the line search compares with it).
    j_prev: Tensor<2>,
    y: Tensor<2>,
    alpha: f64,
}

/// A (capped) Newton direction at an iterate.
struct Newton {
    dm: Tensor<2>,
    du: Tensor<2>,
    /// The objective at the iterate, `[n, 1]`.
    objective: Tensor<2>,
    /// The full Newton step per coordinate, `max(|Δm|/max(s, 0.1), |Δu|)` (`+∞` for NaN).
    step: Tensor<2>,
    /// The largest gradient component per coordinate, `max(|g_m|, |g_u|)`.
    gradient: Tensor<2>,
}

impl Newton {
    /// The rows `ix` only.
    fn select(self, ix: Tensor<1, Int>) -> Newton {
        let pick = |t: Tensor<2>| t.select(0, ix.clone());
        Newton {
            dm: pick(self.dm),
            du: pick(self.du),
            objective: pick(self.objective),
            step: pick(self.step),
            gradient: pick(self.gradient),
        }
    }
}

/// The objective `J`, its gradient `(g_m, g_u)` and its symmetric Hessian at an iterate, each
/// `[n, 1]`.
struct Derivatives {
    objective: Tensor<2>,
    gm: Tensor<2>,
    gu: Tensor<2>,
    h_mm: Tensor<2>,
    h_off: Tensor<2>,
    h_uu: Tensor<2>,
}

impl<'a> Problem<'a> {
    /// The per-coordinate problems of `prev`, `y` flattened to `[rows · dim, 1]`, off
    /// autodiff, with `J` at the previous belief.
    fn new(
        value: &'a dyn Fn(&DiagGaussian, &DiagGaussian) -> Tensor<1>,
        derivatives: DerivativesFn<'a>,
        prev: &DiagGaussian,
        y: &Tensor<2>,
        alpha: f64,
    ) -> Problem<'a> {
        let [b, d] = prev.dims();
        let n = b * d;
        let flat = |t: &Tensor<2>| t.clone().inner().reshape([n, 1]);
        let (mq, sq) = (flat(&prev.mean), flat(&prev.std));
        let uq = sq.clone().log();
        let mut problem = Problem {
            value,
            derivatives,
            j_prev: mq.zeros_like(),
            mq,
            sq,
            uq,
            y: flat(y),
            alpha,
        };
        problem.j_prev = problem
            .objective(problem.mq.clone(), problem.uq.clone(), 1)
            .reshape([n, 1]);
        problem
    }

    /// The first iterate `(m, u)`: the previous belief, or the KL (Bayes) step
    /// `ρ = ρ_q + α`, `m = (ρ_q m_q + α y)/ρ` (see [`Start`]) where the objective is finite
    /// there and the previous belief elsewhere.
    fn start(&self, start: Start) -> (Tensor<2>, Tensor<2>) {
        match start {
            Start::Previous => (self.mq.clone(), self.uq.clone()),
            Start::Bayes => {
                let n = self.mq.dims()[0];
                let rho = self.sq.clone().square().recip();
                let rho_next = rho.clone().add_scalar(self.alpha);
                let m = (rho * self.mq.clone() + self.y.clone().mul_scalar(self.alpha))
                    / rho_next.clone();
                let u = rho_next.log().mul_scalar(-0.5);
                // Where the divergence is infinite (or overflows f32) at the Bayes step (χ²
                // far from `q`), start at `q` instead, where it is 0.
                let outside = self
                    .objective(m.clone(), u.clone(), 1)
                    .reshape([n, 1])
                    .is_finite()
                    .bool_not();
                (
                    m.mask_where(outside.clone(), self.mq.clone()),
                    u.mask_where(outside, self.uq.clone()),
                )
            }
        }
    }
}

impl Problem<'_> {
    /// Keeps the problem rows `local` only (`ix`, their index tensor), with the iterate
    /// `(m, u)` and the map `rows` to coordinates.
    fn keep(
        &mut self,
        ix: Tensor<1, Int>,
        local: &[usize],
        m: &mut Tensor<2>,
        u: &mut Tensor<2>,
        rows: &mut Vec<usize>,
    ) {
        *rows = local.iter().map(|&k| rows[k]).collect();
        for t in [
            m,
            u,
            &mut self.mq,
            &mut self.sq,
            &mut self.uq,
            &mut self.j_prev,
            &mut self.y,
        ] {
            *t = t.clone().select(0, ix.clone());
        }
    }

    /// `J(m, u) = α ½((m − y)² + e^{2u}) + D₁(N(m, e^{2u}), q)` for `k` stacked copies of the
    /// problem: `m`, `u` are `[k n, 1]`; returns `[k n]`.
    fn objective(&self, m: Tensor<2>, u: Tensor<2>, copies: usize) -> Tensor<1> {
        // Constants enter an autodiff graph as constants (burn treats a tensor without autodiff
        // as one when it meets a tracked tensor).
        let rep = |t: &Tensor<2>| {
            if copies == 1 {
                t.clone()
            } else {
                t.clone().repeat_dim(0, copies)
            }
        };
        let s = u.exp();
        let q = DiagGaussian {
            mean: rep(&self.mq),
            std: rep(&self.sq),
        };
        let expected = ((m.clone() - rep(&self.y)).square() + s.clone().square())
            .squeeze_dim::<1>(1)
            .mul_scalar(0.5 * self.alpha);
        expected + (self.value)(&DiagGaussian { mean: m, std: s }, &q)
    }

    /// The objective, gradient and Hessian at `(m, u)`: in closed form where the divergence
    /// has [`CoordinateDerivatives`], else by autodiff and forward differences.
    fn derivatives(&self, m: &Tensor<2>, u: &Tensor<2>) -> Derivatives {
        let s = u.clone().exp();
        let q = DiagGaussian {
            mean: self.mq.clone(),
            std: self.sq.clone(),
        };
        let p = DiagGaussian {
            mean: m.clone(),
            std: s.clone(),
        };
        let Some(d) = (self.derivatives)(&p, &q) else {
            return self.autodiff_derivatives(m, u);
        };
        // The expected cost α ½((m − y)² + e^{2u}): gradient (α(m − y), α e^{2u}), Hessian
        // diag(α, 2α e^{2u}).
        let alpha = self.alpha;
        let v = s.square();
        let n = m.dims()[0];
        Derivatives {
            objective: self.objective(m.clone(), u.clone(), 1).reshape([n, 1]),
            gm: (m.clone() - self.y.clone()).mul_scalar(alpha) + d.dm,
            gu: v.clone().mul_scalar(alpha) + d.du,
            h_mm: d.dmm.add_scalar(alpha),
            h_off: d.dmu,
            h_uu: v.mul_scalar(2.0 * alpha) + d.duu,
        }
    }

    /// Gradient by autodiff and Hessian by forward differences of it.
    fn autodiff_derivatives(&self, m: &Tensor<2>, u: &Tensor<2>) -> Derivatives {
        let n = m.dims()[0];
        let hm = u
            .clone()
            .exp()
            .clamp_min(MEAN_SCALE_FLOOR * 0.1)
            .mul_scalar(H_REL);
        // The perturbation f32 actually applied (`m + h − m` differs from `h` by ulps of `m`).
        let hm = (m.clone() + hm) - m.clone();
        let m3 = Tensor::cat(vec![m.clone(), m.clone() + hm.clone(), m.clone()], 0)
            .autodiff()
            .require_grad();
        let u3 = Tensor::cat(vec![u.clone(), u.clone(), u.clone().add_scalar(H_REL)], 0)
            .autodiff()
            .require_grad();
        let j3 = self.objective(m3.clone(), u3.clone(), 3);
        let objective = j3.clone().inner().slice(0..n).reshape([n, 1]);
        let grads = j3.sum().backward();
        let gm3 = m3
            .grad(&grads)
            .unwrap_or_else(|| m3.clone().inner().zeros_like());
        let gu3 = u3
            .grad(&grads)
            .unwrap_or_else(|| u3.clone().inner().zeros_like());
        let part = |t: &Tensor<2>, i: usize| t.clone().slice(i * n..(i + 1) * n);
        let (gm, gu) = (part(&gm3, 0), part(&gu3, 0));
        let h_mm = (part(&gm3, 1) - gm.clone()) / hm.clone();
        let h_um = (part(&gu3, 1) - gu.clone()) / hm;
        let h_mu = (part(&gm3, 2) - gm.clone()).div_scalar(H_REL);
        let h_uu = (part(&gu3, 2) - gu.clone()).div_scalar(H_REL);
        Derivatives {
            objective,
            gm,
            gu,
            h_mm,
            h_off: (h_um + h_mu).mul_scalar(0.5),
            h_uu,
        }
    }

    /// The (capped) Newton direction at `(m, u)`.
    fn newton(&self, m: &Tensor<2>, u: &Tensor<2>) -> Newton {
        let Derivatives {
            objective,
            gm,
            gu,
            h_mm,
            h_off,
            h_uu,
        } = self.derivatives(m, u);
        let det = h_mm.clone() * h_uu.clone() - h_off.clone().square();
        // Newton where H is positive definite, the diagonal step elsewhere.
        let pd: Tensor<2, Bool> = h_mm
            .clone()
            .greater_elem(0.0)
            .bool_and(det.clone().greater_elem(0.0));
        let newton_m = (h_uu.clone() * gm.clone() - h_off.clone() * gu.clone()) / det.clone();
        let newton_u = (h_mm.clone() * gu.clone() - h_off * gm.clone()) / det;
        let diag_m = gm.clone() / h_mm.abs().clamp_min(MIN_CURVATURE);
        let diag_u = gu.clone() / h_uu.abs().clamp_min(MIN_CURVATURE);
        let dm = diag_m.mask_where(pd.clone(), newton_m).neg();
        let du = diag_u.mask_where(pd, newton_u).neg();
        let s = u.clone().exp();
        let scale = s.clone().clamp_min(MEAN_SCALE_FLOOR);
        // NaN does not compare (and `max_pair` may drop it): make each part +∞ where it is
        // NaN, a step that is never below the tolerance.
        let no_nan = |t: Tensor<2>| t.clone().mask_fill(t.is_nan(), f32::INFINITY);
        let step = no_nan((dm.clone() / scale).abs()).max_pair(no_nan(du.clone().abs()));
        let gradient = gm.abs().max_pair(gu.abs());
        // Trust region: |Δu| ≤ 1, |Δm| ≤ 2 s.
        let cap = du.clone().abs().clamp_min(1.0).recip().min_pair(
            (dm.clone().abs() / s.mul_scalar(2.0))
                .clamp_min(1.0)
                .recip(),
        );
        Newton {
            dm: dm * cap.clone(),
            du: du * cap,
            objective,
            step,
            gradient,
        }
    }

    /// The largest acceptable step fraction per coordinate (0 where none is), `[n, 1]`, and
    /// where the previous belief `p = q` is better still (the minimiser of `D` and the one
    /// non-smooth point of f-divergences such as total variation, which Newton only
    /// approaches).
    fn line_search(
        &self,
        m: &Tensor<2>,
        u: &Tensor<2>,
        newton: &Newton,
    ) -> (Tensor<2>, Tensor<2, Bool>) {
        let n = m.dims()[0];
        let j0 = newton.objective.clone();
        // Not above the current value beyond f32 rounding of J (a few ulps of |J|).
        let slack = j0.clone().abs().add_scalar(1.0).mul_scalar(4e-7);
        let limit = j0.clone() + slack.clone();
        let acceptable = |j: &Tensor<2>| {
            j.clone()
                .is_finite()
                .bool_and(j.clone().lower_equal(limit.clone()))
        };
        // The full step first: near the solution it is accepted everywhere, and the smaller
        // fractions need not be evaluated at all.
        let j_full = self
            .objective(
                m.clone() + newton.dm.clone(),
                u.clone() + newton.du.clone(),
                1,
            )
            .reshape([n, 1]);
        let full_ok = acceptable(&j_full);
        let (fraction, chosen) = if full_ok.clone().all().int().into_scalar::<i64>() == 1 {
            (m.ones_like(), j_full)
        } else {
            let k = FRACTIONS.len() - 1;
            let shifted = |x: &Tensor<2>, dx: &Tensor<2>| {
                Tensor::cat(
                    FRACTIONS[1..]
                        .iter()
                        .map(|&c| x.clone() + dx.clone().mul_scalar(c))
                        .collect(),
                    0,
                )
            };
            let jk = self
                .objective(shifted(m, &newton.dm), shifted(u, &newton.du), k)
                .reshape([k * n, 1]);
            let mut fraction = m.zeros_like();
            let mut chosen = j0;
            for (i, &c) in FRACTIONS[1..].iter().enumerate().rev() {
                let ji = jk.clone().slice(i * n..(i + 1) * n);
                let ok = acceptable(&ji);
                fraction = fraction.mask_fill(ok.clone(), c);
                chosen = chosen.mask_where(ok, ji);
            }
            (
                fraction.mask_fill(full_ok.clone(), 1.0),
                chosen.mask_where(full_ok, j_full),
            )
        };
        // Only where `q` is lower beyond rounding: where the two differ by less (the step is
        // within f32 of `q`), jumping there and stepping away again would cycle forever.
        let at_prev = (self.j_prev.clone() + slack).lower(chosen);
        (fraction, at_prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::host_f64 as host;
    use burn::tensor::{Device, TensorData};

    /// Forward KL between diagonal Gaussians, written inline (independent of any plugin).
    fn kl(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        let vq = q.std.clone().square();
        ((p.std.clone().square() + (p.mean.clone() - q.mean.clone()).square()) / vq
            + (q.std.clone() / p.std.clone()).log().mul_scalar(2.0)
            - 1.0)
            .sum_dim(1)
            .squeeze_dim(1)
            .mul_scalar(0.5)
    }

    /// ½ W2² between diagonal Gaussians, written inline.
    fn half_w2(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        ((p.mean.clone() - q.mean.clone()).square() + (p.std.clone() - q.std.clone()).square())
            .sum_dim(1)
            .squeeze_dim(1)
            .mul_scalar(0.5)
    }

    /// A grid of previous beliefs and observations: means and observations in `[−2, 2]`,
    /// stds in `[0.1, 3]`, one coordinate per combination.
    fn grid(device: &Device) -> (DiagGaussian, Tensor<2>, Vec<[f64; 3]>) {
        let mut cases = Vec::new();
        for &m in &[-2.0, 0.0, 0.7] {
            for &s in &[0.1, 0.5, 1.0, 3.0] {
                for &y in &[-2.0, 0.0, 0.3, 2.0] {
                    cases.push([m, s, y]);
                }
            }
        }
        let d = cases.len();
        let col = |i: usize| -> Tensor<2> {
            let v: Vec<f32> = cases.iter().map(|c| c[i] as f32).collect();
            Tensor::from_data(TensorData::new(v, [1, d]), device)
        };
        (
            DiagGaussian {
                mean: col(0),
                std: col(1),
            },
            col(2),
            cases,
        )
    }

    #[test]
    fn reproduces_the_kl_closed_form_bayes_rule() {
        let device = Device::flex();
        let (prev, y, cases) = grid(&device);
        let options = SolverOptions {
            start: Start::Previous,
            ..SolverOptions::default()
        };
        for alpha in [0.01, 0.3, 1.0, 7.0, 100.0] {
            let (p, report) = solve(&kl, &prev, &y, alpha, &options).unwrap();
            assert!(report.converged, "α = {alpha}: {report:?}");
            let (m, s) = (host(p.mean), host(p.std));
            for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
                // Bayes: ρ = 1/s_q² + α, m = (m_q/s_q² + α y)/ρ.
                let rho = 1.0 / (sq * sq) + alpha;
                let mean = (mq / (sq * sq) + alpha * yk) / rho;
                // 1e-5: the tolerance of the issue; the f32 fixed point is ~1e-7 accurate.
                approx::assert_relative_eq!(m[k], mean, epsilon = 1e-5, max_relative = 1e-5);
                approx::assert_relative_eq!(s[k], rho.sqrt().recip(), max_relative = 1e-5);
            }
        }
    }

    #[test]
    fn reproduces_the_w2_closed_form() {
        let device = Device::flex();
        let (prev, y, cases) = grid(&device);
        for start in [Start::Previous, Start::Bayes] {
            let options = SolverOptions {
                start,
                ..SolverOptions::default()
            };
            for alpha in [0.01, 0.3, 1.0, 7.0, 100.0] {
                let (p, report) = solve(&half_w2, &prev, &y, alpha, &options).unwrap();
                assert!(report.converged, "α = {alpha}: {report:?}");
                let (m, s) = (host(p.mean), host(p.std));
                let w = alpha / (1.0 + alpha);
                for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
                    // m = (1 − w) m_q + w y, s = (1 − w) s_q; 1e-5 as above.
                    let mean = (1.0 - w) * mq + w * yk;
                    approx::assert_relative_eq!(m[k], mean, epsilon = 1e-5, max_relative = 1e-5);
                    approx::assert_relative_eq!(s[k], (1.0 - w) * sq, max_relative = 1e-5);
                }
            }
        }
    }

    #[test]
    fn solves_a_divergence_known_only_by_its_value() {
        // D₁ = (m_p − m_q)⁴/4 + (s_p − s_q)² : no closed-form step; optimality conditions
        // α(m − y) + (m − m_q)³ = 0 and α s + 2(s − s_q) = 0 are checked on the result.
        let quartic = |p: &DiagGaussian, q: &DiagGaussian| -> Tensor<1> {
            ((p.mean.clone() - q.mean.clone())
                .powi_scalar(4)
                .mul_scalar(0.25)
                + (p.std.clone() - q.std.clone()).square())
            .sum_dim(1)
            .squeeze_dim(1)
        };
        let device = Device::flex();
        let (prev, y, cases) = grid(&device);
        for alpha in [0.1, 1.0, 10.0] {
            let (p, report) = solve(&quartic, &prev, &y, alpha, &SolverOptions::default()).unwrap();
            assert!(report.converged, "α = {alpha}: {report:?}");
            let (m, s) = (host(p.mean), host(p.std));
            for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
                let stationarity = alpha * (m[k] - yk) + (m[k] - mq).powi(3);
                // Residual of an f32 solution: terms of size ≤ α·4 + 64, rounded at 1e-7.
                assert!(stationarity.abs() < 1e-4 * (1.0 + alpha), "{stationarity}");
                let s_star = 2.0 * sq / (alpha + 2.0);
                approx::assert_relative_eq!(s[k], s_star, max_relative = 1e-5);
            }
        }
    }

    #[test]
    fn a_failing_coordinate_does_not_stop_the_others() {
        // One coordinate with a NaN previous mean (its objective is NaN): it fails and the
        // solve reports no convergence, but every other coordinate still reaches Bayes' rule
        // (the solver once stopped the whole batch at the first non-finite step).
        let device = Device::flex();
        let (prev, y, cases) = grid(&device);
        let bad = 5;
        let mut means: Vec<f32> = cases.iter().map(|c| c[0] as f32).collect();
        means[bad] = f32::NAN;
        let prev = DiagGaussian {
            mean: Tensor::from_data(TensorData::new(means, [1, cases.len()]), &device),
            std: prev.std,
        };
        let alpha = 7.0;
        let options = SolverOptions {
            start: Start::Previous,
            ..SolverOptions::default()
        };
        let (p, report) = solve(&kl, &prev, &y, alpha, &options).unwrap();
        assert!(!report.converged, "{report:?}");
        let (m, s) = (host(p.mean), host(p.std));
        for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
            if k == bad {
                continue;
            }
            let rho = 1.0 / (sq * sq) + alpha;
            approx::assert_relative_eq!(
                m[k],
                (mq / (sq * sq) + alpha * yk) / rho,
                epsilon = 1e-5,
                max_relative = 1e-5
            );
            approx::assert_relative_eq!(s[k], rho.sqrt().recip(), max_relative = 1e-5);
        }
    }

    #[test]
    fn a_step_without_minimiser_collapses_to_the_point_mass() {
        // Squared Hellinger is at most 1: with q = N(0, 0.05²), y = 1 and α = 40, moving the
        // mean to y saves α/2 = 20 and costs at most 1, and there the overlap with q is
        // e^{−100}, so α s²/2 drives s → 0: the infimum is the point mass at y. The second
        // coordinate (y = 0.01, inside q) has a proper minimiser.
        let hellinger = |p: &DiagGaussian, q: &DiagGaussian| -> Tensor<1> {
            let v = p.std.clone().square() + q.std.clone().square();
            let bc = (p.std.clone() * q.std.clone()).mul_scalar(2.0) / v.clone();
            let overlap =
                bc.sqrt() * ((p.mean.clone() - q.mean.clone()).square() / v.mul_scalar(-4.0)).exp();
            overlap.neg().add_scalar(1.0).sum_dim(1).squeeze_dim(1)
        };
        let device = Device::flex();
        let row =
            |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, 2]), &device);
        let prev = DiagGaussian {
            mean: row([0.0, 0.0]),
            std: row([0.05, 0.05]),
        };
        let (p, report) = solve(
            &hellinger,
            &prev,
            &row([1.0, 0.01]),
            40.0,
            &SolverOptions::default(),
        )
        .unwrap();
        assert_eq!(report.collapsed, 1, "{report:?}");
        assert!(report.converged, "{report:?}");
        assert!(report.iterations < 60, "{report:?}");
        let (m, s) = (host(p.mean), host(p.std));
        // At y to the f32 resolution of the point mass's mean, s below 10⁻⁶ s_q.
        approx::assert_relative_eq!(m[0], 1.0, max_relative = 1e-5);
        assert!(s[0] < 1e-6 * 0.05, "{s:?}");
        assert!(s[1] > 0.01, "{s:?}");
    }

    #[test]
    fn rejects_bad_input_and_handles_infinite_accuracy() {
        let device = Device::flex();
        let (prev, y, _) = grid(&device);
        let options = SolverOptions::default();
        assert!(solve(&kl, &prev, &y, 0.0, &options).is_err());
        assert!(solve(&kl, &prev, &y, f64::NAN, &options).is_err());
        let short = y.clone().slice([0..1, 0..3]);
        let err = solve(&kl, &prev, &short, 1.0, &options).unwrap_err();
        assert!(err.to_string().contains("y is [1, 3]"), "{err}");
        let (p, report) = solve(&kl, &prev, &y, f64::INFINITY, &options).unwrap();
        assert!(report.converged);
        assert_eq!(host(p.mean), host(y));
        assert!(host(p.std).iter().all(|&s| s == 0.0));
    }
}
