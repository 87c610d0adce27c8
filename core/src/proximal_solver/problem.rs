//! The per-coordinate problems: objective, derivatives, Newton direction, line search.

use super::DerivativesFn;
use super::Start;
use crate::belief::DiagGaussian;
use burn::tensor::{Bool, Int, Tensor};

/// Step fractions tried by the backtracking line search, largest first.
const FRACTIONS: [f32; 8] = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125];
/// Relative forward-difference steps of the Hessian: `h_m = H_REL · max(s, 0.01)`, `h_u = H_REL`.
/// f32 gradients carry ~1e-7 relative error, so the Hessian is accurate to ~1e-4 relative:
/// enough for Newton's direction, and it does not touch the fixed point (`g = 0`).
const H_REL: f32 = 1e-3;
/// Mean steps are measured in units of `max(s, 0.1)`: f32 resolves an O(1) mean to ~1e-7, so
/// a tolerance of 1e-5 on `|Δm|/s` would be below rounding once `s ≪ 0.1`.
const MEAN_SCALE_FLOOR: f32 = 0.1;
/// Smallest curvature used by the diagonal fallback step.
const MIN_CURVATURE: f32 = 1e-6;

/// The per-coordinate problems, flattened to `[n, 1]` columns on a device without autodiff.
pub(super) struct Problem<'a> {
    pub(super) value: &'a dyn Fn(&DiagGaussian, &DiagGaussian) -> Tensor<1>,
    pub(super) derivatives: DerivativesFn<'a>,
    pub(super) mq: Tensor<2>,
    pub(super) sq: Tensor<2>,
    /// `ln s_q`: the previous belief in the solver's coordinates.
    pub(super) uq: Tensor<2>,
    /// `J` at the previous belief, `[n, 1]` (the line search compares with it).
    pub(super) j_prev: Tensor<2>,
    pub(super) y: Tensor<2>,
    pub(super) alpha: f64,
}

/// A (capped) Newton direction at an iterate.
pub(super) struct Newton {
    pub(super) dm: Tensor<2>,
    pub(super) du: Tensor<2>,
    /// The objective at the iterate, `[n, 1]`.
    pub(super) objective: Tensor<2>,
    /// The full Newton step per coordinate, `max(|Δm|/max(s, 0.1), |Δu|)` (`+∞` for NaN).
    pub(super) step: Tensor<2>,
    /// The largest gradient component per coordinate, `max(|g_m|, |g_u|)`.
    pub(super) gradient: Tensor<2>,
}

impl Newton {
    /// The rows `ix` only.
    pub(super) fn select(self, ix: Tensor<1, Int>) -> Newton {
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
pub(super) struct Derivatives {
    pub(super) objective: Tensor<2>,
    pub(super) gm: Tensor<2>,
    pub(super) gu: Tensor<2>,
    pub(super) h_mm: Tensor<2>,
    pub(super) h_off: Tensor<2>,
    pub(super) h_uu: Tensor<2>,
}

impl<'a> Problem<'a> {
    /// The per-coordinate problems of `prev`, `y` flattened to `[rows · dim, 1]`, off
    /// autodiff, with `J` at the previous belief.
    pub(super) fn new(
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
    pub(super) fn start(&self, start: Start) -> (Tensor<2>, Tensor<2>) {
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
    pub(super) fn keep(
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
    pub(super) fn objective(&self, m: Tensor<2>, u: Tensor<2>, copies: usize) -> Tensor<1> {
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
    pub(super) fn derivatives(&self, m: &Tensor<2>, u: &Tensor<2>) -> Derivatives {
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
    pub(super) fn autodiff_derivatives(&self, m: &Tensor<2>, u: &Tensor<2>) -> Derivatives {
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
    pub(super) fn newton(&self, m: &Tensor<2>, u: &Tensor<2>) -> Newton {
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
    pub(super) fn line_search(
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
