//! Fréchet distance between Gaussians fitted to two feature sets (FID, Heusel et al. 2017).
//!
//! ```text
//! FID = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½})
//! ```
//!
//! the squared 2-Wasserstein distance between `N(μ₁, Σ₁)` and `N(μ₂, Σ₂)`. Means and
//! covariances are computed in f64; the square roots of the symmetric positive semi-definite
//! matrices come from nalgebra's symmetric eigendecomposition, `S^{½} = Q diag(√λ⁺) Qᵀ` with
//! eigenvalues clamped at zero (rounding can make a singular covariance's zero eigenvalues
//! slightly negative).

use super::Features;
use gpfn_core::{GpfnError, Result};
use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance of a feature set.
#[derive(Clone, Debug)]
pub struct GaussianStats {
    /// `μ = (1/n) Σ_i f_i`.
    pub mean: DVector<f64>,
    /// The unbiased covariance `Σ = (1/(n−1)) Σ_i (f_i − μ)(f_i − μ)ᵀ`.
    pub cov: DMatrix<f64>,
}

impl GaussianStats {
    /// The statistics of `features`; needs at least two rows.
    pub fn of(features: &Features) -> Result<GaussianStats> {
        let n = features.len();
        if n < 2 {
            return Err(GpfnError::Invalid(format!(
                "a covariance needs at least 2 feature vectors, got {n}"
            )));
        }
        let mean = features.mean();
        let centered = features.centered_matrix(&mean);
        let cov = centered.tr_mul(&centered) / (n - 1) as f64;
        Ok(GaussianStats {
            mean: DVector::from_vec(mean),
            cov,
        })
    }
}

fn symmetric(m: &DMatrix<f64>) -> DMatrix<f64> {
    (m + m.transpose()) * 0.5
}

