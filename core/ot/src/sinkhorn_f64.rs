//! Float64 Sinkhorn for one problem on the host: the precise solver behind `gpfn math
//! sinkhorn`.
//!
//! The iteration of [`super::Sinkhorn`] — log-domain updates
//! `f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε)`, `g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε)` with
//! ε-scaling from `max C` — in f64. The tensor solver works in f32, where the potentials carry
//! a rounding error of about `u · max|f|` (`u = 6·10⁻⁸`), so `‖P1 − a‖₁` cannot fall below
//! about `u · max C / ε` (≈ 10⁻⁵ at ε = 0.01 on unit costs): fine for training, too coarse for
//! a calculator whose answers people compare with other solvers. Here the default tolerance is
//! 10⁻⁹.

/// Settings of the float64 solver.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkhornF64 {
    /// Entropic regularisation `ε > 0`.
    pub epsilon: f64,
    /// Stop when `‖P1 − a‖₁ ≤ tolerance` (the column marginal is exact after each `g` update).
    pub tolerance: f64,
    /// Most iterations, ε-scaling ones included.
    pub max_iterations: usize,
}

impl SinkhornF64 {
    /// The default tolerance, `10⁻⁹`.
    pub const TOLERANCE: f64 = 1e-9;
    /// The default iteration cap.
    pub const MAX_ITERATIONS: usize = 100_000;

    /// Solver at `epsilon` with the default tolerance and cap.
    pub fn with_epsilon(epsilon: f64) -> Self {
        SinkhornF64 {
            epsilon,
            tolerance: Self::TOLERANCE,
            max_iterations: Self::MAX_ITERATIONS,
        }
    }
}

/// What [`SinkhornF64::solve`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct SolutionF64 {
    /// The plan `P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε)`, row-major `n × m`.
    pub plan: Vec<f64>,
    /// `⟨P, C⟩`.
    pub cost: f64,
    /// `OT_ε = ⟨a, f⟩ + ⟨b, g⟩` (the dual objective; its exponential term vanishes after the
    /// `g` update).
    pub entropic_cost: f64,
    /// Iterations run.
    pub iterations: usize,
    /// `‖P1 − a‖₁` of the returned plan.
    pub marginal_error: f64,
    /// Whether `marginal_error ≤ tolerance`.
    pub converged: bool,
}

/// `log Σ_k exp(v_k)`.
fn log_sum_exp(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = v.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + v.map(|t| (t - max).exp()).sum::<f64>().ln()
}

/// One Sinkhorn problem: costs `c` (`n × m`) and log-weights.
struct Problem<'a> {
    c: &'a [f64],
    log_a: &'a [f64],
    log_b: &'a [f64],
}

impl Problem<'_> {
    fn m(&self) -> usize {
        self.log_b.len()
    }

    /// `f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε)`.
    fn update_f(&self, g: &[f64], eps: f64) -> Vec<f64> {
        let m = self.m();
        (0..self.log_a.len())
            .map(|i| {
                -eps * log_sum_exp(
                    (0..m).map(move |j| self.log_b[j] + (g[j] - self.c[i * m + j]) / eps),
                )
            })
            .collect()
    }

    /// `g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε)`.
    fn update_g(&self, f: &[f64], eps: f64) -> Vec<f64> {
        let m = self.m();
        (0..m)
            .map(|j| {
                -eps * log_sum_exp(
                    (0..self.log_a.len())
                        .map(move |i| self.log_a[i] + (f[i] - self.c[i * m + j]) / eps),
                )
            })
            .collect()
    }
}

