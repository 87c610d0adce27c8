//! Log-domain Sinkhorn iterations with ε-scaling, batched over a leading dimension.
//!
//! For weights `a ∈ Δ_n`, `b ∈ Δ_m` and costs `C ∈ R^{n×m}` the dual potentials `f, g` of
//!
//! ```text
//! OT_ε(a, b) = min_{P ∈ Π(a, b)} ⟨P, C⟩ + ε KL(P ‖ a⊗b)
//!            = max_{f, g} ⟨a, f⟩ + ⟨b, g⟩ − ε ⟨a⊗b, exp((f ⊕ g − C)/ε) − 1⟩
//! ```
//!
//! are found by the alternating (block-coordinate ascent) updates
//!
//! ```text
//! f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε),     g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε)
//! ```
//!
//! evaluated with the log-sum-exp trick, so no kernel `exp(−C/ε)` is ever formed and small ε
//! neither underflows nor overflows. The plan is `P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε)`.

use super::cost::GroundCost;
use burn::tensor::{Device, Tensor};
use gpfn_core::{GpfnError, Result};
use gpfn_kernels::{Reduce, sinkhorn_update};

/// Settings of the Sinkhorn solver.
#[derive(Clone, Debug, PartialEq)]
pub struct Sinkhorn {
    /// Entropic regularisation `ε > 0`, in the units of the cost.
    pub epsilon: f64,
    /// Stop when the marginal error `‖P 1 − a‖₁` (the column marginal is exact after each
    /// iteration) is at most this, for every problem of the batch.
    pub tolerance: f64,
    /// Most iterations (ε-scaling ones included). Stopping here unconverged logs a warning.
    pub max_iterations: usize,
    /// ε-scaling: start at `ε₀ = max C` and multiply by this factor (in `(0, 1)`) after each
    /// iteration until `ε` is reached; `0` or `≥ 1` disables the annealing.
    pub scaling: f64,
    /// Check the marginal error every this many iterations (each check reads one number back
    /// from the device).
    pub check_every: usize,
    /// The ground cost.
    pub cost: GroundCost,
}

impl Default for Sinkhorn {
    fn default() -> Self {
        Sinkhorn {
            epsilon: 0.05,
            tolerance: 1e-3,
            max_iterations: 1000,
            scaling: 0.5,
            check_every: 1,
            cost: GroundCost::SquaredEuclidean,
        }
    }
}

/// The result of [`Sinkhorn::solve`]: the dual potentials and what they imply.
#[derive(Clone, Debug)]
pub struct SinkhornSolution {
    /// Cost matrix `C`, `[batch, n, m]`.
    pub cost_matrix: Tensor<3>,
    /// `log a`, `[batch, n]` (weights normalised to mass 1).
    pub log_a: Tensor<2>,
    /// `log b`, `[batch, m]`.
    pub log_b: Tensor<2>,
    /// Potential `f`, `[batch, n]`.
    pub f: Tensor<2>,
    /// Potential `g`, `[batch, m]`; `g` is the last update, so `Pᵀ1 = b` holds exactly.
    pub g: Tensor<2>,
    /// The ε the potentials solve for.
    pub epsilon: f64,
    /// Iterations run (one update of `f` and one of `g` each), ε-scaling included.
    pub iterations: usize,
    /// `max over the batch of ‖P 1 − a‖₁` at the returned potentials.
    pub marginal_error: f64,
    /// Whether `marginal_error ≤ tolerance`.
    pub converged: bool,
}

/// `log Σ exp` along `dim`, keeping the dimension: `M + log Σ exp(L − M)`, `M = max L`.
fn log_sum_exp(l: Tensor<3>, dim: usize) -> Tensor<3> {
    let m = l.clone().max_dim(dim);
    m.clone() + (l - m).exp().sum_dim(dim).log()
}

/// `f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε)`, `[batch, n]` (one fused log-sum-exp pass on
/// flex: [`gpfn_kernels::sinkhorn_update`]).
fn update_f(c: &Tensor<3>, g: &Tensor<2>, log_b: &Tensor<2>, eps: f64) -> Tensor<2> {
    sinkhorn_update(c, g, log_b, eps, Reduce::Columns)
}

/// `g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε)`, `[batch, m]`.
fn update_g(c: &Tensor<3>, f: &Tensor<2>, log_a: &Tensor<2>, eps: f64) -> Tensor<2> {
    sinkhorn_update(c, f, log_a, eps, Reduce::Rows)
}

