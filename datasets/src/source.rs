//! What the data sets read from files share: rows read on demand ([`RowSource`], the
//! streaming path of the [`super::DataLoader`]), the deterministic held-out split
//! ([`Holdout`]) and the per-feature standardisation of tabular data ([`Standardisation`]).

use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

/// Rows of a data set read on demand (decoded files), for data too large to hold in memory:
/// the [`super::DataLoader`] asks for the rows of batch `k` and reads batch `k + 1` ahead on a
/// background thread.
pub trait RowSource: Debug + Send + Sync {
    /// Number of rows.
    fn len(&self) -> usize;
    /// Whether there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Shape of one item.
    fn shape(&self) -> &[usize];
    /// The rows `idx`, stacked row-major (`idx.len() · Π shape` values). The same indices
    /// always give the same values (the loader's batches stay a pure function of the seed and
    /// the batch number). An unreadable row is an error naming its file.
    fn rows(&self, idx: &[usize]) -> Result<Vec<f32>>;
    /// Class labels of the rows `idx`, where the data set has them.
    fn labels(&self, idx: &[usize]) -> Option<Vec<u8>> {
        let _ = idx;
        None
    }
}

/// The first `n` rows of `source` (a run's training rows without its `train.holdout`).
pub fn head(source: Arc<dyn RowSource>, n: usize) -> Arc<dyn RowSource> {
    if n >= source.len() {
        return source;
    }
    Arc::new(Head { inner: source, n })
}

#[derive(Debug)]
struct Head {
    inner: Arc<dyn RowSource>,
    n: usize,
}

impl RowSource for Head {
    fn len(&self) -> usize {
        self.n
    }
    fn shape(&self) -> &[usize] {
        self.inner.shape()
    }
    fn rows(&self, idx: &[usize]) -> Result<Vec<f32>> {
        self.inner.rows(idx)
    }
    fn labels(&self, idx: &[usize]) -> Option<Vec<u8>> {
        self.inner.labels(idx)
    }
}

/// The rows `range` of `source` read into a table (the held-out rows of a streamed run).
pub fn table_of(source: &dyn RowSource, range: std::ops::Range<usize>) -> Result<super::DataTable> {
    let idx: Vec<usize> = range.collect();
    Ok(super::DataTable {
        shape: source.shape().to_vec(),
        values: source.rows(&idx)?,
        labels: source.labels(&idx),
        noise: None,
        classes: None,
        binarise: false,
    })
}

/// Which items a file-backed data set holds out as its test split (`holdout = 0.1` or
/// `holdout = 500` in `[data]`).
///
/// Each item has a 64-bit key (a hash of its path relative to the folder, or of its row
/// index), and:
/// - a **fraction** `f ∈ [0, 1)` holds out the items whose key falls below `f · 2⁶⁴`, item by
///   item: adding or removing files never moves any other file between the splits;
/// - a **count** `m ≥ 1` holds out the `m` items with the smallest keys: adding a file moves
///   at most one other file (the `m`-th) back into the training split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Holdout {
    /// A fraction in `[0, 1)`.
    Fraction(f64),
    /// A number of items.
    Count(usize),
}

impl Holdout {
    /// Checks the setting (`key` names it in errors).
    pub fn check(&self, key: &str) -> Result<()> {
        match *self {
            Holdout::Fraction(f) if !(0.0..1.0).contains(&f) => Err(GpfnError::Config {
                key: key.into(),
                message: format!("{f}: a fraction of the items in [0, 1), or a count of items ≥ 1"),
            }),
            _ => Ok(()),
        }
    }

    /// Which of the items with `keys` are held out.
    pub fn mask(&self, keys: &[u64]) -> Vec<bool> {
        match *self {
            Holdout::Fraction(f) => {
                // f · 2⁶⁴ in u128, so that f = 0 holds out nothing.
                let cut = (f * 18_446_744_073_709_551_616.0) as u128;
                keys.iter().map(|&k| u128::from(k) < cut).collect()
            }
            Holdout::Count(m) => {
                let mut order: Vec<usize> = (0..keys.len()).collect();
                order.sort_by_key(|&i| (keys[i], i));
                let mut out = vec![false; keys.len()];
                for &i in order.iter().take(m) {
                    out[i] = true;
                }
                out
            }
        }
    }
}

