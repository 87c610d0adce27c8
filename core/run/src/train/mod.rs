//! The training loop: Adam with gradient clipping, warm-up + cosine learning rate, EMA
//! weights, atomic checkpoints, exact `--resume`, Ctrl-C that saves, a progress bar, metrics
//! as JSON lines.

mod clip;
mod ema;
mod loss;
mod schedule;

pub use crate::config::LossReduction;
pub use crate::model::{FlowModel, Readout};
pub use clip::{clip_global_norm, global_norm};
pub use ema::update_ema;
pub use loss::{loss_at, training_loss};
pub use schedule::learning_rate;

use crate::backend;
use crate::checkpoint::{self, TrainState};
use crate::config::Config;
use crate::run_folder::RunFolder;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use gpfn_data::DataLoader;
use gpfn_network::Network;
use indicatif::{ProgressBar, ProgressStyle};
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

/// Builds the optimiser the config describes: Adam. Gradient clipping is not the optimiser's
/// (burn's clips each parameter tensor on its own): [`clip_gradients`] applies the config's
/// global-norm clipping before each step.
pub fn optimizer(_config: &Config) -> ModuleOptimizer {
    AdamConfig::new().init()
}

/// `train.grad_clip` applied to `grads` of `model` ([`clip_global_norm`]; nothing at 0), and
/// the global norm before clipping when it was computed (always when clipping, else when
/// `want_norm`).
pub fn clip_gradients<M: Module>(
    config: &Config,
    grads: GradientsParams,
    model: &M,
    want_norm: bool,
) -> (GradientsParams, Option<Tensor<1>>) {
    let clip = config.train.grad_clip;
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
        let network = config.network.build(shape, device)?;
        // burn initialises parameters lazily, on first use: read them all now, while this
        // thread holds the seeded generator, or the draws happen later, unseeded and racing
        // with other trainings of the process.
        network.initialise_parameters();
        Ok(network)
    })
}

/// Trains `config` in `folder`.
pub fn train(config: &Config, folder: &RunFolder, options: &TrainOptions) -> Result<TrainSummary> {
    let started = Instant::now();
    let t = &config.train;
    if t.batch_size == 0 || t.steps == 0 {
        return Err(GpfnError::Config {
            key: "train".into(),
            message: "train.steps and train.batch_size must be positive".into(),
        });
    }
    let device = backend::device(&config.backend)?;
    let ad = device.clone().autodiff();
    let flow_model = config.model()?;
    let table = crate::holdout::training_rows(config)?;
    if table.is_empty() {
        return Err(GpfnError::Config {
            key: "data".into(),
            message: "the training set is empty".into(),
        });
    }
    let shape = table.shape.clone();
    let mut loader = DataLoader::new(table, t.batch_size, config.seed);

    let mut model = build_network(config, &shape, &ad)?;
    let ckpt_root = folder.checkpoints();
    let resume_from = if options.resume {
        let latest = checkpoint::latest(&ckpt_root)?;
        if latest.is_none() {
            tracing::warn!(folder = %folder.path().display(), "--resume: no checkpoint yet, starting from step 0");
        }
        latest
    } else {
        None
    };
    // A resumed run restores its own weights; `init_from` only seeds a fresh one.
    if let (None, Some(init)) = (&resume_from, &t.init_from) {
        model = checkpoint::load_ema(init, model)?;
        tracing::info!(checkpoint = %init.display(), "initial weights");
    }
    let mut ema = model.valid();
    let mut optim = optimizer(config);
    let mut start = 0;
    let mut loss: Option<f64> = None;
    if let Some(dir) = resume_from {
        let r = checkpoint::restore(&dir, model, ema, optim)?;
        (model, ema, optim) = (r.model, r.ema, r.optimizer);
        start = r.state.step;
        loss = r.state.loss;
        tracing::info!(step = start, checkpoint = %dir.display(), "resumed");
    }
    let parameters = model.num_params();
    tracing::info!(parameters, steps = t.steps, batch = t.batch_size, backend = %config.backend, "training");

    let bar = if options.progress {
        let bar = ProgressBar::new(t.steps);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps · {msg} · eta {eta}",
            )
            .expect("valid template"),
        );
        bar.set_position(start);
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut step = start;
    let mut interrupted = false;
    let mut last_checkpoint = start;
    // The global gradient norm before clipping, at the last logged step.
    let mut grad_norm_logged: Option<f64> = None;
    while step < t.steps {
        if options
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
            || options.stop_after.is_some_and(|n| step - start >= n)
        {
            interrupted = true;
            break;
        }
        let lr = learning_rate(t.lr, t.warmup_steps, t.steps, t.final_lr_ratio, step);
        let (x, noise) = loader.paired_batch(step, &ad);
        let mut rng = Rng::derive(config.seed, "train", step);
        let forward = || {
            training_loss(
                &model,
                &flow_model,
                config.train.loss_reduction,
                x,
                noise.as_ref(),
                &mut rng,
            )
        };
        // Dropout draws its masks from the backend's generator: seed it per step (so resume
        // is exact) and hold it for the forward pass.
        let l = if config.network.uses_dropout() {
            let seed = config.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            backend::with_seed(&ad, seed, forward)?
        } else {
            forward()?
        };
        let log_now = (step + 1) % t.log_every.max(1) == 0 || step + 1 == t.steps;
        if log_now {
            let value = l.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                return Err(GpfnError::Invalid(format!(
                    "the training loss became {value} at step {}; lower train.lr or check the data",
                    step + 1
                )));
            }
            loss = Some(value);
        }
        let grads = GradientsParams::from_grads(l.backward(), &model);
        let (grads, grad_norm) = clip_gradients(config, grads, &model, log_now);
        if log_now {
            grad_norm_logged = grad_norm.map(|n| n.into_scalar::<f32>() as f64);
        }
        model = optim.step(lr, model, grads);
        ema = if t.ema_decay > 0.0 {
            update_ema(ema, &model.valid(), t.ema_decay)
        } else {
            model.valid()
        };
        step += 1;
        bar.set_position(step);
        if log_now {
            bar.set_message(format!("loss {:.4}", loss.unwrap_or(f64::NAN)));
            folder.log_metrics(&serde_json::json!({
                "step": step,
                "loss": loss,
                "grad_norm": grad_norm_logged,
                "lr": lr,
                "elapsed_s": started.elapsed().as_secs_f64(),
            }))?;
            tracing::debug!(step, loss, lr, "step");
        }
        if t.checkpoint_every > 0 && step % t.checkpoint_every == 0 && step < t.steps {
            checkpoint::save(
                &ckpt_root,
                &model,
                &ema,
                &optim,
                &TrainState { step, loss },
                t.keep_checkpoints,
            )?;
            last_checkpoint = step;
        }
        if t.sample_every > 0 && step % t.sample_every == 0 && step < t.steps {
            crate::generate::write_samples(
                config,
                folder,
                &ema,
                &shape,
                &device,
                &format!("step-{step:08}"),
            )?;
        }
    }
    if step != last_checkpoint || checkpoint::latest(&ckpt_root)?.is_none() {
        checkpoint::save(
            &ckpt_root,
            &model,
            &ema,
            &optim,
            &TrainState { step, loss },
            t.keep_checkpoints,
        )?;
    }
    bar.finish_and_clear();
    if interrupted {
        tracing::warn!(
            step,
            "stopped early; checkpoint saved, continue with --resume"
        );
    } else {
        crate::generate::write_samples(config, folder, &ema, &shape, &device, "final")?;
    }
    Ok(TrainSummary {
        step,
        loss,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
        parameters,
    })
}
