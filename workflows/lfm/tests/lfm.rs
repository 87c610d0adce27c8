//! Local Flow Matching: bad settings are named errors before any work; an interrupted
//! training resumed in the middle of block 3 ends bit for bit where an uninterrupted one does.

use gpfn_data as _;
use gpfn_lfm::LfmSettings;
use gpfn_network as _;
use gpfn_rectified_flow as _;
use gpfn_run::config::{ConfigSources, Loaded, load};
use gpfn_run::train::TrainOptions;
use std::path::{Path, PathBuf};

fn loaded(dir: &Path, sets: &[&str]) -> Loaded {
    let mut all = vec![
        format!("run.dir={}", dir.display()),
        "data.samples=600".into(),
        "network.hidden=[16, 16]".into(),
        "train.steps=6".into(),
        "train.batch_size=32".into(),
        "train.warmup_steps=1".into(),
        "train.checkpoint_every=2".into(),
        "train.log_every=1".into(),
        "workflow.lfm.blocks=3".into(),
        "workflow.lfm.shard_size=256".into(),
        "workflow.lfm.push={ name = \"deterministic\", steps = 2 }".into(),
    ];
    all.extend(sets.iter().map(|s| s.to_string()));
    load(&ConfigSources {
        file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/lfm-toy.toml")),
        env: Vec::new(),
        sets: all,
    })
    .unwrap()
}

fn error_of(sets: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let l = loaded(dir.path(), sets);
    let e = LfmSettings::from_workflow(&l.workflow)
        .and_then(|s| gpfn_lfm::train(&l.config, &s, &TrainOptions::default()))
        .unwrap_err()
        .to_string();
    assert!(
        !dir.path().join("lfm-toy").exists(),
        "work started before the error: {e}"
    );
    e
}

#[test]
fn bad_settings_are_named_errors_before_any_work() {
    for (sets, key, what) in [
        (vec!["workflow.lfm.steps=[]"], "workflow.lfm.steps", "empty"),
        (
            vec!["workflow.lfm.steps=[0.1, -0.2, 0.3]"],
            "workflow.lfm.steps",
            "h_2",
        ),
        (
            vec!["workflow.lfm.steps=[0.1, 0.0, 0.3]"],
            "workflow.lfm.steps",
            "positive",
        ),
        (
            vec!["workflow.lfm.steps=[0.1, 0.2]"],
            "workflow.lfm.steps",
            "3 blocks need 3",
        ),
        (
            vec!["workflow.lfm.blocks=0"],
            "workflow.lfm.blocks",
            "at least one",
        ),
        (
            vec!["workflow.lfm.push={ name = \"ancestral\", steps = 4 }"],
            "workflow.lfm.push",
            "cannot push data",
        ),
        (
            vec!["workflow.lfm.push={ name = \"sde\", steps = 4 }"],
            "workflow.lfm.push",
            "cannot push data",
        ),
    ] {
        let e = error_of(&sets);
        assert!(e.contains(key) && e.contains(what), "{sets:?}: {e}");
    }
}

fn files_of(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if name.ends_with(".npy") && !p.to_string_lossy().contains("samples") {
                    out.push((
                        p.strip_prefix(root).unwrap().to_path_buf(),
                        std::fs::read(&p).unwrap(),
                    ));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn resuming_in_the_middle_of_block_3_is_bit_exact() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |dir: &Path, stop_after: Option<u64>, resume: bool| {
        let l = loaded(dir, &[]);
        let s = LfmSettings::from_workflow(&l.workflow).unwrap();
        gpfn_lfm::train(
            &l.config,
            &s,
            &TrainOptions {
                resume,
                stop_after,
                ..TrainOptions::default()
            },
        )
        .unwrap()
    };
    let whole = run(a.path(), None, false);
    assert!(!whole.interrupted);
    assert_eq!(whole.trained.len(), 4);
    // Blocks 1 and 2 (6 steps each), then 3 steps of block 3.
    let first = run(b.path(), Some(15), false);
    assert!(first.interrupted);
    assert_eq!(first.trained.last().unwrap().0, 3);
    assert_eq!(first.trained.last().unwrap().1.step, 3);
    let rest = run(b.path(), None, true);
    assert_eq!(rest.skipped, vec![1, 2]);
    assert_eq!(
        rest.trained.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![3, 4]
    );
    // The pairs, byte for byte; every block's final model and EMA weights, value for value
    // (checkpoint files also hold metadata that differs between runs).
    let (fa, fb) = (
        files_of(&a.path().join("lfm-toy")),
        files_of(&b.path().join("lfm-toy")),
    );
    assert!(
        fa.iter()
            .any(|(p, _)| p.to_string_lossy().contains("block-4"))
    );
    assert_eq!(fa.len(), fb.len());
    for ((pa, va), (pb, vb)) in fa.iter().zip(&fb) {
        assert_eq!(pa, pb);
        assert!(va == vb, "{} differs after resume", pa.display());
    }
    for l in 1..=4 {
        let wa = weights(&a.path().join(format!("lfm-toy/blocks/block-{l}")));
        let wb = weights(&b.path().join(format!("lfm-toy/blocks/block-{l}")));
        assert!(!wa.0.is_empty());
        assert!(wa == wb, "block {l}: weights differ after resume");
    }
}

fn weights(dir: &Path) -> (Vec<f32>, Vec<f32>) {
    use gpfn_run::{RunFolder, checkpoint, train::build_network};
    let config = RunFolder::open(dir).unwrap().config().unwrap();
    let ckpt = checkpoint::latest(&dir.join("checkpoints"))
        .unwrap()
        .unwrap();
    assert!(ckpt.ends_with("step-00000006"), "{}", ckpt.display());
    let device = gpfn_run::backend::device("flex").unwrap();
    let shape = vec![2];
    let fresh = || build_network(&config, &shape, &device).unwrap();
    let ema = checkpoint::load_ema(&ckpt, fresh()).unwrap();
    let model = checkpoint::restore(&ckpt, fresh(), fresh(), gpfn_run::train::optimizer())
        .unwrap()
        .model;
    (model.flat_parameters(), ema.flat_parameters())
}
