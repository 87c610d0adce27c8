//! Rectified Flow: conformance, the JKO sampler = explicit Euler step for step, Heun's second
//! order on Gaussian → Gaussian, velocity matching, time sampling.

use approx::assert_relative_eq;
use gpfn_core::belief::{BeliefFamily, DiagGaussianFamily, ParticleFamily};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::divergence::{Divergence, Noise, paired_flow};
use gpfn_core::rng::Rng;
use gpfn_core::sampler::{DeterministicSampler, Sampler};
use gpfn_core::sampling::{Predictor, SamplingProblem, proximal_chain};
use gpfn_core::schedule::{Schedule, Uniform};
use gpfn_rectified_flow::{HeunSampler, RectifiedFlow, TimeSampling, heun_chain};
use std::cell::Cell;

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn tensor(v: &[f32], rows: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [rows, v.len() / rows]), device)
}

fn problem<'a>(
    div: &'a dyn Divergence,
    family: &'a dyn BeliefFamily,
    schedule: &'a dyn Schedule,
    predictor: &'a Predictor<'a>,
    batch: usize,
    dim: usize,
) -> SamplingProblem<'a> {
    SamplingProblem {
        divergence: div,
        family,
        schedule,
        predictor,
        batch,
        dim,
        device: Device::flex(),
    }
}

#[test]
fn conforms() {
    gpfn_core::conformance::assert_conforms(&RectifiedFlow::default());
}

/// An arbitrary smooth "network", elementwise: `x̂ = sin(1.3 z) + 0.4 z + t − 0.2`.
fn net_f64(z: f64, t: f64) -> f64 {
    (1.3 * z).sin() + 0.4 * z + t - 0.2
}

