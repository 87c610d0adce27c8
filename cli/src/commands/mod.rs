//! One file per subcommand.

mod bench;
mod config;
mod data;
mod eval;
mod lfm;
mod math;
mod plugin_new;
mod plugins;
mod reflow;
mod sample;
mod sweep;
mod train;

use crate::cli::{Cli, Command, DataCommand, PluginCommand};
use gpfn_core::Result;
use gpfn_run::config::{ConfigSources, Loaded, load, toml_string};

/// Runs the parsed command.
pub fn dispatch(cli: Cli) -> Result<()> {
    let sources = sources(&cli);
    match cli.command {
        Command::Train(args) => train::run(&sources, &args),
        Command::Sample(args) => sample::run(&sources, &args),
        Command::Plugins(args) => plugins::run(&args),
        Command::Plugin(PluginCommand::New(args)) => plugin_new::run(&args),
        Command::Config(args) => config::run(&sources, &args),
        Command::Bench(args) => bench::run(&sources, &args),
        Command::Reflow(args) => reflow::run(&sources, &args),
        Command::Lfm(cmd) => lfm::run(&sources, cmd),
        Command::Eval(args) => eval::run(&sources, &args),
        Command::Sweep(args) => sweep::run(&sources, &args),
        Command::Math(cmd) => math::run(&sources, cmd),
        Command::Data(DataCommand::Fetch(args)) => data::fetch(&args),
    }
}

/// The config layers the flags describe; `--backend` and `--data-dir` are `--set` shorthands
/// that sit below explicit `--set` flags.
fn sources(cli: &Cli) -> ConfigSources {
    let mut sets = Vec::new();
    if let Some(b) = &cli.backend {
        sets.push(format!("backend={b}"));
    }
    if let Some(d) = &cli.data_dir {
        sets.push(format!(
            "data.dir={}",
            toml_string(&d.display().to_string())
        ));
    }
    sets.extend(cli.sets.iter().cloned());
    ConfigSources::with_process_env(cli.config.clone(), sets)
}

fn load_config(sources: &ConfigSources) -> Result<Loaded> {
    load(sources)
}

/// Training options of an interactive run: a progress bar unless `no_progress`, and a Ctrl-C
/// handler whose first press finishes the current step, saves a checkpoint and exits cleanly
/// (a second press aborts at once).
fn interactive_training(resume: bool, no_progress: bool) -> gpfn_run::train::TrainOptions {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    if let Err(e) = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: saving a checkpoint (Ctrl-C again to abort at once)");
    }) {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    gpfn_run::train::TrainOptions {
        resume,
        progress: !no_progress,
        stop_after: None,
        interrupt: Some(interrupt),
    }
}

/// The trained run of `--run` (default: the config's `run.dir/run.name`) at `checkpoint`
/// (default: its newest), on the backend the flags ask for (default: the run's own).
fn open_run(
    sources: &ConfigSources,
    run: Option<&std::path::Path>,
    checkpoint: Option<&std::path::Path>,
) -> Result<gpfn_eval::TrainedRun> {
    let path = match run {
        Some(p) => p.to_path_buf(),
        None => {
            let c = load_config(sources)?.config;
            c.run.dir.join(&c.run.name)
        }
    };
    gpfn_eval::TrainedRun::open(&path, checkpoint, &sources.sets)
}

/// The sampler `name` (default: the config's) with `steps` steps (default: the config's).
/// An adaptive sampler takes no step count: asking it for one is an error.
fn pick_sampler(
    config: &gpfn_run::config::Config,
    name: Option<&str>,
    steps: Option<usize>,
) -> Result<Box<dyn gpfn_core::sampler::Sampler>> {
    let sampler = match name {
        Some(name) => gpfn_core::sampler::by_name(name, config.sampler.steps(), "--sampler")?,
        None => config.sampler.clone(),
    };
    Ok(match steps {
        Some(_) if sampler.tolerance().is_some() => {
            return Err(gpfn_core::GpfnError::Invalid(format!(
                "sampler `{}` chooses its steps by its error control: set its tolerance with \
                 `--set sampler.rtol=… --set sampler.atol=…` instead of a step count",
                gpfn_core::sampler::name_of(sampler.as_ref())
            )));
        }
        Some(n) => sampler.with_steps(n),
        None => sampler,
    })
}
