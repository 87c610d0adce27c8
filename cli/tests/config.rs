//! Layered configuration: order of layers, provenance, section replacement, and errors that
//! name the key.

use gpfn_fdiv as _;
use gpfn_kl as _;
use gpfn_rectified_flow as _;
use gpfn_reflow as _;
use gpfn_run::config::{ConfigSources, load};
use gpfn_sinkhorn as _;
use gpfn_w2 as _;
use std::path::PathBuf;

fn sources(file: Option<PathBuf>, env: &[(&str, &str)], sets: &[&str]) -> ConfigSources {
    ConfigSources {
        file,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn err(s: ConfigSources) -> String {
    load(&s).expect_err("config should be rejected").to_string()
}

#[test]
fn layers_apply_in_order_and_remember_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "exp.toml",
        "seed = 5\n[train]\nlr = 0.01\nsteps = 7\n",
    );
    let loaded = load(&sources(
        Some(f.clone()),
        &[
            ("GPFN_TRAIN__LR", "0.02"),
            ("GPFN_TRAIN__BATCH_SIZE", "64"),
            ("HOME", "/x"),
        ],
        &["train.batch_size=32"],
    ))
    .unwrap();
    let c = &loaded.config;
    assert_eq!(c.seed, 5);
    assert_eq!(c.train.steps, 7);
    assert_eq!(c.train.lr, 0.02);
    assert_eq!(c.train.batch_size, 32);
    assert_eq!(c.train.ema_decay, 0.999);
    assert_eq!(loaded.source_of("seed"), format!("file {}", f.display()));
    assert_eq!(loaded.source_of("train.lr"), "env GPFN_TRAIN__LR");
    assert_eq!(
        loaded.source_of("train.batch_size"),
        "--set train.batch_size"
    );
    assert_eq!(loaded.source_of("train.ema_decay"), "default");
}

#[test]
fn extends_reads_the_base_file_first() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir, "base.toml", "seed = 3\n[train]\nsteps = 11\n");
    let f = write(&dir, "child.toml", "extends = \"base.toml\"\nseed = 4\n");
    let c = load(&sources(Some(f), &[], &[])).unwrap().config;
    assert_eq!((c.seed, c.train.steps), (4, 11));
}

#[test]
fn changing_a_plugin_name_replaces_its_section() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "kl.toml",
        "[divergence]\nname = \"kl\"\ndiscrete_steps = 10\n",
    );
    // Without replacement `discrete_steps` would be left over and rejected by w2.
    let c = load(&sources(Some(f.clone()), &[], &["divergence.name=w2"]))
        .unwrap()
        .config;
    assert_eq!(c.divergence.name(), "w2");
    // The same name keeps the section and merges into it.
    let c = load(&sources(Some(f), &[], &["divergence.loss=discrete"]))
        .unwrap()
        .config;
    let v = serde_json::to_value(&c.divergence).unwrap();
    assert_eq!(v["discrete_steps"], 10);
    assert_eq!(v["loss"], "discrete");
}

#[test]
fn unknown_plugin_names_list_the_registered_ones() {
    let e = err(sources(None, &[], &["divergence.name=sinkhornish"]));
    assert!(e.contains("divergence.name"), "{e}");
    assert!(e.contains("`sinkhornish`"), "{e}");
    assert!(
        e.contains(
            "alpha, chi2, forward-kl, hellinger, jensen-shannon, kl, rectified-flow, reverse-kl, \
             sinkhorn, total-variation, w2"
        ),
        "{e}"
    );
    assert!(e.contains("--set divergence.name"), "{e}");
    let e = err(sources(None, &[], &["sampler.name=leapfrog"]));
    assert!(
        e.contains("deterministic, dopri5, heun, sde, stochastic"),
        "{e}"
    );
}

