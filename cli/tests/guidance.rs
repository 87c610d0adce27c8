//! Class-conditional runs and classifier-free guidance end to end: every divergence (`kl`,
//! `w2`, `rectified-flow`, `sinkhorn`, `hellinger`, and discrete BFN on the categorical toy)
//! trains a few steps with `[condition]` on a labelled toy and samples guided with each
//! sampler that applies; `gpfn sample --class … --guidance …` and its named errors.
//!
//! The runs are tiny (MLP 16×16, 3 steps, 16 samples of 4 steps): they test the plumbing,
//! not the quality.

use gpfn_cli as _; // links every built-in plugin
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::sampler::by_name;
use gpfn_data::Split;
use gpfn_network::class_indices;
use gpfn_run::condition::{ClassChoice, Guidance};
use gpfn_run::config::{Config, ConfigSources, load};
use gpfn_run::generate::{SampleBatch, draw_guided};
use gpfn_run::train::{TrainOptions, build_network, train};
use gpfn_run::{RunFolder, checkpoint};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Settings that make a toy run tiny and conditional over `classes` classes.
fn tiny(classes: usize) -> Vec<String> {
    [
        format!("condition.classes={classes}"),
        "condition.dropout=0.2".into(),
        "data.samples=512".into(),
        "network.hidden=[16, 16]".into(),
        "train.steps=3".into(),
        "train.batch_size=64".into(),
        "train.warmup_steps=1".into(),
        "train.log_every=1".into(),
        "train.checkpoint_every=0".into(),
        "train.sample_every=0".into(),
        "sample.count=16".into(),
    ]
    .into()
}

fn config(file: &str, run_dir: &Path, sets: &[String]) -> Config {
    let mut all = vec![format!("run.dir=\"{}\"", run_dir.display())];
    all.extend(sets.iter().cloned());
    load(&ConfigSources {
        file: Some(workspace().join("configs").join(file)),
        env: Vec::new(),
        sets: all,
    })
    .unwrap_or_else(|e| panic!("{file}: {e}"))
    .config
}

/// Trains `config` and returns its EMA network and the item shape.
fn trained(config: &Config, device: &Device) -> (gpfn_network::Network, Vec<usize>) {
    let folder = RunFolder::create(config, false).unwrap();
    let summary = train(config, &folder, &TrainOptions::default()).unwrap();
    assert!(summary.loss.unwrap().is_finite());
    let shape = config.data.load(Split::Test, config.seed).unwrap().shape;
    let ckpt = checkpoint::latest(&folder.checkpoints()).unwrap().unwrap();
    let net = checkpoint::load_ema(&ckpt, build_network(config, &shape, device).unwrap()).unwrap();
    (net, shape)
}

#[test]
fn every_divergence_and_sampler_takes_guidance() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("w2-toy.toml", 8),
        ("kl-toy.toml", 8),
        ("rectified-flow-toy.toml", 8),
        ("sinkhorn-toy.toml", 8),
        ("fdiv-hellinger-toy.toml", 8),
        ("kl-discrete-toy.toml", 8),
    ];
    let samplers = ["deterministic", "stochastic", "ancestral", "sde", "dopri5"];
    let mut ran = Vec::new();
    for (file, k) in cases {
        let mut sets = tiny(k);
        match file {
            "kl-discrete-toy.toml" => sets.push("data.classes=8".into()),
            // The f-divergence's flow is simulated on a grid, sampled with as many steps.
            "fdiv-hellinger-toy.toml" => {
                sets.extend(["divergence.steps=4".into(), "sampler.steps=4".into()])
            }
            _ => {}
        }
        let config = config(file, dir.path(), &sets);
        let (net, shape) = trained(&config, &device);
        assert_eq!(net.label_classes(), Some(k));
        let d: usize = shape.iter().product();
        for name in samplers {
            let sampler = by_name(name, 4, "--sampler").unwrap();
            let batch = SampleBatch {
                count: 16,
                seed: 5,
                stream: 0,
            };
            let draw = |g: Option<&Guidance>| {
                draw_guided(&config, &net, sampler.as_ref(), &shape, &device, batch, g)
            };
            let plain = draw(None);
            let zero = Guidance::new(ClassChoice::One(3), 0.0, config.condition.as_ref()).unwrap();
            let two = Guidance::new(ClassChoice::All, 1.5, config.condition.as_ref()).unwrap();
            let Ok(plain) = plain else {
                // A sampler that does not apply to this divergence refuses guided runs alike.
                let e = plain.unwrap_err().to_string();
                let g = draw(Some(&two)).unwrap_err().to_string();
                assert_eq!(e, g, "{file} {name}");
                continue;
            };
            let at_zero = draw(Some(&zero)).unwrap_or_else(|e| panic!("{file} {name}: {e}"));
            let guided = draw(Some(&two)).unwrap_or_else(|e| panic!("{file} {name}: {e}"));
            for drawn in [&plain, &at_zero, &guided] {
                assert_eq!(drawn.values.len(), 16 * d, "{file} {name}");
                assert!(drawn.values.iter().all(|v| v.is_finite()), "{file} {name}");
            }
            if sampler.tolerance().is_none() {
                // w = 0: one network call per step; w ≠ 0: two evaluations per step.
                assert_eq!(at_zero.nfe, plain.nfe, "{file} {name}");
                assert_eq!(guided.nfe, 2 * plain.nfe, "{file} {name}");
            } else {
                assert!(guided.nfe > 0 && guided.nfe % 2 == 0, "{file} {name}");
            }
            ran.push(format!("{file} {name}"));
        }
    }
    // Every divergence ran at least its default sampler guided, and every sampler ran.
    for (file, _) in cases {
        assert!(ran.iter().any(|r| r.starts_with(file)), "{file}: {ran:?}");
    }
    for name in samplers {
        assert!(ran.iter().any(|r| r.ends_with(name)), "{name}: {ran:?}");
    }
}

