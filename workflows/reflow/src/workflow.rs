//! Reflow (Liu et al. 2023): straighten a trained flow by training the next one on its own
//! (noise, sample) coupling, and optionally distil it to one step.
//!
//! 1. *Pairs*: the trained run's sampler (deterministic by default: the JKO/Euler chain)
//!    transports recorded prior noise `z₀` to samples `x`; the pairs are written to the folder
//!    `data.dir` of the reflow config (see [`crate::pairs`]).
//! 2. *Reflow*: the reflow config (`[data] name = "reflow-pairs"`) trains a new rectified flow
//!    on `z_t = t x + (1 − t) z₀` with the recorded `z₀` instead of fresh noise. Its paths are
//!    straighter (a lower [`gpfn_rectified_flow::straightness()`]), so few steps lose less.
//! 3. *Distillation* (optional): starting from the reflowed weights, train only at `t = 0`
//!    (`time_sampling = "distill"`): `x̂(z₀, 0) → x`, a one-step generator.

use crate::pairs::{PairsReport, PairsRequest, generate_pairs};
use gpfn_core::sampler::Sampler;
use gpfn_core::{GpfnError, Result};
use gpfn_data::Split;
use gpfn_eval::TrainedRun;
use gpfn_run::config::{Config, toml_string};
use gpfn_run::train::{TrainOptions, TrainSummary, train};
use gpfn_run::{RunFolder, checkpoint};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What `gpfn reflow` does beyond the reflow config.
#[derive(Clone, Debug)]
pub struct ReflowOptions {
    /// The trained run folder that generates the pairs.
    pub source: PathBuf,
    /// Its checkpoint to use (default: the newest).
    pub checkpoint: Option<PathBuf>,
    /// The sampler that generates the pairs (default: the source run's).
    pub sampler: Option<Box<dyn Sampler>>,
    /// Number of pairs (default: the size of the source's training set).
    pub pairs: Option<usize>,
    /// Pairs per shard.
    pub shard_size: usize,
    /// Stop after generating the pairs.
    pub generate_only: bool,
    /// Distil the reflowed model to one step with this many training steps.
    pub distill_steps: Option<u64>,
    /// Resume, progress bar and interruption of the trainings.
    pub train: TrainOptions,
}

/// What `gpfn reflow` did.
#[derive(Debug)]
pub struct ReflowSummary {
    /// The pairs folder.
    pub pairs_dir: PathBuf,
    /// Shards written and kept.
    pub pairs: PairsReport,
    /// The reflow training, unless only pairs were generated.
    pub reflow: Option<(PathBuf, TrainSummary)>,
    /// The distillation, if asked for.
    pub distill: Option<(PathBuf, TrainSummary)>,
}

/// The pairs folder of a reflow config: `data.dir` of its `reflow-pairs` data set.
pub fn pairs_dir(config: &Config) -> Result<PathBuf> {
    let data = serde_json::to_value(&config.data).expect("data config serialises");
    let not_pairs = || GpfnError::Config {
        key: "data.name".into(),
        message: format!(
            "reflow trains on the pairs it generates: set [data] name = \"reflow-pairs\" and \
             dir = \"…\" (got `{}`)",
            data.get("name").and_then(Value::as_str).unwrap_or("?")
        ),
    };
    if data.get("name").and_then(Value::as_str) != Some("reflow-pairs") {
        return Err(not_pairs());
    }
    data.get("dir")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(not_pairs)
}

/// Step 1: generates (or completes) the pairs of `config`'s pairs folder from the trained run
/// `options.source`.
pub fn generate(config: &Config, options: &ReflowOptions) -> Result<(PathBuf, PairsReport)> {
    let dir = pairs_dir(config)?;
    // The teacher keeps its own config (its data folder included) but runs on the reflow
    // config's backend.
    let backend = format!("backend={}", toml_string(&config.backend));
    let teacher = TrainedRun::open(&options.source, options.checkpoint.as_deref(), &[backend])?;
    let sampler = options
        .sampler
        .clone()
        .unwrap_or_else(|| teacher.config.sampler.clone());
    let count = match options.pairs {
        Some(n) => n,
        None => teacher
            .config
            .data
            .load(Split::Train, teacher.config.seed)?
            .len(),
    };
    let request = PairsRequest {
        dir: dir.clone(),
        count,
        shard_size: options.shard_size,
        seed: config.seed,
        checkpoint: teacher.checkpoint.clone(),
    };
    let report = generate_pairs(
        &teacher.config,
        &teacher.network,
        sampler.as_ref(),
        &teacher.shape,
        &request,
        &teacher.device,
    )?;
    Ok((dir, report))
}

/// The distillation config of a reflow config: the same network and data, training only at
/// `t = 0` from the reflowed weights `init`, sampled in one step, in `run.name + "-distill"`.
pub fn distill_config(config: &Config, init: &Path, steps: u64) -> Result<Config> {
    let mut v = serde_json::to_value(config).expect("config serialises");
    let name = v["divergence"]["name"].as_str().unwrap_or("?").to_string();
    if name != "rectified-flow" {
        return Err(GpfnError::Config {
            key: "divergence.name".into(),
            message: format!("distillation needs the rectified-flow divergence, got `{name}`"),
        });
    }
    v["divergence"]["time_sampling"] = Value::from("distill");
    v["sampler"] = serde_json::json!({ "name": "deterministic", "steps": 1 });
    let run = format!("{}-distill", config.run.name);
    v["run"]["name"] = Value::from(run);
    v["train"]["init_from"] = Value::from(init.display().to_string());
    v["train"]["steps"] = Value::from(steps);
    serde_json::from_value(v).map_err(|e| GpfnError::Config {
        key: "divergence".into(),
        message: format!("distillation config: {e}"),
    })
}

/// Generates the pairs, trains the reflow run of `config` and, if asked, distils it.
pub fn run(config: &Config, options: &ReflowOptions) -> Result<ReflowSummary> {
    let (pairs_dir, pairs) = generate(config, options)?;
    let mut summary = ReflowSummary {
        pairs_dir,
        pairs,
        reflow: None,
        distill: None,
    };
    if options.generate_only {
        return Ok(summary);
    }
    let folder = RunFolder::create(config, options.train.resume)?;
    let trained = train(config, &folder, &options.train)?;
    let interrupted = trained.interrupted;
    summary.reflow = Some((folder.path().to_path_buf(), trained));
    if interrupted {
        return Ok(summary);
    }
    if let Some(steps) = options.distill_steps {
        let init = checkpoint::latest(&folder.checkpoints())?.ok_or_else(|| GpfnError::Run {
            path: folder.path().to_path_buf(),
            message: "the reflow run left no checkpoint".into(),
        })?;
        let distill = distill_config(config, &init, steps)?;
        let dfolder = RunFolder::create(&distill, options.train.resume)?;
        let trained = train(&distill, &dfolder, &options.train)?;
        summary.distill = Some((dfolder.path().to_path_buf(), trained));
    }
    Ok(summary)
}
