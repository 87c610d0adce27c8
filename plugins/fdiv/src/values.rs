//! The f-divergences between diagonal Gaussians, per row and summed over coordinates:
//! `D(p, q) = Σ_k D₁(N(m_p, s_p²), N(m_q, s_q²))` with `δ = m_p − m_q`. Every value is built
//! from burn tensor operations, so the generic proximal solver differentiates it by autodiff.
//!
//! `D_f(p ‖ q) = ∫ q f(p/q) dx` with `f(1) = 0`. Conventions (docs/maths.md):
//! forward KL `f = t ln t`, reverse KL `f = −ln t`, Pearson χ² `f = (t − 1)²`, squared
//! Hellinger `f = ½(√t − 1)²` (so `H² = 1 − ∫√(pq) ∈ [0, 1]`), total variation
//! `f = ½|t − 1|` (`TV ∈ [0, 1]`), Jensen–Shannon `½ KL(p ‖ M) + ½ KL(q ‖ M)`,
//! `M = (p + q)/2` (`JS ∈ [0, ln 2]`), and Amari's α-divergence
//! `f = (t^α − α t − (1 − α))/(α(α − 1))`.

use crate::gauss_hermite::gauss_hermite;
use gpfn_core::belief::DiagGaussian;
use gpfn_core::burn::tensor::{Tensor, TensorData};

fn row_sum(t: Tensor<2>) -> Tensor<1> {
    t.sum_dim(1).squeeze_dim(1)
}

/// `KL(p ‖ q) = Σ_k [ ln(s_q/s_p) + (s_p² + δ²)/(2 s_q²) − ½ ]`, every `s > 0`.
pub fn forward_kl(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    let vq = q.std.clone().square();
    let delta2 = (p.mean.clone() - q.mean.clone()).square();
    row_sum(
        (q.std.clone() / p.std.clone()).log()
            + (p.std.clone().square() + delta2).div(vq.mul_scalar(2.0))
            - 0.5,
    )
}

/// `KL(q ‖ p) = Σ_k [ ln(s_p/s_q) + (s_q² + δ²)/(2 s_p²) − ½ ]`, every `s > 0`.
pub fn reverse_kl(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    forward_kl(q, p)
}

/// `ln ∫ p^a q^{1−a} dx` per coordinate, with its domain `V = a s_q² + (1 − a) s_p² > 0`:
/// `(1 − a) ln s_p + a ln s_q − ½ ln V − a(1 − a) δ²/(2V)`. Outside the domain the integral
/// is `+∞`; the returned mask marks those coordinates (their log is computed at a clamped
/// `V` to keep gradients finite and must be replaced by the caller).
fn log_power_integral(p: &DiagGaussian, q: &DiagGaussian, a: f64) -> (Tensor<2>, Tensor<2>) {
    let v = q.std.clone().square().mul_scalar(a) + p.std.clone().square().mul_scalar(1.0 - a);
    let outside = v.clone().lower_equal_elem(0.0);
    let v = v.clamp_min(1e-30);
    let delta2 = (p.mean.clone() - q.mean.clone()).square();
    let log = p.std.clone().log().mul_scalar(1.0 - a) + q.std.clone().log().mul_scalar(a)
        - v.clone().log().mul_scalar(0.5)
        - (delta2 / v).mul_scalar(a * (1.0 - a) / 2.0);
    let mask = log.zeros_like().mask_fill(outside, 1.0);
    (log, mask)
}

/// Pearson `χ²(p ‖ q) = ∫ p²/q − 1 = Σ_k [ s_q² / (s_p √(2 s_q² − s_p²)) · exp(δ²/(2 s_q² − s_p²)) − 1 ]`
/// on its domain `2 s_q² > s_p²`; `+∞` for a row with any coordinate outside it.
pub fn chi2(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    let (log, outside) = log_power_integral(p, q, 2.0);
    let per = log.exp().sub_scalar(1.0);
    row_sum(per.mask_fill(outside.greater_elem(0.5), f32::INFINITY))
}

/// Squared Hellinger `H² = 1 − ∫√(pq) = Σ_k [ 1 − √(2 s_p s_q/(s_p² + s_q²)) exp(−δ²/(4(s_p² + s_q²))) ]`,
/// each term in `[0, 1]`.
pub fn squared_hellinger(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    let (log, _) = log_power_integral(p, q, 0.5);
    row_sum(log.exp().neg().add_scalar(1.0))
}

