//! # gpfn-cli: the `gpfn` command line
//!
//! [`run`] is the whole program. A user who writes a plugin crate gets a complete `gpfn` with
//! that plugin registered from a three-line binary:
//!
//! ```text
//! use my_divergence as _; // linking the crate registers its plugins
//! fn main() -> std::process::ExitCode {
//!     gpfn_cli::run()
//! }
//! ```
//!
//! Rust has no stable ABI for loading plugin libraries at run time; registration happens at
//! link time through `inventory`, so the binary that links a plugin is the one that has it.

mod allocator;
mod cli;
mod commands;
pub mod math_json;
mod output;

// The built-in plugins are linked into every binary built on this crate.
use gpfn_fdiv as _;
use gpfn_kl as _;
use gpfn_rectified_flow as _;
use gpfn_reflow as _;
use gpfn_sinkhorn as _;
use gpfn_w2 as _;

pub use cli::Cli;

use clap::Parser;
use std::error::Error as _;
use std::process::ExitCode;

/// Parses the process arguments, runs the command, and reports errors.
pub fn run() -> ExitCode {
    allocator::tune();
    run_with(Cli::parse())
}

/// Runs an already-parsed command line.
pub fn run_with(cli: Cli) -> ExitCode {
    init_logging(cli.verbose, cli.quiet);
    match commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`gpfn plugins | head -3`): nothing left to say.
        Err(e) if output::is_closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let level = if quiet {
        "warn"
    } else {
        match verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    // `GPFN_LOG` (then `RUST_LOG`) overrides the level flags with a full filter directive.
    let filter = EnvFilter::try_from_env("GPFN_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            EnvFilter::new(format!(
                "warn,gpfn_core={level},gpfn_cli={level},gpfn={level}"
            ))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
