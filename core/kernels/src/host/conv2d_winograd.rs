//! 3×3 convolutions with stride 1 and padding 1 by Winograd's minimal filtering F(2×2, 3×3)
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016): 16
//! multiplications per 2×2 output tile and channel pair instead of 36, so 2.25× fewer
//! floating-point operations in the GEMMs than [`super::conv2d_rows`].
//!
//! Cut the output into 2×2 tiles; tile `(ty, tx)` reads the 4×4 input window `d` whose corner
//! is pixel `(2ty − 1, 2tx − 1)` (zeros outside the image). For every output channel `o`:
//!
//! ```text
//! Y_tile[o] = b[o] + Aᵀ [ Σ_c U[o, c] ⊙ V[c] ] A,   U[o, c] = G g[o, c] Gᵀ,   V[c] = Bᵀ d[c] B,
//!
//!      ⎡1  0 −1  0⎤        ⎡1    0    0 ⎤
//! Bᵀ = ⎢0  1  1  0⎥,   G = ⎢½    ½    ½ ⎥,   Aᵀ = ⎡1  1  1  0⎤
//!      ⎢0 −1  1  0⎥        ⎢½   −½    ½ ⎥         ⎣0  1 −1 −1⎦
//!      ⎣0  1  0 −1⎦        ⎣0    0    1 ⎦
//! ```
//!
//! which is exactly the 3×3 cross-correlation of the tile (Lavin & Gray, eq. 7). The sum over
//! `c` at each of the 16 positions `ξ` of the 4×4 transformed tile is one GEMM,
//! `M_ξ[t, o] = Σ_c V_ξ[t, c] U_ξ[c, o]` over the tiles `t` of a block of images. Everything is
//! laid out channels-last, so the transforms run along the channels in SIMD registers: the
//! block's images are transposed to `[pixel, C]`, transformed to `V: [16, tiles, C]`, multiplied
//! into `M: [16, tiles, O]` and transformed back into `[pixel, O]`, then transposed into `y`.
//!
//! Rounding: each transformed value is 2 (`V`) or 4 (`U`) additions deep (the halvings are
//! exact), the GEMM adds `C` products, the output transform 4 additions: `N = C + 12` roundings,
//! against a sum of absolute terms no larger than `4 Σ_c ‖g[o, c]‖₁ Σ_{4×4 window} |d[c]|` (the
//! largest entry of `|Aᵀ| |G| |Bᵀ|` per tile row is 2). `core/kernels/tests/agreement.rs`
//! checks the path against burn's direct convolution with that bound.
//!
//! The input gradient of such a convolution is one too (the kernel turned by 180°, its channel
//! axes swapped: [`super::conv2d_rows`]), so it takes this path as well; the weight gradient
//! stays with the row-shift GEMMs.

use super::conv2d_common::{Conv2dShape, GemmDims, Plan, SharedMut, Strided, sgemm, with_scratch};
use super::transpose::{transpose, transpose_into};
use crate::fast_math::{Kernel, dispatch};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Channels at or above which both sides of a convolution may take this path, and the
/// least product of the two: with fewer, the transforms (one pass over `V` and `M`, each four
/// times the image) cost about what the multiplications save. Measured with `cargo bench -p
/// gpfn-kernels --bench kernels -- conv` (docs/benchmarks.md): on the AVX2 machine 32→64 at
/// 14×14 and 64→32 at 28×28 gained and 32→32 at 28×28 broke even (product 2 048 then); once
/// the transforms vectorised along the channels, 32→32 at 28×28 gained on the AVX-512
/// machine (forward 9.2 / 13.1 / 10.3 → 7.9 / 11.0 / 8.0 ms, backward 20.4 / 27.1 / 21.4 →
/// 19.9 / 24.8 / 20.1 ms, alternated), so the product is now 1 024.
const MIN_CHANNELS: usize = 16;
const MIN_CHANNEL_PRODUCT: usize = 1024;

/// Whether a convolution takes this path: 3×3, stride 1, padding 1, at least
/// [`MIN_CHANNELS`] input and output channels and `C · O ≥` [`MIN_CHANNEL_PRODUCT`]. The
/// rule is symmetric in `C` and `O`, so a convolution's input gradient takes it with it.
pub fn takes(s: &Conv2dShape) -> bool {
    s.kernel == [3, 3]
        && s.stride == [1, 1]
        && s.padding == [1, 1]
        && s.c_in.min(s.c_out) >= MIN_CHANNELS
        && s.c_in * s.c_out >= MIN_CHANNEL_PRODUCT
}

