//! `gpfn sweep`.

use super::eval::{eval_guidance, evaluator};
use crate::cli::SweepArgs;
use crate::output::out;
use gpfn_core::{GpfnError, Result};
use gpfn_eval::{
    EvalOptions, EvalReport, SweepOptions, TrainedRun, markdown, read_sweep, sweep, write_sweep,
};
use gpfn_run::config::ConfigSources;

pub fn run(sources: &ConfigSources, args: &SweepArgs) -> Result<()> {
    let mut reports = Vec::new();
    for path in &args.merge {
        reports.extend(read_sweep(path)?);
    }
    if !args.runs.is_empty() {
        reports.extend(evaluate(sources, args)?);
    }
    let files = write_sweep(&reports, &args.out)?;
    out!("{}", markdown(&reports))?;
    eprintln!(
        "written {}, {}, {} and {}{}",
        files.csv.display(),
        files.markdown.display(),
        files.json.display(),
        files.plot.display(),
        files
            .guidance_plot
            .as_ref()
            .map_or(String::new(), |p| format!(" and {}", p.display()))
    );
    Ok(())
}

/// Evaluates the runs of `args` at every sampler × NFE.
fn evaluate(sources: &ConfigSources, args: &SweepArgs) -> Result<Vec<EvalReport>> {
    let runs = args
        .runs
        .iter()
        .map(|p| TrainedRun::open(p, None, &sources.sets))
        .collect::<Result<Vec<_>>>()?;
    if args.common.count < 2 {
        return Err(GpfnError::Invalid(format!(
            "--count {}: the metrics need at least 2 samples",
            args.common.count
        )));
    }
    let first = &runs[0].config;
    let data = |c: &gpfn_run::config::Config| serde_json::to_value(&c.data).unwrap_or_default();
    if let Some(other) = runs.iter().find(|r| data(&r.config) != data(first)) {
        return Err(GpfnError::Invalid(format!(
            "runs {} and {} were trained on different data; a sweep compares runs of one data set",
            runs[0].folder.path().display(),
            other.folder.path().display()
        )));
    }
    // Guidance flags are checked on every run before the classifier loads.
    let mut guidances = Vec::new();
    for run in &runs {
        for &w in &args.guidance {
            guidances.push((
                run.folder.path().to_path_buf(),
                eval_guidance(&run.config, args.common.class, Some(w))?,
            ));
        }
    }
    let base = eval_guidance(first, args.common.class, None)?;
    if runs.len() > 1 && !args.guidance.is_empty() {
        let conditions: Vec<_> = runs.iter().map(|r| r.config.condition).collect();
        if conditions
            .iter()
            .any(|c| c.map(|c| c.classes) != conditions[0].map(|c| c.classes))
        {
            return Err(GpfnError::Invalid(
                "--guidance: the runs of a guided sweep must all be conditional over the same classes"
                    .into(),
            ));
        }
    }
    let guidances: Vec<_> = guidances
        .into_iter()
        .filter(|(p, _)| p == runs[0].folder.path())
        .filter_map(|(_, g)| g)
        .collect();
    let evaluator = evaluator(&args.common, first)?;
    let options = SweepOptions {
        nfes: args.nfe.clone(),
        tolerances: args.tolerances.clone(),
        samplers: args.samplers.clone(),
        eval: EvalOptions {
            samples: args.common.count,
            batch: args.common.batch,
            seed: args.common.seed.unwrap_or(first.seed),
            guidance: base,
        },
        guidances,
        progress: !args.common.no_progress,
    };
    sweep(&runs, &evaluator, &options)
}
