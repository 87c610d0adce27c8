//! # gpfn-lfm: Local Flow Matching, a flow trained as a sequence of JKO blocks
//!
//! Local Flow Matching (Xu, Cheng & Xie 2024; reference code `hamrel-cxu/LocalFlowMatching`)
//! trains `L + 1` short flows one after another. With `x_0` the data, block `l = 1..=L` is
//! trained on pairs `(x_{l−1}, x_l)`, `x_l = e^{−h_l} x_{l−1} + √(1 − e^{−2h_l}) z`, one
//! Ornstein–Uhlenbeck step of the data already pushed through blocks `< l`; the last block
//! `L + 1` is free: it pairs `x_L` with independent `N(0, I)` noise. Each block starts from the
//! previous block's weights.
//!
//! **Direction.** The reference's blocks run from data (its `t = 0`) towards noise (its
//! `t = 1`). gpfn's particle flows run from noise at `t = 0` to data at `t = 1`, so block `l`
//! is trained here as a gpfn flow whose *noise end* (`t = 0`) is `x_l` and whose *data end*
//! (`t = 1`) is `x_{l−1}`: gpfn time is `t = 1 − s` with `s` the reference's. Pushing the
//! data through a block is integrating its ODE *backwards*, `t: t_end → 0`
//! ([`push`]); sampling runs the blocks forwards in gpfn time, from `N(0, I)` through block
//! `L + 1`, then `L`, …, down to block 1 ([`workflow::sample`]).
//!
//! * [`settings`]: `[workflow.lfm]`, the step sizes (a list or a geometric rule) and checks;
//! * [`schedule`]: the `trigonometric` schedule, the reference's interpolant on gpfn's path;
//! * [`data`]: the `lfm-block` data set (a block's pairs, in `.npy` shards);
//! * [`push`]: a block's map run backwards (data → noise), NFE counted;
//! * [`workflow`]: training the blocks (resumable), sampling and the exact likelihood.

pub mod data;
pub mod push;
pub mod schedule;
pub mod settings;
pub mod workflow;

pub use settings::{Interpolant, LfmSettings, StepRule};
pub use workflow::{
    BlockNll, LfmNll, LfmTrained, Scoring, nll, nll_maps, sample, sample_maps, train,
};
