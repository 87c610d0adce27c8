//! The closed form of `mmd` against numerical integration, and its basic properties.

use gpfn_core::belief::DiagGaussian;
use gpfn_core::burn::tensor::Device;
use gpfn_core::divergence::Divergence;
use gpfn_core::host::host_f64 as host;
use gpfn_plugin_mmd::{Mmd, mmd_value};

fn density(x: f64, m: f64, s: f64) -> f64 {
    (-(x - m).powi(2) / (2.0 * s * s)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
}

/// `∫∫ k(x, y) (p(x) p(y) + q(x) q(y) − 2 p(x) q(y)) dx dy` by the midpoint rule on a grid
/// covering ±8 standard deviations of both Gaussians.
fn mmd_by_quadrature(p: (f64, f64), q: (f64, f64), l: f64) -> f64 {
    let lo = (p.0 - 8.0 * p.1).min(q.0 - 8.0 * q.1);
    let hi = (p.0 + 8.0 * p.1).max(q.0 + 8.0 * q.1);
    let n = 1200;
    let h = (hi - lo) / n as f64;
    let xs: Vec<f64> = (0..n).map(|i| lo + (i as f64 + 0.5) * h).collect();
    let dp: Vec<f64> = xs.iter().map(|&x| density(x, p.0, p.1)).collect();
    let dq: Vec<f64> = xs.iter().map(|&x| density(x, q.0, q.1)).collect();
    let mut sum = 0.0;
    for i in 0..n {
        for j in 0..n {
            let k = (-(xs[i] - xs[j]).powi(2) / (2.0 * l * l)).exp();
            sum += k * (dp[i] * dp[j] + dq[i] * dq[j] - 2.0 * dp[i] * dq[j]);
        }
    }
    sum * h * h
}

#[test]
fn closed_form_matches_numerical_integration() {
    let device = Device::flex();
    // (m_p, s_p, m_q, s_q) per coordinate; one row, summed over the coordinates.
    let coords = [
        (0.3, 0.8, -0.4, 1.2),
        (1.5, 0.3, 0.0, 1.0),
        (-0.2, 2.0, 0.1, 0.5),
        (0.0, 1.0, 0.0, 1.0),
    ];
    for l in [0.5, 1.0, 2.0] {
        let mut expected = 0.0;
        for &(mp, sp, mq, sq) in &coords {
            let per = mmd_by_quadrature((mp, sp), (mq, sq), l);
            // Each coordinate on its own, then the sum over coordinates.
            let p = DiagGaussian::from_vecs(&[mp as f32], &[sp as f32], &device);
            let q = DiagGaussian::from_vecs(&[mq as f32], &[sq as f32], &device);
            let got = host(mmd_value(&p, &q, l))[0];
            assert!((got - per).abs() < 2e-5, "ℓ = {l}: {got} vs {per}");
            expected += per;
        }
        let f = |i: usize| coords.map(|c| [c.0, c.1, c.2, c.3][i] as f32);
        let p = DiagGaussian::from_vecs(&f(0), &f(1), &device);
        let q = DiagGaussian::from_vecs(&f(2), &f(3), &device);
        let div = Mmd {
            length_scale: l,
            ..Mmd::default()
        };
        let got = host(div.maths().value(&p, &q))[0];
        assert!(
            (got - expected).abs() < 1e-4,
            "ℓ = {l}: {got} vs {expected}"
        );
    }
}

#[test]
fn is_a_divergence_zero_only_at_equality_and_symmetric() {
    let device = Device::flex();
    let p = DiagGaussian::from_vecs(&[0.5, -1.0, 2.0], &[1.0, 0.4, 0.1], &device);
    let q = DiagGaussian::from_vecs(&[0.5, -0.7, 2.0], &[1.0, 0.4, 0.3], &device);
    let same = host(mmd_value(&p, &p, 1.0));
    assert!(same.iter().all(|v| v.abs() < 1e-6), "{same:?}");
    let pq = host(mmd_value(&p, &q, 1.0));
    let qp = host(mmd_value(&q, &p, 1.0));
    for (a, b) in pq.iter().zip(&qp) {
        assert!(*a > 1e-3, "{a}");
        assert!((a - b).abs() < 1e-6);
    }
}
