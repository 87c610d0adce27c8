//! `bfn-geometric`: BFN's accuracy schedule for continuous data (Graves et al. 2023, §5).
//!
//! Precision `ρ(t) = σ₁^{−2t}`, so `κ(t) = γ(t) = 1 − σ₁^{2t}` and, on the grid `t_i = i/n`,
//! the KL accuracies are `α_i = σ₁^{−2i/n} (1 − σ₁^{2/n})`.

use super::Schedule;
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Schedule,
    "bfn-geometric",
    "BFN's schedule: γ(t) = 1 − σ₁^{2t} (precision σ₁^{−2t}); parameter sigma1"
);

/// BFN's geometric accuracy schedule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfnGeometric {
    /// Standard deviation of the belief at `t = 1` (BFN uses 0.001 for images, 0.02 for toys).
    #[serde(
        default = "default_sigma1",
        deserialize_with = "crate::check::open_unit"
    )]
    pub sigma1: f64,
}

fn default_sigma1() -> f64 {
    0.001
}

impl Default for BfnGeometric {
    fn default() -> Self {
        BfnGeometric {
            sigma1: default_sigma1(),
        }
    }
}

#[typetag::serde(name = "bfn-geometric")]
impl Schedule for BfnGeometric {
    /// `γ(t) = 1 − σ₁^{2t}`.
    fn kappa(&self, t: f64) -> f64 {
        1.0 - self.sigma1.powf(2.0 * t)
    }

    /// `γ'(t) = −2 ln σ₁ · σ₁^{2t}`.
    fn kappa_dot(&self, t: f64) -> f64 {
        -2.0 * self.sigma1.ln() * self.sigma1.powf(2.0 * t)
    }
}