/// The principal square root of a symmetric positive semi-definite matrix,
/// `S^{½} = Q diag(√max(λ, 0)) Qᵀ` for `S = Q diag(λ) Qᵀ`.
pub fn sqrtm_psd(s: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(symmetric(s));
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// `tr((Σ₁^{½} Σ₂ Σ₁^{½})^{½})`, the sum of the square roots of the (non-negative)
/// eigenvalues of the symmetric matrix `Σ₁^{½} Σ₂ Σ₁^{½}`.
pub fn trace_sqrt_product(cov1: &DMatrix<f64>, cov2: &DMatrix<f64>) -> f64 {
    let s1 = sqrtm_psd(cov1);
    let inner = symmetric(&(&s1 * cov2 * &s1));
    SymmetricEigen::new(inner)
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum()
}

/// The Fréchet distance `‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½})`, clamped at 0
/// (it is a squared distance; rounding can leave −1e−12 for identical statistics).
pub fn frechet_distance(a: &GaussianStats, b: &GaussianStats) -> Result<f64> {
    if a.mean.len() != b.mean.len() {
        return Err(GpfnError::Shape(format!(
            "Fréchet distance between Gaussians of dimension {} and {}",
            a.mean.len(),
            b.mean.len()
        )));
    }
    let mean_term = (&a.mean - &b.mean).norm_squared();
    let value =
        mean_term + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(&a.cov, &b.cov);
    Ok(value.max(0.0))
}

/// FID between two feature sets.
pub fn fid(real: &Features, fake: &Features) -> Result<f64> {
    real.check_same_dim(fake)?;
    frechet_distance(&GaussianStats::of(real)?, &GaussianStats::of(fake)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use gpfn_core::rng::Rng;

    fn spd(a: f64, b: f64, c: f64) -> DMatrix<f64> {
        DMatrix::from_row_slice(2, 2, &[a, b, b, c])
    }

    #[test]
    fn square_root_squares_back() {
        let s = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]);
        let r = sqrtm_psd(&s);
        // f64 eigendecomposition of a well-conditioned 3×3: ~1e-15 relative; 1e-12 is slack.
        assert_relative_eq!(&r * &r, s, epsilon = 1e-12);
        // Singular PSD matrix: rank one `v vᵀ` has root `v vᵀ / ‖v‖`.
        let v = DVector::from_vec(vec![1.0, 2.0, 2.0]);
        let s = &v * v.transpose();
        assert_relative_eq!(sqrtm_psd(&s), &s / 3.0, epsilon = 1e-12);
    }

    #[test]
    fn matches_the_closed_form_for_two_by_two_covariances() {
        // For 2×2 SPD A, B the eigenvalues λ₁, λ₂ of AB are positive and
        // tr((A^{½} B A^{½})^{½}) = √λ₁ + √λ₂ = √(tr(AB) + 2√det(AB)).
        let a = spd(2.0, 0.6, 1.0);
        let b = spd(0.5, -0.3, 3.0);
        let ab = &a * &b;
        let expected_trace = (ab.trace() + 2.0 * ab.determinant().sqrt()).sqrt();
        assert_relative_eq!(trace_sqrt_product(&a, &b), expected_trace, epsilon = 1e-12);
        let sa = GaussianStats {
            mean: DVector::from_vec(vec![1.0, -1.0]),
            cov: a.clone(),
        };
        let sb = GaussianStats {
            mean: DVector::from_vec(vec![0.0, 1.0]),
            cov: b.clone(),
        };
        let expected = 1.0 + 4.0 + a.trace() + b.trace() - 2.0 * expected_trace;
        assert_relative_eq!(
            frechet_distance(&sa, &sb).unwrap(),
            expected,
            epsilon = 1e-12
        );
        // Symmetric: √(eig(AB)) = √(eig(BA)).
        assert_relative_eq!(
            frechet_distance(&sb, &sa).unwrap(),
            expected,
            epsilon = 1e-12
        );
        // Commuting (diagonal) covariances: Σ_k (σ₁ₖ − σ₂ₖ)².
        let d1 = GaussianStats {
            mean: DVector::zeros(2),
            cov: spd(4.0, 0.0, 9.0),
        };
        let d2 = GaussianStats {
            mean: DVector::zeros(2),
            cov: spd(1.0, 0.0, 1.0),
        };
        assert_relative_eq!(
            frechet_distance(&d1, &d2).unwrap(),
            1.0 + 4.0,
            epsilon = 1e-12
        );
    }

    fn gaussian_sample(rng: &mut Rng, n: usize, mean: &[f64], scale: &[f64]) -> Features {
        let d = mean.len();
        let mut v = Vec::with_capacity(n * d);
        for _ in 0..n {
            for k in 0..d {
                v.push(mean[k] + scale[k] * rng.normal());
            }
        }
        Features::new(v, d).unwrap()
    }

    #[test]
    fn sample_fid_estimates_the_population_distance() {
        let mut rng = Rng::seed(7);
        let mean2 = [1.0, 0.0, -0.5, 0.0];
        let scale2 = [1.0, 2.0, 0.5, 1.0];
        let a = gaussian_sample(&mut rng, 20_000, &[0.0; 4], &[1.0; 4]);
        let b = gaussian_sample(&mut rng, 20_000, &mean2, &scale2);
        // Population value: ‖Δμ‖² + Σ (σ₁ − σ₂)² = 1.25 + (0 + 1 + 0.25 + 0) = 2.5.
        let value = fid(&a, &b).unwrap();
        // Sampling error of the moments at n = 20 000 is ~1/√n ≈ 0.007 per entry, with a
        // positive bias of order d/n; 0.05 absolute is several standard errors.
        assert!((value - 2.5).abs() < 0.05, "{value}");
        assert_relative_eq!(fid(&b, &a).unwrap(), value, max_relative = 1e-9);
        // Against itself: exactly the same statistics, so 0 up to f64 rounding.
        assert!(fid(&a, &a).unwrap() < 1e-9);
    }

    #[test]
    fn bad_input_is_an_error() {
        let one = Features::new(vec![1.0, 2.0], 2).unwrap();
        let two = Features::new(vec![1.0, 2.0, 3.0, 4.0], 2).unwrap();
        assert!(
            fid(&one, &two)
                .unwrap_err()
                .to_string()
                .contains("at least 2")
        );
        let other = Features::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3).unwrap();
        assert!(
            fid(&two, &other)
                .unwrap_err()
                .to_string()
                .contains("dimension")
        );
    }
}