/// Through the sampler API: after `i` deterministic steps of the `rectified-flow` chain, the
/// particle equals `i` steps of explicit Euler for `dz/dt = (x̂(z, t) − z)/(1 − t)` with
/// `h = 1/n`, computed independently on the host in f64.
#[test]
fn jko_sampler_is_explicit_euler_step_for_step() {
    let device = Device::flex();
    let div = RectifiedFlow::default();
    let family = ParticleFamily {};
    let schedule = Uniform {};
    let predictor = |z: Tensor<2>, t: f64| {
        (z.clone().mul_scalar(1.3).sin() + z.mul_scalar(0.4)).add_scalar(t - 0.2)
    };
    let (batch, dim, n) = (16, 3, 7);
    let p = problem(&div, &family, &schedule, &predictor, batch, dim);
    let z0 = host(
        family
            .prior(batch, dim, &device, &mut Rng::seed(5))
            .unwrap()
            .particle
            .unwrap(),
    );
    let h = 1.0 / n as f64;
    let mut euler: Vec<f64> = z0.iter().map(|&v| v as f64).collect();
    for i in 1..=n {
        let t = (i - 1) as f64 * h;
        for z in &mut euler {
            *z += h * (net_f64(*z, t) - *z) / (1.0 - t);
        }
        // proximal_chain draws the same prior from the same seed.
        let end = proximal_chain(&p, n, Noise::Deterministic, &mut Rng::seed(5), Some(i)).unwrap();
        let chain = host(end.state.particle.unwrap());
        for (a, b) in chain.iter().zip(&euler) {
            // f32 arithmetic against f64: a few ulps of O(1) values per step, compounded over
            // ≤ 7 steps whose Jacobian is ≤ 1.7/(1 − t) ≤ 12 in size: 1e-4 is ample, and far
            // below the O(h) difference a wrong step would make.
            assert!(
                (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                "step {i}: JKO {a} vs Euler {b}"
            );
        }
    }
    // The sampler's sample is the last prediction x̂(z_{n−1}, t_{n−1}) = z_n (w_n = 1).
    let sample = DeterministicSampler { steps: n }
        .sample(&p, &mut Rng::seed(5))
        .unwrap();
    for (a, b) in host(sample).iter().zip(&euler) {
        assert!((*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()));
    }
}

/// Data `N(μ, σ²)` per coordinate, prior `N(0, 1)`, straight path `z_t = t x + (1 − t) ε`:
/// `z_t ~ N(tμ, s_t²)` with `s_t² = t²σ² + (1 − t)²`, and the exact denoiser is the Gaussian
/// conditional mean `x̂(z, t) = E[x | z_t = z] = μ + (tσ²/s_t²)(z − tμ)`. The exact flow maps
/// `z₀` to `z₁ = μ + σ z₀`.
const MU: f64 = 1.5;
const SIGMA: f64 = 0.5;

fn gaussian_denoiser(z: Tensor<2>, t: f64) -> Tensor<2> {
    let s2 = t * t * SIGMA * SIGMA + (1.0 - t) * (1.0 - t);
    let gain = t * SIGMA * SIGMA / s2;
    z.sub_scalar(t * MU).mul_scalar(gain).add_scalar(MU)
}

/// Max error at `t = 1` of `n`-step Heun (or Euler) from a fixed set of `z₀`.
fn global_error(n: usize, heun: bool) -> f64 {
    let device = Device::flex();
    let div = RectifiedFlow::default();
    let family = ParticleFamily {};
    let schedule = Uniform {};
    let z0: Vec<f32> = (0..11).map(|k| -2.5 + 0.5 * k as f32).collect();
    let predictor = gaussian_denoiser;
    let p = problem(&div, &family, &schedule, &predictor, 11, 1);
    let start = gpfn_rectified_flow::prior_with_noise(&z0, 11, &device);
    let out = if heun {
        HeunSampler { steps: n }.sample_from(&p, start, &mut Rng::seed(0))
    } else {
        DeterministicSampler { steps: n }.sample_from(&p, start, &mut Rng::seed(0))
    };
    host(out.unwrap())
        .iter()
        .zip(&z0)
        .map(|(&z1, &z0)| (z1 as f64 - (MU + SIGMA * z0 as f64)).abs())
        .fold(0.0, f64::max)
}

/// Heun's global error shrinks as `h²`: halving `h` divides it by ≈ 4, so the observed order
/// `log₂(e(n)/e(2n))` is ≈ 2 (Euler, for contrast, ≈ 1).
#[test]
fn heun_global_error_is_second_order() {
    let errors: Vec<f64> = [16, 32, 64]
        .iter()
        .map(|&n| global_error(n, true))
        .collect();
    for w in errors.windows(2) {
        let order = (w[0] / w[1]).log2();
        // The same recursion in f64 gives orders 2.08 and 2.04 here (the O(h) correction of
        // the asymptotic ratio); f32 rounding (≲ 1e-5 over 127 evaluations) is < 3% of the
        // smallest error (≈ 4.8e-4). ±0.25 keeps first order (≈ 1) far outside.
        assert!(
            (order - 2.0).abs() < 0.25,
            "Heun errors {errors:?}: observed order {order}"
        );
    }
    let euler: Vec<f64> = [16, 32].iter().map(|&n| global_error(n, false)).collect();
    eprintln!("max error at t = 1, n = 16, 32, 64: Heun {errors:?}; n = 16, 32: Euler {euler:?}");
    let order = (euler[0] / euler[1]).log2();
    // f64 reference: 0.97.
    assert!((order - 1.0).abs() < 0.25, "Euler order {order}");
    assert!(errors[0] < euler[0] / 10.0, "{errors:?} vs Euler {euler:?}");
}

/// `n` Heun steps cost `2n − 1` network evaluations, and one Heun step is the Euler (JKO)
/// step.
#[test]
fn heun_counts_its_evaluations_and_starts_as_euler() {
    let device = Device::flex();
    let div = RectifiedFlow::default();
    let family = ParticleFamily {};
    let schedule = Uniform {};
    let calls = Cell::new(0usize);
    let predictor = |z: Tensor<2>, t: f64| {
        calls.set(calls.get() + 1);
        (z.clone().mul_scalar(1.3).sin() + z.mul_scalar(0.4)).add_scalar(t - 0.2)
    };
    let p = problem(&div, &family, &schedule, &predictor, 4, 2);
    let z0 = [0.3f32, -1.0, 2.0, 0.1, -0.5, 0.7, 1.2, -2.2];
    for n in [1, 2, 5] {
        calls.set(0);
        let start = gpfn_rectified_flow::prior_with_noise(&z0, 4, &device);
        let end = heun_chain(&p, start, n).unwrap();
        assert_eq!(end.nfe, 2 * n - 1);
        assert_eq!(calls.get(), 2 * n - 1);
        // The NFE a sampler reports (eval reports, sweeps) is the number of network calls it
        // makes: `n` for the JKO (Euler) sampler, `2n − 1` for Heun.
        let samplers: [Box<dyn Sampler>; 2] = [
            Box::new(DeterministicSampler { steps: n }),
            Box::new(HeunSampler { steps: n }),
        ];
        for sampler in samplers {
            calls.set(0);
            sampler.sample(&p, &mut Rng::seed(1)).unwrap();
            assert_eq!(calls.get(), sampler.evaluations(), "{sampler:?}");
        }
    }
    assert_eq!(HeunSampler { steps: 5 }.evaluations(), 9);
    let start = gpfn_rectified_flow::prior_with_noise(&z0, 4, &device);
    let heun = host(
        HeunSampler { steps: 1 }
            .sample_from(&p, start.clone(), &mut Rng::seed(0))
            .unwrap(),
    );
    let euler = host(
        DeterministicSampler { steps: 1 }
            .sample_from(&p, start, &mut Rng::seed(0))
            .unwrap(),
    );
    assert_eq!(heun, euler);
}

/// `dopri5` integrates the same ODE to `t_end` and returns `x̂` there: with the exact
/// Gaussian denoiser the flow is `z_t = tμ + s_t z₀`, so the sample is
/// `x̂(z_{t_e}, t_e) = μ + t_e σ² z₀ / s_{t_e}`. The error falls with the tolerance, the
/// network calls are what the sampler spent, and a step count is not how it is set.
#[test]
fn dopri5_reaches_the_exact_flow_within_its_tolerance_and_counts_its_calls() {
    use gpfn_core::sampler::Dopri5Sampler;
    let device = Device::flex();
    let div = RectifiedFlow::default();
    let family = ParticleFamily {};
    let schedule = Uniform {};
    let calls = Cell::new(0usize);
    let predictor = |z: Tensor<2>, t: f64| {
        calls.set(calls.get() + 1);
        gaussian_denoiser(z, t)
    };
    let z0: Vec<f32> = (0..11).map(|k| -2.5 + 0.5 * k as f32).collect();
    let p = problem(&div, &family, &schedule, &predictor, 11, 1);
    let mut spent = Vec::new();
    for tol in [1e-2, 1e-5] {
        let sampler = Dopri5Sampler {
            rtol: tol,
            atol: tol,
            ..Default::default()
        };
        calls.set(0);
        let start = gpfn_rectified_flow::prior_with_noise(&z0, 11, &device);
        let out = host(sampler.sample_from(&p, start, &mut Rng::seed(0)).unwrap());
        let te = sampler.t_end;
        let s = (te * te * SIGMA * SIGMA + (1.0 - te) * (1.0 - te)).sqrt();
        let err = out
            .iter()
            .zip(&z0)
            .map(|(&x, &z)| (x as f64 - (MU + te * SIGMA * SIGMA * z as f64 / s)).abs())
            .fold(0.0, f64::max);
        // Global error: a small multiple of the tolerance (f32 rounding, ~1e-6, is below the
        // tighter one).
        assert!(err < 10.0 * tol, "tol {tol}: max error {err}");
        spent.push(calls.get());
        assert_eq!(sampler.tolerance(), Some(tol));
    }
    assert!(spent[1] > spent[0], "{spent:?}");
    // The solve is 2 + 6 per attempted step: at least one step.
    assert!(
        spent.iter().all(|&c| c >= 8 && (c - 2) % 6 == 0),
        "{spent:?}"
    );
    let by_steps = Dopri5Sampler::default().with_steps(7);
    assert_eq!(by_steps.steps(), 0);
    assert_eq!(by_steps.tolerance(), Some(1e-5));
    let bad = Dopri5Sampler {
        t_end: 1.0,
        ..Default::default()
    };
    let err = bad.sample(&p, &mut Rng::seed(0)).unwrap_err().to_string();
    assert!(err.contains("sampler.t_end"), "{err}");
}

#[test]
fn heun_refuses_beliefs_without_particles() {
    let div = RectifiedFlow::default();
    let family = DiagGaussianFamily {};
    let schedule = Uniform {};
    let predictor = |z: Tensor<2>, _t: f64| z;
    let p = problem(&div, &family, &schedule, &predictor, 2, 2);
    let err = HeunSampler { steps: 3 }
        .sample(&p, &mut Rng::seed(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no particle"), "{err}");
}

/// With the velocity parametrisation `x̂ = z + (1 − t) v̂`, the weighted loss
/// `λ(t) ‖x − x̂‖²` is Rectified Flow's `‖(x − ε) − v̂‖²` (below the cap).
#[test]
fn velocity_matching_is_the_weighted_data_loss() {
    let device = Device::flex();
    let div = RectifiedFlow::default();
    let schedule = Uniform {};
    let mut rng = Rng::seed(3);
    for &t in &[0.0, 0.3, 0.9, 0.98] {
        let x = rng.normal_tensor(8, 3, &device);
        let eps = rng.normal_tensor(8, 3, &device);
        let v_hat = rng.normal_tensor(8, 3, &device);
        let z = paired_flow(&div, &x, &[t; 8], &eps).unwrap();
        let (cz, cv) =
            gpfn_network::Target::Velocity.conversion(schedule.kappa(t), 1.0 - schedule.kappa(t));
        let x_hat = z.mul_scalar(cz) + v_hat.clone().mul_scalar(cv);
        let weighted = div.objective().loss_weight(&schedule, t)
            * (x.clone() - x_hat).square().sum().into_scalar::<f32>() as f64;
        let velocity = (x - eps - v_hat).square().sum().into_scalar::<f32>() as f64;
        // f32 sums of 24 O(1) squares; (x − x̂) = (1 − t)(v − v̂) loses ≈ ulp/(1 − t) ≤ 5e-6
        // relative at t = 0.98.
        assert_relative_eq!(weighted, velocity, max_relative = 1e-4);
    }
    // The cap: 1/(1 − t)² exceeds 10⁴ beyond t = 0.99.
    assert_relative_eq!(div.objective().loss_weight(&schedule, 0.999), 1e4);
}

#[test]
fn time_sampling_follows_its_law() {
    let mut rng = Rng::seed(9);
    let n = 20_000;
    let logit = RectifiedFlow {
        time_sampling: TimeSampling::LogitNormal,
        location: 0.5,
        scale: 0.8,
        ..RectifiedFlow::default()
    };
    let l: Vec<f64> = (0..n)
        .map(|_| {
            let t = logit.objective().sample_time(&mut rng);
            assert!(t > 0.0 && t < 1.0);
            (t / (1.0 - t)).ln()
        })
        .collect();
    let mean = l.iter().sum::<f64>() / n as f64;
    let std = (l.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    // logit(t) ~ N(0.5, 0.8²): standard errors 0.8/√n ≈ 0.0057 (mean), 0.8/√(2n) ≈ 0.004
    // (std); 5 of them.
    assert!((mean - 0.5).abs() < 0.03, "mean of logit(t) {mean}");
    assert!((std - 0.8).abs() < 0.02, "std of logit(t) {std}");

    let uniform = RectifiedFlow::default();
    let u: f64 = (0..n)
        .map(|_| uniform.objective().sample_time(&mut rng))
        .sum::<f64>()
        / n as f64;
    // Standard error √(1/12/n) ≈ 0.002.
    assert!((u - 0.5).abs() < 0.01, "mean of uniform t {u}");

    let distill = RectifiedFlow {
        time_sampling: TimeSampling::Distill,
        ..RectifiedFlow::default()
    };
    assert_eq!(distill.objective().sample_time(&mut rng), 0.0);
}

/// The paired flow is the straight path of the given noise: `κ x + (1 − κ) ε`.
#[test]
fn paired_flow_uses_the_given_noise() {
    let device = Device::flex();
    let x = tensor(&[1.0, 2.0, -1.0, 0.5], 2, &device);
    let eps = tensor(&[0.3, -0.7, 1.1, 0.0], 2, &device);
    let z = paired_flow(&RectifiedFlow::default(), &x, &[0.25, 1.0], &eps).unwrap();
    let expected = [0.25 * 1.0 + 0.75 * 0.3, 0.25 * 2.0 + 0.75 * -0.7, -1.0, 0.5];
    for (a, b) in host(z).iter().zip(expected) {
        // Two f32 products and a sum of O(1) values.
        assert_relative_eq!(*a as f64, b, epsilon = 1e-6);
    }
    let bad = tensor(&[0.0; 6], 2, &device);
    assert!(paired_flow(&RectifiedFlow::default(), &x, &[0.5, 0.5], &bad).is_err());
}

/// Straightness is zero for a constant velocity field (`x̂ = z + (1 − t) c`, so `u = c` and the
/// chord is `c`), and positive for the curved Gaussian flow.
#[test]
fn straightness_is_zero_exactly_for_straight_paths() {
    let device = Device::flex();
    let div = RectifiedFlow::default();
    let family = ParticleFamily {};
    let schedule = Uniform {};
    let z0: Vec<f32> = (0..8).map(|k| -1.0 + 0.3 * k as f32).collect();
    let straight = |z: Tensor<2>, t: f64| {
        let c = tensor(&[0.5, -2.0], 1, &Device::flex());
        z + c.mul_scalar(1.0 - t)
    };
    let p = problem(&div, &family, &schedule, &straight, 4, 2);
    let start = gpfn_rectified_flow::prior_with_noise(&z0, 4, &device);
    let s = gpfn_rectified_flow::straightness(&p, start, 10).unwrap();
    // ‖c‖² = 4.25; the residual is f32 rounding of O(1) values.
    assert_relative_eq!(s.chord, 4.25, max_relative = 1e-5);
    assert!(s.s < 1e-9, "{s:?}");

    let curved = gaussian_denoiser;
    let p = problem(&div, &family, &schedule, &curved, 4, 2);
    let start = gpfn_rectified_flow::prior_with_noise(&z0, 4, &device);
    let s = gpfn_rectified_flow::straightness(&p, start, 10).unwrap();
    assert!(s.relative > 0.01, "{s:?}");
}