impl SinkhornF64 {
    /// Solves entropic OT between points `x` (`n`) and `y` (`m`) of the same dimension under the
    /// squared Euclidean cost, with weights `a`, `b` (non-negative, each summing to 1; checked
    /// by the caller).
    pub fn solve(&self, x: &[Vec<f64>], y: &[Vec<f64>], a: &[f64], b: &[f64]) -> SolutionF64 {
        let m = y.len();
        let c: Vec<f64> = x
            .iter()
            .flat_map(|xi| {
                y.iter()
                    .map(move |yj| xi.iter().zip(yj).map(|(p, q)| (p - q) * (p - q)).sum())
            })
            .collect();
        let log_a: Vec<f64> = a.iter().map(|w| w.ln()).collect();
        let log_b: Vec<f64> = b.iter().map(|w| w.ln()).collect();
        let p = Problem {
            c: &c,
            log_a: &log_a,
            log_b: &log_b,
        };
        let eps = self.epsilon;
        let mut g = vec![0.0; m];
        let mut iterations = 0;
        // ε-scaling: one iteration per stage of ε₀ = max C, ε₀/2, ε₀/4, … above ε.
        let mut stage = c.iter().copied().fold(0.0, f64::max);
        while stage > eps && iterations + 1 < self.max_iterations {
            g = p.update_g(&p.update_f(&g, stage), stage);
            iterations += 1;
            stage *= 0.5;
        }
        let mut f = p.update_f(&g, eps);
        let mut marginal_error;
        loop {
            g = p.update_g(&f, eps);
            iterations += 1;
            // The next `f` gives this plan's row sums: (P1)_i = a_i exp((f_i − f⁺_i)/ε).
            let next = p.update_f(&g, eps);
            marginal_error = a
                .iter()
                .zip(f.iter().zip(&next))
                .map(|(a, (f, f_next))| a * ((f - f_next) / eps).exp_m1().abs())
                .sum::<f64>();
            if marginal_error <= self.tolerance || iterations >= self.max_iterations {
                break;
            }
            f = next;
        }
        let converged = marginal_error <= self.tolerance;
        if !converged {
            tracing::warn!(
                "float64 Sinkhorn stopped after {iterations} iterations with marginal error \
                 {marginal_error:.3e} > tolerance {:.1e}",
                self.tolerance
            );
        }
        let plan: Vec<f64> = (0..c.len())
            .map(|ij| (log_a[ij / m] + log_b[ij % m] + (f[ij / m] + g[ij % m] - c[ij]) / eps).exp())
            .collect();
        let cost = plan.iter().zip(&c).map(|(p, c)| p * c).sum();
        let entropic_cost = a.iter().zip(&f).map(|(a, f)| a * f).sum::<f64>()
            + b.iter().zip(&g).map(|(b, g)| b * g).sum::<f64>();
        SolutionF64 {
            plan,
            cost,
            entropic_cost,
            iterations,
            marginal_error,
            converged,
        }
    }

    /// The debiased Sinkhorn divergence `S_ε = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b)` and
    /// the solution of the `(a, b)` problem.
    pub fn divergence(
        &self,
        x: &[Vec<f64>],
        y: &[Vec<f64>],
        a: &[f64],
        b: &[f64],
    ) -> (SolutionF64, f64) {
        let xy = self.solve(x, y, a, b);
        let xx = self.solve(x, x, a, a);
        let yy = self.solve(y, y, b, b);
        let s = xy.entropic_cost - 0.5 * (xx.entropic_cost + yy.entropic_cost);
        (xy, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_translation_is_transported_by_the_identity() {
        // y = x + v: the identity plan is optimal, ⟨P, C⟩ = ‖v‖² and S_ε = ‖v‖² exactly.
        let x = vec![vec![0.0, 0.0], vec![1.0, 0.0]];
        let y = vec![vec![0.0, 1.0], vec![1.0, 1.0]];
        let w = [0.5, 0.5];
        let (sol, s) = SinkhornF64::with_epsilon(0.01).divergence(&x, &y, &w, &w);
        assert!(sol.converged && sol.marginal_error <= 1e-9);
        approx::assert_relative_eq!(sol.cost, 1.0, max_relative = 1e-12);
        approx::assert_relative_eq!(s, 1.0, max_relative = 1e-9);
        approx::assert_relative_eq!(sol.plan[0], 0.5, max_relative = 1e-12);
    }
}
