//! Every kernel against burn's own operator on flex: values and every gradient, over shapes
//! that cover stride 1 and 2, padding, 1×1 and 3×3 kernels, odd sizes, batch 1, channel
//! counts that are not multiples of the SIMD width, several images per GEMM block and group
//! counts of the group normalisation.
//!
//! Tolerances are the worst-case bound of f32 summation: a sum of `n` products computed in
//! any order is within `γ_n Σ|terms|` of the exact value, `γ_n ≈ n u`, `u = 2⁻²⁴`, so two
//! implementations agree within `2 n u Σ|terms|`. `Σ|terms|` is computed per element by
//! running burn's operator on the absolute values of every input (the same products, all
//! positive). The Winograd path (`host/conv2d_winograd.rs`) sums other terms: its bound is
//! stated at [`winograd_scale`].

use burn::tensor::activation::silu;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use gpfn_kernels::host::{Conv2dShape, conv2d_winograd};
use gpfn_kernels::{add, add_per_channel, conv2d, group_norm_silu};

const U: f64 = f32::EPSILON as f64 / 2.0;

fn host<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().unwrap()
}

/// `|a − b| ≤ tol_i` element by element, with the tolerance `2 n u s_i + floor`.
fn assert_close(what: &str, got: &[f32], want: &[f32], scale: &[f32], n: usize, floor: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let tol = 2.0 * n as f64 * U * s as f64 + floor;
        assert!(
            ((g - w) as f64).abs() <= tol && g.is_finite(),
            "{what}[{i}]: {g} vs {w} (tolerance {tol:e})"
        );
    }
}

/// The rounding bound of Winograd's F(2×2, 3×3) for a convolution of `input: [B, C, H, W]`
/// with `w: [O, C, 3, 3]` (`turned`: of `input: [B, O, H, W]` with the turned kernel, the input
/// gradient), per output element: the computed value is a sum of `N = C + 12` rounded steps
/// over terms whose absolute values add up to at most
/// `4 Σ_c ‖w[o, c]‖₁ Σ_{4×4 window} |input[c]|` (the window of the element's 2×2 tile; 4 is the
/// square of the largest entry of `|Aᵀ| |G| |Bᵀ|`), so it lies within `N u` times this of the
/// exact value. Computed here in f64 from the definition of the tiles, not by the kernel.
fn winograd_scale(input: &[f32], w: &[f32], dims: [usize; 5], turned: bool) -> Vec<f32> {
    let [b, c_in, c_out, h, wd] = dims;
    let (from, to) = if turned { (c_out, c_in) } else { (c_in, c_out) };
    let norm = |o: usize, c: usize| -> f64 {
        let (o, c) = if turned { (c, o) } else { (o, c) };
        w[(o * c_in + c) * 9..(o * c_in + c) * 9 + 9]
            .iter()
            .map(|v| v.abs() as f64)
            .sum()
    };
    let mut out = vec![0.0f32; b * to * h * wd];
    for n in 0..b {
        for i in 0..h {
            for j in 0..wd {
                let (r0, c0) = ((i / 2 * 2) as isize - 1, (j / 2 * 2) as isize - 1);
                let window: Vec<f64> = (0..from)
                    .map(|c| {
                        let mut sum = 0.0;
                        for r in r0.max(0)..(r0 + 4).min(h as isize) {
                            for col in c0.max(0)..(c0 + 4).min(wd as isize) {
                                let at = ((n * from + c) * h + r as usize) * wd + col as usize;
                                sum += input[at].abs() as f64;
                            }
                        }
                        sum
                    })
                    .collect();
                for o in 0..to {
                    let s: f64 = (0..from).map(|c| norm(o, c) * window[c]).sum();
                    out[((n * to + o) * h + i) * wd + j] = (4.0 * s) as f32;
                }
            }
        }
    }
    out
}

