//! gpfn's own CPU kernels for burn's `flex` backend, where burn itself is the bottleneck.
//!
//! * [`conv2d`]: a 2-D convolution as im2col + one large GEMM per block of images, with its
//!   own input and weight gradients (flex has no convolution backward of its own: burn's
//!   defaults run it as a transposed convolution and a batch/channel-swapped convolution,
//!   the slowest shapes of a training step);
//! * [`group_norm_silu`]: group normalisation and SiLU fused into one pass each way;
//! * [`add`] and [`add_per_channel`]: the U-Net's residual and time-embedding additions on
//!   the rayon threads (flex runs its elementwise operators on the calling thread);
//! * [`sinkhorn_update`]: the log-domain Sinkhorn update as one fused, vectorised
//!   log-sum-exp over the cost matrix (no temporary of its size).
//!
//! Each runs only where every input is an f32 tensor on flex (with or without autodiff);
//! on wgpu, cuda or another float type the same function calls burn's own operators, so
//! results agree across backends as before. docs/benchmarks.md says why each kernel exists
//! and what it gained.

pub mod add;
pub mod conv;
pub mod fast_math;
pub mod flex;
pub mod host;
pub mod norm;
pub mod sinkhorn;

pub use add::{add, add_per_channel};
pub use conv::{conv2d, conv2d_module};
pub use norm::{group_norm_silu, group_norm_silu_module};
pub use sinkhorn::{Reduce, sinkhorn_update};
