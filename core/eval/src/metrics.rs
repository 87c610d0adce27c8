//! All sample-quality metrics of one generated set against the reference set, computed from
//! classifier features in one go (the `k`-NN radii and pairwise sums of each set are shared
//! by the metrics that need them).

use super::classes::ClassHistogram;
use super::density_coverage::density_coverage_from_counts;
use super::diversity::diversity_from_sum;
use super::fid::{GaussianStats, frechet_distance};
use super::neighbours::{ball_counts, kth_radii_and_distance_sum};
use super::precision_recall::covered_fraction;
use super::{FeatureMetric, Features};
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Neighbourhood sizes of the manifold estimates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricOptions {
    /// `k` of improved precision and recall (Kynkäänniemi et al. 2019 use 3).
    pub k_precision_recall: usize,
    /// `k` of density and coverage (Naeem et al. 2020 use 5).
    pub k_density_coverage: usize,
}

impl Default for MetricOptions {
    fn default() -> Self {
        MetricOptions {
            k_precision_recall: 3,
            k_density_coverage: 5,
        }
    }
}

/// The real (reference) side of an evaluation, prepared once and reused for every sample set.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Features of the reference images.
    pub features: Features,
    /// The features' mean: both sets are centred on it before distances are taken.
    center: Vec<f64>,
    stats: GaussianStats,
    radii_pr: Vec<f64>,
    radii_dc: Vec<f64>,
    diversity: f64,
    options: MetricOptions,
}

impl Reference {
    /// Prepares `features` of the reference images for [`Reference::compare`].
    pub fn new(features: Features, options: MetricOptions) -> Result<Reference> {
        let stats = GaussianStats::of(&features)?;
        let (mut radii, sum) = kth_radii_and_distance_sum(
            &features,
            &[options.k_precision_recall, options.k_density_coverage],
        )?;
        let radii_dc = radii.pop().expect("two radii lists");
        let radii_pr = radii.pop().expect("two radii lists");
        let diversity = diversity_from_sum(sum, features.len());
        Ok(Reference {
            center: features.mean(),
            features,
            stats,
            radii_pr,
            radii_dc,
            diversity,
            options,
        })
    }

    /// Mean pairwise feature distance of the reference set.
    pub fn diversity(&self) -> f64 {
        self.diversity
    }

    /// The metrics of generated `fake` features with predicted classes `predicted` (out of
    /// `classes`), plus any `extra` metrics.
    pub fn compare(
        &self,
        fake: &Features,
        predicted: &[usize],
        classes: usize,
        extra: &[&dyn FeatureMetric],
    ) -> Result<Metrics> {
        self.features.check_same_dim(fake)?;
        if predicted.len() != fake.len() {
            return Err(GpfnError::Shape(format!(
                "{} predicted classes for {} feature vectors",
                predicted.len(),
                fake.len()
            )));
        }
        let o = self.options;
        let fid = frechet_distance(&self.stats, &GaussianStats::of(fake)?)?;
        let (fake_radii, sum) = kth_radii_and_distance_sum(fake, &[o.k_precision_recall])?;
        // One pass over the reference × sample distances for the real balls of both
        // precision (k_pr) and density/coverage (k_dc); one more for recall's fake balls.
        let center = &self.center;
        let real_balls = ball_counts(
            &self.features,
            &[&self.radii_pr, &self.radii_dc],
            fake,
            center,
        );
        let fake_balls = ball_counts(fake, &[&fake_radii[0]], &self.features, center);
        let precision = covered_fraction(&real_balls[0].per_point);
        let recall = covered_fraction(&fake_balls[0].per_point);
        let dc = density_coverage_from_counts(&real_balls[1], o.k_density_coverage);
        let mut more = BTreeMap::new();
        for m in extra {
            more.insert(m.name().to_string(), m.compute(&self.features, fake)?);
        }
        Ok(Metrics {
            fid,
            precision,
            recall,
            density: dc.density,
            coverage: dc.coverage,
            diversity: diversity_from_sum(sum, fake.len()),
            reference_diversity: self.diversity,
            classes: ClassHistogram::of(predicted, classes)?,
            options: o,
            extra: more,
        })
    }
}

/// Every metric of one sample set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Fréchet distance of the feature Gaussians ([`super::fid`]).
    pub fid: f64,
    /// Improved precision ([`super::precision_recall`]).
    pub precision: f64,
    /// Improved recall.
    pub recall: f64,
    /// Density ([`super::density_coverage`]).
    pub density: f64,
    /// Coverage.
    pub coverage: f64,
    /// Mean pairwise feature distance of the samples ([`super::diversity`]).
    pub diversity: f64,
    /// The same for the reference set.
    pub reference_diversity: f64,
    /// Predicted-class histogram and classes covered ([`super::classes`]).
    pub classes: ClassHistogram,
    /// Neighbourhood sizes used.
    pub options: MetricOptions,
    /// Metrics supplied by [`FeatureMetric`] hooks, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{density_coverage, precision_recall};
    use gpfn_core::rng::Rng;

    /// The shared passes of `compare` give exactly the standalone metrics.
    #[test]
    fn compare_equals_the_standalone_metrics() {
        let mut rng = Rng::seed(7);
        let mut cloud = |n: usize, shift: f64| {
            let v = (0..n * 3).map(|_| rng.normal() + shift).collect();
            Features::new(v, 3).unwrap()
        };
        let real = cloud(60, 0.0);
        let fake = cloud(45, 0.7);
        let options = MetricOptions::default();
        let reference = Reference::new(real.clone(), options).unwrap();
        let m = reference.compare(&fake, &vec![0; 45], 10, &[]).unwrap();
        let pr = precision_recall(&real, &fake, options.k_precision_recall).unwrap();
        let dc = density_coverage(&real, &fake, options.k_density_coverage).unwrap();
        assert!(pr.precision > 0.0 && pr.precision < 1.0, "{pr:?}");
        assert_eq!((m.precision, m.recall), (pr.precision, pr.recall));
        assert_eq!((m.density, m.coverage), (dc.density, dc.coverage));
    }
}
