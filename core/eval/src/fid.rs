//! Fréchet distance between Gaussians fitted to two feature sets (FID, Heusel et al. 2017).
//!
//! ```text
//! FID = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½})
//! ```
//!
//! the squared 2-Wasserstein distance between `N(μ₁, Σ₁)` and `N(μ₂, Σ₂)`, computed in f64.
//!
//! The trace term is evaluated without forming a matrix square root. With the covariances
//! factored as `Σ = Rᵀ R` (`R` the triangular factor of the centred features' QR
//! decomposition, scaled by `1/√(n−1)`), the non-zero eigenvalues of `Σ₁Σ₂ = R₁ᵀR₁R₂ᵀR₂` are
//! those of `M Mᵀ` for `M = R₁R₂ᵀ`, so
//!
//! ```text
//! tr((Σ₁^{½} Σ₂ Σ₁^{½})^{½}) = Σᵢ √λᵢ(Σ₁Σ₂) = Σᵢ σᵢ(R₁ R₂ᵀ) = ‖R₁ R₂ᵀ‖_*,
//! ```
//!
//! the nuclear norm, read off one singular value decomposition. This is backward stable (the
//! QR works on the features, never on their squared condition number), clamps nothing, and is
//! symmetric by construction: swapping the sets transposes `M`, whose singular values are the
//! same. The eigenvalue route `Σ₁^{½} = Q diag(√λ⁺) Qᵀ` squares the features' condition
//! number and then takes square roots of rounding-level eigenvalues of the singular
//! covariances that ReLU features give (dead units); it stays available as [`sqrtm_psd`].

use super::Features;
use gpfn_core::{GpfnError, Result};
use nalgebra::{DMatrix, DVector, SVD, SymmetricEigen};

/// Relative residual above which a decomposition is refused rather than trusted:
/// `‖U diag(σ) Vᵀ − M‖_F / ‖M‖_F` for the SVD, `‖S Q − Q diag(λ)‖_F / ‖S‖_F` for the
/// symmetric eigendecomposition. A backward-stable one leaves ~`d·ε_f64` ≈ 1e-13 at the
/// 128-wide feature dimension; 1e-9 leaves four orders of slack and still catches any
/// decomposition that is wrong in a way that moves FID.
const DECOMPOSITION_RESIDUAL: f64 = 1e-9;

/// Mean and covariance of a feature set, with a square-root factor of the covariance.
#[derive(Clone, Debug)]
pub struct GaussianStats {
    /// `μ = (1/n) Σ_i f_i`.
    pub mean: DVector<f64>,
    /// The unbiased covariance `Σ = (1/(n−1)) Σ_i (f_i − μ)(f_i − μ)ᵀ`.
    pub cov: DMatrix<f64>,
    /// A factor `R` with `Rᵀ R = Σ` (`min(n, d) × d`): the triangular factor of the centred
    /// features' QR decomposition over `√(n−1)`, or the symmetric root for [`Self::new`].
    pub root: DMatrix<f64>,
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
        if centered.iter().any(|v| !v.is_finite()) {
            return Err(GpfnError::Invalid(
                "a feature set with a NaN or infinite value has no covariance".into(),
            ));
        }
        let scale = 1.0 / ((n - 1) as f64);
        let cov = centered.tr_mul(&centered) * scale;
        let root = centered.qr().r() * scale.sqrt();
        Ok(GaussianStats {
            mean: DVector::from_vec(mean),
            cov,
            root,
        })
    }

    /// The statistics of a given mean and symmetric positive semi-definite covariance (the
    /// factor is the covariance's symmetric square root).
    pub fn new(mean: DVector<f64>, cov: DMatrix<f64>) -> Result<GaussianStats> {
        if cov.shape() != (mean.len(), mean.len()) {
            return Err(GpfnError::Shape(format!(
                "a Gaussian of dimension {} with a {}×{} covariance",
                mean.len(),
                cov.nrows(),
                cov.ncols()
            )));
        }
        let root = sqrtm_psd(&cov)?;
        Ok(GaussianStats { mean, cov, root })
    }
}

fn symmetric(m: &DMatrix<f64>) -> DMatrix<f64> {
    (m + m.transpose()) * 0.5
}

/// The symmetric eigendecomposition `S = Q diag(λ) Qᵀ` of `(S + Sᵀ)/2` (nalgebra's), with
/// each eigenvalue the Rayleigh quotient `λᵢ = qᵢᵀ S qᵢ` of its own vector and the residual
/// `‖S Q − Q diag(λ)‖_F` checked against `1e-9·‖S‖_F`.
pub fn symmetric_eigen(s: &DMatrix<f64>) -> Result<(DVector<f64>, DMatrix<f64>)> {
    if !s.is_square() {
        return Err(GpfnError::Shape(format!(
            "a symmetric eigendecomposition needs a square matrix, got {}×{}",
            s.nrows(),
            s.ncols()
        )));
    }
    if s.iter().any(|v| !v.is_finite()) {
        return Err(GpfnError::Invalid(
            "a matrix with a NaN or infinite entry has no eigendecomposition".into(),
        ));
    }
    let s = symmetric(s);
    let q = SymmetricEigen::new(s.clone()).eigenvectors;
    let sq = &s * &q;
    let values = DVector::from_iterator(
        q.ncols(),
        (0..q.ncols()).map(|i| q.column(i).dot(&sq.column(i))),
    );
    let residual = (&sq - &q * DMatrix::from_diagonal(&values)).norm();
    check_residual(
        "symmetric eigendecomposition",
        residual,
        s.norm(),
        s.shape(),
    )?;
    Ok((values, q))
}

