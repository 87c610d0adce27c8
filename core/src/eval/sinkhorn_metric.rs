//! The debiased Sinkhorn divergence `S_ε` between generated and reference features
//! ([`crate::ot`]; docs/maths.md, "Entropic optimal transport"), as an extra metric.

use super::{FeatureMetric, Features};
use crate::Result;
use crate::ot::feature_sinkhorn_divergence;
use burn::tensor::Device;

/// `S_ε(fake, real)` between the uniform empirical measures of the two feature sets,
/// squared-Euclidean cost; reported as `sinkhorn` in [`super::Metrics::extra`].
pub struct SinkhornMetric {
    /// `ε`, in the units of the cost (squared feature distances).
    pub epsilon: f64,
    /// Where the solve runs.
    pub device: Device,
}

fn rows(f: &Features) -> Vec<Vec<f32>> {
    (0..f.len())
        .map(|i| f.row(i).iter().map(|&v| v as f32).collect())
        .collect()
}

impl FeatureMetric for SinkhornMetric {
    fn name(&self) -> &str {
        "sinkhorn"
    }

    fn compute(&self, real: &Features, fake: &Features) -> Result<f64> {
        feature_sinkhorn_divergence(&rows(fake), &rows(real), self.epsilon, &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{MetricOptions, Reference};
    use crate::rng::Rng;

    /// Through `Reference::compare`: translating the reference by `v` gives
    /// `S_ε = ‖v‖²` for every ε (the potentials only shift; docs/maths.md).
    #[test]
    fn reported_for_a_translated_set_as_the_squared_shift() {
        let mut rng = Rng::seed(3);
        let real: Vec<f64> = (0..40 * 2).map(|_| rng.normal()).collect();
        let v = [0.6, -0.8];
        let fake: Vec<f64> = real
            .chunks(2)
            .flat_map(|r| [r[0] + v[0], r[1] + v[1]])
            .collect();
        let reference =
            Reference::new(Features::new(real, 2).unwrap(), MetricOptions::default()).unwrap();
        let metric = SinkhornMetric {
            epsilon: 0.1,
            device: Device::flex(),
        };
        let m = reference
            .compare(&Features::new(fake, 2).unwrap(), &[0; 40], 10, &[&metric])
            .unwrap();
        // f32 potentials of O(10) values: absolute error ~1e-5 · |f| (docs/maths.md).
        approx::assert_abs_diff_eq!(m.extra["sinkhorn"], 1.0, epsilon = 2e-3);
    }
}
