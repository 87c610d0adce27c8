//! Feature vectors: one row per image, the penultimate activations of the evaluation
//! classifier (or any embedding). Every metric of [`crate`] is a function of two such
//! sets, computed in f64 on the host.

use gpfn_core::{GpfnError, Result};
use nalgebra::DMatrix;

/// `n` feature vectors of dimension `d`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    dim: usize,
    values: Vec<f64>,
}

impl Features {
    /// Rows of `values` of length `dim`; every value must be finite.
    pub fn new(values: Vec<f64>, dim: usize) -> Result<Features> {
        if dim == 0 {
            return Err(GpfnError::Shape(
                "features need a positive dimension".into(),
            ));
        }
        if !values.len().is_multiple_of(dim) {
            return Err(GpfnError::Shape(format!(
                "{} feature values do not split into rows of {dim}",
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(GpfnError::Invalid(format!(
                "feature {} of row {} is {}",
                i % dim,
                i / dim,
                values[i]
            )));
        }
        Ok(Features { dim, values })
    }

    /// From single-precision rows (network outputs).
    pub fn from_f32(values: &[f32], dim: usize) -> Result<Features> {
        Features::new(values.iter().map(|&v| v as f64).collect(), dim)
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows `n`.
    pub fn len(&self) -> usize {
        self.values.len() / self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The per-coordinate mean `μ = (1/n) Σ_i f_i`.
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.dim];
        for r in self.values.chunks_exact(self.dim) {
            for (a, b) in m.iter_mut().zip(r) {
                *a += b;
            }
        }
        let n = self.len().max(1) as f64;
        m.iter_mut().for_each(|a| *a /= n);
        m
    }

    /// The rows minus `center`, as an `n × d` matrix (distances are translation invariant;
    /// centring first keeps `‖a‖² + ‖b‖² − 2 a·b` accurate).
    pub fn centered_matrix(&self, center: &[f64]) -> DMatrix<f64> {
        DMatrix::from_fn(self.len(), self.dim, |i, k| {
            self.values[i * self.dim + k] - center[k]
        })
    }

    /// Checks that `other` has the same dimension.
    pub fn check_same_dim(&self, other: &Features) -> Result<()> {
        if self.dim != other.dim {
            return Err(GpfnError::Shape(format!(
                "feature sets of dimension {} and {} cannot be compared",
                self.dim, other.dim
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_ragged_and_non_finite_rows() {
        assert!(Features::new(vec![1.0, 2.0, 3.0], 2).is_err());
        assert!(Features::new(vec![1.0], 0).is_err());
        let e = Features::new(vec![1.0, f64::NAN], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("feature 1 of row 0 is NaN"), "{e}");
        let f = Features::new(vec![1.0, 2.0, 3.0, 6.0], 2).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f.row(1), &[3.0, 6.0]);
        assert_eq!(f.mean(), vec![2.0, 4.0]);
    }
}
