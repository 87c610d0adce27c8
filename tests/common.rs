//! Helpers shared by the end-to-end tests: load a config from `configs/`, train it into a
//! temporary folder, sample from it.

use gpfn_data::Split;
use gpfn_kl as _;
use gpfn_run::config::{Config, ConfigSources, load};
use gpfn_run::train::{TrainOptions, TrainSummary, build_network, train};
use gpfn_run::{RunFolder, checkpoint};
use gpfn_run::{backend, generate};
use gpfn_w2 as _;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Loads `configs/<name>` with `sets` on top and the run folder under `run_dir`.
pub fn config(name: &str, run_dir: &Path, sets: &[&str]) -> Config {
    let mut all = vec![format!("run.dir=\"{}\"", run_dir.display())];
    all.extend(sets.iter().map(|s| s.to_string()));
    load(&ConfigSources {
        file: Some(workspace().join("configs").join(name)),
        env: Vec::new(),
        sets: all,
    })
    .expect("config loads")
    .config
}

/// Trains `config` without a progress bar.
pub fn train_quietly(config: &Config, options: TrainOptions) -> (RunFolder, TrainSummary) {
    let folder = RunFolder::create(config, options.resume).expect("run folder");
    let summary = train(config, &folder, &options).expect("training");
    (folder, summary)
}

/// Draws `count` samples from the newest checkpoint's EMA weights with the config's sampler
/// set to `steps` steps.
pub fn sample(config: &Config, folder: &RunFolder, steps: usize, count: usize) -> Vec<f32> {
    let device = backend::device(&config.backend).unwrap();
    let shape = config.data.load(Split::Test, config.seed).unwrap().shape;
    let ckpt = checkpoint::latest(&folder.checkpoints())
        .unwrap()
        .expect("a checkpoint");
    let net = checkpoint::load_ema(&ckpt, build_network(config, &shape, &device).unwrap()).unwrap();
    let sampler = config.sampler.with_steps(steps);
    generate::draw(config, &net, sampler.as_ref(), &shape, count, &device, 99).unwrap()
}
