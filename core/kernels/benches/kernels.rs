//! Every convolution shape of the reference U-Net (`configs/bench/torch-reference.toml`) at
//! batch 128, forward and backward, against flex's own operators and the square-GEMM rate of
//! the machine; the fused group norm + SiLU against burn's.
//!
//! ```text
//! cargo bench -p gpfn-kernels --bench kernels            # everything
//! GPFN_BENCH_BATCH=32 cargo bench -p gpfn-kernels --bench kernels -- conv
//! ```

use burn::tensor::activation::silu;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use gpfn_kernels::group_norm_silu;
use gpfn_kernels::host::{Conv2dShape, conv2d_backward, conv2d_forward};
use std::time::Instant;

/// Median seconds of `reps` calls after one warm-up call.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let want = |s: &str| filter.as_deref().is_none_or(|f| s.contains(f));
    let batch: usize = std::env::var("GPFN_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let device = Device::flex();
    println!(
        "{} rayon threads, batch {batch}",
        rayon::current_num_threads()
    );

    if want("gemm") {
        let n = 1024;
        let a = vec![1.0f32; n * n];
        let b = vec![1.0f32; n * n];
        let mut c = vec![0.0f32; n * n];
        let s = time(5, || unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                n as isize,
                1,
                false,
                a.as_ptr(),
                n as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            )
        });
        println!(
            "square GEMM 1024³: {:.1} ms, {:.1} GFLOP/s",
            s * 1e3,
            2.0 * (n * n * n) as f64 / s / 1e9
        );
    }

    if want("conv") {
        println!(
            "| convolution | input | ours fwd | GFLOP/s | ours bwd (dx+dw+db) | GFLOP/s | flex fwd | burn bwd (autodiff) |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        // (c_in, c_out, size, kernel, stride) of every convolution of the reference U-Net.
        let shapes = [
            (1, 32, 28, 3, 1),
            (32, 32, 28, 3, 1),
            (32, 32, 28, 3, 2),
            (32, 64, 14, 3, 1),
            (64, 64, 14, 3, 1),
            (32, 64, 14, 1, 1),
            (64, 64, 14, 3, 2),
            (64, 128, 7, 3, 1),
            (128, 128, 7, 3, 1),
            (256, 128, 7, 3, 1),
            (256, 128, 7, 1, 1),
            (128, 64, 14, 3, 1),
            (64, 32, 28, 3, 1),
            (32, 1, 28, 3, 1),
        ];
        for (c_in, c_out, size, k, stride) in shapes {
            let pad = k / 2;
            let s = Conv2dShape {
                batch,
                c_in,
                input: [size, size],
                c_out,
                kernel: [k, k],
                stride: [stride, stride],
                padding: [pad, pad],
            };
            let [ho, wo] = s.output();
            let x = vec![0.5f32; batch * c_in * size * size];
            let w = vec![0.01f32; c_out * c_in * k * k];
            let b = vec![0.0f32; c_out];
            let mut y = vec![0.0f32; batch * c_out * ho * wo];
            let flops = 2.0 * (batch * c_out * ho * wo * c_in * k * k) as f64;
            let fwd = time(5, || conv2d_forward(&s, &x, &w, Some(&b), &mut y));
            let mut dx = vec![0.0f32; x.len()];
            let mut dw = vec![0.0f32; w.len()];
            let mut db = vec![0.0f32; c_out];
            // dx must hold zeros on entry, as the tensor wrapper's allocation does.
            let bwd = time(5, || {
                dx.fill(0.0);
                conv2d_backward(&s, &x, &w, &y, Some(&mut dx), Some(&mut dw), Some(&mut db))
            });
            // flex's own forward, and burn's backward (autodiff with its default rules).
            let xt = Tensor::<4>::random(
                [batch, c_in, size, size],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let wt =
                Tensor::<4>::random([c_out, c_in, k, k], Distribution::Normal(0.0, 0.1), &device);
            let opts = ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1);
            let flex_fwd = time(3, || {
                let _ = burn::tensor::module::conv2d(xt.clone(), wt.clone(), None, opts.clone())
                    .into_data();
            });
            let ad = xt.clone().autodiff().require_grad();
            let wa = wt.clone().autodiff().require_grad();
            let burn_bwd = time(3, || {
                let y = burn::tensor::module::conv2d(ad.clone(), wa.clone(), None, opts.clone());
                let g = y.sum().backward();
                let _ = ad.grad(&g).unwrap().into_data();
            }) - flex_fwd;
            println!(
                "| {k}×{k} s{stride} {c_in}→{c_out} | {size}×{size} | {:.1} ms | {:.0} | {:.1} ms | {:.0} | {:.1} ms | {:.1} ms |",
                fwd * 1e3,
                flops / fwd / 1e9,
                bwd * 1e3,
                2.0 * flops / bwd / 1e9,
                flex_fwd * 1e3,
                burn_bwd * 1e3
            );
        }
    }

    if want("norm") {
        println!("| group norm + SiLU | ours fwd | ours fwd+bwd | burn fwd | burn fwd+bwd |");
        println!("|---|---:|---:|---:|---:|");
        for (c, size) in [(32, 28), (64, 14), (128, 7), (256, 7)] {
            let x = Tensor::<4>::random(
                [batch, c, size, size],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let g = Tensor::<1>::ones([c], &device);
            let b = Tensor::<1>::zeros([c], &device);
            let ours = time(5, || {
                let _ = group_norm_silu(x.clone(), g.clone(), b.clone(), 8, 1e-5).into_data();
            });
            let norm = burn::nn::GroupNormConfig::new(8, c).init(&device);
            let theirs = time(5, || {
                let _ = silu(norm.forward(x.clone())).into_data();
            });
            let xa = x.clone().autodiff().require_grad();
            let (ga, ba) = (
                g.clone().autodiff().require_grad(),
                b.clone().autodiff().require_grad(),
            );
            let ours_bwd = time(5, || {
                let y = group_norm_silu(xa.clone(), ga.clone(), ba.clone(), 8, 1e-5);
                let gr = y.sum().backward();
                let _ = xa.grad(&gr).unwrap().into_data();
            });
            let norm_ad = burn::nn::GroupNormConfig::new(8, c).init(&xa.device());
            let theirs_bwd = time(5, || {
                let y = silu(norm_ad.forward(xa.clone()));
                let gr = y.sum().backward();
                let _ = xa.grad(&gr).unwrap().into_data();
            });
            println!(
                "| [{batch}, {c}, {size}, {size}] | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
                ours * 1e3,
                ours_bwd * 1e3,
                theirs * 1e3,
                theirs_bwd * 1e3
            );
        }
    }
}
