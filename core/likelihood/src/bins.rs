//! Quantised data: `K` bins per dimension on `[−1, 1]` (8-bit images: `K = 256`).
//!
//! A value `x ∈ [−1, 1]` (an 8-bit pixel `p` loaded as `2p/(K − 1) − 1`) lies in bin
//! `p = round((x + 1)(K − 1)/2)`, whose edges are `2p/K − 1` and `2(p + 1)/K − 1` (each of width
//! `2/K`; the loaded value lies inside its bin for every `p`). Two uses:
//!
//! * **uniform dequantisation** for densities: `x̃ = 2(p + u)/K − 1`, `u ~ U[0, 1)^d`; then
//!   `−ln P(p) ≤ E_u[−ln p(x̃)] + d ln(K/2)` (Jensen; the bins have volume `(2/K)^d`), so
//!   [`dequantised_nats`] turns `−ln p(x̃)` into a bound on the discrete NLL;
//! * the **discretised Gaussian** of BFN's reconstruction term for discretised data (Graves
//!   et al. 2023, §5): `P(p) = Φ((r − x̂)/σ) − Φ((l − x̂)/σ)` with the outermost edges at `∓∞`
//!   ([`log_bin_probability`]).

use gpfn_core::rng::Rng;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// `ln Φ(z)`, the log of the standard normal CDF, accurate in both tails: `erfc` down to
/// `z = −20`, the asymptotic series `ln Φ(z) = −z²/2 − ln(−z√(2π)) + ln(1 − 1/z² + 3/z⁴ −
/// 15/z⁶ + 105/z⁸)` below (relative error < 10⁻¹⁵ there), and `ln(1 − Φ(−z))` by `ln_1p`
/// above 0.
pub fn log_ndtr(z: f64) -> f64 {
    if z > 0.0 {
        (-0.5 * libm::erfc(z * FRAC_1_SQRT_2)).ln_1p()
    } else if z > -20.0 {
        (0.5 * libm::erfc(-z * FRAC_1_SQRT_2)).ln()
    } else {
        let z2 = z * z;
        let series =
            1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2) + 105.0 / (z2 * z2 * z2 * z2);
        -0.5 * z2 - (-z * (2.0 * PI).sqrt()).ln() + series.ln()
    }
}

/// `ln(e^a − e^b)` for `a ≥ b` (`−∞` when equal).
fn log_diff_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        a
    } else {
        a + (-(b - a).exp()).ln_1p()
    }
}

/// `ln P(l < X < r)` for `X ~ N(mean, σ²)`, `l < r` (either may be infinite), without
/// cancellation in either tail.
pub fn log_gaussian_interval(l: f64, r: f64, mean: f64, sigma: f64) -> f64 {
    let a = (l - mean) / sigma;
    let b = (r - mean) / sigma;
    if a > 0.0 {
        // Both edges above the mean: P = Φ(−a) − Φ(−b).
        log_diff_exp(log_ndtr(-a), log_ndtr(-b))
    } else if b < 0.0 {
        log_diff_exp(log_ndtr(b), log_ndtr(a))
    } else {
        // The mean inside: P = 1 − Φ(a) − Φ(−b), each term at most ½.
        (-(log_ndtr(a).exp() + log_ndtr(-b).exp())).ln_1p()
    }
}

/// The bin of `x` among `bins` bins on `[−1, 1]`.
pub fn bin_of(x: f64, bins: usize) -> usize {
    let k = bins as f64;
    (((x + 1.0) * (k - 1.0) / 2.0).round().max(0.0) as usize).min(bins - 1)
}

/// The edges `(l, r)` of bin `p`, the outermost at `∓∞`.
pub fn bin_edges(p: usize, bins: usize) -> (f64, f64) {
    let k = bins as f64;
    let l = if p == 0 {
        f64::NEG_INFINITY
    } else {
        2.0 * p as f64 / k - 1.0
    };
    let r = if p + 1 == bins {
        f64::INFINITY
    } else {
        2.0 * (p + 1) as f64 / k - 1.0
    };
    (l, r)
}

/// `ln P(bin of x)` under `N(mean, σ²)`, discretised over `bins` bins.
pub fn log_bin_probability(x: f64, mean: f64, sigma: f64, bins: usize) -> f64 {
    let (l, r) = bin_edges(bin_of(x, bins), bins);
    log_gaussian_interval(l, r, mean, sigma)
}

/// Uniform dequantisation: each value moved to a uniform point of its bin.
pub fn dequantise(x: &[f32], bins: usize, rng: &mut Rng) -> Vec<f32> {
    let k = bins as f64;
    x.iter()
        .map(|&v| {
            let p = bin_of(v as f64, bins) as f64;
            (2.0 * (p + rng.uniform()) / k - 1.0) as f32
        })
        .collect()
}

/// The discrete NLL bound, in nats, from `−ln p(x̃)` of a dequantised item of dimension
/// `dim`: `−ln p(x̃) + d ln(K/2)`.
pub fn dequantised_nats(neg_log_density: f64, dim: usize, bins: usize) -> f64 {
    neg_log_density + dim as f64 * (bins as f64 / 2.0).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// Values of `scipy.special.log_ndtr` (SciPy 1.17.1, double precision), printed with
    /// `repr`.
    #[test]
    fn log_ndtr_matches_scipy_in_both_tails() {
        let cases = [
            (-40.0, -804.608_442_013_753_9),
            (-20.0, -203.917_155_371_097_3),
            (-19.9, -201.917_167_707_332_65),
            (-5.0, -15.064_998_393_988_727),
            (-1.0, -1.841_021_645_009_263_4),
            (0.0, -std::f64::consts::LN_2),
            (1.5, -0.069_143_455_612_233_99),
            (8.0, -6.220_960_574_271_742e-16),
        ];
        for (z, want) in cases {
            assert_relative_eq!(log_ndtr(z), want, max_relative = 1e-12);
        }
    }

    #[test]
    fn bins_partition_the_line_and_contain_their_values() {
        let k = 256;
        let mut total = 0.0;
        for p in 0..k {
            let x = 2.0 * p as f64 / (k - 1) as f64 - 1.0;
            assert_eq!(bin_of(x, k), p);
            let (l, r) = bin_edges(p, k);
            assert!(l <= x && x <= r, "{p}: {l} {x} {r}");
            total += log_bin_probability(x, 0.1, 0.3, k).exp();
        }
        // The bins cover the line: probabilities sum to 1 up to f64 rounding of 256 terms.
        assert_relative_eq!(total, 1.0, epsilon = 1e-12);
        // Far tails stay finite: a mean 0.5 away with σ = 10⁻³ (z ≈ 500).
        let far = log_bin_probability(-1.0, -0.5, 1e-3, k);
        assert!(far.is_finite() && far < -1e5, "{far}");
    }

    #[test]
    fn dequantised_values_stay_in_their_bins() {
        let mut rng = Rng::seed(3);
        let x: Vec<f32> = (0..256).map(|p| 2.0 * p as f32 / 255.0 - 1.0).collect();
        let d = dequantise(&x, 256, &mut rng);
        for (p, v) in d.iter().enumerate() {
            let (l, r) = bin_edges(p, 256);
            let (l, r) = (l.max(-1.0), r.min(1.0));
            assert!(*v as f64 >= l - 1e-6 && *v as f64 <= r + 1e-6, "{p}: {v}");
        }
        // 8-bit data: d · ln 128 nats, i.e. 7 bits per dimension.
        assert_relative_eq!(
            dequantised_nats(0.0, 10, 256) / (10.0 * std::f64::consts::LN_2),
            7.0,
            epsilon = 1e-12
        );
    }
}
