//! A block's pairs: the `lfm-block` data set.
//!
//! Block `l`'s folder (`<run>/data/block-l/`) holds `block.json` (a [`BlockManifest`]) and,
//! for shard `k` of the training rows, `shard-KKKKK.data.npy` (`x_{l−1}`: the training rows
//! pushed through blocks `< l`, `[rows, …shape]` float32) and, for an Ornstein–Uhlenbeck
//! block, `shard-KKKKK.noise.npy` (`x_l = e^{−h} x_{l−1} + √(1 − e^{−2h}) z`, `draws` draws per
//! row, `[draws · rows, …shape]`, draw-major). The noise file is written first, both
//! atomically; a shard is complete when its data file exists. Generation works shard by shard
//! (one shard of the previous block's data in memory at a time); training loads the table.

use gpfn_core::{GpfnError, Result};
use gpfn_data::{DataTable, Dataset, Split};
use gpfn_io as io;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

gpfn_core::register_plugin!(
    Dataset,
    "lfm-block",
    "one Local Flow Matching block's pairs (x_{l−1}, x_l), written by `gpfn lfm train`; parameter dir"
);

/// What a block's data folder holds (`block.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockManifest {
    /// The block, `1..=L + 1`.
    pub block: usize,
    /// Its step `h_l`; `None` for the free block (fresh `N(0, I)` noise every step).
    pub h: Option<f64>,
    /// Shape of one item.
    pub shape: Vec<usize>,
    /// Training rows (before the draws).
    pub count: usize,
    /// Rows per shard.
    pub shard_size: usize,
    /// OU draws per row.
    pub draws: usize,
    /// Seed of the OU noise.
    pub seed: u64,
}

impl BlockManifest {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.count.div_ceil(self.shard_size)
    }

    /// Rows of shard `k`.
    pub fn rows(&self, k: usize) -> usize {
        self.shard_size.min(self.count - k * self.shard_size)
    }

    /// Reads `dir/block.json`.
    pub fn read(dir: &Path) -> Result<BlockManifest> {
        let path = dir.join("block.json");
        let text = std::fs::read_to_string(&path).map_err(|e| GpfnError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| GpfnError::Data {
            path,
            message: format!("malformed block manifest: {e}"),
        })
    }

    /// Writes it, or checks that the folder's manifest is this one.
    pub fn write_or_check(&self, dir: &Path) -> Result<()> {
        if dir.join("block.json").exists() {
            let old = BlockManifest::read(dir)?;
            if &old != self {
                return Err(GpfnError::Run {
                    path: dir.to_path_buf(),
                    message: format!(
                        "holds block data made with other settings ({old:?}, now {self:?}); \
                         delete the LFM run folder to start again"
                    ),
                });
            }
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(self).expect("manifest serialises");
        io::atomic_write(&dir.join("block.json"), &json)
    }
}

/// `shard-KKKKK.data.npy` and `shard-KKKKK.noise.npy` of shard `k` in `dir`.
pub fn shard_paths(dir: &Path, k: usize) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("shard-{k:05}.data.npy")),
        dir.join(format!("shard-{k:05}.noise.npy")),
    )
}

/// Whether every shard of the folder is written.
pub fn complete(dir: &Path) -> Result<bool> {
    if !dir.join("block.json").exists() {
        return Ok(false);
    }
    let m = BlockManifest::read(dir)?;
    Ok((0..m.shards()).all(|k| shard_paths(dir, k).0.exists()))
}

/// Reads shard `k`'s `x_{l−1}` rows.
pub fn read_data_shard(dir: &Path, m: &BlockManifest, k: usize) -> Result<Vec<f32>> {
    let (path, _) = shard_paths(dir, k);
    let (v, shape) = io::read_npy(&path)?;
    let mut full = vec![m.rows(k)];
    full.extend_from_slice(&m.shape);
    if shape != full {
        return Err(GpfnError::Data {
            path,
            message: format!("has shape {shape:?}, the manifest says {full:?}"),
        });
    }
    Ok(v)
}

/// The `lfm-block` data set: a block's `x_{l−1}` as data and, for an OU block, its `x_l` as
/// the paired-noise column the loss draws the path from. Both splits are the same pairs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LfmBlock {
    /// The block's data folder.
    pub dir: PathBuf,
}

impl LfmBlock {
    /// Loads every shard.
    pub fn load_pairs(&self) -> Result<DataTable> {
        let m = BlockManifest::read(&self.dir)?;
        let dim: usize = m.shape.iter().product();
        let mut data = Vec::with_capacity(m.count * dim);
        let mut noise = Vec::with_capacity(m.count * dim * m.draws);
        let mut noise_shards = Vec::new();
        for k in 0..m.shards() {
            let (data_path, noise_path) = shard_paths(&self.dir, k);
            if !data_path.exists() {
                return Err(GpfnError::Data {
                    path: data_path,
                    message: format!(
                        "shard {k} of {} is missing: finish with `gpfn lfm train --resume`",
                        m.shards()
                    ),
                });
            }
            data.extend(read_data_shard(&self.dir, &m, k)?);
            if m.h.is_some() {
                let (v, _) = io::read_npy(&noise_path)?;
                if v.len() != m.rows(k) * dim * m.draws {
                    return Err(GpfnError::Data {
                        path: noise_path,
                        message: "holds the wrong number of values".into(),
                    });
                }
                noise_shards.push(v);
            }
        }
        // Draw-major: draw d of every row, then draw d + 1.
        let mut values = Vec::with_capacity(data.len() * m.draws);
        for d in 0..m.draws {
            values.extend_from_slice(&data);
            if m.h.is_some() {
                for (k, v) in noise_shards.iter().enumerate() {
                    let n = m.rows(k) * dim;
                    noise.extend_from_slice(&v[d * n..(d + 1) * n]);
                }
            }
        }
        Ok(DataTable {
            shape: m.shape,
            values,
            labels: None,
            noise: m.h.is_some().then_some(noise),
            classes: None,
            binarise: false,
        })
    }
}

#[typetag::serde(name = "lfm-block")]
impl Dataset for LfmBlock {
    fn load(&self, _split: Split, _seed: u64) -> Result<DataTable> {
        self.load_pairs()
    }
}
