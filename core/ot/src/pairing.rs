//! Minibatch OT pairing: match each point of one batch with a distinct point of another so
//! that the total squared distance is minimal (the exact OT plan between two uniform batches
//! of equal size is a permutation, see [`super::min_cost_assignment`]).

use super::assignment::min_cost_assignment;
use super::cost::GroundCost;
use burn::tensor::Tensor;
use gpfn_core::{GpfnError, Result};

/// The mean of the squared-Euclidean cost matrix of `x: [n, d]`, `y: [m, d]`, computed as
/// `mean‖x‖² + mean‖y‖² − 2 ⟨mean x, mean y⟩` (no `n × m` matrix).
pub fn mean_cost(x: &Tensor<2>, y: &Tensor<2>) -> f64 {
    let xx = x.clone().square().sum_dim(1).mean().into_scalar::<f32>() as f64;
    let yy = y.clone().square().sum_dim(1).mean().into_scalar::<f32>() as f64;
    let mx = x.clone().mean_dim(0);
    let my = y.clone().mean_dim(0);
    let xy = (mx * my).sum().into_scalar::<f32>() as f64;
    (xx + yy - 2.0 * xy).max(0.0)
}

/// The permutation `σ` minimising `Σ_i ‖x_i − y_{σ(i)}‖²` for `x, y: [n, d]`.
pub fn exact_pairing(x: &Tensor<2>, y: &Tensor<2>) -> Result<Vec<usize>> {
    let [n, d] = x.dims();
    if y.dims() != [n, d] {
        return Err(GpfnError::Shape(format!(
            "pairing needs two batches of the same shape, got {:?} and {:?}",
            x.dims(),
            y.dims()
        )));
    }
    let c = GroundCost::SquaredEuclidean.matrix(&x.clone().unsqueeze(), &y.clone().unsqueeze());
    let host: Vec<f64> = c
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| GpfnError::Invalid(format!("cost matrix is not f32: {e:?}")))?
        .into_iter()
        .map(f64::from)
        .collect();
    min_cost_assignment(&host, n, n)
}
