//! The log-domain Sinkhorn updates on tensors: the fused log-sum-exp kernels of
//! [`crate::host::log_sum_exp`] on plain flex, burn's operators elsewhere (autodiff included:
//! the solver's potentials are not differentiated, but a caller may still ask).

use crate::flex::{self, Place};
use crate::host::{CostShape, lse_columns, lse_rows};
use burn::tensor::Tensor;

/// Which index a Sinkhorn update reduces over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// Over `j` (the columns): the `f` update, `[B, n]`.
    Columns,
    /// Over `i` (the rows): the `g` update, `[B, m]`.
    Rows,
}

/// `f_i = −ε log Σ_j exp((v_j − C_ij)/ε + w_j)` (`Reduce::Columns`, `v, w: [B, m]`, result
/// `[B, n]`) or `g_j = −ε log Σ_i exp((v_i − C_ij)/ε + w_i)` (`Reduce::Rows`, `v, w: [B, n]`,
/// result `[B, m]`) for costs `c: [B, n, m]`.
pub fn sinkhorn_update(
    c: &Tensor<3>,
    v: &Tensor<2>,
    log_w: &Tensor<2>,
    epsilon: f64,
    reduce: Reduce,
) -> Tensor<2> {
    let [b, n, m] = c.dims();
    let place = flex::place(c, &[flex::key(v), flex::key(log_w)]);
    if place == Place::Flex {
        let ct = flex::contiguous(flex::into_flex(c.clone()));
        let vt = flex::contiguous(flex::into_flex(v.clone()));
        let wt = flex::contiguous(flex::into_flex(log_w.clone()));
        let (cs, vs, ws) = (flex::values(&ct), flex::values(&vt), flex::values(&wt));
        let eps = epsilon as f32;
        let shape = CostShape { batch: b, n, m };
        let out = match reduce {
            Reduce::Columns => {
                let mut out = vec![0.0f32; b * n];
                lse_rows(&shape, cs, vs, ws, eps, &mut out);
                flex::tensor(out, &[b, n])
            }
            Reduce::Rows => {
                let mut out = vec![0.0f32; b * m];
                lse_columns(&shape, cs, vs, ws, eps, &mut out);
                flex::tensor(out, &[b, m])
            }
        };
        return flex::from_flex(out);
    }
    match reduce {
        Reduce::Columns => {
            let l = (v.clone().unsqueeze_dim::<3>(1) - c.clone()).div_scalar(epsilon)
                + log_w.clone().unsqueeze_dim::<3>(1);
            let mx = l.clone().max_dim(2);
            (mx.clone() + (l - mx).exp().sum_dim(2).log())
                .reshape([b, n])
                .mul_scalar(-epsilon)
        }
        Reduce::Rows => {
            let l = (v.clone().unsqueeze_dim::<3>(2) - c.clone()).div_scalar(epsilon)
                + log_w.clone().unsqueeze_dim::<3>(2);
            let mx = l.clone().max_dim(1);
            (mx.clone() + (l - mx).exp().sum_dim(1).log())
                .reshape([b, m])
                .mul_scalar(-epsilon)
        }
    }
}
