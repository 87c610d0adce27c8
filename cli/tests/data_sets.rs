//! Your own data through the whole run: a folder of RGB pictures (PNG and JPEG in class
//! sub-folders, resized to 3 × 32 × 32, streamed) trains two steps of a tiny U-Net and samples
//! colour pictures; an 8-D `.npy` table trains with `configs/w2-tabular.toml` and its samples
//! come back in the data's units through the run's `data-stats.json`.

use crate::process;
use image::{ImageFormat, Rgb, RgbImage};

use process::{gpfn, ok};
use std::path::PathBuf;

#[test]
fn a_folder_of_colour_pictures_trains_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let pics = dir.path().join("pics");
    for (c, class) in ["circles", "stripes"].iter().enumerate() {
        std::fs::create_dir_all(pics.join(class)).unwrap();
        for i in 0..6u32 {
            let img = RgbImage::from_fn(40, 36, |x, y| {
                let v = if c == 0 {
                    ((x as i32 - 20).pow(2) + (y as i32 - 18).pow(2) < 100) as u8
                } else {
                    ((x / 4 + i) % 2) as u8
                };
                Rgb([v * 220, (x * 6) as u8, (y * 7) as u8])
            });
            let (ext, format) = if i % 2 == 0 {
                ("png", ImageFormat::Png)
            } else {
                ("jpg", ImageFormat::Jpeg)
            };
            img.save_with_format(pics.join(class).join(format!("{i}.{ext}")), format)
                .unwrap();
        }
    }
    let data_dir = format!("data.dir={}", pics.display());
    let run_dir = format!("run.dir=\"{}\"", dir.path().display());
    let args = [
        "--config",
        "configs/w2.toml",
        "--set",
        "data.name=image-folder",
        "--set",
        &data_dir,
        "--set",
        "data.size=[32, 32]",
        "--set",
        "data.holdout=2",
        "--set",
        "data.stream=true",
        "--set",
        &run_dir,
        "--set",
        "train.steps=2",
        "--set",
        "train.batch_size=4",
        "--set",
        "network.channels=[8, 16]",
        "--set",
        "network.attention=false",
        "--set",
        "sample.count=4",
        "--set",
        "train.sample_every=0",
        "train",
        "--no-progress",
    ];
    ok(&gpfn(&args));
    let run = dir.path().join("w2");
    let run_s = run.display().to_string();
    let out = ok(&gpfn(&[
        "sample", "--run", &run_s, "--steps", "2", "--count", "3",
    ]));
    let npy = PathBuf::from(out.trim());
    let (values, shape) = gpfn_io::read_npy(&npy).unwrap();
    assert_eq!(shape, vec![3, 3, 32, 32]);
    assert!(values.iter().all(|v| v.is_finite()));
    let png = npy.with_extension("png");
    let grid = image::open(&png).unwrap().to_rgb8();
    // Three 32-pixel pictures side by side with 2-pixel borders.
    assert_eq!(grid.dimensions(), (3 * 34 + 2, 34 + 2));
    assert!(!run.join(gpfn_data::DATA_STATS_FILE).exists());
}

#[test]
fn an_eight_dimensional_table_trains_and_samples_in_its_units() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table.npy");
    // Feature j around 10 j with spread ≈ (j + 1) / √3.
    let n = 400usize;
    let mut state = 12345u64;
    let values: Vec<f32> = (0..n * 8)
        .map(|at| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let j = (at % 8) as f32;
            10.0 * j + 2.0 * (j + 1.0) * u
        })
        .collect();
    gpfn_io::write_npy(&path, &values, &[n, 8]).unwrap();
    let data_path = format!("data.path={}", path.display());
    let run_dir = format!("run.dir=\"{}\"", dir.path().display());
    ok(&gpfn(&[
        "--config",
        "configs/w2-tabular.toml",
        "--set",
        &data_path,
        "--set",
        &run_dir,
        "--set",
        "train.steps=20",
        "--set",
        "sample.count=200",
        "train",
        "--no-progress",
    ]));
    let run = dir.path().join("w2-tabular");
    let stats: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join(gpfn_data::DATA_STATS_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(stats["mean"].as_array().unwrap().len(), 8);
    let run_s = run.display().to_string();
    let out = ok(&gpfn(&["sample", "--run", &run_s, "--count", "300"]));
    let npy = PathBuf::from(out.trim());
    let (samples, shape) = gpfn_io::read_npy(&npy).unwrap();
    assert_eq!(shape, vec![300, 8]);
    assert!(npy.with_extension("png").exists());
    // In the data's units: feature j's samples centre near 10 j (standardised ones would sit
    // near 0), within a few of its spreads.
    for j in 0..8 {
        let m = samples.iter().skip(j).step_by(8).sum::<f32>() / 300.0;
        let spread = 2.0 * (j as f32 + 1.0) / 12f32.sqrt();
        assert!(
            (m - 10.0 * j as f32).abs() < 4.0 * spread,
            "feature {j}: mean {m}, spread {spread}"
        );
    }
}
