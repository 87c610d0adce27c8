//! One evaluation as JSON (written into the run folder as `eval/<sampler>-<nfe>.json`) and as
//! a readable table.

use super::Metrics;
use gpfn_core::Result;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What was evaluated, how, and the metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Run folder.
    pub run: String,
    /// Run name (the folder's name).
    pub name: String,
    /// Checkpoint folder of the weights.
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
    pub against: super::Against,
    /// Seed of the sampling noise.
    pub seed: u64,
    /// Classifier folder.
    pub classifier: String,
    /// The classifier's test accuracy.
    pub classifier_test_accuracy: f64,
    /// Wall time of sampling, seconds.
    pub sampling_seconds: f64,
    /// Wall time of sampling and metrics, seconds.
    pub total_seconds: f64,
    /// The metrics.
    pub metrics: Metrics,
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
    pub fn default_path(run_folder: &Path, tag: &str, against: super::Against) -> PathBuf {
        let dir = run_folder.join("eval");
        match against {
            super::Against::Test => dir,
            super::Against::Holdout => dir.join("holdout"),
        }
        .join(format!("{tag}.json"))
    }

    /// Writes the JSON atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        gpfn_io::atomic_write(path, self.to_json().as_bytes())
    }

    /// A readable table of the metrics.
    pub fn table(&self) -> String {
        let m = &self.metrics;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} ({}) · sampler {} · {} NFE · {} samples vs {} {} images",
            self.name,
            self.divergence,
            self.sampler,
            format_nfe(self.nfe),
            self.samples,
            self.reference,
            match self.against {
                super::Against::Test => "test",
                super::Against::Holdout => "held-out training",
            }
        );
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
        for (k, v) in rows {
            let _ = writeln!(s, "  {k:<16} {v}");
        }
        for (k, v) in &m.extra {
            let _ = writeln!(s, "  {k:<16} {v:.4}");
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
