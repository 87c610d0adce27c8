//! # gpfn-run: one experiment, from its config to its checkpoints and samples
//!
//! The layered configuration that picks every plugin by name ([`config`]), the device
//! ([`backend`]), the run folder and its atomic checkpoints ([`run_folder`], [`checkpoint`]),
//! the training loop ([`train`]), sample generation ([`generate`]), the network's prediction
//! read as `x̂` ([`predict`]), class-conditional models and classifier-free guidance
//! ([`condition`]), masked completion ([`complete`]) and the speed benchmark ([`bench`]). The model that training and
//! sampling share, divergence, belief family, schedule and readout, is [`model::FlowModel`].
//!
//! Module order is the dependency order: `bench → train → generate → run_folder →
//! checkpoint`, `config`, `predict` and `model` below them all (`config → model`,
//! `predict → model`); `generate → complete → model`.

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod complete;
pub mod condition;
pub mod config;
pub mod generate;
pub mod holdout;
pub mod model;
pub mod predict;
pub mod run_folder;
pub mod train;

pub use run_folder::RunFolder;
