//! The 2-D convolution on host slices, forward and backward, as im2col/col2im plus one GEMM
//! per block of images.
//!
//! For an input `x: [B, C, H, W]`, weights `w: [O, C, kh, kw]`, bias `b: [O]`, stride `s` and
//! zero padding `p` (no dilation, one group):
//!
//! ```text
//! y[n, o, i, j] = b[o] + Σ_{c, u, v} w[o, c, u, v] · x[n, c, s_h i + u − p_h, s_w j + v − p_w]
//! ```
//!
//! With the im2col matrix `X_n[(c, u, v), (i, j)]` of image `n` (`K = C kh kw` rows, `P = Ho Wo`
//! columns, zeros where the window leaves the image) and `W[o, (c, u, v)]`:
//!
//! ```text
//! Y_n = W X_n + b 1ᵀ,     ∂L/∂W = Σ_n (∂L/∂Y_n) X_nᵀ,     ∂L/∂b = Σ_n (∂L/∂Y_n) 1,
//! ∂L/∂X_n = Wᵀ (∂L/∂Y_n),  ∂L/∂x = col2im(∂L/∂X_n)  (the adjoint of im2col: a scatter-add).
//! ```
//!
//! Images are taken in blocks of `nb` so that each GEMM has `nb · P` ≳ 512 rows (the `gemm`
//! crate's micro-kernel is column-major: its `m` is the pixel dimension), and the blocks are
//! split statically over the rayon threads, each thread running its GEMMs single-threaded.
//! The weight gradient is accumulated per thread and the partial sums are added in thread
//! order, so results do not depend on scheduling: the same thread count gives the same bits.
//!
//! Stride-1 convolutions that keep the image size and have at least 8 input channels (the
//! U-Net's 3×3 layers) take [`super::conv2d_rows`] instead: an im2col matrix of the horizontal
//! shifts only, one GEMM per kernel row, and the input gradient as a convolution with the
//! turned kernel (no col2im).

pub use super::conv2d_common::Conv2dShape;
use super::conv2d_common::{
    GemmDims, Im2colBuffer, Layout, Plan, Scratch, SharedMut, Strided, block_geometry,
    channels_last, kept_buffer, sgemm, with_scratch,
};
use super::transpose::{transpose, transpose_into};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The output columns `j_lo .. j_hi` whose input column `s_w j + v − p_w` lies in `[0, W)`,
/// for kernel column `v`.
fn valid_columns(s: &Conv2dShape, v: usize) -> (usize, usize) {
    let w = s.input[1];
    let wo = s.output()[1];
    let (sw, pw) = (s.stride[1], s.padding[1]);
    let j_lo = pw.saturating_sub(v).div_ceil(sw).min(wo);
    let j_hi = if w + pw > v {
        ((w + pw - v - 1) / sw + 1).min(wo)
    } else {
        0
    };
    (j_lo, j_hi.max(j_lo))
}

/// Writes image `x: [C, H, W]`'s im2col matrix into columns `col0 .. col0 + P` of
/// `col: [K, ld]` (row-major, leading dimension `ld`).
///
/// The entries where the window leaves the image are not written: they must already be zero.
/// They sit at the same places for every image, so a buffer zeroed once for a geometry keeps
/// them through any number of fills ([`Im2colBuffer`]).
fn im2col(s: &Conv2dShape, x: &[f32], col: &mut [f32], ld: usize, col0: usize) {
    let [h, w] = s.input;
    let [ho, wo] = s.output();
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [ph, pw] = s.padding;
    for c in 0..s.c_in {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for u in 0..kh {
            for v in 0..kw {
                let row = (c * kh + u) * kw + v;
                let out = &mut col[row * ld + col0..row * ld + col0 + ho * wo];
                if let Some(r) = Shifted::new(s, u, v) {
                    // One copy of the whole shifted plane, then the columns whose source
                    // lies outside the row set back to zero.
                    out[r.dst_first..r.dst_first + r.count]
                        .copy_from_slice(&plane[r.src_first..r.src_first + r.count]);
                    r.for_each_outside(|i| out[i] = 0.0);
                    continue;
                }
                let (j_lo, j_hi) = valid_columns(s, v);
                for i in 0..ho {
                    let dst = &mut out[i * wo..(i + 1) * wo];
                    let ih = (sh * i + u) as isize - ph as isize;
                    if ih < 0 || ih >= h as isize {
                        continue;
                    }
                    let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                    if sw == 1 {
                        let first = j_lo + v - pw;
                        copy_short(&mut dst[j_lo..j_hi], &src[first..first + (j_hi - j_lo)]);
                    } else {
                        for (j, d) in dst[j_lo..j_hi].iter_mut().enumerate() {
                            *d = src[sw * (j + j_lo) + v - pw];
                        }
                    }
                }
            }
        }
    }
}