/// `w = 0` is the conditional prediction itself (one call); `w = 1` is
/// `x̂_∅ + 2 (x̂_c − x̂_∅)` for a velocity readout (affine in the output, no clipping).
#[test]
fn guided_predictions_are_the_formula() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let config = config("w2-toy.toml", dir.path(), &tiny(8));
    let (net, _) = trained(&config, &device);
    let model = config.model().unwrap();
    let b = 6;
    let z = Tensor::<2>::from_data(
        TensorData::new(
            (0..2 * b).map(|i| (i as f32 * 0.7).sin() * 2.0).collect(),
            [b, 2],
        ),
        &device,
    );
    let t: Vec<f64> = (0..b).map(|i| 0.1 + 0.15 * i as f64).collect();
    let host = |x: Tensor<2>| x.into_data().try_to_vec::<f32>().unwrap();
    let condition = config.condition.as_ref();
    let classes = [2usize; 6];
    let cond = host(
        model
            .predict_x_conditional(&net, z.clone(), &t, Some(class_indices(&classes, &device)))
            .unwrap(),
    );
    let uncond = host(model.predict_x(&net, z.clone(), &t).unwrap());
    let w0 = Guidance::new(ClassChoice::One(2), 0.0, condition).unwrap();
    assert_eq!(
        host(model.predict_x_guided(&net, z.clone(), &t, &w0).unwrap()),
        cond
    );
    let w1 = Guidance::new(ClassChoice::One(2), 1.0, condition).unwrap();
    let guided = host(model.predict_x_guided(&net, z, &t, &w1).unwrap());
    for i in 0..guided.len() {
        let want = uncond[i] + 2.0 * (cond[i] - uncond[i]);
        assert!(
            (guided[i] - want).abs() <= 1e-4 * (1.0 + want.abs()),
            "{i}: {} vs {want}",
            guided[i]
        );
    }
}

