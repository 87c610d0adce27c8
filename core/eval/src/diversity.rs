//! Diversity: the mean pairwise feature distance of a set,
//!
//! ```text
//! diversity = 1/(n(n−1)) Σ_{i≠j} ‖f_i − f_j‖
//! ```
//!
//! zero exactly when every sample has the same features (a collapsed sampler), and for real
//! data the typical distance between two images. Compare it with the reference set's value.

use super::Features;
use super::neighbours::kth_radii_and_distance_sum;
use gpfn_core::{GpfnError, Result};

/// The mean of `Σ_{i≠j} ‖f_i − f_j‖` over the `n(n−1)` ordered pairs.
pub(crate) fn diversity_from_sum(sum: f64, n: usize) -> f64 {
    sum / (n as f64 * (n as f64 - 1.0))
}

/// Mean pairwise distance of `set` (at least two rows).
pub fn diversity(set: &Features) -> Result<f64> {
    let n = set.len();
    if n < 2 {
        return Err(GpfnError::Invalid(format!(
            "diversity needs at least 2 feature vectors, got {n}"
        )));
    }
    let (_, sum) = kth_radii_and_distance_sum(set, &[])?;
    Ok(diversity_from_sum(sum, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_the_mean_distance_and_zero_for_a_repeated_point() {
        // Corners of a 3-4-5 right triangle: distances 3, 4, 5, mean 4.
        let f = Features::new(vec![0.0, 0.0, 3.0, 0.0, 0.0, 4.0], 2).unwrap();
        assert!((diversity(&f).unwrap() - 4.0).abs() < 1e-12);
        let same = Features::new([0.7, -1.3, 2.9].repeat(50), 3).unwrap();
        // Centring on the set's mean leaves rows of rounding size (~1e-16): distances ~1e-16.
        assert!(diversity(&same).unwrap() < 1e-12);
        assert!(diversity(&Features::new(vec![1.0], 1).unwrap()).is_err());
    }
}
