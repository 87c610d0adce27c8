//! `gpfn reflow`.

use super::{load_config, pick_sampler};
use crate::cli::ReflowArgs;
use crate::output::outln;
use gpfn_core::Result;
use gpfn_reflow::{ReflowOptions, run as reflow};
use gpfn_run::config::ConfigSources;
use gpfn_run::run_folder::RunFolder;

pub fn run(sources: &ConfigSources, args: &ReflowArgs) -> Result<()> {
    let config = load_config(sources)?.config;
    let sampler = if args.sampler.is_some() || args.steps.is_some() {
        let teacher = RunFolder::open(&args.from)?.config()?;
        Some(pick_sampler(&teacher, args.sampler.as_deref(), args.steps)?)
    } else {
        None
    };
    let summary = reflow(
        &config,
        &ReflowOptions {
            source: args.from.clone(),
            checkpoint: args.checkpoint.clone(),
            sampler,
            pairs: args.pairs,
            shard_size: args.shard_size,
            generate_only: args.generate_only,
            distill_steps: args.distill,
            train: super::interactive_training(args.resume, args.no_progress),
        },
    )?;
    tracing::info!(
        pairs = %summary.pairs_dir.display(),
        written = summary.pairs.written,
        kept = summary.pairs.skipped,
        "reflow pairs"
    );
    outln!("{}", summary.pairs_dir.display())?;
    for (what, run) in [("reflow", &summary.reflow), ("distill", &summary.distill)] {
        if let Some((path, s)) = run {
            tracing::info!(
                step = s.step,
                loss = ?s.loss,
                seconds = format!("{:.1}", s.seconds),
                folder = %path.display(),
                "{what} {}",
                if s.interrupted { "stopped" } else { "done" }
            );
            outln!("{}", path.display())?;
        }
    }
    Ok(())
}
