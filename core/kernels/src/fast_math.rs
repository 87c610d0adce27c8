//! Vectorisable `exp` and the sigmoid, and the CPU-feature dispatch of the loops that use them.
//!
//! `exp(x) = 2^n · e^r`, `n = round(x / ln 2)`, `r = x − n ln 2 ∈ [−ln2/2, ln2/2]`, with `e^r`
//! the degree-6 minimax polynomial of Cephes' `expf` and `ln 2` split in two parts
//! (Cody–Waite) so that `r` is exact to f32 rounding. The relative error is below 2·10⁻⁷
//! (≈ 2 ulp) on `[−87, 88]`; below −87.3 the result flushes to 0, above 88.7 it is +∞. Written
//! without branches so that LLVM turns loops over slices into SIMD code.

/// `e^x` for f32, to ≈ 2 ulp; see the module documentation. Only additions, products and
/// bit operations, so that it vectorises on the baseline target too (no `fma` or `round`
/// library calls).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer (ties to even).
    const ROUND: f32 = 12_582_912.0;
    let input = x;
    let x = x.clamp(-87.3, 88.7);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // 2^n through the exponent bits, n read off the shifted value's low mantissa bits (an
    // integer operation, where a float-to-int `as` would not vectorise); n ∈ [−126, 128]
    // after the clamp, and 2^128's bit pattern is +∞.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    // Below the clamp the true value is under f32's normal range: flush it to 0.
    if input < -87.3 { 0.0 } else { er * scale }
}

/// `σ(x) = 1 / (1 + e^{−x})`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// A loop to compile once per vector extension: [`dispatch`] runs `run` inside a function
/// compiled for the CPU's widest extension, where `run` (marked `#[inline(always)]`) is
/// inlined and its loops vectorised for it.
pub trait Kernel {
    /// What the loop returns.
    type Output;
    /// The loop.
    fn run(self) -> Self::Output;
}

/// Runs `k` compiled for AVX-512 or AVX2 with FMA where the CPU has them, for the baseline
/// target elsewhere.
#[inline(always)]
pub fn dispatch<K: Kernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        unsafe fn v4<K: Kernel>(k: K) -> K::Output {
            k.run()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn v3<K: Kernel>(k: K) -> K::Output {
            k.run()
        }
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { v4(k) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { v3(k) };
        }
    }
    k.run()
}

/// Lanes of the vectorised sums: 16 independent partial sums, added pairwise at the end.
pub const LANES: usize = 16;

/// `Σ_i f(x_i)` in [`LANES`] partial sums (value `i` into sum `i mod LANES`), so that the
/// loop vectorises: a single running sum is a dependency chain the compiler may not reorder.
/// Over `chunks_exact`, so that no bounds check sits between the loads: with indices, the
/// AVX-512 build kept the sixteen sums in scalar registers (a third of the group norm's
/// forward time, by `perf annotate`).
#[inline(always)]
pub fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += f(v);
    }
    lane_total(acc)
}

/// `Σ_l a_l` of [`LANES`] partial sums, added pairwise (the end of [`lane_sum`], for loops
/// that keep their own partial sums).
#[inline(always)]
pub fn lane_total(mut a: [f32; LANES]) -> f32 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            a[l] += a[l + width];
        }
    }
    a[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_std() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = exp(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_37;
        }
        // f32 has a relative spacing of 2^-23 ≈ 1.19e-7; Cephes' polynomial is good to ≈ 1 ulp
        // and the reconstruction adds rounding of its own.
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(100.0).is_infinite() || exp(100.0) > 1e38);
    }

    #[test]
    fn sigmoid_matches_its_definition() {
        for i in -400..=400 {
            let x = i as f32 * 0.05;
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sigmoid(x) as f64 - want).abs() < 3e-7, "{x}");
        }
    }
}
