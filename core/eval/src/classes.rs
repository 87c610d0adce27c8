//! The predicted-class histogram: how a sample set spreads over the classifier's classes,
//! and how many classes it reaches (a class counts as covered when at least one sample is
//! predicted to belong to it). A collapsed sampler covers one class.

use gpfn_core::{GpfnError, Result};

/// Counts per class and the number of classes covered.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassHistogram {
    /// `counts[c]`: samples predicted as class `c`.
    pub counts: Vec<usize>,
    /// Classes with at least one sample.
    pub covered: usize,
}

impl ClassHistogram {
    /// The histogram of `predicted` labels over `classes` classes.
    pub fn of(predicted: &[usize], classes: usize) -> Result<ClassHistogram> {
        let mut counts = vec![0; classes];
        for &c in predicted {
            *counts.get_mut(c).ok_or_else(|| {
                GpfnError::Invalid(format!(
                    "predicted class {c} but there are {classes} classes"
                ))
            })? += 1;
        }
        let covered = counts.iter().filter(|&&n| n > 0).count();
        Ok(ClassHistogram { counts, covered })
    }

    /// Fraction of samples in each class.
    pub fn shares(&self) -> Vec<f64> {
        let total = self.counts.iter().sum::<usize>().max(1) as f64;
        self.counts.iter().map(|&n| n as f64 / total).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_covers() {
        let h = ClassHistogram::of(&[3, 3, 0, 9, 3], 10).unwrap();
        assert_eq!(h.counts, vec![1, 0, 0, 3, 0, 0, 0, 0, 0, 1]);
        assert_eq!(h.covered, 3);
        assert_eq!(h.shares()[3], 0.6);
        assert_eq!(ClassHistogram::of(&[4; 7], 10).unwrap().covered, 1);
        assert!(ClassHistogram::of(&[10], 10).is_err());
    }
}
