//! `dst[c, r] = src[r, c]` for a row-major `src: [rows, cols]`: the out-of-place transpose of
//! the convolution's channels-last blocks. With AVX, 8×8 tiles are transposed in registers
//! (eight loads, the unpack/shuffle/permute network, eight stores); the edges and CPUs
//! without AVX take the scalar loop. The strided scalar loop was 3.9 % of the main job's
//! training step (docs/benchmarks.md).

use std::mem::MaybeUninit;

/// `dst[c · rows + r] = src[r · cols + c]` for `r < rows`, `c < cols`.
///
/// # Panics
/// If `src` or `dst` holds fewer than `rows · cols` values.
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    // SAFETY: `transpose_into` writes only initialised values through the view.
    transpose_into(src, rows, cols, unsafe { super::uninit::as_uninit(dst) });
}

/// [`transpose`] into a buffer that need not be initialised: every one of its first
/// `rows · cols` values is written, so it needs no zeroing first.
///
/// # Panics
/// If `src` or `dst` holds fewer than `rows · cols` values.
pub fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [MaybeUninit<f32>]) {
    assert!(
        src.len() >= rows * cols && dst.len() >= rows * cols,
        "transpose: {rows}×{cols} needs {} values, got {} and {}",
        rows * cols,
        src.len(),
        dst.len()
    );
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, and the lengths are checked above.
        unsafe { transpose_avx(src, rows, cols, dst) };
        return;
    }
    scalar(src, cols, rows, dst, 0..rows, 0..cols);
}

/// The scalar transpose of the block `rs × cs` of `src` (row length `cols`) into `dst` (row
/// length `rows`).
fn scalar(
    src: &[f32],
    cols: usize,
    rows: usize,
    dst: &mut [MaybeUninit<f32>],
    rs: std::ops::Range<usize>,
    cs: std::ops::Range<usize>,
) {
    for c in cs {
        for r in rs.clone() {
            dst[c * rows + r].write(src[r * cols + c]);
        }
    }
}

/// The AVX transpose: full 8×8 tiles in registers, the rest by [`scalar`].
///
/// # Safety
/// The CPU must have AVX, and `src` and `dst` must hold `rows · cols` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_avx(src: &[f32], rows: usize, cols: usize, dst: &mut [MaybeUninit<f32>]) {
    use std::arch::x86_64::*;
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr().cast::<f32>());
    for r0 in (0..r8).step_by(8) {
        for c0 in (0..c8).step_by(8) {
            // SAFETY: rows r0..r0+8 and columns c0..c0+8 lie inside both matrices.
            unsafe {
                // Macros rather than closures, so that every intrinsic sits in this AVX
                // function itself.
                macro_rules! at {
                    ($i:expr) => {
                        _mm256_loadu_ps(s.add((r0 + $i) * cols + c0))
                    };
                }
                let (a0, a1, a2, a3) = (at!(0), at!(1), at!(2), at!(3));
                let (a4, a5, a6, a7) = (at!(4), at!(5), at!(6), at!(7));
                // Pairs of rows interleaved within each 128-bit half …
                let t0 = _mm256_unpacklo_ps(a0, a1);
                let t1 = _mm256_unpackhi_ps(a0, a1);
                let t2 = _mm256_unpacklo_ps(a2, a3);
                let t3 = _mm256_unpackhi_ps(a2, a3);
                let t4 = _mm256_unpacklo_ps(a4, a5);
                let t5 = _mm256_unpackhi_ps(a4, a5);
                let t6 = _mm256_unpacklo_ps(a6, a7);
                let t7 = _mm256_unpackhi_ps(a6, a7);
                // … then four rows of columns (c, c + 4) per register …
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                // … and the halves of rows 0–3 and 4–7 joined into whole columns.
                macro_rules! put {
                    ($c:expr, $v:expr) => {
                        _mm256_storeu_ps(d.add((c0 + $c) * rows + r0), $v)
                    };
                }
                put!(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
                put!(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
                put!(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
                put!(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
                put!(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
                put!(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
                put!(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
                put!(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
            }
        }
    }
    scalar(src, cols, rows, dst, r8..rows, 0..cols);
    scalar(src, cols, rows, dst, 0..r8, c8..cols);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape class: smaller than a tile, whole tiles, ragged edges on either side, and
    /// the U-Net's 784 × 16 block; values are their own indices, so the check is exact.
    #[test]
    fn transpose_moves_every_value_to_its_place() {
        for (rows, cols) in [
            (1, 1),
            (3, 5),
            (8, 8),
            (16, 24),
            (9, 8),
            (8, 13),
            (17, 33),
            (784, 16),
            (49, 64),
        ] {
            let src: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
            let mut dst = vec![-1.0; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        dst[c * rows + r],
                        src[r * cols + c],
                        "{rows}×{cols} at ({r}, {c})"
                    );
                }
            }
        }
    }
}
