//! The comparison every GPU backend's smoke test makes against `flex` (wgpu_smoke.rs,
//! cuda_smoke.rs).

use gpfn_core::burn::tensor::{Tensor, TensorData};
use gpfn_data::Split;
use gpfn_kl as _;
use gpfn_run::RunFolder;
use gpfn_run::config::{ConfigSources, load};
use gpfn_run::train::{TrainOptions, build_network, train};
use gpfn_run::{backend, generate};
use gpfn_w2 as _;
use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Checks that backend `other` agrees with `flex`: elementwise maths and a matmul to f32
/// rounding, then five training steps from one flex checkpoint (each backend has its own
/// random generator, so the initial weights come from `train.init_from`, not from the seed):
/// losses within 1e-3 (relative) and samples within 1e-2. `hint` says how to get the device
/// when it does not start.
pub fn matches_flex_on_a_tiny_model(other: &str, hint: &str) {
    let flex = backend::device("flex").unwrap();
    let device = backend::device(other).unwrap_or_else(|e| panic!("{e}\n({hint})"));

    // Elementwise maths and a matmul agree to f32 rounding.
    let data: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    let on = |d| Tensor::<2>::from_data(TensorData::new(data.clone(), [8, 8]), d);
    let f = |t: Tensor<2>| {
        (t.clone().matmul(t.clone().transpose()).tanh() + t.exp())
            .sum()
            .into_scalar::<f32>()
    };
    let (a, b) = (f(on(&flex)), f(on(&device)));
    assert!(
        (a - b).abs() < 1e-4 * a.abs().max(1.0),
        "flex {a} vs {other} {b}"
    );

    // A few training steps from the same initial weights give close losses and samples. Each
    // backend has its own random generator, so the initial weights come from one flex
    // checkpoint (`train.init_from`) rather than from the seed.
    let config_for = |dir: &Path, name: &str, extra: &[String]| {
        let mut sets = vec![
            format!("run.dir=\"{}\"", dir.display()),
            format!("backend=\"{name}\""),
            "train.log_every=5".into(),
            "train.checkpoint_every=0".into(),
            "sample.count=32".into(),
            "network.hidden=[16, 16]".into(),
        ];
        sets.extend_from_slice(extra);
        load(&ConfigSources {
            file: Some(workspace().join("configs/w2-toy.toml")),
            env: Vec::new(),
            sets,
        })
        .unwrap()
        .config
    };
    let init_dir = tempfile::tempdir().unwrap();
    let init = config_for(init_dir.path(), "flex", &["train.steps=1".into()]);
    let init_folder = RunFolder::create(&init, false).unwrap();
    train(&init, &init_folder, &TrainOptions::default()).unwrap();
    let init_ckpt = gpfn_run::checkpoint::latest(&init_folder.checkpoints())
        .unwrap()
        .unwrap();
    let mut outcome = Vec::new();
    for name in ["flex", other] {
        let dir = tempfile::tempdir().unwrap();
        let extra = [
            "train.steps=5".to_string(),
            format!("train.init_from=\"{}\"", init_ckpt.display()),
        ];
        let config = config_for(dir.path(), name, &extra);
        let folder = RunFolder::create(&config, false).unwrap();
        let summary = train(&config, &folder, &TrainOptions::default()).unwrap();
        let device = backend::device(name).unwrap();
        let shape = config.data.load(Split::Test, 0).unwrap().shape;
        let ckpt = gpfn_run::checkpoint::latest(&folder.checkpoints())
            .unwrap()
            .unwrap();
        let net =
            gpfn_run::checkpoint::load_ema(&ckpt, build_network(&config, &shape, &device).unwrap())
                .unwrap();
        let samples = generate::draw(
            &config,
            &net,
            config.sampler.as_ref(),
            &shape,
            32,
            &device,
            1,
        )
        .unwrap();
        outcome.push((summary.loss.unwrap(), samples));
    }
    let (lf, sf) = &outcome[0];
    let (lw, sw) = &outcome[1];
    // Kernels sum in different orders; five steps of Adam keep the runs within 1e-3.
    assert!(
        (lf - lw).abs() < 1e-3 * lf.abs().max(1.0),
        "loss: flex {lf} vs {other} {lw}"
    );
    let gap = sf
        .iter()
        .zip(sw)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(gap < 1e-2, "samples differ by up to {gap}");
}