/// For a stride-1 convolution whose output is as wide as its input, kernel position `(u, v)`
/// maps the output plane onto the input plane shifted by `(u − p_h) W + (v − p_w)`: the valid
/// output rows form one contiguous run of `len` entries starting at `dst` (in the output
/// plane) and `src` (in the input plane, before the shift `d` is applied), minus the entries
/// of the columns whose source falls off the row, which are handled one by one.
struct Shifted {
    /// First output-plane entry copied.
    dst_first: usize,
    /// The input-plane entry it comes from.
    src_first: usize,
    /// Entries in the contiguous run.
    count: usize,
    /// Column shift `v − p_w`.
    d: isize,
    rows: std::ops::Range<usize>,
    width: usize,
}

impl Shifted {
    fn new(s: &Conv2dShape, u: usize, v: usize) -> Option<Shifted> {
        let [h, w] = s.input;
        let [ho, wo] = s.output();
        let [ph, pw] = s.padding;
        let d = v as isize - pw as isize;
        if s.stride != [1, 1] || wo != w || d.unsigned_abs() >= w {
            return None;
        }
        let i_lo = ph.saturating_sub(u).min(ho);
        let i_hi = (h + ph).saturating_sub(u).min(ho).max(i_lo);
        let ih_lo = (i_lo + u).saturating_sub(ph);
        let len = (i_hi - i_lo) * w;
        let (skip_front, skip_back) = (d.min(0).unsigned_abs(), d.max(0) as usize);
        if len <= skip_front + skip_back {
            return None;
        }
        Some(Shifted {
            dst_first: i_lo * wo + skip_front,
            // ih_lo W + d + skip_front: ih_lo W when d < 0, ih_lo W + d otherwise.
            src_first: ih_lo * w + d.max(0) as usize,
            count: len - skip_front - skip_back,
            d,
            rows: i_lo..i_hi,
            width: w,
        })
    }

    /// Calls `f` with the output-plane index of every entry of the valid rows whose source
    /// column lies outside the row.
    fn for_each_outside(&self, mut f: impl FnMut(usize)) {
        let w = self.width;
        for i in self.rows.clone() {
            if self.d < 0 {
                for j in 0..self.d.unsigned_abs() {
                    f(i * w + j);
                }
            } else {
                for j in w - self.d as usize..w {
                    f(i * w + j);
                }
            }
        }
    }
}

/// `dst = src` for the short rows of an image, in 8-float pieces (meant to avoid a `memcpy`
/// call per 7- to 28-float row; LLVM may still emit one). Only stride-1 convolutions whose
/// output is not as wide as their input come here: the others take [`Shifted`].
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d8, s8) in d.by_ref().zip(s.by_ref()) {
        let s8: &[f32; 8] = s8.try_into().expect("chunks of 8");
        let d8: &mut [f32; 8] = d8.try_into().expect("chunks of 8");
        *d8 = *s8;
    }
    for (dv, sv) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *dv = *sv;
    }
}

impl Im2colBuffer {
    /// The `[k, q]` matrix of `images` of `x`, written with [`im2col`].
    fn fill(&mut self, s: &Conv2dShape, x: &[f32], images: std::ops::Range<usize>) -> &[f32] {
        let (p_in, p_out) = (s.pixels_in(), s.pixels_out());
        debug_assert_eq!(self.geometry, block_geometry(s, images.len()));
        debug_assert_eq!(self.layout, Layout::Im2col);
        let q = images.len() * p_out;
        for (j, n) in images.enumerate() {
            let image = &x[n * s.c_in * p_in..(n + 1) * s.c_in * p_in];
            im2col(s, image, &mut self.values, q, j * p_out);
        }
        &self.values
    }
}

/// The im2col buffer of `kept` for `images` images of shape `s` ([`kept_buffer`]).
fn im2col_buffer<'a>(
    kept: &'a mut Vec<Im2colBuffer>,
    s: &Conv2dShape,
    images: usize,
) -> &'a mut Im2colBuffer {
    let len = s.k() * images * s.pixels_out();
    kept_buffer(kept, s, images, Layout::Im2col, len)
}

