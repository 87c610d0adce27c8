//! The `cuda` backend agrees with `flex` (built only with `--features cuda`; needs an NVIDIA
//! GPU, its driver and a CUDA toolkit's libdevice at run time, docs/backends.md).
//!
//! The same comparison as the wgpu smoke test (`common::matches_flex_on_a_tiny_model`): from
//! one flex checkpoint, five training steps on each backend, losses within 1e-3 (relative)
//! and samples within 1e-2. `scripts/gpu-check.sh` runs it on a GPU machine, with
//! `gpfn bench --backend cuda`.
#![cfg(feature = "cuda")]

mod common;

#[test]
fn cuda_matches_flex_on_a_tiny_model() {
    common::matches_flex_on_a_tiny_model(
        "cuda",
        "needs an NVIDIA GPU with its driver (libcuda.so.1) and CUDA_PATH pointing at a CUDA \
         toolkit with nvvm/libdevice/libdevice.10.bc; see docs/backends.md",
    );
}
