//! Data sets (`[data] name = "…"`) and the shuffling loader.
//!
//! A data set loads into a [`DataTable`]: `n` rows of `x ∈ R^d` (images flattened, scaled to
//! `[−1, 1]`), with the shape of one item kept for networks and pictures.
//!
//! A *categorical* table ([`DataTable::classes`] `= Some(K)`) holds `d` variables per row, each
//! a class index `x_j ∈ {0, …, K − 1}` stored as `f32`; [`DataTable::check_classes`] refuses
//! anything else. A table with [`DataTable::binarise`] holds probabilities `p_j ∈ [0, 1]`
//! instead, and every read draws `x_j ~ Bernoulli(p_j)` afresh (dynamically binarised MNIST,
//! `bin-mnist`; the [`DataLoader`] draws per batch, [`DataTable::draw`] one copy).

pub mod cifar;
pub mod fetch;
pub mod fixture;
pub mod idx;
mod image_folder;
mod loader;
mod mnist;
mod npy;
mod source;
mod toy;

pub use cifar::{Cifar10, load_cifar10};
pub use image_folder::{FolderSource, ImageFolder, STREAM_ABOVE_BYTES};
pub use loader::DataLoader;
pub use mnist::{
    Articles, BinMnist, Digits, FashionMnist, IdxImages, IdxSet, Mnist, TestBinarisation,
    load_idx_images,
};
pub use npy::{NpyData, PixelRange};
pub use source::{
    DATA_STATS_FILE, Holdout, RowSource, Standardisation, head, holdout_key, table_of,
};
pub use toy::{
    Checkerboard, EightGaussians, EightGaussiansGrid, Spirals, TwoMoons, eight_gaussian_centers,
};

use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use std::fmt::Debug;

/// Which part of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training data.
    Train,
    /// Held-out test data.
    Test,
}

/// Rows of data in memory.
#[derive(Clone, Debug)]
pub struct DataTable {
    /// Shape of one item (`[2]`, `[1, 28, 28]`, …).
    pub shape: Vec<usize>,
    /// Row-major values, `len = rows · Π shape`.
    pub values: Vec<f32>,
    /// Class labels, where the data set has them.
    pub labels: Option<Vec<u8>>,
    /// Paired prior noise, row-major like `values`: row `i` of the data was generated from
    /// noise row `i` (reflow's coupling). Training then draws the flow from this noise
    /// instead of fresh noise (see [`gpfn_core::divergence::Divergence::paired_flow`]).
    pub noise: Option<Vec<f32>>,
    /// `None`: continuous values. `Some(K)`: categorical data, every value a class index in
    /// `0..K` stored as `f32` (`K ≥ 2`; [`DataTable::check_classes`] enforces it). Set by the
    /// data set.
    pub classes: Option<usize>,
    /// The values are probabilities `p ∈ [0, 1]` of class 1 of a binary table
    /// (`classes = Some(2)`), not classes: each read draws `x ~ Bernoulli(p)`, i.e. `x = 1`
    /// when a uniform `u ∈ [0, 1)` falls below `p`, else `0` (dynamic binarisation). The
    /// [`DataLoader`] draws batch `k` from `Rng::derive(seed, "binarise", k)`;
    /// [`DataTable::draw`] makes one drawn copy for whoever reads rows directly.
    pub binarise: bool,
}

impl DataTable {
    /// Dimension `d` of one item.
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.dim().max(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.values[i * d..(i + 1) * d]
    }

    /// Paired noise of row `i`, if the table has a noise column.
    pub fn noise_row(&self, i: usize) -> Option<&[f32]> {
        let d = self.dim();
        self.noise.as_ref().map(|n| &n[i * d..(i + 1) * d])
    }

