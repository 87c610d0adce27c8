//! `gpfn eval` and `gpfn eval classifier`.

use super::load_config;
use crate::cli::{ClassifierArgs, EvalArgs, EvalCommand, EvalCommon, EvalRunArgs, NllArgs};
use crate::output::{out, outln};
use gpfn_core::sampler;
use gpfn_core::{GpfnError, Result};
use gpfn_data::Split;
use gpfn_eval::classifier::{self, ClassifierInfo};
use gpfn_eval::{
    ClassifierTraining, DataSpaceReport, EvalOptions, EvalReport, Evaluator, MetricOptions,
    SinkhornMetric, train_classifier,
};
use gpfn_io as io;
use gpfn_run::backend;
use gpfn_run::condition::{ClassChoice, Guidance};
use gpfn_run::config::{Config, ConfigSources};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

pub fn run(sources: &ConfigSources, args: &EvalArgs) -> Result<()> {
    match &args.command {
        Some(EvalCommand::Classifier(c)) => classifier(sources, c),
        Some(EvalCommand::Nll(n)) => nll(sources, n),
        None => evaluate(sources, &args.run),
    }
}

/// `classifiers/<data.name>`.
pub fn default_classifier_dir(config: &Config) -> PathBuf {
    let data = serde_json::to_value(&config.data).unwrap_or_default();
    let name = data
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("data")
        .to_string();
    PathBuf::from("classifiers").join(name)
}

fn classifier(sources: &ConfigSources, args: &ClassifierArgs) -> Result<()> {
    let config = load_config(sources)?.config;
    let device = backend::device(&config.backend)?;
    let mut train = config.data.load(Split::Train, config.seed)?;
    let mut test = config.data.load(Split::Test, config.seed)?;
    for (table, limit) in [(&mut train, args.limit), (&mut test, args.test_limit)] {
        if let Some(n) = limit {
            let n = n.min(table.len());
            table.values.truncate(n * table.dim());
            if let Some(l) = table.labels.as_mut() {
                l.truncate(n);
            }
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_classifier_dir(&config));
    let data = serde_json::to_value(&config.data).unwrap_or_default();
    let (model, info) = train_classifier(
        &train,
        &test,
        data,
        &ClassifierTraining {
            epochs: args.epochs,
            batch_size: args.batch,
            lr: args.lr,
            seed: config.seed,
            progress: !args.no_progress,
        },
        &device,
    )?;
    classifier::save(&out, &model, &info)?;
    print_classifier(&info, &out)
}

fn print_classifier(info: &ClassifierInfo, out: &std::path::Path) -> Result<()> {
    outln!(
        "classifier {} · {} parameters · {} features · trained on {} images for {} epochs in {:.1} s\ntest accuracy {:.2}% ({} test images)",
        out.display(),
        info.parameters,
        info.spec.features,
        info.train_images,
        info.epochs,
        info.train_seconds,
        100.0 * info.test_accuracy,
        info.test_images
    )
}

/// The metric options and the evaluator the common flags describe, for `config`'s data.
pub fn evaluator(common: &EvalCommon, config: &Config) -> Result<Evaluator> {
    let dir = common
        .classifier
        .clone()
        .unwrap_or_else(|| default_classifier_dir(config));
    let device = backend::device(&config.backend)?;
    // Checked before the classifier and the reference features are loaded.
    let sinkhorn = common
        .sinkhorn_epsilon
        .map(|epsilon| {
            SinkhornMetric::new(epsilon, device.clone()).map_err(|e| match e {
                GpfnError::Invalid(m) => GpfnError::Invalid(format!("--sinkhorn-epsilon: {m}")),
                other => other,
            })
        })
        .transpose()?;
    let mut evaluator = Evaluator::new(
        &dir,
        config,
        common.reference,
        common.against.into(),
        MetricOptions {
            k_precision_recall: common.k_precision_recall,
            k_density_coverage: common.k_density_coverage,
        },
        &device,
    )?;
    if let Some(metric) = sinkhorn {
        evaluator.extra.push(Box::new(metric));
    }
    Ok(evaluator)
}

/// A progress bar over `total` units, or a hidden one.
pub fn bar(total: u64, show: bool, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {what} · eta {{eta}}"
        ))
        .expect("valid template"),
    );
    bar
}

fn evaluate(sources: &ConfigSources, args: &EvalRunArgs) -> Result<()> {
    let run = super::open_run(sources, args.run.as_deref(), args.checkpoint.as_deref())?;
    if args.common.count < 2 {
        return Err(GpfnError::Invalid(format!(
            "--count {}: the metrics need at least 2 samples (the paper's comparison uses 10000)",
            args.common.count
        )));
    }
    if args.nfe == Some(0) {
        return Err(GpfnError::Invalid("--nfe must be positive".into()));
    }
    let sampler = super::pick_sampler(&run.config, args.sampler.as_deref(), args.nfe)?;
    let guidance = eval_guidance(&run.config, args.common.class, args.guidance)?;
    let options = EvalOptions {
        samples: args.common.count,
        batch: args.common.batch,
        seed: args.common.seed.unwrap_or(run.config.seed),
        guidance,
    };
    // No classifier where the default folder is (and none named): distances in data space.
    let default_dir = default_classifier_dir(&run.config);
    if args.common.classifier.is_none() && !default_dir.join("classifier.json").is_file() {
        return evaluate_data_space(&run, sampler.as_ref(), &options, args, &default_dir);
    }
    let evaluator = evaluator(&args.common, &run.config)?;
    let progress = bar(options.samples as u64, !args.common.no_progress, "samples");
    let (report, values) = evaluator.evaluate(&run, sampler.as_ref(), &options, &mut |k| {
        progress.set_position(k as u64)
    })?;
    progress.finish_and_clear();
    let out = args.out.clone().unwrap_or_else(|| {
        EvalReport::default_path(
            run.folder.path(),
            &guided_tag(
                &sampler::tag_of(sampler.as_ref()),
                options.guidance.as_ref(),
            ),
            evaluator.against,
        )
    });
    report.write(&out)?;
    gpfn_eval::write_samples_npy(&out.with_extension("npy"), &values, &run.shape)?;
    gpfn_eval::write_samples_grid(&out.with_extension("png"), &values, &run.shape)?;
    if args.json {
        outln!("{}", report.to_json())?;
    } else {
        out!("{}", report.table())?;
    }
    eprintln!("written to {}", out.display());
    Ok(())
}

