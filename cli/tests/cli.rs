//! The `gpfn` binary end to end: plugins, config errors, the maths as JSON, and a toy run
//! from `train` to `sample`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn gpfn(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpfn"));
    cmd.args(args)
        .current_dir(workspace())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GPFN_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().expect("gpfn runs");
    if let Some(s) = stdin {
        // gpfn may exit (e.g. on a bad flag) before reading its input: a closed pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plugins_lists_every_builtin_with_its_crate() {
    let o = gpfn(&["plugins"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for (kind, name, krate) in [
        ("belief", "diag-gaussian", "gpfn-core"),
        ("belief", "particle", "gpfn-core"),
        ("belief", "categorical", "gpfn-core"),
        ("divergence", "kl", "gpfn-kl"),
        ("divergence", "w2", "gpfn-w2"),
        ("divergence", "rectified-flow", "gpfn-rectified-flow"),
        ("sampler", "heun", "gpfn-rectified-flow"),
        ("data", "reflow-pairs", "gpfn-reflow"),
        ("divergence", "sinkhorn", "gpfn-sinkhorn"),
        ("divergence", "forward-kl", "gpfn-fdiv"),
        ("divergence", "reverse-kl", "gpfn-fdiv"),
        ("divergence", "chi2", "gpfn-fdiv"),
        ("divergence", "hellinger", "gpfn-fdiv"),
        ("divergence", "jensen-shannon", "gpfn-fdiv"),
        ("divergence", "total-variation", "gpfn-fdiv"),
        ("divergence", "alpha", "gpfn-fdiv"),
        ("sampler", "deterministic", "gpfn-core"),
        ("sampler", "stochastic", "gpfn-core"),
        ("schedule", "bfn-geometric", "gpfn-core"),
        ("schedule", "uniform", "gpfn-core"),
        ("schedule", "cosine", "gpfn-core"),
        ("network", "mlp", "gpfn-network"),
        ("data", "eight-gaussians", "gpfn-data"),
        ("data", "two-moons", "gpfn-data"),
        ("data", "checkerboard", "gpfn-data"),
        ("data", "spirals", "gpfn-data"),
    ] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("`{name}` missing from:\n{out}"));
        assert!(line.starts_with(kind) && line.contains(krate), "{line}");
    }
}

