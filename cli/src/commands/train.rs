//! `gpfn train`.

use super::load_config;
use crate::cli::TrainArgs;
use gpfn_core::Result;
use gpfn_core::config::ConfigSources;
use gpfn_core::train::{RunFolder, TrainOptions, train};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn run(sources: &ConfigSources, args: &TrainArgs) -> Result<()> {
    let loaded = load_config(sources)?;
    let config = &loaded.config;
    let folder = RunFolder::create(config, args.resume)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // First Ctrl-C: finish the current step, save a checkpoint, exit cleanly.
    if let Err(e) = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: saving a checkpoint (Ctrl-C again to abort at once)");
    }) {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    let summary = train(
        config,
        &folder,
        &TrainOptions {
            resume: args.resume,
            progress: !args.no_progress,
            stop_after: None,
            interrupt: Some(interrupt),
        },
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
