//! gpfn-cli's integration tests, one module per file, linked into one test binary.
//!
//! Every test binary links burn, its backends and every registered plugin (≈ 100–200 MB
//! each in a test build), so the workspace keeps one binary per crate (docs/ci.md, "Disk").
//! Run one file's tests with `cargo test -p gpfn-cli --test suite guidance::`.
//! `cuda_smoke.rs` stays a binary of its own: scripts/gpu-check.sh builds it alone, in release.

mod cifar10;
mod cli;
mod completion;
mod completion_gaussian;
mod conditional_eval;
mod config;
mod data_sets;
mod eval;
mod guidance;
mod guided_gaussian;
mod math_sinkhorn;
mod plugin_new;
mod wgpu_smoke;

// Shared helpers.
#[cfg(feature = "wgpu")]
mod common;
mod gaussian_toy;
mod process;
