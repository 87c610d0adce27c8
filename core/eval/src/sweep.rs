//! The paper's comparison: every run × sampler × NFE, evaluated against the same reference,
//! with a progress bar over the whole sweep; written as CSV, a markdown table and a plot of
//! FID against NFE.

use super::report::{EvalReport, format_nfe};
use super::run_eval::{EvalOptions, Evaluator, TrainedRun};
use gpfn_core::sampler::by_name;
use gpfn_core::{GpfnError, Result};
use gpfn_run::condition::Guidance;
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The NFE grid of the paper's comparison.
pub const DEFAULT_NFES: [usize; 5] = [5, 10, 20, 50, 100];

/// The tolerances an adaptive sampler (`dopri5`) is swept over.
pub const DEFAULT_TOLERANCES: [f64; 3] = [1e-2, 1e-3, 1e-5];

/// The samplers compared: the deterministic chain and the ancestral (DDPM-type) one, which is
/// BFN's own sampler for Gaussian beliefs (the sender's noise) and, for particle flows, the
/// straight path's Gaussian posterior at η = 1. Chosen by measurement over `stochastic`
/// (η-resampling, which drifts to typical digits as NFE grows) and `sde`: on W2, 1 000
/// held-out samples at 10 / 20 / 100 NFE gave FID 119 / 81 / 54 for `ancestral` and
/// 107 / 81 / 68 for `sde` (docs/results.md, "W2's stochastic samplers").
pub const DEFAULT_SAMPLERS: [&str; 2] = ["deterministic", "ancestral"];

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Steps of the fixed-step samplers (network evaluations per sample, except Heun's).
    pub nfes: Vec<usize>,
    /// Tolerances (`rtol = atol`) of the adaptive samplers (`dopri5`), which take no step
    /// count: their NFE is what the error control spends, measured.
    pub tolerances: Vec<f64>,
    /// Sampler names.
    pub samplers: Vec<String>,
    /// Samples, batch and seed of every evaluation (its `guidance` is replaced by each of
    /// `guidances` in turn).
    pub eval: EvalOptions,
    /// The guidances every sampler × NFE is evaluated at (`gpfn sweep --guidance 0,1,2` on a
    /// class-conditional run); empty: `eval.guidance` alone.
    pub guidances: Vec<Guidance>,
    /// Draw a progress bar.
    pub progress: bool,
}

/// Evaluates every run with every sampler at every NFE; each report is also written to its
/// run folder (`eval/<sampler>-<steps>.json`).
pub fn sweep(
    runs: &[TrainedRun],
    evaluator: &Evaluator,
    options: &SweepOptions,
) -> Result<Vec<EvalReport>> {
    if options.nfes.is_empty() || options.samplers.is_empty() || runs.is_empty() {
        return Err(GpfnError::Invalid(
            "a sweep needs at least one run, one sampler and one NFE".into(),
        ));
    }
    if let Some(n) = options.nfes.iter().find(|&&n| n == 0) {
        return Err(GpfnError::Invalid(format!("NFE must be positive, got {n}")));
    }
    if let Some(t) = options
        .tolerances
        .iter()
        .find(|t| !(t.is_finite() && **t > 0.0))
    {
        return Err(GpfnError::Invalid(format!(
            "tolerances must be positive and finite, got {t}"
        )));
    }
    // The grid of samplers, built once, before the long work starts (so a bad name fails
    // first). `--nfe` gives each fixed-step sampler's steps (Heun evaluates the network
    // 2·steps − 1 times); `--tolerances` each adaptive sampler's tolerance.
    let mut grid = Vec::new();
    for name in &options.samplers {
        let probe = by_name(name, 1, "--samplers")?;
        if probe.with_tolerance(1.0).is_some() {
            if options.tolerances.is_empty() {
                return Err(GpfnError::Invalid(format!(
                    "sampler `{name}` is adaptive: give its tolerances with --tolerances"
                )));
            }
            for sampler in options
                .tolerances
                .iter()
                .filter_map(|&tol| probe.with_tolerance(tol))
            {
                grid.push((name, sampler));
            }
        } else {
            for &steps in &options.nfes {
                grid.push((name, by_name(name, steps, "--samplers")?));
            }
        }
    }
    // Work is proportional to samples × NFE: the bar counts network evaluations per sample.
    let guidances: Vec<Option<Guidance>> = if options.guidances.is_empty() {
        vec![options.eval.guidance.clone()]
    } else {
        options.guidances.iter().cloned().map(Some).collect()
    };
    let cost = |g: &Option<Guidance>| g.as_ref().map_or(1, Guidance::evaluations);
    let per_run: usize = grid.iter().map(|(_, s)| s.evaluations()).sum::<usize>()
        * guidances.iter().map(cost).sum::<usize>();
    let total = (runs.len() * per_run * options.eval.samples) as u64;
    let bar = if options.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% · {msg} · eta {eta}",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut reports = Vec::new();
    let mut done = 0u64;
    for run in runs {
        for ((name, sampler), guidance) in grid
            .iter()
            .flat_map(|g| guidances.iter().map(move |w| (g, w)))
        {
            let evaluations = sampler.evaluations() * cost(guidance);
            let tag = gpfn_core::sampler::tag_of(sampler.as_ref());
            let tag = match guidance {
                Some(g) => format!("{tag}-class-{}-w{}", g.choice(), g.weight()),
                None => tag,
            };
            bar.set_message(format!("{} · {tag}", run.name()));
            let eval = EvalOptions {
                guidance: guidance.clone(),
                ..options.eval.clone()
            };
            let (report, values) = evaluator.evaluate(run, sampler.as_ref(), &eval, &mut |k| {
                bar.set_position(done + (k * evaluations) as u64)
            })?;
            done += (options.eval.samples * evaluations) as u64;
            bar.set_position(done);
            let path = EvalReport::default_path(run.folder.path(), &tag, evaluator.against);
            report.write(&path)?;
            super::run_eval::write_samples_npy(&path.with_extension("npy"), &values, &run.shape)?;
            super::run_eval::write_samples_grid(&path.with_extension("png"), &values, &run.shape)?;
            let conditional = report.conditional.as_ref().map_or(String::new(), |c| {
                format!(" · w {} · class accuracy {:.3}", c.guidance, c.accuracy)
            });
            bar.println(format!(
                "{} · {name} · {:>5} NFE · FID {:.3} · precision {:.3} · recall {:.3} · classes {}{conditional}",
                run.name(),
                format_nfe(report.nfe),
                report.metrics.fid,
                report.metrics.precision,
                report.metrics.recall,
                report.metrics.classes.covered
            ));
            reports.push(report);
        }
    }
    bar.finish_and_clear();
    Ok(reports)
}

