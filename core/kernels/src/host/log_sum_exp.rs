//! The log-domain Sinkhorn updates on host slices: one fused, vectorised log-sum-exp per row
//! or per column of the cost matrix.
//!
//! For costs `C: [B, n, m]`, a potential `v` and log-weights `w` over the reduced index,
//!
//! ```text
//! rows:     out[b, i] = −ε log Σ_j exp((v[b, j] − C[b, i, j])/ε + w[b, j])
//! columns:  out[b, j] = −ε log Σ_i exp((v[b, i] − C[b, i, j])/ε + w[b, i])
//! ```
//!
//! evaluated as `M + log Σ exp(z − M)` with `M = max z` (two passes over the matrix, no
//! temporary of its size), the `f` and `g` updates of Sinkhorn's algorithm. Rows are split
//! over the threads one row at a time, columns in runs of 64 columns.

use crate::fast_math::{Kernel, dispatch, exp};
use rayon::prelude::*;

/// The shape of the costs `C: [batch, n, m]`: `batch` problems of `n` rows (`i`) by `m`
/// columns (`j`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostShape {
    /// Problems.
    pub batch: usize,
    /// Rows: the `i` index.
    pub n: usize,
    /// Columns: the `j` index.
    pub m: usize,
}

/// One row's `−ε (M + log Σ_j exp(z_j − M))`, `z_j = (v_j − c_j)/ε + w_j`.
struct RowLse<'a> {
    c: &'a [f32],
    v: &'a [f32],
    w: &'a [f32],
    inv_eps: f32,
    eps: f32,
}

impl Kernel for RowLse<'_> {
    type Output = f32;

    #[inline(always)]
    fn run(self) -> f32 {
        const L: usize = 16;
        let len = self.c.len();
        // Equal lengths up front, so that the loops below carry no bounds checks.
        let (c, v, w, k) = (self.c, &self.v[..len], &self.w[..len], self.inv_eps);
        let mut mx = [f32::NEG_INFINITY; L];
        let mut cz = c
            .chunks_exact(L)
            .zip(v.chunks_exact(L))
            .zip(w.chunks_exact(L));
        for ((cc, vc), wc) in cz.by_ref() {
            for l in 0..L {
                mx[l] = mx[l].max((vc[l] - cc[l]) * k + wc[l]);
            }
        }
        let tail = len / L * L;
        for j in tail..len {
            mx[0] = mx[0].max((v[j] - c[j]) * k + w[j]);
        }
        let m = mx.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        if m == f32::NEG_INFINITY {
            return f32::INFINITY;
        }
        let mut acc = [0.0f32; L];
        for ((cc, vc), wc) in c
            .chunks_exact(L)
            .zip(v.chunks_exact(L))
            .zip(w.chunks_exact(L))
        {
            for l in 0..L {
                acc[l] += exp((vc[l] - cc[l]) * k + wc[l] - m);
            }
        }
        for j in tail..len {
            acc[0] += exp((v[j] - c[j]) * k + w[j] - m);
        }
        let s = acc.iter().sum::<f32>();
        -self.eps * (m + s.ln())
    }
}

/// Columns per task of [`lse_columns`].
const RUN: usize = 64;

/// A run of columns' log-sum-exp over every row.
struct ColumnLse<'a> {
    c: &'a [f32],
    m: usize,
    j0: usize,
    v: &'a [f32],
    w: &'a [f32],
    inv_eps: f32,
    eps: f32,
    out: &'a mut [f32],
}

impl Kernel for ColumnLse<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let width = self.out.len();
        let k = self.inv_eps;
        let mut mx = [f32::NEG_INFINITY; RUN];
        let mx = &mut mx[..width];
        for (i, (&vi, &wi)) in self.v.iter().zip(self.w).enumerate() {
            let row = &self.c[i * self.m + self.j0..i * self.m + self.j0 + width];
            for (mj, &cij) in mx.iter_mut().zip(row) {
                *mj = mj.max((vi - cij) * k + wi);
            }
        }
        let mut sum = [0.0f32; RUN];
        let sum = &mut sum[..width];
        for (i, (&vi, &wi)) in self.v.iter().zip(self.w).enumerate() {
            let row = &self.c[i * self.m + self.j0..i * self.m + self.j0 + width];
            for ((sj, &cij), &mj) in sum.iter_mut().zip(row).zip(mx.iter()) {
                *sj += exp((vi - cij) * k + wi - mj);
            }
        }
        for ((o, &s), &mj) in self.out.iter_mut().zip(sum.iter()).zip(mx.iter()) {
            *o = if mj == f32::NEG_INFINITY {
                f32::INFINITY
            } else {
                -self.eps * (mj + s.ln())
            };
        }
    }
}

/// `out[b, i] = −ε log Σ_j exp((v[b, j] − C[b, i, j])/ε + w[b, j])` for `c: [B, n, m]`,
/// `v, w: [B, m]`, `out: [B, n]`.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn lse_rows(shape: &CostShape, c: &[f32], v: &[f32], w: &[f32], epsilon: f32, out: &mut [f32]) {
    let CostShape { batch, n, m } = *shape;
    assert_eq!(c.len(), batch * n * m, "cost matrix length");
    assert_eq!(
        (v.len(), w.len()),
        (batch * m, batch * m),
        "potential length"
    );
    assert_eq!(out.len(), batch * n, "output length");
    out.par_iter_mut().enumerate().for_each(|(bi, o)| {
        let b = bi / n;
        *o = dispatch(RowLse {
            c: &c[bi * m..(bi + 1) * m],
            v: &v[b * m..(b + 1) * m],
            w: &w[b * m..(b + 1) * m],
            inv_eps: 1.0 / epsilon,
            eps: epsilon,
        });
    });
}

/// `out[b, j] = −ε log Σ_i exp((v[b, i] − C[b, i, j])/ε + w[b, i])` for `c: [B, n, m]`,
/// `v, w: [B, n]`, `out: [B, m]`.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn lse_columns(
    shape: &CostShape,
    c: &[f32],
    v: &[f32],
    w: &[f32],
    epsilon: f32,
    out: &mut [f32],
) {
    let CostShape { batch, n, m } = *shape;
    assert_eq!(c.len(), batch * n * m, "cost matrix length");
    assert_eq!(
        (v.len(), w.len()),
        (batch * n, batch * n),
        "potential length"
    );
    assert_eq!(out.len(), batch * m, "output length");
    out.par_chunks_mut(m).enumerate().for_each(|(b, ob)| {
        ob.par_chunks_mut(RUN).enumerate().for_each(|(r, o)| {
            dispatch(ColumnLse {
                c: &c[b * n * m..(b + 1) * n * m],
                m,
                j0: r * RUN,
                v: &v[b * n..(b + 1) * n],
                w: &w[b * n..(b + 1) * n],
                inv_eps: 1.0 / epsilon,
                eps: epsilon,
                out: o,
            })
        });
    });
}
