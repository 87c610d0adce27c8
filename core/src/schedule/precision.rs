//! The Bayesian (KL) chain's precisions on a schedule, shared by `kl` (BFN) and every
//! divergence defined by its value (`crate::value_divergence`: the f-divergences of
//! `gpfn-fdiv`, …), which take KL's accuracies.
//!
//! From the standard prior, a belief at signal level `κ` has precision `ρ(κ) = 1/(1 − κ)`;
//! step `i` of an `n`-step chain gains `α_i = ρ(κ(t_i)) − ρ(κ(t_{i−1}))`. The discrete-time
//! objective (Graves et al. 2023, eq. 45 for continuous data) draws `t_{i−1} = (i − 1)/n`,
//! `i ~ U{1, …, n}`, and weighs the squared error by `n/2 · α_i`.

use super::Schedule;
use crate::rng::Rng;

/// Precision `ρ(κ) = 1/(1 − κ)` of the belief at signal level `κ` (∞ at `κ = 1`).
pub fn precision(kappa: f64) -> f64 {
    1.0 / (1.0 - kappa)
}

/// The precision gain `α = ρ(κ) − ρ(κ_prev)` of one step (∞ when `κ ≥ 1`: the data observed).
pub fn precision_gain(kappa_prev: f64, kappa: f64) -> f64 {
    if kappa >= 1.0 {
        f64::INFINITY
    } else {
        precision(kappa) - precision(kappa_prev)
    }
}

/// The discrete-time loss weight `n/2 · α_i` at the training time `t = t_{i−1} = (i − 1)/n`
/// (a time off the grid is read at the nearest grid point).
pub fn discrete_loss_weight(schedule: &dyn Schedule, n: usize, t: f64) -> f64 {
    let i = ((t * n as f64).round() as usize + 1).clamp(1, n);
    let alpha = precision_gain(
        schedule.kappa((i - 1) as f64 / n as f64),
        schedule.kappa(i as f64 / n as f64),
    );
    0.5 * n as f64 * alpha
}

/// A discrete training time `t_{i−1} = (i − 1)/n` with `i ~ U{1, …, n}`.
pub fn discrete_time(n: usize, rng: &mut Rng) -> f64 {
    rng.below(n) as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::BfnGeometric;
    use approx::assert_relative_eq;

    /// On `bfn-geometric`, `α_i = σ₁^{−2i/n}(1 − σ₁^{2/n})` (Graves et al. 2023, eq. 95):
    /// the difference of two precisions of size up to `σ₁^{−2} = 10⁶` loses about 1e-10 of
    /// relative accuracy in f64, so 1e-9 is the tolerance.
    #[test]
    fn gains_and_weights_are_bfns_closed_forms() {
        let s = BfnGeometric { sigma1: 0.001 };
        let n = 20;
        for i in 1..=n {
            let (t_prev, t) = ((i - 1) as f64 / n as f64, i as f64 / n as f64);
            let closed = s.sigma1.powf(-2.0 * t) * (1.0 - s.sigma1.powf(2.0 / n as f64));
            let gain = precision_gain(s.kappa(t_prev), s.kappa(t));
            assert_relative_eq!(gain, closed, max_relative = 1e-9);
            let weight = discrete_loss_weight(&s, n, t_prev);
            assert_relative_eq!(weight, 0.5 * n as f64 * closed, max_relative = 1e-9);
        }
        assert_eq!(precision_gain(0.5, 1.0), f64::INFINITY);
    }

    #[test]
    fn discrete_times_are_the_grid_points_before_each_step() {
        let mut rng = Rng::seed(3);
        let n = 7;
        let mut seen = [false; 7];
        for _ in 0..500 {
            let t = discrete_time(n, &mut rng);
            let i = (t * n as f64).round() as usize;
            assert_relative_eq!(t, i as f64 / n as f64);
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
    }
}
