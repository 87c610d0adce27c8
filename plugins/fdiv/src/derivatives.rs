//! Closed-form derivatives of the per-coordinate f-divergences in the generic solver's
//! coordinates `(m, u = ln s)` of `p = N(m, s²)`, against `q = N(m_q, s_q²)`, with
//! `δ = m − m_q`, `v = s² = e^{2u}`, `v_q = s_q²` (docs/maths.md, "Closed-form derivatives").
//! They spare the solver its autodiff passes and finite differences: one pass of a few
//! element-wise expressions per Newton iteration, and the exact Hessian.
//!
//! Every tensor is `[n, 1]`, one coordinate per row, as the solver hands them over.

use gpfn_core::belief::DiagGaussian;
use gpfn_core::proximal_solver::CoordinateDerivatives;

/// `KL(p ‖ q) = u_q − u + (v + δ²)/(2 v_q) − ½`:
/// `∂_m = δ/v_q`, `∂_u = v/v_q − 1`, `∂²_mm = 1/v_q`, `∂²_mu = 0`, `∂²_uu = 2v/v_q`.
pub fn forward_kl(p: &DiagGaussian, q: &DiagGaussian) -> CoordinateDerivatives {
    let delta = p.mean.clone() - q.mean.clone();
    let inv_vq = q.std.clone().square().recip();
    let ratio = p.std.clone().square() * inv_vq.clone();
    CoordinateDerivatives {
        dm: delta.clone() * inv_vq.clone(),
        du: ratio.clone().sub_scalar(1.0),
        dmm: inv_vq,
        dmu: delta.zeros_like(),
        duu: ratio.mul_scalar(2.0),
    }
}

/// `KL(q ‖ p) = u − u_q + A/(2v) − ½`, `A = v_q + δ²`:
/// `∂_m = δ/v`, `∂_u = 1 − A/v`, `∂²_mm = 1/v`, `∂²_mu = −2δ/v`, `∂²_uu = 2A/v`.
pub fn reverse_kl(p: &DiagGaussian, q: &DiagGaussian) -> CoordinateDerivatives {
    let delta = p.mean.clone() - q.mean.clone();
    let inv_v = p.std.clone().square().recip();
    let a_over_v = (q.std.clone().square() + delta.clone().square()) * inv_v.clone();
    CoordinateDerivatives {
        dm: delta.clone() * inv_v.clone(),
        du: a_over_v.clone().neg().add_scalar(1.0),
        dmm: inv_v.clone(),
        dmu: (delta * inv_v).mul_scalar(-2.0),
        duu: a_over_v.mul_scalar(2.0),
    }
}

/// The derivatives of `k (1 − I_a)`, `I_a = ∫ p^a q^{1−a}` (`a ∉ {0, 1}`), which is
/// squared Hellinger (`a = ½`, `k = 1`), Amari's α-divergence (`k = 1/(a(1 − a))`) and
/// Pearson χ² (`a = 2`, `k = −1`). With `L = ln I_a = (1 − a)u + a u_q − ½ ln W − c δ²/(2W)`,
/// `W = a v_q + (1 − a) v`, `c = a(1 − a)`:
///
/// ```text
/// L_m  = −c δ/W
/// L_u  = (1 − a)(1 − v/W) + c(1 − a) δ² v/W²
/// L_mm = −c/W
/// L_mu = 2c(1 − a) δ v/W²
/// L_uu = −2c v_q v/W² + 2c(1 − a) δ² v (W − 2(1 − a)v)/W³
/// ```
///
/// and `∇D = −k I ∇L`, `∇²D = −k I (∇²L + ∇L ∇Lᵀ)`. Outside the domain `W > 0` the value is
/// `+∞` and these are computed at `W` clamped to `10⁻³⁰` (the solver never stands there:
/// its line search refuses infinite objectives).
pub fn power_integral(p: &DiagGaussian, q: &DiagGaussian, a: f64, k: f64) -> CoordinateDerivatives {
    let c = a * (1.0 - a);
    let delta = p.mean.clone() - q.mean.clone();
    let delta2 = delta.clone().square();
    let v = p.std.clone().square();
    let vq = q.std.clone().square();
    let w = (vq.clone().mul_scalar(a) + v.clone().mul_scalar(1.0 - a)).clamp_min(1e-30);
    let inv_w = w.clone().recip();
    let v_w = v.clone() * inv_w.clone();
    let log_i = p.std.clone().log().mul_scalar(1.0 - a) + q.std.clone().log().mul_scalar(a)
        - w.clone().log().mul_scalar(0.5)
        - (delta2.clone() * inv_w.clone()).mul_scalar(c / 2.0);
    let l_m = (delta.clone() * inv_w.clone()).mul_scalar(-c);
    let l_u = v_w.clone().neg().add_scalar(1.0).mul_scalar(1.0 - a)
        + (delta2.clone() * v_w.clone() * inv_w.clone()).mul_scalar(c * (1.0 - a));
    let l_mm = inv_w.clone().mul_scalar(-c);
    let l_mu = (delta * v_w.clone() * inv_w.clone()).mul_scalar(2.0 * c * (1.0 - a));
    let l_uu = (vq * v_w.clone() * inv_w.clone()).mul_scalar(-2.0 * c)
        + (delta2 * v_w * inv_w.clone().square() * (w - v.mul_scalar(2.0 * (1.0 - a))))
            .mul_scalar(2.0 * c * (1.0 - a));
    // −k I: the factor of every derivative of D = k(1 − I).
    let scale = log_i.exp().mul_scalar(-k);
    CoordinateDerivatives {
        dm: scale.clone() * l_m.clone(),
        du: scale.clone() * l_u.clone(),
        dmm: scale.clone() * (l_mm + l_m.clone().square()),
        dmu: scale.clone() * (l_mu + l_m * l_u.clone()),
        duu: scale * (l_uu + l_u.square()),
    }
}

/// Squared Hellinger `1 − I_{1/2}`.
pub fn squared_hellinger(p: &DiagGaussian, q: &DiagGaussian) -> CoordinateDerivatives {
    power_integral(p, q, 0.5, 1.0)
}

/// Pearson `χ² = I_2 − 1`.
pub fn chi2(p: &DiagGaussian, q: &DiagGaussian) -> CoordinateDerivatives {
    power_integral(p, q, 2.0, -1.0)
}

/// Amari's α-divergence `(1 − I_α)/(α(1 − α))`, and its limits `KL(p ‖ q)` at `α = 1` and
/// `KL(q ‖ p)` at `α = 0` (as [`crate::values::alpha_divergence`]).
pub fn alpha_divergence(p: &DiagGaussian, q: &DiagGaussian, alpha: f64) -> CoordinateDerivatives {
    if alpha == 1.0 {
        forward_kl(p, q)
    } else if alpha == 0.0 {
        reverse_kl(p, q)
    } else {
        power_integral(p, q, alpha, 1.0 / (alpha * (1.0 - alpha)))
    }
}