#[test]
fn wrong_types_and_unknown_keys_name_the_key() {
    let e = err(sources(None, &[], &["train.lr=fast"]));
    assert!(e.contains("train.lr"), "{e}");
    let e = err(sources(None, &[], &["train.learning_rate=0.1"]));
    assert!(
        e.contains("train.learning_rate") || e.contains("learning_rate"),
        "{e}"
    );
    let e = err(sources(None, &[], &["sampler.eta_typo=0.1"]));
    assert!(e.contains("sampler") && e.contains("eta_typo"), "{e}");
    let e = err(sources(None, &[], &["divergence.loss_weight=sideways"]));
    assert!(e.contains("divergence") && e.contains("sideways"), "{e}");
    let e = err(sources(None, &[], &["nonsense"]));
    assert!(e.contains("key=value"), "{e}");
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let e = err(sources(Some(missing.clone()), &[], &[]));
    assert!(e.contains("nope.toml") && e.contains("cannot read"), "{e}");
    let bad = write(&dir, "bad.toml", "[train\nlr = 1\n");
    let e = err(sources(Some(bad), &[], &[]));
    assert!(e.contains("bad.toml"), "{e}");
}

#[test]
fn an_unsupported_belief_family_is_rejected() {
    let e = err(sources(
        None,
        &[],
        &["divergence.name=kl", "belief.name=particle"],
    ));
    assert!(
        e.contains("belief.name")
            && e.contains("`kl`")
            && e.contains("`particle`")
            && e.contains("it supports: diag-gaussian, categorical"),
        "{e}"
    );
}

/// The belief family is checked when the config is loaded (issue 34's "Bad input"): an
/// unknown name lists the registered families, a divergence paired with a family it does not
/// support names both and what it supports, and `K < 2` names `belief.classes`.
#[test]
fn belief_family_bad_input_is_refused_at_load_time() {
    let w2 = Some(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/w2.toml"
    )));
    // W2 has no proximal step on the simplex.
    let e = err(sources(w2.clone(), &[], &["belief.name=categorical"]));
    assert!(
        e.contains("belief.name")
            && e.contains("`w2`")
            && e.contains("`categorical`")
            && e.contains("it supports: particle"),
        "{e}"
    );
    // Nor on the mean-only Gaussian family.
    let e = err(sources(w2, &[], &["belief.name=diag-gaussian"]));
    assert!(
        e.contains("`w2`") && e.contains("`diag-gaussian`") && e.contains("particle"),
        "{e}"
    );
    // A name nobody registered: the registered families, by their plural.
    let e = err(sources(None, &[], &["belief.name=nope"]));
    assert!(
        e.contains("belief.name")
            && e.contains("unknown belief family `nope`")
            && e.contains("registered belief families: categorical, diag-gaussian, particle"),
        "{e}"
    );
    // K < 2, on a divergence that supports the family.
    let e = err(sources(
        None,
        &[],
        &[
            "divergence.name=kl",
            "belief.name=categorical",
            "belief.classes=1",
        ],
    ));
    assert!(
        e.contains("belief.classes") && e.contains("at least 2 classes"),
        "{e}"
    );
    // The same pairing with K = 2 loads, and its family is the categorical one.
    let loaded = load(&sources(
        None,
        &[],
        &[
            "divergence.name=kl",
            "belief.name=categorical",
            "belief.classes=2",
        ],
    ))
    .unwrap();
    let family = loaded.config.belief_family().unwrap();
    assert_eq!(family.name(), "categorical");
    assert_eq!(family.categorical().unwrap().classes, Some(2));
}

#[test]
fn data_dir_env_is_not_a_config_layer() {
    // `GPFN_DATA_DIR` is read by file-backed data sets, never merged as `data_dir`.
    let c = load(&sources(
        None,
        &[("GPFN_DATA_DIR", "/tmp/mnist"), ("GPFN_BACKEND", "flex")],
        &[],
    ));
    assert!(c.is_ok(), "{:?}", c.err());
    // `--data-dir` is `--set data.dir`: a toy data set has no folder, and the error says so.
    let e = err(sources(None, &[], &["data.dir=\"/tmp\""]));
    assert!(e.contains("data") && e.contains("dir"), "{e}");
}

