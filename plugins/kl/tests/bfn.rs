//! KL is BFN: reference quantities of Graves et al. (2023) for continuous data, the Bayesian
//! update, the conformance kit, and the collapse of the deterministic sampler.

mod discrete;

use approx::assert_relative_eq;
use gpfn_core::belief::{DiagGaussian, DiagGaussianFamily};
use gpfn_core::burn::tensor::{Device, Tensor};
use gpfn_core::divergence::{Divergence, Noise};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::{BfnGeometric, Schedule, time_grid};
use gpfn_kl::{KlDivergence, KlLoss, kl_diag_gaussian};

const SIGMA1: f64 = 0.001;

/// α_i = σ₁^{−2i/n} (1 − σ₁^{2/n}), evaluated independently of the crate (Python, f64).
const ALPHA_REFERENCE: [(usize, usize, f64); 8] = [
    (10, 1, 2.9810717055349727),
    (10, 2, 11.867860219076164),
    (10, 5, 748.811356849042),
    (10, 10, 748811.356849042),
    (100, 1, 0.14815362149688283),
    (100, 2, 0.1701031170595244),
    (100, 50, 129.0364100439194),
    (100, 100, 129036.41004391942),
];

/// (t, γ(t) = 1 − σ₁^{2t}, continuous-time loss weight −ln σ₁ · σ₁^{−2t}).
const GAMMA_REFERENCE: [(f64, f64, f64); 4] = [
    (0.0, 0.0, 6.907755278982137),
    (0.25, 0.9683772233983162, 218.442402006354),
    (0.5, 0.999, 6907.755278982137),
    (1.0, 0.999999, 6907755.278982136),
];

#[test]
fn accuracies_match_bfn() {
    let kl = KlDivergence::default();
    let schedule = BfnGeometric { sigma1: SIGMA1 };
    for (n, i, alpha) in ALPHA_REFERENCE {
        let grid = time_grid(&schedule, n);
        // f64 throughout; 1e-6 relative leaves room for the ρ-difference cancellation.
        assert_relative_eq!(
            kl.maths().accuracy(&grid[i - 1]),
            alpha,
            max_relative = 1e-6
        );
    }
}

#[test]
fn flow_schedule_and_loss_weight_match_bfn() {
    let kl = KlDivergence::default();
    let schedule = BfnGeometric { sigma1: SIGMA1 };
    for (t, gamma, weight) in GAMMA_REFERENCE {
        assert_relative_eq!(
            schedule.kappa(t),
            gamma,
            max_relative = 1e-12,
            epsilon = 1e-15
        );
        assert_relative_eq!(
            kl.objective().loss_weight(&schedule, t),
            weight,
            max_relative = 1e-6
        );
    }
}

#[test]
fn discrete_loss_weight_is_n_alpha_over_two() {
    let kl = KlDivergence {
        loss: KlLoss::Discrete,
        discrete_steps: 10,
    };
    let schedule = BfnGeometric { sigma1: SIGMA1 };
    // t = t_{i−1} = (i−1)/n carries weight n/2 · α_i.
    assert_relative_eq!(
        kl.objective().loss_weight(&schedule, 0.0),
        5.0 * 2.9810717055349727,
        max_relative = 1e-6
    );
    assert_relative_eq!(
        kl.objective().loss_weight(&schedule, 0.1),
        5.0 * 11.867860219076164,
        max_relative = 1e-6
    );
    let mut rng = Rng::seed(3);
    for _ in 0..100 {
        let t = kl.objective().sample_time(&mut rng);
        assert!((t * 10.0 - (t * 10.0).round()).abs() < 1e-12 && t < 1.0);
    }
}

#[test]
fn bayesian_update_matches_bfn() {
    let device = Device::flex();
    let kl = KlDivergence::default();
    // BFN: ρ_i = ρ_{i−1} + α, μ_i = (ρ_{i−1} μ_{i−1} + α y)/ρ_i.
    let (mu, rho, y, alpha) = (
        [0.3f64, -1.2, 0.0],
        [1.0f64, 4.0, 0.25],
        [0.9f64, 0.5, -2.0],
        2.9810717055349727,
    );
    let prev = DiagGaussian::from_vecs(
        &mu.map(|v| v as f32),
        &rho.map(|r| (1.0 / r.sqrt()) as f32),
        &device,
    );
    let yt = Tensor::<1>::from_floats(y.map(|v| v as f32), &device).reshape([1, 3]);
    let next = kl.maths().prox(&prev, &yt, alpha).unwrap();
    let m: Vec<f32> = next.mean.into_data().try_to_vec::<f32>().unwrap();
    let s: Vec<f32> = next.std.into_data().try_to_vec::<f32>().unwrap();
    for k in 0..3 {
        let rho_next = rho[k] + alpha;
        let mean = (rho[k] * mu[k] + alpha * y[k]) / rho_next;
        // f32 tensors: a handful of roundings of O(1) values.
        assert_relative_eq!(m[k] as f64, mean, max_relative = 1e-6, epsilon = 1e-6);
        assert_relative_eq!(s[k] as f64, 1.0 / rho_next.sqrt(), max_relative = 1e-6);
    }
}

#[test]
fn kl_value_matches_the_closed_form() {
    let device = Device::flex();
    let p = DiagGaussian::from_vecs(&[0.5, -1.0], &[0.8, 2.0], &device);
    let q = DiagGaussian::from_vecs(&[0.0, 1.0], &[1.0, 1.5], &device);
    let v = kl_diag_gaussian(&p, &q).into_scalar::<f32>() as f64;
    let term = |mp: f64, sp: f64, mq: f64, sq: f64| {
        (sq / sp).ln() + (sp * sp + (mp - mq).powi(2)) / (2.0 * sq * sq) - 0.5
    };
    let expected = term(0.5, 0.8, 0.0, 1.0) + term(-1.0, 2.0, 1.0, 1.5);
    assert_relative_eq!(v, expected, max_relative = 1e-6);
    let zero = kl_diag_gaussian(&p, &p).into_scalar::<f32>();
    assert!(zero.abs() < 1e-6);
}

#[test]
fn conforms() {
    gpfn_core::conformance::assert_conforms(&KlDivergence::default());
}

#[test]
fn the_stochastic_sampler_does_not_collapse_but_the_deterministic_one_does() {
    let device = Device::flex();
    let kl = KlDivergence::default();
    let family = DiagGaussianFamily {};
    let schedule = BfnGeometric::default();
    let grid = time_grid(&schedule, 10);
    let net = |z: &Tensor<2>| z.clone().tanh();
    let spread = |noise: Noise| {
        let mut rng = Rng::seed(5);
        let mut state =
            gpfn_core::belief::BeliefFamily::prior(&family, 64, 2, &device, &mut rng).unwrap();
        for step in &grid {
            let x_hat = net(&state.gaussian.mean);
            state = kl
                .maths()
                .step(&family, state, &x_hat, step, noise, &mut rng)
                .unwrap();
        }
        let v: Vec<f32> = state.gaussian.mean.into_data().try_to_vec::<f32>().unwrap();
        let lo = v.iter().copied().fold(f32::MAX, f32::min);
        let hi = v.iter().copied().fold(f32::MIN, f32::max);
        hi - lo
    };
    assert_eq!(spread(Noise::Deterministic), 0.0);
    assert!(spread(Noise::Stochastic { eta: 1.0 }) > 0.1);
}
