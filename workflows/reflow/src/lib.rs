//! # gpfn-reflow: reflow and distillation, workflows on top of a trained Rectified Flow
//!
//! Reflow (Liu et al. 2023) is not part of the `rectified-flow` divergence: it is a workflow
//! built from the public API of `gpfn-run` (load a run, sample it, train a new run) —
//!
//! * [`pairs`]: (noise, sample) pairs from a trained model, streamed to `.npy` shards and
//!   resumable, and the `reflow-pairs` data set that trains on them;
//! * [`workflow`]: pairs → reflow training → optional one-step distillation
//!   (`gpfn reflow`).
//!
//! The divergence, the Heun sampler and the straightness measure stay in
//! `gpfn-rectified-flow`, which depends on `gpfn-core` only.

pub mod pairs;
pub mod workflow;

pub use pairs::{PairsManifest, PairsReport, PairsRequest, ReflowPairs, generate_pairs};
pub use workflow::{ReflowOptions, ReflowSummary, distill_config, run};
