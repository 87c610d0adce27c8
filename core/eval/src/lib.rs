//! Evaluation of generated samples: an image classifier whose penultimate features serve
//! every metric, and the metrics themselves.
//!
//! | file | concept |
//! |---|---|
//! | `classifier.rs` | the small CNN, its feature extraction, saving and loading |
//! | `train_classifier.rs` | training it with cross-entropy, its test accuracy |
//! | `features.rs` | feature sets |
//! | `fid.rs` | Fréchet distance of feature Gaussians (FID) |
//! | `neighbours.rs` | pairwise distances, `k`-NN radii, ball membership |
//! | `precision_recall.rs` | improved precision and recall (Kynkäänniemi et al. 2019) |
//! | `density_coverage.rs` | density and coverage (Naeem et al. 2020) |
//! | `diversity.rs` | mean pairwise feature distance |
//! | `sinkhorn_metric.rs` | the debiased Sinkhorn divergence of the features (optional) |
//! | `data_space.rs` | energy distance and `S_ε` on the data themselves, for data without a classifier |
//! | `classes.rs` | predicted-class histogram and classes covered |
//! | `conditional.rs` | a guided set's conditional accuracy and per-class FIDs |
//! | `metrics.rs` | all of the above for one sample set against a prepared reference |
//! | `against.rs` | which images the samples are compared with: the test split or held-out rows |
//! | `report.rs` | one evaluation as JSON and as a readable table |
//! | `run_eval.rs` | evaluating a trained run: samples → features → metrics |
//! | `sweep.rs` | NFE × sampler (× guidance) sweeps: CSV, markdown, plots |
//! | `plot.rs` | the FID-against-NFE picture; FID and class accuracy against `w` |

mod against;
mod classes;
pub mod classifier;
mod conditional;
mod data_space;
mod density_coverage;
mod diversity;
mod features;
mod fid;
mod metrics;
mod neighbours;
mod nll;
mod plot;
mod precision_recall;
mod report;
mod run_eval;
mod sinkhorn_metric;
mod sweep;
mod train_classifier;

pub use against::Against;
pub use classes::ClassHistogram;
pub use conditional::{ClassScore, ConditionalMetrics, GuidedSet, conditional_metrics};
pub use data_space::{
    DEFAULT_EPSILON_FRACTION, DataSpaceComparison, DataSpaceDistances, DataSpaceReport, Estimate,
    data_space_distances, energy_distance, evaluate_data_space, median_squared_distance,
    no_classifier_note, sinkhorn_subsets, subsets_for,
};
pub use density_coverage::{DensityCoverage, density_coverage};
pub use diversity::diversity;
pub use features::Features;
pub use fid::{GaussianStats, fid, frechet_distance, sqrtm_psd, trace_sqrt_product};
pub use metrics::{MetricOptions, Metrics, Reference};
pub use nll::{NllOptions, nll};
pub use plot::{FONT_PATHS, fid_against_nfe, fid_and_accuracy_against_guidance};
pub use precision_recall::{PrecisionRecall, precision_recall};
pub use report::{EvalReport, format_nfe, report_path};
pub use run_eval::{
    EvalOptions, Evaluator, TrainedRun, as_images, write_samples_grid, write_samples_npy,
};
pub use sinkhorn_metric::SinkhornMetric;
pub use sweep::{
    DEFAULT_NFES, DEFAULT_SAMPLERS, DEFAULT_TOLERANCES, SweepFiles, SweepOptions, csv, markdown,
    read_sweep, sweep, write_sweep,
};
pub use train_classifier::{ClassifierTraining, train_classifier};

use gpfn_core::Result;

/// A further metric of generated features against reference features, reported under its
/// name in [`Metrics::extra`]: the hook for distances that live elsewhere, such as
/// [`SinkhornMetric`] (the debiased Sinkhorn divergence of `gpfn_ot`).
pub trait FeatureMetric: Send + Sync {
    /// Key in the report.
    fn name(&self) -> &str;
    /// The value for `real` against `fake`.
    fn compute(&self, real: &Features, fake: &Features) -> Result<f64>;
}