impl Serialize for Holdout {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Holdout::Fraction(f) => s.serialize_f64(f),
            Holdout::Count(m) => s.serialize_u64(m as u64),
        }
    }
}

impl<'de> Deserialize<'de> for Holdout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v >= 1.0 {
            if v.fract() != 0.0 {
                return Err(serde::de::Error::custom(format!(
                    "holdout {v}: a fraction in [0, 1) or a whole number of items"
                )));
            }
            Ok(Holdout::Count(v as usize))
        } else if v >= 0.0 {
            Ok(Holdout::Fraction(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "holdout {v}: a fraction in [0, 1) or a whole number of items"
            )))
        }
    }
}

/// The 64-bit key of `bytes` for [`Holdout`]: FNV-1a, then splitmix64's finaliser so that
/// keys of similar names spread over the whole range. Fixed forever: changing it would move
/// items between the splits of existing runs.
pub fn holdout_key(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64's finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Per-feature standardisation of tabular data: a training value `x_j` is stored as
/// `(x_j − mean_j) / std_j`, with the mean and (population) standard deviation of the
/// training split; a constant feature (`std_j = 0`) keeps `std_j = 1`. A run stores it as
/// `data-stats.json` so that written samples come back in the data's units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardisation {
    /// Per-feature means.
    pub mean: Vec<f64>,
    /// Per-feature standard deviations (> 0).
    pub std: Vec<f64>,
}

/// The file a run keeps its [`Standardisation`] in.
pub const DATA_STATS_FILE: &str = "data-stats.json";

impl Standardisation {
    /// The statistics of the rows of `values` (`d` features each).
    pub fn fit(values: &[f32], d: usize) -> Standardisation {
        let n = values.len() / d.max(1);
        let mut mean = vec![0.0f64; d];
        let mut sq = vec![0.0f64; d];
        for row in values.chunks_exact(d) {
            for (j, &v) in row.iter().enumerate() {
                mean[j] += f64::from(v);
            }
        }
        for m in &mut mean {
            *m /= n.max(1) as f64;
        }
        for row in values.chunks_exact(d) {
            for (j, &v) in row.iter().enumerate() {
                sq[j] += (f64::from(v) - mean[j]).powi(2);
            }
        }
        let std = sq
            .iter()
            .map(|s| {
                let s = (s / n.max(1) as f64).sqrt();
                if s > 0.0 && s.is_finite() { s } else { 1.0 }
            })
            .collect();
        Standardisation { mean, std }
    }

    /// Standardises rows of `values` in place.
    pub fn apply(&self, values: &mut [f32]) {
        let d = self.mean.len();
        for row in values.chunks_exact_mut(d) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = ((f64::from(*v) - self.mean[j]) / self.std[j]) as f32;
            }
        }
    }

    /// Brings standardised rows of `values` back to the data's units, in place.
    pub fn undo(&self, values: &mut [f32]) {
        let d = self.mean.len();
        for row in values.chunks_exact_mut(d) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (f64::from(*v) * self.std[j] + self.mean[j]) as f32;
            }
        }
    }

    /// Writes `data-stats.json` into the run folder `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| GpfnError::Invalid(format!("data statistics: {e}")))?;
        gpfn_io::atomic_write(&dir.join(DATA_STATS_FILE), &json)
    }

    /// Reads `data-stats.json` from the run folder `dir`; `None` when the run has none.
    pub fn load(dir: &Path) -> Result<Option<Standardisation>> {
        let path = dir.join(DATA_STATS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| GpfnError::io(&path, e))?;
        let s: Standardisation = serde_json::from_str(&text).map_err(|e| GpfnError::Data {
            path: path.clone(),
            message: format!("not a data-statistics file: {e}"),
        })?;
        if s.mean.len() != s.std.len() || s.std.iter().any(|v| v.is_nan() || *v <= 0.0) {
            return Err(GpfnError::Data {
                path,
                message: "mean and std differ in length or a std is not positive".into(),
            });
        }
        Ok(Some(s))
    }
}
