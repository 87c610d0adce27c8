//! The class embedding of a class-conditional network: a table of `K` learned rows, row `c`
//! for class `c ∈ 0..K`, added to the time embedding; the null class `∅` (index `K`,
//! classifier-free guidance's unconditional model, trained by replacing labels with `∅`) adds
//! the zero vector.
//!
//! So `F(z, t, ∅)` is, operation for operation, the network without a class embedding: a
//! conditional model trained with label dropout 1 is the unconditional model trained with the
//! same seed (its class rows receive no gradient, and nothing else sees them). The table is
//! built only when [`NetworkIo::label_classes`](crate::NetworkIo::label_classes) is set, and
//! visited after every other parameter, so an unconditional network's parameters (their
//! number, order and seeded initial values) are exactly those of a network without it, and a
//! conditional network's other parameters are the unconditional network's.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// `K` embedding rows of width `width` (burn's `N(0, 1)` initialisation); the null class's
/// row is the constant zero vector.
#[derive(Module, Debug)]
pub struct ClassEmbedding {
    table: Embedding,
    #[module(skip)]
    classes: usize,
}

impl ClassEmbedding {
    /// The table for `classes` classes, rows of `width` values.
    pub fn new(classes: usize, width: usize, device: &Device) -> Self {
        ClassEmbedding {
            table: EmbeddingConfig::new(classes, width).init(device),
            classes,
        }
    }

    /// `K`, the number of real classes (the null class is index `K`).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// `e_c` for `class: [batch]` (indices in `0..=K`): the table's row `c` for a class,
    /// zeros for `∅` (index `K`), as `select(clamp(c, K − 1)) · [c < K]`; `None` is `∅` for
    /// every one of `batch` rows, `[batch, width]` zeros. `[batch, width]`.
    pub fn forward(
        &self,
        class: Option<Tensor<1, Int>>,
        batch: usize,
        device: &Device,
    ) -> Tensor<2> {
        let weight = self.table.weight.val();
        let [_, width] = weight.dims();
        let Some(class) = class else {
            return Tensor::zeros([batch, width], device);
        };
        let k = self.classes as i64;
        let known = class.clone().lower_elem(k).float().unsqueeze_dim::<2>(1);
        weight.select(0, class.clamp_max(k - 1)) * known
    }
}

/// Class indices as the `[n]` integer tensor that
/// [`Network::forward_conditional`](crate::Network::forward_conditional) reads.
pub fn class_indices(classes: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    Tensor::from_ints(TensorData::new(v, [classes.len()]), device)
}
