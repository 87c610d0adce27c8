//! CIFAR-10 end to end on a fixture in its binary format ([`gpfn_data::cifar::write_fixture`]:
//! 3 × 32 × 32 colour images of ten classes, written by the test): two training steps of
//! configs/w2-cifar10.toml and configs/kl-cifar10.toml with a tiny U-Net, `gpfn eval` with
//! no classifier (the data-space distances and the note that FID needs one) and `gpfn eval
//! nll` in bits/dim over 256 bins. The numbers mean nothing; the plumbing and shapes do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn config(name: &str) -> String {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    ws.join("configs").join(name).display().to_string()
}

/// `gpfn` run in `cwd` (a temporary folder: no `classifiers/` there).
fn gpfn(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpfn"));
    cmd.args(args).current_dir(cwd).env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GPFN_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("gpfn runs")
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Trains `config_file` for two steps on the fixture in `dir`; returns the `--set`s used
/// (for later commands) and the run folder.
fn train_two_steps(dir: &Path, config_file: &str) -> (Vec<String>, PathBuf) {
    let data = dir.join("cifar");
    gpfn_data::cifar::write_fixture(&data, 8, 20, 3).unwrap();
    let sets: Vec<String> = [
        "--config".to_string(),
        config(config_file),
        "--set".into(),
        format!("run.dir=\"{}\"", dir.display()),
        "--set".into(),
        format!("data.dir=\"{}\"", data.display()),
        "--set".into(),
        "data.download=false".into(),
        "--set".into(),
        "train.steps=2".into(),
        "--set".into(),
        "train.batch_size=8".into(),
        "--set".into(),
        "network.channels=[8, 16]".into(),
        "--set".into(),
        "network.attention=false".into(),
        "--set".into(),
        "sample.count=4".into(),
        "--set".into(),
        "train.sample_every=0".into(),
    ]
    .into();
    let mut args: Vec<&str> = sets.iter().map(String::as_str).collect();
    args.extend(["train", "--no-progress"]);
    ok(&gpfn(dir, &args));
    let name = config_file.trim_end_matches(".toml");
    (sets, dir.join(name))
}

#[test]
fn w2_cifar10_trains_and_evaluates_in_data_space_without_a_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let (sets, run) = train_two_steps(dir.path(), "w2-cifar10.toml");
    let run_s = run.display().to_string();
    let mut args: Vec<&str> = sets.iter().map(String::as_str).collect();
    args.extend([
        "eval",
        "--run",
        &run_s,
        "--nfe",
        "2",
        "--count",
        "20",
        "--reference",
        "20",
        "--batch",
        "10",
        "--no-progress",
    ]);
    let out = ok(&gpfn(dir.path(), &args));
    for what in [
        "w2-cifar10 (w2)",
        "20 samples vs 20 test rows",
        "data space (3072 dimensions)",
        "energy distance",
        "sinkhorn S_ε",
        "over K = 10 disjoint subsets",
        "FID",
        "need a feature classifier",
        "classifiers/cifar10",
        "`gpfn eval classifier` trains one",
    ] {
        assert!(out.contains(what), "{what}: {out}");
    }
    let report = run.join("eval").join("deterministic-2-data.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let d = &v["distances"];
    assert_eq!(d["dim"].as_u64(), Some(3072));
    assert_eq!(d["subsets"].as_u64(), Some(10));
    assert_eq!(
        (
            d["sinkhorn_samples"].as_u64(),
            d["sinkhorn_reference"].as_u64()
        ),
        (Some(2), Some(2))
    );
    for key in ["energy", "sinkhorn"] {
        assert!(d[key]["value"].as_f64().unwrap().is_finite(), "{v:#}");
        assert!(d[key]["stderr"].as_f64().unwrap() >= 0.0, "{v:#}");
    }
    // An untrained network's samples are far from the data: clearly positive distances.
    assert!(d["energy"]["value"].as_f64().unwrap() > 0.0, "{v:#}");
    assert!(d["sinkhorn_epsilon"].as_f64().unwrap() > 0.0);
    assert!(run.join("eval").join("deterministic-2-data.npy").is_file());
    assert!(run.join("eval").join("deterministic-2-data.png").is_file());

    // A classifier named but missing is an error, not a silent fallback.
    let missing = dir.path().join("nothing").display().to_string();
    let mut args: Vec<&str> = sets.iter().map(String::as_str).collect();
    args.extend([
        "eval",
        "--run",
        &run_s,
        "--classifier",
        &missing,
        "--count",
        "4",
        "--no-progress",
    ]);
    let o = gpfn(dir.path(), &args);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no classifier here"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn kl_cifar10_trains_and_scores_bits_per_dim_over_256_bins() {
    let dir = tempfile::tempdir().unwrap();
    let (sets, run) = train_two_steps(dir.path(), "kl-cifar10.toml");
    let run_s = run.display().to_string();
    let mut args: Vec<&str> = sets.iter().map(String::as_str).collect();
    args.extend([
        "eval",
        "nll",
        "--run",
        &run_s,
        "--count",
        "4",
        "--batch",
        "4",
        "--json",
        "--no-progress",
    ]);
    let out = ok(&gpfn(dir.path(), &args));
    assert!(out.contains("bits") && out.contains("256"), "{out}");
}
