//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// General Proximal Flow Networks: generative models whose every step is a proximal update
/// of a belief under a chosen divergence.
#[derive(Debug, Parser)]
#[command(name = "gpfn", version, about, long_about = None)]
pub struct Cli {
    /// Experiment config (TOML), layered over the built-in defaults.
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Override one config value, e.g. `--set train.lr=3e-4` (repeatable; highest layer).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub sets: Vec<String>,

    /// Tensor backend: flex (CPU), wgpu or cuda (same as `--set backend=…`).
    #[arg(long, global = true, value_name = "NAME",
          value_parser = clap::builder::PossibleValuesParser::new(gpfn_run::backend::BACKENDS))]
    pub backend: Option<String>,

    /// Folder of the data set's files (same as `--set data.dir=…`).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// More log output (-v debug, -vv trace).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model; writes the run folder `run.dir/run.name`.
    Train(TrainArgs),
    /// Draw samples from a trained run (.npy, and a PNG picture).
    Sample(SampleArgs),
    /// List the registered plugins.
    Plugins(PluginsArgs),
    /// Write plugin crates: `gpfn plugin new NAME` scaffolds a divergence plugin.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print the resolved configuration and where each value came from.
    Config(ConfigArgs),
    /// Measure training-step time and sampling throughput; prints and writes JSON.
    Bench(BenchArgs),
    /// Reflow a trained rectified flow: generate (noise, sample) pairs from it, train the
    /// next flow on them (the config's `reflow-pairs` data), optionally distil to one step.
    Reflow(ReflowArgs),
    /// Local Flow Matching: a flow trained as a sequence of JKO blocks (`[workflow.lfm]`);
    /// `gpfn train` on such a config is `gpfn lfm train`.
    #[command(subcommand)]
    Lfm(LfmCommand),
    /// Evaluate a run's samples against the test images (FID, precision/recall, density/
    /// coverage, diversity, classes); `gpfn eval classifier` trains the feature classifier.
    /// Without one (no `--classifier` and none in `classifiers/<data.name>`), the energy
    /// distance and the Sinkhorn divergence in data space, with standard errors.
    Eval(EvalArgs),
    /// Evaluate runs at several NFE with several samplers: CSV, markdown table, PNG plot.
    Sweep(SweepArgs),
    /// The maths from the shell: JSON in, JSON out.
    #[command(subcommand)]
    Math(MathCommand),
    /// Data sets on disk: `gpfn data fetch mnist` downloads one into the cache.
    #[command(subcommand)]
    Data(DataCommand),
}

/// `gpfn data …`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download a data set's files into the per-user cache (or `--to DIR`), check them
    /// against pinned SHA-256 sums, resume an interrupted download, skip files already there,
    /// unpack an archive (cifar10's `.tar.gz`).
    Fetch(DataFetchArgs),
}

/// `gpfn data fetch`.
#[derive(Debug, Args)]
pub struct DataFetchArgs {
    /// The data set.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(gpfn_data::fetch::SOURCES))]
    pub name: String,
    /// Folder to download into (default: `<cache>/data/NAME`, the first place the data set
    /// looks after `data.dir` and `GPFN_DATA_DIR`).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Base URL to download from instead of the pinned mirrors (repeatable, tried in order;
    /// the sums stay the pinned ones).
    #[arg(long, value_name = "URL")]
    pub mirror: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `gpfn train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Continue from the run folder's newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `gpfn sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Run folder (default: `run.dir/run.name` of the config).
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// Checkpoint folder (default: the run's newest).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Sampler name (default: the config's).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Number of steps (= network evaluations).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Number of samples (default: `sample.count`).
    #[arg(long)]
    pub count: Option<usize>,
    /// Seed of the sampling noise (default: the run's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Class of every sample (`--class 7`), or `all` for a class-balanced set (sample `i` of
    /// class `i mod K`); needs a run trained with `[condition]`. Default on such a run: `all`.
    #[arg(long, value_name = "K|all")]
    pub class: Option<gpfn_run::condition::ClassChoice>,
    /// Classifier-free guidance weight `w`: `x̂_w = x̂(∅) + (1 + w)(x̂(c) − x̂(∅))`; 0 is the
    /// conditional model (one network call per step; otherwise two per sample, in one batched
    /// call). Default: the run's `condition.guidance`.
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub guidance: Option<f64>,
    /// Masked completion: the image(s) to complete, a float32 `.npy` of one data item or a
    /// stack `[n, …]`, in the data's range (as samples are written); needs `--mask`. Sample
    /// `i` completes image `i mod n`; the known pixels come out as given. Writes the
    /// completions and a grid: input, mask, known pixels, completions (docs/architecture.md).
    #[arg(long, value_name = "IMAGE.npy", requires = "mask")]
    pub complete: Option<PathBuf>,
    /// The mask of `--complete`: a float32 `.npy` of one item (for every image) or one per
    /// image, 1 = known, 0 = to sample.
    #[arg(long, value_name = "MASK.npy", requires = "complete")]
    pub mask: Option<PathBuf>,
    /// With `--complete`: the true class of each image (a float32 `.npy` of `n` values); the
    /// completions are classified (`--classifier`, default `classifiers/<data.name>`) and the
    /// share put in their image's class is printed.
    #[arg(long, value_name = "LABELS.npy", requires = "complete")]
    pub labels: Option<PathBuf>,
    /// The classifier of `--labels`.
    #[arg(long, value_name = "DIR", requires = "labels")]
    pub classifier: Option<PathBuf>,
    /// With `--complete`: RePaint's resampling, each step taken U times, the belief carried
    /// back along the flow between takes (U times the network evaluations): particle flows on
    /// the straight path, and `kl` on categorical data (the sender's bridge), with the
    /// deterministic, stochastic or ancestral sampler.
    #[arg(long, value_name = "U", default_value_t = 1, requires = "complete")]
    pub resample: usize,
}

