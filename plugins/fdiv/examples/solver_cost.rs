//! Cost of one generic proximal step for a batch of MNIST-sized beliefs, relative to one
//! forward pass of the U-Net at the same batch, both timed in this process.
//!
//! ```text
//! cargo run --release -p gpfn-fdiv --example solver_cost [batch] [dim] [repeats] [names]
//! ```
//!
//! First the U-Net forward pass (no autodiff) on `[batch, 1·28·28]` inputs: the full-size
//! network (`UNetConfig::default()`, channels 32/64/128) and configs/base.toml's 16/32/64.
//! Then,
//! for every f-divergence (or those named, comma-separated, e.g. `hellinger,reverse-kl`): the previous belief is the KL flow belief of BFN's chain halfway
//! (σ₁ = 0.001, n = 20, step 10: `μ ~ N(γx, γ(1 − γ))`, `s = √(1 − γ)`), the observation a
//! sender sample around data in [−1, 1], and the accuracy BFN's `α_10`. Prints the median wall
//! time of a step, the solver's iterations and residual, and the ratio to each U-Net pass.

use gpfn_core::belief::DiagGaussian;
use gpfn_core::burn::tensor::Device;
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::Divergence;
use gpfn_core::proximal_solver::{SolverOptions, solve_prox};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::{BfnGeometric, time_grid};
use gpfn_fdiv::{
    AlphaDivergence, Chi2, ForwardKl, Hellinger, JensenShannon, ReverseKl, TotalVariation,
};
use gpfn_network::{NetworkConfig, NetworkIo, UNetConfig};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // A non-numeric argument: the divergences to time, comma-separated (default: all).
    let only: Option<Vec<String>> = std::env::args()
        .skip(1)
        .find(|a| a.parse::<usize>().is_err())
        .map(|a| a.split(',').map(str::to_string).collect());
    let (b, d, repeats) = (
        *args.first().unwrap_or(&128),
        *args.get(1).unwrap_or(&784),
        *args.get(2).unwrap_or(&3),
    );
    let device = Device::flex();
    // One U-Net forward pass at this batch (28×28 images, so `dim` must be 784 for it).
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut unet = Vec::new();
    for channels in [vec![32, 64, 128], vec![16, 32, 64]] {
        let config = UNetConfig {
            channels: channels.clone(),
            ..UNetConfig::default()
        };
        let net = config
            .build(&NetworkIo::same(&[1, 28, 28]), &device)
            .expect("U-Net builds");
        let mut rng = Rng::seed(1);
        let z = rng.normal_tensor(b, 784, &device);
        let t = Tensor::<2>::full([b, 1], 0.5, &device);
        let _ = net.forward(z.clone(), t.clone()).into_data(); // warm-up
        let times: Vec<f64> = (0..repeats)
            .map(|_| {
                let start = Instant::now();
                let _ = net.forward(z.clone(), t.clone()).into_data();
                start.elapsed().as_secs_f64()
            })
            .collect();
        let s = median(times);
        println!("U-Net {channels:?} forward, batch {b}: {s:.3} s");
        unet.push(s);
    }
    let step = time_grid(&BfnGeometric::default(), 20)[9];
    let gamma = step.kappa_prev;
    let mut rng = Rng::seed(0);
    let x = rng.normal_tensor(b, d, &device).tanh();
    let prev = DiagGaussian {
        mean: x.clone().mul_scalar(gamma)
            + rng
                .normal_tensor(b, d, &device)
                .mul_scalar((gamma * (1.0 - gamma)).sqrt()),
        std: x.clone().zeros_like().add_scalar((1.0 - gamma).sqrt()),
    };
    let divs: Vec<Box<dyn Divergence>> = vec![
        Box::new(ForwardKl::default()),
        Box::new(ReverseKl::default()),
        Box::new(Chi2::default()),
        Box::new(Hellinger::default()),
        Box::new(AlphaDivergence::default()),
        Box::new(TotalVariation::default()),
        Box::new(JensenShannon::default()),
    ];
    let alpha = divs[0].maths().accuracy(&step);
    let y = x.clone()
        + rng
            .normal_tensor(b, d, &device)
            .mul_scalar(1.0 / alpha.sqrt());
    println!("batch {b} × dim {d}, α = {alpha:.4}, {repeats} repeats, median wall time");
    for div in divs.iter().filter(|d| {
        only.as_ref()
            .is_none_or(|o| o.iter().any(|n| n == d.name()))
    }) {
        let mut times = Vec::new();
        let mut report = None;
        for _ in 0..repeats {
            let start = Instant::now();
            let (p, r) = solve_prox(div.maths(), &prev, &y, alpha, &SolverOptions::default())
                .expect("valid input");
            let _ = p.mean.into_data();
            times.push(start.elapsed().as_secs_f64());
            report = Some(r);
        }
        let r = report.expect("at least one repeat");
        let s = median(times);
        println!(
            "{:<16} {:>8.3} s  iterations {:>2}  residual {:.1e}  converged {}  \
             ratio to U-Net 32/64/128: {:.2}, 16/32/64: {:.2}",
            div.name(),
            s,
            r.iterations,
            r.max_step,
            r.converged,
            s / unet[0],
            s / unet[1]
        );
    }
}
