//! The `*_into` kernels write every value of their outputs, so the flex wrappers may hand
//! them memory that was never zeroed (`host::uninit`). Each output starts as NaN here, and
//! must come out bit for bit as from a zeroed buffer: a value the kernel skipped stays NaN, a
//! value it added into instead of writing differs. The shapes cover every convolution path
//! (Winograd, the row-shift GEMMs, im2col with stride 2 and without padding, 1×1 with one
//! image per block and with several) and group counts of the normalisation.

use gpfn_kernels::host::{
    Conv2dShape, GroupNormAffine, GroupNormAffineGrads, GroupNormShape, GroupNormStats,
    conv2d_backward, conv2d_backward_into, conv2d_forward, conv2d_forward_into, conv2d_winograd,
    group_norm_silu_backward, group_norm_silu_backward_into, group_norm_silu_forward,
    group_norm_silu_forward_into,
};
use std::mem::MaybeUninit;

/// Deterministic values in [−1, 1) (a multiplicative hash of the index and a seed).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let h = (i ^ seed.wrapping_mul(0x9E37_79B9)).wrapping_mul(0x85EB_CA6B);
            (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn nans(n: usize) -> Vec<MaybeUninit<f32>> {
    vec![MaybeUninit::new(f32::NAN); n]
}

/// The values of a buffer that was initialised (to NaN) before the kernel ran.
fn read(buffer: &[MaybeUninit<f32>]) -> Vec<f32> {
    // SAFETY: `nans` initialised every value.
    unsafe { buffer.assume_init_ref() }.to_vec()
}

fn assert_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what}[{i}]: {g} from a NaN-filled buffer, {w} from a zeroed one"
        );
    }
}

fn conv(batch: usize, c_in: usize, c_out: usize, input: [usize; 2], k: usize) -> Conv2dShape {
    Conv2dShape {
        batch,
        c_in,
        input,
        c_out,
        kernel: [k, k],
        stride: [1, 1],
        padding: [k / 2, k / 2],
    }
}

#[test]
fn convolutions_write_every_output_value() {
    let shapes = [
        // Winograd F(2×2, 3×3), odd size (a tile hangs over the edge).
        conv(3, 48, 48, [7, 9], 3),
        // The row-shift GEMMs (size kept, C ≥ 8), both GEMM orientations.
        conv(4, 8, 5, [6, 7], 3),
        conv(2, 9, 32, [5, 5], 3),
        conv(3, 12, 130, [4, 4], 3),
        // im2col: one input channel, stride 2, no padding.
        conv(3, 1, 6, [7, 7], 3),
        Conv2dShape {
            stride: [2, 2],
            ..conv(3, 5, 33, [9, 11], 3)
        },
        Conv2dShape {
            stride: [2, 2],
            padding: [0, 0],
            ..conv(2, 2, 3, [3, 8], 3)
        },
        // 1×1: one image per block (written straight into y) and several.
        conv(1, 19, 7, [6, 5], 1),
        conv(7, 4, 33, [3, 3], 1),
        conv(5, 70, 140, [2, 3], 1),
    ];
    assert!(conv2d_winograd::takes(&shapes[0]), "a Winograd case");
    for (k, s) in shapes.iter().enumerate() {
        let [ho, wo] = s.output();
        let x = values(s.batch * s.c_in * s.input[0] * s.input[1], 1);
        let w = values(s.c_out * s.c_in * s.kernel[0] * s.kernel[1], 2);
        let b = values(s.c_out, 3);
        let dy = values(s.batch * s.c_out * ho * wo, 4);
        let mut y = vec![0.0; dy.len()];
        conv2d_forward(s, &x, &w, Some(&b), &mut y);
        let mut y_nan = nans(dy.len());
        conv2d_forward_into(s, &x, &w, Some(&b), &mut y_nan);
        assert_bits(&format!("case {k} y"), &read(&y_nan), &y);

        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        conv2d_backward(s, &x, &w, &dy, Some(&mut dx), Some(&mut dw), Some(&mut db));
        let mut dx_nan = nans(x.len());
        let (mut dw2, mut db2) = (vec![f32::NAN; w.len()], vec![f32::NAN; b.len()]);
        conv2d_backward_into(
            s,
            &x,
            &w,
            &dy,
            Some(&mut dx_nan),
            Some(&mut dw2),
            Some(&mut db2),
        );
        assert_bits(&format!("case {k} dx"), &read(&dx_nan), &dx);
        assert_bits(&format!("case {k} dw"), &dw2, &dw);
        assert_bits(&format!("case {k} db"), &db2, &db);
        assert!(
            y.iter().chain(&dx).all(|v| v.is_finite()),
            "case {k}: finite"
        );
    }
}

#[test]
fn group_norm_silu_writes_every_output_value() {
    for (k, s) in [
        GroupNormShape {
            batch: 3,
            channels: 32,
            pixels: 49,
            groups: 8,
        },
        GroupNormShape {
            batch: 2,
            channels: 6,
            pixels: 13,
            groups: 3,
        },
        GroupNormShape {
            batch: 1,
            channels: 5,
            pixels: 1,
            groups: 1,
        },
    ]
    .iter()
    .enumerate()
    {
        let n = s.batch * s.channels * s.pixels;
        let (x, dy) = (values(n, 5), values(n, 6));
        let (gamma, beta) = (values(s.channels, 7), values(s.channels, 8));
        let affine = GroupNormAffine {
            gamma: &gamma,
            beta: &beta,
        };
        let mut y = vec![0.0; n];
        let (mean, rstd) = group_norm_silu_forward(s, &x, affine, 1e-5, &mut y);
        let mut y_nan = nans(n);
        let stats = group_norm_silu_forward_into(s, &x, affine, 1e-5, &mut y_nan);
        assert_bits(&format!("case {k} y"), &read(&y_nan), &y);
        assert_eq!(stats, (mean.clone(), rstd.clone()), "case {k}: statistics");

        let (mut dx, mut dg, mut db) = (vec![0.0; n], vec![0.0; s.channels], vec![0.0; s.channels]);
        let saved_stats = GroupNormStats {
            mean: &mean,
            rstd: &rstd,
        };
        group_norm_silu_backward(
            s,
            &x,
            affine,
            saved_stats,
            &dy,
            &mut dx,
            GroupNormAffineGrads {
                dgamma: &mut dg,
                dbeta: &mut db,
            },
        );
        let mut dx_nan = nans(n);
        let (mut dg2, mut db2) = (vec![f32::NAN; s.channels], vec![f32::NAN; s.channels]);
        group_norm_silu_backward_into(
            s,
            &x,
            affine,
            saved_stats,
            &dy,
            &mut dx_nan,
            GroupNormAffineGrads {
                dgamma: &mut dg2,
                dbeta: &mut db2,
            },
        );
        assert_bits(&format!("case {k} dx"), &read(&dx_nan), &dx);
        assert_bits(&format!("case {k} dγ"), &dg2, &dg);
        assert_bits(&format!("case {k} dβ"), &db2, &db);
        assert!(
            y.iter().chain(&dx).all(|v| v.is_finite()),
            "case {k}: finite"
        );
    }
}