/// Adds the im2col-shaped gradient in columns `col0 .. col0 + P` of `col: [K, ld]` into image
/// gradient `dx: [C, H, W]` (the adjoint of [`im2col`]).
///
/// `col` is scratch: the entries whose window position lies outside the image may be set to
/// zero on the way.
fn col2im(s: &Conv2dShape, col: &mut [f32], ld: usize, col0: usize, dx: &mut [f32]) {
    let [h, w] = s.input;
    let [ho, wo] = s.output();
    let [kh, kw] = s.kernel;
    let [sh, sw] = s.stride;
    let [ph, pw] = s.padding;
    for c in 0..s.c_in {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for u in 0..kh {
            for v in 0..kw {
                let row = (c * kh + u) * kw + v;
                if let Some(r) = Shifted::new(s, u, v) {
                    // Zero the entries with no source (they would land on a neighbouring
                    // row's edge), then one contiguous, vectorised sum over the plane.
                    let g = &mut col[row * ld + col0..row * ld + col0 + ho * wo];
                    r.for_each_outside(|i| g[i] = 0.0);
                    let dst = &mut plane[r.src_first..r.src_first + r.count];
                    for (d, &gv) in dst.iter_mut().zip(&g[r.dst_first..r.dst_first + r.count]) {
                        *d += gv;
                    }
                    continue;
                }
                let src = &col[row * ld + col0..row * ld + col0 + ho * wo];
                let (j_lo, j_hi) = valid_columns(s, v);
                for i in 0..ho {
                    let ih = (sh * i + u) as isize - ph as isize;
                    if ih < 0 || ih >= h as isize {
                        continue;
                    }
                    let dst = &mut plane[ih as usize * w..(ih as usize + 1) * w];
                    let g = &src[i * wo..(i + 1) * wo];
                    if sw == 1 {
                        let first = j_lo + v - pw;
                        for (d, &gv) in dst[first..first + (j_hi - j_lo)]
                            .iter_mut()
                            .zip(&g[j_lo..j_hi])
                        {
                            *d += gv;
                        }
                    } else {
                        for j in j_lo..j_hi {
                            dst[sw * j + v - pw] += g[j];
                        }
                    }
                }
            }
        }
    }
}

/// `y = conv2d(x, w) + b` for `x: [B, C, H, W]`, `w: [O, C, kh, kw]`, `b: [O]`; writes
/// `y: [B, O, Ho, Wo]`.
///
/// # Panics
/// If a slice's length does not match `shape` (the callers check the shapes first).
pub fn conv2d_forward(
    shape: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    // SAFETY: `conv2d_forward_into` writes only initialised values through the view.
    conv2d_forward_into(shape, x, w, bias, unsafe { super::uninit::as_uninit(y) });
}