const CSV_HEADER: &str = "run,divergence,sampler,nfe,samples,reference,fid,precision,recall,density,coverage,diversity,reference_diversity,classes_covered,class_histogram,sampling_seconds,tolerance,guidance,class,class_accuracy,mean_class_fid";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV line per report (class histogram space-separated in one field).
pub fn csv(reports: &[EvalReport]) -> String {
    let mut s = format!("{CSV_HEADER}\n");
    for r in reports {
        let m = &r.metrics;
        let hist: Vec<String> = m.classes.counts.iter().map(|c| c.to_string()).collect();
        let c = r.conditional.as_ref();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{},{},{},{},{}",
            csv_field(&r.name),
            csv_field(&r.divergence),
            csv_field(&r.sampler),
            r.nfe,
            r.samples,
            r.reference,
            m.fid,
            m.precision,
            m.recall,
            m.density,
            m.coverage,
            m.diversity,
            m.reference_diversity,
            m.classes.covered,
            hist.join(" "),
            r.sampling_seconds,
            r.tolerance.map(|t| format!("{t:e}")).unwrap_or_default(),
            c.map(|c| c.guidance.to_string()).unwrap_or_default(),
            c.map(|c| csv_field(&c.class)).unwrap_or_default(),
            c.map(|c| c.accuracy.to_string()).unwrap_or_default(),
            c.and_then(|c| c.mean_class_fid)
                .map(|f| f.to_string())
                .unwrap_or_default()
        );
    }
    s
}

/// The sampler as tables show it: its name, with the tolerance of an adaptive one.
pub fn sampler_label(r: &EvalReport) -> String {
    match r.tolerance {
        Some(t) => format!("{} (tol {t:e})", r.sampler),
        None => r.sampler.clone(),
    }
}

