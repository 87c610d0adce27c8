//! Checkpoints: `checkpoints/step-NNNNNNNN/{model,ema,optimizer}.bpk`, `state.json` and
//! `sha256sums`.
//!
//! A checkpoint is written into a hidden temporary folder and renamed into place only when
//! complete, so a crash or Ctrl-C never leaves a corrupt checkpoint behind. `sha256sums`
//! (the format of `sha256sum`, so `sha256sum -c sha256sums` checks a copy by hand) holds the
//! sum of every other file; loading checks each file against it, so a file damaged later (a
//! truncated copy, a bad disk) is a named error rather than weights read from garbage.

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use gpfn_core::{GpfnError, Result};
use gpfn_network::Network;
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
    let opt = optimizer
        .into_bytes()
        .map_err(|e| err(&tmp, format!("cannot serialise optimizer: {e:?}")))?;
    let files = [
        ("model.bpk", record(model, "model")?),
        ("ema.bpk", record(ema, "EMA weights")?),
        ("optimizer.bpk", opt.to_vec()),
        (
            "state.json",
            serde_json::to_vec_pretty(state).expect("state serialises"),
        ),
    ];
    let mut sums = String::new();
    for (name, bytes) in &files {
        write(&tmp.join(name), bytes)?;
        sums.push_str(&format!("{}  {name}\n", gpfn_io::sha256_hex(bytes)));
    }
    write(&tmp.join(SUMS), sums.as_bytes())?;
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

/// The file of sums in a checkpoint folder.
const SUMS: &str = "sha256sums";

/// Reads `path`, checked against the `sha256sums` of its folder when there is one
/// (checkpoints written before the sums existed have none).
fn read(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| GpfnError::io(path, e))?;
    let sums_path = path.with_file_name(SUMS);
    if !sums_path.exists() {
        return Ok(bytes);
    }
    let sums = std::fs::read_to_string(&sums_path).map_err(|e| GpfnError::io(&sums_path, e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let expected = sums
        .lines()
        .find_map(|l| {
            l.split_once("  ")
                .filter(|(_, n)| *n == name)
                .map(|(h, _)| h)
        })
        .ok_or_else(|| err(path, format!("not listed in {}", sums_path.display())))?;
    let actual = gpfn_io::sha256_hex(&bytes);
    if actual != expected {
        return Err(err(
            path,
            format!(
                "damaged: its SHA-256 is {actual}, not the {expected} recorded in {SUMS} when \
                 the checkpoint was saved ({} bytes now)",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
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