/// [`conv2d_forward`] into an output that need not be initialised: every value of `y` is
/// written (and none read), so it needs no zeroing first.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn conv2d_forward_into(
    shape: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [MaybeUninit<f32>],
) {
    let s = *shape;
    let (k, p_in, p_out, o) = (s.k(), s.pixels_in(), s.pixels_out(), s.c_out);
    assert_eq!(x.len(), s.batch * s.c_in * p_in, "conv2d input length");
    assert_eq!(w.len(), o * k, "conv2d weight length");
    assert_eq!(y.len(), s.batch * o * p_out, "conv2d output length");
    if let Some(b) = bias {
        assert_eq!(b.len(), o, "conv2d bias length");
    }
    if super::conv2d_winograd::takes(&s) {
        return super::conv2d_winograd::forward(&s, x, w, bias, y);
    }
    if super::conv2d_rows::takes(&s) {
        return super::conv2d_rows::forward(&s, x, w, bias, y);
    }
    let plan = Plan::new(&s);
    let par = plan.gemm_parallelism();
    let y_ptr = SharedMut(y.as_mut_ptr().cast::<f32>());
    (0..plan.threads).into_par_iter().for_each(|t| {
        with_scratch(|scratch| {
            for block in plan.blocks_of(t) {
                let images = plan.images(block, s.batch);
                let nb = images.len();
                let q = nb * p_out;
                let direct = nb == 1;
                // The im2col matrix [K, Q] (or the image itself for a pointwise convolution).
                let lhs: *const f32 = if s.is_pointwise() && direct {
                    x[images.start * k * p_in..].as_ptr()
                } else {
                    im2col_buffer(&mut scratch.im2col, &s, nb)
                        .fill(&s, x, images.clone())
                        .as_ptr()
                };
                let out = &mut scratch.out;
                if channels_last(o) {
                    // dst[q, o] with o contiguous (the micro-kernel then runs along the channels,
                    // which is faster for narrow layers), then transposed into y.
                    out.resize(q * o, 0.0);
                    if let Some(b) = bias {
                        out.chunks_mut(o).for_each(|row| row.copy_from_slice(b));
                    }
                    // SAFETY: the matrices lie within col/x, w and out as sized above.
                    unsafe {
                        sgemm(
                            GemmDims { m: q, n: o, k },
                            Strided::row_major(out.as_mut_ptr(), o),
                            bias.is_some(),
                            Strided::col_major(lhs, q),
                            Strided::col_major(w.as_ptr(), k),
                            par,
                        )
                    };
                    for (j, n) in images.enumerate() {
                        // SAFETY: image n's output belongs to this block only.
                        let target = unsafe { y_ptr.range(n * o * p_out, o * p_out) };
                        transpose_into(&out[j * p_out * o..(j + 1) * p_out * o], p_out, o, target);
                    }
                    continue;
                }
                // The output block [O, Q]: straight into y for a single image.
                let dst: *mut f32 = if direct {
                    // SAFETY: image `images.start` belongs to this block only.
                    unsafe { y_ptr.ptr().add(images.start * o * p_out) }
                } else {
                    out.resize(o * q, 0.0);
                    out.as_mut_ptr()
                };
                if let Some(b) = bias {
                    for (oc, &bv) in b.iter().enumerate() {
                        // SAFETY: dst holds O rows of Q values, this block's only.
                        unsafe { SharedMut(dst).range(oc * q, q) }.fill(MaybeUninit::new(bv));
                    }
                }
                // dst[q, o] (column-major, ld Q) = lhs[q, kk] (ld Q) · w[kk, o] (w is [O, K]).
                // SAFETY: the matrices lie within col/x, w and dst as sized above.
                unsafe {
                    sgemm(
                        GemmDims { m: q, n: o, k },
                        Strided::col_major(dst, q),
                        bias.is_some(),
                        Strided::col_major(lhs, q),
                        Strided::col_major(w.as_ptr(), k),
                        par,
                    )
                };
                if !direct {
                    for (j, n) in images.enumerate() {
                        for oc in 0..o {
                            // SAFETY: image n's output belongs to this block only.
                            unsafe { y_ptr.range((n * o + oc) * p_out, p_out) }
                                .write_copy_of_slice(
                                    &out[oc * q + j * p_out..oc * q + (j + 1) * p_out],
                                );
                        }
                    }
                }
            }
        });
    });
}

/// The gradients of [`conv2d_forward`] for the output gradient `dy: [B, O, Ho, Wo]`: each of
/// `dx: [B, C, H, W]`, `dw: [O, C, kh, kw]` and `db: [O]` that is asked for is overwritten.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn conv2d_backward(
    shape: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    // SAFETY: `conv2d_backward_into` writes only initialised values through the view.
    let dx = dx.map(|d| unsafe { super::uninit::as_uninit(d) });
    conv2d_backward_into(shape, x, w, dy, dx, dw, db);
}

