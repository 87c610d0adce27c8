//! Evaluating a trained run: draw samples from its checkpoint with a sampler at a given NFE,
//! embed them with the classifier, compare with the reference (test) images.

use super::against::Against;
use super::classifier::{Classifier, ClassifierInfo, embed};
use super::conditional::{GuidedSet, conditional_metrics};
use super::report::{EvalReport, report_path};
use super::{FeatureMetric, MetricOptions, Reference};
use burn::tensor::Device;
use gpfn_core::sampler::{Sampler, name_of};
use gpfn_core::{GpfnError, Result};
use gpfn_data::Split;
use gpfn_network::Network;
use gpfn_run::condition::Guidance;
use gpfn_run::config::Config;
use gpfn_run::train::build_network;
use gpfn_run::{RunFolder, checkpoint};
use gpfn_run::{backend, generate};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A run folder with its network loaded from a checkpoint (EMA weights), ready to sample.
pub struct TrainedRun {
    /// The folder.
    pub folder: RunFolder,
    /// Its resolved config.
    pub config: Config,
    /// The checkpoint the weights come from.
    pub checkpoint: PathBuf,
    /// The network with the checkpoint's EMA weights.
    pub network: Network,
    /// Shape of one data item.
    pub shape: Vec<usize>,
    /// The device it runs on.
    pub device: Device,
}

impl TrainedRun {
    /// Opens the run folder `path` at `checkpoint` (default: its newest), with `sets`
    /// (`key=value`, as `--set` takes them, e.g. `backend=wgpu` or `data.dir=…`) layered over
    /// the run's own config ([`RunFolder::config_with`]).
    pub fn open(path: &Path, checkpoint: Option<&Path>, sets: &[String]) -> Result<TrainedRun> {
        let folder = RunFolder::open(path)?;
        let config = folder.config_with(sets)?;
        let checkpoint = match checkpoint {
            Some(c) => c.to_path_buf(),
            None => checkpoint::latest(&folder.checkpoints())?.ok_or_else(|| GpfnError::Run {
                path: folder.path().to_path_buf(),
                message: "no checkpoint yet; train first".into(),
            })?,
        };
        let device = backend::device(&config.backend)?;
        let shape = config.data.load(Split::Test, config.seed)?.shape;
        let network = checkpoint::load_ema(&checkpoint, build_network(&config, &shape, &device)?)?;
        Ok(TrainedRun {
            folder,
            config,
            checkpoint,
            network,
            shape,
            device,
        })
    }

    /// The run's name: its folder's name (also for a folder given as `.` or `..`).
    pub fn name(&self) -> String {
        let path = self.folder.path();
        match path.file_name() {
            Some(n) => n.to_string_lossy().into_owned(),
            None => report_path(path, path),
        }
    }

    /// The run's divergence.
    pub fn divergence(&self) -> String {
        self.config.divergence.name().to_string()
    }

    /// Draws `count` samples in batches of `batch` (batch `c` on noise stream `c` of `seed`),
    /// calling `progress(samples_done)` after each batch; returns the values and the network
    /// evaluations per sample, averaged over the batches.
    pub fn draw(
        &self,
        sampler: &dyn Sampler,
        count: usize,
        batch: usize,
        seed: u64,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Vec<f32>, f64)> {
        self.draw_guided(sampler, count, batch, seed, None, progress)
    }

    /// [`draw`](Self::draw) guided by `guidance` (`None`: unguided, a conditional run's null
    /// class): sample `i` of the whole set has class `guidance.class_of(i)`, whatever the
    /// batching, and a guided step counts two evaluations.
    pub fn draw_guided(
        &self,
        sampler: &dyn Sampler,
        count: usize,
        batch: usize,
        seed: u64,
        guidance: Option<&Guidance>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Vec<f32>, f64)> {
        let batch = batch.max(1);
        let mut values = Vec::with_capacity(count * self.shape.iter().product::<usize>());
        let mut evaluations = 0usize;
        for (stream, start) in (0..count).step_by(batch).enumerate() {
            let rows = batch.min(count - start);
            let batch = generate::SampleBatch {
                count: rows,
                seed,
                stream: stream as u64,
            };
            let here = guidance.map(|g| g.from_sample(start));
            let drawn = generate::draw_guided(
                &self.config,
                &self.network,
                sampler,
                &self.shape,
                &self.device,
                batch,
                here.as_ref(),
            )?;
            values.extend(drawn.values);
            evaluations += drawn.nfe * rows;
            progress(start + rows);
        }
        Ok((values, evaluations as f64 / count.max(1) as f64))
    }
}

/// The classifier and the reference images' features, prepared once per evaluation session.
pub struct Evaluator {
    /// The classifier.
    pub classifier: Classifier,
    /// What the classifier folder records.
    pub info: ClassifierInfo,
    /// Its folder.
    pub classifier_dir: PathBuf,
    /// The reference set, embedded.
    pub reference: Reference,
    /// Number of reference images.
    pub reference_count: usize,
    /// The reference images' labels, where the data set has them (per-class FIDs).
    pub reference_labels: Option<Vec<u8>>,
    /// Which images the reference set is.
    pub against: Against,
    /// Extra metrics (see [`FeatureMetric`]).
    pub extra: Vec<Box<dyn FeatureMetric>>,
}

/// Writes an evaluated sample set as `.npy` (`[count, …shape]`, `float32`, values in
/// `[−1, 1]`) so that it can be scored with another feature extractor (docs/evaluation.md).
pub fn write_samples_npy(path: &Path, values: &[f32], shape: &[usize]) -> Result<()> {
    let per: usize = shape.iter().product::<usize>().max(1);
    let mut full = vec![values.len() / per];
    full.extend_from_slice(shape);
    gpfn_io::write_npy(path, values, &full)
}

