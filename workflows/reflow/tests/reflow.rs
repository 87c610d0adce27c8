//! Reflow: pairs are reproducible and resumable shards, the `reflow-pairs` data set trains on
//! the recorded noise, and one reflow makes the paths of a 2-D toy straighter.

use gpfn_core::host::host_f32;
use gpfn_core::rng::Rng;
use gpfn_core::sampler::{DeterministicSampler, Sampler};
use gpfn_data::Split;
use gpfn_io as io;
use gpfn_rectified_flow::{prior_with_noise, straightness};
use gpfn_reflow::pairs::{PairsRequest, ReflowPairs, generate_pairs, shard_paths};
use gpfn_reflow::workflow::{ReflowOptions, distill_config, generate};
use gpfn_run::backend;
use gpfn_run::config::{Config, ConfigSources, load};
use gpfn_run::generate::with_problem;
use gpfn_run::train::{TrainOptions, build_network, train};
use gpfn_run::{RunFolder, checkpoint};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `configs/<name>` with the run folder under `run_dir` and `sets` on top.
fn config(name: &str, run_dir: &Path, sets: &[String]) -> Config {
    let mut all = vec![format!("run.dir=\"{}\"", run_dir.display())];
    all.extend(sets.iter().cloned());
    load(&ConfigSources {
        file: Some(workspace().join("configs").join(name)),
        env: Vec::new(),
        sets: all,
    })
    .expect("config loads")
    .config
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn pairs_are_reproducible_resumable_shards() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "rectified-flow-toy.toml",
        dir.path(),
        &strings(&["network.hidden=[16, 16]"]),
    );
    let device = backend::device("flex").unwrap();
    // An untrained network is as good a teacher as any for the bookkeeping.
    let net = build_network(&cfg, &[2], &device).unwrap();
    let sampler = DeterministicSampler { steps: 4 };
    let request = PairsRequest {
        dir: dir.path().join("pairs"),
        count: 5,
        shard_size: 2,
        seed: 7,
        checkpoint: PathBuf::from("nowhere"),
    };
    let report = generate_pairs(&cfg, &net, &sampler, &[2], &request, &device).unwrap();
    assert_eq!((report.written, report.skipped), (3, 0));

    // Every sample is the sampler applied to its recorded noise.
    for k in 0..3 {
        let (noise_path, sample_path) = shard_paths(&request.dir, k);
        let (noise, shape) = io::read_npy(&noise_path).unwrap();
        let (sample, _) = io::read_npy(&sample_path).unwrap();
        let rows = if k == 2 { 1 } else { 2 };
        assert_eq!(shape, vec![rows, 2]);
        let again = with_problem(&cfg, &net, &[2], rows, &device, |p| {
            let start = prior_with_noise(&noise, rows, &device);
            host_f32(sampler.sample_from(p, start, &mut Rng::seed(0))?)
        })
        .unwrap();
        assert_eq!(again, sample);
    }

    // Resume: a lost shard is regenerated identically, the others are kept.
    let (lost_noise, lost_sample) = shard_paths(&request.dir, 1);
    let before = (
        io::read_npy(&lost_noise).unwrap(),
        io::read_npy(&lost_sample).unwrap(),
    );
    std::fs::remove_file(&lost_sample).unwrap();
    let report = generate_pairs(&cfg, &net, &sampler, &[2], &request, &device).unwrap();
    assert_eq!((report.written, report.skipped), (1, 2));
    let after = (
        io::read_npy(&lost_noise).unwrap(),
        io::read_npy(&lost_sample).unwrap(),
    );
    assert_eq!(before, after);

    // Other settings into the same folder are refused, naming the difference.
    let other = PairsRequest {
        seed: 8,
        ..request.clone()
    };
    let err = generate_pairs(&cfg, &net, &sampler, &[2], &other, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("seed 7 ≠ 8"), "{err}");

    // The data set: samples as data, noise as the paired column, row for row.
    let table = ReflowPairs {
        dir: request.dir.clone(),
    }
    .load_pairs()
    .unwrap();
    assert_eq!(table.len(), 5);
    let (noise0, _) = io::read_npy(&shard_paths(&request.dir, 0).0).unwrap();
    assert_eq!(table.noise_row(1).unwrap(), &noise0[2..4]);
    std::fs::remove_file(shard_paths(&request.dir, 2).1).unwrap();
    let err = ReflowPairs {
        dir: request.dir.clone(),
    }
    .load_pairs()
    .unwrap_err()
    .to_string();
    assert!(err.contains("shard 2 of 3 is missing"), "{err}");
}

