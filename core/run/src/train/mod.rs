//! The training loop: Adam with gradient clipping, warm-up + cosine learning rate, EMA
//! weights, atomic checkpoints, exact `--resume`, Ctrl-C that saves, a progress bar, metrics
//! as JSON lines.
//!
//! [`train`] runs named steps: `set_up` (settings, device, model, data), `resume` (a
//! checkpoint, `init_from` or fresh weights), then per step `train_step`, `log_step`,
//! `save_checkpoint` and the periodic samples.

mod clip;
mod ema;
mod loss;
mod schedule;

pub use crate::config::LossReduction;
pub use crate::model::{FlowModel, Readout};
pub use clip::{clip_global_norm, global_norm};
pub use ema::update_ema;
pub use loss::{loss_at, loss_at_conditional, training_loss, training_loss_conditional};
pub use schedule::learning_rate;

use crate::backend;
use crate::checkpoint::{self, TrainState};
use crate::config::{Config, TrainConfig};
use crate::run_folder::RunFolder;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use gpfn_data::DataLoader;
use gpfn_network::Network;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Options of one training invocation that are not part of the experiment's config.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint of the run folder.
    pub resume: bool,
    /// Draw a progress bar.
    pub progress: bool,
    /// Stop (with a checkpoint) after this many steps of this invocation.
    pub stop_after: Option<u64>,
    /// Set by a Ctrl-C handler: save a checkpoint and stop.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// What a training run ended with.
#[derive(Debug)]
pub struct TrainSummary {
    /// Steps completed in total.
    pub step: u64,
    /// Loss of the last logged step.
    pub loss: Option<f64>,
    /// Whether it stopped early (Ctrl-C or `stop_after`).
    pub interrupted: bool,
    /// Wall time of this invocation.
    pub seconds: f64,
    /// Number of network parameters.
    pub parameters: usize,
}

/// Builds the optimiser of a run: Adam with burn's defaults (the config has no optimiser
/// settings; the learning rate is passed to each step). Gradient clipping is not the
/// optimiser's (burn's clips each parameter tensor on its own): [`clip_gradients`] applies
/// the global-norm clipping before each step.
pub fn optimizer() -> ModuleOptimizer {
    AdamConfig::new().init()
}

/// Global-norm clipping at `clip` (`train.grad_clip`) applied to `grads` of `model`
/// ([`clip_global_norm`]; nothing at 0), and the global norm before clipping when it was
/// computed (always when clipping, else when `want_norm`).
pub fn clip_gradients<M: Module>(
    clip: f64,
    grads: GradientsParams,
    model: &M,
    want_norm: bool,
) -> (GradientsParams, Option<Tensor<1>>) {
    if clip <= 0.0 && !want_norm {
        return (grads, None);
    }
    let Some(norm) = global_norm(&grads, model) else {
        return (grads, None);
    };
    let grads = if clip > 0.0 {
        clip::clip_to(grads, model, norm.clone(), clip)
    } else {
        grads
    };
    (grads, Some(norm))
}

/// Builds the network of `config` for data of `shape` on `device`, seeded by the run seed.
pub fn build_network(config: &Config, shape: &[usize], device: &Device) -> Result<Network> {
    backend::with_seed(device, config.seed, || {
        let io = config.model()?.network_io(shape);
        let network = config.network.build(&io, device)?;
        // burn initialises parameters lazily, on first use: read them all now, while this
        // thread holds the seeded generator, or the draws happen later, unseeded and racing
        // with other trainings of the process.
        network.initialise_parameters();
        Ok(network)
    })
}

/// What a run trains and where it stands: the weights, their EMA, the optimiser's moments,
/// the step and the last logged loss.
struct Training {
    model: Network,
    ema: Network,
    optim: ModuleOptimizer,
    state: TrainState,
}

/// What set-up builds from the config: the devices, the model, the training rows' loader
/// and the shape of one item.
struct SetUp<'a> {
    /// The plain device (sampling).
    device: Device,
    /// The autodiff device (training).
    ad: Device,
    model: FlowModel<'a>,
    loader: DataLoader,
    shape: Vec<usize>,
}

/// Set-up: checks the training settings, opens the device, builds the model and reads the
/// training rows.
fn set_up(config: &Config) -> Result<SetUp<'_>> {
    let t = &config.train;
    if t.batch_size == 0 || t.steps == 0 {
        return Err(GpfnError::Config {
            key: "train".into(),
            message: "train.steps and train.batch_size must be positive".into(),
        });
    }
    let device = backend::device(&config.backend)?;
    let ad = device.clone().autodiff();
    let model = config.model()?;
    // A data set too large to load whole (a big image folder) is streamed: the loader reads
    // each batch's rows on demand and the next batch's ahead.
    let loader = match crate::holdout::training_source(config)? {
        Some(source) => DataLoader::streaming(source, t.batch_size, config.seed),
        None => DataLoader::new(
            crate::holdout::training_rows(config)?,
            t.batch_size,
            config.seed,
        ),
    };
    if loader.is_empty() {
        return Err(GpfnError::Config {
            key: "data".into(),
            message: "the training set is empty".into(),
        });
    }
    let shape = loader.shape().to_vec();
    Ok(SetUp {
        device,
        ad,
        model,
        loader,
        shape,
    })
}

