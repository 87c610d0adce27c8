//! Stride-1 convolutions that keep the image size (`k = 2p + 1` in both directions: the
//! U-Net's 3×3, padding 1) with an im2col matrix of the horizontal shifts only.
//!
//! Lay the images of a block one under the other, each followed by `p_h` rows of zeros (and
//! `p_h` zero rows above the first): positions `r = row · W + col`, image `j`'s pixel `(i, c)`
//! at `r_j(i, c) = (p_h + j (H + p_h) + i) W + c`. The matrix of horizontal shifts is
//!
//! ```text
//! R[(c, v), r_j(i, col)] = x_j[c, i, col + v − p_w]     (0 outside the image and in the zero rows)
//! ```
//!
//! with `C · kw` rows. A kernel row `u` moves the window by `(u − p_h)` image rows, which on
//! these positions is the constant offset `(u − p_h) W`, and the zero rows give the vertical
//! padding. So the forward is `kh` GEMMs on shifted views of one matrix `kh` times smaller
//! than the full im2col matrix:
//!
//! ```text
//! Y[r, o] = b[o] + Σ_u Σ_(c, v) R[(c, v), r + (u − p_h) W] · w[o, c, u, v]
//! ```
//!
//! evaluated at every position from the first image's first pixel to the last image's last;
//! the values at the zero rows between images are computed and dropped (`p_h / (H + p_h)` of
//! the work: one row in eight at 7×7, none for a block of one image).
//!
//! The input gradient of such a convolution is the same kind of convolution of `∂L/∂y` with
//! the kernel turned by 180° and its channel axes swapped,
//! `∂L/∂x[c, i, j] = Σ_{o,u,v} w[o, c, kh−1−u, kw−1−v] · ∂L/∂y[o, i + u − p_h, j + v − p_w]`
//! (because `kh − 1 − p_h = p_h`), so it runs through [`forward`] and needs no col2im. The
//! weight gradient is `∂L/∂w[o, c, u, v] = Σ_r R[(c, v), r + (u − p_h) W] · G[r, o]`, `kh`
//! GEMMs with `G` the output gradient laid out on the same positions (zeros in the gaps).

use super::conv2d_common::{
    Conv2dShape, GemmDims, Im2colBuffer, Layout, Plan, SharedMut, Strided, channels_last,
    kept_buffer, sgemm, with_scratch,
};
use super::transpose::transpose_into;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Whether a convolution takes this path: it keeps the size, and it has at least 8 input
/// channels. With one input channel the three GEMMs have 3 terms each and lose to the single
/// GEMM over the 9 rows of the full im2col matrix (the first layer of the U-Net, 3.3 against
/// 4.1 ms at batch 128: `cargo bench -p gpfn-kernels --bench kernels -- conv`).
pub(super) fn takes(s: &Conv2dShape) -> bool {
    s.keeps_size() && s.c_in >= 8
}

/// Positions of a block of `images` images: the first image's first pixel is at `first`,
/// image `j`'s at `first + j · stride`, and a GEMM over the block covers `span` positions.
#[derive(Clone, Copy, Debug)]
struct Positions {
    first: usize,
    stride: usize,
    span: usize,
    /// Columns of `R` (its leading dimension): every position, zero rows included.
    ld: usize,
}

impl Positions {
    fn new(s: &Conv2dShape, images: usize) -> Positions {
        let [h, w] = s.input;
        let ph = s.padding[0];
        Positions {
            first: ph * w,
            stride: (h + ph) * w,
            span: ((images - 1) * (h + ph) + h) * w,
            ld: (images * (h + ph) + ph) * w,
        }
    }
}

