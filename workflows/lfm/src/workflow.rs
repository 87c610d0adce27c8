//! Training the blocks in sequence (resumable), sampling through them, their exact likelihood.
//!
//! An LFM run folder `run.dir/run.name/` holds `blocks/block-l/` (block `l`'s own run folder:
//! config, checkpoints, metrics, samples; trained by [`gpfn_run::train::train`]) and
//! `data/block-l/` (its pairs, [`crate::data`]). Block `l` is *done* when its newest
//! checkpoint is at `train.steps`. Training with `resume` skips done blocks, completes a
//! block's data where shards are missing (each shard a function of the seed and the done
//! blocks' final checkpoints, so a regenerated shard is the one an uninterrupted run wrote),
//! and resumes the block in progress with `train`'s own exact resume.

use crate::data::{BlockManifest, read_data_shard, shard_paths};
use crate::push::push_back;
use crate::schedule::Trigonometric;
use crate::settings::{Interpolant, LfmSettings};
use gpfn_core::belief::{BeliefState, DiagGaussian};
use gpfn_core::burn::module::Module;
use gpfn_core::burn::tensor::{Device, Tensor};
use gpfn_core::host::host_f32;
use gpfn_core::rng::Rng;
use gpfn_core::sampler::Sampler;
use gpfn_core::sampling::{Predictor, check_straight_path};
use gpfn_core::schedule::{Schedule, Uniform};
use gpfn_core::{GpfnError, Result};
use gpfn_data::Split;
use gpfn_io as io;
use gpfn_likelihood::bins::{dequantise, dequantised_nats};
use gpfn_likelihood::ode::{OdeProblem, ode_log_density};
use gpfn_likelihood::{LikelihoodOptions, RowPredictor};
use gpfn_network::Network;
use gpfn_run::config::Config;
use gpfn_run::model::FlowModel;
use gpfn_run::train::{TrainOptions, TrainSummary, build_network};
use gpfn_run::{RunFolder, backend, checkpoint};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The LFM run folder of `config`: `run.dir/run.name`.
pub fn root(config: &Config) -> PathBuf {
    config.run.dir.join(&config.run.name)
}

fn block_dir(root: &Path, l: usize) -> PathBuf {
    root.join("blocks").join(format!("block-{l}"))
}

fn data_dir(root: &Path, l: usize) -> PathBuf {
    root.join("data").join(format!("block-{l}"))
}

/// Block `l`'s config: the LFM config with its own run folder, its pairs as data, the
/// interpolant's schedule and (warm start) the previous block's weights.
pub fn block_config(
    config: &Config,
    settings: &LfmSettings,
    l: usize,
    init: Option<&Path>,
) -> Result<Config> {
    let root = root(config);
    let mut v = serde_json::to_value(config).expect("config serialises");
    v["run"]["dir"] = Value::from(root.join("blocks").display().to_string());
    v["run"]["name"] = Value::from(format!("block-{l}"));
    v["data"] = serde_json::json!({
        "name": "lfm-block",
        "dir": data_dir(&root, l).display().to_string(),
    });
    let schedule: Box<dyn Schedule> = match settings.interpolant {
        Interpolant::Trigonometric => Box::new(Trigonometric {}),
        Interpolant::Linear => Box::new(Uniform {}),
    };
    v["schedule"] = serde_json::to_value(&schedule).expect("schedule serialises");
    match init {
        Some(p) => v["train"]["init_from"] = Value::from(p.display().to_string()),
        None => {
            if let Some(t) = v["train"].as_object_mut() {
                t.remove("init_from");
            }
        }
    }
    serde_json::from_value(v).map_err(|e| GpfnError::Config {
        key: "workflow.lfm".into(),
        message: format!("block {l}'s config: {e}"),
    })
}

