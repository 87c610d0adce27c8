//! Sinkhorn iterations per second for n = m ∈ {256, 1024, 4096} points, d ∈ {2, 784}.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/main/target cargo bench -p gpfn-sinkhorn --bench sinkhorn
//! GPFN_BENCH_BACKEND=wgpu cargo bench -p gpfn-sinkhorn --features wgpu --bench sinkhorn
//! ```
//!
//! It times `gpfn_ot::Sinkhorn` and needs nothing above `gpfn-core` and `gpfn-ot`: the device
//! is burn's own (`flex`, or `wgpu` with this crate's `wgpu` feature), not `gpfn-run`'s.
//!
//! One iteration is one update of `f` and one of `g` on a `[1, n, n]` cost matrix (two
//! log-sum-exp passes over n² entries); the cost matrix is built once, outside the timing.
//! The marginal error is read back once per timed run, so the time is the device's. Each
//! size runs `2000 · 256²/n²` iterations (at least 100) five times and reports the fastest
//! run, as `scripts/pot_sinkhorn_bench.py` times POT: at n = 256 one run of 50 iterations
//! took 5–19 ms, short enough for one thread wake-up to halve or double the rate.

use gpfn_core::burn::tensor::{Device, Tensor};
use gpfn_core::rng::Rng;
use gpfn_ot::{GroundCost, Sinkhorn};
use std::time::Instant;

/// Timed runs per size; the fastest is reported.
const REPS: usize = 5;

fn cloud(rng: &mut Rng, n: usize, d: usize, device: &Device) -> Tensor<3> {
    rng.normal_tensor(n, d, device).reshape([1, n, d])
}

/// The device of backend `name`: `flex`, or `wgpu` where the `wgpu` feature compiled it in.
fn device(name: &str) -> Device {
    match name {
        "flex" => Device::flex(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(gpfn_core::burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => panic!("backend wgpu: build the bench with `--features wgpu`"),
        other => panic!("unknown backend `{other}`; valid: flex, wgpu"),
    }
}

fn main() {
    let backend_name = std::env::var("GPFN_BENCH_BACKEND").unwrap_or_else(|_| "flex".into());
    let device = device(&backend_name);
    let sizes: Vec<usize> = std::env::var("GPFN_BENCH_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|v| v.trim().parse().expect("size"))
                .collect()
        })
        .unwrap_or_else(|| vec![256, 1024, 4096]);
    println!("backend {backend_name}");
    println!("| n = m | d | iterations | seconds | iterations/s |");
    println!("|---:|---:|---:|---:|---:|");
    let mut rng = Rng::seed(0);
    for &n in &sizes {
        for d in [2, 784] {
            let x = cloud(&mut rng, n, d, &device);
            let y = cloud(&mut rng, n, d, &device);
            let c = GroundCost::SquaredEuclidean.matrix(&x, &y);
            let mean = c.clone().mean().into_scalar::<f32>() as f64;
            let log_w = Tensor::<2>::full([1, n], -(n as f64).ln(), &device);
            let iterations = (2000 * (256 * 256) / (n * n)).max(100);
            let solver = Sinkhorn {
                epsilon: 0.05 * mean,
                tolerance: 1e-30,
                max_iterations: iterations,
                scaling: 0.0,
                check_every: iterations,
                cost: GroundCost::SquaredEuclidean,
            };
            // Warm-up (kernel compilation on GPU backends, allocation).
            let warm = Sinkhorn {
                max_iterations: 2,
                check_every: 2,
                ..solver.clone()
            };
            warm.solve_costs(c.clone(), log_w.clone(), log_w.clone())
                .expect("solve");
            let mut s = f64::INFINITY;
            for _ in 0..REPS {
                let start = Instant::now();
                let sol = solver
                    .solve_costs(c.clone(), log_w.clone(), log_w.clone())
                    .expect("solve");
                s = s.min(start.elapsed().as_secs_f64());
                assert_eq!(sol.iterations, iterations);
            }
            println!(
                "| {n} | {d} | {iterations} | {s:.3} | {:.1} |",
                iterations as f64 / s
            );
        }
    }
}