/// Amari's α-divergence `D_α = (1 − ∫ p^α q^{1−α}) / (α(1 − α))`, with the closed form of
/// `∫ p^α q^{1−α}` (see `log_power_integral`) on its domain `α s_q² + (1 − α) s_p² > 0` and
/// `+∞` outside it; `α = 1` is `KL(p ‖ q)` and `α = 0` is `KL(q ‖ p)` (the limits).
/// `α = ½` gives `4 H²`, `α = 2` gives `χ²/2`.
pub fn alpha_divergence(p: &DiagGaussian, q: &DiagGaussian, alpha: f64) -> Tensor<1> {
    if alpha == 1.0 {
        return forward_kl(p, q);
    }
    if alpha == 0.0 {
        return reverse_kl(p, q);
    }
    let (log, outside) = log_power_integral(p, q, alpha);
    let per = log
        .exp()
        .neg()
        .add_scalar(1.0)
        .div_scalar(alpha * (1.0 - alpha));
    row_sum(per.mask_fill(outside.greater_elem(0.5), f32::INFINITY))
}

/// Standard normal CDF `Φ(z) = ½(1 + erf(z/√2))`.
fn phi(z: Tensor<2>) -> Tensor<2> {
    z.mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
        .erf()
        .add_scalar(1.0)
        .mul_scalar(0.5)
}

/// Total variation `TV = ½∫|p − q| = Σ_k |[Φ_p(x₂) − Φ_p(x₁)] − [Φ_q(x₂) − Φ_q(x₁)]|`, with
/// `x₁, x₂` the crossing points of the two densities: the roots, in `z = x − m_q`, of
/// `A z² + B z + C = 0` with `A = 1/s_q² − 1/s_p²`, `B = 2δ/s_p²`,
/// `C = 2 ln(s_q/s_p) − δ²/s_p²` (`ln p = ln q`), taken in the cancellation-free form
/// `z₁ = Q/A`, `z₂ = C/Q`, `Q = −½(B + sign(B)√(B² − 4AC))`, with the discriminant written
/// `B² − 4AC = 4(δ²/(s_p² s_q²) − 2 ln(s_q/s_p) A) ≥ 0`. Equal variances (`A = 0`) leave
/// the one root `δ/2` (`z₁ = ±∞`, taken as a far point); `p = q` gives 0 (gradient 0 there:
/// TV is not differentiable at `p = q`). Exact up to f32 rounding of `Φ`.
pub fn total_variation(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    let delta = p.mean.clone() - q.mean.clone();
    let (vp, vq) = (p.std.clone().square(), q.std.clone().square());
    let a = vq.clone().recip() - vp.clone().recip();
    let b = delta.clone().mul_scalar(2.0) / vp.clone();
    let log_ratio = (q.std.clone() / p.std.clone()).log();
    let c = log_ratio.clone().mul_scalar(2.0) - delta.clone().square() / vp.clone();
    // Every division and square root below goes through a "safe" operand where it would be
    // singular, so that neither the value nor its autodiff gradient is NaN (the double-where
    // idiom): a masked-out branch must not produce ∞ either.
    let ones = a.ones_like();
    // sign(B) with sign(0) = +1, so that Q ≠ 0 unless p = q.
    let sign_b = b.clone().sign() + b.clone().equal_elem(0.0).float();
    // B² − 4AC simplifies to 4(δ²/(s_p² s_q²) − 2 ln(s_q/s_p) A), a sum of two non-negative
    // terms (A and ln(s_q/s_p) have opposite signs): no cancellation when s_p ≪ s_q.
    let disc = (delta.clone().square() / (vp * vq.clone()) - log_ratio.mul_scalar(2.0) * a.clone())
        .mul_scalar(4.0);
    let disc_pos = disc.clone().greater_elem(0.0);
    let sqrt_disc = disc
        .mask_where(disc_pos.clone().bool_not(), ones.clone())
        .sqrt()
        .mask_fill(disc_pos.bool_not(), 0.0);
    let big_q = (b + sign_b * sqrt_disc).mul_scalar(-0.5);
    // |A| below f32 resolution of 1/s_q² − 1/s_p²: equal variances, the far root is at ∞,
    // where Φ_p and Φ_q both saturate (any far point serves).
    let a_ok = a
        .clone()
        .abs()
        .greater(vq.recip().mul_scalar(1e-6))
        .bool_and(a.clone().abs().greater_elem(0.0));
    let far = 1e6;
    let z1 = (big_q.clone() / a.mask_where(a_ok.clone().bool_not(), ones.clone()))
        .mask_fill(a_ok.bool_not(), far);
    let q_ok = big_q.clone().abs().greater_elem(0.0);
    let z2 = (c / big_q.mask_where(q_ok.clone().bool_not(), ones)).mask_fill(q_ok.bool_not(), 0.0);
    let mass = |z_hi: Tensor<2>, z_lo: Tensor<2>| {
        let on_p = phi((z_hi.clone() - delta.clone()) / p.std.clone())
            - phi((z_lo.clone() - delta.clone()) / p.std.clone());
        let on_q = phi(z_hi / q.std.clone()) - phi(z_lo / q.std.clone());
        on_p - on_q
    };
    row_sum(mass(z2, z1).abs())
}