fn check_residual(what: &str, residual: f64, scale: f64, shape: (usize, usize)) -> Result<()> {
    if residual > DECOMPOSITION_RESIDUAL * scale {
        return Err(GpfnError::Invalid(format!(
            "the {what} of a {}×{} matrix is inaccurate: residual {residual:e} against a \
             norm of {scale:e}",
            shape.0, shape.1
        )));
    }
    Ok(())
}

/// The principal square root of a symmetric positive semi-definite matrix,
/// `S^{½} = Q diag(√max(λ, 0)) Qᵀ` for `S = Q diag(λ) Qᵀ`.
pub fn sqrtm_psd(s: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let (values, q) = symmetric_eigen(s)?;
    let roots = values.map(|l| l.max(0.0).sqrt());
    Ok(&q * DMatrix::from_diagonal(&roots) * q.transpose())
}

/// The nuclear norm `‖M‖_* = Σᵢ σᵢ(M)`, from nalgebra's SVD with its reconstruction
/// `‖U diag(σ) Vᵀ − M‖_F` checked against `1e-9·‖M‖_F`.
pub fn nuclear_norm(m: &DMatrix<f64>) -> Result<f64> {
    if m.iter().any(|v| !v.is_finite()) {
        return Err(GpfnError::Invalid(
            "a matrix with a NaN or infinite entry has no singular values".into(),
        ));
    }
    let svd = SVD::new(m.clone(), true, true);
    let sum = svd.singular_values.iter().sum();
    let back = svd
        .recompose()
        .map_err(|e| GpfnError::Invalid(format!("singular value decomposition: {e}")))?;
    check_residual(
        "singular value decomposition",
        (back - m).norm(),
        m.norm(),
        m.shape(),
    )?;
    Ok(sum)
}

/// `tr((Σ₁^{½} Σ₂ Σ₁^{½})^{½}) = ‖R₁ R₂ᵀ‖_*` for factors `RᵢᵀRᵢ = Σᵢ` (module notes).
pub fn trace_sqrt_product(a: &GaussianStats, b: &GaussianStats) -> Result<f64> {
    nuclear_norm(&(&a.root * b.root.transpose()))
}

