//! The Sinkhorn divergence between two sets of feature vectors, as an evaluation metric.

use super::sinkhorn::Sinkhorn;
use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::{GpfnError, Result};

/// One point cloud `[1, rows, d]` from host rows (f32 or f64), checked: at least one row, all
/// of dimension `d` (`dim`, or the first row's), `d > 0`, finite. Errors name `what[i]`.
pub fn point_cloud<T: Copy + Into<f64>>(
    rows: &[Vec<T>],
    what: &str,
    dim: Option<usize>,
    device: &Device,
) -> Result<Tensor<3>> {
    let Some(first) = rows.first() else {
        return Err(GpfnError::Shape(format!("{what} has no points")));
    };
    let d = dim.unwrap_or(first.len());
    if d == 0 {
        return Err(GpfnError::Shape(format!(
            "{what} has points of dimension 0"
        )));
    }
    let mut v = Vec::with_capacity(rows.len() * d);
    for (i, r) in rows.iter().enumerate() {
        if r.len() != d {
            return Err(GpfnError::Shape(format!(
                "{what}[{i}] has {} coordinates but {d} were expected (row {i} of {what})",
                r.len()
            )));
        }
        if r.iter().any(|&c| !c.into().is_finite()) {
            return Err(GpfnError::Invalid(format!(
                "{what}[{i}] is not finite (row {i} of {what})"
            )));
        }
        v.extend(r.iter().map(|&c| c.into() as f32));
    }
    Ok(Tensor::from_data(
        TensorData::new(v, [1, rows.len(), d]),
        device,
    ))
}

/// `S_ε` between the uniform empirical measures of the rows of `x` and of `y` (e.g.
/// features of generated and of test images), squared-Euclidean cost, solver defaults
/// otherwise. `epsilon` is in the units of the cost (squared feature distances).
pub fn feature_sinkhorn_divergence(
    x: &[Vec<f32>],
    y: &[Vec<f32>],
    epsilon: f64,
    device: &Device,
) -> Result<f64> {
    let xt = point_cloud(x, "x", None, device)?;
    let yt = point_cloud(y, "y", Some(xt.dims()[2]), device)?;
    cloud_divergence(&Sinkhorn::with_epsilon(epsilon), &xt, &yt)
}

/// `S_ε` between the uniform measures of two single point clouds `[1, n, d]` and `[1, m, d]`,
/// read back as one number.
pub fn cloud_divergence(solver: &Sinkhorn, x: &Tensor<3>, y: &Tensor<3>) -> Result<f64> {
    let s = solver.divergence(x, y, None, None)?;
    Ok(s.value.into_scalar::<f32>() as f64)
}