/// `max_batch ‖P 1 − a‖₁` for the plan of `(f, g)`, given `f⁺ = update_f(g)`: the row sums
/// are `(P 1)_i = a_i exp((f_i − f⁺_i)/ε)`.
fn marginal_error(log_a: &Tensor<2>, f: &Tensor<2>, f_next: &Tensor<2>, eps: f64) -> f64 {
    let ratio = (f.clone() - f_next.clone())
        .div_scalar(eps)
        .exp()
        .sub_scalar(1.0);
    let err = (log_a.clone().exp() * ratio.abs()).sum_dim(1).max();
    err.into_scalar::<f32>() as f64
}

/// Validated, normalised log-weights `[batch, n]`; uniform when `w` is `None`.
fn log_weights(
    w: Option<&Tensor<2>>,
    batch: usize,
    n: usize,
    what: &str,
    device: &Device,
) -> Result<Tensor<2>> {
    let Some(w) = w else {
        return Ok(Tensor::full([batch, n], -(n as f64).ln(), device));
    };
    if w.dims() != [batch, n] {
        return Err(GpfnError::Shape(format!(
            "weights {what} have shape {:?} but the points need [{batch}, {n}]",
            w.dims()
        )));
    }
    let host = w.clone().into_data().try_to_vec::<f32>().map_err(|e| {
        GpfnError::Invalid(format!("weights {what} could not be read as f32: {e:?}"))
    })?;
    if let Some(v) = host.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        return Err(GpfnError::Invalid(format!(
            "weights {what} must be finite and non-negative, got {v}"
        )));
    }
    for (k, row) in host.chunks(n).enumerate() {
        if row.iter().all(|&v| v == 0.0) {
            return Err(GpfnError::Invalid(format!(
                "weights {what} of batch entry {k} are all zero"
            )));
        }
    }
    let w = w.clone().to_device(device);
    Ok((w.clone() / w.sum_dim(1)).log())
}

fn check_points(x: &Tensor<3>, y: &Tensor<3>) -> Result<()> {
    let [bx, n, dx] = x.dims();
    let [by, m, dy] = y.dims();
    if bx != by || dx != dy {
        return Err(GpfnError::Shape(format!(
            "point clouds x {:?} and y {:?} must agree in batch size and point dimension",
            x.dims(),
            y.dims()
        )));
    }
    if n == 0 || m == 0 || bx == 0 {
        return Err(GpfnError::Shape(format!(
            "point clouds must be non-empty, got x {:?} and y {:?}",
            x.dims(),
            y.dims()
        )));
    }
    Ok(())
}

impl Sinkhorn {
    /// The solver with regularisation `epsilon` and default settings otherwise.
    pub fn with_epsilon(epsilon: f64) -> Self {
        Sinkhorn {
            epsilon,
            ..Default::default()
        }
    }

