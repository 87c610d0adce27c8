//! `gpfn bench`: training-step time, forward time and sampling throughput of the configured
//! network on the configured backend, timed as `../shared/bench/torch_unet_bench.py` times
//! PyTorch (warm-up calls, then the median of timed calls), with the CPU utilisation of each
//! phase (process CPU seconds over wall seconds: 2.0 keeps both cores of the machine busy).
//!
//! A class-conditional config (`[condition]`) trains with its conditional loss (the batch's
//! labels after label dropout) and adds the guidance measurement: the same samples drawn at
//! `w = 0` (the conditional model, one network call per step) and at `w ≠ 0` (the conditional
//! and unconditional rows in one batched call per step), timed in alternation, with the median
//! of the paired time ratios.

use crate::condition::{ClassChoice, Guidance};
use crate::config::Config;
use crate::train::{build_network, clip_gradients, optimizer, training_loss_conditional};
use crate::{backend, generate};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use gpfn_core::Result;
use gpfn_core::rng::Rng;
use gpfn_data::DataLoader;
use serde::Serialize;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Batch size of the training step and of the forward pass.
    pub batch: usize,
    /// Timed training steps and forward passes (after `warmup` untimed ones).
    pub train_steps: usize,
    /// Untimed calls before the timed ones, for each phase.
    pub warmup: usize,
    /// Network evaluations per sample for the throughput measurement.
    pub nfe: usize,
    /// Samples drawn for the throughput measurement.
    pub samples: usize,
    /// Samples drawn at once (the last batch may be smaller); `samples` when `None`.
    pub sample_batch: Option<usize>,
    /// Untimed sampling runs before the timed ones.
    pub sample_warmup: usize,
    /// Timed sampling runs (each draws `samples`).
    pub sample_reps: usize,
    /// The guidance weight `w` of a conditional config's guided measurement (`None`:
    /// `condition.guidance`, or 1 where that is 0); ignored for an unconditional config.
    pub guidance: Option<f64>,
}

/// One timed phase: the median and the spread of its calls, and how busy the CPU was.
#[derive(Clone, Debug, Serialize)]
pub struct Timing {
    /// Median wall seconds of one call.
    pub median_s: f64,
    /// Fastest call.
    pub min_s: f64,
    /// Every timed call, in order.
    pub times_s: Vec<f64>,
    /// Process CPU seconds (user + system) over wall seconds, over the timed calls; `None`
    /// where `/proc/self/stat` cannot be read.
    pub cpu_utilisation: Option<f64>,
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
    /// Median seconds of one forward pass (no autodiff) at `batch`.
    pub forward_s: f64,
    /// Median seconds of one training step (forward, backward, Adam) at `batch`.
    pub train_step_s: f64,
    /// Network evaluations per sample asked for (`--nfe`: the sampler's steps).
    pub nfe: usize,
    /// Network evaluations per sample actually made (Heun: `2·steps − 1`; an adaptive
    /// sampler: what its error control spent, averaged over the draws).
    pub nfe_measured: f64,
    /// Samples drawn.
    pub samples: usize,
    /// Samples drawn at once.
    pub sample_batch: usize,
    /// Samples per second at `nfe` evaluations each (median of the timed draws).
    pub samples_per_s: f64,
    /// Threads available to the CPU backend.
    pub threads: usize,
    /// The forward passes.
    pub forward: Timing,
    /// The training steps.
    pub train_step: Timing,
    /// The sampling runs (one call draws all `samples`).
    pub sampling: Timing,
    /// A conditional config's guided against unguided sampling (`None`: unconditional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<GuidanceBench>,
}

/// Guided against unguided sampling at the same sampler steps, on the same noise and classes
/// (class-balanced), timed in alternation (unguided, guided, unguided, …) so that a change of
/// load on the machine affects both.
#[derive(Clone, Debug, Serialize)]
pub struct GuidanceBench {
    /// The guidance weight `w` of the guided draws.
    pub weight: f64,
    /// Sampler steps of both.
    pub steps: usize,
    /// Network evaluations per sample, unguided (`w = 0`: one call per step).
    pub nfe_unguided: f64,
    /// Network evaluations per sample, guided (two per step, in one batched call).
    pub nfe_guided: f64,
    /// The unguided draws (`w = 0`).
    pub unguided: Timing,
    /// The guided draws.
    pub guided: Timing,
    /// Median over the timed pairs of guided seconds over unguided seconds: what a guided
    /// sample costs against an unguided one (2 would be two separate network calls per step).
    pub ratio: f64,
}