/// The step of a checkpoint folder `step-NNNNNNNN`.
fn checkpoint_step(dir: &Path) -> u64 {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("step-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Block `l`'s newest checkpoint and its step, if any.
fn latest_of(root: &Path, l: usize) -> Result<Option<(PathBuf, u64)>> {
    let dir = block_dir(root, l).join("checkpoints");
    if !dir.exists() {
        return Ok(None);
    }
    Ok(checkpoint::latest(&dir)?.map(|c| {
        let s = checkpoint_step(&c);
        (c, s)
    }))
}

/// Everything checked before any work: the step sizes, the push sampler, a straight-path
/// particle flow.
pub fn check(config: &Config, settings: &LfmSettings) -> Result<Vec<f64>> {
    let hs = settings.step_sizes()?;
    settings.push()?;
    let family = config.belief_family()?;
    check_straight_path(
        config.divergence.as_ref(),
        family.as_ref(),
        "Local Flow Matching (its blocks are run backwards as ODEs)",
    )?;
    Ok(hs)
}

/// One trained block: its config and EMA network.
pub struct Block {
    /// The block's config (its run folder's).
    pub config: Config,
    /// Its EMA weights.
    pub network: Network,
}

fn load_block(root: &Path, l: usize, shape: &[usize], device: &Device) -> Result<Block> {
    let folder = RunFolder::open(&block_dir(root, l))?;
    let config = folder.config()?;
    let (ckpt, _) = latest_of(root, l)?.ok_or_else(|| GpfnError::Run {
        path: block_dir(root, l),
        message: format!("block {l} has no checkpoint; train it first (`gpfn lfm train`)"),
    })?;
    let network = checkpoint::load_ema(&ckpt, build_network(&config, shape, device)?)?;
    Ok(Block { config, network })
}

/// What [`train`] did.
#[derive(Debug, Default)]
pub struct LfmTrained {
    /// The LFM run folder.
    pub root: PathBuf,
    /// Per block trained by this call: the block and its training's summary.
    pub trained: Vec<(usize, TrainSummary)>,
    /// Blocks found done and skipped.
    pub skipped: Vec<usize>,
    /// Per block whose data this call pushed: the block and the NFE per row of the push.
    pub push_nfe: Vec<(usize, usize)>,
    /// Seconds spent pushing data through trained blocks.
    pub push_seconds: f64,
    /// Whether it stopped early (Ctrl-C or `stop_after`).
    pub interrupted: bool,
}

/// Writes the missing shards of block `l`'s data.
fn make_block_data(
    config: &Config,
    settings: &LfmSettings,
    l: usize,
    h: Option<f64>,
    previous: Option<&Block>,
    base: &gpfn_data::DataTable,
    device: &Device,
) -> Result<Option<usize>> {
    let root = root(config);
    let dir = data_dir(&root, l);
    let manifest = BlockManifest {
        block: l,
        h,
        shape: base.shape.clone(),
        count: base.len(),
        shard_size: settings.shard_size,
        draws: settings.draws,
        seed: config.seed,
    };
    manifest.write_or_check(&dir)?;
    let dim = base.dim();
    let t_end = t_end(config, &base.shape);
    let push = settings.push()?;
    let prev_dir = data_dir(&root, l.saturating_sub(1));
    let prev_manifest = if l > 1 {
        Some(BlockManifest::read(&prev_dir)?)
    } else {
        None
    };
    let mut nfe = None;
    for k in 0..manifest.shards() {
        let (data_path, noise_path) = shard_paths(&dir, k);
        if data_path.exists() {
            continue;
        }
        let rows = manifest.rows(k);
        let x = match (previous, &prev_manifest) {
            (Some(block), Some(pm)) => {
                let before = read_data_shard(&prev_dir, pm, k)?;
                let (x, n) = push_back(
                    &block.config,
                    &block.network,
                    &before,
                    dim,
                    t_end,
                    &push,
                    device,
                )?;
                nfe = Some(nfe.unwrap_or(0).max(n));
                x
            }
            _ => base.values[k * settings.shard_size * dim..][..rows * dim].to_vec(),
        };
        let mut full = vec![rows];
        full.extend_from_slice(&base.shape);
        if let Some(h) = h {
            let (a, s) = ((-h).exp(), (1.0 - (-2.0 * h).exp()).sqrt());
            let mut noise = Vec::with_capacity(rows * dim * settings.draws);
            for d in 0..settings.draws {
                let mut rng = Rng::derive(
                    config.seed,
                    &format!("lfm/ou/block-{l}"),
                    (d * manifest.shards() + k) as u64,
                );
                noise.extend(x.iter().map(|&v| (a * v as f64 + s * rng.normal()) as f32));
            }
            let mut nfull = vec![rows * settings.draws];
            nfull.extend_from_slice(&base.shape);
            io::write_npy(&noise_path, &noise, &nfull)?;
        }
        io::write_npy(&data_path, &x, &full)?;
    }
    Ok(nfe)
}

/// Trains the `L + 1` blocks of `config` in sequence (module docs). `options.stop_after`
/// counts the steps of this call over all blocks.
pub fn train(
    config: &Config,
    settings: &LfmSettings,
    options: &TrainOptions,
) -> Result<LfmTrained> {
    let hs = check(config, settings)?;
    let root = root(config);
    if !options.resume && root.join("blocks").exists() {
        return Err(GpfnError::Run {
            path: root.clone(),
            message: "holds blocks already; continue with --resume or pick another run.name".into(),
        });
    }
    let device = backend::device(&config.backend)?;
    let base = config.data.load(Split::Train, config.seed)?;
    if base.is_empty() {
        return Err(GpfnError::Invalid("the training split is empty".into()));
    }
    let steps = config.train.steps;
    let mut out = LfmTrained {
        root: root.clone(),
        ..LfmTrained::default()
    };
    let mut budget = options.stop_after;
    let mut previous: Option<Block> = None;
    for l in 1..=settings.blocks + 1 {
        let h = hs.get(l - 1).copied();
        let started = std::time::Instant::now();
        if let Some(n) = make_block_data(config, settings, l, h, previous.as_ref(), &base, &device)?
        {
            out.push_nfe.push((l, n));
        }
        out.push_seconds += started.elapsed().as_secs_f64();
        let init = if settings.warm_start && l > 1 {
            latest_of(&root, l - 1)?.map(|(c, _)| c)
        } else {
            None
        };
        let cfg = block_config(config, settings, l, init.as_deref())?;
        let before = latest_of(&root, l)?.map_or(0, |(_, s)| s);
        if before >= steps {
            out.skipped.push(l);
        } else {
            if budget == Some(0) {
                out.interrupted = true;
                return Ok(out);
            }
            let folder = RunFolder::create(&cfg, options.resume || before > 0)?;
            let opts = TrainOptions {
                resume: options.resume,
                progress: options.progress,
                stop_after: budget,
                interrupt: options.interrupt.clone(),
            };
            let summary = gpfn_run::train::train(&cfg, &folder, &opts)?;
            if let Some(b) = budget.as_mut() {
                *b = b.saturating_sub(summary.step - before);
            }
            let stopped = summary.interrupted;
            tracing::info!(
                block = l,
                of = settings.blocks + 1,
                step = summary.step,
                "lfm block"
            );
            out.trained.push((l, summary));
            if stopped {
                out.interrupted = true;
                return Ok(out);
            }
        }
        previous = Some(load_block(&root, l, &base.shape, &device)?);
    }
    Ok(out)
}

/// The trained blocks `1..=L + 1` of `config`, on `device` (the autodiff device for the
/// likelihood).
pub fn load_blocks(
    config: &Config,
    settings: &LfmSettings,
    shape: &[usize],
    device: &Device,
) -> Result<Vec<Block>> {
    let root = root(config);
    (1..=settings.blocks + 1)
        .map(|l| load_block(&root, l, shape, device))
        .collect()
}

/// `count` samples: `N(0, I)` noise (seeded by `seed`) carried by `sampler` through block
/// `L + 1`, then `L`, …, 1. Returns the samples and the NFE per sample over all blocks.
pub fn sample_blocks(
    blocks: &[Block],
    shape: &[usize],
    count: usize,
    sampler: &dyn Sampler,
    seed: u64,
    device: &Device,
) -> Result<(Vec<f32>, usize)> {
    let models: Vec<_> = blocks
        .iter()
        .map(|b| b.config.model())
        .collect::<Result<_>>()?;
    for model in &models {
        model.check_readout()?;
    }
    let nets: Vec<Network> = blocks.iter().map(|b| b.network.valid()).collect();
    let predictors: Vec<Box<Predictor<'_>>> = models
        .iter()
        .zip(&nets)
        .map(|(model, net)| -> Box<Predictor<'_>> {
            Box::new(move |z: Tensor<2>, t: f64| {
                let rows = vec![t; z.dims()[0]];
                model
                    .predict_x(net, z, &rows)
                    .expect("checked before sampling")
            })
        })
        .collect();
    let maps: Vec<(&FlowModel<'_>, &Predictor<'_>)> = models
        .iter()
        .zip(&predictors)
        .map(|(m, p)| (m, p.as_ref()))
        .collect();
    sample_maps(&maps, shape, count, sampler, seed, device)
}

/// [`sample_blocks`] for any block maps: per block (data end first) its model (divergence,
/// family, schedule) and its predictor `x̂(z, t)`. The NFE counts the predictors' calls.
pub fn sample_maps(
    maps: &[(&FlowModel<'_>, &Predictor<'_>)],
    shape: &[usize],
    count: usize,
    sampler: &dyn Sampler,
    seed: u64,
    device: &Device,
) -> Result<(Vec<f32>, usize)> {
    let dim: usize = shape.iter().product();
    let mut rng = Rng::derive(seed, "lfm/prior", 0);
    let mut z = rng.normal_tensor(count, dim, device);
    let mut nfe = 0;
    for (i, (model, predictor)) in maps.iter().enumerate().rev() {
        let start = BeliefState {
            gaussian: DiagGaussian::standard(count, dim, device),
            particle: Some(z.clone()),
        };
        let calls = std::cell::Cell::new(0usize);
        let counted = |z: Tensor<2>, t: f64| {
            calls.set(calls.get() + 1);
            predictor(z, t)
        };
        let problem = model.sampling_problem(&counted, count, dim, device.clone());
        let mut rng = Rng::derive(seed, "lfm/sampler", i as u64);
        z = sampler.sample_from(&problem, start, &mut rng)?;
        nfe += calls.get();
    }
    Ok((host_f32(z)?, nfe))
}

/// [`sample_blocks`] on the trained blocks of `config`.
pub fn sample(
    config: &Config,
    settings: &LfmSettings,
    count: usize,
    sampler: &dyn Sampler,
    seed: u64,
) -> Result<(Vec<f32>, Vec<usize>, usize)> {
    check(config, settings)?;
    let device = backend::device(&config.backend)?;
    let shape = config.data.load(Split::Test, config.seed)?.shape;
    let blocks = load_blocks(config, settings, &shape, &device)?;
    let (x, nfe) = sample_blocks(&blocks, &shape, count, sampler, seed, &device)?;
    Ok((x, shape, nfe))
}

/// One block's share of the likelihood.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BlockNll {
    /// The block, `1..=L + 1`.
    pub block: usize,
    /// Mean of its change-of-variables term `−∫ tr ∂u/∂z dt` (nats a point).
    pub log_det: f64,
    /// Mean `‖T_l⁻¹(x) − x‖²` of the items entering it: the squared distance the block moves
    /// a point, whose mean bounds its ends' W2² from above.
    pub transport: f64,
    /// ODE evaluations of the block per batch (mean).
    pub evaluations: f64,
}