/// `gpfn lfm …`.
#[derive(Debug, Subcommand)]
pub enum LfmCommand {
    /// Train the blocks in sequence (each its own run folder under `run.name/blocks/`).
    Train(TrainArgs),
    /// Sample through the blocks in reverse from N(0, I); writes `samples/lfm-<sampler>.npy`.
    Sample(LfmSampleArgs),
    /// Exact NLL of the test split: the blocks' change-of-variables terms and the prior's.
    Nll(LfmNllArgs),
}

/// `gpfn lfm sample`.
#[derive(Debug, Args)]
pub struct LfmSampleArgs {
    /// Number of samples (default: sample.count).
    #[arg(long)]
    pub count: Option<usize>,
    /// Sampler of every block (default: the config's).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Its steps per block.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of the prior noise (default: the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also print the energy distance and the Sinkhorn divergence in data space between the
    /// samples and the test rows (as `gpfn eval` reports a global flow without a classifier).
    #[arg(long)]
    pub distances: bool,
    /// Also print the feature metrics (FID, precision/recall, density/coverage, classes) of
    /// the samples against the test images in this classifier's features (`gpfn eval`'s).
    #[arg(long, value_name = "DIR")]
    pub classifier: Option<std::path::PathBuf>,
}

/// `gpfn lfm nll`.
#[derive(Debug, Args)]
pub struct LfmNllArgs {
    /// Score the first N test items (default: all).
    #[arg(long)]
    pub count: Option<usize>,
    /// Items per ODE batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Seed of the Hutchinson probes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `gpfn reflow`.
#[derive(Debug, Args)]
pub struct ReflowArgs {
    /// The trained run folder whose model generates the pairs.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Its checkpoint folder (default: the newest).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Number of pairs (default: the size of the trained run's training set).
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Pairs per `.npy` shard (and per sampling batch).
    #[arg(long, default_value_t = 1000)]
    pub shard_size: usize,
    /// Sampler that generates the pairs (default: the trained run's).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Its number of steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Only generate (or complete) the pairs.
    #[arg(long)]
    pub generate_only: bool,
    /// Then distil the reflowed model to one step, training this many steps (in the run
    /// folder `run.name` + "-distill").
    #[arg(long, value_name = "STEPS")]
    pub distill: Option<u64>,
    /// Continue interrupted trainings from their newest checkpoints (pair generation always
    /// resumes).
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `gpfn bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Batch size of the training step and forward pass.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed training steps and forward passes (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub train_steps: usize,
    /// Untimed training steps and forward passes before the timed ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Network evaluations per sample.
    #[arg(long, default_value_t = 20)]
    pub nfe: usize,
    /// Samples drawn for the throughput measurement.
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    /// Samples drawn at once (default: all of them in one batch).
    #[arg(long)]
    pub sample_batch: Option<usize>,
    /// Untimed sampling runs before the timed ones.
    #[arg(long, default_value_t = 0)]
    pub sample_warmup: usize,
    /// Timed sampling runs (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub sample_reps: usize,
    /// A conditional config's guided measurement: the weight `w` of the guided draws, timed
    /// against `w = 0` at the same steps (default: `condition.guidance`, or 1 where that is 0).
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub guidance: Option<f64>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench.json")]
    pub out: std::path::PathBuf,
}

/// `gpfn eval`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalArgs {
    /// `classifier`: train the evaluation classifier instead.
    #[command(subcommand)]
    pub command: Option<EvalCommand>,
    /// What to evaluate.
    #[command(flatten)]
    pub run: EvalRunArgs,
}

/// `gpfn eval …`.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Train the small CNN whose penultimate features serve every metric, on the config's
    /// data set (any labelled image data set: `--set data.name=mnist`, `fashion-mnist`,
    /// `cifar10`, …; its shape from the data); reports its test accuracy.
    Classifier(ClassifierArgs),
    /// Negative log-likelihood of the test images in nats and bits/dim: BFN's variational
    /// bounds for `kl`, the exact ODE log-likelihood for `w2`, `rectified-flow` and
    /// `sinkhorn` (settings: the `[likelihood]` config keys; docs/likelihood.md).
    Nll(NllArgs),
}

/// `gpfn eval nll`.
#[derive(Debug, Args)]
pub struct NllArgs {
    /// Run folder (default: `run.dir/run.name` of the config).
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// Checkpoint folder (default: the run's newest).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Score the first N test images (default: all); the report gives the standard error.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Images per batch (an ODE batch shares its step sizes).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Seed of the Monte Carlo draws (default: the run's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// JSON report path (default: `<run>/eval/nll.json`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `gpfn eval classifier`.
#[derive(Debug, Args)]
pub struct ClassifierArgs {
    /// Folder to save it in (default: `classifiers/<data.name>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Passes over the training images.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Adam's peak learning rate (cosine decay to a tenth).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Use only the first N training images.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Use only the first N test images for the accuracy.
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `--against`: which images samples are compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AgainstArg {
    /// The data set's test split.
    Test,
    /// The run's held-out training rows.
    Holdout,
}

impl From<AgainstArg> for gpfn_eval::Against {
    fn from(a: AgainstArg) -> Self {
        match a {
            AgainstArg::Test => gpfn_eval::Against::Test,
            AgainstArg::Holdout => gpfn_eval::Against::Holdout,
        }
    }
}

/// Options shared by `gpfn eval` and `gpfn sweep`.
#[derive(Debug, Args)]
pub struct EvalCommon {
    /// Classifier folder (default: `classifiers/<data.name>` of the run).
    #[arg(long, value_name = "DIR")]
    pub classifier: Option<PathBuf>,
    /// Samples to generate for each evaluation.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Reference images: the first N of the reference set (default: all of it).
    #[arg(long, value_name = "N")]
    pub reference: Option<usize>,
    /// The reference set: the test split, or the run's held-out training rows (`[train]
    /// holdout`; for choosing hyper-parameters without the test set).
    #[arg(long, value_enum, default_value_t = AgainstArg::Test)]
    pub against: AgainstArg,
    /// Samples generated per batch (bounds sampling memory).
    #[arg(long, default_value_t = 250)]
    pub batch: usize,
    /// Seed of the sampling noise (default: the run's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// `k` of improved precision and recall.
    #[arg(long, default_value_t = 3)]
    pub k_precision_recall: usize,
    /// `k` of density and coverage.
    #[arg(long, default_value_t = 5)]
    pub k_density_coverage: usize,
    /// Also report the debiased Sinkhorn divergence `S_ε` between sample and reference
    /// features, with this `ε` (squared feature distances); it solves a samples × reference
    /// transport problem, so it is off by default. Without a classifier `S_ε` is always
    /// reported, in data space, and this `ε` (squared data distances) replaces its default
    /// (0.05 × the median squared distance between reference rows).
    #[arg(long, value_name = "EPS")]
    pub sinkhorn_epsilon: Option<f64>,
    /// A class-conditional run's classes: every sample of one class (`--class 7`) or a
    /// class-balanced set (`all`: sample `i` of class `i mod K`); the report adds the
    /// conditional accuracy and per-class FIDs. Default on such a run with `--guidance`: `all`.
    #[arg(long, value_name = "K|all")]
    pub class: Option<gpfn_run::condition::ClassChoice>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `gpfn eval` for one run, sampler and NFE.
#[derive(Debug, Args)]
pub struct EvalRunArgs {
    /// Run folder (default: `run.dir/run.name` of the config).
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// Checkpoint folder (default: the run's newest).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Sampler name (default: the run's).
    #[arg(long)]
    pub sampler: Option<String>,
    /// Sampler steps (= network evaluations per sample, except Heun's 2·steps − 1; default:
    /// the run's sampler steps).
    #[arg(long)]
    pub nfe: Option<usize>,
    /// JSON report path (default: `<run>/eval/<sampler>-<nfe>.json`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Classifier-free guidance weight `w` of a class-conditional run's samples (with
    /// `--class`, default `all`): the report adds the conditional accuracy, per-class FIDs and
    /// the class-balanced set's FID. Without `--class` and `--guidance` a conditional run is
    /// evaluated unguided (its null class).
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub guidance: Option<f64>,
    #[command(flatten)]
    pub common: EvalCommon,
}

/// `gpfn sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Run folders to compare.
    #[arg(required_unless_present = "merge", value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// An earlier sweep's `sweep.json` whose rows join this one's table and plot (repeatable;
    /// for sweeps run in parallel or on other machines). With no RUN, only merges.
    #[arg(long, value_name = "SWEEP_JSON")]
    pub merge: Vec<PathBuf>,
    /// Sampler steps, comma-separated (= network evaluations per sample, except Heun's
    /// 2·steps − 1; the reports give the true NFE).
    #[arg(long, value_delimiter = ',', default_values_t = gpfn_eval::DEFAULT_NFES)]
    pub nfe: Vec<usize>,
    /// Tolerances (rtol = atol), comma-separated, of the adaptive samplers (`dopri5`), which
    /// take no step count; the reports give the NFE they spent.
    #[arg(long, value_delimiter = ',', default_values_t = gpfn_eval::DEFAULT_TOLERANCES)]
    pub tolerances: Vec<f64>,
    /// Samplers, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = gpfn_eval::DEFAULT_SAMPLERS.map(String::from))]
    pub samplers: Vec<String>,
    /// Guidance weights `w`, comma-separated, of a class-conditional run (`--class`, default
    /// `all`): each sampler × NFE is evaluated at every `w`, and the sweep adds the
    /// conditional accuracy and a plot of FID and accuracy against `w` (fid-vs-guidance.png).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "W,…",
        allow_negative_numbers = true
    )]
    pub guidance: Vec<f64>,
    /// Folder for sweep.csv, sweep.md, sweep.json and fid-vs-nfe.png.
    #[arg(long, value_name = "DIR", default_value = "sweep")]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: EvalCommon,
}

