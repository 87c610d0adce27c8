//! Accuracy/time schedules.
//!
//! A schedule fixes the *signal level* `κ(t) ∈ [0, 1]` of the belief at time `t ∈ [0, 1]`:
//! increasing, `κ(0) = 0`. Every proximal step is a contraction towards the observation with
//! weight `w_i`, and `1 − κ(t_i) = Π_{j≤i} (1 − w_j)`. Each divergence turns the same `κ` grid
//! into its own accuracies `α_i` (KL: precision gain `ρ_i − ρ_{i−1}` with `ρ = 1/(1−κ)`;
//! W2: `α_i = w_i / (1 − w_i)`), so KL with `bfn-geometric` is BFN and W2 with `uniform` is
//! Rectified Flow.

mod bfn_geometric;
mod cosine;
pub mod precision;
mod uniform;

pub use bfn_geometric::BfnGeometric;
pub use cosine::Cosine;
pub use uniform::Uniform;

use std::fmt::Debug;

/// An accuracy/time schedule (`[schedule] name = "…"`).
#[typetag::serde(tag = "name")]
pub trait Schedule: Debug + Send + Sync + dyn_clone::DynClone {
    /// Signal level `κ(t)`, increasing from `κ(0) = 0`, at most 1.
    fn kappa(&self, t: f64) -> f64;

    /// Its derivative `dκ/dt`.
    fn kappa_dot(&self, t: f64) -> f64;
}

/// One step of an `n`-step proximal chain on the uniform time grid `t_i = i/n`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProxStep {
    /// Step index `i ∈ 1..=n`.
    pub index: usize,
    /// `t_{i−1}`: the time at which the network is evaluated for this step.
    pub t_prev: f64,
    /// `t_i`.
    pub t: f64,
    /// `κ(t_{i−1})`.
    pub kappa_prev: f64,
    /// `κ(t_i)`.
    pub kappa: f64,
    /// Contraction weight `w_i = 1 − (1 − κ_i)/(1 − κ_{i−1})`: the weight of the observation
    /// in the updated mean (KL and W2 alike).
    pub weight: f64,
}

/// The `n` steps of the uniform time grid `t_i = i/n` under `schedule`.
pub fn time_grid(schedule: &dyn Schedule, n: usize) -> Vec<ProxStep> {
    (1..=n)
        .map(|i| {
            let t_prev = (i - 1) as f64 / n as f64;
            let t = i as f64 / n as f64;
            let kappa_prev = schedule.kappa(t_prev);
            let kappa = schedule.kappa(t);
            let weight = if kappa_prev >= 1.0 {
                1.0
            } else {
                1.0 - (1.0 - kappa) / (1.0 - kappa_prev)
            };
            ProxStep {
                index: i,
                t_prev,
                t,
                kappa_prev,
                kappa,
                weight,
            }
        })
        .collect()
}

dyn_clone::clone_trait_object!(Schedule);

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn weights_compose_to_the_signal_level() {
        let schedules: Vec<Box<dyn Schedule>> = vec![
            Box::new(BfnGeometric { sigma1: 0.001 }),
            Box::new(Uniform {}),
            Box::new(Cosine {}),
        ];
        for s in schedules {
            let grid = time_grid(s.as_ref(), 17);
            let mut remaining = 1.0;
            for step in &grid {
                remaining *= 1.0 - step.weight;
                // 1 − κ_i = Π (1 − w_j); relative rounding of a 17-term product of f64.
                assert_relative_eq!(1.0 - remaining, step.kappa, epsilon = 1e-12);
            }
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let schedules: Vec<Box<dyn Schedule>> = vec![
            Box::new(BfnGeometric { sigma1: 0.02 }),
            Box::new(Uniform {}),
            Box::new(Cosine {}),
        ];
        let h = 1e-6;
        for s in schedules {
            for &t in &[0.1, 0.37, 0.5, 0.9] {
                let fd = (s.kappa(t + h) - s.kappa(t - h)) / (2.0 * h);
                // Central differences are O(h²) ≈ 1e-12 accurate; cancellation costs ~1e-10.
                assert_relative_eq!(s.kappa_dot(t), fd, max_relative = 1e-7);
            }
            assert_eq!(s.kappa(0.0), 0.0);
        }
    }
}
