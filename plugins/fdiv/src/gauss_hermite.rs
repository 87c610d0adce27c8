//! Gauss–Hermite quadrature: `∫ e^{−ξ²} g(ξ) dξ ≈ Σ_j w_j g(ξ_j)`, exact for polynomials of
//! degree `< 2K`. For a Gaussian expectation, `E_{N(m, s²)}[g(x)] ≈ π^{−½} Σ_j w_j g(m + √2 s ξ_j)`.

/// The `K` nodes and weights of the rule (weight function `e^{−ξ²}`), in f64: Newton's method
/// on the orthonormal Hermite recurrence with the classical initial guesses (Golub and Welsch's
/// values to ~1e-14).
pub fn gauss_hermite(k: usize) -> (Vec<f64>, Vec<f64>) {
    // π^{−1/4}: the orthonormal H₀.
    const PIM4: f64 = 0.751_125_544_464_942_5;
    let mut x = vec![0.0f64; k];
    let mut w = vec![0.0f64; k];
    let nf = k as f64;
    let mut z = 0.0f64;
    for i in 0..k.div_ceil(2) {
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-0.16667),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 1.0;
        for _ in 0..100 {
            // Orthonormal recurrence: p_{j+1} = ξ √(2/(j+1)) p_j − √(j/(j+1)) p_{j−1}.
            let (mut p1, mut p2) = (PIM4, 0.0);
            for j in 0..k {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
            }
            pp = (2.0 * nf).sqrt() * p2;
            let z1 = z;
            z = z1 - p1 / pp;
            if (z - z1).abs() <= 1e-14 {
                break;
            }
        }
        x[i] = z;
        x[k - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[k - 1 - i] = w[i];
    }
    (x, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn integrates_gaussian_moments_exactly() {
        let sqrt_pi = std::f64::consts::PI.sqrt();
        for k in [1, 2, 5, 16, 40, 64] {
            let (x, w) = gauss_hermite(k);
            // ∫ e^{−ξ²} ξ^{2j} dξ = Γ(j + ½) = √π (2j − 1)!! / 2^j, exact for 2j < 2K.
            let mut double_factorial = 1.0;
            for j in 0..k.min(8) {
                if j > 0 {
                    double_factorial *= (2 * j - 1) as f64;
                }
                let exact = sqrt_pi * double_factorial / 2f64.powi(j as i32);
                let sum: f64 = x
                    .iter()
                    .zip(&w)
                    .map(|(x, w)| w * x.powi(2 * j as i32))
                    .sum();
                // f64 nodes to ~1e-14; moments of degree ≤ 14 lose a few digits to ξ^{2j}.
                assert_relative_eq!(sum, exact, max_relative = 1e-11);
            }
            let odd: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(3)).sum();
            assert!(odd.abs() < 1e-12);
        }
    }
}
