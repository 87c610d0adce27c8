//! Improved precision and recall (Kynkäänniemi et al. 2019).
//!
//! Each set approximates its manifold by the union of balls around its points, each ball's
//! radius the distance to the point's `k`-th nearest neighbour in its own set (`k = 3` by
//! default, the paper's choice):
//!
//! ```text
//! precision = (1/M) Σ_j 1[ y_j ∈ ∪_i B(x_i, NND_k(x_i)) ]     (generated y inside the real manifold)
//! recall    = (1/N) Σ_i 1[ x_i ∈ ∪_j B(y_j, NND_k(y_j)) ]     (real x inside the generated manifold)
//! ```
//!
//! for `N` real features `x_i` and `M` generated features `y_j`. Both lie in `[0, 1]`; a set
//! compared with itself has precision = recall = 1 (every point is the centre of a ball).

use super::Features;
use super::neighbours::{ball_counts, kth_radii_and_distance_sum};
use gpfn_core::Result;

/// Precision and recall of `fake` against `real`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrecisionRecall {
    /// Fraction of generated samples inside the real manifold.
    pub precision: f64,
    /// Fraction of real samples inside the generated manifold.
    pub recall: f64,
}

/// Fraction of points lying in at least one ball.
pub(crate) fn covered_fraction(per_point: &[usize]) -> f64 {
    per_point.iter().filter(|&&c| c > 0).count() as f64 / per_point.len().max(1) as f64
}

/// Improved precision and recall of `fake` against `real` with `k` nearest neighbours.
pub fn precision_recall(real: &Features, fake: &Features, k: usize) -> Result<PrecisionRecall> {
    real.check_same_dim(fake)?;
    let (real_radii, _) = kth_radii_and_distance_sum(real, &[k])?;
    let (fake_radii, _) = kth_radii_and_distance_sum(fake, &[k])?;
    let center = real.mean();
    let precision =
        covered_fraction(&ball_counts(real, &[&real_radii[0]], fake, &center)[0].per_point);
    let recall =
        covered_fraction(&ball_counts(fake, &[&fake_radii[0]], real, &center)[0].per_point);
    Ok(PrecisionRecall { precision, recall })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(xs: &[f64]) -> Features {
        Features::new(xs.to_vec(), 1).unwrap()
    }

    #[test]
    fn a_set_against_itself_has_precision_and_recall_one() {
        let a = line(&[0.0, 0.3, 1.1, 2.0, 2.2, 5.0]);
        let pr = precision_recall(&a, &a, 3).unwrap();
        assert_eq!((pr.precision, pr.recall), (1.0, 1.0));
    }

    #[test]
    fn counts_match_a_hand_computation() {
        // Real points 0, 1, 2, 3 with k = 1: every real ball has radius 1, covering [−1, 4].
        // Fake points 3.5, 10, 11, 12 with k = 1: radii 6.5, 1, 1, 1.
        let real = line(&[0.0, 1.0, 2.0, 3.0]);
        let fake = line(&[3.5, 10.0, 11.0, 12.0]);
        let pr = precision_recall(&real, &fake, 1).unwrap();
        // Only 3.5 lies in the real manifold: precision 1/4.
        assert_eq!(pr.precision, 0.25);
        // The ball B(3.5, 6.5) holds every real point: recall 1.
        assert_eq!(pr.recall, 1.0);
    }
}
