//! Output buffers that the kernels overwrite completely, and so need not be zeroed first:
//! the zero fill of a fresh output was a whole extra pass over memory, 7.4 % of the CPU
//! samples of the reference U-Net's forward pass (docs/benchmarks.md). The kernels write such
//! outputs as `&mut [MaybeUninit<f32>]`, so that no `&mut [f32]` ever points at memory not
//! yet written.

use std::mem::MaybeUninit;

/// An initialised slice seen as one that may not be.
///
/// # Safety
/// Whoever writes through the view writes only initialised values (`MaybeUninit::new`, never
/// `MaybeUninit::uninit`), so that the slice stays initialised for its owner.
pub(crate) unsafe fn as_uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`; the caller keeps the values valid.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// `n` values written by `fill`, without zeroing them first.
///
/// # Safety
/// `fill` writes every one of the `n` values of the slice it is given.
pub unsafe fn overwritten(n: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut values = Vec::<f32>::with_capacity(n);
    fill(&mut values.spare_capacity_mut()[..n]);
    // SAFETY: the capacity is at least n, and `fill` has written all n values (the
    // caller's promise).
    unsafe { values.set_len(n) };
    values
}