/// A markdown table of the reports.
pub fn markdown(reports: &[EvalReport]) -> String {
    let mut s = String::from(
        "| run | divergence | sampler | NFE | FID | precision | recall | density | coverage | diversity | classes | sampling s |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let m = &r.metrics;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {}/{} | {:.1} |",
            r.name,
            r.divergence,
            sampler_label(r),
            format_nfe(r.nfe),
            m.fid,
            m.precision,
            m.recall,
            m.density,
            m.coverage,
            m.diversity,
            m.classes.covered,
            m.classes.counts.len(),
            r.sampling_seconds
        );
    }
    let guided: Vec<&EvalReport> = reports.iter().filter(|r| r.conditional.is_some()).collect();
    if !guided.is_empty() {
        s.push_str(
            "\n| run | sampler | NFE | class | w | FID | class accuracy | mean class FID |\n\
             |---|---|---:|---|---:|---:|---:|---:|\n",
        );
        for r in guided {
            let c = r.conditional.as_ref().expect("filtered");
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.2} | {:.3} | {} |",
                r.name,
                sampler_label(r),
                format_nfe(r.nfe),
                c.class,
                c.guidance,
                r.metrics.fid,
                c.accuracy,
                c.mean_class_fid.map_or("–".into(), |f| format!("{f:.2}"))
            );
        }
    }
    if let Some(r) = reports.first() {
        // Merged sweeps may differ in sample count: then say each run's.
        let mut counts: Vec<(String, usize)> = Vec::new();
        for q in reports {
            if !counts.iter().any(|(n, c)| *n == q.name && *c == q.samples) {
                counts.push((q.name.clone(), q.samples));
            }
        }
        let samples = if counts.iter().all(|(_, c)| *c == r.samples) {
            format!("{} samples per row", r.samples)
        } else {
            let each: Vec<String> = counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
            format!("samples per row: {}", each.join(", "))
        };
        let _ = writeln!(
            s,
            "\n{samples} against {} reference images; reference diversity {:.3}; \
             classifier {} (test accuracy {:.2}%).",
            r.reference,
            r.metrics.reference_diversity,
            r.classifier,
            100.0 * r.classifier_test_accuracy
        );
    }
    s
}

/// Paths a sweep writes.
#[derive(Clone, Debug)]
pub struct SweepFiles {
    /// `sweep.csv`.
    pub csv: PathBuf,
    /// `sweep.md`.
    pub markdown: PathBuf,
    /// `fid-vs-nfe.png`.
    pub plot: PathBuf,
    /// `fid-vs-guidance.png`: FID and class accuracy against the guidance weight (written
    /// when the sweep has guided reports).
    pub guidance_plot: Option<PathBuf>,
    /// `sweep.json`: every report.
    pub json: PathBuf,
}

/// Reads the reports of an earlier sweep's `sweep.json`, so that sweeps run apart (in
/// parallel, or on other machines) are written as one table and one plot. Nothing is read
/// from the run folders the reports name, so they need not exist here; the absolute paths
/// that earlier versions wrote are read and written back as
/// [`report_path`](crate::report_path) writes paths
/// ([`EvalReport::without_absolute_paths`]).
pub fn read_sweep(path: &Path) -> Result<Vec<EvalReport>> {
    let text = std::fs::read_to_string(path).map_err(|e| GpfnError::io(path, e))?;
    let reports: Vec<EvalReport> = serde_json::from_str(&text).map_err(|e| GpfnError::Data {
        path: path.to_path_buf(),
        message: format!("not a sweep.json (a list of evaluation reports): {e}"),
    })?;
    Ok(reports
        .into_iter()
        .map(EvalReport::without_absolute_paths)
        .collect())
}

