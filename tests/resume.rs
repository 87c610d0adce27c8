//! Resume is exact: on the CPU backend, 20 steps equal 10 steps + resume + 10 steps, weight
//! for weight (model, EMA and optimiser state all restored; batches and noise are functions
//! of the step).

use gpfn_data::Split;
use gpfn_run::checkpoint;
use gpfn_run::config::Config;
use gpfn_run::train::{TrainOptions, build_network};
use gpfn_tests::{config, train_quietly};

const SETS: [&str; 6] = [
    "train.steps=20",
    "train.checkpoint_every=0",
    "train.sample_every=0",
    "train.warmup_steps=5",
    "network.hidden=[16, 16]",
    "sample.count=16",
];

/// (model, EMA) parameters of the newest checkpoint under `dir`.
fn weights(config: &Config, dir: &std::path::Path) -> (Vec<f32>, Vec<f32>) {
    let ckpt = checkpoint::latest(&dir.join("checkpoints"))
        .unwrap()
        .unwrap();
    let device = gpfn_run::backend::device("flex").unwrap();
    let shape = config.data.load(Split::Test, config.seed).unwrap().shape;
    let fresh = || build_network(config, &shape, &device).unwrap();
    let ema = checkpoint::load_ema(&ckpt, fresh()).unwrap();
    let model = checkpoint::restore(&ckpt, fresh(), fresh(), gpfn_run::train::optimizer())
        .unwrap()
        .model;
    (model.flat_parameters(), ema.flat_parameters())
}

#[test]
fn twenty_steps_equal_ten_plus_resume_plus_ten() {
    for name in ["w2-toy.toml", "kl-toy.toml"] {
        let dir = tempfile::tempdir().unwrap();
        let straight = config(name, &dir.path().join("a"), &SETS);
        let (a, s) = train_quietly(&straight, TrainOptions::default());
        assert_eq!(s.step, 20);

        let split = config(name, &dir.path().join("b"), &SETS);
        let (_, first) = train_quietly(
            &split,
            TrainOptions {
                stop_after: Some(10),
                ..TrainOptions::default()
            },
        );
        assert!(first.interrupted);
        assert_eq!(first.step, 10);
        let (b, second) = train_quietly(
            &split,
            TrainOptions {
                resume: true,
                ..TrainOptions::default()
            },
        );
        assert_eq!(second.step, 20);
        assert_eq!(s.loss, second.loss, "{name}: final losses differ");
        // Bit-for-bit equal: steps 11–20 after the resume used the restored Adam moments,
        // so equal weights also show that the optimiser state was restored exactly.
        let (wa, ea) = weights(&straight, a.path());
        let (wb, eb) = weights(&split, b.path());
        assert!(!wa.is_empty());
        assert!(wa == wb, "{name}: model weights differ after resume");
        assert!(ea == eb, "{name}: EMA weights differ after resume");
        let (w10, _) = {
            let dir = tempfile::tempdir().unwrap();
            let short = config(name, dir.path(), &[&SETS[..], &["train.steps=10"]].concat());
            let (f, _) = train_quietly(&short, TrainOptions::default());
            weights(&short, f.path())
        };
        assert!(w10 != wa, "{name}: the test would pass without training");
    }
}

/// The same on the MNIST U-Net (tiny widths, 64 images of the seven-segment fixture read by
/// the `mnist` data set): group norms, attention, convolutions and dropout masks resume bit
/// for bit too, while the MLP test trains in a parallel thread of the same process (the
/// backend's generator is process-wide).
#[test]
fn the_unet_resumes_exactly_on_mnist() {
    let data = tempfile::tempdir().unwrap();
    gpfn_data::fixture::write_seven_segment_idx(data.path(), 64, 16, 5).unwrap();
    let data_dir = format!("data.dir=\"{}\"", data.path().display());
    let sets = [
        data_dir.as_str(),
        "train.steps=6",
        "train.batch_size=8",
        "train.checkpoint_every=0",
        "train.sample_every=0",
        "train.warmup_steps=2",
        "network.channels=[8, 16]",
        "network.time_embedding=16",
        "network.dropout=0.1",
        "data.limit=64",
        "sample.count=4",
    ];
    let dir = tempfile::tempdir().unwrap();
    let straight = config("w2.toml", &dir.path().join("a"), &sets);
    let (a, _) = train_quietly(&straight, TrainOptions::default());
    let split = config("w2.toml", &dir.path().join("b"), &sets);
    let (_, first) = train_quietly(
        &split,
        TrainOptions {
            stop_after: Some(3),
            ..TrainOptions::default()
        },
    );
    assert_eq!(first.step, 3);
    let (b, second) = train_quietly(
        &split,
        TrainOptions {
            resume: true,
            ..TrainOptions::default()
        },
    );
    assert_eq!(second.step, 6);
    let (wa, ea) = weights(&straight, a.path());
    let (wb, eb) = weights(&split, b.path());
    assert!(wa == wb, "U-Net weights differ after resume");
    assert!(ea == eb, "U-Net EMA weights differ after resume");
    let grid = b.path().join("samples/final.png");
    assert!(grid.exists(), "no sample grid at {}", grid.display());
}

/// A damaged checkpoint file is a named error, never a panic or a silent partial load.
#[test]
fn a_damaged_checkpoint_is_a_named_error() {
    let root = tempfile::tempdir().unwrap();
    let config = config(
        "w2-toy.toml",
        root.path(),
        &["network.hidden=[4]", "network.time_features=2"],
    );
    let device = gpfn_core::burn::tensor::Device::flex().autodiff();
    let build = || gpfn_run::train::build_network(&config, &[2], &device).unwrap();
    let fresh = || (build(), build(), gpfn_run::train::optimizer());
    let (model, ema, opt) = fresh();
    let state = checkpoint::TrainState {
        step: 3,
        loss: Some(1.0),
    };
    let dir = checkpoint::save(root.path(), &model, &ema, &opt, &state, 1).unwrap();
    let (m, e, o) = fresh();
    assert_eq!(checkpoint::restore(&dir, m, e, o).unwrap().state, state);

    assert!(dir.join("sha256sums").exists());
    for file in ["model.bpk", "ema.bpk", "optimizer.bpk", "state.json"] {
        let path = dir.join(file);
        let good = std::fs::read(&path).unwrap();
        for damaged in [
            good[..good.len() / 2].to_vec(),
            b"garbage".to_vec(),
            Vec::new(),
        ] {
            std::fs::write(&path, &damaged).unwrap();
            let (m, e, o) = fresh();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                checkpoint::restore(&dir, m, e, o).map(|_| ())
            }));
            let error = match result {
                Ok(r) => r.map_err(|e| e.to_string()).expect_err(&format!(
                    "{file} with {} of {} bytes",
                    damaged.len(),
                    good.len()
                )),
                Err(_) => panic!("{file} ({} bytes) panicked", damaged.len()),
            };
            assert!(error.contains(file), "{file}: {error}");
        }
        std::fs::write(&path, &good).unwrap();
    }
    // A damaged list of sums is named too.
    std::fs::write(dir.join("sha256sums"), "0000  model.bpk\n").unwrap();
    let (m, e, o) = fresh();
    let error = checkpoint::restore(&dir, m, e, o)
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("not listed in") && error.contains("sha256sums"),
        "{error}"
    );
}
