//! Masked completion (`gpfn_run::complete`): on the 2-D toys, the known coordinate comes out
//! equal to the input for every divergence with a closed-form flow (`w2`, `kl`,
//! `rectified-flow`, `sinkhorn`) and every sampler that applies, guided or not, and on the
//! categorical toy for discrete BFN and Hellinger on the simplex; continuous divergences
//! without a closed-form flow (`fdiv`), known values that are not classes, and bad shapes are
//! named errors. Tiny runs (MLP 16×16, 3 steps): they
//! test the plumbing, not the quality.

use gpfn_cli as _; // links every built-in plugin
use gpfn_core::GpfnError;
use gpfn_core::burn::tensor::Device;
use gpfn_core::sampler::{Sampler, by_name};
use gpfn_data::Split;
use gpfn_network::Network;
use gpfn_run::complete::{Completion, check};
use gpfn_run::condition::{ClassChoice, Guidance};
use gpfn_run::config::{Config, ConfigSources, load};
use gpfn_run::generate::{Completing, Drawn, SampleBatch, draw_completed};
use gpfn_run::train::{TrainOptions, build_network, train};
use gpfn_run::{RunFolder, checkpoint};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn config(file: &str, run_dir: &Path, sets: &[&str]) -> Config {
    let mut all = vec![format!("run.dir=\"{}\"", run_dir.display())];
    all.extend(
        [
            "condition.classes=8",
            "data.samples=512",
            "network.hidden=[16, 16]",
            "train.steps=3",
            "train.batch_size=64",
            "train.warmup_steps=1",
            "train.checkpoint_every=0",
            "train.sample_every=0",
            "sample.count=8",
        ]
        .iter()
        .chain(sets)
        .map(|s| s.to_string()),
    );
    load(&ConfigSources {
        file: Some(workspace().join("configs").join(file)),
        env: Vec::new(),
        sets: all,
    })
    .unwrap_or_else(|e| panic!("{file}: {e}"))
    .config
}

/// A tiny conditional toy run, trained: its config, EMA network and item shape.
struct Toy {
    config: Config,
    net: Network,
    shape: Vec<usize>,
}

impl Toy {
    /// Trains the tiny conditional run of `file` in `dir`.
    fn trained(file: &str, dir: &Path, device: &Device) -> Toy {
        let config = config(file, dir, &[]);
        let folder = RunFolder::create(&config, false).unwrap();
        train(&config, &folder, &TrainOptions::default()).unwrap();
        let shape = config.data.load(Split::Test, config.seed).unwrap().shape;
        let ckpt = checkpoint::latest(&folder.checkpoints()).unwrap().unwrap();
        let net =
            checkpoint::load_ema(&ckpt, build_network(&config, &shape, device).unwrap()).unwrap();
        Toy { config, net, shape }
    }

    /// `count` completions (`what`, without resampling) with `sampler`, noise seed 3.
    fn complete(
        &self,
        sampler: &dyn Sampler,
        count: usize,
        what: (&Completion, usize, Option<&Guidance>),
        device: &Device,
    ) -> gpfn_core::Result<Drawn> {
        self.complete_resampled(sampler, (count, 1), what, device)
    }

    /// [`Toy::complete`] with RePaint's resampling: `(count, resample)`.
    fn complete_resampled(
        &self,
        sampler: &dyn Sampler,
        (count, resample): (usize, usize),
        what: (&Completion, usize, Option<&Guidance>),
        device: &Device,
    ) -> gpfn_core::Result<Drawn> {
        let (completion, start, guidance) = what;
        let batch = SampleBatch {
            count,
            seed: 3,
            stream: 0,
        };
        let what = Completing {
            completion,
            start,
            guidance,
            resample,
        };
        draw_completed(
            &self.config,
            &self.net,
            sampler,
            &self.shape,
            device,
            batch,
            what,
        )
    }
}