/// Writes image `x: [C, H, W]` into `R` (leading dimension `ld`) at positions `at .. at + HW`:
/// row `(c, v)` gets the plane shifted by `v − p_w` columns, zeros where the source column
/// leaves the row. The zero rows between images are never written: a buffer zeroed once for
/// a geometry keeps them.
fn fill_image(s: &Conv2dShape, x: &[f32], r: &mut [f32], ld: usize, at: usize) {
    let [h, w] = s.input;
    let kw = s.kernel[1];
    let pw = s.padding[1];
    let hw = h * w;
    for c in 0..s.c_in {
        let plane = &x[c * hw..(c + 1) * hw];
        for v in 0..kw {
            let row = c * kw + v;
            let out = &mut r[row * ld + at..row * ld + at + hw];
            let d = v as isize - pw as isize;
            let shift = d.unsigned_abs();
            if shift >= w {
                out.fill(0.0);
            } else if d >= 0 {
                // out[t] = plane[t + d]; the last d columns of each row read past it.
                out[..hw - shift].copy_from_slice(&plane[shift..]);
                zero_columns(out, w, w - shift..w);
            } else {
                // out[t] = plane[t − |d|]; the first |d| columns of each row read before it.
                out[shift..].copy_from_slice(&plane[..hw - shift]);
                zero_columns(out, w, 0..shift);
            }
        }
    }
}

/// `R` for `images` of `x` (laid out as `at`), in the thread's kept buffer of this layout and
/// block geometry.
fn fill_block<'a>(
    kept: &'a mut Vec<Im2colBuffer>,
    s: &Conv2dShape,
    x: &[f32],
    images: std::ops::Range<usize>,
    at: &Positions,
) -> &'a [f32] {
    let p = s.pixels_in();
    let kr = s.c_in * s.kernel[1];
    let buffer = kept_buffer(kept, s, images.len(), Layout::Rows, kr * at.ld);
    for (j, n) in images.enumerate() {
        let image = &x[n * s.c_in * p..(n + 1) * s.c_in * p];
        fill_image(
            s,
            image,
            &mut buffer.values,
            at.ld,
            at.first + j * at.stride,
        );
    }
    &buffer.values
}

/// Sets `columns` of every row of the plane `out` (rows of `w`) to zero, one column at a time:
/// a strided store per row, where a slice `fill` would call `memset` for one or two floats
/// (2.5 % of the main job's training step, measured with `perf`).
fn zero_columns(out: &mut [f32], w: usize, columns: std::ops::Range<usize>) {
    for col in columns {
        for z in out.iter_mut().skip(col).step_by(w) {
            *z = 0.0;
        }
    }
}

/// `wr[u][o][(c, v)] = w[o, c, u, v]`: kernel row `u`'s weights as the `[O, C kw]` matrix the
/// shifted GEMMs read.
fn weights_by_row(s: &Conv2dShape, w: &[f32]) -> Vec<f32> {
    let [kh, kw] = s.kernel;
    let (c_in, o) = (s.c_in, s.c_out);
    let kr = c_in * kw;
    let mut wr = vec![0.0f32; kh * o * kr];
    // Runs of kw values: w[o, c, u, ..] → wr[u][o][(c, ..)], in wr's order.
    for (i, run) in wr.chunks_exact_mut(kw).enumerate() {
        let (u, oc, c) = (i / (o * c_in), i / c_in % o, i % c_in);
        let from = ((oc * c_in + c) * kh + u) * kw;
        run.copy_from_slice(&w[from..from + kw]);
    }
    wr
}

