//! Times the kernels of the U-Net's full-resolution layer on the flex backend, to see where a
//! forward pass goes: `cargo run -p gpfn-core --example conv_profile`.
use burn::tensor::module::conv2d;
use burn::tensor::module::unfold4d;
use burn::tensor::ops::{ConvOptions, UnfoldOptions};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

/// Mean milliseconds of `reps` calls after one warm-up call, and the rate when `flops` (per
/// call) is given.
fn time<T>(label: &str, flops: Option<f64>, reps: usize, mut f: impl FnMut() -> T) {
    let _ = f();
    let start = Instant::now();
    for _ in 0..reps {
        let _ = f();
    }
    let s = start.elapsed().as_secs_f64() / reps as f64;
    let rate = flops.map_or(String::new(), |f| format!("  {:6.1} GFLOP/s", f / s / 1e9));
    println!("{label:40} {:8.1} ms{rate}", s * 1e3);
}

fn main() {
    let device = Device::flex();
    let (b, c, h) = (128, 32, 28);
    let x = Tensor::<4>::random([b, c, h, h], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([c, c, 3, 3], Distribution::Normal(0.0, 0.1), &device);
    let flops = 2.0 * (b * h * h * c * c * 9) as f64;
    let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    time("conv2d 3x3 32->32 [128,32,28,28]", Some(flops), 3, || {
        conv2d(x.clone(), w.clone(), None, opts.clone()).into_data()
    });
    let a = Tensor::<2>::random([b * h * h, c * 9], Distribution::Normal(0.0, 1.0), &device);
    let m = Tensor::<2>::random([c * 9, c], Distribution::Normal(0.0, 1.0), &device);
    time("matmul [100352,288]x[288,32]", Some(flops), 3, || {
        a.clone().matmul(m.clone()).into_data()
    });
    let sq = Tensor::<2>::random([1024, 1024], Distribution::Normal(0.0, 1.0), &device);
    time("matmul 1024^3", Some(2.0 * 1024f64.powi(3)), 3, || {
        sq.clone().matmul(sq.clone()).into_data()
    });
    time("unfold4d 3x3 (im2col)", None, 3, || {
        unfold4d(
            x.clone(),
            [3, 3],
            UnfoldOptions::new([1, 1], [1, 1], [1, 1]),
        )
        .into_data()
    });
    let ad = device.clone().autodiff();
    let xa = Tensor::<4>::random([b, c, h, h], Distribution::Normal(0.0, 1.0), &ad).require_grad();
    let wa = Tensor::<4>::random([c, c, 3, 3], Distribution::Normal(0.0, 0.1), &ad).require_grad();
    time(
        "conv2d forward+backward (autodiff)",
        Some(3.0 * flops),
        2,
        || {
            let y = conv2d(xa.clone(), wa.clone(), None, opts.clone());
            let g = y.sum().backward();
            (
                xa.grad(&g).unwrap().into_data(),
                wa.grad(&g).unwrap().into_data(),
            )
        },
    );
    let gn = burn::nn::GroupNormConfig::new(8, c).init(&device);
    time("group norm [128,32,28,28]", None, 3, || {
        gn.forward(x.clone()).into_data()
    });
    time("silu [128,32,28,28]", None, 3, || {
        burn::tensor::activation::silu(x.clone()).into_data()
    });
}
