//! The class embedding of a class-conditional network: a table of `K + 1` learned rows, row
//! `c` for class `c ∈ 0..K` and row `K` for the null class `∅` (classifier-free guidance's
//! unconditional model, trained by replacing labels with `∅`), added to the time embedding.
//!
//! Built only when [`NetworkIo::label_classes`](crate::NetworkIo::label_classes) is set, and
//! visited after every other parameter, so an unconditional network's parameters (their
//! number, order and seeded initial values) are exactly those of a network without it, and a
//! conditional network's other parameters are the unconditional network's.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// `K + 1` embedding rows of width `width` (burn's `N(0, 1)` initialisation).
#[derive(Module, Debug)]
pub struct ClassEmbedding {
    table: Embedding,
    #[module(skip)]
    classes: usize,
}

impl ClassEmbedding {
    /// The table for `classes` classes and the null class, rows of `width` values.
    pub fn new(classes: usize, width: usize, device: &Device) -> Self {
        ClassEmbedding {
            table: EmbeddingConfig::new(classes + 1, width).init(device),
            classes,
        }
    }

    /// `K`, the number of real classes (the null class is index `K`).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The rows of `class: [batch]` (indices in `0..=K`, `K` = `∅`), or the null class's row
    /// for every one of `batch` rows when `class` is `None`: `[batch, width]`.
    pub fn forward(
        &self,
        class: Option<Tensor<1, Int>>,
        batch: usize,
        device: &Device,
    ) -> Tensor<2> {
        let class = class.unwrap_or_else(|| class_indices(&vec![self.classes; batch], device));
        self.table.weight.val().select(0, class)
    }
}

/// Class indices as the `[n]` integer tensor that
/// [`Network::forward_conditional`](crate::Network::forward_conditional) reads.
pub fn class_indices(classes: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    Tensor::from_ints(TensorData::new(v, [classes.len()]), device)
}
