//! `gpfn bench`.

use super::load_config;
use crate::cli::BenchArgs;
use gpfn_core::bench::{BenchOptions, run as bench};
use gpfn_core::config::ConfigSources;
use gpfn_core::{Result, io};

pub fn run(sources: &ConfigSources, args: &BenchArgs) -> Result<()> {
    let config = load_config(sources)?.config;
    let report = bench(
        &config,
        &BenchOptions {
            batch: args.batch,
            train_steps: args.train_steps,
            nfe: args.nfe,
            samples: args.samples,
        },
    )?;
    println!(
        "backend {} · {} ({} parameters) · batch {}\n  forward        {:>8.3} s\n  training step  {:>8.3} s\n  sampling       {:>8.2} samples/s at {} NFE ({} threads)",
        report.backend,
        report.network,
        report.parameters,
        report.batch,
        report.forward_s,
        report.train_step_s,
        report.samples_per_s,
        report.nfe,
        report.threads
    );
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    io::atomic_write(&args.out, json.as_bytes())?;
    eprintln!("written to {}", args.out.display());
    Ok(())
}
