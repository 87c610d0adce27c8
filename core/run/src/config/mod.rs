//! Configuration: the typed [`Config`] and its layered loading.
//!
//! Layers, lowest first: built-in defaults < `--config FILE` (and the files it `extends`) <
//! `GPFN_*` environment variables (nested keys joined by `__`) < `--set key=value` flags.
//! Plugin sections (`[divergence]`, `[sampler]`, …) pick their plugin by `name`; a layer that
//! changes a section's `name` replaces that section whole.
//!
//! Values from `GPFN_*` variables and `--set` flags are typed by the schema, not by their
//! text: a string field takes `2024`, `nan`, `true` or `1e3` as written, a number field reads
//! them as numbers and refuses `abc` naming the key (see `layers::extract_typed`).

mod layers;

pub use layers::{ConfigSources, Loaded, load, parse_value, toml_string};

use gpfn_core::belief::{BeliefFamily, family_by_name};
use gpfn_core::divergence::{Divergence, check_family};
use gpfn_core::sampler::Sampler;
use gpfn_core::schedule::Schedule;
use gpfn_data::Dataset;
use gpfn_network::NetworkConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The built-in defaults layer.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// A complete, resolved configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The one seed that makes a run reproducible.
    pub seed: u64,
    /// Tensor backend: `flex` (CPU, default), `wgpu` or `cuda`.
    #[serde(deserialize_with = "crate::backend::check_name")]
    pub backend: String,
    /// Where runs are written.
    pub run: RunConfig,
    /// The data set.
    pub data: Box<dyn Dataset>,
    /// The divergence.
    pub divergence: Box<dyn Divergence>,
    /// The belief family (default: the divergence's first supported one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub belief: Option<Box<dyn BeliefFamily>>,
    /// The schedule (default: the divergence's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Box<dyn Schedule>>,
    /// The sampler.
    pub sampler: Box<dyn Sampler>,
    /// The predictor network.
    pub network: Box<dyn NetworkConfig>,
    /// How the network's output is read as `x̂` beyond its target (clipping, BFN's `t_min`).
    #[serde(default)]
    pub output: gpfn_network::OutputConfig,
    /// Training settings.
    pub train: TrainConfig,
    /// Sampling settings.
    pub sample: SampleConfig,
    /// A class-conditional model (`classes`, label `dropout`, default `guidance`); absent,
    /// the model is unconditional, exactly as before the section existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<crate::condition::ConditionConfig>,
    /// How `gpfn eval nll` estimates likelihoods (every key optional; docs/likelihood.md).
    #[serde(default)]
    pub likelihood: gpfn_likelihood::LikelihoodOptions,
}

/// `[run]`: where a run's folder is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Parent folder of run folders.
    pub dir: PathBuf,
    /// Name of this run's folder.
    pub name: String,
}