/// Resume: the newest checkpoint under `ckpt_root` restored into the freshly built `model`
/// when `resume` asks for it and there is one; else `model` itself, or the EMA weights of
/// `init_from` (which only seed a fresh run), at step 0.
fn resume(
    folder: &RunFolder,
    ckpt_root: &Path,
    resume: bool,
    init_from: Option<&Path>,
    mut model: Network,
) -> Result<Training> {
    let resume_from = if resume {
        let latest = checkpoint::latest(ckpt_root)?;
        if latest.is_none() {
            tracing::warn!(folder = %folder.path().display(), "--resume: no checkpoint yet, starting from step 0");
        }
        latest
    } else {
        None
    };
    // A resumed run restores its own weights; `init_from` only seeds a fresh one.
    if let (None, Some(init)) = (&resume_from, init_from) {
        model = checkpoint::load_ema(init, model)?;
        tracing::info!(checkpoint = %init.display(), "initial weights");
    }
    let ema = model.valid();
    let optim = optimizer();
    let Some(dir) = resume_from else {
        let state = TrainState {
            step: 0,
            loss: None,
        };
        return Ok(Training {
            model,
            ema,
            optim,
            state,
        });
    };
    let r = checkpoint::restore(&dir, model, ema, optim)?;
    tracing::info!(step = r.state.step, checkpoint = %dir.display(), "resumed");
    Ok(Training {
        model: r.model,
        ema: r.ema,
        optim: r.optimizer,
        state: r.state,
    })
}

/// What a training step needs besides the weights and the batch.
struct StepSettings<'a> {
    /// The model whose loss is minimised.
    model: &'a FlowModel<'a>,
    /// The `[train]` settings.
    train: &'a TrainConfig,
    /// The run seed.
    seed: u64,
    /// Whether the network draws dropout masks (from the backend's generator).
    dropout: bool,
    /// The autodiff device, whose generator dropout draws from.
    device: &'a Device,
}

/// What a step reports when it is logged.
struct Logged {
    lr: f64,
    /// The global gradient norm before clipping.
    grad_norm: Option<f64>,
}

/// The step: one optimiser step on the batch `(x, noise)` at `w.state.step` with learning
/// rate `lr`, the EMA updated and the step counted. With `log_now`, the loss is read (an
/// error when it is not finite) into `w.state.loss` and the gradient norm returned. A
/// conditional model reads the batch's `labels` after label dropout, drawn from the step's own
/// stream `Rng::derive(seed, "label-dropout", step)` (so resume stays exact, and the times and
/// noise are those an unconditional run draws).
fn train_step(
    s: &StepSettings<'_>,
    mut w: Training,
    (x, noise): (Tensor<2>, Option<Tensor<2>>),
    labels: Option<Vec<u8>>,
    lr: f64,
    log_now: bool,
) -> Result<(Training, Option<f64>)> {
    let t = s.train;
    let step = w.state.step;
    let mut rng = Rng::derive(s.seed, "train", step);
    let class = match (&s.model.condition, labels) {
        (Some(condition), Some(labels)) => {
            let mut drop = Rng::derive(s.seed, "label-dropout", step);
            let classes = crate::condition::drop_labels(&labels, condition, &mut drop)?;
            Some(gpfn_network::class_indices(&classes, s.device))
        }
        _ => None,
    };
    let forward = || {
        training_loss_conditional(
            &w.model,
            s.model,
            t.loss_reduction,
            x,
            noise.as_ref(),
            class,
            &mut rng,
        )
    };
    // Dropout draws its masks from the backend's generator: seed it per step (so resume
    // is exact) and hold it for the forward pass.
    let l = if s.dropout {
        let seed = s.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        backend::with_seed(s.device, seed, forward)?
    } else {
        forward()?
    };
    if log_now {
        let value = l.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            return Err(GpfnError::Invalid(format!(
                "the training loss became {value} at step {}; lower train.lr or check the data",
                step + 1
            )));
        }
        w.state.loss = Some(value);
    }
    let grads = GradientsParams::from_grads(l.backward(), &w.model);
    let (grads, grad_norm) = clip_gradients(t.grad_clip, grads, &w.model, log_now);
    let grad_norm = if log_now {
        grad_norm.map(|n| n.into_scalar::<f32>() as f64)
    } else {
        None
    };
    w.model = w.optim.step(lr, w.model, grads);
    w.ema = if t.ema_decay > 0.0 {
        update_ema(w.ema, &w.model.valid(), t.ema_decay)
    } else {
        w.model.valid()
    };
    w.state.step += 1;
    Ok((w, grad_norm))
}

