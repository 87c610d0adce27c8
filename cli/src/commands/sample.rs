//! `gpfn sample`.

use super::eval::eval_guidance;
use crate::cli::SampleArgs;
use crate::output::outln;
use gpfn_core::sampler;
use gpfn_core::{GpfnError, Result};
use gpfn_io as io;
use gpfn_run::complete::Completion;
use gpfn_run::condition::{ClassChoice, Guidance};
use gpfn_run::config::ConfigSources;
use gpfn_run::generate;
use std::path::Path;

pub fn run(sources: &ConfigSources, args: &SampleArgs) -> Result<()> {
    if let Some(w) = args.guidance
        && !w.is_finite()
    {
        return Err(GpfnError::Config {
            key: "--guidance".into(),
            message: format!("the guidance weight must be a finite number, got {w}"),
        });
    }
    // Flags still choose the backend for this invocation.
    let run = super::open_run(sources, args.run.as_deref(), args.checkpoint.as_deref())?;
    let config = &run.config;
    let guidance = guidance(config, args)?;
    let sampler = super::pick_sampler(config, args.sampler.as_deref(), args.steps)?;
    let seed = args.seed.unwrap_or(config.seed);
    if let (Some(image), Some(mask)) = (&args.complete, &args.mask) {
        // A completion's class is unknown: the null class (unguided) unless `--class` asks.
        let guidance = if args.class.is_none() { None } else { guidance };
        return complete(
            &run,
            args,
            sampler.as_ref(),
            guidance.as_ref(),
            image,
            mask,
            seed,
        );
    }
    let count = args.count.unwrap_or(config.sample.count);
    let batch = generate::SampleBatch {
        count,
        seed,
        stream: 0,
    };
    let drawn = generate::draw_guided(
        config,
        &run.network,
        sampler.as_ref(),
        &run.shape,
        &run.device,
        batch,
        guidance.as_ref(),
    )?;
    let mut tag = format!("sample-{}", sampler::tag_of(sampler.as_ref()));
    if let Some(g) = &guidance {
        let class = args.class.unwrap_or(ClassChoice::All);
        tag.push_str(&format!("-class-{class}-w{}", g.weight()));
    }
    // A class-balanced set's picture has one class per row.
    let npy = generate::write_outputs_guided(
        config,
        &run.folder,
        &drawn.values,
        &run.shape,
        &tag,
        guidance.as_ref(),
    )?;
    // A guided step (w ≠ 0) counts two evaluations: conditional and unconditional.
    tracing::info!(nfe = drawn.nfe, "network evaluations per sample");
    outln!("{}", npy.display())?;
    Ok(())
}

/// The guidance `--class` and `--guidance` ask for: on a conditional run, `--class` (default
/// `all`) at `--guidance` (default `condition.guidance`); on an unconditional run, none, and
/// either flag is an error naming it.
fn guidance(config: &gpfn_run::config::Config, args: &SampleArgs) -> Result<Option<Guidance>> {
    match (config.condition.as_ref(), args.class, args.guidance) {
        // A conditional run with neither flag: the class-balanced set at the config's weight.
        (Some(_), None, None) => eval_guidance(config, Some(ClassChoice::All), None),
        (_, class, w) => eval_guidance(config, class, w),
    }
}

