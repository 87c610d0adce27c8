//! Ground costs `C_ij = c(x_i, y_j)` between two batched point clouds.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Above this many `batch · n · m · d` elements the cost is formed from inner products
/// instead of explicit differences (which would need that much memory).
const DIRECT_LIMIT: usize = 1 << 24;

/// The ground cost of the transport problem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroundCost {
    /// `c(x, y) = ‖x − y‖²` (the default; `OT_0` is then `W2²`).
    #[default]
    SquaredEuclidean,
    /// `c(x, y) = ½‖x − y‖²` (`OT_0 = ½ W2²`, the divergence of the `w2` plugin).
    HalfSquaredEuclidean,
}

impl GroundCost {
    /// The cost matrix `[batch, n, m]` of `x: [batch, n, d]` and `y: [batch, m, d]`.
    ///
    /// Small problems subtract the points directly, `Σ_k (x_ik − y_jk)²`; large ones use
    /// `‖x_i‖² + ‖y_j‖² − 2⟨x_i, y_j⟩` (clamped at 0), whose f32 rounding error is about
    /// `1e-7 (‖x_i‖² + ‖y_j‖²)`.
    pub fn matrix(&self, x: &Tensor<3>, y: &Tensor<3>) -> Tensor<3> {
        let [b, n, d] = x.dims();
        let m = y.dims()[1];
        let squared = if b * n * m * d <= DIRECT_LIMIT {
            let diff = x.clone().unsqueeze_dim::<4>(2) - y.clone().unsqueeze_dim::<4>(1);
            diff.square().sum_dim(3).reshape([b, n, m])
        } else {
            let xx = x.clone().square().sum_dim(2); // [b, n, 1]
            let yy = y.clone().square().sum_dim(2).swap_dims(1, 2); // [b, 1, m]
            let xy = x.clone().matmul(y.clone().swap_dims(1, 2)); // [b, n, m]
            (xx + yy - xy.mul_scalar(2.0)).clamp_min(0.0)
        };
        match self {
            GroundCost::SquaredEuclidean => squared,
            GroundCost::HalfSquaredEuclidean => squared.mul_scalar(0.5),
        }
    }
}
