//! The debiased Sinkhorn divergence `S_ε` between generated and reference features
//! ([`gpfn_ot`]; docs/maths.md, "Entropic optimal transport"), as an extra metric.

use super::{FeatureMetric, Features};
use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::Result;
use gpfn_ot::{Sinkhorn, cloud_divergence};

/// `S_ε(fake, real)` between the uniform empirical measures of the two feature sets,
/// squared-Euclidean cost; reported as `sinkhorn` in [`super::Metrics::extra`].
pub struct SinkhornMetric {
    solver: Sinkhorn,
    device: Device,
}

impl SinkhornMetric {
    /// The metric with `ε = epsilon`, in the units of the cost (squared feature distances),
    /// solved on `device`. `ε` is checked here, by the solver's own check, so that a bad value
    /// fails before any sample is drawn.
    pub fn new(epsilon: f64, device: Device) -> Result<SinkhornMetric> {
        let solver = Sinkhorn::with_epsilon(epsilon);
        solver.validate()?;
        Ok(SinkhornMetric { solver, device })
    }
}

/// The features as one point cloud `[1, rows, dim]` (already checked finite and rectangular).
fn cloud(f: &Features, device: &Device) -> Tensor<3> {
    let v: Vec<f32> = f.values().iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(v, [1, f.len(), f.dim()]), device)
}

impl FeatureMetric for SinkhornMetric {
    fn name(&self) -> &str {
        "sinkhorn"
    }

    fn compute(&self, real: &Features, fake: &Features) -> Result<f64> {
        real.check_same_dim(fake)?;
        let (fake, real) = (cloud(fake, &self.device), cloud(real, &self.device));
        cloud_divergence(&self.solver, &fake, &real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetricOptions, Reference};
    use gpfn_core::rng::Rng;

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
        let metric = SinkhornMetric::new(0.1, Device::flex()).unwrap();
        let m = reference
            .compare(&Features::new(fake, 2).unwrap(), &[0; 40], 10, &[&metric])
            .unwrap();
        // f32 potentials of O(10) values: absolute error ~1e-5 · |f| (docs/maths.md).
        approx::assert_abs_diff_eq!(m.extra["sinkhorn"], 1.0, epsilon = 2e-3);
    }

    /// A bad `ε` is refused when the metric is made, with the solver's message.
    #[test]
    fn a_bad_epsilon_is_refused_when_the_metric_is_made() {
        for epsilon in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = SinkhornMetric::new(epsilon, Device::flex()).err().unwrap();
            assert!(
                e.to_string()
                    .contains("epsilon must be positive and finite"),
                "{e}"
            );
        }
    }
}
