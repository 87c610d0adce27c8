//! `trigonometric`: the reference's interpolant `I = cos(πs/2) x_{l−1} + sin(πs/2) x_l` on
//! gpfn's straight path.
//!
//! In gpfn time `t = 1 − s` (noise end `x_l` at `t = 0`, data end `x_{l−1}` at `t = 1`) the
//! interpolant is `I_t = a x_{l−1} + b x_l` with `a = sin(πt/2)`, `b = cos(πt/2)`. Dividing by
//! `c = a + b > 0` puts it on the straight path, `I_t / c = κ x_{l−1} + (1 − κ) x_l` with
//! `κ(t) = a/(a + b)`. For any coupling of the two ends, `E[x_{l−1} | I_t] = E[x_{l−1} | I_t/c]`,
//! and the probability-flow ODE of `I` is `c(t)` times the straight-path ODE run at `κ(t)`
//! (docs/maths.md, "Local Flow Matching"): both transport `x_l` to `x_{l−1}` by the same map.
//! So the trigonometric block is gpfn's straight path with this schedule: the times it trains
//! and samples on are uniform in the reference's `s`, and its velocity-matching weight is the
//! straight path's, `(κ'/(1 − κ))² = (π/2)² / (c² cos²(πt/2))`, the reference's
//! `(π/2)²/cos²(πt/2)` divided by `c² ∈ [1, 2]`.

use gpfn_core::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::f64::consts::FRAC_PI_2;

gpfn_core::register_plugin!(
    Schedule,
    "trigonometric",
    "κ(t) = sin(πt/2)/(sin(πt/2) + cos(πt/2)): the trigonometric interpolant of Local Flow Matching on the straight path"
);

/// The trigonometric schedule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigonometric {}

#[typetag::serde(name = "trigonometric")]
impl Schedule for Trigonometric {
    fn kappa(&self, t: f64) -> f64 {
        let (a, b) = ((FRAC_PI_2 * t).sin(), (FRAC_PI_2 * t).cos());
        if t >= 1.0 { 1.0 } else { a / (a + b) }
    }

    /// `κ' = (a'b − ab')/(a + b)² = (π/2)/(a + b)²`.
    fn kappa_dot(&self, t: f64) -> f64 {
        let (a, b) = ((FRAC_PI_2 * t).sin(), (FRAC_PI_2 * t).cos());
        FRAC_PI_2 / (a + b).powi(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_runs_from_zero_to_one_with_its_derivative() {
        let s = Trigonometric {};
        assert_eq!(s.kappa(0.0), 0.0);
        assert!((s.kappa(1.0) - 1.0).abs() < 1e-12);
        assert!((s.kappa(0.5) - 0.5).abs() < 1e-12);
        for t in [0.1, 0.3, 0.7, 0.95] {
            let h = 1e-6;
            let fd = (s.kappa(t + h) - s.kappa(t - h)) / (2.0 * h);
            assert!((fd - s.kappa_dot(t)).abs() < 1e-6, "t = {t}");
        }
    }
}
