//! Reflow's (noise, sample) pairs: generated from a trained model, streamed to `.npy` shards,
//! resumable; and the `reflow-pairs` data set that trains on them.
//!
//! A pairs folder holds `pairs.json` (a [`PairsManifest`]) and, for shard `k`,
//! `shard-KKKKK.noise.npy` (the prior noise `z₀`, `[rows, …shape]` float32) and
//! `shard-KKKKK.sample.npy` (the sample `x = sampler(z₀)` the model transports it to). Both
//! files are written atomically, noise first; a shard is complete when its sample file
//! exists, and generation skips complete shards, so an interrupted generation resumes where it
//! stopped. The noise of shard `k` is drawn from the stream `(seed, "reflow/prior", k)`, so a
//! shard regenerated on resume is the one an uninterrupted run would have written.

use gpfn_core::burn::tensor::Device;
use gpfn_core::host::host_f32;
use gpfn_core::rng::Rng;
use gpfn_core::sampler::Sampler;
use gpfn_core::{GpfnError, Result};
use gpfn_data::{DataTable, Dataset, Split};
use gpfn_io as io;
use gpfn_network::Network;
use gpfn_run::config::Config;
use gpfn_run::generate::with_problem;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

gpfn_core::register_plugin!(
    Dataset,
    "reflow-pairs",
    "(noise, sample) pairs written by `gpfn reflow`; trains on the coupled noise; parameter dir"
);

/// What a pairs folder holds (`pairs.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairsManifest {
    /// Shape of one item.
    pub shape: Vec<usize>,
    /// Number of pairs.
    pub count: usize,
    /// Pairs per shard (the last shard may hold fewer).
    pub shard_size: usize,
    /// Seed of the prior noise.
    pub seed: u64,
    /// The checkpoint whose EMA weights generated the samples.
    pub checkpoint: PathBuf,
    /// The sampler that generated them (its config).
    pub sampler: serde_json::Value,
}

impl PairsManifest {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.count.div_ceil(self.shard_size)
    }

    /// Rows of shard `k`.
    pub fn rows(&self, k: usize) -> usize {
        self.shard_size.min(self.count - k * self.shard_size)
    }

    /// Reads `dir/pairs.json`.
    pub fn read(dir: &Path) -> Result<PairsManifest> {
        let path = dir.join("pairs.json");
        let text = std::fs::read_to_string(&path).map_err(|e| GpfnError::io(&path, e))?;
        let manifest: PairsManifest = serde_json::from_str(&text).map_err(|e| GpfnError::Data {
            path: path.clone(),
            message: format!("malformed pairs manifest: {e}"),
        })?;
        manifest
            .check()
            .map_err(|message| GpfnError::Data { path, message })?;
        Ok(manifest)
    }

    /// The manifest's numbers are usable: non-zero counts, an item size whose shards fit in
    /// memory arithmetic (`shard_size · Π shape` does not overflow).
    fn check(&self) -> std::result::Result<(), String> {
        if self.count == 0 || self.shard_size == 0 {
            return Err(format!(
                "count ({}) and shard_size ({}) must both be ≥ 1",
                self.count, self.shard_size
            ));
        }
        if self.shape.is_empty() || self.shape.contains(&0) {
            return Err(format!(
                "shape {:?} must be non-empty sizes ≥ 1",
                self.shape
            ));
        }
        io::checked_len(&self.shape)
            .and_then(|n| n.checked_mul(self.shard_size))
            .ok_or_else(|| {
                format!(
                    "shard_size {} × shape {:?} overflows",
                    self.shard_size, self.shape
                )
            })?;
        Ok(())
    }
}

/// `shard-KKKKK.noise.npy` and `shard-KKKKK.sample.npy` of shard `k` in `dir`.
pub fn shard_paths(dir: &Path, k: usize) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("shard-{k:05}.noise.npy")),
        dir.join(format!("shard-{k:05}.sample.npy")),
    )
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct PairsRequest {
    /// The pairs folder.
    pub dir: PathBuf,
    /// Number of pairs.
    pub count: usize,
    /// Pairs per shard (and per sampler batch).
    pub shard_size: usize,
    /// Seed of the prior noise.
    pub seed: u64,
    /// The checkpoint the network was loaded from (recorded in the manifest).
    pub checkpoint: PathBuf,
}

/// What a generation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairsReport {
    /// Shards written by this call.
    pub written: usize,
    /// Complete shards found and kept.
    pub skipped: usize,
}