/// Logging: the progress bar's message and a line of `metrics.jsonl` after a logged step.
fn log_step(
    folder: &RunFolder,
    bar: &ProgressBar,
    state: &TrainState,
    logged: Logged,
    started: Instant,
) -> Result<()> {
    let (step, loss) = (state.step, state.loss);
    bar.set_message(format!("loss {:.4}", loss.unwrap_or(f64::NAN)));
    folder.log_metrics(&serde_json::json!({
        "step": step,
        "loss": loss,
        "grad_norm": logged.grad_norm,
        "lr": logged.lr,
        "elapsed_s": started.elapsed().as_secs_f64(),
    }))?;
    tracing::debug!(step, loss, lr = logged.lr, "step");
    Ok(())
}

/// Checkpoint: the weights, EMA, optimiser and state saved atomically under `ckpt_root`,
/// keeping the newest `keep`.
fn save_checkpoint(ckpt_root: &Path, w: &Training, keep: usize) -> Result<()> {
    checkpoint::save(ckpt_root, &w.model, &w.ema, &w.optim, &w.state, keep)?;
    Ok(())
}

/// The progress bar of `steps` steps, at `start` (hidden without `progress`).
fn progress_bar(progress: bool, steps: u64, start: u64) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps · {msg} · eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_position(start);
    bar
}

/// Whether `options` asks to stop before the step after `done` steps of this invocation.
fn stop_requested(options: &TrainOptions, done: u64) -> bool {
    options
        .interrupt
        .as_ref()
        .is_some_and(|f| f.load(Ordering::SeqCst))
        || options.stop_after.is_some_and(|n| done >= n)
}

/// Whether a periodic action every `every` steps (0: never) falls after `step` of `steps`
/// (the last step has its own).
fn due(every: u64, step: u64, steps: u64) -> bool {
    every > 0 && step.is_multiple_of(every) && step < steps
}

/// Trains `config` in `folder`.
pub fn train(config: &Config, folder: &RunFolder, options: &TrainOptions) -> Result<TrainSummary> {
    let started = Instant::now();
    let t = &config.train;
    let SetUp {
        device,
        ad,
        model: flow_model,
        mut loader,
        shape,
    } = set_up(config)?;
    // A conditional model learns from the data set's labels: a data set without them is a
    // named error before any work.
    if flow_model.condition.is_some() && loader.batch_labels(0).is_none() {
        return Err(crate::condition::unlabelled(config.data.typetag_name()));
    }
    // Tabular data stored standardised: its statistics beside the samples, which
    // `write_outputs` brings back to the data's units.
    if let Some(stats) = config.data.standardisation(config.seed)? {
        stats.save(folder.path())?;
    }
    let ckpt_root = folder.checkpoints();
    let fresh = build_network(config, &shape, &ad)?;
    let mut w = resume(
        folder,
        &ckpt_root,
        options.resume,
        t.init_from.as_deref(),
        fresh,
    )?;
    let start = w.state.step;
    let parameters = w.model.num_params();
    tracing::info!(parameters, steps = t.steps, batch = t.batch_size, backend = %config.backend, "training");
    let bar = progress_bar(options.progress, t.steps, start);
    let settings = StepSettings {
        model: &flow_model,
        train: t,
        seed: config.seed,
        dropout: config.network.uses_dropout(),
        device: &ad,
    };

    let mut interrupted = false;
    let mut last_checkpoint = start;
    while w.state.step < t.steps {
        let step = w.state.step;
        if stop_requested(options, step - start) {
            interrupted = true;
            break;
        }
        let lr = learning_rate(t.lr, t.warmup_steps, t.steps, t.final_lr_ratio, step);
        let batch = loader.try_paired_batch(step, &ad)?;
        let labels = match flow_model.condition {
            Some(_) => loader.batch_labels(step),
            None => None,
        };
        let log_now = (step + 1) % t.log_every.max(1) == 0 || step + 1 == t.steps;
        let (next, grad_norm) = train_step(&settings, w, batch, labels, lr, log_now)?;
        w = next;
        let step = w.state.step;
        bar.set_position(step);
        if log_now {
            log_step(folder, &bar, &w.state, Logged { lr, grad_norm }, started)?;
        }
        if due(t.checkpoint_every, step, t.steps) {
            save_checkpoint(&ckpt_root, &w, t.keep_checkpoints)?;
            last_checkpoint = step;
        }
        if due(t.sample_every, step, t.steps) {
            let tag = format!("step-{step:08}");
            crate::generate::write_samples(config, folder, &w.ema, &shape, &device, &tag)?;
        }
    }
    let step = w.state.step;
    if step != last_checkpoint || checkpoint::latest(&ckpt_root)?.is_none() {
        save_checkpoint(&ckpt_root, &w, t.keep_checkpoints)?;
    }
    bar.finish_and_clear();
    if interrupted {
        tracing::warn!(
            step,
            "stopped early; checkpoint saved, continue with --resume"
        );
    } else {
        crate::generate::write_samples(config, folder, &w.ema, &shape, &device, "final")?;
    }
    Ok(TrainSummary {
        step,
        loss: w.state.loss,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
        parameters,
    })
}