/// `y = conv2d(x, w) + b` for a shape with [`Conv2dShape::keeps_size`]; every value of `y` is
/// written, none read.
pub(super) fn forward(
    s: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [MaybeUninit<f32>],
) {
    let s = *s;
    let (p, o) = (s.pixels_in(), s.c_out);
    let kh = s.kernel[0];
    let kr = s.c_in * s.kernel[1];
    let row_w = s.input[1];
    let wr = weights_by_row(&s, w);
    let plan = Plan::new(&s);
    let par = plan.gemm_parallelism();
    let y_ptr = SharedMut(y.as_mut_ptr().cast::<f32>());
    (0..plan.threads).into_par_iter().for_each(|t| {
        with_scratch(|scratch| {
            for block in plan.blocks_of(t) {
                let images = plan.images(block, s.batch);
                let nb = images.len();
                let at = Positions::new(&s, nb);
                let r = fill_block(&mut scratch.im2col, &s, x, images.clone(), &at).as_ptr();
                let out = &mut scratch.out;
                // One GEMM per kernel row u: lhs[i, (c, v)] = R[(c, v), i + u W] for the
                // positions i from the first pixel on (R's column `first + i + (u − p_h) W`).
                let gemms = |dst: Strided<*mut f32>, biased: bool| {
                    for u in 0..kh {
                        // SAFETY: the views lie within R (u W + span ≤ (2 p_h) W + span = ld),
                        // wr and dst.
                        unsafe {
                            sgemm(
                                GemmDims {
                                    m: at.span,
                                    n: o,
                                    k: kr,
                                },
                                dst,
                                biased || u > 0,
                                Strided::col_major(r.add(u * row_w), at.ld),
                                Strided::col_major(wr.as_ptr().add(u * o * kr), kr),
                                par,
                            )
                        };
                    }
                };
                if channels_last(o) {
                    // dst[i, o] with o contiguous, then each image's rows transposed into y.
                    out.resize(at.span * o, 0.0);
                    if let Some(b) = bias {
                        out.chunks_mut(o).for_each(|row| row.copy_from_slice(b));
                    }
                    gemms(Strided::row_major(out.as_mut_ptr(), o), bias.is_some());
                    for (j, n) in images.enumerate() {
                        // SAFETY: image n's output belongs to this block only.
                        let target = unsafe { y_ptr.range(n * o * p, o * p) };
                        let from = j * at.stride * o;
                        transpose_into(&out[from..from + p * o], p, o, target);
                    }
                    continue;
                }
                // dst[o, i] (column-major, ld span): straight into y for a single image.
                let direct = nb == 1;
                let dst: *mut f32 = if direct {
                    // SAFETY: image `images.start` belongs to this block only.
                    unsafe { y_ptr.ptr().add(images.start * o * p) }
                } else {
                    out.resize(o * at.span, 0.0);
                    out.as_mut_ptr()
                };
                if let Some(b) = bias {
                    for (oc, &bv) in b.iter().enumerate() {
                        // SAFETY: dst holds O rows of `span` values, this block's only.
                        unsafe { SharedMut(dst).range(oc * at.span, at.span) }
                            .fill(MaybeUninit::new(bv));
                    }
                }
                gemms(Strided::col_major(dst, at.span), bias.is_some());
                if !direct {
                    for (j, n) in images.enumerate() {
                        for oc in 0..o {
                            // SAFETY: image n's output belongs to this block only.
                            let target = unsafe { y_ptr.range((n * o + oc) * p, p) };
                            let from = oc * at.span + j * at.stride;
                            target.write_copy_of_slice(&out[from..from + p]);
                        }
                    }
                }
            }
        });
    });
}

/// The shape and weights of the input gradient's convolution: `C` and `O` swapped, the
/// kernel turned by 180°: `w'[c, o, u, v] = w[o, c, kh − 1 − u, kw − 1 − v]`.
fn turned(s: &Conv2dShape, w: &[f32]) -> (Conv2dShape, Vec<f32>) {
    let [kh, kw] = s.kernel;
    let (c_in, o) = (s.c_in, s.c_out);
    let mut wt = vec![0.0f32; w.len()];
    for oc in 0..o {
        for c in 0..c_in {
            for u in 0..kh {
                for v in 0..kw {
                    wt[((c * o + oc) * kh + (kh - 1 - u)) * kw + (kw - 1 - v)] =
                        w[((oc * c_in + c) * kh + u) * kw + v];
                }
            }
        }
    }
    let shape = Conv2dShape {
        c_in: o,
        c_out: c_in,
        ..*s
    };
    (shape, wt)
}

