//! `gpfn lfm train|sample|nll` (and `gpfn train` on a config with `[workflow.lfm]`).

use super::{load_config, pick_sampler};
use crate::cli::{LfmCommand, TrainArgs};
use crate::output::outln;
use gpfn_core::Result;
use gpfn_core::sampler::tag_of;
use gpfn_data::Split;
use gpfn_io as io;
use gpfn_lfm::LfmSettings;
use gpfn_run::config::{ConfigSources, Loaded};

pub fn run(sources: &ConfigSources, cmd: LfmCommand) -> Result<()> {
    let loaded = load_config(sources)?;
    match cmd {
        LfmCommand::Train(args) => train(&loaded, &args),
        LfmCommand::Sample(args) => {
            let config = &loaded.config;
            let settings = LfmSettings::from_workflow(&loaded.workflow)?;
            let sampler = pick_sampler(config, args.sampler.as_deref(), args.steps)?;
            let count = args.count.unwrap_or(config.sample.count);
            let seed = args.seed.unwrap_or(config.seed);
            let (x, shape, nfe) =
                gpfn_lfm::sample(config, &settings, count, sampler.as_ref(), seed)?;
            let dir = gpfn_lfm::workflow::root(config).join("samples");
            let path = dir.join(format!("lfm-{}.npy", tag_of(sampler.as_ref())));
            let mut full = vec![count];
            full.extend_from_slice(&shape);
            io::write_npy(&path, &x, &full)?;
            tracing::info!(nfe, blocks = settings.blocks + 1, "lfm samples");
            outln!("{}", path.display())?;
            if args.distances {
                let device = gpfn_run::backend::device(&config.backend)?;
                let test = config.data.load(Split::Test, config.seed)?;
                let dim = test.dim();
                let d = gpfn_eval::data_space_distances(&x, &test.values, dim, None, &device)?;
                let report = serde_json::json!({
                    "sampler": tag_of(sampler.as_ref()),
                    "nfe": nfe,
                    "samples": count,
                    "reference": test.len(),
                    "distances": d,
                });
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                )?;
            }
            if let Some(dir) = &args.classifier {
                let device = gpfn_run::backend::device(&config.backend)?;
                let ev = gpfn_eval::Evaluator::new(
                    dir,
                    config,
                    None,
                    gpfn_eval::Against::Test,
                    gpfn_eval::MetricOptions::default(),
                    &device,
                )?;
                let got = gpfn_eval::classifier::embed(&ev.classifier, &x, 500, &device)?;
                let metrics = ev.reference.compare(
                    &got.features,
                    &got.predicted,
                    ev.info.spec.classes,
                    &[],
                )?;
                let report = serde_json::json!({
                    "sampler": tag_of(sampler.as_ref()),
                    "nfe": nfe,
                    "samples": count,
                    "reference": ev.reference_count,
                    "classifier": dir.display().to_string(),
                    "metrics": metrics,
                });
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                )?;
            }
            Ok(())
        }
        LfmCommand::Nll(args) => {
            let settings = LfmSettings::from_workflow(&loaded.workflow)?;
            let report =
                gpfn_lfm::nll(&loaded.config, &settings, args.count, args.batch, args.seed)?;
            let json = serde_json::to_string_pretty(&report).expect("report serialises");
            outln!("{json}")?;
            Ok(())
        }
    }
}

pub fn train(loaded: &Loaded, args: &TrainArgs) -> Result<()> {
    let settings = LfmSettings::from_workflow(&loaded.workflow)?;
    let out = gpfn_lfm::train(
        &loaded.config,
        &settings,
        &super::interactive_training(args.resume, args.no_progress),
    )?;
    tracing::info!(
        trained = ?out.trained.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        skipped = ?out.skipped,
        push_nfe = ?out.push_nfe,
        push_seconds = format!("{:.1}", out.push_seconds),
        train_seconds = format!(
            "{:.1}",
            out.trained.iter().map(|(_, s)| s.seconds).sum::<f64>()
        ),
        "{}",
        if out.interrupted { "lfm stopped" } else { "lfm done" }
    );
    outln!("{}", out.root.display())?;
    Ok(())
}