/// The composed flow's negative log-likelihood.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LfmNll {
    /// Items scored.
    pub items: usize,
    /// Mean NLL, nats a point.
    pub nll: f64,
    /// Its standard error.
    pub standard_error: f64,
    /// The mean in bits a dimension, `nll / (d ln 2)`.
    pub bits_per_dim: f64,
    /// Its standard error.
    pub bits_per_dim_standard_error: f64,
    /// Quantisation bins a dimension (images: uniform dequantisation, the NLL a bound on
    /// the discrete NLL); `None`: continuous data.
    pub bins: Option<usize>,
    /// Each block's data end `t_end`.
    pub t_end: f64,
    /// Per-item NLLs.
    #[serde(skip)]
    pub per_item: Vec<f64>,
    /// The blocks, data end first.
    pub blocks: Vec<BlockNll>,
    /// Mean `ln N(z; 0, I)` of the final images.
    pub log_prior: f64,
    /// ODE evaluations per batch over all blocks (each a forward and a backward pass).
    pub evaluations: f64,
}

/// `−ln p(x)` of the composition of `blocks` (data end first; the blocks on the autodiff
/// device): `ln p(x) = Σ_l Δ_l + ln N(z_{L+1}; 0, I)`, `Δ_l` block `l`'s change-of-variables
/// term along its ODE from `t_end` to 0 and `z_l` the image of `z_{l−1}` (`z_0 = x`);
/// how as `scoring` says.
pub fn nll_blocks(
    blocks: &[Block],
    x: &[f32],
    dim: usize,
    scoring: &Scoring,
    device: &Device,
) -> Result<LfmNll> {
    let models: Vec<_> = blocks
        .iter()
        .map(|b| b.config.model())
        .collect::<Result<_>>()?;
    let predictors: Vec<Box<RowPredictor<'_>>> = models
        .iter()
        .zip(blocks)
        .map(|(model, block)| -> Box<RowPredictor<'_>> {
            let net = block.network.clone();
            Box::new(move |z: Tensor<2>, t: &[f64]| model.predict_x(&net, z, t))
        })
        .collect();
    let maps: Vec<(&FlowModel<'_>, &RowPredictor<'_>)> = models
        .iter()
        .zip(&predictors)
        .map(|(m, p)| (m, p.as_ref()))
        .collect();
    nll_maps(&maps, x, dim, scoring, device)
}

