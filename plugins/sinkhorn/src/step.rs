//! The entropic particle step: barycentric projection of the entropic plan.

use gpfn_core::burn::tensor::Tensor;
use gpfn_core::{GpfnError, Result};
use gpfn_ot::{GroundCost, Sinkhorn, mean_cost};

/// Moves the particles `z: [n, d]` towards the targets `y: [n, d]` by
/// `z_i' = (1 − w) z_i + w T(z_i)`, `T(z_i) = Σ_j P_ij y_j / Σ_j P_ij`, where `P` is the
/// entropic OT plan between the uniform clouds `z` and `y` for the squared-Euclidean cost
/// with `ε = epsilon_rel · mean_ij ‖z_i − y_j‖²` (relative, so that one setting fits any
/// dimension and scale). Rows are transported within consecutive blocks of `block` rows
/// (minibatch OT, as in training; one batched solve), the last block taking the remainder.
pub fn entropic_transport_step(
    z: &Tensor<2>,
    y: &Tensor<2>,
    w: f64,
    solver: &Sinkhorn,
    epsilon_rel: f64,
    block: usize,
) -> Result<Tensor<2>> {
    let [n, d] = z.dims();
    if y.dims() != [n, d] {
        return Err(GpfnError::Shape(format!(
            "particles {:?} and targets {:?} differ in shape",
            z.dims(),
            y.dims()
        )));
    }
    if block == 0 {
        return Err(GpfnError::Invalid("block_size must be at least 1".into()));
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
    let project = |zs: Tensor<2>, ys: Tensor<2>, blocks: usize, size: usize| -> Result<Tensor<2>> {
        let z3 = zs.reshape([blocks, size, d]);
        let y3 = ys.reshape([blocks, size, d]);
        let sol = solver.solve(&z3, &y3, None, None)?;
        Ok(sol.barycentric_projection(&y3).reshape([blocks * size, d]))
    };
    let full = n / block;
    let rest = n - full * block;
    let mut parts = Vec::new();
    if full > 0 {
        let m = full * block;
        parts.push(project(
            z.clone().narrow(0, 0, m),
            y.clone().narrow(0, 0, m),
            full,
            block,
        )?);
    }
    if rest > 0 {
        let start = full * block;
        parts.push(project(
            z.clone().narrow(0, start, rest),
            y.clone().narrow(0, start, rest),
            1,
            rest,
        )?);
    }
    let t = Tensor::cat(parts, 0);
    Ok(z.clone().mul_scalar(1.0 - w) + t.mul_scalar(w))
}
