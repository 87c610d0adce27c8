//! `gpfn bench`.

use super::load_config;
use crate::cli::BenchArgs;
use crate::output::outln;
use gpfn_core::Result;
use gpfn_io as io;
use gpfn_run::bench::{BenchOptions, run as bench};
use gpfn_run::config::ConfigSources;

pub fn run(sources: &ConfigSources, args: &BenchArgs) -> Result<()> {
    let config = load_config(sources)?.config;
    let report = bench(
        &config,
        &BenchOptions {
            batch: args.batch,
            train_steps: args.train_steps,
            warmup: args.warmup,
            nfe: args.nfe,
            samples: args.samples,
            sample_batch: args.sample_batch,
            sample_warmup: args.sample_warmup,
            sample_reps: args.sample_reps,
            guidance: args.guidance,
        },
    )?;
    let cpu = |t: &gpfn_run::bench::Timing| {
        t.cpu_utilisation
            .map_or_else(String::new, |u| format!(" (CPU {u:.2})"))
    };
    outln!(
        "backend {} · {} ({} parameters) · batch {}\n  forward        {:>8.3} s{}\n  training step  {:>8.3} s{}\n  sampling       {:>8.2} samples/s at {} NFE, batch {}{} ({} threads)",
        report.backend,
        report.network,
        report.parameters,
        report.batch,
        report.forward_s,
        cpu(&report.forward),
        report.train_step_s,
        cpu(&report.train_step),
        report.samples_per_s,
        gpfn_eval::format_nfe(report.nfe_measured),
        report.sample_batch,
        cpu(&report.sampling),
        report.threads
    )?;
    if let Some(g) = &report.guidance {
        outln!(
            "  guidance       w = {}: guided {:.3} s ({} NFE) against unguided {:.3} s ({} NFE) for {} samples at {} steps: {:.2}× (median of {} paired draws; one batched call per guided step)",
            g.weight,
            g.guided.median_s,
            gpfn_eval::format_nfe(g.nfe_guided),
            g.unguided.median_s,
            gpfn_eval::format_nfe(g.nfe_unguided),
            report.samples,
            g.steps,
            g.ratio,
            g.guided.times_s.len()
        )?;
    }
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    io::atomic_write(&args.out, json.as_bytes())?;
    eprintln!("written to {}", args.out.display());
    Ok(())
}
