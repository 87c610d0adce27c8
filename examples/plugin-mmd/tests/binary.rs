//! The crate's own binary is a complete `gpfn` with `mmd` registered: `plugins` lists it with
//! this crate's name, and it trains on the 2-D toy from configs/mmd-toy.toml.

use std::path::Path;
use std::process::{Command, Output};

fn gpfn_mmd(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpfn-mmd"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GPFN_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("gpfn-mmd runs")
}

#[test]
fn plugins_lists_mmd_with_its_crate() {
    let o = gpfn_mmd(&["plugins", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mmd = all
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mmd")
        .expect("mmd is registered");
    assert_eq!(mmd["kind"], "divergence");
    assert_eq!(mmd["crate"], "gpfn-plugin-mmd");
    // The built-in plugins are there too.
    assert!(all.as_array().unwrap().iter().any(|p| p["name"] == "kl"));
}

#[test]
fn trains_on_the_toy_from_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = format!("run.dir=\"{}\"", dir.path().display());
    let o = gpfn_mmd(&[
        "--config",
        "configs/mmd-toy.toml",
        "--set",
        &run_dir,
        "--set",
        "train.steps=30",
        "--set",
        "train.batch_size=64",
        "--set",
        "train.checkpoint_every=30",
        "--set",
        "train.log_every=10",
        "--set",
        "train.sample_every=0",
        "--set",
        "sample.count=64",
        "--set",
        "network.hidden=[32, 32]",
        "train",
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = dir.path().join("mmd-toy");
    assert!(
        Path::new(&run.join("checkpoints/step-00000030")).exists(),
        "no checkpoint: {:?}",
        std::fs::read_dir(&run).map(|d| d.count())
    );
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 30);
    assert!(last["loss"].as_f64().unwrap().is_finite());
}