fn sync(t: Tensor<2>) {
    // Reading one value forces the backend to finish the queued work.
    let _ = t.slice([0..1, 0..1]).into_scalar::<f32>();
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat`.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every architecture it supports.
    Some(ticks / 100.0)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// The [`Timing`] of calls that took `times` seconds and `cpu` process CPU seconds.
fn timing(times: Vec<f64>, cpu: Option<f64>) -> Timing {
    let wall: f64 = times.iter().sum();
    Timing {
        median_s: median(&times),
        min_s: times.iter().copied().fold(f64::INFINITY, f64::min),
        times_s: times,
        cpu_utilisation: cpu.filter(|_| wall > 0.0).map(|c| c / wall),
    }
}

/// Runs `f` `warmup` times untimed, then `reps` times timed.
fn timed(warmup: usize, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    for _ in 0..warmup {
        f()?;
    }
    let cpu0 = process_cpu_seconds();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    let cpu = match (cpu0, process_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(timing(times, cpu))
}

/// Times `a` and `b` in alternation, `warmup` untimed rounds then `reps` timed ones; returns
/// their timings and the median of the paired ratios `b / a`.
fn timed_pair(
    warmup: usize,
    reps: usize,
    mut a: impl FnMut() -> Result<()>,
    mut b: impl FnMut() -> Result<()>,
) -> Result<(Timing, Timing, f64)> {
    for _ in 0..warmup {
        a()?;
        b()?;
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let (mut ca, mut cb) = (Some(0.0), Some(0.0));
    let add = |acc: &mut Option<f64>, before: Option<f64>| {
        *acc = match (*acc, before, process_cpu_seconds()) {
            (Some(acc), Some(x), Some(y)) => Some(acc + y - x),
            _ => None,
        }
    };
    for _ in 0..reps.max(1) {
        let (c, start) = (process_cpu_seconds(), Instant::now());
        a()?;
        ta.push(start.elapsed().as_secs_f64());
        add(&mut ca, c);
        let (c, start) = (process_cpu_seconds(), Instant::now());
        b()?;
        tb.push(start.elapsed().as_secs_f64());
        add(&mut cb, c);
    }
    let ratios: Vec<f64> = ta.iter().zip(&tb).map(|(a, b)| b / a).collect();
    Ok((timing(ta, ca), timing(tb, cb), median(&ratios)))
}

/// Runs the benchmark.
pub fn run(config: &Config, o: &BenchOptions) -> Result<BenchReport> {
    let device = backend::device(&config.backend)?;
    let ad = device.clone().autodiff();
    let table = crate::holdout::training_rows(config)?;
    let shape = table.shape.clone();
    let dim = table.dim();
    let mut loader = DataLoader::new(table, o.batch, config.seed);
    let flow_model = config.model()?;
    let network_name = serde_json::to_value(&config.network)
        .ok()
        .and_then(|v| v["name"].as_str().map(str::to_string))
        .unwrap_or_default();
    let reps = o.train_steps.max(1);

    // Forward pass.
    let net = build_network(config, &shape, &device)?;
    let parameters = net.num_params();
    let mut rng = Rng::derive(config.seed, "bench", 0);
    // The network's own input width: `dim` for continuous data, `K·dim` (or `dim` for a
    // single logit) for categorical beliefs.
    let z = rng.normal_tensor(o.batch, flow_model.network_io(&shape).input_dim(), &device);
    let t = Tensor::<2>::full([o.batch, 1], 0.5, &device);
    let forward = timed(o.warmup.max(1), reps, || {
        sync(net.forward(z.clone(), t.clone()));
        Ok(())
    })?;

    // Training steps.
    let mut model = Some(build_network(config, &shape, &ad)?);
    let mut optim = optimizer();
    let mut k = 0u64;
    let train_step = timed(o.warmup.max(1), reps, || {
        let m = model
            .take()
            .expect("the model is put back after every step");
        let (x, noise) = loader.paired_batch(k, &ad);
        // A conditional config's loss: the batch's labels after label dropout, as training.
        let class = match (&flow_model.condition, loader.batch_labels(k)) {
            (Some(condition), Some(labels)) => {
                let mut drop = Rng::derive(config.seed, "label-dropout", k);
                let classes = crate::condition::drop_labels(&labels, condition, &mut drop)?;
                Some(gpfn_network::class_indices(&classes, &ad))
            }
            (Some(_), None) => {
                return Err(crate::condition::unlabelled(config.data.typetag_name()));
            }
            _ => None,
        };
        let mut rng = Rng::derive(config.seed, "bench-train", k);
        k += 1;
        let l = training_loss_conditional(
            &m,
            &flow_model,
            config.train.loss_reduction,
            x,
            noise.as_ref(),
            class,
            &mut rng,
        )?;
        let grads = GradientsParams::from_grads(l.backward(), &m);
        let (grads, _) = clip_gradients(config.train.grad_clip, grads, &m, false);
        let m = optim.step(config.train.lr, m, grads);
        // Adam's update is queued lazily on GPU backends: wait for it (flex runs eagerly, and
        // a synchronising forward pass would add to its time what PyTorch's bench does not).
        if config.backend != "flex" {
            sync(
                m.valid()
                    .forward(z.clone().narrow(0, 0, 1), t.clone().narrow(0, 0, 1)),
            );
        }
        model = Some(m);
        Ok(())
    })?;

    // Sampling throughput.
    let sampler = config.sampler.with_steps(o.nfe);
    let sample_batch = o
        .sample_batch
        .unwrap_or(o.samples)
        .clamp(1, o.samples.max(1));
    let mut stream = 0u64;
    let mut evaluations = (0usize, 0usize);
    let sampling = timed(o.sample_warmup, o.sample_reps.max(1), || {
        let mut drawn = 0;
        while drawn < o.samples {
            let n = sample_batch.min(o.samples - drawn);
            let batch = generate::SampleBatch {
                count: n,
                seed: config.seed,
                stream,
            };
            let v = generate::draw_stream(config, &net, sampler.as_ref(), &shape, &device, batch)?;
            debug_assert_eq!(v.values.len(), n * dim);
            evaluations.0 += v.nfe * n;
            evaluations.1 += n;
            stream += 1;
            drawn += n;
        }
        Ok(())
    })?;

    // Guided against unguided sampling (a conditional config).
    let guidance = match &flow_model.condition {
        Some(condition) => {
            let weight = o.guidance.unwrap_or(if condition.guidance != 0.0 {
                condition.guidance
            } else {
                1.0
            });
            let guided = Guidance::new(ClassChoice::All, weight, Some(condition))?;
            let unguided = Guidance::new(ClassChoice::All, 0.0, Some(condition))?;
            let mut nfe = [(0usize, 0usize); 2];
            let mut draw = |g: &Guidance, slot: usize, stream: u64| -> Result<()> {
                let mut drawn = 0;
                while drawn < o.samples {
                    let n = sample_batch.min(o.samples - drawn);
                    let batch = generate::SampleBatch {
                        count: n,
                        seed: config.seed,
                        stream: stream + drawn as u64,
                    };
                    let v = generate::draw_guided(
                        config,
                        &net,
                        sampler.as_ref(),
                        &shape,
                        &device,
                        batch,
                        Some(g),
                    )?;
                    nfe[slot].0 += v.nfe * n;
                    nfe[slot].1 += n;
                    drawn += n;
                }
                Ok(())
            };
            let draw = std::cell::RefCell::new(&mut draw);
            let (unguided_t, guided_t, ratio) = timed_pair(
                o.sample_warmup,
                o.sample_reps.max(1),
                || (draw.borrow_mut())(&unguided, 0, 0),
                || (draw.borrow_mut())(&guided, 1, 0),
            )?;
            let per = |(a, b): (usize, usize)| a as f64 / b.max(1) as f64;
            Some(GuidanceBench {
                weight,
                steps: o.nfe,
                nfe_unguided: per(nfe[0]),
                nfe_guided: per(nfe[1]),
                unguided: unguided_t,
                guided: guided_t,
                ratio,
            })
        }
        None => None,
    };

    Ok(BenchReport {
        backend: config.backend.clone(),
        network: network_name,
        parameters,
        batch: o.batch,
        forward_s: forward.median_s,
        train_step_s: train_step.median_s,
        nfe: o.nfe,
        nfe_measured: evaluations.0 as f64 / evaluations.1.max(1) as f64,
        samples: o.samples,
        sample_batch,
        samples_per_s: o.samples as f64 / sampling.median_s,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        forward,
        train_step,
        sampling,
        guidance,
    })
}
