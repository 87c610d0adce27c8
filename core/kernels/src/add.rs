//! The U-Net's residual addition `a + b` and its time-embedding addition
//! `h + t[:, :, None, None]` on tensors: [`crate::host::add`]'s kernels on the rayon threads on
//! flex (with their own backward under autodiff), burn's operators elsewhere. The values are
//! burn's to the bit (one rounding per sum either way); the gradient of `t`, a sum over each
//! plane, is summed in plane order.

use crate::flex::{self, Place};
use crate::host::add::{add_into, add_per_plane_into, sum_per_plane};
use crate::host::uninit::overwritten;
use burn::backend::Flex;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{DispatchKindConversion, DispatchTensor, GradientCheckpointingStrategy};
use burn::tensor::Tensor;

/// `a + b` for two tensors of one shape (burn's broadcasting addition for any other pair).
pub fn add(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    if a.dims() != b.dims() {
        return a + b;
    }
    match flex::place(&a, &[flex::key(&b)]) {
        Place::Flex => {
            let (a, b) = (flex::into_flex(a), flex::into_flex(b));
            flex::from_flex(forward_add(&flex::contiguous(a), &flex::contiguous(b)))
        }
        Place::FlexAutodiff(GradientCheckpointingStrategy::Balanced) => {
            autodiff_add::<BalancedCheckpointing>(a, b)
        }
        Place::FlexAutodiff(_) => autodiff_add::<NoCheckpointing>(a, b),
        Place::Other => a + b,
    }
}

/// `h + t[:, :, None, None]` for `h: [B, C, H, W]` and `t: [B, C]` (burn's broadcasting
/// addition for any other pair of shapes).
pub fn add_per_channel(h: Tensor<4>, t: Tensor<2>) -> Tensor<4> {
    let [b, c, height, width] = h.dims();
    if t.dims() != [b, c] {
        let [tb, tc] = t.dims();
        return h + t.reshape([tb, tc, 1, 1]);
    }
    let pixels = height * width;
    match flex::place(&h, &[flex::key(&t)]) {
        Place::Flex => {
            let (h, t) = (flex::into_flex(h), flex::into_flex(t));
            let y = forward_per_channel(&flex::contiguous(h), &flex::contiguous(t), pixels);
            flex::from_flex(y)
        }
        Place::FlexAutodiff(GradientCheckpointingStrategy::Balanced) => {
            autodiff_per_channel::<BalancedCheckpointing>(h, t, pixels)
        }
        Place::FlexAutodiff(_) => autodiff_per_channel::<NoCheckpointing>(h, t, pixels),
        Place::Other => h + t.reshape([b, c, 1, 1]),
    }
}

fn forward_add(a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let (a_values, b_values) = (flex::values(a), flex::values(b));
    // SAFETY: `add_into` writes every value of its output.
    let y = unsafe { overwritten(a_values.len(), |y| add_into(a_values, b_values, y)) };
    flex::tensor(y, &flex::dims(a))
}

fn forward_per_channel(h: &FlexTensor, t: &FlexTensor, pixels: usize) -> FlexTensor {
    let (h_values, t_values) = (flex::values(h), flex::values(t));
    // SAFETY: `add_per_plane_into` writes every value of its output.
    let y = unsafe {
        overwritten(h_values.len(), |y| {
            add_per_plane_into(h_values, t_values, pixels, y)
        })
    };
    flex::tensor(y, &flex::dims(h))
}

/// The autodiff node of `a + b`: both parents get the output's gradient.
#[derive(Debug)]
struct AddBackward;

impl Backward<Flex, 2> for AddBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let g = grads.consume::<Flex>(&ops.node);
        let [pa, pb] = ops.parents;
        // A clone shares the storage (flex tensors are reference-counted).
        if let Some(p) = pa {
            grads.register::<Flex>(p.id, g.clone());
        }
        if let Some(p) = pb {
            grads.register::<Flex>(p.id, g);
        }
    }
}

/// The autodiff node of `h + t[:, :, None, None]`: `h` gets the output's gradient, `t` its
/// sum over each plane.
#[derive(Debug)]
struct PerChannelBackward {
    pixels: usize,
}

impl Backward<Flex, 2> for PerChannelBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let g = flex::contiguous(grads.consume::<Flex>(&ops.node));
        let [ph, pt] = ops.parents;
        if let Some(p) = pt {
            let dims = flex::dims(&g);
            let mut dt = vec![0.0f32; dims[0] * dims[1]];
            sum_per_plane(flex::values(&g), self.pixels, &mut dt);
            grads.register::<Flex>(p.id, flex::tensor(dt, &dims[..2]));
        }
        if let Some(p) = ph {
            grads.register::<Flex>(p.id, g);
        }
    }
}

fn autodiff_add<C: CheckpointStrategy>(a: Tensor<4>, b: Tensor<4>) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (ap, an) = flex::into_autodiff::<C, 4>(a).into_parts();
    let (bp, bn) = flex::into_autodiff::<C, 4>(b).into_parts();
    let y = forward_add(&flex::contiguous(ap), &flex::contiguous(bp));
    let out = AddBackward
        .prepare::<C>([an, bn])
        .compute_bound()
        .stateless(y);
    flex::from_autodiff::<C, 4>(out)
}

fn autodiff_per_channel<C: CheckpointStrategy>(
    h: Tensor<4>,
    t: Tensor<2>,
    pixels: usize,
) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (hp, hn) = flex::into_autodiff::<C, 4>(h).into_parts();
    let (tp, tn) = flex::into_autodiff::<C, 2>(t).into_parts();
    let y = forward_per_channel(&flex::contiguous(hp), &flex::contiguous(tp), pixels);
    let out = PerChannelBackward { pixels }
        .prepare::<C>([hn, tn])
        .compute_bound()
        .stateless(y);
    flex::from_autodiff::<C, 4>(out)
}