/// `U_ξ[o, c] = (G g[o, c] Gᵀ)_ξ` for `w: [O, C, 3, 3]`, laid out `[16, O, C]`: one plane `ξ =
/// 4a + b` per rayon task (on the calling thread alone it was 0.6 % of a forward pass's CPU
/// samples, with the workers idle), each entry by the same operations as the whole 4×4.
fn transform_weights(s: &Conv2dShape, w: &[f32]) -> Vec<f32> {
    let (o, c_in) = (s.c_out, s.c_in);
    let mut u = vec![0.0f32; 16 * o * c_in];
    // Entry k of G applied to the three entries (p, q, r) of a row or a column.
    let g3 = |k: usize, p: f32, q: f32, r: f32| match k {
        0 => p,
        1 => 0.5 * (p + q + r),
        2 => 0.5 * (p - q + r),
        _ => r,
    };
    u.par_chunks_mut(o * c_in)
        .enumerate()
        .for_each(|(xi, plane)| {
            let (a, b) = (xi / 4, xi % 4);
            for (oc_c, value) in plane.iter_mut().enumerate() {
                let g = &w[oc_c * 9..oc_c * 9 + 9];
                // Row a of G g (G on each of the three columns), then entry b of that row
                // through G again.
                let col = |v: usize| g3(a, g[v], g[3 + v], g[6 + v]);
                *value = g3(b, col(0), col(1), col(2));
            }
        });
    u
}

/// Tiles of an image: `⌈H/2⌉ × ⌈W/2⌉`.
fn tiles(s: &Conv2dShape) -> [usize; 2] {
    [s.input[0].div_ceil(2), s.input[1].div_ceil(2)]
}

/// `V_ξ[t, c]` of the tiles of one channels-last image `xt: [H W, C]`, written at tile rows
/// `t0 ..` of `v: [16, stride / C, C]` (`stride` floats between two `ξ`).
struct InputTransform<'a> {
    s: &'a Conv2dShape,
    xt: &'a [f32],
    zeros: &'a [f32],
    v: &'a mut [f32],
    t0: usize,
    stride: usize,
}

impl Kernel for InputTransform<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let [h, w] = self.s.input;
        let c_in = self.s.c_in;
        let [th, tw] = tiles(self.s);
        for ty in 0..th {
            for tx in 0..tw {
                let t = self.t0 + ty * tw + tx;
                // d[4 a' + b'] = pixel (2ty − 1 + a', 2tx − 1 + b'), all channels.
                // (A plain loop: `array::from_fn` was not inlined into the AVX-512 build, a
                // call per tile, 1 % of a training step's samples.)
                let mut d: [&[f32]; 16] = [self.zeros; 16];
                for (k, dk) in d.iter_mut().enumerate() {
                    let (r, col) = ((2 * ty + k / 4) as isize - 1, (2 * tx + k % 4) as isize - 1);
                    if r >= 0 && col >= 0 && r < h as isize && col < w as isize {
                        let p = r as usize * w + col as usize;
                        *dk = &self.xt[p * c_in..(p + 1) * c_in];
                    }
                }
                let mut c0 = 0;
                while c0 + 8 <= c_in {
                    input_tile::<8>(&d, c0, self.v, t * c_in + c0, self.stride);
                    c0 += 8;
                }
                while c0 < c_in {
                    input_tile::<1>(&d, c0, self.v, t * c_in + c0, self.stride);
                    c0 += 1;
                }
            }
        }
    }
}

/// `Bᵀ d B` for `L` channels from `c0` of the 16 pixel rows `d`, written to `v[ξ stride + at ..]`.
#[inline(always)]
fn input_tile<const L: usize>(
    d: &[&[f32]; 16],
    c0: usize,
    v: &mut [f32],
    at: usize,
    stride: usize,
) {
    // Loaded with copy_from_slice, which compiles to vector moves: `array::from_fn` over
    // `try_into` called `memcpy` for every 32-byte row (5.9 % of the CPU samples of the
    // reference U-Net's step on an AVX-512 machine; the step itself gained ≈ 3 %).
    let mut e = [[0.0f32; L]; 16];
    for (ek, dk) in e.iter_mut().zip(d) {
        ek.copy_from_slice(&dk[c0..c0 + L]);
    }
    // One loop over the lanes, the 4×4 arithmetic unrolled inside it, so that it vectorises
    // along the channels (as in `output_tile`).
    let mut out = [[0.0f32; L]; 16];
    for l in 0..L {
        // Bᵀ on the rows: q[a][b'] from the four rows d[a'][b'] …
        let mut q = [0.0f32; 16];
        for b in 0..4 {
            let (d0, d1, d2, d3) = (e[b][l], e[4 + b][l], e[8 + b][l], e[12 + b][l]);
            q[b] = d0 - d2;
            q[4 + b] = d1 + d2;
            q[8 + b] = d2 - d1;
            q[12 + b] = d1 - d3;
        }
        // … then B on the columns.
        for a in 0..4 {
            let (d0, d1, d2, d3) = (q[4 * a], q[4 * a + 1], q[4 * a + 2], q[4 * a + 3]);
            out[4 * a][l] = d0 - d2;
            out[4 * a + 1][l] = d1 + d2;
            out[4 * a + 2][l] = d2 - d1;
            out[4 * a + 3][l] = d1 - d3;
        }
    }
    for (xi, values) in out.iter().enumerate() {
        let from = xi * stride + at;
        v[from..from + L].copy_from_slice(values);
    }
}

