//! `gpfn sample`.

use crate::cli::SampleArgs;
use crate::output::outln;
use gpfn_core::sampler;
use gpfn_core::{GpfnError, Result};
use gpfn_run::condition::{ClassChoice, Guidance};
use gpfn_run::config::ConfigSources;
use gpfn_run::generate;

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
    let count = args.count.unwrap_or(config.sample.count);
    let seed = args.seed.unwrap_or(config.seed);
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
    let npy = generate::write_outputs(config, &run.folder, &drawn.values, &run.shape, &tag)?;
    // A guided step (w ≠ 0) counts two evaluations: conditional and unconditional.
    tracing::info!(nfe = drawn.nfe, "network evaluations per sample");
    outln!("{}", npy.display())?;
    Ok(())
}

/// The guidance `--class` and `--guidance` ask for: on a conditional run, `--class` (default
/// `all`) at `--guidance` (default `condition.guidance`); on an unconditional run, none, and
/// either flag is an error naming it.
fn guidance(config: &gpfn_run::config::Config, args: &SampleArgs) -> Result<Option<Guidance>> {
    let condition = config.condition.as_ref();
    match (condition, args.class, args.guidance) {
        (None, None, None) => Ok(None),
        (None, None, Some(_)) => Err(GpfnError::Config {
            key: "--guidance".into(),
            message: "this run is unconditional (its config has no [condition]): there is \
                      nothing to guide; train with [condition] classes = K"
                .into(),
        }),
        (condition, class, w) => Ok(Some(Guidance::new(
            class.unwrap_or(ClassChoice::All),
            w.unwrap_or(condition.map_or(0.0, |c| c.guidance)),
            condition,
        )?)),
    }
}
