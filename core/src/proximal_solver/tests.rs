//! The solver against closed forms (KL = Bayes, ½W2²), by value only, and on bad input.

use super::*;
use crate::host::host_f64 as host;
use burn::tensor::{Device, TensorData};

/// Forward KL between diagonal Gaussians, written inline (independent of any plugin).
fn kl(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    let vq = q.std.clone().square();
    ((p.std.clone().square() + (p.mean.clone() - q.mean.clone()).square()) / vq
        + (q.std.clone() / p.std.clone()).log().mul_scalar(2.0)
        - 1.0)
        .sum_dim(1)
        .squeeze_dim(1)
        .mul_scalar(0.5)
}

/// ½ W2² between diagonal Gaussians, written inline.
fn half_w2(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    ((p.mean.clone() - q.mean.clone()).square() + (p.std.clone() - q.std.clone()).square())
        .sum_dim(1)
        .squeeze_dim(1)
        .mul_scalar(0.5)
}

/// A grid of previous beliefs and observations: means and observations in `[−2, 2]`,
/// stds in `[0.1, 3]`, one coordinate per combination.
fn grid(device: &Device) -> (DiagGaussian, Tensor<2>, Vec<[f64; 3]>) {
    let mut cases = Vec::new();
    for &m in &[-2.0, 0.0, 0.7] {
        for &s in &[0.1, 0.5, 1.0, 3.0] {
            for &y in &[-2.0, 0.0, 0.3, 2.0] {
                cases.push([m, s, y]);
            }
        }
    }
    let d = cases.len();
    let col = |i: usize| -> Tensor<2> {
        let v: Vec<f32> = cases.iter().map(|c| c[i] as f32).collect();
        Tensor::from_data(TensorData::new(v, [1, d]), device)
    };
    (
        DiagGaussian {
            mean: col(0),
            std: col(1),
        },
        col(2),
        cases,
    )
}

#[test]
fn reproduces_the_kl_closed_form_bayes_rule() {
    let device = Device::flex();
    let (prev, y, cases) = grid(&device);
    let options = SolverOptions {
        start: Start::Previous,
        ..SolverOptions::default()
    };
    for alpha in [0.01, 0.3, 1.0, 7.0, 100.0] {
        let (p, report) = solve(&kl, &prev, &y, alpha, &options).unwrap();
        assert!(report.converged, "α = {alpha}: {report:?}");
        let (m, s) = (host(p.mean), host(p.std));
        for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
            // Bayes: ρ = 1/s_q² + α, m = (m_q/s_q² + α y)/ρ.
            let rho = 1.0 / (sq * sq) + alpha;
            let mean = (mq / (sq * sq) + alpha * yk) / rho;
            // 1e-5: the tolerance of the issue; the f32 fixed point is ~1e-7 accurate.
            approx::assert_relative_eq!(m[k], mean, epsilon = 1e-5, max_relative = 1e-5);
            approx::assert_relative_eq!(s[k], rho.sqrt().recip(), max_relative = 1e-5);
        }
    }
}

#[test]
fn reproduces_the_w2_closed_form() {
    let device = Device::flex();
    let (prev, y, cases) = grid(&device);
    for start in [Start::Previous, Start::Bayes] {
        let options = SolverOptions {
            start,
            ..SolverOptions::default()
        };
        for alpha in [0.01, 0.3, 1.0, 7.0, 100.0] {
            let (p, report) = solve(&half_w2, &prev, &y, alpha, &options).unwrap();
            assert!(report.converged, "α = {alpha}: {report:?}");
            let (m, s) = (host(p.mean), host(p.std));
            let w = alpha / (1.0 + alpha);
            for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
                // m = (1 − w) m_q + w y, s = (1 − w) s_q; 1e-5 as above.
                let mean = (1.0 - w) * mq + w * yk;
                approx::assert_relative_eq!(m[k], mean, epsilon = 1e-5, max_relative = 1e-5);
                approx::assert_relative_eq!(s[k], (1.0 - w) * sq, max_relative = 1e-5);
            }
        }
    }
}

#[test]
fn solves_a_divergence_known_only_by_its_value() {
    // D₁ = (m_p − m_q)⁴/4 + (s_p − s_q)² : no closed-form step; optimality conditions
    // α(m − y) + (m − m_q)³ = 0 and α s + 2(s − s_q) = 0 are checked on the result.
    let quartic = |p: &DiagGaussian, q: &DiagGaussian| -> Tensor<1> {
        ((p.mean.clone() - q.mean.clone())
            .powi_scalar(4)
            .mul_scalar(0.25)
            + (p.std.clone() - q.std.clone()).square())
        .sum_dim(1)
        .squeeze_dim(1)
    };
    let device = Device::flex();
    let (prev, y, cases) = grid(&device);
    for alpha in [0.1, 1.0, 10.0] {
        let (p, report) = solve(&quartic, &prev, &y, alpha, &SolverOptions::default()).unwrap();
        assert!(report.converged, "α = {alpha}: {report:?}");
        let (m, s) = (host(p.mean), host(p.std));
        for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
            let stationarity = alpha * (m[k] - yk) + (m[k] - mq).powi(3);
            // Residual of an f32 solution: terms of size ≤ α·4 + 64, rounded at 1e-7.
            assert!(stationarity.abs() < 1e-4 * (1.0 + alpha), "{stationarity}");
            let s_star = 2.0 * sq / (alpha + 2.0);
            approx::assert_relative_eq!(s[k], s_star, max_relative = 1e-5);
        }
    }
}

