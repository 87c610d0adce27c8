//! `gpfn bench`: training-step time, forward time and sampling throughput of the configured
//! network on the configured backend.

use crate::config::Config;
use crate::dataset::{DataLoader, Split};
use crate::rng::Rng;
use crate::train::{build_network, optimizer, training_loss};
use crate::{Result, backend, generate};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use serde::Serialize;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Batch size of the training step and of the forward pass.
    pub batch: usize,
    /// Timed training steps (after one warm-up step).
    pub train_steps: usize,
    /// Network evaluations per sample for the throughput measurement.
    pub nfe: usize,
    /// Samples drawn for the throughput measurement.
    pub samples: usize,
}

/// The measurements, as printed and written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Backend name.
    pub backend: String,
    /// Network plugin name.
    pub network: String,
    /// Number of parameters.
    pub parameters: usize,
    /// Batch size.
    pub batch: usize,
    /// Mean seconds of one forward pass (no autodiff) at `batch`.
    pub forward_s: f64,
    /// Mean seconds of one training step (forward, backward, Adam) at `batch`.
    pub train_step_s: f64,
    /// Network evaluations per sample.
    pub nfe: usize,
    /// Samples per second at `nfe` evaluations each (batch = `samples`).
    pub samples_per_s: f64,
    /// Threads available to the CPU backend.
    pub threads: usize,
}

fn sync(t: Tensor<2>) {
    // Reading one value forces the backend to finish the queued work.
    let _ = t.slice([0..1, 0..1]).into_scalar::<f32>();
}

/// Runs the benchmark.
pub fn run(config: &Config, o: &BenchOptions) -> Result<BenchReport> {
    let device = backend::device(&config.backend)?;
    let ad = device.clone().autodiff();
    let table = config.data.load(Split::Train, config.seed)?;
    let shape = table.shape.clone();
    let dim = table.dim();
    let mut loader = DataLoader::new(table, o.batch, config.seed);
    let family = config.belief_family()?;
    let schedule = config.schedule();
    let target = config.network.target();
    let network_name = serde_json::to_value(&config.network)
        .ok()
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .unwrap_or_default();

    // Forward pass.
    let net = build_network(config, &shape, &device)?;
    let parameters = net.num_params();
    let mut rng = Rng::derive(config.seed, "bench", 0);
    let z = rng.normal_tensor(o.batch, dim, &device);
    let t = Tensor::<2>::full([o.batch, 1], 0.5, &device);
    sync(net.forward(z.clone(), t.clone()));
    let reps = 3;
    let start = Instant::now();
    for _ in 0..reps {
        sync(net.forward(z.clone(), t.clone()));
    }
    let forward_s = start.elapsed().as_secs_f64() / reps as f64;

    // Training steps.
    let mut model = build_network(config, &shape, &ad)?;
    let mut optim = optimizer(config);
    let mut step = |k: u64, model: crate::network::Network| -> Result<crate::network::Network> {
        let (x, noise) = loader.paired_batch(k, &ad);
        let mut rng = Rng::derive(config.seed, "bench-train", k);
        let l = training_loss(
            &model,
            target,
            config.divergence.as_ref(),
            family.as_ref(),
            schedule.as_ref(),
            x,
            noise.as_ref(),
            &mut rng,
        )?;
        let grads = GradientsParams::from_grads(l.backward(), &model);
        let m = optim.step(config.train.lr, model, grads);
        Ok(m)
    };
    model = step(0, model)?;
    let start = Instant::now();
    for k in 0..o.train_steps {
        model = step(k as u64 + 1, model)?;
    }
    sync(model.valid().forward(z.clone(), t));
    let train_step_s = start.elapsed().as_secs_f64() / o.train_steps.max(1) as f64;

    // Sampling throughput.
    let sampler = config.sampler.with_steps(o.nfe);
    let start = Instant::now();
    let v = generate::draw(
        config,
        &net,
        sampler.as_ref(),
        &shape,
        o.samples,
        &device,
        config.seed,
    )?;
    let secs = start.elapsed().as_secs_f64();
    debug_assert_eq!(v.len(), o.samples * dim);

    Ok(BenchReport {
        backend: config.backend.clone(),
        network: network_name,
        parameters,
        batch: o.batch,
        forward_s,
        train_step_s,
        nfe: o.nfe,
        samples_per_s: o.samples as f64 / secs,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}