fn gpfn(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpfn"));
    cmd.args(args)
        .current_dir(workspace())
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GPFN_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("gpfn runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn gpfn_sample_takes_a_class_and_a_guidance_weight() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = format!("run.dir=\"{}\"", dir.path().display());
    let sets = tiny(8);
    let mut common: Vec<&str> = vec!["--config", "configs/w2-toy.toml", "--set", &run_dir];
    for s in &sets {
        common.extend(["--set", s]);
    }
    let with = |extra: &[&str]| {
        let mut a = common.clone();
        a.extend_from_slice(extra);
        gpfn(&a)
    };
    let o = with(&["train", "--no-progress"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Training's final samples of a conditional run: class-balanced.
    assert!(dir.path().join("w2-toy/samples/final.npy").exists());

    for (flags, tag) in [
        (&["--class", "3", "--guidance", "1"][..], "class-3-w1"),
        (
            &["--class", "all", "--guidance", "-0.5"][..],
            "class-all-w-0.5",
        ),
        (&[][..], "class-all-w0"),
    ] {
        let mut a = vec!["sample", "--steps", "4", "--count", "16"];
        a.extend_from_slice(flags);
        let o = with(&a);
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        let npy = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        assert!(npy.to_string_lossy().contains(tag), "{}", npy.display());
        let (values, shape) = gpfn_io::read_npy(&npy).unwrap();
        assert_eq!(shape, vec![16, 2]);
        assert!(values.iter().all(|v| v.is_finite()));
    }

    // Bad input: each a named error before sampling.
    for (flags, needle) in [
        (&["--class", "8"][..], "--class"),
        (&["--class", "seven"][..], "neither a class index"),
        (&["--class", "1", "--guidance", "nan"][..], "--guidance"),
        (&["--guidance", "inf"][..], "--guidance"),
    ] {
        let mut a = vec!["sample", "--steps", "4", "--count", "16"];
        a.extend_from_slice(flags);
        let o = with(&a);
        assert!(!o.status.success(), "{flags:?}");
        assert!(stderr(&o).contains(needle), "{flags:?}: {}", stderr(&o));
    }

    // An unconditional run takes neither flag.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain_run = format!("run.dir=\"{}\"", plain_dir.path().display());
    let plain = |extra: &[&str]| {
        let mut a = vec![
            "--config",
            "configs/w2-toy.toml",
            "--set",
            &plain_run,
            "--set",
            "train.steps=2",
            "--set",
            "network.hidden=[8]",
            "--set",
            "sample.count=8",
        ];
        a.extend_from_slice(extra);
        gpfn(&a)
    };
    let o = plain(&["train", "--no-progress"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (flags, key) in [
        (&["--class", "3"][..], "--class"),
        (&["--guidance", "1"][..], "--guidance"),
    ] {
        let mut a = vec!["sample", "--steps", "4"];
        a.extend_from_slice(flags);
        let o = plain(&a);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains(key) && e.contains("unconditional"), "{e}");
    }

    // A conditional config on a data set without labels stops before training.
    let o = gpfn(&[
        "--config",
        "configs/w2-toy.toml",
        "--set",
        &run_dir,
        "--set",
        "run.name=\"checker\"",
        "--set",
        "data.name=\"checkerboard\"",
        "--set",
        "condition.classes=2",
        "train",
        "--no-progress",
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("checkerboard") && e.contains("has no labels") && e.contains("condition"),
        "{e}"
    );
}

/// Label dropout is drawn per step (`Rng::derive(seed, "label-dropout", step)`): a conditional
/// run resumed halfway ends with the weights of an uninterrupted one, bit for bit.
#[test]
fn a_conditional_run_resumes_exactly() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut sets = tiny(8);
    sets.push("train.steps=6".into());
    let weights = |config: &Config, folder: &RunFolder| {
        let ckpt = checkpoint::latest(&folder.checkpoints()).unwrap().unwrap();
        let shape = config.data.load(Split::Test, config.seed).unwrap().shape;
        let fresh = || build_network(config, &shape, &device).unwrap();
        let model = checkpoint::restore(&ckpt, fresh(), fresh(), gpfn_run::train::optimizer())
            .unwrap()
            .model;
        model.flat_parameters()
    };
    let straight = config("w2-toy.toml", &dir.path().join("a"), &sets);
    let folder = RunFolder::create(&straight, false).unwrap();
    train(&straight, &folder, &TrainOptions::default()).unwrap();
    let a = weights(&straight, &folder);

    let split = config("w2-toy.toml", &dir.path().join("b"), &sets);
    let folder = RunFolder::create(&split, false).unwrap();
    let first = TrainOptions {
        stop_after: Some(3),
        ..TrainOptions::default()
    };
    assert_eq!(train(&split, &folder, &first).unwrap().step, 3);
    let folder = RunFolder::create(&split, true).unwrap();
    let second = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    assert_eq!(train(&split, &folder, &second).unwrap().step, 6);
    let b = weights(&split, &folder);
    // The class table (the last K · 16 parameters) trained too.
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
}

/// The null class adds zero to the time embedding and label dropout draws from its own
/// stream, so a conditional toy trained with `condition.dropout = 1` (every label replaced by
/// `∅`) is the unconditional toy trained with the same seed: the same weights bit for bit
/// (its class rows never receive a gradient), and its null-class prediction is the
/// unconditional model's prediction, hence the same samples.
#[test]
fn the_null_class_trained_with_dropout_1_is_the_unconditional_model() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut sets = tiny(8);
    sets.push("condition.dropout=1.0".into());
    let plain_sets: Vec<String> = sets
        .iter()
        .filter(|s| !s.starts_with("condition."))
        .cloned()
        .collect();
    let conditional = config("w2-toy.toml", &dir.path().join("cond"), &sets);
    assert_eq!(conditional.condition.unwrap().dropout, 1.0);
    let plain = config("w2-toy.toml", &dir.path().join("plain"), &plain_sets);
    assert!(plain.condition.is_none());
    let (cond_net, shape) = trained(&conditional, &device);
    let (plain_net, _) = trained(&plain, &device);

    let cond_weights = cond_net.flat_parameters();
    let plain_weights = plain_net.flat_parameters();
    // The class table (8 rows of the MLP's 16 time features) comes last and is untouched.
    assert_eq!(cond_weights.len(), plain_weights.len() + 8 * 16);
    assert_eq!(&cond_weights[..plain_weights.len()], &plain_weights[..]);

    let d: usize = shape.iter().product();
    let b = 32;
    let z = Tensor::<2>::from_data(
        TensorData::new(
            (0..b * d)
                .map(|i| ((i * 29 % 17) as f32 - 8.0) / 4.0)
                .collect(),
            [b, d],
        ),
        &device,
    );
    let t = Tensor::<2>::from_data(
        TensorData::new((0..b).map(|i| i as f32 / b as f32).collect(), [b, 1]),
        &device,
    );
    let host = |x: Tensor<2>| x.into_data().try_to_vec::<f32>().unwrap();
    let null = cond_net
        .forward_conditional(z.clone(), t.clone(), Some(class_indices(&[8; 32], &device)))
        .unwrap();
    assert_eq!(host(null), host(plain_net.forward(z, t)));
}