/// The gradients of [`forward`] for the output gradient `dy: [B, O, H, W]`; each of `dx`,
/// `dw`, `db` asked for is overwritten.
pub(super) fn backward(
    s: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [MaybeUninit<f32>]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    let s = *s;
    if let Some(d) = &dw {
        assert_eq!(d.len(), w.len(), "conv2d weight-gradient length");
    }
    if let Some(d) = &db {
        assert_eq!(d.len(), s.c_out, "conv2d bias-gradient length");
    }
    if let Some(dx) = dx {
        let (shape, wt) = turned(&s, w);
        if super::conv2d_winograd::takes(&shape) {
            super::conv2d_winograd::forward(&shape, dy, &wt, None, dx);
        } else {
            forward(&shape, dy, &wt, None, dx);
        }
    }
    if dw.is_none() && db.is_none() {
        return;
    }
    let (p, o) = (s.pixels_in(), s.c_out);
    let [kh, kw] = s.kernel;
    let kr = s.c_in * kw;
    let row_w = s.input[1];
    let plan = Plan::new(&s);
    let par = plan.gemm_parallelism();
    let want_dw = dw.is_some();
    // Per thread acc[u][(c, v)][o] and the bias gradient, summed in thread order afterwards
    // (deterministic for a thread count).
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..plan.threads)
        .into_par_iter()
        .map(|t| {
            let mut acc = vec![0.0f32; if want_dw { kh * kr * o } else { 0 }];
            let mut db_acc = vec![0.0f32; o];
            with_scratch(|scratch| {
                for block in plan.blocks_of(t) {
                    let images = plan.images(block, s.batch);
                    for image in dy[images.start * o * p..images.end * o * p].chunks_exact(o * p) {
                        for (d, plane) in db_acc.iter_mut().zip(image.chunks_exact(p)) {
                            *d += plane.iter().sum::<f32>();
                        }
                    }
                    if !want_dw {
                        continue;
                    }
                    let nb = images.len();
                    let at = Positions::new(&s, nb);
                    // G as [O, span] (column-major [span, O]) with zeros in the gaps.
                    let g: &[f32] = if nb == 1 {
                        &dy[images.start * o * p..(images.start + 1) * o * p]
                    } else {
                        let g = &mut scratch.dy;
                        g.clear();
                        g.resize(o * at.span, 0.0);
                        for (j, n) in images.clone().enumerate() {
                            for oc in 0..o {
                                let to = oc * at.span + j * at.stride;
                                g[to..to + p]
                                    .copy_from_slice(&dy[(n * o + oc) * p..(n * o + oc + 1) * p]);
                            }
                        }
                        g
                    };
                    let r = fill_block(&mut scratch.im2col, &s, x, images.clone(), &at).as_ptr();
                    for u in 0..kh {
                        // acc_u[(c, v), o] += Σ_i R[(c, v), i + u W] · G[i, o].
                        // SAFETY: the views lie within R, g and acc as sized above.
                        unsafe {
                            sgemm(
                                GemmDims {
                                    m: kr,
                                    n: o,
                                    k: at.span,
                                },
                                Strided::row_major(acc.as_mut_ptr().add(u * kr * o), o),
                                true,
                                Strided::row_major(r.add(u * row_w), at.ld),
                                Strided::col_major(g.as_ptr(), at.span),
                                par,
                            )
                        };
                    }
                }
            });
            (acc, db_acc)
        })
        .collect();
    if let Some(db) = db {
        db.fill(0.0);
        for (_, part) in &partials {
            for (d, v) in db.iter_mut().zip(part) {
                *d += v;
            }
        }
    }
    let Some(dw) = dw else { return };
    let mut sum = vec![0.0f32; kh * kr * o];
    for (part, _) in &partials {
        for (d, v) in sum.iter_mut().zip(part) {
            *d += v;
        }
    }
    // dw[o, c, u, v] = sum[u][(c, v)][o].
    let c_in = s.c_in;
    for oc in 0..o {
        for c in 0..c_in {
            for u in 0..kh {
                for v in 0..kw {
                    dw[((oc * c_in + c) * kh + u) * kw + v] = sum[(u * kr + c * kw + v) * o + oc];
                }
            }
        }
    }
}
