//! Which images generated samples are compared with: the reference set an evaluation embeds,
//! and that its report records.

use serde::{Deserialize, Serialize};

/// The images that generated samples are compared with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Against {
    /// The data set's test split (the reported numbers).
    #[default]
    Test,
    /// The run's held-out training rows (`[train] holdout`; for choosing hyper-parameters).
    Holdout,
}
