//! The entropic particle step: barycentric projection of the entropic plan.

use gpfn_core::burn::tensor::Tensor;
use gpfn_core::ot::{GroundCost, Sinkhorn, mean_cost};
use gpfn_core::{GpfnError, Result};

/// Moves the particles `z: [n, d]` towards the targets `y: [n, d]` by
/// `z_i' = (1 − w) z_i + w T(z_i)`, `T(z_i) = Σ_j P_ij y_j / Σ_j P_ij`, where `P` is the
/// entropic OT plan between the uniform clouds `z` and `y` for the squared-Euclidean cost
/// with `ε = epsilon_rel · mean_ij ‖z_i − y_j‖²` (relative, so that one setting fits any
/// dimension and scale).
pub fn entropic_transport_step(
    z: &Tensor<2>,
    y: &Tensor<2>,
    w: f64,
    solver: &Sinkhorn,
    epsilon_rel: f64,
) -> Result<Tensor<2>> {
    let [n, d] = z.dims();
    if y.dims() != [n, d] {
        return Err(GpfnError::Shape(format!(
            "particles {:?} and targets {:?} differ in shape",
            z.dims(),
            y.dims()
        )));
    }
    let scale = mean_cost(z, y);
    if scale == 0.0 {
        // Every particle already sits on every target: all targets coincide.
        return Ok(z.clone().mul_scalar(1.0 - w) + y.clone().mul_scalar(w));
    }
    let solver = Sinkhorn {
        epsilon: epsilon_rel * scale,
        cost: GroundCost::SquaredEuclidean,
        ..solver.clone()
    };
    let y3: Tensor<3> = y.clone().unsqueeze();
    let sol = solver.solve(&z.clone().unsqueeze(), &y3, None, None)?;
    let t = sol.barycentric_projection(&y3).reshape([n, d]);
    Ok(z.clone().mul_scalar(1.0 - w) + t.mul_scalar(w))
}
