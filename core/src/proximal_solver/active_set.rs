//! The coordinates still iterating, and what retires them.

use super::problem::{Newton, Problem};
use super::{SolverOptions, SolverReport};
use crate::host::host_f64;
use burn::tensor::{Bool, Device, IndexingUpdateOp, Int, Tensor, TensorData};

/// `ln 10⁶`: a coordinate whose `ln s` is this far below `ln s_q` is collapsing to a point
/// mass. A Bayes step shrinks `s` by `(1 + α s_q²)^{−½}`, which needs `α s_q² > 10¹²` to come
/// as far, so no step with a minimiser stops here.
const COLLAPSE_LOG_RATIO: f32 = 13.815_51;

/// The coordinates still iterating. `rows[k]` is the coordinate (of `n`) that row `k` of the
/// problem solves; a coordinate leaves the set when it converges (after its last Newton
/// step), stalls, collapses or fails, and its result goes into `m_out`, `u_out`.
pub(super) struct ActiveSet {
    pub(super) rows: Vec<usize>,
    pub(super) m_out: Tensor<2>,
    pub(super) u_out: Tensor<2>,
    pub(super) failed: usize,
    pub(super) report: SolverReport,
    pub(super) device: Device,
}

impl ActiveSet {
    pub(super) fn new(n: usize, device: &Device) -> ActiveSet {
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
    pub(super) fn retire_converged(
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
    pub(super) fn retire_failed(
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
    pub(super) fn retire_stuck(
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

    pub(super) fn record_residual(&mut self, step: f64, gradient: f64) {
        self.report.max_step = self.report.max_step.max(step);
        self.report.max_gradient = self.report.max_gradient.max(gradient);
    }

    /// Writes rows `local` of `m`, `u` into the outputs at their coordinates `rows[local]`.
    pub(super) fn store(&mut self, local: &[usize], m: &Tensor<2>, u: &Tensor<2>) {
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
pub(super) fn index(ix: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = ix.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(v, [ix.len()]), device)
}

/// Writes rows `local` of `m`, `u` (problem rows) into the outputs at their coordinates
/// `rows[local]`. Each coordinate is written once, into zeros, so adding is assigning (every
/// backend has the additive `select_assign`).
pub(super) fn store(
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
