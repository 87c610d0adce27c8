//! The reverse-SDE sampler (`sde`) on W2's straight path, with the oracle `x̂ = x`: its law is
//! the Euler–Maruyama recursion's, which converges to the flow distribution at first order.

use gpfn_core::belief::{BeliefFamily, ParticleFamily};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::rng::Rng;
use gpfn_core::sampler::{DeterministicSampler, Sampler, SdeSampler};
use gpfn_core::sampling::SamplingProblem;
use gpfn_core::schedule::Uniform;
use gpfn_w2::W2Divergence;

const POINTS: [f32; 2] = [0.8, -1.0];
const R: usize = 4000;

fn data() -> Vec<f32> {
    POINTS.iter().flat_map(|&p| vec![p; R]).collect()
}

/// Variance of `z − κ_i x` after `i` Euler–Maruyama steps of `n` from `N(0, 1)`:
/// `v' = (1 − Δκ/(1 − κ) − η Δκ)² v + 2η Δκ (1 − κ)²` (uniform grid).
fn em_variance(n: usize, i: usize, eta: f64) -> f64 {
    let mut v = 1.0;
    for j in 1..=i {
        let k = (j - 1) as f64 / n as f64;
        let dk = 1.0 / n as f64;
        let a = 1.0 - dk / (1.0 - k) - eta * dk;
        v = a * a * v + 2.0 * eta * dk * (1.0 - k).powi(2);
    }
    v
}

/// With the oracle the SDE's drift and noise are linear in `z`, so the law of `z − κ x` after
/// `i` steps is `N(0, v_i)` of the recursion: the sampler's particles match it within five
/// standard errors at the first, middle and last interior steps.
#[test]
fn the_oracle_chain_has_the_euler_maruyama_law() {
    let device = Device::flex();
    let div = W2Divergence::default();
    let family = ParticleFamily {};
    let schedule = Uniform {};
    let x = Tensor::<2>::from_data(TensorData::new(data(), [2 * R, 1]), &device);
    let oracle = move |_z: Tensor<2>, _t: f64| x.clone();
    let problem = SamplingProblem {
        divergence: &div,
        family: &family,
        schedule: &schedule,
        predictor: &oracle,
        batch: 2 * R,
        dim: 1,
        device: device.clone(),
    };
    let n = 20;
    for eta in [0.5, 1.0] {
        let sampler = SdeSampler { steps: n, eta };
        for i in [1, n / 2, n - 1] {
            let mut rng = Rng::seed(i as u64);
            let start = family.prior(2 * R, 1, &device, &mut rng).unwrap();
            let end = sampler.chain(&problem, start, Some(i), &mut rng).unwrap();
            let z: Vec<f32> = end.particle.into_data().try_to_vec::<f32>().unwrap();
            let kappa = i as f64 / n as f64;
            let v = em_variance(n, i, eta);
            for (g, &p) in POINTS.iter().enumerate() {
                let d: Vec<f64> = z[g * R..(g + 1) * R]
                    .iter()
                    .map(|&zi| zi as f64 - kappa * p as f64)
                    .collect();
                let mean = d.iter().sum::<f64>() / R as f64;
                let var = d.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (R - 1) as f64;
                // Five standard errors of a Gaussian sample's mean and standard deviation.
                let (se_m, se_s) = ((v / R as f64).sqrt(), (v / (2 * R) as f64).sqrt());
                assert!(mean.abs() < 5.0 * se_m, "η {eta}, step {i}: mean {mean}");
                assert!(
                    (var.sqrt() - v.sqrt()).abs() < 5.0 * se_s,
                    "η {eta}, step {i}: std {} vs {}",
                    var.sqrt(),
                    v.sqrt()
                );
            }
        }
    }
}

/// The recursion converges to the flow distribution `N(κx, (1 − κ)²)` at first order: the
/// relative variance gap at `κ = ½` halves with the step (an `O(Δκ)` scheme), from 7 % at
/// `n = 20`, η = 1.
#[test]
fn euler_maruyama_converges_at_first_order_to_the_flow() {
    for eta in [0.5, 1.0] {
        let gaps: Vec<f64> = [10, 20, 40, 80]
            .iter()
            .map(|&n| em_variance(n, n / 2, eta) / 0.25 - 1.0)
            .collect();
        for w in gaps.windows(2) {
            let ratio = w[1] / w[0];
            // f64 recursions: first order gives ratios → ½ (0.44–0.48 at these n).
            assert!((0.4..0.55).contains(&ratio), "η {eta}: gaps {gaps:?}");
        }
    }
}

/// η = 0 is the ODE: the same particles as the deterministic (JKO) sampler, up to f32
/// rounding of the two ways of writing the step; `n` steps cost `n` evaluations; a
/// negative η is an error naming the key.
#[test]
fn without_noise_it_is_the_deterministic_sampler() {
    let device = Device::flex();
    let div = W2Divergence::default();
    let family = ParticleFamily {};
    let schedule = Uniform {};
    let calls = std::cell::Cell::new(0usize);
    let net = |z: Tensor<2>, t: f64| {
        calls.set(calls.get() + 1);
        (z.clone().mul_scalar(1.3).sin() + z.mul_scalar(0.4)).add_scalar(t - 0.2)
    };
    let problem = SamplingProblem {
        divergence: &div,
        family: &family,
        schedule: &schedule,
        predictor: &net,
        batch: 64,
        dim: 3,
        device: device.clone(),
    };
    let sde: Vec<f32> = SdeSampler { steps: 8, eta: 0.0 }
        .sample(&problem, &mut Rng::seed(3))
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(calls.get(), 8);
    let ode: Vec<f32> = DeterministicSampler { steps: 8 }
        .sample(&problem, &mut Rng::seed(3))
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for (a, b) in sde.iter().zip(&ode) {
        // Eight steps of O(1) values with Jacobians ≤ 1.7/(1 − t): f32 differences of a few
        // ulps grow to ≲ 1e-5.
        assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let e = SdeSampler {
        steps: 4,
        eta: -0.1,
    }
    .sample(&problem, &mut Rng::seed(0))
    .unwrap_err()
    .to_string();
    assert!(e.contains("sampler.eta"), "{e}");
}