    /// Checks the categorical promise of [`DataTable::classes`] (`dataset` names the data set
    /// in errors). Continuous tables (`None`) always pass. With `Some(K)`: `K ≥ 2` (and
    /// `K ≤ 2²⁴`, so every index is an exact `f32`), and every value is an integer in
    /// `0..=K − 1`; NaN, ±∞, fractions, negatives and `K` itself are refused with the row,
    /// the column (index within the flattened item) and the value. A [`DataTable::binarise`]
    /// table must have `K = 2` and values that are probabilities in `[0, 1]`.
    pub fn check_classes(&self, dataset: &str) -> Result<()> {
        let Some(k) = self.classes else {
            if self.binarise {
                return Err(GpfnError::Invalid(format!(
                    "data set `{dataset}`: binarise is set but classes is not; a binarised \
                     table is categorical with K = 2 classes"
                )));
            }
            return Ok(());
        };
        if k < 2 {
            return Err(GpfnError::Invalid(format!(
                "data set `{dataset}`: K = {k} classes; a categorical data set needs K ≥ 2"
            )));
        }
        if k > 1 << 24 {
            return Err(GpfnError::Invalid(format!(
                "data set `{dataset}`: K = {k} classes; class indices above 2^24 are not exact \
                 in f32, so K ≤ 16 777 216"
            )));
        }
        if self.binarise && k != 2 {
            return Err(GpfnError::Invalid(format!(
                "data set `{dataset}`: binarise needs K = 2 classes, got K = {k}"
            )));
        }
        let d = self.dim().max(1);
        for (at, &v) in self.values.iter().enumerate() {
            let ok = if self.binarise {
                (0.0..=1.0).contains(&v)
            } else {
                v.is_finite() && v >= 0.0 && v.fract() == 0.0 && (v as usize) < k
            };
            if !ok {
                let (row, col) = (at / d, at % d);
                let wanted = if self.binarise {
                    "a probability in [0, 1] (binarise is set)".to_string()
                } else {
                    format!("a class index, an integer in 0..={}", k - 1)
                };
                return Err(GpfnError::Invalid(format!(
                    "data set `{dataset}`: value {v} at row {row}, column {col} is not \
                     {wanted} (K = {k})"
                )));
            }
        }
        Ok(())
    }

    /// A copy with the binarisation drawn once: each value `p` becomes `1` if `u < p` else
    /// `0`, with the uniforms `u` read in row-major order from
    /// `Rng::derive(seed, "binarise-table", counter)` (so the first `n` rows come out the same
    /// whatever the table's length), and `binarise` off. A table without `binarise` comes back
    /// unchanged. `counter` tells evaluation repeats apart.
    pub fn draw(&self, seed: u64, counter: u64) -> DataTable {
        let mut out = self.clone();
        if self.binarise {
            bernoulli(
                &mut out.values,
                &mut Rng::derive(seed, "binarise-table", counter),
            );
            out.binarise = false;
        }
        out
    }
}

/// Replaces each probability `p` in `values` by a Bernoulli draw: `1` if `u < p` else `0`, one
/// uniform `u ∈ [0, 1)` from `rng` per value in order (so `p = 0` never and `p = 1` always
/// gives `1`, and `P(x = 1) = p` exactly for the `f64` value of `p`).
pub fn bernoulli(values: &mut [f32], rng: &mut Rng) {
    for v in values {
        *v = if rng.uniform() < f64::from(*v) {
            1.0
        } else {
            0.0
        };
    }
}

/// A data set plugin.
#[typetag::serde(tag = "name")]
pub trait Dataset: Debug + Send + Sync + dyn_clone::DynClone {
    /// Loads one split; `seed` fixes generated data sets.
    fn load(&self, split: Split, seed: u64) -> Result<DataTable>;

    /// `Some(K)` when the data set is categorical with `K` classes per variable (what
    /// [`DataTable::classes`] of its tables says), known before loading so that a config can
    /// be checked first; `None` (the default) for continuous data.
    fn classes(&self) -> Option<usize> {
        None
    }

    /// The exact entropy `H = −Σ_x p(x) ln p(x)` of one item in nats, where the data set's law
    /// is known exactly (the discrete toys), so that a likelihood bound can be compared with
    /// the truth; `None` (the default) otherwise.
    fn exact_entropy(&self) -> Option<f64> {
        None
    }

    /// Rows of `split` read on demand instead of a table in memory, for a data set too large
    /// to load whole (an image folder above its `stream` threshold): training then uses
    /// [`DataLoader::streaming`]. `None` (the default): [`Dataset::load`] it.
    fn source(&self, split: Split, seed: u64) -> Result<Option<std::sync::Arc<dyn RowSource>>> {
        let _ = (split, seed);
        Ok(None)
    }

    /// The per-feature standardisation the data set's tables are stored in (tabular `.npy`
    /// data), so that a run can write it beside its samples and bring them back to the data's
    /// units; `None` (the default) when the values are the data's own.
    fn standardisation(&self, seed: u64) -> Result<Option<Standardisation>> {
        let _ = seed;
        Ok(None)
    }
}

dyn_clone::clone_trait_object!(Dataset);