/// How the composed likelihood scores its items.
#[derive(Clone, Debug)]
pub struct Scoring {
    /// Items per ODE batch.
    pub batch: usize,
    /// The ODE's settings (each block's data end is `options.t_end`).
    pub options: LikelihoodOptions,
    /// Quantisation bins a dimension of the data, or `None` for continuous data.
    pub bins: Option<usize>,
    /// Seed of the Hutchinson probes and of the dequantisation.
    pub seed: u64,
}

/// [`nll_blocks`] for any block maps: per block (data end first) its model and its
/// differentiable predictor `x̂(z, t)`. With `scoring.bins = Some(K)` (data quantised to `K` bins a
/// dimension on `[−1, 1]`, 8-bit images: 256) each item is dequantised uniformly inside its
/// bin first and its NLL is the bound `−ln p(x̃) + d ln(K/2)` on the discrete NLL, as
/// `gpfn eval nll` scores a global flow.
pub fn nll_maps(
    maps: &[(&FlowModel<'_>, &RowPredictor<'_>)],
    x: &[f32],
    dim: usize,
    scoring: &Scoring,
    device: &Device,
) -> Result<LfmNll> {
    let Scoring {
        batch,
        ref options,
        bins,
        seed,
    } = *scoring;
    let items = x.len() / dim;
    let mut rng = Rng::derive(seed, "lfm/nll", 0);
    let mut per_item = Vec::with_capacity(items);
    let mut per_block = vec![(0.0, 0.0, 0.0); maps.len()];
    let (mut log_prior, mut batches) = (0.0, 0usize);
    for chunk in x.chunks(batch.max(1) * dim) {
        let rows = chunk.len() / dim;
        let mut cur = match bins {
            Some(k) => dequantise(chunk, k, &mut rng),
            None => chunk.to_vec(),
        };
        let mut total = vec![0.0; rows];
        for (i, (model, predictor)) in maps.iter().enumerate() {
            let problem = OdeProblem {
                divergence: model.divergence,
                family: model.family.as_ref(),
                schedule: model.schedule.as_ref(),
                predictor,
                device: device.clone(),
            };
            let got = ode_log_density(&problem, &cur, dim, options, &mut rng)?;
            for (r, t) in total.iter_mut().enumerate() {
                *t += got.log_density[r] - got.log_prior[r];
            }
            let moved: f64 = cur
                .iter()
                .zip(&got.start)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            per_block[i].0 += (0..rows)
                .map(|r| got.log_density[r] - got.log_prior[r])
                .sum::<f64>();
            per_block[i].1 += moved;
            per_block[i].2 += got.evaluations as f64;
            cur = got.start;
        }
        let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        for (r, row) in cur.chunks(dim).enumerate() {
            let lp = -0.5 * row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>()
                - dim as f64 * half_log_2pi;
            log_prior += lp;
            let neg = -(total[r] + lp);
            per_item.push(match bins {
                Some(k) => dequantised_nats(neg, dim, k),
                None => neg,
            });
        }
        batches += 1;
    }
    let n = per_item.len() as f64;
    let mean = per_item.iter().sum::<f64>() / n;
    let var = per_item.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let blocks_out: Vec<BlockNll> = per_block
        .iter()
        .enumerate()
        .map(|(i, (ld, tr, ev))| BlockNll {
            block: i + 1,
            log_det: ld / n,
            transport: tr / n,
            evaluations: ev / batches as f64,
        })
        .collect();
    let standard_error = (var / n).sqrt();
    let per_dim = dim as f64 * std::f64::consts::LN_2;
    Ok(LfmNll {
        items: per_item.len(),
        nll: mean,
        standard_error,
        bits_per_dim: mean / per_dim,
        bits_per_dim_standard_error: standard_error / per_dim,
        bins,
        t_end: options.t_end_for(bins),
        evaluations: blocks_out.iter().map(|b| b.evaluations).sum(),
        blocks: blocks_out,
        log_prior: log_prior / n,
        per_item,
    })
}