/// `gpfn sample --complete IMAGE.npy --mask MASK.npy`: `--count` completions (default 7 per
/// image), sample `i` of image `i mod n`, drawn in batches of 250; writes
/// `samples/complete-<sampler>[-resample-U][-class-…-w…].npy` and a grid PNG whose rows are
/// the first images: input, mask (white = known), the known pixels alone (grey elsewhere),
/// then up to 7 completions. With `--labels`, prints the share of completions the classifier
/// puts in their image's class.
fn complete(
    run: &gpfn_eval::TrainedRun,
    args: &SampleArgs,
    sampler: &dyn gpfn_core::sampler::Sampler,
    guidance: Option<&Guidance>,
    image: &Path,
    mask: &Path,
    seed: u64,
) -> Result<()> {
    let config = &run.config;
    let (images, image_shape) = io::read_npy(image)?;
    let (masks, mask_shape) = io::read_npy(mask)?;
    let completion = Completion::new(images, &image_shape, masks, &mask_shape, &run.shape)?;
    gpfn_run::complete::check(&config.model()?)?;
    let n = completion.len();
    let labels = match &args.labels {
        Some(path) => {
            let (l, _) = io::read_npy(path)?;
            if l.len() != n {
                return Err(GpfnError::Config {
                    key: "--labels".into(),
                    message: format!("holds {} labels for {n} images", l.len()),
                });
            }
            Some(l)
        }
        None => None,
    };
    let count = args.count.unwrap_or(7 * n);
    let dim: usize = run.shape.iter().product();
    let mut values = Vec::with_capacity(count * dim);
    let mut nfe = 0;
    for (stream, start) in (0..count).step_by(250).enumerate() {
        let rows = 250.min(count - start);
        let batch = generate::SampleBatch {
            count: rows,
            seed,
            stream: stream as u64,
        };
        let here = guidance.map(|g| g.from_sample(start));
        let drawn = generate::draw_completed(
            config,
            &run.network,
            sampler,
            &run.shape,
            &run.device,
            batch,
            generate::Completing {
                completion: &completion,
                start,
                guidance: here.as_ref(),
                resample: args.resample,
            },
        )?;
        values.extend(drawn.values);
        nfe = drawn.nfe;
    }
    let mut tag = format!("complete-{}", sampler::tag_of(sampler));
    if args.resample > 1 {
        tag.push_str(&format!("-resample-{}", args.resample));
    }
    if let Some(g) = guidance {
        tag.push_str(&format!("-class-{}-w{}", g.choice(), g.weight()));
    }
    let dir = run.folder.samples();
    let npy = dir.join(format!("{tag}.npy"));
    let mut full = vec![count];
    full.extend_from_slice(&run.shape);
    io::write_npy(&npy, &values, &full)?;
    // The grid: one row per image (at most 10): input, mask, known pixels, completions.
    let per_image = (count / n).min(7);
    let classes = config.model()?.categorical.map(|c| c.classes);
    let shown = n.min(10).min(count);
    if matches!(run.shape.len(), 2 | 3) {
        // Class indices `0..K−1` of categorical data are drawn as grey levels in `[−1, 1]`.
        let grey = |v: f32| gpfn_eval::as_images(&[v], classes)[0];
        let columns = 3 + per_image;
        let mut grid = Vec::with_capacity(shown * columns * dim);
        for r in 0..shown {
            let (x, m) = (completion.image(r), completion.mask(r));
            grid.extend(x.iter().map(|&v| grey(v)));
            grid.extend(m.iter().map(|&v| 2.0 * v - 1.0));
            grid.extend(
                x.iter()
                    .zip(m)
                    .map(|(&v, &k)| if k == 1.0 { grey(v) } else { 0.0 }),
            );
            for j in 0..per_image {
                let s = r + j * n;
                grid.extend(values[s * dim..(s + 1) * dim].iter().map(|&v| grey(v)));
            }
        }
        let png = dir.join(format!("{tag}.png"));
        io::image_grid_png(&png, &grid, &run.shape, columns)?;
        tracing::info!(png = %png.display(), "completion grid written");
    }
    tracing::info!(
        nfe,
        images = n,
        completions = count,
        "network evaluations per sample"
    );
    if let Some(labels) = labels {
        let dir = args
            .classifier
            .clone()
            .unwrap_or_else(|| super::eval::default_classifier_dir(config));
        let (classifier, _) = gpfn_eval::classifier::load(&dir, &run.device)?;
        let images = gpfn_eval::as_images(&values, classes);
        let embedded = gpfn_eval::classifier::embed(&classifier, &images, 500, &run.device)?;
        let hits = embedded
            .predicted
            .iter()
            .enumerate()
            .filter(|&(i, &p)| labels[i % n] as usize == p)
            .count();
        outln!(
            "completion accuracy {:.4} ({hits} of {count} completions classified as their image's class; classifier {})",
            hits as f64 / count as f64,
            dir.display()
        )?;
    }
    outln!("{}", npy.display())?;
    Ok(())
}
