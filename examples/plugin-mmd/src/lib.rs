//! # gpfn-plugin-mmd: a divergence plugin defined by its value
//!
//! The worked example of docs/writing-a-plugin.md. It registers one divergence, `mmd`: the
//! squared maximum mean discrepancy with a Gaussian kernel
//! `k(x, y) = exp(−(x − y)²/(2ℓ²))`, between diagonal Gaussians, per coordinate and summed
//! over coordinates:
//!
//! ```text
//! MMD²(p, q) = Σ_k  E k(P_k, P'_k) + E k(Q_k, Q'_k) − 2 E k(P_k, Q_k)
//! E k(X, Y)  = ℓ / √(ℓ² + s_X² + s_Y²) · exp(−(m_X − m_Y)² / (2(ℓ² + s_X² + s_Y²)))
//! ```
//!
//! for independent `X ~ N(m_X, s_X²)`, `Y ~ N(m_Y, s_Y²)` (the Gaussian kernel convolved
//! with the two Gaussians; [`expected_kernel`]). Everything else is generic: the crate
//! supplies only [`mmd_value`], and
//!
//! * the proximal step `argmin_p α E_p[½‖x − y‖²] + MMD²(p, p_{i−1})` is taken by
//!   `gpfn_core::proximal_solver` (damped Newton on the value, differentiated by autodiff);
//! * the flow distribution used for training has no closed form, so it is *simulated* by
//!   `gpfn_core::simulated_flow` on an `n`-step grid (`steps`), and sampling uses that grid;
//! * the accuracies are KL's precision gains on the schedule, as for the f-divergences.
//!
//! The three are core's chain for every divergence defined by its value
//! (`gpfn_core::value_divergence`): [`Mmd`] implements `ValueDivergence` (its name, its
//! description, the value and the chain's settings) and `gpfn_core::value_divergence!`
//! registers it. MMD² is bounded (≤ 2 per coordinate), so once the accuracy outweighs its
//! curvature the step collapses the belief's standard deviation towards 0: the chain then moves
//! the mean alone, which the solver handles (the collapsed coordinates stall, see
//! `gpfn_core::proximal_solver`).

use gpfn_core::belief::DiagGaussian;
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::value_divergence::{
    ChainSettings, LossWeight, ValueDivergence, default_max_iterations, default_steps,
    default_tolerance,
};
use serde::{Deserialize, Serialize};

/// `[divergence] name = "mmd"`: Gaussian-kernel MMD², proximal step by the generic solver.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mmd {
    /// Kernel length scale `ℓ > 0`, in data units.
    #[serde(default = "default_length_scale")]
    pub length_scale: f64,
    /// Steps `n` of the grid the flow distribution is simulated on (sample with
    /// `sampler.steps = n`).
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Training-loss weighting (`accuracy`: KL's discrete-time weight; `data`: uniform).
    #[serde(default)]
    pub loss_weight: LossWeight,
    /// Proximal solver tolerance (largest Newton step in `m/s` and `ln s`).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Proximal solver iteration cap.
    #[serde(default = "default_max_iterations")]
    pub max_iterations: usize,
}

fn default_length_scale() -> f64 {
    1.0
}

impl Default for Mmd {
    fn default() -> Self {
        Mmd {
            length_scale: default_length_scale(),
            steps: default_steps(),
            loss_weight: LossWeight::default(),
            tolerance: default_tolerance(),
            max_iterations: default_max_iterations(),
        }
    }
}

impl ValueDivergence for Mmd {
    const NAME: &'static str = "mmd";
    const DESCRIPTION: &'static str =
        "Gaussian-kernel MMD² (length_scale ℓ) between diagonal Gaussians, generic numerical step";

    /// `MMD²(p, q)` with this length scale: the one thing this plugin defines.
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        mmd_value(p, q, self.length_scale)
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings {
            steps: self.steps,
            loss_weight: self.loss_weight,
            tolerance: self.tolerance,
            max_iterations: self.max_iterations,
        }
    }
}

// Registers `Mmd` as the divergence `Mmd::NAME` (for `gpfn plugins` and for config); core's
// chain gives it the rest.
gpfn_core::value_divergence!(Mmd);

/// `E k(X, Y)` per coordinate for independent `X ~ N(m_x, s_x²)`, `Y ~ N(m_y, s_y²)` and the
/// Gaussian kernel of length scale `ℓ`: `ℓ/√V · exp(−(m_x − m_y)²/(2V))`, `V = ℓ² + s_x² + s_y²`.
pub fn expected_kernel(
    m_x: Tensor<2>,
    var_x: Tensor<2>,
    m_y: Tensor<2>,
    var_y: Tensor<2>,
    length_scale: f64,
) -> Tensor<2> {
    let v = (var_x + var_y).add_scalar(length_scale * length_scale);
    let delta2 = (m_x - m_y).square();
    (delta2.div(v.clone().mul_scalar(2.0)).neg().exp() / v.sqrt()).mul_scalar(length_scale)
}

/// `MMD²(p, q)` per row, summed over coordinates (see the crate documentation).
pub fn mmd_value(p: &DiagGaussian, q: &DiagGaussian, length_scale: f64) -> Tensor<1> {
    let (vp, vq) = (p.std.clone().square(), q.std.clone().square());
    let kpp = expected_kernel(
        p.mean.clone(),
        vp.clone(),
        p.mean.clone(),
        vp.clone(),
        length_scale,
    );
    let kqq = expected_kernel(
        q.mean.clone(),
        vq.clone(),
        q.mean.clone(),
        vq.clone(),
        length_scale,
    );
    let kpq = expected_kernel(p.mean.clone(), vp, q.mean.clone(), vq, length_scale);
    (kpp + kqq - kpq.mul_scalar(2.0)).sum_dim(1).squeeze_dim(1)
}