#[test]
fn the_f_divergence_configs_load_with_their_parameters() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for (file, name) in [
        ("fdiv-hellinger-toy.toml", "hellinger"),
        ("fdiv-hellinger.toml", "hellinger"),
        ("fdiv-reverse-kl-toy.toml", "reverse-kl"),
        ("fdiv-reverse-kl.toml", "reverse-kl"),
    ] {
        let path = root.join("configs").join(file);
        let c = load(&sources(Some(path), &[], &[]))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .config;
        assert_eq!(c.divergence.name(), name, "{file}");
        // A simulated flow exists on its grid only: the sampler must use the same steps.
        assert_eq!(
            c.divergence.maths().flow_grid(),
            Some(c.sampler.steps()),
            "{file}"
        );
    }
    // A parameter of another plugin is an error naming it.
    let e = err(sources(
        None,
        &[],
        &["divergence.name=\"hellinger\"", "divergence.alpha=0.3"],
    ));
    assert!(e.contains("alpha"), "{e}");
}

/// A run folder's saved config reads back the same through the layered loader (the built-in
/// defaults under it add nothing), for every shipped config; `--set` layers go on top.
#[test]
fn a_saved_run_config_reads_back_through_the_layers() {
    use gpfn_run::run_folder::RunFolder;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    assert!(
        files
            .iter()
            .any(|p| p.ends_with("bench/torch-reference.toml"))
    );
    for path in files {
        let run_dir = format!(
            "run.dir={}",
            gpfn_run::config::toml_string(&dir.path().display().to_string())
        );
        let config = load(&sources(Some(path.clone()), &[], &[&run_dir]))
            .unwrap()
            .config;
        let folder = RunFolder::create(&config, false).unwrap();
        let plain = folder.config().unwrap().to_toml();
        assert_eq!(plain, config.to_toml(), "{}", path.display());
        assert_eq!(
            folder.config_with(&[]).unwrap().to_toml(),
            plain,
            "{}",
            path.display()
        );
        let moved = folder
            .config_with(&["backend=\"wgpu\"".into(), "train.steps=7".into()])
            .unwrap();
        assert_eq!((moved.backend.as_str(), moved.train.steps), ("wgpu", 7));
        checked += 1;
    }
    assert!(checked >= 10, "{checked} configs");
}

/// The like-for-like benchmark network is the PyTorch reference U-Net of
/// `../shared/bench/torch_unet_bench.py` layer for layer: the same parameter count, 1 461 953
/// (PyTorch's `sum(p.numel() for p in model.parameters())`), and the same count per layer
/// kind, derived here from the script's docstring.
#[test]
fn the_torch_reference_network_has_the_reference_parameter_count() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/bench/torch-reference.toml");
    let c = load(&sources(Some(path), &[], &[])).unwrap().config;
    let device = burn::tensor::Device::flex();
    let net = gpfn_run::train::build_network(&c, &[1, 28, 28], &device).unwrap();
    use burn::module::Module;
    // Independent count from the layer list: conv k×k cin→cout has k²·cin·cout + cout,
    // linear a→b has a·b + b, GroupNorm over c channels 2c.
    let conv = |k: usize, i: usize, o: usize| k * k * i * o + o;
    let lin = |i: usize, o: usize| i * o + o;
    let res = |i: usize, o: usize| {
        2 * i
            + conv(3, i, o)
            + lin(128, o)
            + 2 * o
            + conv(3, o, o)
            + if i != o { conv(1, i, o) } else { 0 }
    };
    let expected = lin(32, 128)
        + lin(128, 128)
        + conv(3, 1, 32)
        + res(32, 32)
        + conv(3, 32, 32)
        + res(32, 64)
        + conv(3, 64, 64)
        + res(64, 128)
        + res(128, 128)
        + res(256, 128)
        + conv(3, 128, 64)
        + res(128, 64)
        + conv(3, 64, 32)
        + res(64, 32)
        + 2 * 32
        + conv(3, 32, 1);
    assert_eq!(expected, 1_461_953);
    assert_eq!(net.num_params(), expected);
}

