//! Drawing samples from a trained network and writing them (`.npy`, and a PNG picture).

use crate::complete::{Completion, Known};
use crate::condition::{ClassChoice, Guidance};
use crate::config::Config;
use crate::model::{CategoricalModel, FlowModel};
use crate::run_folder::RunFolder;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gpfn_core::divergence::{CategoricalProblem, KnownClasses, categorical_repaint_chain, column};
use gpfn_core::host::host_f32;
use gpfn_core::rng::Rng;
use gpfn_core::sampler::Sampler;
use gpfn_core::sampling::{SamplingProblem, repaint_chain};
use gpfn_core::{GpfnError, Result};
use gpfn_data::Split;
use gpfn_io as io;
use gpfn_network::Network;
use std::path::PathBuf;

/// Runs `f` on the sampling problem of `config` with the trained `network` (its EMA weights,
/// usually) for `batch` samples of `shape`: the config's model ([`Config::model`]), its
/// readout turning the network's output into `x̂`.
pub fn with_problem<T>(
    config: &Config,
    network: &Network,
    shape: &[usize],
    batch: usize,
    device: &Device,
    f: impl FnOnce(&SamplingProblem<'_>) -> Result<T>,
) -> Result<T> {
    Ok(with_counted_problem(config, network, shape, batch, device, f)?.0)
}

/// [`with_problem`], also returning how many times `f` called the network (each call
/// evaluates every row of the batch: the NFE per sample that `f` spent).
pub fn with_counted_problem<T>(
    config: &Config,
    network: &Network,
    shape: &[usize],
    batch: usize,
    device: &Device,
    f: impl FnOnce(&SamplingProblem<'_>) -> Result<T>,
) -> Result<(T, usize)> {
    with_guided_problem(config, network, shape, batch, device, None, f)
}

/// [`with_counted_problem`] with the samplers' predictor guided by `guidance` (`None`:
/// unguided, as [`with_counted_problem`]): every call of the predictor is the guided
/// prediction of [`FlowModel::predict_x_guided`], one network call that counts as
/// [`Guidance::evaluations`] (2 when `w ≠ 0`) evaluations per sample.
pub fn with_guided_problem<T>(
    config: &Config,
    network: &Network,
    shape: &[usize],
    batch: usize,
    device: &Device,
    guidance: Option<&Guidance>,
    f: impl FnOnce(&SamplingProblem<'_>) -> Result<T>,
) -> Result<(T, usize)> {
    let conditioning = Conditioning {
        guidance,
        known: None,
    };
    with_conditioned_problem(config, network, shape, (batch, device), conditioning, f)
}

/// What a sample set is conditioned on: a class and guidance weight, and the known pixels of
/// a masked completion (each `None`: none).
#[derive(Clone, Copy, Default)]
pub struct Conditioning<'a> {
    /// The classes and the guidance weight.
    pub guidance: Option<&'a Guidance>,
    /// The known pixels of a completion ([`Known`]).
    pub known: Option<&'a Known>,
}

/// [`with_guided_problem`] for `(batch, device)` with the known pixels of a masked completion
/// as well: the predictor's input has its known coordinates on the flow and its prediction
/// the known data ([`Known`]).
pub fn with_conditioned_problem<T>(
    config: &Config,
    network: &Network,
    shape: &[usize],
    (batch, device): (usize, &Device),
    conditioning: Conditioning<'_>,
    f: impl FnOnce(&SamplingProblem<'_>) -> Result<T>,
) -> Result<(T, usize)> {
    let Conditioning { guidance, known } = conditioning;
    let model = config.model()?;
    model.check_readout()?;
    check_guidance(&model, network, guidance)?;
    let net = network.valid();
    let calls = std::cell::Cell::new(0usize);
    let per_call = guidance.map_or(1, Guidance::evaluations);
    let predictor = |z: Tensor<2>, t: f64| {
        calls.set(calls.get() + per_call);
        let rows = vec![t; z.dims()[0]];
        let z = match known {
            Some(k) => k.input(&model, z, t),
            None => z,
        };
        let x_hat = match guidance {
            Some(g) => model.predict_x_guided(&net, z, &rows, g),
            None => model.predict_x(&net, z, &rows),
        }
        .expect("checked before sampling");
        match known {
            Some(k) => k.output(x_hat),
            None => x_hat,
        }
    };
    let problem = model.sampling_problem(&predictor, batch, shape.iter().product(), device.clone());
    let out = f(&problem)?;
    Ok((out, calls.get()))
}

/// Checks that `guidance` (if any) fits the model and its network: both conditional over the
/// same classes (an error naming `--class` otherwise, before any work).
fn check_guidance(
    model: &FlowModel<'_>,
    network: &Network,
    guidance: Option<&Guidance>,
) -> Result<()> {
    let Some(_) = guidance else {
        return Ok(());
    };
    let wanted = model.condition.map(|c| c.classes);
    if wanted.is_none() || network.label_classes() != wanted {
        return Err(GpfnError::Config {
            key: "--class".into(),
            message: format!(
                "a class and guidance need a class-conditional model and network; the config \
                 has {} classes, the network {}",
                wanted.map_or("no".to_string(), |k| k.to_string()),
                network
                    .label_classes()
                    .map_or("none".to_string(), |k| k.to_string())
            ),
        });
    }
    Ok(())
}

/// The guidance of the samples a conditional config's training writes (and of `gpfn sample`
/// without `--class`): class-balanced (sample `i` of class `i mod K`) at `[condition]
/// guidance`; `None` for an unconditional config.
pub fn default_guidance(config: &Config) -> Result<Option<Guidance>> {
    config
        .condition
        .as_ref()
        .map(|c| Guidance::new(ClassChoice::All, c.guidance, Some(c)))
        .transpose()
}

/// Which samples [`draw_stream`] draws: `count` of them, with the noise stream
/// `(seed, "sample", stream)`.
#[derive(Clone, Copy, Debug)]
pub struct SampleBatch {
    /// Number of samples.
    pub count: usize,
    /// The seed of the noise.
    pub seed: u64,
    /// The stream of the noise under `seed`.
    pub stream: u64,
}

/// Samples drawn, with the network evaluations they cost.
#[derive(Clone, Debug)]
pub struct Drawn {
    /// `[count, dim]` host values.
    pub values: Vec<f32>,
    /// Network evaluations per sample actually made (an adaptive sampler's vary with the
    /// batch; rejected steps count).
    pub nfe: usize,
}

/// Draws `count` samples with `sampler`; returns `[count, dim]` host values.
pub fn draw(
    config: &Config,
    network: &Network,
    sampler: &dyn Sampler,
    shape: &[usize],
    count: usize,
    device: &Device,
    seed: u64,
) -> Result<Vec<f32>> {
    let batch = SampleBatch {
        count,
        seed,
        stream: 0,
    };
    Ok(draw_stream(config, network, sampler, shape, device, batch)?.values)
}

/// Draws `batch.count` samples with the noise stream `(batch.seed, "sample", batch.stream)`:
/// stream 0 is [`draw`]; large sample sets are drawn as batches on streams 0, 1, 2, … so that
/// they fit in memory and each batch is reproducible on its own.
pub fn draw_stream(
    config: &Config,
    network: &Network,
    sampler: &dyn Sampler,
    shape: &[usize],
    device: &Device,
    batch: SampleBatch,
) -> Result<Drawn> {
    draw_guided(config, network, sampler, shape, device, batch, None)
}

/// [`draw_stream`] guided by `guidance` (`None`: unguided, and a conditional network's
/// samples are those of its null class): sample `i` of the batch has class
/// [`Guidance::class_of`]`(i)`; the NFE counts a guided step `w ≠ 0` as 2.
pub fn draw_guided(
    config: &Config,
    network: &Network,
    sampler: &dyn Sampler,
    shape: &[usize],
    device: &Device,
    batch: SampleBatch,
    guidance: Option<&Guidance>,
) -> Result<Drawn> {
    let SampleBatch {
        count,
        seed,
        stream,
    } = batch;
    let model = config.model()?;
    if let Some(categorical) = &model.categorical {
        return draw_categorical(
            (&model, categorical),
            network,
            sampler,
            shape,
            device,
            batch,
            (guidance, None),
        );
    }
    let (values, nfe) =
        with_guided_problem(config, network, shape, count, device, guidance, |problem| {
            let mut rng = Rng::derive(seed, "sample", stream);
            host_f32(sampler.sample(problem, &mut rng)?)
        })?;
    Ok(Drawn { values, nfe })
}

/// Which completions [`draw_completed`] draws: samples `start..start + batch.count` of the
/// set, sample `s` completing image `s mod n` of `completion`, guided by `guidance` where
/// given.
#[derive(Clone, Copy)]
pub struct Completing<'a> {
    /// The images and masks.
    pub completion: &'a Completion,
    /// Index of the batch's first sample in the whole set.
    pub start: usize,
    /// The classes (of the samples `0, 1, …` of the batch) and the guidance weight.
    pub guidance: Option<&'a Guidance>,
    /// RePaint's resampling: each step taken this many times (1: none;
    /// [`gpfn_core::sampling::repaint_chain`]).
    pub resample: usize,
}

/// Completions of `what.completion`'s images ([`Completing`]); the known pixels come out as
/// the data exactly ([`crate::complete`]).
pub fn draw_completed(
    config: &Config,
    network: &Network,
    sampler: &dyn Sampler,
    shape: &[usize],
    device: &Device,
    batch: SampleBatch,
    what: Completing<'_>,
) -> Result<Drawn> {
    let Completing {
        completion,
        start,
        guidance,
        resample,
    } = what;
    let model = config.model()?;
    if let Some(categorical) = &model.categorical {
        let known = completion.known_classes(categorical.classes, start, batch.count, device)?;
        let mut drawn = draw_categorical(
            (&model, categorical),
            network,
            sampler,
            shape,
            device,
            batch,
            (guidance, Some((&known, resample))),
        )?;
        completion.impose(&mut drawn.values, start);
        return Ok(drawn);
    }
    let mut path_noise = Rng::derive(batch.seed, "complete", batch.stream);
    let known = Known::new(
        &model,
        completion,
        start,
        batch.count,
        device,
        &mut path_noise,
    )?;
    let conditioning = Conditioning {
        guidance,
        known: Some(&known),
    };
    let (mut values, nfe) = with_conditioned_problem(
        config,
        network,
        shape,
        (batch.count, device),
        conditioning,
        |problem| {
            let mut rng = Rng::derive(batch.seed, "sample", batch.stream);
            if resample == 1 {
                return host_f32(sampler.sample(problem, &mut rng)?);
            }
            let noise = sampler.chain_noise()?.ok_or_else(|| GpfnError::Config {
                key: "--resample".into(),
                message: format!(
                    "RePaint's resampling redoes the steps of a proximal chain; sampler `{}` \
                     integrates an ODE or SDE: use deterministic, stochastic or ancestral",
                    sampler.typetag_name()
                ),
            })?;
            let prior =
                problem
                    .family
                    .prior(problem.batch, problem.dim, &problem.device, &mut rng)?;
            let end = repaint_chain(problem, prior, sampler.steps(), noise, resample, &mut rng)?;
            host_f32(end.prediction)
        },
    )?;
    completion.impose(&mut values, start);
    Ok(Drawn { values, nfe })
}

/// [`draw_stream`] for a model of categorical data: the categorical chain
/// ([`gpfn_core::divergence::categorical_chain`]) with the sampler's steps and observations (`stochastic` is BFN's
/// sampler); the values are class indices, the NFE `steps + 1` (twice that when guided with
/// `w ≠ 0`: the logits are guided, `l_w = l_∅ + (1 + w)(l_c − l_∅)`, one batched call). With
/// `known` variables (masked completion) the chain's output distribution for them is their
/// data ([`KnownClasses`]), and each step is taken the given number of times with RePaint's
/// resampling ([`categorical_repaint_chain`]; 1: none).
fn draw_categorical(
    (model, categorical): (&FlowModel<'_>, &CategoricalModel),
    network: &Network,
    sampler: &dyn Sampler,
    shape: &[usize],
    device: &Device,
    batch: SampleBatch,
    (guidance, known): (Option<&Guidance>, Option<(&KnownClasses, usize)>),
) -> Result<Drawn> {
    model.check_readout()?;
    check_guidance(model, network, guidance)?;
    let noise = sampler.chain_noise()?.ok_or_else(|| GpfnError::Config {
        key: "sampler.name".into(),
        message: format!(
            "sampler `{}` integrates particles; categorical beliefs are sampled step by step: use `stochastic` (BFN's sampler), `ancestral` or `deterministic`",
            sampler.typetag_name()
        ),
    })?;
    let net = network.valid();
    let predictor = |z: Tensor<2>, t: f64| {
        let rows = vec![t; z.dims()[0]];
        let t = column(&rows, device);
        match guidance {
            Some(g) => g
                .guide_network(&net, z, t)
                .expect("checked before sampling"),
            None => net.forward(z, t),
        }
    };
    let problem = CategoricalProblem {
        divergence: model.divergence,
        family: &categorical.family,
        classes: categorical.classes,
        predictor: &predictor,
        batch: batch.count,
        dim: shape.iter().product(),
        device: device.clone(),
        known: known.map(|(k, _)| k),
    };
    let jumps = known.map_or(1, |(_, jumps)| jumps);
    let mut rng = Rng::derive(batch.seed, "sample", batch.stream);
    let end = categorical_repaint_chain(&problem, sampler.steps(), noise, jumps, &mut rng)?;
    Ok(Drawn {
        values: host_f32(end.sample)?,
        nfe: end.evaluations * guidance.map_or(1, Guidance::evaluations),
    })
}

/// Draws `sample.count` samples with the config's sampler (a conditional config's
/// class-balanced at `[condition] guidance`, [`default_guidance`]) and writes
/// `samples/<tag>.npy` and a PNG (scatter plot for 2-D data, image grid otherwise).
pub fn write_samples(
    config: &Config,
    folder: &RunFolder,
    network: &Network,
    shape: &[usize],
    device: &Device,
    tag: &str,
) -> Result<PathBuf> {
    let count = config.sample.count;
    let batch = SampleBatch {
        count,
        seed: config.seed,
        stream: 0,
    };
    // A conditional model draws a class-balanced set at `[condition] guidance`.
    let guidance = default_guidance(config)?;
    let values = draw_guided(
        config,
        network,
        config.sampler.as_ref(),
        shape,
        device,
        batch,
        guidance.as_ref(),
    )?
    .values;
    write_outputs_guided(config, folder, &values, shape, tag, guidance.as_ref())
}

/// Writes samples as `.npy` and a picture; returns the `.npy` path.
pub fn write_outputs(
    config: &Config,
    folder: &RunFolder,
    values: &[f32],
    shape: &[usize],
    tag: &str,
) -> Result<PathBuf> {
    write_outputs_guided(config, folder, values, shape, tag, None)
}

/// The order in which a class-balanced image set is drawn so that each row of the grid is one
/// class: `(rows, columns, sample indices row by row)` with row `k` the first `columns`
/// samples of class `k` (`columns` = at most 10, and at most what every class has), or `None`
/// when `guidance` is not class-balanced or some class has no sample.
pub fn class_rows(guidance: &Guidance, count: usize) -> Option<(usize, usize, Vec<usize>)> {
    if guidance.choice() != ClassChoice::All {
        return None;
    }
    let k = guidance.model_classes();
    let mut by_class = vec![Vec::new(); k];
    for i in 0..count {
        by_class[guidance.class_of(i)].push(i);
    }
    let columns = by_class.iter().map(Vec::len).min()?.min(10);
    if columns == 0 {
        return None;
    }
    let order = by_class
        .iter()
        .flat_map(|c| c[..columns].iter().copied())
        .collect();
    Some((k, columns, order))
}

/// [`write_outputs`] for samples drawn with `guidance`: a class-balanced image set's picture
/// has one class per row ([`class_rows`]); the `.npy` keeps the samples' order.
pub fn write_outputs_guided(
    config: &Config,
    folder: &RunFolder,
    values: &[f32],
    shape: &[usize],
    tag: &str,
    guidance: Option<&Guidance>,
) -> Result<PathBuf> {
    let dir = folder.samples();
    let count = values.len() / shape.iter().product::<usize>().max(1);
    let mut full = vec![count];
    full.extend_from_slice(shape);
    // Tabular data trained standardised: the samples (and the scatter's reference) back in
    // the data's units, with the statistics the run stored at training.
    let stats = gpfn_data::Standardisation::load(folder.path())?
        .filter(|s| shape.len() == 1 && s.mean.len() == shape[0]);
    let unstandardised;
    let values = match &stats {
        Some(s) => {
            unstandardised = {
                let mut v = values.to_vec();
                s.undo(&mut v);
                v
            };
            &unstandardised[..]
        }
        None => values,
    };
    let npy = dir.join(format!("{tag}.npy"));
    io::write_npy(&npy, values, &full)?;
    let png = dir.join(format!("{tag}.png"));
    let classes = config.data.classes();
    // Tabular rows of more than two features: the scatter shows the first two.
    let first_two = |v: &[f32]| -> Vec<f32> {
        let d = shape.iter().product::<usize>().max(1);
        v.chunks_exact(d).flat_map(|r| [r[0], r[1]]).collect()
    };
    if classes.is_none() && shape.len() == 1 && shape[0] > 2 {
        let reference = config.data.load(Split::Test, config.seed).ok().map(|t| {
            let mut v = t.values;
            if let Some(s) = &stats {
                s.undo(&mut v);
            }
            first_two(&v)
                .into_iter()
                .take(2 * 4000)
                .collect::<Vec<f32>>()
        });
        let shown = first_two(values);
        let extent = data_extent(reference.as_deref().unwrap_or(&shown));
        io::scatter_png(&png, &shown, reference.as_deref(), extent)?;
        tracing::info!(npy = %npy.display(), png = %png.display(), "samples written");
        return Ok(npy);
    }
    match (classes, shape == [2]) {
        (Some(k), true) => {
            // Pairs of classes: the K × K histogram of the samples beside the test data's.
            let reference = config.data.load(Split::Test, config.seed)?;
            let scale = (256 / k).max(1);
            let grids = [
                grid_histogram(values, k, scale),
                grid_histogram(&reference.values, k, scale),
            ]
            .concat();
            io::image_grid_png(&png, &grids, &[k * scale, k * scale], 2)?;
        }
        (_, true) => {
            let reference = config.data.load(Split::Test, config.seed).ok();
            let r: Option<Vec<f32>> = reference.map(|t| {
                let mut v = t.values;
                if let Some(s) = &stats {
                    s.undo(&mut v);
                }
                v.into_iter().take(2 * 4000).collect()
            });
            // In the data's units (standardised data) the plot spans the data.
            let extent = match (&stats, &r) {
                (Some(_), Some(r)) => data_extent(r),
                _ => 3.0,
            };
            io::scatter_png(&png, values, r.as_deref(), extent)?;
        }
        (_, false) => {
            let per = shape.iter().product::<usize>();
            let n = count.min(100);
            let rows = guidance.and_then(|g| class_rows(g, count));
            let reordered: Vec<f32>;
            let (shown, columns) = match &rows {
                Some((_, columns, order)) if order.len() <= 100 => {
                    reordered = order
                        .iter()
                        .flat_map(|&i| values[i * per..(i + 1) * per].iter().copied())
                        .collect();
                    (&reordered[..], *columns)
                }
                _ => (&values[..n * per], 10),
            };
            // Class indices `0..K−1` are drawn as grey levels in `[−1, 1]` (the `.npy` keeps
            // the indices).
            let grey: Vec<f32> = match classes {
                Some(k) => shown
                    .iter()
                    .map(|&c| 2.0 * c / (k - 1) as f32 - 1.0)
                    .collect(),
                None => shown.to_vec(),
            };
            io::image_grid_png(&png, &grey, shape, columns)?;
        }
    }
    tracing::info!(npy = %npy.display(), png = %png.display(), "samples written");
    Ok(npy)
}

/// Half the side of a square scatter plot that shows `points` (`[x, y]` rows): 1.1 times
/// their largest finite coordinate (3 when there is none).
fn data_extent(points: &[f32]) -> f32 {
    let m = points
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    if m > 0.0 { 1.1 * m } else { 3.0 }
}

/// The `K × K` histogram of pairs of class indices `values` (`[count, 2]`) as a grey image in
/// `[−1, 1]` (white: the most frequent cell), each cell drawn as `scale × scale` pixels, first
/// class down, second across.
fn grid_histogram(values: &[f32], k: usize, scale: usize) -> Vec<f32> {
    let mut counts = vec![0usize; k * k];
    for pair in values.chunks_exact(2) {
        let (i, j) = (pair[0] as usize, pair[1] as usize);
        if i < k && j < k {
            counts[i * k + j] += 1;
        }
    }
    let most = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    let side = k * scale;
    (0..side * side)
        .map(|p| {
            let (y, x) = (p / side / scale, p % side / scale);
            2.0 * counts[y * k + x] as f32 / most - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::ConditionConfig;

    #[test]
    fn a_class_balanced_grid_has_one_class_per_row() {
        let c = ConditionConfig {
            classes: 4,
            dropout: 0.1,
            guidance: 0.0,
        };
        let all = Guidance::new(ClassChoice::All, 1.0, Some(&c)).unwrap();
        // 10 samples of 4 classes: classes 0, 1 have 3, classes 2, 3 have 2 → 2 columns.
        let (rows, columns, order) = class_rows(&all, 10).unwrap();
        assert_eq!((rows, columns), (4, 2));
        assert_eq!(order, vec![0, 4, 1, 5, 2, 6, 3, 7]);
        for (j, &i) in order.iter().enumerate() {
            assert_eq!(all.class_of(i), j / columns);
        }
        // 100 samples: 10 columns at most.
        assert_eq!(class_rows(&all, 100).unwrap().1, 10);
        // Fewer samples than classes, or one class: no rows by class.
        assert!(class_rows(&all, 3).is_none());
        let one = Guidance::new(ClassChoice::One(2), 1.0, Some(&c)).unwrap();
        assert!(class_rows(&one, 10).is_none());
    }
}
