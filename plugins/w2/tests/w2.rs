//! W2: the closed-form step, conformance, and Rectified Flow as JKO (Euler on a uniform grid).

/// The reverse-SDE sampler on W2's straight path (one test binary with the rest).
mod sde;

use approx::assert_relative_eq;
use gpfn_core::belief::{BeliefFamily, DiagGaussian, ParticleFamily};
use gpfn_core::burn::tensor::{Device, Tensor};
use gpfn_core::divergence::{Divergence, Noise};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::{Uniform, time_grid};
use gpfn_w2::{W2Divergence, W2LossWeight, half_w2_squared};

#[test]
fn prox_is_the_closed_form() {
    let device = Device::flex();
    let w2 = W2Divergence::default();
    let prev = DiagGaussian::from_vecs(&[0.2, -1.0], &[1.0, 0.5], &device);
    let y = Tensor::<1>::from_floats([1.0, 1.0], &device).reshape([1, 2]);
    let alpha = 3.0;
    let next = w2.maths().prox(&prev, &y, alpha).unwrap();
    let w = alpha / (1.0 + alpha);
    let m: Vec<f32> = next.mean.into_data().try_to_vec::<f32>().unwrap();
    let s: Vec<f32> = next.std.into_data().try_to_vec::<f32>().unwrap();
    assert_relative_eq!(m[0] as f64, (1.0 - w) * 0.2 + w, max_relative = 1e-6);
    assert_relative_eq!(m[1] as f64, -(1.0 - w) + w, max_relative = 1e-6);
    assert_relative_eq!(s[0] as f64, 1.0 - w, max_relative = 1e-6);
    assert_relative_eq!(s[1] as f64, 0.5 * (1.0 - w), max_relative = 1e-6);
}

#[test]
fn half_w2_squared_matches_the_closed_form() {
    let device = Device::flex();
    let p = DiagGaussian::from_vecs(&[0.5, -1.0], &[0.8, 2.0], &device);
    let q = DiagGaussian::from_vecs(&[0.0, 1.0], &[1.0, 1.5], &device);
    let v = half_w2_squared(&p, &q).into_scalar::<f32>() as f64;
    let expected = 0.5 * (0.25 + 0.04 + 4.0 + 0.25);
    assert_relative_eq!(v, expected, max_relative = 1e-6);
}

#[test]
fn conforms() {
    gpfn_core::conformance::assert_conforms(&W2Divergence::default());
}

/// On the uniform grid the deterministic W2 chain is explicit Euler for
/// `dz/dt = (x̂(z, t) − z)/(1 − t)`: `z_{i} = z_{i−1} + (1/n) (x̂ − z_{i−1})/(1 − t_{i−1})`.
#[test]
fn rectified_flow_jko_is_euler_step_for_step() {
    let device = Device::flex();
    let w2 = W2Divergence::default();
    let family = ParticleFamily {};
    let n = 7;
    let grid = time_grid(&Uniform {}, n);
    // An arbitrary smooth "network".
    let net = |z: &Tensor<2>, t: f64| {
        (z.clone().mul_scalar(1.3).sin() + z.clone().mul_scalar(0.4)).add_scalar(t as f32 - 0.2)
    };
    let mut rng = Rng::seed(11);
    let mut state = family.prior(32, 3, &device, &mut rng).unwrap();
    let mut euler = state.particle.clone().unwrap();
    for step in &grid {
        let z = state.particle.clone().unwrap();
        let x_hat = net(&z, step.t_prev);
        state = w2
            .maths()
            .step(&family, state, &x_hat, step, Noise::Deterministic, &mut rng)
            .unwrap();
        let h = 1.0 / n as f64;
        let velocity = (net(&euler, step.t_prev) - euler.clone()).div_scalar(1.0 - step.t_prev);
        euler = euler.clone() + velocity.mul_scalar(h);
        let gap = (state.particle.clone().unwrap() - euler.clone())
            .abs()
            .max()
            .into_scalar::<f32>();
        // Same arithmetic in a different order: a few f32 ulps of O(1) values.
        assert!(
            gap < 1e-5,
            "step {}: JKO and Euler differ by {gap}",
            step.index
        );
    }
}