#[test]
fn out_of_range_values_name_the_key_the_value_and_the_allowed_range() {
    // (the --set flag, what the message must say). Plugin sections are chosen by name first so
    // that the key under test belongs to the plugin that has it.
    let cases: &[(&[&str], &str, &str)] = &[
        (&["train.steps=0"], "train.steps", "must be ≥ 1, got 0"),
        (
            &["train.batch_size=0"],
            "train.batch_size",
            "must be ≥ 1, got 0",
        ),
        (&["train.lr=0"], "train.lr", "must be > 0, got 0"),
        (&["train.lr=nan"], "train.lr", "finite"),
        (
            &["train.ema_decay=1"],
            "train.ema_decay",
            "must be in [0, 1), got 1",
        ),
        (&["train.ema_decay=1.5"], "train.ema_decay", "[0, 1)"),
        (
            &["train.grad_clip=-1"],
            "train.grad_clip",
            "must be ≥ 0, got -1",
        ),
        (
            &["train.final_lr_ratio=2"],
            "train.final_lr_ratio",
            "[0, 1]",
        ),
        (&["train.log_every=0"], "train.log_every", "≥ 1"),
        (
            &["train.keep_checkpoints=0"],
            "train.keep_checkpoints",
            "≥ 1",
        ),
        (&["sample.count=0"], "sample.count", "must be ≥ 1, got 0"),
        (
            &["backend=\"nosuch\""],
            "backend",
            "valid: flex, wgpu, cuda",
        ),
        (&["sampler.steps=0"], "sampler.steps", "≥ 1"),
        (
            &["sampler.name=\"stochastic\"", "sampler.eta=2"],
            "sampler.eta",
            "must be in [0, 1], got 2",
        ),
        (
            &["divergence.name=\"kl\"", "divergence.discrete_steps=0"],
            "divergence.discrete_steps",
            "must be ≥ 1, got 0",
        ),
        (
            &["divergence.name=\"sinkhorn\"", "divergence.epsilon=0"],
            "divergence.epsilon",
            "must be > 0, got 0",
        ),
        (
            &["schedule.name=\"bfn-geometric\"", "schedule.sigma1=1.5"],
            "schedule.sigma1",
            "must be in (0, 1), got 1.5",
        ),
        (
            &["network.name=\"unet\"", "network.groups=0"],
            "network.groups",
            "must be ≥ 1, got 0",
        ),
        (
            &["network.name=\"unet\"", "network.dropout=2"],
            "network.dropout",
            "must be in [0, 1), got 2",
        ),
        (&["data.samples=0"], "data.samples", "≥ 1"),
    ];
    for (sets, key, what) in cases {
        let e = err(sources(None, &[], sets));
        assert!(
            e.contains(&format!("`{key}`")) && e.contains(what) && e.contains("--set"),
            "{sets:?}: {e}"
        );
    }
}

#[test]
fn gpfn_variables_are_config_keys_or_documented_and_unknown_ones_are_named() {
    // A key the schema knows is a layer; a documented non-config variable is left alone.
    let c = load(&sources(
        None,
        &[
            ("GPFN_TRAIN__LR", "3e-4"),
            ("GPFN_LOG", "debug"),
            ("GPFN_CACHE_DIR", "/tmp/c"),
        ],
        &[],
    ))
    .unwrap();
    assert_eq!(c.config.train.lr, 3e-4);
    assert_eq!(c.source_of("train.lr"), "env GPFN_TRAIN__LR");
    // Anything else is an error that names the variable.
    for (var, value) in [
        ("GPFN_TRAIN__LRR", "1"),
        ("GPFN_FOO", "1"),
        ("GPFN___X", "1"),
    ] {
        let e = err(sources(None, &[(var, value)], &[]));
        assert!(e.contains(var), "{var}: {e}");
    }
    // A value out of range names the variable that set it.
    let e = err(sources(None, &[("GPFN_TRAIN__EMA_DECAY", "1")], &[]));
    assert!(
        e.contains("train.ema_decay") && e.contains("GPFN_TRAIN__EMA_DECAY"),
        "{e}"
    );
}
