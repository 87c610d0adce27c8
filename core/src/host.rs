//! Reading tensors back to the host, for checks and reports.

use crate::{GpfnError, Result};
use burn::tensor::Tensor;

/// The values of a float tensor, row-major, as `f64` (whatever its float dtype on the device).
pub fn host_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .expect("a float tensor converted to f64 reads back as f64")
}

/// The values of an `f32` tensor, row-major, as they are: a named error when the tensor holds
/// another dtype (samples are written to `.npy` as `f32` without a conversion).
pub fn host_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let dims = t.dims();
    t.into_data().try_to_vec::<f32>().map_err(|e| {
        GpfnError::Invalid(format!(
            "reading a tensor of shape {:?} back as f32: {e:?}",
            dims
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn reads_values_in_row_major_order() {
        let device = Device::flex();
        let t = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.5], [2, 2]),
            &device,
        );
        assert_eq!(host_f32(t.clone()).unwrap(), vec![1.0, 2.0, 3.0, 4.5]);
        assert_eq!(host_f64(t.transpose()), vec![1.0, 3.0, 2.0, 4.5]);
    }
}
