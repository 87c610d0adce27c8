//! The image-folder loader's throughput: writes `N` (default 2 000) 64 × 64 RGB JPEGs, then
//! decodes them resized to 32 × 32 on the rayon threads (set `RAYON_NUM_THREADS`), and runs
//! the streaming loader at batch 32 beside a stand-in training step (a sleep of `STEP_MS`,
//! default 120 ms: the MNIST U-Net's step on 2 cores) to show how long the step waits for its
//! batch once the next one is read ahead.
//!
//!     RAYON_NUM_THREADS=2 cargo run -p gpfn-data --example loader_throughput [N] [STEP_MS]

use gpfn_data::{DataLoader, Holdout, ImageFolder, RowSource, Split};
use image::{ImageFormat, Rgb, RgbImage};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().map_or(2000, |a| a.parse().expect("N"));
    let step_ms: u64 = args.next().map_or(120, |a| a.parse().expect("STEP_MS"));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let t = Instant::now();
    for i in 0..n {
        let img = RgbImage::from_fn(64, 64, |x, y| {
            Rgb([
                ((x * 4 + i) % 256) as u8,
                ((y * 4 + 3 * i) % 256) as u8,
                (((x ^ y) * 8 + i) % 256) as u8,
            ])
        });
        let sub = dir.path().join(format!("class{}", i % 4));
        std::fs::create_dir_all(&sub).expect("a class folder");
        img.save_with_format(sub.join(format!("{i:05}.jpg")), ImageFormat::Jpeg)
            .expect("a JPEG written");
    }
    println!(
        "wrote {n} 64×64 JPEGs in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut ds = ImageFolder::new(dir.path());
    ds.size = Some([32, 32]);
    ds.holdout = Holdout::Fraction(0.0);
    let t = Instant::now();
    let source = Arc::new(ds.open(Split::Train).expect("the folder opens"));
    let checked = t.elapsed().as_secs_f64();
    let all: Vec<usize> = (0..source.len()).collect();
    let t = Instant::now();
    let values = source.rows(&all).expect("every picture decodes");
    let decode = t.elapsed().as_secs_f64();
    assert_eq!(values.len(), all.len() * 3 * 32 * 32);
    println!(
        "threads {}: headers checked in {:.3} s; decoded + resized {} pictures in {:.2} s: \
         {:.0} pictures/s, {:.1} ms per batch of 32",
        rayon::current_num_threads(),
        checked,
        all.len(),
        decode,
        all.len() as f64 / decode,
        32.0 * decode / all.len() as f64 * 1e3,
    );

    // The streaming loader beside a stand-in step: time spent waiting for each batch.
    let batches = 20u64;
    let mut loader = DataLoader::streaming(source, 32, 0);
    let mut waited = Vec::new();
    for k in 0..batches {
        let t = Instant::now();
        let v = loader.try_batch_values(k).expect("the batch reads");
        waited.push(t.elapsed().as_secs_f64());
        assert_eq!(v.len(), 32 * 3 * 32 * 32);
        std::thread::sleep(Duration::from_millis(step_ms));
    }
    let first = waited[0];
    let rest = &waited[1..];
    let mean = rest.iter().sum::<f64>() / rest.len() as f64;
    let max = rest.iter().copied().fold(0.0, f64::max);
    println!(
        "streaming at batch 32 beside a {step_ms} ms step: first batch {:.1} ms (no read \
         ahead yet), then a wait of {:.2} ms on average, {:.2} ms at most",
        first * 1e3,
        mean * 1e3,
        max * 1e3
    );
}