/// Straightness of the `steps`-step paths of the newest checkpoint of `folder`, from 1000
/// fixed prior draws.
fn straightness_of(cfg: &Config, folder: &RunFolder, steps: usize) -> f64 {
    let device = backend::device("flex").unwrap();
    let ckpt = checkpoint::latest(&folder.checkpoints()).unwrap().unwrap();
    let net = checkpoint::load_ema(&ckpt, build_network(cfg, &[2], &device).unwrap()).unwrap();
    let noise = Rng::seed(1234).normals(2 * 1000);
    with_problem(cfg, &net, &[2], 1000, &device, |p| {
        straightness(p, prior_with_noise(&noise, 1000, &device), steps)
    })
    .unwrap()
    .relative
}

/// Eight Gaussians: a rectified flow trained for a few seconds has curved paths (its
/// velocity must turn to pick a mode); the flow retrained on its own (noise, sample) pairs
/// is markedly straighter. Then one-step distillation of it trains from its weights.
#[test]
fn one_reflow_straightens_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    let quick = strings(&[
        "train.steps=600",
        "train.checkpoint_every=0",
        "train.sample_every=0",
        "train.warmup_steps=50",
        "network.hidden=[64, 64]",
        "sample.count=200",
    ]);
    let first = config("rectified-flow-toy.toml", dir.path(), &quick);
    let folder = RunFolder::create(&first, false).unwrap();
    train(&first, &folder, &TrainOptions::default()).unwrap();
    let s1 = straightness_of(&first, &folder, 32);

    let mut sets = quick.clone();
    sets.push(format!(
        "data.dir=\"{}\"",
        dir.path().join("pairs").display()
    ));
    let second = config("reflow-toy.toml", dir.path(), &sets);
    let options = ReflowOptions {
        source: folder.path().to_path_buf(),
        checkpoint: None,
        sampler: Some(DeterministicSampler { steps: 16 }.with_steps(16)),
        pairs: Some(4000),
        shard_size: 1000,
        generate_only: true,
        distill_steps: None,
        train: TrainOptions::default(),
    };
    let (pairs_dir, report) = generate(&second, &options).unwrap();
    assert_eq!(report.written, 4);
    assert_eq!(second.data.load(Split::Train, 0).unwrap().len(), 4000);
    let folder2 = RunFolder::create(&second, false).unwrap();
    train(&second, &folder2, &TrainOptions::default()).unwrap();
    let s2 = straightness_of(&second, &folder2, 32);
    eprintln!("relative straightness: 1-rectified {s1:.4}, 2-rectified {s2:.4}");
    assert!(
        s1 > 0.02,
        "the first flow is already straight ({s1}): the toy shows nothing"
    );
    assert!(s2 < 0.5 * s1, "reflow did not straighten: {s1} → {s2}");
    assert!(pairs_dir.join("pairs.json").exists());

    // Distillation starts from the reflowed weights and trains only at t = 0.
    let ckpt = checkpoint::latest(&folder2.checkpoints()).unwrap().unwrap();
    let distill = distill_config(&second, &ckpt, 20).unwrap();
    assert_eq!(distill.sampler.steps(), 1);
    assert_eq!(distill.run.name, "reflow-toy-distill");
    assert_eq!(distill.train.init_from.as_deref(), Some(ckpt.as_path()));
    let f3 = RunFolder::create(&distill, false).unwrap();
    let s = train(&distill, &f3, &TrainOptions::default()).unwrap();
    assert_eq!(s.step, 20);
}