/// The likelihood's and the push's `t_end` for data of `shape`: `likelihood.t_end`, or
/// `1 − 1/K` for images (quantised to `K = likelihood.bins`, default 256, bins) and
/// `1 − 10⁻³` otherwise.
pub fn t_end(config: &Config, shape: &[usize]) -> f64 {
    config.likelihood.t_end_for(bins_of(config, shape))
}

/// The quantisation bins of data of `shape`: `likelihood.bins`, or 256 for images.
pub fn bins_of(config: &Config, shape: &[usize]) -> Option<usize> {
    config.likelihood.bins.or((shape.len() == 3).then_some(256))
}

/// The NLL of the first `items` test rows of the base data set under the trained blocks.
pub fn nll(
    config: &Config,
    settings: &LfmSettings,
    items: Option<usize>,
    batch: usize,
    seed: u64,
) -> Result<LfmNll> {
    check(config, settings)?;
    let mut lo = config.likelihood.clone();
    lo.validate()?;
    let device = backend::device(&config.backend)?;
    let test = config.data.load(Split::Test, config.seed)?;
    let bins = bins_of(config, &test.shape);
    lo.t_end = Some(t_end(config, &test.shape));
    let dim = test.dim();
    let count = items.unwrap_or(test.len()).min(test.len());
    if count == 0 {
        return Err(GpfnError::Invalid("no test items to score".into()));
    }
    let ad = device.clone().autodiff();
    let blocks: Vec<Block> = load_blocks(config, settings, &test.shape, &ad)?
        .into_iter()
        .map(|b| Block {
            config: b.config,
            network: b.network.no_grad(),
        })
        .collect();
    let scoring = Scoring {
        batch,
        options: lo,
        bins,
        seed,
    };
    nll_blocks(&blocks, &test.values[..count * dim], dim, &scoring, &device)
}