#[test]
fn velocity_weight_is_capped() {
    let w2 = W2Divergence {
        loss_weight: W2LossWeight::Velocity,
        max_weight: 50.0,
    };
    // Uniform: λ = 1/(1 − t)².
    assert_relative_eq!(w2.objective().loss_weight(&Uniform {}, 0.5), 4.0);
    assert_relative_eq!(w2.objective().loss_weight(&Uniform {}, 0.999), 50.0);
    let data = W2Divergence {
        loss_weight: W2LossWeight::Data,
        max_weight: 50.0,
    };
    assert_relative_eq!(data.objective().loss_weight(&Uniform {}, 0.9), 1.0);
}

/// The ancestral step samples the straight path's Gaussian posterior: from
/// `z_{i−1} = a_{i−1} x + b_{i−1} ε` with the exact `x̂ = x`, the pair `(z_{i−1}, z_i)` has the
/// joint law of the Markov noising `z_{i−1} = r z_i + √v ξ`, i.e. correlation
/// `a_{i−1} b_i / (a_i b_{i−1})` (1/3 from κ = 0.25 to 0.5), where η-resampling at η = 1 has
/// correlation 0 and the deterministic transport 1. Marginals alone cannot tell these apart
/// (every η of DDIM's family keeps them), so this is the test of the posterior's variance.
#[test]
fn the_ancestral_step_has_the_posterior_joint_law() {
    let device = Device::flex();
    let n = 4000;
    let x = 0.7f32;
    let mut rng = Rng::seed(17);
    let eps = rng.normals(n);
    let z_prev: Vec<f32> = eps.iter().map(|e| 0.25 * x + 0.75 * e).collect();
    let grid = time_grid(&Uniform {}, 4);
    let step = &grid[1];
    assert_eq!((step.kappa_prev, step.kappa), (0.25, 0.5));
    let state = gpfn_core::belief::BeliefState {
        gaussian: DiagGaussian::standard(n, 1, &device),
        particle: Some(Tensor::<1>::from_floats(z_prev.as_slice(), &device).reshape([n, 1])),
    };
    let x_hat = Tensor::<2>::ones([n, 1], &device).mul_scalar(x);
    let next = W2Divergence::default()
        .maths()
        .step(
            &ParticleFamily {},
            state,
            &x_hat,
            step,
            Noise::Ancestral { eta: 1.0 },
            &mut rng,
        )
        .unwrap();
    let z: Vec<f32> = next.particle.unwrap().into_data().try_to_vec().unwrap();
    let mean = |v: &[f32]| v.iter().map(|&a| a as f64).sum::<f64>() / v.len() as f64;
    let (mp, mz) = (mean(&z_prev), mean(&z));
    let cov = z_prev
        .iter()
        .zip(&z)
        .map(|(&a, &b)| (a as f64 - mp) * (b as f64 - mz))
        .sum::<f64>()
        / n as f64;
    let sd = |v: &[f32], m: f64| {
        (v.iter().map(|&a| (a as f64 - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    let (sp, sz) = (sd(&z_prev, mp), sd(&z, mz));
    let rho = cov / (sp * sz);
    let want = (0.25 * 0.5) / (0.5 * 0.75);
    // Five standard errors of a sample correlation, (1 − ρ²)/√n ≈ 0.014 here.
    assert!(
        (rho - want).abs() < 5.0 * (1.0 - want * want) / (n as f64).sqrt(),
        "correlation {rho}, posterior sampling gives {want}"
    );
    // And the marginal is the flow's: N(κ x, (1 − κ)²) = N(0.35, 0.5²).
    assert!(
        (mz - 0.35).abs() < 5.0 * 0.5 / (n as f64).sqrt(),
        "mean {mz}"
    );
    assert!(
        (sz - 0.5).abs() < 5.0 * 0.5 / (2.0 * n as f64).sqrt(),
        "std {sz}"
    );
}