/// The guidance of `gpfn eval` and `gpfn sweep` on `config`'s run: on a class-conditional
/// run, `--class` (default `all`) at `--guidance` (default `condition.guidance`) when either is
/// given, else none (the null class, unguided, as before); on an unconditional run, either
/// flag is an error naming it, before any work.
pub fn eval_guidance(
    config: &Config,
    class: Option<ClassChoice>,
    weight: Option<f64>,
) -> Result<Option<Guidance>> {
    if let Some(w) = weight
        && !w.is_finite()
    {
        return Err(GpfnError::Config {
            key: "--guidance".into(),
            message: format!("the guidance weight must be a finite number, got {w}"),
        });
    }
    let condition = config.condition.as_ref();
    match (condition, class, weight) {
        (_, None, None) => Ok(None),
        (None, None, Some(_)) => Err(GpfnError::Config {
            key: "--guidance".into(),
            message: "this run is unconditional (its config has no [condition]): there is \
                      nothing to guide; train with [condition] classes = K"
                .into(),
        }),
        (condition, class, w) => Ok(Some(Guidance::new(
            class.unwrap_or(ClassChoice::All),
            w.unwrap_or(condition.map_or(0.0, |c| c.guidance)),
            condition,
        )?)),
    }
}

/// A sampler's report tag with the class and guidance weight of a guided evaluation
/// (`deterministic-20-class-all-w1`), so that the weights of a sweep keep their own files.
pub fn guided_tag(tag: &str, guidance: Option<&Guidance>) -> String {
    match guidance {
        Some(g) => format!("{tag}-class-{}-w{}", g.choice(), g.weight()),
        None => tag.to_string(),
    }
}

/// `gpfn eval` for a data set without a classifier: the energy distance and `S_ε` between
/// samples and reference rows in data space, with the note that FID needs a classifier.
fn evaluate_data_space(
    run: &gpfn_eval::TrainedRun,
    sampler: &dyn sampler::Sampler,
    options: &EvalOptions,
    args: &EvalRunArgs,
    classifier_dir: &std::path::Path,
) -> Result<()> {
    if let Some(epsilon) = args.common.sinkhorn_epsilon {
        gpfn_ot::Sinkhorn::with_epsilon(epsilon)
            .validate()
            .map_err(|e| match e {
                GpfnError::Invalid(m) => GpfnError::Invalid(format!("--sinkhorn-epsilon: {m}")),
                other => other,
            })?;
    }
    let against = args.common.against.into();
    let note = gpfn_eval::no_classifier_note(classifier_dir, run.folder.path());
    let progress = bar(options.samples as u64, !args.common.no_progress, "samples");
    let (report, values) = gpfn_eval::evaluate_data_space(
        run,
        sampler,
        options,
        gpfn_eval::DataSpaceComparison {
            reference: args.common.reference,
            against,
            epsilon: args.common.sinkhorn_epsilon,
            note,
        },
        &mut |k| progress.set_position(k as u64),
    )?;
    progress.finish_and_clear();
    let out = args.out.clone().unwrap_or_else(|| {
        DataSpaceReport::default_path(run.folder.path(), &sampler::tag_of(sampler), against)
    });
    report.write(&out)?;
    gpfn_eval::write_samples_npy(&out.with_extension("npy"), &values, &run.shape)?;
    gpfn_eval::write_samples_grid(&out.with_extension("png"), &values, &run.shape)?;
    if args.json {
        outln!("{}", report.to_json())?;
    } else {
        out!("{}", report.table())?;
    }
    eprintln!("written to {}", out.display());
    Ok(())
}

fn nll(sources: &ConfigSources, args: &NllArgs) -> Result<()> {
    let run = super::open_run(sources, args.run.as_deref(), args.checkpoint.as_deref())?;
    if args.count == Some(0) {
        return Err(GpfnError::Invalid("--count must be positive".into()));
    }
    let total = args.count.unwrap_or(10_000) as u64;
    let progress = bar(total, !args.no_progress, "test images");
    let report = gpfn_eval::nll(
        &run,
        &gpfn_eval::NllOptions {
            items: args.count,
            batch: args.batch,
            seed: args.seed.unwrap_or(run.config.seed),
        },
        &mut |k| progress.set_position(k as u64),
    )?;
    progress.finish_and_clear();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| run.folder.path().join("eval").join("nll.json"));
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    io::atomic_write(&out, json.as_bytes())?;
    if args.json {
        outln!("{json}")?;
    } else {
        out!("{}", report.table())?;
    }
    eprintln!("written to {}", out.display());
    Ok(())
}
