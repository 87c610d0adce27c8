//! `conv2d` on tensors: the im2col + GEMM kernels of [`crate::host::conv2d`] on flex (with
//! their own backward under autodiff), burn's `conv2d` everywhere else.

use crate::flex::{self, Place};
use crate::host::uninit::overwritten;
use crate::host::{Conv2dShape, conv2d_backward_into, conv2d_forward_into};
use burn::backend::Flex;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchKindConversion, DispatchTensor, GradientCheckpointingStrategy};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

/// `y = conv2d(x, w) + b` for `x: [B, C, H, W]`, `w: [O, C, kh, kw]`, `b: [O]`: gpfn's kernel
/// when every tensor is f32 on flex and the options are one group, no dilation and
/// symmetric padding; `burn::tensor::module::conv2d` otherwise.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    let mut more = vec![flex::key(&weight)];
    if let Some(b) = &bias {
        more.push(flex::key(b));
    }
    let shape = supported_shape(&x, &weight, &options);
    let place = flex::place(&x, &more);
    match (place, shape) {
        (Place::Flex, Some(s)) => {
            let x = flex::contiguous(flex::into_flex(x));
            let w = flex::contiguous(flex::into_flex(weight));
            let b = bias.map(|b| flex::contiguous(flex::into_flex(b)));
            flex::from_flex(forward(&s, &x, &w, b.as_ref()))
        }
        (Place::FlexAutodiff(GradientCheckpointingStrategy::Balanced), Some(s)) => {
            autodiff::<BalancedCheckpointing>(s, x, weight, bias)
        }
        (Place::FlexAutodiff(_), Some(s)) => autodiff::<NoCheckpointing>(s, x, weight, bias),
        _ => burn::tensor::module::conv2d(x, weight, bias, options),
    }
}

/// [`conv2d`] with a burn `Conv2d` module's parameters and options; `Same` padding (which
/// depends on the input size) takes the module's own `forward`.
pub fn conv2d_module(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let ((top, bottom), (left, right)) = match conv.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
        PaddingConfig2d::Same => return conv.forward(x),
    };
    let options = ConvOptions::new_with_padding(
        conv.stride,
        [(top, bottom), (left, right)],
        conv.dilation,
        conv.groups,
    );
    conv2d(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        options,
    )
}

/// The kernel's shape for these tensors and options, if it takes them.
fn supported_shape(x: &Tensor<4>, w: &Tensor<4>, o: &ConvOptions<2>) -> Option<Conv2dShape> {
    let [batch, c_in, h, wd] = x.dims();
    let [c_out, wc, kh, kw] = w.dims();
    let symmetric = o.padding.iter().all(|(a, b)| a == b);
    if o.groups != 1 || o.dilation != [1, 1] || !symmetric || wc != c_in {
        return None;
    }
    let s = Conv2dShape {
        batch,
        c_in,
        input: [h, wd],
        c_out,
        kernel: [kh, kw],
        stride: o.stride,
        padding: [o.padding[0].0, o.padding[1].0],
    };
    s.is_valid().then_some(s)
}

fn forward(s: &Conv2dShape, x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>) -> FlexTensor {
    let [ho, wo] = s.output();
    // SAFETY: `conv2d_forward_into` writes every value of its output.
    let y = unsafe {
        overwritten(s.batch * s.c_out * ho * wo, |y| {
            conv2d_forward_into(s, flex::values(x), flex::values(w), b.map(flex::values), y)
        })
    };
    flex::tensor(y, &[s.batch, s.c_out, ho, wo])
}

/// The autodiff node: parents `[x, w]` or `[x, w, b]`; the state keeps `x` and `w`.
#[derive(Debug)]
struct Conv2dBackward<const N: usize> {
    shape: Conv2dShape,
}

impl<const N: usize> Backward<Flex, N> for Conv2dBackward<N> {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = self.shape;
        let dy = flex::contiguous(grads.consume::<Flex>(&ops.node));
        let (x, w) = ops.state;
        let parents = ops.parents;
        let dx_len = s.batch * s.c_in * s.input[0] * s.input[1];
        let mut dx = parents[0]
            .as_ref()
            .map(|_| Vec::<f32>::with_capacity(dx_len));
        let mut dw = parents[1]
            .as_ref()
            .map(|_| vec![0.0f32; flex::values(&w).len()]);
        let mut db = parents
            .get(2)
            .and_then(|p| p.as_ref())
            .map(|_| vec![0.0f32; s.c_out]);
        conv2d_backward_into(
            &s,
            flex::values(&x),
            flex::values(&w),
            flex::values(&dy),
            dx.as_mut().map(|v| &mut v.spare_capacity_mut()[..dx_len]),
            dw.as_deref_mut(),
            db.as_deref_mut(),
        );
        if let Some(v) = dx.as_mut() {
            // SAFETY: `conv2d_backward_into` wrote every value of `dx`.
            unsafe { v.set_len(dx_len) };
        }
        if let (Some(p), Some(v)) = (&parents[0], dx) {
            grads.register::<Flex>(p.id, flex::tensor(v, &flex::dims(&x)));
        }
        if let (Some(p), Some(v)) = (&parents[1], dw) {
            grads.register::<Flex>(p.id, flex::tensor(v, &flex::dims(&w)));
        }
        if let (Some(Some(p)), Some(v)) = (parents.get(2), db) {
            grads.register::<Flex>(p.id, flex::tensor(v, &[s.c_out]));
        }
    }
}

fn autodiff<C: CheckpointStrategy>(
    s: Conv2dShape,
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    type Ad<C> = FloatTensor<Autodiff<Flex, C>>;
    let x: Ad<C> = flex::into_autodiff::<C, 4>(x);
    let w: Ad<C> = flex::into_autodiff::<C, 4>(weight);
    let b: Option<Ad<C>> = bias.map(flex::into_autodiff::<C, 1>);
    let (xp, xn) = x.into_parts();
    let (wp, wn) = w.into_parts();
    let xp = flex::contiguous(xp);
    let wp = flex::contiguous(wp);
    let out = match b {
        Some(b) => {
            let (bp, bn) = b.into_parts();
            let bp = flex::contiguous(bp);
            let y = forward(&s, &xp, &wp, Some(&bp));
            match (Conv2dBackward::<3> { shape: s })
                .prepare::<C>([xn, wn, bn])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((xp, wp), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
        None => {
            let y = forward(&s, &xp, &wp, None);
            match (Conv2dBackward::<2> { shape: s })
                .prepare::<C>([xn, wn])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((xp, wp), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    };
    flex::from_autodiff::<C, 4>(out)
}
