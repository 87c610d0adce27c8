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

impl Against {
    /// What the reference rows are, as a report's heading names them: `test` or
    /// `held-out training`.
    pub fn rows(self) -> &'static str {
        match self {
            Against::Test => "test",
            Against::Holdout => "held-out training",
        }
    }
}