#[test]
fn a_failing_coordinate_does_not_stop_the_others() {
    // One coordinate with a NaN previous mean (its objective is NaN): it fails and the
    // solve reports no convergence, but every other coordinate still reaches Bayes' rule
    // (the solver once stopped the whole batch at the first non-finite step).
    let device = Device::flex();
    let (prev, y, cases) = grid(&device);
    let bad = 5;
    let mut means: Vec<f32> = cases.iter().map(|c| c[0] as f32).collect();
    means[bad] = f32::NAN;
    let prev = DiagGaussian {
        mean: Tensor::from_data(TensorData::new(means, [1, cases.len()]), &device),
        std: prev.std,
    };
    let alpha = 7.0;
    let options = SolverOptions {
        start: Start::Previous,
        ..SolverOptions::default()
    };
    let (p, report) = solve(&kl, &prev, &y, alpha, &options).unwrap();
    assert!(!report.converged, "{report:?}");
    let (m, s) = (host(p.mean), host(p.std));
    for (k, &[mq, sq, yk]) in cases.iter().enumerate() {
        if k == bad {
            continue;
        }
        let rho = 1.0 / (sq * sq) + alpha;
        approx::assert_relative_eq!(
            m[k],
            (mq / (sq * sq) + alpha * yk) / rho,
            epsilon = 1e-5,
            max_relative = 1e-5
        );
        approx::assert_relative_eq!(s[k], rho.sqrt().recip(), max_relative = 1e-5);
    }
}

#[test]
fn a_step_without_minimiser_collapses_to_the_point_mass() {
    // Squared Hellinger is at most 1: with q = N(0, 0.05²), y = 1 and α = 40, moving the
    // mean to y saves α/2 = 20 and costs at most 1, and there the overlap with q is
    // e^{−100}, so α s²/2 drives s → 0: the infimum is the point mass at y. The second
    // coordinate (y = 0.01, inside q) has a proper minimiser.
    let hellinger = |p: &DiagGaussian, q: &DiagGaussian| -> Tensor<1> {
        let v = p.std.clone().square() + q.std.clone().square();
        let bc = (p.std.clone() * q.std.clone()).mul_scalar(2.0) / v.clone();
        let overlap =
            bc.sqrt() * ((p.mean.clone() - q.mean.clone()).square() / v.mul_scalar(-4.0)).exp();
        overlap.neg().add_scalar(1.0).sum_dim(1).squeeze_dim(1)
    };
    let device = Device::flex();
    let row = |v: [f32; 2]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, 2]), &device);
    let prev = DiagGaussian {
        mean: row([0.0, 0.0]),
        std: row([0.05, 0.05]),
    };
    let (p, report) = solve(
        &hellinger,
        &prev,
        &row([1.0, 0.01]),
        40.0,
        &SolverOptions::default(),
    )
    .unwrap();
    assert_eq!(report.collapsed, 1, "{report:?}");
    assert!(report.converged, "{report:?}");
    assert!(report.iterations < 60, "{report:?}");
    let (m, s) = (host(p.mean), host(p.std));
    // At y to the f32 resolution of the point mass's mean, s below 10⁻⁶ s_q.
    approx::assert_relative_eq!(m[0], 1.0, max_relative = 1e-5);
    assert!(s[0] < 1e-6 * 0.05, "{s:?}");
    assert!(s[1] > 0.01, "{s:?}");
}

#[test]
fn rejects_bad_input_and_handles_infinite_accuracy() {
    let device = Device::flex();
    let (prev, y, _) = grid(&device);
    let options = SolverOptions::default();
    assert!(solve(&kl, &prev, &y, 0.0, &options).is_err());
    assert!(solve(&kl, &prev, &y, f64::NAN, &options).is_err());
    let short = y.clone().slice([0..1, 0..3]);
    let err = solve(&kl, &prev, &short, 1.0, &options).unwrap_err();
    assert!(err.to_string().contains("y is [1, 3]"), "{err}");
    let (p, report) = solve(&kl, &prev, &y, f64::INFINITY, &options).unwrap();
    assert!(report.converged);
    assert_eq!(host(p.mean), host(y));
    assert!(host(p.std).iter().all(|&s| s == 0.0));
}
