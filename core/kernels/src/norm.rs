//! `SiLU(GroupNorm(x))` on tensors: the fused kernels of [`crate::host::group_norm_silu`] on
//! flex (with their own backward under autodiff), burn's `GroupNorm` and `silu` elsewhere.

use crate::flex::{self, Place};
use crate::host::uninit::overwritten;
use crate::host::{
    GroupNormAffine, GroupNormAffineGrads, GroupNormShape, GroupNormStats,
    group_norm_silu_backward_into, group_norm_silu_forward_into,
};
use burn::backend::Flex;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{DispatchKindConversion, DispatchTensor, GradientCheckpointingStrategy};
use burn::nn::GroupNorm;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use std::sync::Arc;

/// `SiLU(γ · (x − μ_g)/√(σ²_g + ε) + β)` for `x: [B, C, H, W]` in `groups` groups, `γ, β: [C]`
/// (see [`crate::host::group_norm_silu`] for the equations): fused on flex, burn's
/// `GroupNorm` formula and `silu` elsewhere.
pub fn group_norm_silu(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    groups: usize,
    epsilon: f64,
) -> Tensor<4> {
    let [batch, channels, h, w] = x.dims();
    let shape = GroupNormShape {
        batch,
        channels,
        pixels: h * w,
        groups,
    };
    let fits = shape.is_valid() && gamma.dims() == [channels] && beta.dims() == [channels];
    let place = flex::place(&x, &[flex::key(&gamma), flex::key(&beta)]);
    match (place, fits) {
        (Place::Flex, true) => {
            let x = flex::contiguous(flex::into_flex(x));
            let g = flex::contiguous(flex::into_flex(gamma));
            let b = flex::contiguous(flex::into_flex(beta));
            flex::from_flex(forward(&shape, &x, &g, &b, epsilon).0)
        }
        (Place::FlexAutodiff(GradientCheckpointingStrategy::Balanced), true) => {
            autodiff::<BalancedCheckpointing>(shape, epsilon, x, gamma, beta)
        }
        (Place::FlexAutodiff(_), true) => {
            autodiff::<NoCheckpointing>(shape, epsilon, x, gamma, beta)
        }
        _ => silu(reference(x, gamma, beta, groups, epsilon)),
    }
}

/// [`group_norm_silu`] with a burn `GroupNorm` module's parameters; a module without affine
/// parameters takes burn's path.
///
/// Off flex this is exactly `silu(norm.forward(x))`.
pub fn group_norm_silu_module(norm: &GroupNorm, x: Tensor<4>) -> Tensor<4> {
    match (&norm.gamma, &norm.beta) {
        (Some(g), Some(b)) if flex::place(&x, &[]) != Place::Other => {
            group_norm_silu(x, g.val(), b.val(), norm.num_groups, norm.epsilon)
        }
        _ => silu(norm.forward(x)),
    }
}

/// burn-nn's group normalisation, written out for tensors (the module's own `forward` needs
/// the module).
fn reference(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    groups: usize,
    epsilon: f64,
) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let xg = x.reshape([b, groups, c / groups * h * w]);
    let mean = xg.clone().mean_dim(2);
    let centred = xg - mean;
    let var = centred.clone().square().mean_dim(2);
    let normalised = (centred / var.add_scalar(epsilon).sqrt()).reshape([b, c, h, w]);
    normalised * gamma.reshape([1, c, 1, 1]) + beta.reshape([1, c, 1, 1])
}

/// Output and statistics `(μ, r)`.
fn forward(
    s: &GroupNormShape,
    x: &FlexTensor,
    g: &FlexTensor,
    b: &FlexTensor,
    epsilon: f64,
) -> (FlexTensor, Vec<f32>, Vec<f32>) {
    let mut stats = (Vec::new(), Vec::new());
    // SAFETY: `group_norm_silu_forward_into` writes every value of its output.
    let y = unsafe {
        overwritten(flex::values(x).len(), |y| {
            stats = group_norm_silu_forward_into(
                s,
                flex::values(x),
                GroupNormAffine {
                    gamma: flex::values(g),
                    beta: flex::values(b),
                },
                epsilon,
                y,
            )
        })
    };
    let (mean, rstd) = stats;
    (flex::tensor(y, &flex::dims(x)), mean, rstd)
}

#[derive(Clone, Debug)]
struct Saved {
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: Arc<Vec<f32>>,
    rstd: Arc<Vec<f32>>,
}

/// The autodiff node: parents `[x, γ, β]`.
#[derive(Debug)]
struct GroupNormSiluBackward {
    shape: GroupNormShape,
}

impl Backward<Flex, 3> for GroupNormSiluBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = self.shape;
        let dy = flex::contiguous(grads.consume::<Flex>(&ops.node));
        let st = ops.state;
        let mut dgamma = vec![0.0f32; s.channels];
        let mut dbeta = vec![0.0f32; s.channels];
        // SAFETY: `group_norm_silu_backward_into` writes every value of `dx`.
        let dx = unsafe {
            overwritten(flex::values(&st.x).len(), |dx| {
                group_norm_silu_backward_into(
                    &s,
                    flex::values(&st.x),
                    GroupNormAffine {
                        gamma: flex::values(&st.gamma),
                        beta: flex::values(&st.beta),
                    },
                    GroupNormStats {
                        mean: &st.mean,
                        rstd: &st.rstd,
                    },
                    flex::values(&dy),
                    dx,
                    GroupNormAffineGrads {
                        dgamma: &mut dgamma,
                        dbeta: &mut dbeta,
                    },
                )
            })
        };
        let [px, pg, pb] = ops.parents;
        if let Some(p) = px {
            grads.register::<Flex>(p.id, flex::tensor(dx, &flex::dims(&st.x)));
        }
        if let Some(p) = pg {
            grads.register::<Flex>(p.id, flex::tensor(dgamma, &[s.channels]));
        }
        if let Some(p) = pb {
            grads.register::<Flex>(p.id, flex::tensor(dbeta, &[s.channels]));
        }
    }
}

fn autodiff<C: CheckpointStrategy>(
    s: GroupNormShape,
    epsilon: f64,
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
) -> Tensor<4>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (xp, xn) = flex::into_autodiff::<C, 4>(x).into_parts();
    let (gp, gn) = flex::into_autodiff::<C, 1>(gamma).into_parts();
    let (bp, bn) = flex::into_autodiff::<C, 1>(beta).into_parts();
    let (xp, gp, bp) = (
        flex::contiguous(xp),
        flex::contiguous(gp),
        flex::contiguous(bp),
    );
    let (y, mean, rstd) = forward(&s, &xp, &gp, &bp, epsilon);
    let out = match (GroupNormSiluBackward { shape: s })
        .prepare::<C>([xn, gn, bn])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                x: xp,
                gamma: gp,
                beta: bp,
                mean: Arc::new(mean),
                rstd: Arc::new(rstd),
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    flex::from_autodiff::<C, 4>(out)
}
