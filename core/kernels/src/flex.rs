//! The bridge between burn's run-time-dispatched `Tensor<D>` and flex's own tensors, through
//! burn's `extension` feature (`Tensor::try_into_primitive` / `from_primitive`).
//!
//! A kernel of this crate runs when every input is an f32 tensor on flex, with or without
//! autodiff; anything else (wgpu, cuda, another float type, inputs on different devices)
//! takes burn's own operator, so the kernels change speed, never which backends work.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Bytes, DispatchDevice, DispatchKindConversion, DispatchTensor, Flex,
    GradientCheckpointingStrategy,
};
use burn::tensor::{DType, Shape, Tensor};

/// Where a set of tensors lives, as far as these kernels care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Plain flex, f32.
    Flex,
    /// Flex under autodiff, f32, with this checkpointing strategy.
    FlexAutodiff(GradientCheckpointingStrategy),
    /// Anything else: burn's own operators.
    Other,
}

fn place_of(device: &burn::tensor::Device, dtype: DType) -> Place {
    if dtype != DType::F32 {
        return Place::Other;
    }
    match device.as_dispatch() {
        DispatchDevice::Flex(_) => Place::Flex,
        DispatchDevice::Autodiff(ad) => match &**ad {
            DispatchDevice::Flex(_) => Place::FlexAutodiff(ad.gradient_checkpointing_strategy()),
            #[allow(unreachable_patterns)]
            _ => Place::Other,
        },
        #[allow(unreachable_patterns)]
        _ => Place::Other,
    }
}

/// The common place of a tensor's device and dtype and of more tensors'; `Other` when they
/// differ.
pub fn place<const D: usize>(first: &Tensor<D>, more: &[(burn::tensor::Device, DType)]) -> Place {
    let p = place_of(&first.device(), first.dtype());
    let autodiff = first.device().is_autodiff();
    for (device, dtype) in more {
        if place_of(device, *dtype) != p || device.is_autodiff() != autodiff {
            return Place::Other;
        }
    }
    p
}

/// `(device, dtype)` of a tensor, for [`place`].
pub fn key<const D: usize>(t: &Tensor<D>) -> (burn::tensor::Device, DType) {
    (t.device(), t.dtype())
}

/// The flex primitive of a tensor known to be on plain flex.
pub fn into_flex<const D: usize>(t: Tensor<D>) -> FlexTensor {
    t.try_into_primitive::<Flex>()
        .expect("checked by `place`: the tensor is an f32 flex tensor")
}

/// A tensor on plain flex from its primitive.
pub fn from_flex<const D: usize>(t: FlexTensor) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(t)
}

/// The autodiff primitive of a tensor known to be on flex under autodiff with strategy `C`.
pub fn into_autodiff<C: CheckpointStrategy, const D: usize>(
    t: Tensor<D>,
) -> FloatTensor<Autodiff<Flex, C>>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    t.try_into_primitive::<Autodiff<Flex, C>>()
        .expect("checked by `place`: the tensor is an f32 flex tensor under autodiff")
}

/// A tensor on flex under autodiff from its primitive.
pub fn from_autodiff<C: CheckpointStrategy, const D: usize>(
    t: FloatTensor<Autodiff<Flex, C>>,
) -> Tensor<D>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    Tensor::from_primitive::<Autodiff<Flex, C>>(t)
}

/// The tensor in row-major order (a copy only when its layout is not already so).
pub fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a contiguous f32 flex tensor.
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (made so by `contiguous`)")
}

/// A flex tensor owning `values` with `shape`.
pub fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    debug_assert_eq!(values.len(), shape.iter().product::<usize>());
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

/// The dimensions of a flex tensor.
pub fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().iter().copied().collect()
}
