//! configs/lfm.toml (MNIST) loads, and on a seven-segment stand-in for MNIST (the real IDX
//! loader, 28×28 8-bit images) with a small U-Net it trains its blocks, samples through them
//! and scores the test images dequantised, in bits/dim, as `gpfn eval nll` scores a global flow.

use gpfn_lfm::LfmSettings;
use gpfn_network as _;
use gpfn_rectified_flow as _;
use gpfn_run::config::{ConfigSources, Loaded, load};
use gpfn_run::train::TrainOptions;
use std::path::{Path, PathBuf};

fn loaded(sets: &[String]) -> Loaded {
    load(&ConfigSources {
        file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/lfm.toml")),
        env: Vec::new(),
        sets: sets.to_vec(),
    })
    .unwrap()
}

#[test]
fn the_mnist_config_loads_with_its_blocks() {
    let l = loaded(&[]);
    let s = LfmSettings::from_workflow(&l.workflow).unwrap();
    assert_eq!(
        gpfn_lfm::workflow::check(&l.config, &s).unwrap(),
        vec![0.05, 0.1, 0.2, 0.4]
    );
    assert_eq!(s.push().unwrap(), gpfn_lfm::settings::Push::Euler(8));
    for b in 1..=s.blocks + 1 {
        let c = gpfn_lfm::workflow::block_config(&l.config, &s, b, None).unwrap();
        assert_eq!(c.network.typetag_name(), "unet");
    }
}

fn tiny(dir: &Path, data: &Path) -> Vec<String> {
    vec![
        format!("run.dir={}", dir.display()),
        format!("data.dir={}", data.display()),
        "network.channels=[8, 8]".into(),
        "network.attention=false".into(),
        "network.time_embedding=16".into(),
        "train.steps=2".into(),
        "train.batch_size=4".into(),
        "train.warmup_steps=1".into(),
        "train.checkpoint_every=2".into(),
        "train.log_every=1".into(),
        "workflow.lfm.blocks=1".into(),
        "workflow.lfm.shard_size=8".into(),
        "workflow.lfm.push={ name = \"deterministic\", steps = 1 }".into(),
        "likelihood.rtol=1e-2".into(),
        "likelihood.atol=1e-2".into(),
    ]
}

#[test]
fn it_trains_samples_and_scores_bits_per_dim_on_mnist_format_images() {
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    gpfn_data::fixture::write_seven_segment_idx(data.path(), 12, 2, 3).unwrap();
    let l = loaded(&tiny(dir.path(), data.path()));
    let s = LfmSettings::from_workflow(&l.workflow).unwrap();
    let out = gpfn_lfm::train(&l.config, &s, &TrainOptions::default()).unwrap();
    assert_eq!(out.trained.len(), 2);
    assert_eq!(out.push_nfe, vec![(2, 1)]);
    let sampler = gpfn_core::sampler::by_name("deterministic", 2, "sampler").unwrap();
    let (x, shape, nfe) = gpfn_lfm::sample(&l.config, &s, 3, sampler.as_ref(), 0).unwrap();
    assert_eq!((shape, x.len(), nfe), (vec![1, 28, 28], 3 * 784, 4));
    let nll = gpfn_lfm::nll(&l.config, &s, Some(2), 2, 0).unwrap();
    assert_eq!(nll.bins, Some(256));
    assert!((nll.t_end - (1.0 - 1.0 / 256.0)).abs() < 1e-12);
    assert!(
        nll.bits_per_dim.is_finite() && nll.bits_per_dim > 0.0,
        "{nll:?}"
    );
    let per_dim = 784.0 * std::f64::consts::LN_2;
    assert!((nll.bits_per_dim - nll.nll / per_dim).abs() < 1e-9);
}