#[test]
fn config_errors_are_reported_not_panicked() {
    let o = gpfn(&["config", "--set", "divergence.name=nope"], None);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("unknown divergence `nope`")
            && e.contains("kl, rectified-flow, reverse-kl, sinkhorn, total-variation, w2"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");

    let o = gpfn(&["config", "--set", "train.steps=-3"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("train.steps"), "{}", stderr(&o));

    // A divergence paired with a belief family it does not support stops `config` and
    // `train` when the config is loaded, naming both (no run folder is made).
    let dir = tempfile::tempdir().unwrap();
    for command in ["config", "train"] {
        let o = gpfn(
            &[
                "--config",
                "configs/w2.toml",
                "--set",
                "belief.name=categorical",
                "--set",
                &format!("run.dir=\"{}\"", dir.path().display()),
                command,
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(1), "{command}");
        let e = stderr(&o);
        assert!(
            e.contains("belief.name")
                && e.contains("`w2`")
                && e.contains("`categorical`")
                && e.contains("it supports: particle"),
            "{command}: {e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn config_prints_values_with_their_layer() {
    let o = gpfn(
        &[
            "--config",
            "configs/w2-toy.toml",
            "config",
            "--set",
            "train.lr=0.5",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lr = out
        .lines()
        .find(|l| l.starts_with("lr = "))
        .expect("lr line");
    assert!(
        lr.contains("0.5") && lr.contains("# --set train.lr"),
        "{lr}"
    );
    // w2-toy.toml sets its own budget over toy-base.toml's; the batch comes from the base.
    let steps = out
        .lines()
        .find(|l| l.starts_with("steps = 10000"))
        .expect("train.steps line");
    assert!(steps.contains("w2-toy.toml"), "{steps}");
    let batch = out
        .lines()
        .find(|l| l.starts_with("batch_size = 256"))
        .expect("train.batch_size line");
    assert!(batch.contains("toy-base.toml"), "{batch}");
    assert!(out.contains("ema_decay = 0.995"), "{out}");
}

#[test]
fn missing_backends_name_the_feature() {
    let o = gpfn(&["--backend", "cuda", "math", "divergence"], Some("{}"));
    if cfg!(feature = "cuda") {
        return;
    }
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("backend `cuda`") && e.contains("--features cuda"),
        "{e}"
    );
}

#[test]
fn math_accepts_every_f_divergence() {
    // p = N(1, 1), q = N(0, 1): closed forms (docs/maths.md) evaluated in f64.
    let phi_half = 0.691_462_461_274_013_1; // Φ(½)
    let expected = [
        ("\"forward-kl\"", 0.5),
        ("\"reverse-kl\"", 0.5),
        ("\"chi2\"", 1f64.exp() - 1.0),
        ("\"hellinger\"", 1.0 - (-0.125f64).exp()),
        ("\"total-variation\"", 2.0 * phi_half - 1.0),
        (
            r#"{"name": "alpha", "alpha": 0.3}"#,
            (1.0 - (-0.105f64).exp()) / 0.21,
        ),
    ];
    for (div, value) in expected {
        let input = format!(
            r#"{{"divergence": {div}, "p": {{"mean": [1.0], "std": [1.0]}}, "q": {{"mean": [0.0], "std": [1.0]}}}}"#
        );
        let o = gpfn(&["math", "divergence"], Some(&input));
        assert!(o.status.success(), "{div}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let got = v["value"].as_f64().unwrap();
        // f32 evaluation of O(1) closed forms.
        assert!(
            (got - value).abs() < 1e-5 * (1.0 + value),
            "{div}: {got} vs {value}"
        );
    }
    let o = gpfn(
        &["math", "divergence"],
        Some(
            r#"{"divergence": "jensen-shannon", "p": {"mean": [0.0], "std": [1.0]}, "q": {"mean": [0.0], "std": [1.0]}}"#,
        ),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // χ² outside its domain (2σ_q² ≤ σ_p²) is +∞: an error, not `null`.
    let o = gpfn(
        &["math", "divergence"],
        Some(
            r#"{"divergence": "chi2", "p": {"mean": [0.0], "std": [2.0]}, "q": {"mean": [0.0], "std": [1.0]}}"#,
        ),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`chi2` is inf"), "{}", stderr(&o));

    // Every f-divergence's prox runs the generic solver; forward-kl's is Bayes' rule:
    // ρ = 1 + 3 = 4, μ = 3·1/4, σ = ½.
    for name in [
        "forward-kl",
        "reverse-kl",
        "chi2",
        "hellinger",
        "jensen-shannon",
        "total-variation",
        "alpha",
    ] {
        let input = format!(
            r#"{{"divergence": "{name}", "belief": {{"mean": [0.0], "std": [1.0]}}, "y": [1.0], "alpha": 3.0}}"#
        );
        let o = gpfn(&["math", "prox"], Some(&input));
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let m = v["belief"]["mean"][0].as_f64().unwrap();
        let s = v["belief"]["std"][0].as_f64().unwrap();
        // Every step moves the mean towards y and shrinks the belief.
        assert!(m > 0.0 && m < 1.0 && s > 0.0 && s < 1.0, "{name}: {v}");
        if name == "forward-kl" {
            assert!((m - 0.75).abs() < 1e-5 && (s - 0.5).abs() < 1e-5, "{v}");
        }
    }
}

#[test]
fn math_prox_and_divergence_speak_json() {
    let o = gpfn(
        &["math", "prox"],
        Some(
            r#"{"divergence": "w2", "belief": {"mean": [0.0, 1.0], "std": [1.0, 2.0]}, "y": [1.0, -1.0], "alpha": 1.0}"#,
        ),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // w = ½: mean halfway to y, std halved.
    let close = |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-6;
    assert!(
        close(&v["belief"]["mean"][0], 0.5) && close(&v["belief"]["mean"][1], 0.0),
        "{v}"
    );
    assert!(
        close(&v["belief"]["std"][0], 0.5) && close(&v["belief"]["std"][1], 1.0),
        "{v}"
    );

    let o = gpfn(
        &["math", "divergence"],
        Some(
            r#"{"divergence": "kl", "p": {"mean": [1.0], "std": [1.0]}, "q": {"mean": [0.0], "std": [1.0]}}"#,
        ),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(close(&v["value"], 0.5), "{v}");

    let o = gpfn(
        &["math", "prox"],
        Some(
            r#"{"divergence": "w2", "belief": {"mean": [0.0, 1.0], "std": [1.0]}, "y": [1.0, 1.0], "alpha": 1}"#,
        ),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("belief.mean has 2 entries but belief.std has 1"),
        "{}",
        stderr(&o)
    );

    let o = gpfn(&["math", "divergence"], Some("{not json"));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("malformed JSON"), "{}", stderr(&o));

    let o = gpfn(
        &["math", "divergence"],
        Some(
            r#"{"divergence": "tv", "p": {"mean": [1.0], "std": [1.0]}, "q": {"mean": [0.0], "std": [1.0]}}"#,
        ),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown divergence `tv`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn math_sinkhorn_speaks_json() {
    // y is x translated by v = (0, 1): the identity is the optimal plan, ⟨P, C⟩ = ‖v‖² = 1,
    // and S_ε(x, x + v) = ‖v‖² exactly (a translation only shifts the potentials).
    let o = gpfn(
        &["math", "sinkhorn"],
        Some(r#"{"x": [[0, 0], [1, 0]], "y": [[0, 1], [1, 1]], "epsilon": 0.01}"#),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let f = |k: &serde_json::Value| k.as_f64().unwrap();
    // f32 arithmetic on O(1) values: 1e-5.
    assert!((f(&v["cost"]) - 1.0).abs() < 1e-5, "{v}");
    assert!((f(&v["divergence"]) - 1.0).abs() < 1e-5, "{v}");
    assert!(
        f(&v["marginal_error"]) <= 1e-3 && v["converged"] == true,
        "{v}"
    );
    assert!(v["iterations"].as_u64().unwrap() >= 1, "{v}");
    for term in ["xy", "xx", "yy"] {
        let t = &v["terms"][term];
        assert!(
            t["converged"] == true && f(&t["marginal_error"]) <= 1e-9,
            "{v}"
        );
        assert!(t["iterations"].as_u64().unwrap() >= 1, "{v}");
    }
    // Off-diagonal weight e^{−1/0.01} underflows.
    assert!(
        (f(&v["plan"][0][0]) - 0.5).abs() < 1e-5 && f(&v["plan"][0][1]) < 1e-6,
        "{v}"
    );

    // A capped solve says so, term by term: `converged` is false if any problem missed.
    let o = gpfn(
        &["math", "sinkhorn"],
        Some(
            r#"{"x": [[0, 0], [1, 0], [0.3, 0.7]], "y": [[0, 1], [1, 1.5]], "epsilon": 0.001,
                "max_iterations": 3}"#,
        ),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v["converged"] == false && f(&v["marginal_error"]) > 1e-9,
        "{v}"
    );
    assert!(v["terms"]["xx"]["converged"] == false, "{v}");

    // Weights are normalised; the plan's rows carry them.
    let o = gpfn(
        &["math", "sinkhorn"],
        Some(r#"{"x": [[0], [1]], "y": [[0], [1]], "a": [3, 1], "b": [1, 1], "epsilon": 0.05}"#),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let row0 = f(&v["plan"][0][0]) + f(&v["plan"][0][1]);
    let col0 = f(&v["plan"][0][0]) + f(&v["plan"][1][0]);
    assert!(
        (row0 - 0.75).abs() <= 1e-3 && (col0 - 0.5).abs() < 1e-5,
        "{v}"
    );

    let o = gpfn(
        &["math", "sinkhorn"],
        Some(r#"{"x": [[0, 0], [1, 0]], "y": [[0, 1]], "a": [1, 1, 1], "epsilon": 0.1}"#),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("a has 3 weights but there are 2 points"),
        "{}",
        stderr(&o)
    );
    let o = gpfn(
        &["math", "sinkhorn"],
        Some(r#"{"x": [[0, 0]], "y": [[0]], "epsilon": 0.1}"#),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("y[0] has 1 coordinates but 2 were expected"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_toy_run_trains_checkpoints_samples_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = format!("run.dir=\"{}\"", dir.path().display());
    let common = [
        "--config",
        "configs/w2-toy.toml",
        "--set",
        &run_dir,
        "--set",
        "train.steps=40",
        "--set",
        "train.checkpoint_every=20",
        "--set",
        "train.log_every=10",
        "--set",
        "train.sample_every=0",
        "--set",
        "sample.count=200",
        "--set",
        "network.hidden=[32, 32]",
    ];
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["train", "--no-progress"]);
    let o = gpfn(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = dir.path().join("w2-toy");
    for f in [
        "config.toml",
        "metrics.jsonl",
        "samples/final.npy",
        "samples/final.png",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let ckpts: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(ckpts.iter().any(|c| c == "step-00000040"), "{ckpts:?}");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 40);
    assert!(last["loss"].as_f64().unwrap().is_finite());
    // The global gradient norm before clipping, logged with the loss.
    assert!(last["grad_norm"].as_f64().unwrap() > 0.0, "{last}");

    // Training again into the same folder needs --resume.
    let o = gpfn(&args, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));

    let mut sample: Vec<&str> = common.to_vec();
    sample.extend(["sample", "--steps", "5", "--count", "64"]);
    let o = gpfn(&sample, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let npy = PathBuf::from(stdout(&o).trim());
    let (values, shape) = gpfn_io::read_npy(&npy).unwrap();
    assert_eq!(shape, vec![64, 2]);
    assert!(values.iter().all(|v| v.is_finite()));
    assert!(npy.with_extension("png").exists());

    let mut sample: Vec<&str> = common.to_vec();
    sample.extend(["sample", "--sampler", "leapfrog"]);
    let o = gpfn(&sample, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("deterministic, dopri5, heun, sde, stochastic"),
        "{}",
        stderr(&o)
    );
}

/// `gpfn reflow` end to end on the toy: pairs from a trained rectified flow (resumable:
/// a second call keeps every shard), the reflow run, and its one-step distillation.
#[test]
fn reflow_generates_pairs_trains_and_distils() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = format!("run.dir=\"{}\"", dir.path().display());
    let pairs = format!("data.dir=\"{}\"", dir.path().join("pairs").display());
    let quick = [
        "--set",
        "train.steps=20",
        "--set",
        "train.checkpoint_every=0",
        "--set",
        "sample.count=50",
        "--set",
        "network.hidden=[16, 16]",
        "--set",
        &run_dir,
    ];
    let mut train: Vec<&str> = vec!["--config", "configs/rectified-flow-toy.toml"];
    train.extend(quick);
    train.extend(["train", "--no-progress"]);
    let o = gpfn(&train, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let teacher = dir.path().join("rectified-flow-toy");

    let mut reflow: Vec<&str> = vec!["--config", "configs/reflow-toy.toml", "--set", &pairs];
    reflow.extend(quick);
    let from = teacher.display().to_string();
    let mut generate = reflow.clone();
    generate.extend([
        "reflow",
        "--from",
        &from,
        "--pairs",
        "300",
        "--shard-size",
        "128",
        "--sampler",
        "heun",
        "--steps",
        "3",
        "--generate-only",
    ]);
    let o = gpfn(&generate, None);
    assert!(o.status.success(), "{}", stderr(&o));
    for k in 0..3 {
        let (noise, _) =
            gpfn_io::read_npy(&dir.path().join(format!("pairs/shard-{k:05}.noise.npy"))).unwrap();
        assert_eq!(noise.len(), 2 * if k < 2 { 128 } else { 44 });
    }
    let manifest = std::fs::read_to_string(dir.path().join("pairs/pairs.json")).unwrap();
    assert!(manifest.contains("heun"), "{manifest}");

    let mut all = reflow.clone();
    all.extend([
        "reflow",
        "--from",
        &from,
        "--pairs",
        "300",
        "--shard-size",
        "128",
        "--sampler",
        "heun",
        "--steps",
        "3",
        "--distill",
        "10",
        "--no-progress",
    ]);
    let mtime = |k: usize| {
        let p = dir.path().join(format!("pairs/shard-{k:05}.sample.npy"));
        std::fs::metadata(p).unwrap().modified().unwrap()
    };
    let before: Vec<_> = (0..3).map(mtime).collect();
    let o = gpfn(&all, None);
    assert!(o.status.success(), "{}", stderr(&o));
    // The complete shards were kept, not rewritten.
    assert_eq!((0..3).map(mtime).collect::<Vec<_>>(), before);
    assert!(dir.path().join("reflow-toy/samples/final.npy").exists());
    let distilled = dir.path().join("reflow-toy-distill");
    let config = std::fs::read_to_string(distilled.join("config.toml")).unwrap();
    assert!(config.contains("time_sampling = \"distill\""), "{config}");
    assert!(config.contains("init_from"), "{config}");
    let metrics = std::fs::read_to_string(distilled.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 10);

    // A pairs folder made with other settings is refused.
    let mut other = reflow.clone();
    other.extend([
        "reflow",
        "--from",
        &from,
        "--pairs",
        "200",
        "--generate-only",
    ]);
    let o = gpfn(&other, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("count 300 ≠ 200"), "{}", stderr(&o));
}

#[test]
fn a_closed_stdout_ends_the_command_quietly_with_status_0() {
    // The reading end is closed before gpfn starts, so its first write fails with EPIPE
    // (as `gpfn plugins | head -1` does once `head` has exited).
    for args in [&["plugins"][..], &["config"], &["plugins", "--json"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_gpfn"))
            .args(args)
            .current_dir(workspace())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {:?}", o.status);
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

#[test]
fn an_unknown_backend_is_rejected_by_every_command() {
    for args in [
        &["--backend", "nosuch", "plugins"][..],
        &["--backend", "nosuch", "config"],
    ] {
        let o = gpfn(args, None);
        assert!(!o.status.success(), "{args:?}");
        let e = stderr(&o);
        assert!(
            e.contains("nosuch") && e.contains("flex, wgpu, cuda"),
            "{args:?}: {e}"
        );
    }
}

#[test]
fn data_fetch_names_the_server_it_could_not_reach_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("mnist");
    let to_s = to.display().to_string();
    let o = gpfn(
        &[
            "data",
            "fetch",
            "mnist",
            "--to",
            &to_s,
            "--mirror",
            "http://127.0.0.1:9",
            "--no-progress",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    for what in [
        "http://127.0.0.1:9/train-images-idx3-ubyte.gz",
        "gpfn data fetch mnist",
        &to_s,
    ] {
        assert!(e.contains(what), "{what}: {e}");
    }
    let o = gpfn(&["data", "fetch", "cifar"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("mnist, fashion-mnist"),
        "{}",
        stderr(&o)
    );
}

/// `gpfn train` on an LFM config trains its blocks; `gpfn lfm sample --distances` samples
/// through them with the NFE summed over the blocks and the data-space distances to the test
/// points; `gpfn lfm nll` scores the composed flow.
#[test]
fn an_lfm_toy_run_trains_samples_with_distances_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = format!("run.dir=\"{}\"", dir.path().display());
    let common = [
        "--config",
        "configs/lfm-toy.toml",
        "--set",
        &run_dir,
        "--set",
        "data.samples=600",
        "--set",
        "network.hidden=[16, 16]",
        "--set",
        "train.steps=4",
        "--set",
        "train.checkpoint_every=4",
        "--set",
        "workflow.lfm.blocks=2",
        "--set",
        "workflow.lfm.push={ name = \"deterministic\", steps = 2 }",
    ];
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["train", "--no-progress"]);
    let o = gpfn(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    for l in 1..=3 {
        let b = dir.path().join(format!(
            "lfm-toy/blocks/block-{l}/checkpoints/step-00000004"
        ));
        assert!(b.exists(), "block {l}");
    }
    let mut args: Vec<&str> = common.to_vec();
    args.extend([
        "lfm",
        "sample",
        "--steps",
        "2",
        "--count",
        "40",
        "--distances",
    ]);
    let o = gpfn(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let (path, json) = out.split_once('\n').unwrap();
    let (values, shape) = gpfn_io::read_npy(Path::new(path.trim())).unwrap();
    assert_eq!(shape, vec![40, 2]);
    assert!(values.iter().all(|v| v.is_finite()));
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(report["nfe"], 6, "{report}");
    let energy = &report["distances"]["energy"];
    assert!(energy["value"].as_f64().unwrap().is_finite(), "{report}");
    assert!(report["distances"]["sinkhorn"]["value"].as_f64().is_some());
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["lfm", "nll", "--count", "20"]);
    let o = gpfn(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["items"], 20);
    assert_eq!(report["blocks"].as_array().unwrap().len(), 3);
    assert!(report["nll"].as_f64().unwrap().is_finite(), "{report}");
    assert!(report["bins"].is_null(), "{report}");
}
