//! The kernels on host slices of f32, independent of burn: what runs when a tensor lives on
//! flex. Each file states the equations it implements.

pub mod add;
pub mod conv2d;
mod conv2d_common;
mod conv2d_rows;
pub mod conv2d_winograd;
pub mod group_norm_silu;

pub use conv2d::{
    Conv2dShape, conv2d_backward, conv2d_backward_into, conv2d_forward, conv2d_forward_into,
};
pub use group_norm_silu::{
    GroupNormAffine, GroupNormAffineGrads, GroupNormShape, GroupNormStats,
    group_norm_silu_backward, group_norm_silu_backward_into, group_norm_silu_forward,
    group_norm_silu_forward_into,
};
pub mod log_sum_exp;
pub mod transpose;
pub mod uninit;
pub use log_sum_exp::{CostShape, lse_columns, lse_rows};