/// Generates the pairs of `request`: for each shard missing from the folder, prior noise
/// `z₀` and the samples `sampler(z₀)` of `network` under `config` (the trained run's config).
pub fn generate_pairs(
    config: &Config,
    network: &Network,
    sampler: &dyn Sampler,
    shape: &[usize],
    request: &PairsRequest,
    device: &Device,
) -> Result<PairsReport> {
    if request.count == 0 || request.shard_size == 0 {
        return Err(GpfnError::Config {
            key: "pairs".into(),
            message: "the number of pairs and the shard size must be positive".into(),
        });
    }
    let family = config.belief_family()?;
    if !family.has_particle() {
        return Err(GpfnError::Config {
            key: "belief.name".into(),
            message: format!(
                "reflow pairs each sample with its prior noise; belief family `{}` has no particle",
                family.name()
            ),
        });
    }
    let manifest = PairsManifest {
        shape: shape.to_vec(),
        count: request.count,
        shard_size: request.shard_size,
        seed: request.seed,
        checkpoint: request.checkpoint.clone(),
        sampler: serde_json::to_value(sampler)
            .map_err(|e| GpfnError::Invalid(format!("sampler config: {e}")))?,
    };
    let dir = &request.dir;
    if dir.join("pairs.json").exists() {
        let old = PairsManifest::read(dir)?;
        if old != manifest {
            return Err(GpfnError::Run {
                path: dir.clone(),
                message: format!(
                    "holds pairs generated with other settings ({}); pick another folder or \
                     delete this one",
                    manifest_difference(&old, &manifest)
                ),
            });
        }
    } else {
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        io::atomic_write(&dir.join("pairs.json"), &json)?;
    }
    let mut report = PairsReport {
        written: 0,
        skipped: 0,
    };
    let dim: usize = shape.iter().product();
    for k in 0..manifest.shards() {
        let (noise_path, sample_path) = shard_paths(dir, k);
        if sample_path.exists() && noise_path.exists() {
            report.skipped += 1;
            continue;
        }
        let rows = manifest.rows(k);
        let mut full = vec![rows];
        full.extend_from_slice(shape);
        let mut prior_rng = Rng::derive(request.seed, "reflow/prior", k as u64);
        let start = family.prior(rows, dim, device, &mut prior_rng)?;
        let noise = host_f32(family.network_input(&start)?)?;
        let samples = with_problem(config, network, shape, rows, device, |problem| {
            let mut rng = Rng::derive(request.seed, "reflow/sampler", k as u64);
            host_f32(sampler.sample_from(problem, start, &mut rng)?)
        })?;
        io::write_npy(&noise_path, &noise, &full)?;
        io::write_npy(&sample_path, &samples, &full)?;
        report.written += 1;
        tracing::info!(
            shard = k,
            of = manifest.shards(),
            rows,
            "reflow pairs written"
        );
    }
    Ok(report)
}

fn manifest_difference(old: &PairsManifest, new: &PairsManifest) -> String {
    let mut d = Vec::new();
    if old.shape != new.shape {
        d.push(format!("shape {:?} ≠ {:?}", old.shape, new.shape));
    }
    if old.count != new.count {
        d.push(format!("count {} ≠ {}", old.count, new.count));
    }
    if old.shard_size != new.shard_size {
        d.push(format!(
            "shard size {} ≠ {}",
            old.shard_size, new.shard_size
        ));
    }
    if old.seed != new.seed {
        d.push(format!("seed {} ≠ {}", old.seed, new.seed));
    }
    if old.checkpoint != new.checkpoint {
        d.push(format!(
            "checkpoint {} ≠ {}",
            old.checkpoint.display(),
            new.checkpoint.display()
        ));
    }
    if old.sampler != new.sampler {
        d.push(format!("sampler {} ≠ {}", old.sampler, new.sampler));
    }
    d.join(", ")
}

/// The `reflow-pairs` data set: the samples of a pairs folder as data, with their prior noise
/// as the paired-noise column the training loss draws the flow from.
///
/// Both splits are the same pairs: reflow has no held-out set (the test split only gives
/// the item shape and the reference cloud of scatter plots, here the teacher's samples).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReflowPairs {
    /// The pairs folder written by `gpfn reflow`.
    pub dir: PathBuf,
}

impl ReflowPairs {
    /// Loads every shard of the folder.
    pub fn load_pairs(&self) -> Result<DataTable> {
        let manifest = PairsManifest::read(&self.dir)?;
        let dim: usize = manifest.shape.iter().product();
        let mut values = Vec::with_capacity(manifest.count * dim);
        let mut noise = Vec::with_capacity(manifest.count * dim);
        for k in 0..manifest.shards() {
            let (noise_path, sample_path) = shard_paths(&self.dir, k);
            if !sample_path.exists() || !noise_path.exists() {
                return Err(GpfnError::Data {
                    path: sample_path,
                    message: format!(
                        "shard {k} of {} is missing: finish generating with `gpfn reflow`",
                        manifest.shards()
                    ),
                });
            }
            let mut full = vec![manifest.rows(k)];
            full.extend_from_slice(&manifest.shape);
            for (path, into) in [(&noise_path, &mut noise), (&sample_path, &mut values)] {
                let (v, shape) = io::read_npy(path)?;
                if shape != full {
                    return Err(GpfnError::Data {
                        path: path.clone(),
                        message: format!("has shape {shape:?}, the manifest says {full:?}"),
                    });
                }
                into.extend(v);
            }
        }
        Ok(DataTable {
            shape: manifest.shape,
            values,
            labels: None,
            noise: Some(noise),
            classes: None,
            binarise: false,
        })
    }
}

#[typetag::serde(name = "reflow-pairs")]
impl Dataset for ReflowPairs {
    fn load(&self, _split: Split, _seed: u64) -> Result<DataTable> {
        self.load_pairs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_with_unusable_numbers_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::json!({
            "shape": [2], "count": 3, "shard_size": 2, "seed": 0,
            "checkpoint": "c", "sampler": {"name": "deterministic"}
        });
        let write = |v: &serde_json::Value| {
            std::fs::write(dir.path().join("pairs.json"), v.to_string()).unwrap();
        };
        write(&good);
        assert_eq!(PairsManifest::read(dir.path()).unwrap().shards(), 2);
        for (key, value, what) in [
            ("shard_size", serde_json::json!(0), "shard_size (0)"),
            ("count", serde_json::json!(0), "count (0)"),
            ("shape", serde_json::json!([0]), "shape [0]"),
            ("shape", serde_json::json!([]), "shape []"),
            ("shape", serde_json::json!([u64::MAX, 2]), "overflows"),
        ] {
            let mut bad = good.clone();
            bad[key] = value;
            write(&bad);
            let e = PairsManifest::read(dir.path()).unwrap_err().to_string();
            assert!(e.contains("pairs.json") && e.contains(what), "{key}: {e}");
        }
    }
}