    /// Checks the settings (`ε` and the tolerance positive and finite, at least one iteration,
    /// a scaling in `[0, 1)`); every solve calls it, and a caller may call it early to fail
    /// before expensive work.
    pub fn validate(&self) -> Result<()> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(GpfnError::Invalid(format!(
                "Sinkhorn epsilon must be positive and finite, got {}",
                self.epsilon
            )));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(GpfnError::Invalid(format!(
                "Sinkhorn tolerance must be positive and finite, got {}",
                self.tolerance
            )));
        }
        if self.max_iterations == 0 || self.check_every == 0 {
            return Err(GpfnError::Invalid(
                "Sinkhorn max_iterations and check_every must be at least 1".into(),
            ));
        }
        if !self.scaling.is_finite() || self.scaling < 0.0 {
            return Err(GpfnError::Invalid(format!(
                "Sinkhorn scaling must be in (0, 1) (or 0 to disable), got {}",
                self.scaling
            )));
        }
        Ok(())
    }

    /// Solves the entropic transport problems between `x: [batch, n, d]` with weights `a`
    /// and `y: [batch, m, d]` with weights `b` (`[batch, n]`, `[batch, m]`; non-negative,
    /// normalised to mass 1 here; `None` = uniform).
    pub fn solve(
        &self,
        x: &Tensor<3>,
        y: &Tensor<3>,
        a: Option<&Tensor<2>>,
        b: Option<&Tensor<2>>,
    ) -> Result<SinkhornSolution> {
        self.validate()?;
        check_points(x, y)?;
        let [batch, n, _] = x.dims();
        let m = y.dims()[1];
        let device = x.device();
        let log_a = log_weights(a, batch, n, "a", &device)?;
        let log_b = log_weights(b, batch, m, "b", &device)?;
        let c = self.cost.matrix(x, y);
        self.solve_costs(c, log_a, log_b)
    }

    /// Solves for a given cost matrix `[batch, n, m]` and log-weights (normalised).
    pub fn solve_costs(
        &self,
        c: Tensor<3>,
        log_a: Tensor<2>,
        log_b: Tensor<2>,
    ) -> Result<SinkhornSolution> {
        self.validate()?;
        let eps = self.epsilon;
        let c_max = c.clone().max().into_scalar::<f32>() as f64;
        if !c_max.is_finite() {
            return Err(GpfnError::Invalid(
                "the cost matrix is not finite (are the points finite?)".into(),
            ));
        }
        let mut g = Tensor::<2>::zeros(log_b.dims(), &c.device());
        let mut f;
        let mut iterations = 0;
        // ε-scaling: a few iterations on a coarse-to-fine ladder ε₀ = max C, ε₀ s, ε₀ s², …
        // warm-start the potentials for the target ε.
        if self.scaling > 0.0 && self.scaling < 1.0 {
            let mut stage = c_max;
            while stage > eps && iterations + 1 < self.max_iterations {
                f = update_f(&c, &g, &log_b, stage);
                g = update_g(&c, &f, &log_a, stage);
                iterations += 1;
                stage *= self.scaling;
            }
        }
        f = update_f(&c, &g, &log_b, eps);
        g = update_g(&c, &f, &log_a, eps);
        iterations += 1;
        let err = loop {
            let f_next = update_f(&c, &g, &log_b, eps);
            let at_limit = iterations >= self.max_iterations;
            if iterations % self.check_every == 0 || at_limit {
                let err = marginal_error(&log_a, &f, &f_next, eps);
                if !err.is_finite() {
                    return Err(GpfnError::Invalid(format!(
                        "Sinkhorn produced a non-finite marginal error after {iterations} \
                         iterations (ε = {eps:e}, max cost {c_max:e})"
                    )));
                }
                if err <= self.tolerance || at_limit {
                    break err;
                }
            }
            f = f_next;
            g = update_g(&c, &f, &log_a, eps);
            iterations += 1;
        };
        let converged = err <= self.tolerance;
        if !converged {
            tracing::warn!(
                "Sinkhorn stopped unconverged after {iterations} iterations: marginal error \
                 {err:.3e} > tolerance {:.1e} (ε = {eps:e}); raise max_iterations or ε",
                self.tolerance
            );
        }
        Ok(SinkhornSolution {
            cost_matrix: c,
            log_a,
            log_b,
            f,
            g,
            epsilon: eps,
            iterations,
            marginal_error: err,
            converged,
        })
    }
}