/// For image data (`shape` = `[channels, height, width]`), writes the first 100 samples of
/// `values` as a 10-column PNG grid; other data get no picture.
pub fn write_samples_grid(path: &Path, values: &[f32], shape: &[usize]) -> Result<()> {
    if shape.len() != 3 {
        return Ok(());
    }
    let per: usize = shape.iter().product::<usize>().max(1);
    let n = (values.len() / per).min(100);
    gpfn_io::image_grid_png(path, &values[..n * per], shape, 10)
}

/// Options of one evaluation.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Samples to generate.
    pub samples: usize,
    /// Samples per generation batch (bounds the memory of sampling).
    pub batch: usize,
    /// Seed of the sampling noise.
    pub seed: u64,
    /// A class-conditional run's classes and guidance weight (`gpfn eval --class K|all
    /// --guidance w`): the samples are drawn guided and the report gains the conditional
    /// metrics. `None`: unguided (a conditional run's null class).
    pub guidance: Option<Guidance>,
}

impl Evaluator {
    /// Loads the classifier in `classifier_dir` and embeds the first `reference` images (all
    /// if `None`) of the test split of `config`'s data set, or of the run's held-out training
    /// rows ([`Against::Holdout`]).
    pub fn new(
        classifier_dir: &Path,
        config: &Config,
        reference: Option<usize>,
        against: Against,
        options: MetricOptions,
        device: &Device,
    ) -> Result<Evaluator> {
        let (classifier, info) = super::classifier::load(classifier_dir, device)?;
        let rows = match against {
            Against::Test => config.data.load(Split::Test, config.seed)?,
            Against::Holdout => gpfn_run::holdout::held_out_rows(config)?,
        };
        if rows.shape != info.spec.shape {
            return Err(GpfnError::Shape(format!(
                "the classifier in {} takes images of shape {:?}, the run's data have shape {:?}",
                classifier_dir.display(),
                info.spec.shape,
                rows.shape
            )));
        }
        let data = serde_json::to_value(&config.data).unwrap_or_default();
        if data.get("name") != info.data.get("name") {
            tracing::warn!(
                classifier = %classifier_dir.display(),
                trained_on = %info.data.get("name").unwrap_or(&serde_json::Value::Null),
                run_data = %data.get("name").unwrap_or(&serde_json::Value::Null),
                "the classifier was trained on another data set"
            );
        }
        let n = reference.unwrap_or(rows.len()).min(rows.len());
        let d = rows.dim();
        let images = as_images(&rows.values[..n * d], config.data.classes());
        let embedded = embed(&classifier, &images, 500, device)?;
        let reference = Reference::new(embedded.features, options)?;
        let reference_labels = rows.labels.map(|mut l| {
            l.truncate(n);
            l
        });
        Ok(Evaluator {
            classifier,
            info,
            classifier_dir: classifier_dir.to_path_buf(),
            reference,
            reference_count: n,
            reference_labels,
            against,
            extra: Vec::new(),
        })
    }

    /// Evaluates `run` with `sampler`; `progress(samples_done)` is called as batches finish.
    pub fn evaluate(
        &self,
        run: &TrainedRun,
        sampler: &dyn Sampler,
        options: &EvalOptions,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(EvalReport, Vec<f32>)> {
        let started = Instant::now();
        let guidance = options.guidance.as_ref();
        let (values, nfe) = run.draw_guided(
            sampler,
            options.samples,
            options.batch,
            options.seed,
            guidance,
            progress,
        )?;
        let sampling_seconds = started.elapsed().as_secs_f64();
        let images = as_images(&values, run.config.data.classes());
        let embedded = embed(&self.classifier, &images, 500, &run.device)?;
        let extra: Vec<&dyn FeatureMetric> = self.extra.iter().map(|m| m.as_ref()).collect();
        let metrics = self.reference.compare(
            &embedded.features,
            &embedded.predicted,
            self.info.spec.classes,
            &extra,
        )?;
        let conditional = match guidance {
            Some(g) => {
                let asked: Vec<usize> = (0..options.samples).map(|i| g.class_of(i)).collect();
                let all = g.choice() == gpfn_run::condition::ClassChoice::All;
                let class = g.choice().to_string();
                Some(conditional_metrics(
                    &asked,
                    &embedded.predicted,
                    &embedded.features,
                    (&self.reference.features, self.reference_labels.as_deref()),
                    GuidedSet {
                        guidance: g.weight(),
                        class,
                        balanced: all.then_some(metrics.fid),
                    },
                )?)
            }
            None => None,
        };
        let report = EvalReport {
            run: report_path(run.folder.path(), run.folder.path()),
            name: run.name(),
            checkpoint: report_path(&run.checkpoint, run.folder.path()),
            divergence: run.divergence(),
            sampler: name_of(sampler),
            nfe,
            tolerance: sampler.tolerance(),
            samples: options.samples,
            reference: self.reference_count,
            against: self.against,
            seed: options.seed,
            classifier: report_path(&self.classifier_dir, run.folder.path()),
            classifier_test_accuracy: self.info.test_accuracy,
            sampling_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
            metrics,
            conditional,
        };
        Ok((report, values))
    }
}

/// The classifier's view of data values: class indices `0..K−1` of categorical data (binarised
/// MNIST) as grey levels `2c/(K − 1) − 1 ∈ [−1, 1]`, the range the classifier was trained on;
/// continuous values as they are.
pub fn as_images(values: &[f32], classes: Option<usize>) -> std::borrow::Cow<'_, [f32]> {
    match classes {
        Some(k) if k >= 2 => values
            .iter()
            .map(|&c| 2.0 * c / (k - 1) as f32 - 1.0)
            .collect::<Vec<_>>()
            .into(),
        _ => values.into(),
    }
}
