//! The paper's qualitative claim on a toy: BFN's deterministic sampler collapses to one
//! output, while W2's deterministic sampler at 10 steps keeps the modes.
//!
//! The toy MLP (3×128) is trained for 2000 steps (seconds) on eight Gaussians (std 0.1 on a circle
//! of radius 2) with each divergence, identical but for the divergence and its schedule.

use gpfn_data::eight_gaussian_centers;
use gpfn_run::train::TrainOptions;
use gpfn_tests::{config, sample, train_quietly};

/// Samples within 0.5 (5σ) of a centre count for that mode; a mode is reached when at least
/// 2% of the samples (a quarter of its fair share) land on it.
fn modes_reached(points: &[f32]) -> (usize, f64) {
    let centers = eight_gaussian_centers();
    let mut counts = [0usize; 8];
    let n = points.len() / 2;
    for p in points.chunks_exact(2) {
        for (k, c) in centers.iter().enumerate() {
            if (c[0] - p[0] as f64).hypot(c[1] - p[1] as f64) < 0.5 {
                counts[k] += 1;
            }
        }
    }
    let on_mode = counts.iter().sum::<usize>() as f64 / n as f64;
    (
        counts
            .iter()
            .filter(|&&c| c as f64 >= 0.02 * n as f64)
            .count(),
        on_mode,
    )
}

fn spread(points: &[f32]) -> f32 {
    (0..2)
        .map(|k| {
            let col: Vec<f32> = points.iter().skip(k).step_by(2).copied().collect();
            col.iter().copied().fold(f32::MIN, f32::max)
                - col.iter().copied().fold(f32::MAX, f32::min)
        })
        .fold(0.0, f32::max)
}

const SETS: [&str; 4] = [
    "train.steps=2000",
    "train.checkpoint_every=0",
    "train.sample_every=0",
    "sample.count=500",
];

#[test]
fn bfn_deterministic_collapses_while_w2_keeps_the_modes() {
    let dir = tempfile::tempdir().unwrap();

    let w2 = config("w2-toy.toml", dir.path(), &SETS);
    let (folder, summary) = train_quietly(&w2, TrainOptions::default());
    let points = sample(&w2, &folder, 10, 1000);
    let (modes, on_mode) = modes_reached(&points);
    eprintln!(
        "w2: loss {:?} after {} steps in {:.1}s; deterministic 10 steps: {modes}/8 modes, {:.0}% of samples on a mode",
        summary.loss,
        summary.step,
        summary.seconds,
        100.0 * on_mode
    );
    assert!(modes >= 7, "W2 reached only {modes} of 8 modes");
    assert!(
        on_mode > 0.5,
        "only {:.0}% of W2 samples are near a mode",
        100.0 * on_mode
    );

    let kl = config("kl-toy.toml", dir.path(), &SETS);
    let (folder, summary) = train_quietly(&kl, TrainOptions::default());
    let points = sample(&kl, &folder, 10, 1000);
    let s = spread(&points);
    eprintln!(
        "kl: loss {:?}; deterministic 10 steps: spread of 1000 samples = {s:.2e}",
        summary.loss
    );
    // Every sample starts from the same prior mean and no noise enters: one output.
    assert!(s < 1e-5, "BFN's deterministic samples differ by {s}");

    // BFN's own (stochastic) sampler does not collapse.
    let stochastic = gpfn_tests::config(
        "kl-toy.toml",
        dir.path(),
        &[&SETS[..], &["sampler.name=stochastic"]].concat(),
    );
    let points = sample(&stochastic, &folder, 50, 1000);
    let (modes, _) = modes_reached(&points);
    eprintln!(
        "kl: stochastic 50 steps: {modes}/8 modes, spread {:.2}",
        spread(&points)
    );
    assert!(spread(&points) > 1.0);
}
