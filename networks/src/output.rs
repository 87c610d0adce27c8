//! `[output]`: how a network's output becomes the prediction `x̂`, beyond its `target`.
//!
//! BFN's output distribution for continuous data (Graves et al. 2023; the nnaisense code's
//! `DeltaFactory` and `noise_pred_params_to_data_pred_params`) is a point mass at `x̂` clipped
//! to the data range, with `x̂ = 0` before a minimum time: for an `ε̂`-predicting network
//!
//! ```text
//! x̂ = clip(μ/γ − √((1 − γ)/γ) ε̂, −1, 1)   for t ≥ t_min = 10⁻⁶,     x̂ = 0 for t < t_min
//! ```
//!
//! with `γ = κ(t)` (`1 − σ₁^{2t}`). `clip` and `t_min` are those two settings; absent, `x̂`
//! is not clipped and the `eps`/`velocity` conversions keep their guard against a divisor
//! below 10⁻³ ([`Target::conversion`](crate::Target::conversion)).

use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};

/// `[output]` settings (every key optional).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// `x̂` clipped to `[−clip, clip]` (BFN: 1, the data range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
    /// `x̂ = 0` for `t < t_min`, and the `eps`/`velocity` conversion exact at `t ≥ t_min`
    /// (BFN: 10⁻⁶).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_min: Option<f64>,
}

impl OutputConfig {
    /// Checks the values, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        if let Some(c) = self.clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(GpfnError::Config {
                key: "output.clip".into(),
                message: format!("the clipping range must be positive and finite, got {c}"),
            });
        }
        if let Some(t) = self.t_min
            && !(t > 0.0 && t < 1.0)
        {
            return Err(GpfnError::Config {
                key: "output.t_min".into(),
                message: format!("t_min must lie in (0, 1), got {t}"),
            });
        }
        Ok(())
    }
}
