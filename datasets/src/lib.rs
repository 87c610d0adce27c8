//! Data sets (`[data] name = "…"`) and the shuffling loader.
//!
//! A data set loads into a [`DataTable`]: `n` rows of `x ∈ R^d` (images flattened, scaled to
//! `[−1, 1]`), with the shape of one item kept for networks and pictures.

pub mod fetch;
pub mod fixture;
pub mod idx;
mod loader;
mod mnist;
mod toy;

pub use loader::DataLoader;
pub use mnist::{Articles, Digits, FashionMnist, IdxImages, IdxSet, Mnist, load_idx_images};
pub use toy::{Checkerboard, EightGaussians, Spirals, TwoMoons, eight_gaussian_centers};

use gpfn_core::Result;
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
}

/// A data set plugin.
#[typetag::serde(tag = "name")]
pub trait Dataset: Debug + Send + Sync + dyn_clone::DynClone {
    /// Loads one split; `seed` fixes generated data sets.
    fn load(&self, split: Split, seed: u64) -> Result<DataTable>;
}

dyn_clone::clone_trait_object!(Dataset);
