//! Every f-divergence value against independent f64 numerical integration, and at its known
//! special points (α-divergence limits, Pinsker, Hellinger bounds, χ²'s domain).

use approx::assert_relative_eq;
use gpfn_core::belief::DiagGaussian;
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::host::host_f64 as host;
use gpfn_fdiv::values;

/// (m_p, s_p, m_q, s_q): narrower, wider, shifted, equal-variance and nearly equal pairs, all
/// inside χ²'s domain `2 s_q² > s_p²`.
const PAIRS: [[f64; 4]; 7] = [
    [0.3, 0.8, 0.0, 1.0],
    [-1.0, 0.5, 0.5, 1.5],
    [2.0, 1.2, 0.0, 1.0],
    [0.0, 0.3, 0.0, 1.0],
    [0.5, 1.0, 0.0, 1.0],
    [0.1, 0.9, -0.2, 0.95],
    [-0.4, 0.25, 0.3, 0.6],
];

fn log_pdf(x: f64, m: f64, s: f64) -> f64 {
    -0.5 * ((x - m) / s).powi(2) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// `∫ g(x) dx` by composite Simpson on a window of ±14 standard deviations of both
/// Gaussians, 400 000 intervals: the integrands are smooth (TV: two kinks, O(h²) ≈ 1e-9).
fn integrate(pair: [f64; 4], g: impl Fn(f64, f64) -> f64) -> f64 {
    let [mp, sp, mq, sq] = pair;
    let lo = (mp - 14.0 * sp).min(mq - 14.0 * sq);
    let hi = (mp + 14.0 * sp).max(mq + 14.0 * sq);
    let n = 400_000;
    let h = (hi - lo) / n as f64;
    let f = |x: f64| g(log_pdf(x, mp, sp), log_pdf(x, mq, sq));
    let mut sum = f(lo) + f(hi);
    for i in 1..n {
        let x = lo + i as f64 * h;
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
    }
    sum * h / 3.0
}

fn reference(name: &str, pair: [f64; 4], alpha: f64) -> f64 {
    match name {
        "forward-kl" => integrate(pair, |lp, lq| lp.exp() * (lp - lq)),
        "reverse-kl" => integrate(pair, |lp, lq| lq.exp() * (lq - lp)),
        "chi2" => integrate(pair, |lp, lq| (2.0 * lp - lq).exp()) - 1.0,
        "hellinger" => 1.0 - integrate(pair, |lp, lq| (0.5 * (lp + lq)).exp()),
        "total-variation" => integrate(pair, |lp, lq| 0.5 * (lp.exp() - lq.exp()).abs()),
        "jensen-shannon" => integrate(pair, |lp, lq| {
            let lm = (0.5 * (lp.exp() + lq.exp())).ln();
            0.5 * (lp.exp() * (lp - lm) + lq.exp() * (lq - lm))
        }),
        "alpha" => {
            let i = integrate(pair, |lp, lq| (alpha * lp + (1.0 - alpha) * lq).exp());
            (1.0 - i) / (alpha * (1.0 - alpha))
        }
        _ => unreachable!("no reference for {name}"),
    }
}

/// The pairs as one-coordinate rows: `p` and `q` are `[7, 1]`.
fn beliefs(pairs: &[[f64; 4]], device: &Device) -> (DiagGaussian, DiagGaussian) {
    let col = |i: usize| {
        let v: Vec<f32> = pairs.iter().map(|c| c[i] as f32).collect();
        Tensor::<2>::from_data(TensorData::new(v, [pairs.len(), 1]), device)
    };
    (
        DiagGaussian {
            mean: col(0),
            std: col(1),
        },
        DiagGaussian {
            mean: col(2),
            std: col(3),
        },
    )
}

fn evaluate(name: &str, p: &DiagGaussian, q: &DiagGaussian, alpha: f64) -> Vec<f64> {
    host(match name {
        "forward-kl" => values::forward_kl(p, q),
        "reverse-kl" => values::reverse_kl(p, q),
        "chi2" => values::chi2(p, q),
        "hellinger" => values::squared_hellinger(p, q),
        "total-variation" => values::total_variation(p, q),
        "jensen-shannon" => values::jensen_shannon(p, q, 48),
        "alpha" => values::alpha_divergence(p, q, alpha),
        _ => unreachable!(),
    })
}

#[test]
fn values_match_numerical_integration() {
    let device = Device::flex();
    let (p, q) = beliefs(&PAIRS, &device);
    let cases: [(&str, f64); 11] = [
        ("forward-kl", 0.0),
        ("reverse-kl", 0.0),
        ("chi2", 0.0),
        ("hellinger", 0.0),
        ("total-variation", 0.0),
        ("jensen-shannon", 0.0),
        ("alpha", 0.5),
        ("alpha", 0.3),
        ("alpha", 1.5),
        ("alpha", 0.05),
        ("alpha", 0.9),
    ];
    for (name, alpha) in cases {
        let got = evaluate(name, &p, &q, alpha);
        for (k, pair) in PAIRS.iter().enumerate() {
            let want = reference(name, *pair, alpha);
            // f32 closed forms: a few roundings of O(1) terms, and 1 − ∫… cancels to an
            // absolute ~1e-7 · (number of terms); Gauss–Hermite (48 nodes) is below that here.
            let ok = approx::relative_eq!(got[k], want, max_relative = 2e-5, epsilon = 2e-6);
            assert!(ok, "{name} (α = {alpha}) at {pair:?}: {} vs {want}", got[k]);
        }
    }
}

#[test]
fn values_sum_over_coordinates_and_vanish_at_p_equal_q() {
    let device = Device::flex();
    let (p1, q1) = beliefs(&PAIRS, &device);
    // One row of 7 coordinates is the sum of the 7 one-coordinate rows.
    let row = |g: &DiagGaussian| DiagGaussian {
        mean: g.mean.clone().reshape([1, PAIRS.len()]),
        std: g.std.clone().reshape([1, PAIRS.len()]),
    };
    let (p7, q7) = (row(&p1), row(&q1));
    for name in [
        "forward-kl",
        "reverse-kl",
        "chi2",
        "hellinger",
        "total-variation",
        "jensen-shannon",
        "alpha",
    ] {
        let per: f64 = evaluate(name, &p1, &q1, 0.7).iter().sum();
        let total = evaluate(name, &p7, &q7, 0.7)[0];
        // Summation order of 7 f32 terms.
        assert_relative_eq!(total, per, max_relative = 1e-6);
        let zero = evaluate(name, &p1, &p1, 0.7);
        assert!(
            zero.iter().all(|z| z.abs() < 1e-6),
            "{name}(p, p) = {zero:?}"
        );
    }
}

#[test]
fn alpha_divergence_limits_and_special_values() {
    let device = Device::flex();
    let (p, q) = beliefs(&PAIRS, &device);
    let kl = evaluate("forward-kl", &p, &q, 0.0);
    let rkl = evaluate("reverse-kl", &p, &q, 0.0);
    let h2 = evaluate("hellinger", &p, &q, 0.0);
    let chi2 = evaluate("chi2", &p, &q, 0.0);
    assert_eq!(evaluate("alpha", &p, &q, 1.0), kl);
    assert_eq!(evaluate("alpha", &p, &q, 0.0), rkl);
    for k in 0..PAIRS.len() {
        // D_α = KL(p‖q) + O(1 − α) and KL(q‖p) + O(α): the O(·) slope is half a variance of
        // ln(p/q), ≲ 80 for these pairs (measured 75 at the worst), so at |1 − α| = 1e-4 the
        // gap is ≤ 8e-3 on values ≈ 7, ~1e-3 relative; f32 cancellation in
        // (1 − ∫p^α q^{1−α})/(α(1−α)) adds ≲ 1e-3 absolute.
        let near1 = evaluate("alpha", &p, &q, 1.0 - 1e-4)[k];
        let near0 = evaluate("alpha", &p, &q, 1e-4)[k];
        assert_relative_eq!(near1, kl[k], max_relative = 2e-3, epsilon = 2e-3);
        assert_relative_eq!(near0, rkl[k], max_relative = 2e-3, epsilon = 2e-3);
        // α = ½: 4 H²; α = 2: χ²/2 (same formula, different roundings).
        assert_relative_eq!(
            evaluate("alpha", &p, &q, 0.5)[k],
            4.0 * h2[k],
            max_relative = 1e-5,
            epsilon = 1e-6
        );
        assert_relative_eq!(
            evaluate("alpha", &p, &q, 2.0)[k],
            chi2[k] / 2.0,
            max_relative = 1e-5,
            epsilon = 1e-6
        );
    }
}

#[test]
fn pinsker_hellinger_and_jensen_shannon_bounds() {
    let device = Device::flex();
    // A wider sweep of one-coordinate pairs.
    let mut pairs = Vec::new();
    for &mp in &[-2.0, -0.3, 0.0, 0.05, 1.0, 3.0] {
        for &sp in &[0.2, 0.7, 1.0, 1.3] {
            pairs.push([mp, sp, 0.0, 1.0]);
        }
    }
    let (p, q) = beliefs(&pairs, &device);
    let kl = evaluate("forward-kl", &p, &q, 0.0);
    let tv = evaluate("total-variation", &p, &q, 0.0);
    let h2 = evaluate("hellinger", &p, &q, 0.0);
    let js = evaluate("jensen-shannon", &p, &q, 0.0);
    // f32 values: the bounds are checked up to 1e-6 absolute rounding.
    let eps = 1e-6;
    for k in 0..pairs.len() {
        // Pinsker: TV ≤ √(½ KL).
        assert!(tv[k] <= (0.5 * kl[k]).sqrt() + eps, "{:?}", pairs[k]);
        // With H² = 1 − BC: H² ≤ TV ≤ √(1 − (1 − H²)²) ≤ √2 H.
        assert!(h2[k] <= tv[k] + eps, "{:?}", pairs[k]);
        let bc = 1.0 - h2[k];
        assert!(tv[k] <= (1.0 - bc * bc).sqrt() + eps, "{:?}", pairs[k]);
        assert!(tv[k] <= (2.0 * h2[k]).sqrt() + eps, "{:?}", pairs[k]);
        // 0 ≤ JS ≤ ln 2 and JS ≤ TV · ln 2 (Lin 1991).
        assert!(js[k] >= -eps && js[k] <= std::f64::consts::LN_2 * tv[k] + eps);
    }
}

#[test]
fn chi2_is_infinite_outside_its_domain() {
    let device = Device::flex();
    // 2 s_q² = 2 ≤ s_p² = 2.25: ∫ p²/q diverges.
    let (p, q) = beliefs(&[[0.0, 1.5, 0.0, 1.0], [0.0, 1.4, 0.0, 1.0]], &device);
    let chi2 = evaluate("chi2", &p, &q, 0.0);
    assert_eq!(chi2[0], f64::INFINITY);
    assert!(chi2[1].is_finite());
    assert_eq!(evaluate("alpha", &p, &q, 2.0)[0], f64::INFINITY);
    assert_eq!(evaluate("alpha", &q, &p, -1.5)[0], f64::INFINITY);
}