/// The Fréchet distance `‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½})`, clamped at 0
/// (it is a squared distance; rounding can leave −1e−13·tr Σ for identical statistics).
pub fn frechet_distance(a: &GaussianStats, b: &GaussianStats) -> Result<f64> {
    if a.mean.len() != b.mean.len() {
        return Err(GpfnError::Shape(format!(
            "Fréchet distance between Gaussians of dimension {} and {}",
            a.mean.len(),
            b.mean.len()
        )));
    }
    let mean_term = (&a.mean - &b.mean).norm_squared();
    let value = mean_term + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(a, b)?;
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
        let r = sqrtm_psd(&s).unwrap();
        // f64 eigendecomposition of a well-conditioned 3×3: ~1e-15 relative; 1e-12 is slack.
        assert_relative_eq!(&r * &r, s, epsilon = 1e-12);
        // Singular PSD matrix: rank one `v vᵀ` has root `v vᵀ / ‖v‖`.
        let v = DVector::from_vec(vec![1.0, 2.0, 2.0]);
        let s = &v * v.transpose();
        assert_relative_eq!(sqrtm_psd(&s).unwrap(), &s / 3.0, epsilon = 1e-12);
    }

    #[test]
    fn symmetric_eigen_reconstructs_and_refuses_bad_input() {
        // The symmetric 4×4 matrix of dimforge/nalgebra#1109, which nalgebra before #1210
        // decomposed with two eigenvalues paired with each other's vectors (`Q Λ Qᵀ` off by
        // 340% of the largest entry). Entries up to ~1.8e6: f64 reconstruction error
        // ~1e-16·‖S‖ per entry, so 1e-9 relative to ‖S‖ is a wide margin that a mispairing
        // (O(1)) cannot meet.
        #[rustfmt::skip]
        let s = DMatrix::from_row_slice(4, 4, &[
            -19884.07, -10.07188, 11.277279, -188560.63,
            -10.07188, 12.518197, 1.3770627, -102.97504,
            11.277279, 1.3770627, 14.587362, 113.26099,
            -188560.63, -102.97504, 113.26099, -1788112.3,
        ]);
        let (values, q) = symmetric_eigen(&s).unwrap();
        let back = &q * DMatrix::from_diagonal(&values) * q.transpose();
        assert!((back - &s).norm() <= 1e-9 * s.norm());
        // Q stays orthonormal.
        assert_relative_eq!(q.transpose() * &q, DMatrix::identity(4, 4), epsilon = 1e-12);
        // The same matrix shifted to be positive definite has a square root that squares back.
        let spd = &s + DMatrix::identity(4, 4) * 2.0e6;
        let r = sqrtm_psd(&spd).unwrap();
        assert!((&r * &r - &spd).norm() <= 1e-9 * spd.norm());
        // Bad input: not square, not finite.
        assert!(
            symmetric_eigen(&DMatrix::zeros(2, 3))
                .unwrap_err()
                .to_string()
                .contains("2×3")
        );
        let mut nan = DMatrix::identity(2, 2);
        nan[(0, 1)] = f64::NAN;
        assert!(
            symmetric_eigen(&nan)
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
    }

    #[test]
    fn matches_the_closed_form_for_two_by_two_covariances() {
        // For 2×2 SPD A, B the eigenvalues λ₁, λ₂ of AB are positive and
        // tr((A^{½} B A^{½})^{½}) = √λ₁ + √λ₂ = √(tr(AB) + 2√det(AB)).
        let a = spd(2.0, 0.6, 1.0);
        let b = spd(0.5, -0.3, 3.0);
        let ab = &a * &b;
        let expected_trace = (ab.trace() + 2.0 * ab.determinant().sqrt()).sqrt();
        let sa = GaussianStats::new(DVector::from_vec(vec![1.0, -1.0]), a.clone()).unwrap();
        let sb = GaussianStats::new(DVector::from_vec(vec![0.0, 1.0]), b.clone()).unwrap();
        assert_relative_eq!(
            trace_sqrt_product(&sa, &sb).unwrap(),
            expected_trace,
            epsilon = 1e-12
        );
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
        let d1 = GaussianStats::new(DVector::zeros(2), spd(4.0, 0.0, 9.0)).unwrap();
        let d2 = GaussianStats::new(DVector::zeros(2), spd(1.0, 0.0, 1.0)).unwrap();
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

    /// `n` ReLU features `max(0, W z + b)` of width `d` from an `r`-dimensional latent `z`:
    /// singular covariances (rank ≤ r) with exactly dead units, as a classifier's are.
    fn relu_features(rng: &mut Rng, n: usize, w: &DMatrix<f64>, bias: &[f64]) -> Features {
        let (r, d) = w.shape();
        let z = DMatrix::from_fn(n, r, |_, _| rng.normal());
        let f = z * w;
        let v = (0..n)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .map(|(i, j)| (f[(i, j)] + bias[j]).max(0.0))
            .collect();
        Features::new(v, d).unwrap()
    }

    #[test]
    fn the_factored_trace_term_matches_the_square_root_route_on_singular_covariances() {
        let mut rng = Rng::seed(11);
        let (d, r) = (64, 20);
        let w = DMatrix::from_fn(r, d, |_, _| rng.normal());
        // About a quarter of the units never fire (bias −4 against a unit-scale input).
        let bias: Vec<f64> = (0..d)
            .map(|j| {
                if j % 4 == 0 {
                    -4.0 * r as f64
                } else {
                    rng.normal()
                }
            })
            .collect();
        let a = GaussianStats::of(&relu_features(&mut rng, 400, &w, &bias)).unwrap();
        let b = GaussianStats::of(&relu_features(&mut rng, 300, &w, &bias)).unwrap();
        // The QR factor is a square root of the covariance: Rᵀ R = Σ (f64 rounding of sums
        // of 400 products, ~1e-13 relative).
        assert_relative_eq!(a.root.tr_mul(&a.root), a.cov, max_relative = 1e-10);
        assert_eq!(a.cov[(0, 0)], 0.0, "a dead unit has zero variance");
        // The eigenvalue route √eig(Σ₁^{½}Σ₂Σ₁^{½}) on these rank-20 covariances: its
        // clamped square roots of rounding-level eigenvalues (~1e-16·‖Σ‖²) add ~1e-8·‖Σ‖
        // each over the 44 null directions, so the two agree to ~1e-6 of tr Σ.
        let s1 = sqrtm_psd(&a.cov).unwrap();
        let inner = symmetric(&(&s1 * &b.cov * &s1));
        let by_roots: f64 = inner
            .symmetric_eigenvalues()
            .iter()
            .map(|l| l.max(0.0).sqrt())
            .sum();
        let factored = trace_sqrt_product(&a, &b).unwrap();
        let scale = a.cov.trace() + b.cov.trace();
        assert!(
            (factored - by_roots).abs() <= 1e-6 * scale,
            "{factored} against {by_roots} (scale {scale})"
        );
        // Swapping the sets transposes R₁R₂ᵀ: the same singular values, to SVD rounding.
        let swapped = trace_sqrt_product(&b, &a).unwrap();
        assert_relative_eq!(factored, swapped, max_relative = 1e-12);
        assert_relative_eq!(
            frechet_distance(&a, &b).unwrap(),
            frechet_distance(&b, &a).unwrap(),
            epsilon = 1e-10 * scale
        );
        // And against itself the distance is 0 to rounding: ‖R Rᵀ‖_* = tr(RᵀR) = tr Σ.
        assert!(frechet_distance(&a, &a).unwrap() <= 1e-12 * scale);
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
