//! `gpfn sample`.

use super::load_config;
use crate::cli::SampleArgs;
use gpfn_core::config::{ConfigSources, parse_value};
use gpfn_core::dataset::Split;
use gpfn_core::train::{RunFolder, build_network, checkpoint};
use gpfn_core::{GpfnError, Result, backend, generate};

pub fn run(sources: &ConfigSources, args: &SampleArgs) -> Result<()> {
    let path = match &args.run {
        Some(p) => p.clone(),
        None => {
            let c = load_config(sources)?.config;
            c.run.dir.join(&c.run.name)
        }
    };
    let folder = RunFolder::open(&path)?;
    let mut config = folder.config()?;
    // Flags still choose the backend for this invocation.
    for set in &sources.sets {
        if let Some(b) = set.strip_prefix("backend=") {
            config.backend = parse_value(b).as_str().unwrap_or(b).to_string();
        }
    }
    let ckpt = match &args.checkpoint {
        Some(c) => c.clone(),
        None => checkpoint::latest(&folder.checkpoints())?.ok_or_else(|| GpfnError::Run {
            path: folder.path().to_path_buf(),
            message: "no checkpoint yet; train first".into(),
        })?,
    };
    let device = backend::device(&config.backend)?;
    let shape = config.data.load(Split::Test, config.seed)?.shape;
    let network = checkpoint::load_ema(&ckpt, build_network(&config, &shape, &device)?)?;
    let sampler = super::pick_sampler(&config, args.sampler.as_deref(), args.steps)?;
    let count = args.count.unwrap_or(config.sample.count);
    let seed = args.seed.unwrap_or(config.seed);
    let values = generate::draw(
        &config,
        &network,
        sampler.as_ref(),
        &shape,
        count,
        &device,
        seed,
    )?;
    let name = serde_json::to_value(&sampler)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or_else(|| "sampler".into());
    let tag = format!("sample-{name}-{}", sampler.steps());
    let npy = generate::write_outputs(&config, &folder, &values, &shape, &tag)?;
    println!("{}", npy.display());
    Ok(())
}
