//! [`NetworkIo`]: the shape of what a network reads and writes.
//!
//! A network sees one data item of shape `data_shape` (`[D]` for vectors, `[C, H, W]` for
//! images) through `in_channels` values per data value and writes `out_channels` values per
//! data value. A continuous belief's mean is one value per data value (`1`/`1`, the identity
//! [`NetworkIo::same`]); a categorical belief over `K` classes is `K` probabilities per
//! variable in and `K` logits per variable out, or for `K = 2` the single value `2θ − 1` in
//! and a single logit out ([`NetworkIo::categorical`]).
//!
//! **Layout (class-major).** A batch of network inputs is `[batch, in_channels · D]`,
//! `D = ∏ data_shape`: block `k` (the contiguous values `k·D … (k+1)·D − 1`) holds channel
//! `k`'s value of all `D` data values in the data's own order. For an image item `[C, H, W]`
//! this is exactly the channel-major tensor `[in_channels · C, H, W]` (for `C = 1`,
//! `[K, H, W]`). Outputs are laid out the same way, `[batch, out_channels · D]`.
//!
//! **Label classes.** [`NetworkIo::label_classes`] `= Some(K)` builds a class-conditional network: an
//! embedding table of `K` rows added to the time embedding (the null class `∅`, index `K`, adds zero)
//! ([`crate::Network::forward_conditional`]); `None` (the default) builds exactly the
//! unconditional network.

use gpfn_core::{GpfnError, Result};

/// The shape of one data item and how many values a network reads and writes per data value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkIo {
    /// Shape of one data item, e.g. `[2]` or `[1, 28, 28]` or `[3, 32, 32]`.
    pub data_shape: Vec<usize>,
    /// Input values per data value: multiplies the leading (channel) dimension of an image,
    /// and the item's length for the MLP.
    pub in_channels: usize,
    /// Output values per data value, multiplying the same dimension as `in_channels`.
    pub out_channels: usize,
    /// `Some(K)`: a class-conditional network over classes `0..K` (plus the null class `K`);
    /// `None`: unconditional.
    pub label_classes: Option<usize>,
}

impl NetworkIo {
    /// One value in and one value out per data value: the network's input and output have
    /// the data's shape (the continuous-data networks).
    pub fn same(data_shape: &[usize]) -> Self {
        Self::new(data_shape, 1, 1)
    }

    /// `in_channels` values in and `out_channels` values out per data value (not checked
    /// here; [`validate`](Self::validate) and the networks' `build` check them).
    pub fn new(data_shape: &[usize], in_channels: usize, out_channels: usize) -> Self {
        NetworkIo {
            data_shape: data_shape.to_vec(),
            in_channels,
            out_channels,
            label_classes: None,
        }
    }

    /// The same, class-conditional over `classes` classes (`None`: unconditional).
    pub fn with_label_classes(mut self, classes: Option<usize>) -> Self {
        self.label_classes = classes;
        self
    }

    /// The channels of a categorical belief over `classes` classes per variable: `K` in and
    /// `K` logits out, except `K = 2`, which is one channel in (the caller feeds `2θ − 1`)
    /// and one logit out (the Bernoulli parameterisation). An error for `classes < 2`.
    pub fn categorical(data_shape: &[usize], classes: usize) -> Result<Self> {
        match classes {
            0 | 1 => Err(GpfnError::Invalid(format!(
                "a categorical belief needs at least 2 classes, got {classes}"
            ))),
            2 => Ok(Self::new(data_shape, 1, 1)),
            k => Ok(Self::new(data_shape, k, k)),
        }
    }

    /// `D = ∏ data_shape`, the number of data values of one item.
    pub fn data_dim(&self) -> usize {
        self.data_shape.iter().product()
    }

    /// `in_channels · D`, the width of one row of the network's input.
    pub fn input_dim(&self) -> usize {
        self.in_channels * self.data_dim()
    }

    /// `out_channels · D`, the width of one row of the network's output.
    pub fn output_dim(&self) -> usize {
        self.out_channels * self.data_dim()
    }

    /// Whether the channel counts are `1`/`1` (input and output have the data's shape).
    pub fn is_same(&self) -> bool {
        self.in_channels == 1 && self.out_channels == 1
    }

    /// Checks that the data shape is non-empty with non-zero sizes and that both channel
    /// counts are at least 1 ([`GpfnError::Shape`] naming the fault).
    pub fn validate(&self) -> Result<()> {
        if self.data_shape.is_empty() || self.data_shape.contains(&0) {
            return Err(GpfnError::Shape(format!(
                "a network needs a data shape of non-zero sizes, got {:?}",
                self.data_shape
            )));
        }
        if self.in_channels == 0 || self.out_channels == 0 {
            return Err(GpfnError::Shape(format!(
                "a network needs at least one input and one output channel, got {} in and {} out",
                self.in_channels, self.out_channels
            )));
        }
        if self.label_classes == Some(0) {
            return Err(GpfnError::Config {
                key: "condition.classes".into(),
                message: "a class-conditional network needs at least 1 class, got 0".into(),
            });
        }
        Ok(())
    }
}
