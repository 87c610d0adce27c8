//! One evaluation as JSON (written into the run folder as `eval/<sampler>-<nfe>.json`) and as
//! a readable table.

use super::Metrics;
use super::against::Against;
use super::conditional::ConditionalMetrics;
use gpfn_core::Result;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How a report writes a path, so that it means the same on another machine (no report holds an
/// absolute path; docs/evaluation.md, "Paths in reports"): relative to the current directory
/// when it lies inside it (`runs/w2`, `docs/results/classifier-mnist`), else relative to the
/// folder the run `run` lies in (`w2`, `w2/checkpoints/step-00002000`), else by its own name.
pub fn report_path(path: &Path, run: &Path) -> String {
    let path = absolute(path);
    let cwd = std::env::current_dir().ok().map(|d| absolute(&d));
    let bases = cwd
        .iter()
        .filter(|d| d.parent().is_some())
        .cloned()
        .chain(absolute(run).parent().map(Path::to_path_buf));
    for base in bases {
        if let Ok(rel) = path.strip_prefix(&base)
            && rel.components().next().is_some()
        {
            return slashed(rel);
        }
    }
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

/// `path` made absolute, symbolic links resolved where it exists.
fn absolute(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A relative path with `/` between its components, on every platform.
fn slashed(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// What was evaluated, how, and the metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Run folder, as [`report_path`] writes it.
    pub run: String,
    /// Run name (the folder's name).
    pub name: String,
    /// Checkpoint folder of the weights, as [`report_path`] writes it.
    pub checkpoint: String,
    /// Divergence of the run.
    pub divergence: String,
    /// Sampler name.
    pub sampler: String,
    /// Network evaluations per sample actually made, averaged over the generation batches
    /// (= steps for the Euler-type samplers, `2·steps − 1` for Heun, what the error control
    /// spent for `dopri5`).
    pub nfe: f64,
    /// The adaptive sampler's tolerance (`rtol = atol`), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// Samples generated.
    pub samples: usize,
    /// Reference images.
    pub reference: usize,
    /// Which images the reference is: the test split, or the run's held-out training rows.
    #[serde(default)]
    pub against: Against,
    /// Seed of the sampling noise.
    pub seed: u64,
    /// Classifier folder, as [`report_path`] writes it.
    pub classifier: String,
    /// The classifier's test accuracy.
    pub classifier_test_accuracy: f64,
    /// Wall time of sampling, seconds.
    pub sampling_seconds: f64,
    /// Wall time of sampling and metrics, seconds.
    pub total_seconds: f64,
    /// The metrics.
    pub metrics: Metrics,
    /// A guided set's conditional metrics (`gpfn eval --class K|all --guidance w` on a
    /// class-conditional run; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditional: Option<ConditionalMetrics>,
}

impl EvalReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// `eval/<tag>.json` inside `run_folder` (`eval/holdout/<tag>.json` against the held-out
    /// rows, so that the two never overwrite each other), with the sampler's tag
    /// ([`gpfn_core::sampler::tag_of`]: `<sampler>-<steps>` as `--nfe` gives the steps, or
    /// `<sampler>-tol<rtol>` for an adaptive one; the report's `nfe` is the evaluations).
    pub fn default_path(run_folder: &Path, tag: &str, against: Against) -> PathBuf {
        let dir = run_folder.join("eval");
        match against {
            Against::Test => dir,
            Against::Holdout => dir.join("holdout"),
        }
        .join(format!("{tag}.json"))
    }

    /// The report with the absolute paths that earlier versions wrote (the machine's run,
    /// checkpoint and classifier folders) written as [`report_path`] writes them; relative
    /// paths are left as they are. Nothing is read from the folders they name.
    pub fn without_absolute_paths(mut self) -> EvalReport {
        let run = PathBuf::from(&self.run);
        for field in [&mut self.checkpoint, &mut self.classifier] {
            if Path::new(field.as_str()).is_absolute() {
                *field = report_path(Path::new(field.as_str()), &run);
            }
        }
        if run.is_absolute() {
            self.run = report_path(&run, &run);
        }
        self
    }

    /// Writes the JSON atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        gpfn_io::atomic_write(path, self.to_json().as_bytes())
    }

    /// A readable table of the metrics.
    pub fn table(&self) -> String {
        let m = &self.metrics;
        let mut s = Heading {
            name: &self.name,
            divergence: &self.divergence,
            sampler: &self.sampler,
            nfe: self.nfe,
            samples: self.samples,
            reference: self.reference,
            against: self.against,
        }
        .line("images");
        let rows: [(&str, String); 9] = [
            ("FID", format!("{:.3}", m.fid)),
            (
                "precision",
                format!("{:.4}  (k = {})", m.precision, m.options.k_precision_recall),
            ),
            ("recall", format!("{:.4}", m.recall)),
            (
                "density",
                format!("{:.4}  (k = {})", m.density, m.options.k_density_coverage),
            ),
            ("coverage", format!("{:.4}", m.coverage)),
            (
                "diversity",
                format!(
                    "{:.4}  (reference {:.4})",
                    m.diversity, m.reference_diversity
                ),
            ),
            (
                "classes covered",
                format!("{} of {}", m.classes.covered, m.classes.counts.len()),
            ),
            (
                "class histogram",
                m.classes
                    .counts
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            (
                "sampling",
                format!(
                    "{:.1} s ({:.1} s with metrics)",
                    self.sampling_seconds, self.total_seconds
                ),
            ),
        ];
        write_rows(&mut s, rows);
        for (k, v) in &m.extra {
            let _ = writeln!(s, "  {k:<16} {v:.4}");
        }
        if let Some(c) = &self.conditional {
            let _ = writeln!(
                s,
                "  {:<16} {:.4}  (class {}, guidance w = {})",
                "class accuracy", c.accuracy, c.class, c.guidance
            );
            if let Some(f) = c.balanced_fid {
                let _ = writeln!(s, "  {:<16} {f:.3}", "balanced FID");
            }
            if let Some(f) = c.mean_class_fid {
                let _ = writeln!(s, "  {:<16} {f:.3}", "mean class FID");
            }
            for k in &c.per_class {
                let _ = writeln!(
                    s,
                    "  {:<16} accuracy {:.3} · FID {} · {} samples",
                    format!("class {}", k.class),
                    k.accuracy,
                    k.fid.map_or("–".to_string(), |f| format!("{f:.3}")),
                    k.samples
                );
            }
        }
        let _ = writeln!(
            s,
            "  {:<16} {} (test accuracy {:.2}%)",
            "classifier",
            self.classifier,
            100.0 * self.classifier_test_accuracy
        );
        s
    }
}

/// An NFE as reports print it: whole numbers as integers, averages with one decimal.
pub fn format_nfe(nfe: f64) -> String {
    if nfe.fract() == 0.0 {
        format!("{nfe:.0}")
    } else {
        format!("{nfe:.1}")
    }
}

/// What the first line of a report's table says: the run, its sampler and NFE, and what its
/// samples were compared with.
pub(crate) struct Heading<'a> {
    pub name: &'a str,
    pub divergence: &'a str,
    pub sampler: &'a str,
    pub nfe: f64,
    pub samples: usize,
    pub reference: usize,
    pub against: Against,
}

impl Heading<'_> {
    /// `name (divergence) · sampler S · N NFE · n samples vs m <rows> <what>`, a line.
    pub(crate) fn line(&self, what: &str) -> String {
        format!(
            "{} ({}) · sampler {} · {} NFE · {} samples vs {} {} {what}\n",
            self.name,
            self.divergence,
            self.sampler,
            format_nfe(self.nfe),
            self.samples,
            self.reference,
            self.against.rows()
        )
    }
}