/// Writes `sweep.csv`, `sweep.md`, `sweep.json` and `fid-vs-nfe.png` into `dir`.
pub fn write_sweep(reports: &[EvalReport], dir: &Path) -> Result<SweepFiles> {
    let files = SweepFiles {
        csv: dir.join("sweep.csv"),
        markdown: dir.join("sweep.md"),
        plot: dir.join("fid-vs-nfe.png"),
        guidance_plot: reports
            .iter()
            .any(|r| r.conditional.is_some())
            .then(|| dir.join("fid-vs-guidance.png")),
        json: dir.join("sweep.json"),
    };
    gpfn_io::atomic_write(&files.csv, csv(reports).as_bytes())?;
    gpfn_io::atomic_write(&files.markdown, markdown(reports).as_bytes())?;
    let json = serde_json::to_vec_pretty(reports).expect("reports serialise");
    gpfn_io::atomic_write(&files.json, &json)?;
    super::plot::fid_against_nfe(reports, &files.plot)?;
    if let Some(p) = &files.guidance_plot {
        super::plot::fid_and_accuracy_against_guidance(reports, p)?;
    }
    Ok(files)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{ClassHistogram, MetricOptions, Metrics};

    pub(crate) fn report(name: &str, sampler: &str, nfe: usize, fid: f64) -> EvalReport {
        EvalReport {
            run: format!("runs/{name}"),
            name: name.into(),
            checkpoint: "c".into(),
            divergence: name.into(),
            sampler: sampler.into(),
            nfe: nfe as f64,
            tolerance: None,
            samples: 10,
            reference: 20,
            against: crate::Against::Test,
            seed: 0,
            classifier: "classifiers/mnist".into(),
            classifier_test_accuracy: 0.98,
            sampling_seconds: 1.0,
            total_seconds: 2.0,
            metrics: Metrics {
                fid,
                precision: 0.5,
                recall: 0.25,
                density: 1.0,
                coverage: 0.75,
                diversity: 3.0,
                reference_diversity: 4.0,
                classes: ClassHistogram::of(&[1, 1, 2], 10).unwrap(),
                options: MetricOptions::default(),
                extra: Default::default(),
            },
            conditional: None,
        }
    }

    fn reports() -> Vec<EvalReport> {
        let mut v = Vec::new();
        for (name, base) in [("kl", 1500.0), ("w2", 60.0)] {
            for sampler in DEFAULT_SAMPLERS {
                for nfe in DEFAULT_NFES {
                    v.push(report(name, sampler, nfe, base * 20.0 / nfe as f64));
                }
            }
        }
        v
    }

    #[test]
    fn csv_and_markdown_have_one_row_per_report() {
        let r = reports();
        let c = csv(&r);
        assert_eq!(c.lines().count(), 21);
        assert_eq!(c.lines().next().unwrap(), CSV_HEADER);
        assert_eq!(
            c.lines().nth(1).unwrap(),
            "kl,kl,deterministic,5,10,20,6000,0.5,0.25,1,0.75,3,4,2,0 2 1 0 0 0 0 0 0 0,1.000,,,,,"
        );
        let m = markdown(&r);
        assert!(m.contains("| w2 | w2 | ancestral | 100 | 12.00 | 0.500 | 0.250 | 1.000 | 0.750 | 3.000 | 2/10 | 1.0 |"), "{m}");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }

    #[test]
    fn a_written_sweep_reads_back_and_merged_counts_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_sweep(&reports(), dir.path()).unwrap();
        assert_eq!(read_sweep(&files.json).unwrap(), reports());
        assert!(markdown(&reports()).contains("\n10 samples per row against 20 reference"));
        let mut merged = reports();
        merged[0].samples = 7;
        let m = markdown(&merged);
        assert!(
            m.contains("samples per row: kl 7, kl 10, w2 10 against"),
            "{m}"
        );
        let err = read_sweep(&files.csv).unwrap_err().to_string();
        assert!(
            err.contains("sweep.csv") && err.contains("not a sweep.json"),
            "{err}"
        );
    }

    /// `--merge` of a sweep.json written before reports dropped the machine's paths: it
    /// reads (the folders it names need not exist) and the merged sweep.json holds no
    /// absolute path; a sweep.json written now reads back as it was written.
    #[test]
    fn a_sweep_with_absolute_paths_merges_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = reports();
        for r in &mut old {
            r.run = format!("/nowhere/runs/{}", r.name);
            r.checkpoint = format!("/nowhere/runs/{}/checkpoints/step-00002000", r.name);
            r.classifier = "/nowhere/classifiers/mnist".into();
        }
        let path = dir.path().join("old.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
        let read = read_sweep(&path).unwrap();
        assert_eq!(read.len(), old.len());
        for (r, o) in read.iter().zip(&old) {
            assert_eq!(r.run, r.name);
            assert_eq!(
                r.checkpoint,
                format!("{}/checkpoints/step-00002000", r.name)
            );
            assert_eq!(r.classifier, "mnist");
            assert_eq!(r.metrics, o.metrics);
        }
        let mut merged = read;
        merged.extend(reports());
        let out = dir.path().join("merged");
        let files = write_sweep(&merged, &out).unwrap();
        let text = std::fs::read_to_string(&files.json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for s in crate::report::tests::strings(&v) {
            assert!(!s.starts_with('/') && !s.contains("nowhere"), "{s}");
        }
        let md = std::fs::read_to_string(&files.markdown).unwrap();
        assert!(!md.contains("/nowhere"), "{md}");
        assert_eq!(read_sweep(&files.json).unwrap(), merged);
    }

    #[test]
    fn the_plot_is_drawn_with_and_without_text() {
        let dir = tempfile::tempdir().unwrap();
        // Without text first: before anything registered the font, so a stray text
        // element would fail here as it would on a machine without the font.
        let plain = dir.path().join("plain.png");
        crate::plot::fid_against_nfe_with_text(&reports()[..5], &plain, false).unwrap();
        let files = write_sweep(&reports(), dir.path()).unwrap();
        for p in [&files.csv, &files.markdown, &files.json, &files.plot] {
            assert!(p.exists(), "{}", p.display());
        }
        for p in [&files.plot, &plain] {
            let img = image::open(p).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (960, 640));
            // Lines and markers: plenty of coloured (non-grey) pixels.
            let coloured = img
                .pixels()
                .filter(|px| px.0.iter().max().unwrap() - px.0.iter().min().unwrap() > 60)
                .count();
            assert!(
                coloured > 1000,
                "{}: {coloured} coloured pixels",
                p.display()
            );
        }
        assert!(crate::plot::fid_against_nfe_with_text(&[], &plain, false).is_err());
    }
}
