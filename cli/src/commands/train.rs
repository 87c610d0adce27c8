//! `gpfn train`.

use super::load_config;
use crate::cli::TrainArgs;
use gpfn_core::Result;
use gpfn_run::RunFolder;
use gpfn_run::config::ConfigSources;
use gpfn_run::train::train;

pub fn run(sources: &ConfigSources, args: &TrainArgs) -> Result<()> {
    let loaded = load_config(sources)?;
    if loaded.workflow.get("lfm").is_some() {
        return super::lfm::train(&loaded, args);
    }
    let config = &loaded.config;
    let folder = RunFolder::create(config, args.resume)?;
    let summary = train(
        config,
        &folder,
        &super::interactive_training(args.resume, args.no_progress),
    )?;
    tracing::info!(
        step = summary.step,
        loss = ?summary.loss,
        seconds = format!("{:.1}", summary.seconds),
        parameters = summary.parameters,
        folder = %folder.path().display(),
        "{}",
        if summary.interrupted { "stopped" } else { "done" }
    );
    Ok(())
}
