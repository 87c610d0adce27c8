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
    /// Network evaluations per sample (= steps).
    pub nfe: usize,
    /// Samples generated.
    pub samples: usize,
    /// Reference (test) images.
    pub reference: usize,
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

    /// `eval/<sampler>-<steps>.json` inside `run_folder`: named by the sampler's steps, as
    /// `--nfe` gives them (the report's `nfe` is the network evaluations, `2·steps − 1` for
    /// Heun).
    pub fn default_path(run_folder: &Path, sampler: &str, steps: usize) -> PathBuf {
        run_folder
            .join("eval")
            .join(format!("{sampler}-{steps}.json"))
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
            "{} ({}) · sampler {} · {} NFE · {} samples vs {} reference images",
            self.name, self.divergence, self.sampler, self.nfe, self.samples, self.reference
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