impl Sinkhorn {
    /// Solves the symmetric problems `OT_ε(a, a)` on `x: [batch, n, d]` (weights as in
    /// [`Sinkhorn::solve`]) by the averaged fixed-point update `f ← ½ (f + T(f))`,
    /// `T(f)_i = −ε log Σ_j a_j exp((f_j − C_ij)/ε)` (Feydy et al. 2019), with the same
    /// ε-scaling. Alternating Sinkhorn oscillates between `f` and `g` on these problems and
    /// runs to its cap; the averaged update converges in a few tens of iterations. The
    /// returned solution has `g = T(f)` (its columns exact), and its marginal error is
    /// `‖P1 − a‖₁ = Σ_i a_i |e^{(f_i − T(f)_i)/ε} − 1|`.
    pub fn solve_symmetric(
        &self,
        x: &Tensor<3>,
        a: Option<&Tensor<2>>,
    ) -> Result<SinkhornSolution> {
        self.validate()?;
        check_points(x, x)?;
        let [batch, n, _] = x.dims();
        let log_a = log_weights(a, batch, n, "a", &x.device())?;
        let c = self.cost.matrix(x, x);
        let eps = self.epsilon;
        let c_max = c.clone().max().into_scalar::<f32>() as f64;
        if !c_max.is_finite() {
            return Err(GpfnError::Invalid(
                "the cost matrix is not finite (are the points finite?)".into(),
            ));
        }
        let mut f = Tensor::<2>::zeros(log_a.dims(), &c.device());
        let mut iterations = 0;
        if self.scaling > 0.0 && self.scaling < 1.0 {
            let mut stage = c_max;
            while stage > eps && iterations + 1 < self.max_iterations {
                f = (f.clone() + update_f(&c, &f, &log_a, stage)).mul_scalar(0.5);
                iterations += 1;
                stage *= self.scaling;
            }
        }
        let (err, t) = loop {
            let t = update_f(&c, &f, &log_a, eps);
            iterations += 1;
            let at_limit = iterations >= self.max_iterations;
            if iterations % self.check_every == 0 || at_limit {
                // Far from the fixed point `e^{(f − T(f))/ε}` may overflow f32: an infinite
                // error only means "not yet"; NaN means the potentials are broken.
                let err = marginal_error(&log_a, &f, &t, eps);
                if err.is_nan() {
                    return Err(GpfnError::Invalid(format!(
                        "symmetric Sinkhorn produced a NaN marginal error after {iterations} \
                         iterations (ε = {eps:e}, max cost {c_max:e})"
                    )));
                }
                if err <= self.tolerance || at_limit {
                    break (err, t);
                }
            }
            f = (f + t).mul_scalar(0.5);
        };
        let converged = err <= self.tolerance;
        if !converged {
            tracing::warn!(
                "symmetric Sinkhorn stopped unconverged after {iterations} iterations: marginal \
                 error {err:.3e} > tolerance {:.1e} (ε = {eps:e}); raise max_iterations or ε",
                self.tolerance
            );
        }
        Ok(SinkhornSolution {
            cost_matrix: c,
            log_b: log_a.clone(),
            log_a,
            f,
            g: t,
            epsilon: eps,
            iterations,
            marginal_error: err,
            converged,
        })
    }
}

impl SinkhornSolution {
    /// `log P_ij = log a_i + log b_j + (f_i + g_j − C_ij)/ε`, `[batch, n, m]`.
    pub fn log_plan(&self) -> Tensor<3> {
        let f = self.f.clone().unsqueeze_dim::<3>(2);
        let g = self.g.clone().unsqueeze_dim::<3>(1);
        (f + g - self.cost_matrix.clone()).div_scalar(self.epsilon)
            + self.log_a.clone().unsqueeze_dim::<3>(2)
            + self.log_b.clone().unsqueeze_dim::<3>(1)
    }

    /// The plan `P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε)`, `[batch, n, m]`.
    pub fn plan(&self) -> Tensor<3> {
        self.log_plan().exp()
    }

    /// The transport cost `⟨P, C⟩ = Σ_ij P_ij C_ij` per problem, `[batch]`, without the
    /// entropy term.
    pub fn transport_cost(&self) -> Tensor<1> {
        let b = self.f.dims()[0];
        (self.plan() * self.cost_matrix.clone())
            .sum_dims(&[1, 2])
            .reshape([b])
    }

    /// The entropic cost `OT_ε = ⟨a, f⟩ + ⟨b, g⟩` per problem, `[batch]`: the dual objective
    /// (its exponential term vanishes because `Σ_ij a_i b_j e^{(f_i+g_j−C_ij)/ε} = Σ_j b_j = 1`
    /// after the `g` update), a lower bound of `min ⟨P, C⟩ + ε KL(P ‖ a⊗b)` that equals it
    /// at convergence.
    pub fn entropic_cost(&self) -> Tensor<1> {
        let b = self.f.dims()[0];
        let fa = (self.log_a.clone().exp() * self.f.clone()).sum_dim(1);
        let gb = (self.log_b.clone().exp() * self.g.clone()).sum_dim(1);
        (fa + gb).reshape([b])
    }

    /// The entropic barycentric projection `T(x_i) = Σ_j P_ij y_j / Σ_j P_ij` of `y:
    /// [batch, m, d]`, `[batch, n, d]`. The row weights are
    /// `softmax_j(log b_j + (g_j − C_ij)/ε)`, which do not depend on `f`.
    pub fn barycentric_projection(&self, y: &Tensor<3>) -> Tensor<3> {
        let l = (self.g.clone().unsqueeze_dim::<3>(1) - self.cost_matrix.clone())
            .div_scalar(self.epsilon)
            + self.log_b.clone().unsqueeze_dim::<3>(1);
        let w = (l.clone() - log_sum_exp(l, 2)).exp();
        w.matmul(y.clone())
    }
}