/// Jensen–Shannon `JS = ½ KL(a ‖ M) + ½ KL(b ‖ M)`, `M = (a + b)/2`, by Gauss–Hermite
/// quadrature (`nodes` points) under the *narrower* Gaussian `a` of each coordinate (JS is
/// symmetric), with `r = ln a − ln b`:
///
/// ```text
/// JS = ½ E_a[ln 2 − softplus(−r)] + ½ (ln 2 − E_a[e^{−r} softplus(r)])
/// ```
///
/// (the second term is `E_b[ln(2b/(a + b))]` moved under `a` by `b = a e^{−r}`). Under the
/// narrower Gaussian `r` is a gentle quadratic in the node (curvature `−1 + s_a²/s_b² ∈ (−1, 0]`)
/// and both integrands are smooth and bounded, so the rule converges fast; docs/maths.md gives
/// the accuracy measured against dense f64 integration.
pub fn jensen_shannon(p: &DiagGaussian, q: &DiagGaussian, nodes: usize) -> Tensor<1> {
    let device = p.mean.device();
    let (xi, w) = gauss_hermite(nodes);
    let k = xi.len();
    let to3 = |v: &[f64]| {
        let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        Tensor::<3>::from_data(TensorData::new(v, [1, 1, k]), &device)
    };
    let inv_sqrt_pi = 1.0 / std::f64::consts::PI.sqrt();
    let w: Vec<f64> = w.iter().map(|w| w * inv_sqrt_pi).collect();
    let (xi, w) = (to3(&xi), to3(&w));
    let [rows, d] = p.dims();
    // a: the narrower of p and q, per coordinate; b: the other.
    let p_narrow = p.std.clone().lower_equal(q.std.clone());
    let pick = |on_p: &Tensor<2>, on_q: &Tensor<2>| {
        on_q.clone()
            .mask_where(p_narrow.clone(), on_p.clone())
            .reshape([rows, d, 1])
    };
    let (ma, sa) = (pick(&p.mean, &q.mean), pick(&p.std, &q.std));
    let (mb, sb) = (pick(&q.mean, &p.mean), pick(&q.std, &p.std));
    let x = ma + sa.clone().mul_scalar(std::f64::consts::SQRT_2) * xi.clone();
    // r = ln a(x) − ln b(x) = −ξ² + ln(s_b/s_a) + (x − m_b)²/(2 s_b²).
    let r = xi.square().neg()
        + (sb.clone() / sa).log()
        + (x - mb).square() / sb.square().mul_scalar(2.0);
    let ln2 = std::f64::consts::LN_2;
    let first = softplus(r.clone().neg()).neg().add_scalar(ln2);
    let second = exp_neg_softplus(r);
    let e_first = (first * w.clone()).sum_dim(2).reshape([rows, d]);
    let e_second = (second * w).sum_dim(2).reshape([rows, d]);
    row_sum((e_first - e_second).add_scalar(ln2).mul_scalar(0.5))
}

/// `softplus(r) = ln(1 + e^r) = max(r, 0) + ln(1 + e^{−|r|})`, stable for any `r`.
fn softplus(r: Tensor<3>) -> Tensor<3> {
    r.clone().clamp_min(0.0) + r.abs().neg().exp().log1p()
}

/// `h(r) = e^{−r} softplus(r) ∈ (0, 1]`, stable for any `r`: `e^{−r}(r + ln(1 + e^{−r}))` for
/// `r ≥ 0`; `ln(1 + t)/t`, `t = e^r`, for `r < 0` (its series `1 − t/2 + t²/3` for `t < 10⁻⁴`).
/// Every branch is finite everywhere, so autodiff through the masks is too.
fn exp_neg_softplus(r: Tensor<3>) -> Tensor<3> {
    let positive = r.clone().greater_equal_elem(0.0);
    let rp = r.clone().clamp_min(0.0);
    let e = rp.clone().neg().exp();
    let on_pos = e.clone() * (rp + e.log1p());
    let t = r.clamp_max(0.0).exp();
    let tiny = t.clone().lower_elem(1e-4);
    let t_safe = t.clone().mask_fill(tiny.clone(), 1.0);
    let series = t.clone().mul_scalar(-0.5).add_scalar(1.0) + t.square().div_scalar(3.0);
    let on_neg = (t_safe.clone().log1p() / t_safe).mask_where(tiny, series);
    on_neg.mask_where(positive, on_pos)
}