/// `|a − b| ≤ (N u) s_i + 2 n u t_i`: the Winograd bound of `got` plus the summation bound of
/// burn's `want`.
fn assert_close_winograd(
    what: &str,
    got: &[f32],
    want: &[f32],
    (rounds, scale): (usize, &[f32]),
    (n, terms): (usize, &[f32]),
) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = rounds as f64 * U * scale[i] as f64 + 2.0 * n as f64 * U * terms[i] as f64;
        assert!(
            ((g - w) as f64).abs() <= tol && g.is_finite(),
            "{what}[{i}]: {g} vs {w} (tolerance {tol:e})"
        );
    }
}

struct ConvCase {
    batch: usize,
    c_in: usize,
    c_out: usize,
    size: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
}

/// `(y, dx, dw, db)` of `L = Σ y ⊙ r` by autodiff.
fn conv_run(
    ours: bool,
    case: &ConvCase,
    x: &Tensor<4>,
    w: &Tensor<4>,
    b: &Tensor<1>,
    r: &Tensor<4>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let x = x.clone().autodiff().require_grad();
    let w = w.clone().autodiff().require_grad();
    let b = b.clone().autodiff().require_grad();
    let options = ConvOptions::new([case.stride; 2], [case.padding; 2], [1, 1], 1);
    let bias = case.bias.then(|| b.clone());
    let y = if ours {
        conv2d(x.clone(), w.clone(), bias, options)
    } else {
        burn::tensor::module::conv2d(x.clone(), w.clone(), bias, options)
    };
    let grads = (y.clone() * r.clone().autodiff()).sum().backward();
    let db = if case.bias {
        host(&b.grad(&grads).unwrap())
    } else {
        vec![0.0; case.c_out]
    };
    (
        host(&y),
        host(&x.grad(&grads).unwrap()),
        host(&w.grad(&grads).unwrap()),
        db,
    )
}

