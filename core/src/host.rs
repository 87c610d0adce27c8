//! Reading tensors back to the host, for checks and reports.

use burn::tensor::Tensor;

/// The values of a float tensor, row-major, as `f64` (whatever its float dtype on the device).
pub fn host_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .expect("a float tensor converted to f64 reads back as f64")
}