/// [`conv2d_backward`] with an input gradient that need not be initialised: every value of
/// `dx` is written (the paths that add into it zero each image's part just before), so it
/// needs no zeroing first.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn conv2d_backward_into(
    shape: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dx: Option<&mut [MaybeUninit<f32>]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    let s = *shape;
    let (k, p_in, p_out, o) = (s.k(), s.pixels_in(), s.pixels_out(), s.c_out);
    assert_eq!(x.len(), s.batch * s.c_in * p_in, "conv2d input length");
    assert_eq!(w.len(), o * k, "conv2d weight length");
    assert_eq!(
        dy.len(),
        s.batch * o * p_out,
        "conv2d output-gradient length"
    );
    if super::conv2d_rows::takes(&s) {
        return super::conv2d_rows::backward(&s, x, w, dy, dx, dw, db);
    }
    let want_dw = dw.is_some();
    let want_db = db.is_some();
    let dx_ptr = dx.map(|d| {
        assert_eq!(d.len(), x.len(), "conv2d input-gradient length");
        SharedMut(d.as_mut_ptr().cast::<f32>())
    });
    let plan = Plan::new(&s);
    let par = plan.gemm_parallelism();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..plan.threads)
        .into_par_iter()
        .map(|t| {
            let mut dw_acc = if want_dw {
                vec![0.0f32; o * k]
            } else {
                Vec::new()
            };
            let mut db_acc = if want_db { vec![0.0f32; o] } else { Vec::new() };
            with_scratch(|scratch| {
                for block in plan.blocks_of(t) {
                    let images = plan.images(block, s.batch);
                    let nb = images.len();
                    let q = nb * p_out;
                    let direct = nb == 1;
                    // ∂L/∂Y for the block as [O, Q].
                    let Scratch {
                        im2col: kept,
                        dy: dyb,
                        dcol,
                        ..
                    } = &mut *scratch;
                    let g: &[f32] = if direct {
                        &dy[images.start * o * p_out..(images.start + 1) * o * p_out]
                    } else {
                        dyb.resize(o * q, 0.0);
                        for (j, n) in images.clone().enumerate() {
                            for oc in 0..o {
                                dyb[oc * q + j * p_out..oc * q + (j + 1) * p_out].copy_from_slice(
                                    &dy[(n * o + oc) * p_out..(n * o + oc + 1) * p_out],
                                );
                            }
                        }
                        dyb
                    };
                    if want_db {
                        for (oc, acc) in db_acc.iter_mut().enumerate() {
                            *acc += g[oc * q..(oc + 1) * q].iter().sum::<f32>();
                        }
                    }
                    if want_dw {
                        let lhs: &[f32] = if s.is_pointwise() && direct {
                            &x[images.start * k * p_in..(images.start + 1) * k * p_in]
                        } else {
                            im2col_buffer(kept, &s, nb).fill(&s, x, images.clone())
                        };
                        // acc[kk, o] (o contiguous, transposed into dw at the end: measured faster
                        // than dw's own [O, K] layout) += X[kk, q] · gᵀ[q, o].
                        // SAFETY: sizes as above.
                        unsafe {
                            sgemm(
                                GemmDims { m: k, n: o, k: q },
                                Strided::row_major(dw_acc.as_mut_ptr(), o),
                                true,
                                Strided::row_major(lhs.as_ptr(), q),
                                Strided::col_major(g.as_ptr(), q),
                                par,
                            )
                        };
                    }
                    if let Some(dx_ptr) = dx_ptr {
                        // ∂L/∂X[kk, q] = Σ_o w[o, kk] g[o, q]: dst[q, kk] column-major with ld Q.
                        let pointwise_direct = s.is_pointwise() && direct;
                        let dst: *mut f32 = if pointwise_direct {
                            // SAFETY: image `images.start` belongs to this block only.
                            unsafe { dx_ptr.ptr().add(images.start * k * p_in) }
                        } else {
                            dcol.resize(k * q, 0.0);
                            dcol.as_mut_ptr()
                        };
                        // SAFETY: sizes as above.
                        unsafe {
                            sgemm(
                                GemmDims { m: q, n: k, k: o },
                                Strided::col_major(dst, q),
                                false,
                                Strided::col_major(g.as_ptr(), q),
                                Strided::row_major(w.as_ptr(), k),
                                par,
                            )
                        };
                        if !pointwise_direct {
                            for (j, n) in images.enumerate() {
                                // SAFETY: image n's gradient belongs to this block only.
                                let target =
                                    unsafe { dx_ptr.range(n * s.c_in * p_in, s.c_in * p_in) };
                                // col2im adds into the image's gradient: zeros first, while
                                // this thread is about to touch it anyway.
                                target.fill(MaybeUninit::new(0.0));
                                // SAFETY: every value was just initialised.
                                col2im(&s, dcol, q, j * p_out, unsafe { target.assume_init_mut() });
                            }
                        }
                    }
                }
            });
            (dw_acc, db_acc)
        })
        .collect();
    if let Some(dw) = dw {
        assert_eq!(dw.len(), o * k, "conv2d weight-gradient length");
        let mut sum = vec![0.0f32; o * k];
        for (part, _) in &partials {
            for (d, p) in sum.iter_mut().zip(part) {
                *d += p;
            }
        }
        transpose(&sum, k, o, dw);
    }
    if let Some(db) = db {
        assert_eq!(db.len(), o, "conv2d bias-gradient length");
        db.fill(0.0);
        for (_, part) in &partials {
            for (d, p) in db.iter_mut().zip(part) {
                *d += p;
            }
        }
    }
}
