//! The built `gpfn` binary run from a CLI test: in the workspace root, with `RUST_LOG` and every
//! `GPFN_*` variable of the caller's environment removed, so that a test sees only the settings
//! it passes. Shared by the test binaries that spawn `gpfn` (`mod process;`); each uses the
//! helpers it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (where `configs/` lies).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `gpfn args…`, run in the workspace root with a clean environment.
pub fn gpfn(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpfn"));
    cmd.args(args)
        .current_dir(workspace())
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GPFN_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("gpfn runs")
}

/// The standard output of a command that must have succeeded (else its standard error).
pub fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A JSON file, parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A tiny MNIST-format run of `config` in `dir`: `train` and `test` seven-segment digits
/// written to `dir/digits`, and the flags every command on the run takes — that data folder,
/// the config, `run.dir = dir`, 2 training steps of batch 8 on an 8/16-channel U-Net without
/// attention, no samples while training and `count` samples after.
pub fn tiny_digit_run(
    dir: &Path,
    (train, test): (usize, usize),
    config: &str,
    count: usize,
) -> Vec<String> {
    let data = dir.join("digits");
    gpfn_data::fixture::write_seven_segment_idx(&data, train, test, 2).unwrap();
    let mut args: Vec<String> = vec![
        "--data-dir".into(),
        data.display().to_string(),
        "--config".into(),
        config.into(),
    ];
    for set in [
        format!("run.dir=\"{}\"", dir.display()),
        "train.steps=2".into(),
        "train.batch_size=8".into(),
        "network.channels=[8, 16]".into(),
        "network.attention=false".into(),
        format!("sample.count={count}"),
        "train.sample_every=0".into(),
    ] {
        args.push("--set".into());
        args.push(set);
    }
    args
}