/// Appends `  key  value` lines, the keys padded to 16 characters.
pub(crate) fn write_rows<'a>(s: &mut String, rows: impl IntoIterator<Item = (&'a str, String)>) {
    for (k, v) in rows {
        let _ = writeln!(s, "  {k:<16} {v}");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every string in `v` (keys aside), for checks that none is a machine's path.
    pub(crate) fn strings(v: &serde_json::Value) -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
            serde_json::Value::Object(o) => o.values().flat_map(strings).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn report_paths_are_never_absolute() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path().join("runs");
        let run = runs.join("w2");
        let checkpoint = run.join("checkpoints/step-00000002");
        std::fs::create_dir_all(&checkpoint).unwrap();
        let classifier = runs.join("classifiers-mnist");
        std::fs::create_dir_all(&classifier).unwrap();
        assert!(run.is_absolute());
        // A run outside the current directory: its name, and the paths beside it relative to
        // the folder it lies in.
        assert_eq!(report_path(&run, &run), "w2");
        assert_eq!(
            report_path(&checkpoint, &run),
            "w2/checkpoints/step-00000002"
        );
        assert_eq!(report_path(&classifier, &run), "classifiers-mnist");
        // Elsewhere: by its own name.
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            report_path(other.path(), &run),
            other.path().file_name().unwrap().to_string_lossy()
        );
        // Inside the current directory (the crate's, under `cargo test`): relative to it,
        // whether given relative or absolute.
        let here = std::env::current_dir().unwrap();
        assert_eq!(report_path(Path::new("src"), &run), "src");
        assert_eq!(
            report_path(&here.join("src/report.rs"), &run),
            "src/report.rs"
        );
        // The current directory itself: by its name.
        let name = here.file_name().unwrap().to_string_lossy();
        assert_eq!(report_path(Path::new("."), Path::new(".")), name);
    }

    #[test]
    fn old_reports_lose_their_absolute_paths_and_keep_the_rest() {
        let mut old = crate::sweep::tests::report("w2", "deterministic", 20, 12.5);
        old.run = "/nowhere/runs/w2".into();
        old.checkpoint = "/nowhere/runs/w2/checkpoints/step-00002000".into();
        old.classifier = "/nowhere/runs/classifiers-mnist".into();
        let new = old.clone().without_absolute_paths();
        assert_eq!(new.run, "w2");
        assert_eq!(new.checkpoint, "w2/checkpoints/step-00002000");
        assert_eq!(new.classifier, "classifiers-mnist");
        let v = serde_json::to_value(&new).unwrap();
        for s in strings(&v) {
            assert!(!s.starts_with('/') && !s.contains("/nowhere"), "{s}");
        }
        let back = EvalReport {
            run: old.run.clone(),
            checkpoint: old.checkpoint.clone(),
            classifier: old.classifier.clone(),
            ..new.clone()
        };
        assert_eq!(back, old, "nothing else changes");
        // Relative paths (written as they were given, or by this version) stay as they are.
        assert_eq!(new.clone().without_absolute_paths(), new);
        let given = crate::sweep::tests::report("kl", "ancestral", 5, 1.0);
        assert_eq!(given.run, "runs/kl");
        assert_eq!(given.clone().without_absolute_paths(), given);
    }
}