#[test]
fn known_coordinates_are_kept_by_every_flow_and_sampler() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    // Two points; the mask keeps the first coordinate of each (1 = known).
    let image = vec![0.75f32, -0.25, -1.5, 2.0];
    let mask = vec![1.0f32, 0.0];
    for file in [
        "w2-toy.toml",
        "kl-toy.toml",
        "rectified-flow-toy.toml",
        "sinkhorn-toy.toml",
    ] {
        let toy = Toy::trained(file, dir.path(), &device);
        let (config, shape) = (&toy.config, &toy.shape);
        let completion =
            Completion::new(image.clone(), &[2, 2], mask.clone(), &[2], shape).unwrap();
        let guided = Guidance::new(ClassChoice::One(2), 1.0, config.condition.as_ref()).unwrap();
        let mut ran = 0;
        for name in ["deterministic", "stochastic", "ancestral", "sde", "dopri5"] {
            let sampler = by_name(name, 4, "--sampler").unwrap();
            for guidance in [None, Some(&guided)] {
                let drawn = toy.complete(sampler.as_ref(), 6, (&completion, 1, guidance), &device);
                let Ok(drawn) = drawn else {
                    continue; // a sampler this divergence does not take
                };
                ran += 1;
                for (k, row) in drawn.values.chunks_exact(2).enumerate() {
                    // Sample k completes image (1 + k) mod 2: its first coordinate is the
                    // data exactly, its second is sampled (finite, not the data's).
                    let x = &image[((1 + k) % 2) * 2..((1 + k) % 2) * 2 + 2];
                    assert_eq!(row[0], x[0], "{file} {name} sample {k}");
                    assert!(row[1].is_finite() && row[1] != x[1], "{file} {name}");
                }
            }
        }
        assert!(ran >= 4, "{file}: {ran} sampler runs");
    }
    // Categorical data (16 classes per coordinate): the known class is the sample's, the
    // free one a class; the chain's steps are the sampler's (Hellinger's grid: 20).
    let image = vec![3.0f32, 0.0, 12.0, 7.0];
    for (file, steps) in [
        ("kl-discrete-toy.toml", 4),
        ("fdiv-hellinger-discrete-toy.toml", 20),
    ] {
        let toy = Toy::trained(file, dir.path(), &device);
        let (config, shape) = (&toy.config, &toy.shape);
        let completion =
            Completion::new(image.clone(), &[2, 2], mask.clone(), &[2], shape).unwrap();
        let guided = Guidance::new(ClassChoice::One(2), 1.0, config.condition.as_ref()).unwrap();
        for name in ["stochastic", "ancestral", "deterministic"] {
            let sampler = by_name(name, steps, "--sampler").unwrap();
            for guidance in [None, Some(&guided)] {
                let drawn = toy
                    .complete(sampler.as_ref(), 6, (&completion, 1, guidance), &device)
                    .unwrap_or_else(|e| panic!("{file} {name}: {e}"));
                for (k, row) in drawn.values.chunks_exact(2).enumerate() {
                    let x = &image[((1 + k) % 2) * 2..((1 + k) % 2) * 2 + 2];
                    assert_eq!(row[0], x[0], "{file} {name} sample {k}");
                    assert!(
                        row[1].fract() == 0.0 && (0.0..16.0).contains(&row[1]),
                        "{file} {name}: {}",
                        row[1]
                    );
                }
            }
        }
        // RePaint's resampling: `kl` carries the beliefs back by the sender's bridge (each
        // step taken 3 times: NFE 3 n + 1); Hellinger's simulated flow has no such kernel.
        let sampler = by_name("stochastic", steps, "--sampler").unwrap();
        let drawn =
            toy.complete_resampled(sampler.as_ref(), (6, 3), (&completion, 1, None), &device);
        if file.starts_with("kl") {
            let drawn = drawn.unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(drawn.nfe, 3 * steps + 1, "{file}");
            for (k, row) in drawn.values.chunks_exact(2).enumerate() {
                assert_eq!(
                    row[0],
                    image[((1 + k) % 2) * 2],
                    "{file} resampled sample {k}"
                );
                assert!(row[1].fract() == 0.0 && (0.0..16.0).contains(&row[1]));
            }
        } else {
            let e = match drawn {
                Ok(_) => panic!("{file}: resampled without a kernel"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains("--resample") && e.contains("kernel"), "{e}");
        }
        // A known value that is not a class index is named.
        let bad = Completion::new(vec![2.5, 0.0], &[2], mask.clone(), &[2], shape).unwrap();
        let sampler = by_name("stochastic", steps, "--sampler").unwrap();
        let drawn = toy.complete(sampler.as_ref(), 2, (&bad, 0, None), &device);
        let e = match drawn {
            Ok(_) => panic!("{file}: 2.5 is not a class"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("--complete") && e.contains("2.5"), "{e}");
    }
    // fdiv's flow is simulated: no closed form to put the known pixels on.
    let hellinger = config("fdiv-hellinger-toy.toml", dir.path(), &[]);
    let e = check(&hellinger.model().unwrap()).unwrap_err();
    match e {
        GpfnError::Config { key, message } => {
            assert_eq!(key, "--complete");
            assert!(message.contains("closed-form flow"), "{message}");
        }
        e => panic!("{e}"),
    }
}
