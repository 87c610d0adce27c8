//! Density and coverage (Naeem et al. 2020), the outlier-robust successors of precision and
//! recall. With the real balls `B(x_i, NND_k(x_i))` only (`k = 5` by default, the paper's
//! choice):
//!
//! ```text
//! density  = 1/(k M) Σ_j Σ_i 1[ y_j ∈ B(x_i, NND_k(x_i)) ]
//! coverage = (1/N) Σ_i 1[ ∃ j: y_j ∈ B(x_i, NND_k(x_i)) ]
//! ```
//!
//! Density counts how many real balls hold each generated sample (≈ 1 when fake and real
//! are identically distributed, above 1 when samples crowd into dense regions); coverage, in
//! `[0, 1]`, is the fraction of real neighbourhoods that receive at least one sample.

use super::Features;
use super::neighbours::{BallCounts, ball_counts, kth_radii_and_distance_sum};
use gpfn_core::Result;

/// Density and coverage of `fake` against `real`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DensityCoverage {
    /// Mean number of real balls holding a generated sample, divided by `k`.
    pub density: f64,
    /// Fraction of real balls holding at least one generated sample.
    pub coverage: f64,
}

/// Density and coverage from the counts of the generated points in the real `k`-NN balls.
pub(crate) fn density_coverage_from_counts(counts: &BallCounts, k: usize) -> DensityCoverage {
    let inside: usize = counts.per_point.iter().sum();
    let density = inside as f64 / (k as f64 * counts.per_point.len().max(1) as f64);
    let coverage = counts.per_ball.iter().filter(|&&c| c > 0).count() as f64
        / counts.per_ball.len().max(1) as f64;
    DensityCoverage { density, coverage }
}

/// Density and coverage of `fake` against `real` with `k` nearest neighbours.
pub fn density_coverage(real: &Features, fake: &Features, k: usize) -> Result<DensityCoverage> {
    real.check_same_dim(fake)?;
    let (radii, _) = kth_radii_and_distance_sum(real, &[k])?;
    let counts = ball_counts(real, &[&radii[0]], fake, &real.mean());
    Ok(density_coverage_from_counts(&counts[0], k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_a_hand_computation() {
        // Real 0, 1, 2, 10 with k = 1: radii 1, 1, 1, 8 (balls [−1,1], [0,2], [1,3], [2,18]).
        let real = Features::new(vec![0.0, 1.0, 2.0, 10.0], 1).unwrap();
        // 1.0 lies in the first three balls, 2.5 in the third and fourth, −5 in none.
        let fake = Features::new(vec![1.0, 2.5, -5.0], 1).unwrap();
        let dc = density_coverage(&real, &fake, 1).unwrap();
        assert_eq!(dc.density, 5.0 / 3.0);
        assert_eq!(dc.coverage, 1.0);
        let dc = density_coverage(&real, &Features::new(vec![-5.0, 30.0], 1).unwrap(), 1).unwrap();
        assert_eq!((dc.density, dc.coverage), (0.0, 0.0));
    }

    #[test]
    fn a_set_against_itself_covers_everything() {
        let real = Features::new(vec![0.0, 0.4, 1.0, 1.3, 2.0, 2.9, 3.0, 4.5], 1).unwrap();
        let dc = density_coverage(&real, &real, 3).unwrap();
        assert_eq!(dc.coverage, 1.0);
        // Each point lies in its own ball and in those of the points that count it among
        // their 3 nearest neighbours: density ≥ 1/k.
        assert!(dc.density >= 1.0 / 3.0, "{}", dc.density);
    }
}