/// `Y = b + Aᵀ M A` of the tiles of one image, from `m: [16, stride / O, O]` at tile rows
/// `t0 ..`, into the channels-last image `yt: [H W, O]`.
struct OutputTransform<'a> {
    s: &'a Conv2dShape,
    m: &'a [f32],
    bias: Option<&'a [f32]>,
    zeros: &'a [f32],
    yt: &'a mut [f32],
    t0: usize,
    stride: usize,
}

impl Kernel for OutputTransform<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let [h, w] = self.s.input;
        let o = self.s.c_out;
        let [th, tw] = tiles(self.s);
        let bias = self.bias.unwrap_or(self.zeros);
        for ty in 0..th {
            for tx in 0..tw {
                let t = self.t0 + ty * tw + tx;
                // The tile's pixels inside the image (the last row or column may fall outside).
                let pixels: [Option<usize>; 4] = std::array::from_fn(|k| {
                    let (r, col) = (2 * ty + k / 2, 2 * tx + k % 2);
                    (r < h && col < w).then_some((r * w + col) * o)
                });
                let mut o0 = 0;
                while o0 + 8 <= o {
                    let y = output_tile::<8>(self.m, t * o + o0, self.stride, &bias[o0..]);
                    store(self.yt, &pixels, o0, &y);
                    o0 += 8;
                }
                while o0 < o {
                    let y = output_tile::<1>(self.m, t * o + o0, self.stride, &bias[o0..]);
                    store(self.yt, &pixels, o0, &y);
                    o0 += 1;
                }
            }
        }
    }
}

/// Writes a tile's outputs `y` for channels `o0 .. o0 + L` at the `pixels` inside the image.
#[inline(always)]
fn store<const L: usize>(
    yt: &mut [f32],
    pixels: &[Option<usize>; 4],
    o0: usize,
    y: &[[f32; L]; 4],
) {
    for (at, values) in pixels.iter().zip(y) {
        if let Some(at) = at {
            yt[at + o0..at + o0 + L].copy_from_slice(values);
        }
    }
}

/// `b + Aᵀ M A` for `L` channels of one tile: the 2×2 outputs, row-major.
#[inline(always)]
fn output_tile<const L: usize>(m: &[f32], at: usize, stride: usize, bias: &[f32]) -> [[f32; L]; 4] {
    let mut e = [[0.0f32; L]; 16];
    for (xi, ex) in e.iter_mut().enumerate() {
        ex.copy_from_slice(&m[xi * stride + at..xi * stride + at + L]);
    }
    let mut b = [0.0f32; L];
    b.copy_from_slice(&bias[..L]);
    // One loop over the lanes, the 4×4 arithmetic unrolled inside it, so that it vectorises
    // along the channels: written as two loops over the rows, LLVM vectorised across the rows
    // with gathers and scatters (8 % of the CPU samples of a training step on AVX-512).
    let mut y = [[0.0f32; L]; 4];
    for l in 0..L {
        // A on the columns: (s_a0, s_a1) from the row M[a][·] …
        let s = |a: usize| {
            let (m0, m1, m2, m3) = (
                e[4 * a][l],
                e[4 * a + 1][l],
                e[4 * a + 2][l],
                e[4 * a + 3][l],
            );
            (m0 + m1 + m2, m1 - m2 - m3)
        };
        let (s0, s1, s2, s3) = (s(0), s(1), s(2), s(3));
        // … then Aᵀ on the rows, and the bias.
        y[0][l] = b[l] + (s0.0 + s1.0 + s2.0);
        y[1][l] = b[l] + (s0.1 + s1.1 + s2.1);
        y[2][l] = b[l] + (s1.0 - s2.0 - s3.0);
        y[3][l] = b[l] + (s1.1 - s2.1 - s3.1);
    }
    y
}

