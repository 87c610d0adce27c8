//! Checkpoints: `checkpoints/step-NNNNNNNN/{model,ema,optimizer}.bpk` and `state.json`.
//!
//! A checkpoint is written into a hidden temporary folder and renamed into place only when
//! complete, so a crash or Ctrl-C never leaves a corrupt checkpoint behind.

use crate::network::Network;
use crate::{GpfnError, Result};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Training state saved beside the weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Number of optimiser steps completed.
    pub step: u64,
    /// Loss of the last logged step (none before the first log line).
    pub loss: Option<f64>,
}

/// What a checkpoint restores.
pub struct Restored {
    /// The trained weights.
    pub model: Network,
    /// The EMA weights.
    pub ema: Network,
    /// The optimiser with its moments.
    pub optimizer: ModuleOptimizer,
    /// Step counter and last loss.
    pub state: TrainState,
}

fn step_dir(root: &Path, step: u64) -> PathBuf {
    root.join(format!("step-{step:08}"))
}

fn err(path: &Path, message: impl Into<String>) -> GpfnError {
    GpfnError::Run {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| GpfnError::io(path, e))?;
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| GpfnError::io(path, e))
}

/// Saves a checkpoint under `root` and prunes all but the newest `keep`.
pub fn save(
    root: &Path,
    model: &Network,
    ema: &Network,
    optimizer: &ModuleOptimizer,
    state: &TrainState,
    keep: usize,
) -> Result<PathBuf> {
    std::fs::create_dir_all(root).map_err(|e| GpfnError::io(root, e))?;
    let target = step_dir(root, state.step);
    let tmp = root.join(format!(
        ".tmp-step-{:08}-{}",
        state.step,
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| GpfnError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| GpfnError::io(&tmp, e))?;
    let record = |m: &Network, what: &str| -> Result<Vec<u8>> {
        m.clone()
            .into_record()
            .into_bytes()
            .map(|b| b.to_vec())
            .map_err(|e| err(&tmp, format!("cannot serialise {what}: {e:?}")))
    };
    write(&tmp.join("model.bpk"), &record(model, "model")?)?;
    write(&tmp.join("ema.bpk"), &record(ema, "EMA weights")?)?;
    let opt = optimizer
        .into_bytes()
        .map_err(|e| err(&tmp, format!("cannot serialise optimizer: {e:?}")))?;
    write(&tmp.join("optimizer.bpk"), &opt)?;
    let json = serde_json::to_vec_pretty(state).expect("state serialises");
    write(&tmp.join("state.json"), &json)?;
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| GpfnError::io(&target, e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| GpfnError::io(&target, e))?;
    let all = list(root)?;
    if all.len() > keep.max(1) {
        for old in &all[..all.len() - keep.max(1)] {
            std::fs::remove_dir_all(old).map_err(|e| GpfnError::io(old, e))?;
        }
    }
    Ok(target)
}

/// Complete checkpoints under `root`, oldest first (temporary folders are ignored).
pub fn list(root: &Path) -> Result<Vec<PathBuf>> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| GpfnError::io(root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step-"))
                && p.join("state.json").exists()
        })
        .collect();
    v.sort();
    Ok(v)
}

/// The newest complete checkpoint, if any.
pub fn latest(root: &Path) -> Result<Option<PathBuf>> {
    Ok(list(root)?.pop())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| GpfnError::io(path, e))
}

fn load_record(path: &Path, into: Network) -> Result<Network> {
    let bytes = burn::tensor::Bytes::from_bytes_vec(read(path)?);
    let record = ModuleRecord::from_bytes(bytes)
        .map_err(|e| err(path, format!("not a weights file: {e:?}")))?;
    into.try_load_record(record).map_err(|e| {
        err(
            path,
            format!("weights do not fit the configured network: {e:?}"),
        )
    })
}

/// Loads only the EMA weights of checkpoint `dir` into `network` (for sampling).
pub fn load_ema(dir: &Path, network: Network) -> Result<Network> {
    load_record(&dir.join("ema.bpk"), network)
}

/// Restores checkpoint `dir` into freshly built `model`/`ema`/`optimizer`.
pub fn restore(
    dir: &Path,
    model: Network,
    ema: Network,
    optimizer: ModuleOptimizer,
) -> Result<Restored> {
    let state: TrainState = serde_json::from_slice(&read(&dir.join("state.json"))?)
        .map_err(|e| err(&dir.join("state.json"), format!("malformed: {e}")))?;
    let model = load_record(&dir.join("model.bpk"), model)?;
    let ema = load_record(&dir.join("ema.bpk"), ema)?;
    let opt_path = dir.join("optimizer.bpk");
    let optimizer = optimizer
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(read(&opt_path)?))
        .map_err(|e| err(&opt_path, format!("malformed optimizer state: {e:?}")))?;
    Ok(Restored {
        model,
        ema,
        optimizer,
        state,
    })
}