#[test]
fn conv2d_agrees_with_burn_in_value_and_both_gradients() {
    let cases = [
        // 3×3, stride 1, padding 1: the U-Net's convolution; 5 images at 7×7 make GEMM
        // blocks of several images.
        ConvCase {
            batch: 5,
            c_in: 3,
            c_out: 17,
            size: [7, 7],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
        // stride 2 (the U-Net's downsampling) on an odd size.
        ConvCase {
            batch: 3,
            c_in: 5,
            c_out: 6,
            size: [9, 11],
            kernel: 3,
            stride: 2,
            padding: 1,
            bias: true,
        },
        // 1×1 (the skip connections), batch 1, no bias.
        ConvCase {
            batch: 1,
            c_in: 19,
            c_out: 7,
            size: [6, 5],
            kernel: 1,
            stride: 1,
            padding: 0,
            bias: false,
        },
        // 1×1 with several images per block.
        ConvCase {
            batch: 7,
            c_in: 4,
            c_out: 33,
            size: [3, 3],
            kernel: 1,
            stride: 1,
            padding: 0,
            bias: true,
        },
        // no padding, stride 2, a kernel as tall as the input.
        ConvCase {
            batch: 2,
            c_in: 2,
            c_out: 3,
            size: [3, 8],
            kernel: 3,
            stride: 2,
            padding: 0,
            bias: true,
        },
        // padding wider than the kernel's reach on a tiny image, batch 1.
        ConvCase {
            batch: 1,
            c_in: 1,
            c_out: 1,
            size: [1, 2],
            kernel: 3,
            stride: 1,
            padding: 2,
            bias: true,
        },
        // 30 images at 7×7: each thread fills its im2col buffer for two blocks (8 and 8, or
        // 8 and 6 images), so the zeros of the padding are reused and then re-laid.
        ConvCase {
            batch: 30,
            c_in: 2,
            c_out: 3,
            size: [7, 7],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
        // stride 1 with the output as wide as the input takes the shifted-plane path of
        // im2col and col2im: a rectangular image, and a 5×5 kernel (shifts −2 … 2).
        ConvCase {
            batch: 2,
            c_in: 3,
            c_out: 4,
            size: [5, 9],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
        ConvCase {
            batch: 2,
            c_in: 2,
            c_out: 3,
            size: [6, 8],
            kernel: 5,
            stride: 1,
            padding: 2,
            bias: false,
        },
        // a 28×28 image with 16 channels: one image per block, the size the U-Net runs at.
        ConvCase {
            batch: 2,
            c_in: 16,
            c_out: 8,
            size: [28, 28],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
        // Size-keeping convolutions with ≥ 8 input channels take the row-shift path
        // (`host/conv2d_rows.rs`), whose input gradient is the same path with the kernel
        // turned: several images per block with the gap rows between them, an output too
        // wide for the channels-last layout, and a turned kernel with 17 input channels.
        ConvCase {
            batch: 5,
            c_in: 9,
            c_out: 17,
            size: [7, 7],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
        // two blocks a thread (8 and 8, or 8 and 6 images), channels-last output.
        ConvCase {
            batch: 30,
            c_in: 8,
            c_out: 16,
            size: [7, 7],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
        // 5×5 on a rectangular image (two zero rows between images, shifts −2 … 2), no bias.
        ConvCase {
            batch: 3,
            c_in: 10,
            c_out: 3,
            size: [6, 9],
            kernel: 5,
            stride: 1,
            padding: 2,
            bias: false,
        },
        // a shift as wide as the image (its rows are all zeros), one output channel (the
        // input gradient is a convolution of one channel).
        ConvCase {
            batch: 2,
            c_in: 8,
            c_out: 1,
            size: [3, 2],
            kernel: 5,
            stride: 1,
            padding: 2,
            bias: true,
        },
        // 64 channels at 14×14, the U-Net's middle level: Winograd's F(2×2, 3×3)
        // (`host/conv2d_winograd.rs`), forward and input gradient, two images per block.
        ConvCase {
            batch: 4,
            c_in: 64,
            c_out: 64,
            size: [14, 14],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
        // Winograd on an odd rectangle (the last tile row and column half outside the image)
        // with channel counts that leave a remainder of the 8-channel vectors on both sides.
        ConvCase {
            batch: 3,
            c_in: 20,
            c_out: 103,
            size: [7, 9],
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: true,
        },
    ];
    let device = Device::flex();
    // Every case twice, with fresh inputs the second time: the kernels keep each thread's
    // im2col matrices across calls, one per geometry, and the padding's zeros in them must
    // survive other geometries' calls and other values.
    for (k, case) in cases.iter().chain(&cases).enumerate() {
        let [h, wd] = case.size;
        let x = Tensor::<4>::random(
            [case.batch, case.c_in, h, wd],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let w = Tensor::<4>::random(
            [case.c_out, case.c_in, case.kernel, case.kernel],
            Distribution::Normal(0.0, 0.5),
            &device,
        );
        let b = Tensor::<1>::random([case.c_out], Distribution::Normal(0.0, 1.0), &device);
        let ho = (h + 2 * case.padding - case.kernel) / case.stride + 1;
        let wo = (wd + 2 * case.padding - case.kernel) / case.stride + 1;
        let r = Tensor::<4>::random(
            [case.batch, case.c_out, ho, wo],
            Distribution::Normal(0.0, 1.0),
            &device,
        );

        let ours = conv_run(true, case, &x, &w, &b, &r);
        let theirs = conv_run(false, case, &x, &w, &b, &r);
        let abs = conv_run(
            false,
            case,
            &x.clone().abs(),
            &w.clone().abs(),
            &b.clone().abs(),
            &r.clone().abs(),
        );
        let kk = case.c_in * case.kernel * case.kernel;
        let pixels = case.batch * ho * wo;
        let what = |s: &str| format!("case {k} {s}");
        let shape = Conv2dShape {
            batch: case.batch,
            c_in: case.c_in,
            input: case.size,
            c_out: case.c_out,
            kernel: [case.kernel; 2],
            stride: [case.stride; 2],
            padding: [case.padding; 2],
        };
        let kd = case.c_out * case.kernel * case.kernel;
        if conv2d_winograd::takes(&shape) {
            let dims = [case.batch, case.c_in, case.c_out, h, wd];
            let (xs, ws, rs) = (host(&x), host(&w), host(&r));
            let y_scale = winograd_scale(&xs, &ws, dims, false);
            let dx_scale = winograd_scale(&rs, &ws, dims, true);
            assert_close_winograd(
                &what("y (Winograd)"),
                &ours.0,
                &theirs.0,
                (case.c_in + 12, &y_scale),
                (kk + 1, &abs.0),
            );
            assert_close_winograd(
                &what("dx (Winograd)"),
                &ours.1,
                &theirs.1,
                (case.c_out + 12, &dx_scale),
                (kd, &abs.1),
            );
        } else {
            assert_close(&what("y"), &ours.0, &theirs.0, &abs.0, kk + 1, 1e-30);
            assert_close(&what("dx"), &ours.1, &theirs.1, &abs.1, kd, 1e-30);
        }
        assert_close(&what("dw"), &ours.2, &theirs.2, &abs.2, pixels, 1e-30);
        assert_close(&what("db"), &ours.3, &theirs.3, &abs.3, pixels, 1e-30);
        // The plain (no autodiff) path gives the same output as the autodiff one.
        let plain = conv2d(
            x.clone(),
            w.clone(),
            case.bias.then(|| b.clone()),
            ConvOptions::new([case.stride; 2], [case.padding; 2], [1, 1], 1),
        );
        assert_eq!(
            host(&plain),
            ours.0,
            "case {k}: plain and autodiff forward differ"
        );
    }
}

#[test]
fn conv2d_gradients_are_bit_reproducible() {
    let case = ConvCase {
        batch: 6,
        c_in: 8,
        c_out: 8,
        size: [7, 7],
        kernel: 3,
        stride: 1,
        padding: 1,
        bias: true,
    };
    let device = Device::flex();
    let x = Tensor::<4>::random([6, 8, 7, 7], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([8, 8, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<1>::random([8], Distribution::Normal(0.0, 1.0), &device);
    let r = Tensor::<4>::random([6, 8, 7, 7], Distribution::Normal(0.0, 1.0), &device);
    let first = conv_run(true, &case, &x, &w, &b, &r);
    for _ in 0..3 {
        let again = conv_run(true, &case, &x, &w, &b, &r);
        assert!(again == first, "a repeated convolution changed its bits");
    }
}

/// `(y, dx, dγ, dβ)` of `L = Σ y ⊙ r`.
fn norm_run(
    ours: bool,
    groups: usize,
    x: &Tensor<4>,
    g: &Tensor<1>,
    b: &Tensor<1>,
    r: &Tensor<4>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let x = x.clone().autodiff().require_grad();
    let g = g.clone().autodiff().require_grad();
    let b = b.clone().autodiff().require_grad();
    let y = if ours {
        group_norm_silu(x.clone(), g.clone(), b.clone(), groups, 1e-5)
    } else {
        // burn-nn's GroupNorm module, with these parameters, then burn's SiLU.
        let c = x.dims()[1];
        let mut norm = burn::nn::GroupNormConfig::new(groups, c).init(&x.device());
        norm.gamma = Some(burn::module::Param::from_tensor(g.clone()));
        norm.beta = Some(burn::module::Param::from_tensor(b.clone()));
        silu(norm.forward(x.clone()))
    };
    let grads = (y.clone() * r.clone().autodiff()).sum().backward();
    (
        host(&y),
        host(&x.grad(&grads).unwrap()),
        host(&g.grad(&grads).unwrap()),
        host(&b.grad(&grads).unwrap()),
    )
}

#[test]
fn group_norm_silu_agrees_with_burn_in_value_and_every_gradient() {
    let device = Device::flex();
    // (batch, channels, height, width, groups)
    for (k, &(n, c, h, w, groups)) in [
        (2, 8, 5, 5, 4),
        (1, 6, 3, 7, 3),
        (3, 16, 7, 7, 8),
        (2, 5, 2, 3, 1),
        (1, 32, 28, 28, 8),
    ]
    .iter()
    .enumerate()
    {
        let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.5, 2.0), &device);
        let g = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.5), &device);
        let b = Tensor::<1>::random([c], Distribution::Normal(0.0, 0.5), &device);
        let r = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let ours = norm_run(true, groups, &x, &g, &b, &r);
        let theirs = norm_run(false, groups, &x, &g, &b, &r);
        // burn sums a group of L = (C/G)·H·W values in f32 for the mean and the variance
        // (a relative error of up to L u each, the worst case of f32 summation), where ours
        // sums in f64; the sigmoids differ by a few ulp. Both enter every output linearly, so
        // 4 L u of the largest reference value bounds the gap of y and δx; the parameter
        // gradients add B·H·W such terms, which multiplies the bound by that count.
        let l = (c / groups * h * w) as f64;
        let rel = 4.0 * l * U;
        let close = |what: &str, a: &[f32], bb: &[f32], terms: f64| {
            let scale = bb.iter().fold(1.0f64, |m, v| m.max(v.abs() as f64));
            for (i, (&p, &q)) in a.iter().zip(bb).enumerate() {
                let tol = rel * terms * scale;
                assert!(
                    ((p - q) as f64).abs() <= tol && p.is_finite(),
                    "case {k} {what}[{i}]: {p} vs {q} (tolerance {tol:e})"
                );
            }
        };
        close("y", &ours.0, &theirs.0, 1.0);
        close("dx", &ours.1, &theirs.1, 1.0);
        close("dgamma", &ours.2, &theirs.2, (n * h * w) as f64);
        close("dbeta", &ours.3, &theirs.3, (n * h * w) as f64);
    }
}

/// `(y, ∂/∂a, ∂/∂b)` of `L = Σ y ⊙ r` for `y = f(a, b)`, under autodiff, and `y` without it.
fn grad_run<const D: usize>(
    f: impl Fn(Tensor<4>, Tensor<D>) -> Tensor<4>,
    a: &Tensor<4>,
    b: &Tensor<D>,
    r: &Tensor<4>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let plain = host(&f(a.clone(), b.clone()));
    let a = a.clone().autodiff().require_grad();
    let b = b.clone().autodiff().require_grad();
    let y = f(a.clone(), b.clone());
    let grads = (y.clone() * r.clone().autodiff()).sum().backward();
    (
        host(&y),
        host(&a.grad(&grads).unwrap()),
        host(&b.grad(&grads).unwrap()),
        plain,
    )
}

#[test]
fn additions_agree_with_burn_in_value_and_both_gradients() {
    let device = Device::flex();
    for (k, &(n, c, h, w)) in [(1, 1, 1, 1), (2, 3, 5, 7), (3, 32, 28, 28), (5, 64, 7, 7)]
        .iter()
        .enumerate()
    {
        let a = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.5, 2.0), &device);
        let b = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let t = Tensor::<2>::random([n, c], Distribution::Normal(0.0, 1.0), &device);
        let r = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        // a + b: one rounding per value on either side, and gradients that are copies of r.
        let ours = grad_run(add, &a, &b, &r);
        let theirs = grad_run(|a, b| a + b, &a, &b, &r);
        assert_eq!(ours, theirs, "case {k}: a + b");
        // a + t[:, :, None, None]: the same values and ∂/∂a; ∂/∂t sums the H·W values of a
        // plane of r, in another order than burn's: within 2 (H·W) u Σ|r| of each other.
        let ours = grad_run(add_per_channel, &a, &t, &r);
        let theirs = grad_run(|a, t| a + t.reshape([n, c, 1, 1]), &a, &t, &r);
        assert_eq!(ours.0, theirs.0, "case {k}: a + t, value");
        assert_eq!(ours.1, theirs.1, "case {k}: a + t, ∂/∂a");
        assert_eq!(ours.3, theirs.3, "case {k}: a + t, without autodiff");
        let abs = host(&r.clone().abs().sum_dim(3).sum_dim(2).reshape([n * c]));
        for (i, ((&p, &q), s)) in ours.2.iter().zip(&theirs.2).zip(abs).enumerate() {
            let tol = 2.0 * (h * w) as f64 * U * s as f64;
            assert!(
                ((p - q) as f64).abs() <= tol,
                "case {k}: ∂/∂t[{i}] {p} vs {q} (tolerance {tol:e})"
            );
        }
    }
    // Shapes the kernels do not take fall back to burn's broadcasting addition.
    let a = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<4>::random([2, 3, 1, 4], Distribution::Normal(0.0, 1.0), &device);
    assert_eq!(host(&add(a.clone(), b.clone())), host(&(a + b)));
}

#[test]
fn other_backends_and_options_take_burns_path() {
    // Dilation 2 is not a case of the kernel: the result must still be burn's.
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 3, 9, 9], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([4, 3, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let options = ConvOptions::new([1, 1], [2, 2], [2, 2], 1);
    let ours = conv2d(x.clone(), w.clone(), None, options.clone());
    let theirs = burn::tensor::module::conv2d(x, w, None, options);
    assert_eq!(host(&ours), host(&theirs));
}

#[test]
fn the_sinkhorn_update_agrees_with_burns_log_sum_exp() {
    use gpfn_kernels::{Reduce, sinkhorn_update};
    let device = Device::flex();
    // (batch, n, m, ε): odd sizes, a column count above and below the 64-column runs.
    for &(b, n, m, eps) in &[
        (2, 5, 7, 0.05),
        (1, 130, 67, 0.3),
        (3, 17, 200, 1e-3),
        (1, 1, 1, 1.0),
    ] {
        let c = Tensor::<3>::random([b, n, m], Distribution::Uniform(0.0, 4.0), &device);
        for (reduce, len, other) in [(Reduce::Columns, m, n), (Reduce::Rows, n, m)] {
            let v = Tensor::<2>::random([b, len], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<2>::random([b, len], Distribution::Uniform(-3.0, 0.0), &device);
            let ours = host(&sinkhorn_update(&c, &v, &w, eps, reduce));
            // On an autodiff device the same function takes burn's operators.
            let (ca, va, wa) = (
                c.clone().autodiff(),
                v.clone().autodiff(),
                w.clone().autodiff(),
            );
            let theirs = host(&sinkhorn_update(&ca, &va, &wa, eps, reduce));
            assert_eq!(ours.len(), b * other);
            // Each exponent z = (v − C)/ε + w carries a rounding of |z| u; the exponentials
            // (2 ulp) and their sum over `len` terms in (0, 1] add (len + 4) u to the log's
            // absolute error; the result is scaled by ε. Both sides err, hence the 2.
            let zmax = 8.0 / eps + 8.0;
            let tol = 2.0 * eps * ((len as f64 + 4.0) * U + 2.0 * zmax * U);
            for (i, (&p, &q)) in ours.iter().zip(&theirs).enumerate() {
                assert!(
                    ((p - q) as f64).abs() <= tol + (q.abs() as f64) * 2.0 * U,
                    "{reduce:?} ({b}, {n}, {m}, ε {eps}) [{i}]: {p} vs {q} (tolerance {tol:e})"
                );
            }
        }
    }
}
