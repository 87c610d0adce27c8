//! `gpfn sample`.

use crate::cli::SampleArgs;
use crate::output::outln;
use gpfn_core::Result;
use gpfn_core::sampler;
use gpfn_run::config::ConfigSources;
use gpfn_run::generate;

pub fn run(sources: &ConfigSources, args: &SampleArgs) -> Result<()> {
    // Flags still choose the backend for this invocation.
    let run = super::open_run(sources, args.run.as_deref(), args.checkpoint.as_deref())?;
    let config = &run.config;
    let sampler = super::pick_sampler(config, args.sampler.as_deref(), args.steps)?;
    let count = args.count.unwrap_or(config.sample.count);
    let seed = args.seed.unwrap_or(config.seed);
    let batch = generate::SampleBatch {
        count,
        seed,
        stream: 0,
    };
    let drawn = generate::draw_stream(
        config,
        &run.network,
        sampler.as_ref(),
        &run.shape,
        &run.device,
        batch,
    )?;
    let tag = format!("sample-{}", sampler::tag_of(sampler.as_ref()));
    let npy = generate::write_outputs(config, &run.folder, &drawn.values, &run.shape, &tag)?;
    tracing::info!(nfe = drawn.nfe, "network evaluations per sample");
    outln!("{}", npy.display())?;
    Ok(())
}