/// `gpfn plugins`.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `gpfn plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a new divergence plugin crate (value, registration, conformance test, config
    /// and its own `gpfn` binary) that builds and passes its tests as generated.
    New(PluginNewArgs),
}

/// `gpfn plugin new`.
#[derive(Debug, Args)]
pub struct PluginNewArgs {
    /// The divergence's config name (`[divergence] name = "NAME"`): lowercase ASCII letters,
    /// digits and single dashes, starting with a letter. The crate is `gpfn-plugin-NAME`.
    pub name: String,
    /// Folder to write the crate into (default: `./gpfn-plugin-NAME`); must be new or empty.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The gpfn checkout the crate's path dependencies point at (default: the source tree
    /// this `gpfn` was built from).
    #[arg(long, value_name = "DIR", env = "GPFN_SOURCE")]
    pub gpfn: Option<PathBuf>,
}

/// `gpfn config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print plain TOML, without the source of each value.
    #[arg(long)]
    pub plain: bool,
}

/// `gpfn math …`.
#[derive(Debug, Subcommand)]
pub enum MathCommand {
    /// One proximal step of a divergence on a diagonal-Gaussian belief.
    Prox(JsonInput),
    /// Evaluate D(p, q) between diagonal Gaussians.
    Divergence(JsonInput),
    /// Entropic optimal transport between two weighted point clouds: plan, cost and the
    /// debiased Sinkhorn divergence.
    Sinkhorn(JsonInput),
}

/// A JSON document from a file or standard input.
#[derive(Debug, Args)]
pub struct JsonInput {
    /// JSON file; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
}