/// `y = conv2d(x, w) + b` for a shape this path [`takes`]; every value of `y` is written, none
/// read.
pub(super) fn forward(
    s: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [MaybeUninit<f32>],
) {
    let s = *s;
    let (c_in, o, p) = (s.c_in, s.c_out, s.pixels_in());
    let [th, tw] = tiles(&s);
    let per_image = th * tw;
    let u = transform_weights(&s, w);
    // Blocks of ≥ 256 tiles: each GEMM then has that many rows.
    let plan = Plan::for_rows(&s, per_image, 256);
    let par = plan.gemm_parallelism();
    let zeros = vec![0.0f32; c_in.max(o)];
    let y_ptr = SharedMut(y.as_mut_ptr().cast::<f32>());
    (0..plan.threads).into_par_iter().for_each(|thread| {
        with_scratch(|scratch| {
            for block in plan.blocks_of(thread) {
                let images = plan.images(block, s.batch);
                let t = images.len() * per_image;
                let xt = &mut scratch.dy;
                xt.resize(p * c_in, 0.0);
                let v = &mut scratch.dcol;
                v.resize(16 * t * c_in, 0.0);
                for (j, n) in images.clone().enumerate() {
                    transpose(&x[n * c_in * p..(n + 1) * c_in * p], c_in, p, xt);
                    dispatch(InputTransform {
                        s: &s,
                        xt,
                        zeros: &zeros,
                        v,
                        t0: j * per_image,
                        stride: t * c_in,
                    });
                }
                let m = &mut scratch.out;
                m.resize(16 * t * o, 0.0);
                for xi in 0..16 {
                    // M_ξ[t, o] (o contiguous) = V_ξ[t, c] (c contiguous) · U_ξ[c, o] (U_ξ is [O, C]).
                    // SAFETY: the three matrices lie within v, u and m as sized above.
                    unsafe {
                        sgemm(
                            GemmDims {
                                m: t,
                                n: o,
                                k: c_in,
                            },
                            Strided::row_major(m.as_mut_ptr().add(xi * t * o), o),
                            false,
                            Strided::row_major(v.as_ptr().add(xi * t * c_in), c_in),
                            Strided::col_major(u.as_ptr().add(xi * o * c_in), c_in),
                            par,
                        )
                    };
                }
                let yt = &mut scratch.dy;
                yt.resize(p * o, 0.0);
                for (j, n) in images.enumerate() {
                    dispatch(OutputTransform {
                        s: &s,
                        m,
                        bias,
                        zeros: &zeros,
                        yt,
                        t0: j * per_image,
                        stride: t * o,
                    });
                    // SAFETY: image n's output belongs to this block only.
                    let target = unsafe { y_ptr.range(n * o * p, o * p) };
                    transpose_into(&yt[..p * o], p, o, target);
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct 3×3 cross-correlation with padding 1, in f64.
    fn direct(s: &Conv2dShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
        let [h, wd] = s.input;
        let mut y = vec![0.0f64; s.batch * s.c_out * h * wd];
        for n in 0..s.batch {
            for o in 0..s.c_out {
                for i in 0..h {
                    for j in 0..wd {
                        let mut acc = b[o] as f64;
                        for c in 0..s.c_in {
                            for u in 0..3 {
                                for v in 0..3 {
                                    let (r, col) = (i as isize + u - 1, j as isize + v - 1);
                                    if r < 0 || col < 0 || r >= h as isize || col >= wd as isize {
                                        continue;
                                    }
                                    let xv = x
                                        [((n * s.c_in + c) * h + r as usize) * wd + col as usize]
                                        as f64;
                                    let wv = w[((o * s.c_in + c) * 3 + u as usize) * 3 + v as usize]
                                        as f64;
                                    acc += xv * wv;
                                }
                            }
                        }
                        y[((n * s.c_out + o) * h + i) * wd + j] = acc;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn minimal_filtering_is_the_direct_correlation() {
        // Odd sizes (the last tile row and column half outside), 8 + 1 channels (a vector
        // chunk and a scalar one), small integers so that every step is exact in f32.
        let s = Conv2dShape {
            batch: 2,
            c_in: 17,
            input: [5, 7],
            c_out: 18,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
        };
        let x: Vec<f32> = (0..2 * 17 * 35)
            .map(|i| ((i * 7) % 11) as f32 - 5.0)
            .collect();
        let w: Vec<f32> = (0..18 * 17 * 9)
            .map(|i| ((i * 5) % 9) as f32 - 4.0)
            .collect();
        let b: Vec<f32> = (0..18).map(|i| i as f32 - 9.0).collect();
        // NaN everywhere first, so that a value the path fails to write shows.
        let mut y = vec![MaybeUninit::new(f32::NAN); 2 * 18 * 35];
        forward(&s, &x, &w, Some(&b), &mut y);
        // SAFETY: every value was initialised (to NaN, then by the path).
        let y = unsafe { y.assume_init_ref() };
        // |values| ≤ 5 · 4 · 9 · 17 + 9 ≈ 3 069 and the halvings of U are undone by the
        // output transform's sums of integers and halves: every intermediate is a multiple of
        // ¼ below 2²², so f32 holds it exactly.
        for (i, (&got, want)) in y.iter().zip(direct(&s, &x, &w, &b)).enumerate() {
            assert_eq!(got as f64, want, "y[{i}]");
        }
    }
}