/// `[train]`: the optimisation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of optimiser steps.
    #[serde(deserialize_with = "gpfn_core::check::at_least_one")]
    pub steps: u64,
    /// Mini-batch size.
    #[serde(deserialize_with = "gpfn_core::check::at_least_one")]
    pub batch_size: usize,
    /// Peak learning rate of Adam.
    #[serde(deserialize_with = "gpfn_core::check::positive")]
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// Cosine decay ends at `lr · final_lr_ratio`.
    #[serde(deserialize_with = "gpfn_core::check::unit")]
    pub final_lr_ratio: f64,
    /// EMA decay of the sampling weights (0 disables EMA).
    #[serde(deserialize_with = "gpfn_core::check::unit_below_one")]
    pub ema_decay: f64,
    /// Gradient-norm clipping threshold (0 disables clipping).
    #[serde(deserialize_with = "gpfn_core::check::non_negative")]
    pub grad_clip: f64,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Keep this many most recent checkpoints.
    #[serde(deserialize_with = "gpfn_core::check::at_least_one")]
    pub keep_checkpoints: usize,
    /// Write a metrics line every this many steps.
    #[serde(deserialize_with = "gpfn_core::check::at_least_one")]
    pub log_every: u64,
    /// Write samples every this many steps (0: only at the end).
    pub sample_every: u64,
    /// How the per-item loss `λ(t)‖x − x̂‖²` is reduced over the data's dimensions: `sum`
    /// (default) or `mean` (the nnaisense BFN code's).
    #[serde(default)]
    pub loss_reduction: LossReduction,
    /// Training rows held out (the last `holdout` of the training split): never trained on,
    /// the reference set of `gpfn eval --against holdout` for choosing hyper-parameters
    /// without the test set (`gpfn_run::holdout`). 0, the default, trains on every row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holdout: usize,
    /// A checkpoint folder whose EMA weights start the model and its EMA (fine-tuning, e.g.
    /// distilling a reflowed model); ignored when `--resume` finds a checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How the squared error is reduced over the data's `d` dimensions (`[train] loss_reduction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossReduction {
    /// `Σ_k (x_k − x̂_k)²`: the per-item loss of the papers' equations.
    #[default]
    Sum,
    /// `(1/d) Σ_k (x_k − x̂_k)²`: what the nnaisense BFN code optimises (`loss.mean()` over
    /// batch and pixels); the same minimiser, `d` times smaller gradients.
    Mean,
}

/// `[sample]`: what `gpfn sample` and periodic sampling draw.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Number of samples.
    #[serde(deserialize_with = "gpfn_core::check::at_least_one")]
    pub count: usize,
}

impl Config {
    /// The belief family in use: the configured one, or the divergence's default.
    pub fn belief_family(&self) -> gpfn_core::Result<Box<dyn BeliefFamily>> {
        let family = match &self.belief {
            Some(b) => b.clone(),
            None => {
                let name = self.divergence.maths().belief_families()[0];
                family_by_name(name, "belief.name")?
            }
        };
        check_family(self.divergence.as_ref(), family.as_ref())?;
        if let Some(c) = family.categorical() {
            c.validate()?;
        }
        Ok(family)
    }

    /// The schedule in use: the configured one, or the divergence's default.
    pub fn schedule(&self) -> Box<dyn Schedule> {
        match &self.schedule {
            Some(s) => s.clone(),
            None => self.divergence.maths().default_schedule(),
        }
    }

    /// Re-reads a config from its TOML form (e.g. a run folder's `config.toml`).
    pub fn from_toml(text: &str) -> gpfn_core::Result<Config> {
        toml::from_str(text).map_err(|e| gpfn_core::GpfnError::Config {
            key: String::new(),
            message: e.to_string(),
        })
    }

    /// How the network's output is read as `x̂`: `network.target` and `[output]`.
    pub fn readout(&self) -> crate::model::Readout {
        crate::model::Readout {
            target: self.network.target(),
            output: self.output,
        }
    }

    /// The model this config describes: its divergence, belief family, schedule and readout,
    /// built once for the loss, the prediction and the samplers.
    pub fn model(&self) -> gpfn_core::Result<crate::model::FlowModel<'_>> {
        let family = self.belief_family()?;
        let data = self.data.typetag_name();
        let categorical = match (family.categorical(), self.data.classes()) {
            (Some(c), classes) => Some(crate::model::CategoricalModel {
                family: c.clone(),
                classes: c.resolve_classes(classes, data)?,
            }),
            (None, Some(k)) => {
                return Err(gpfn_core::GpfnError::Config {
                    key: "belief.name".into(),
                    message: format!(
                        "data set `{data}` is categorical ({k} classes); belief family `{}` models continuous data: use [belief] name = \"categorical\" (with divergence `kl`)",
                        family.name()
                    ),
                });
            }
            (None, None) => None,
        };
        Ok(crate::model::FlowModel {
            divergence: self.divergence.as_ref(),
            family,
            schedule: self.schedule(),
            readout: self.readout(),
            categorical,
            condition: self.condition,
        })
    }

    /// The TOML form of the resolved configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises to TOML")
    }
}
