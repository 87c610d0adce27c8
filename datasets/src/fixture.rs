//! Seven-segment digits: a synthetic stand-in for MNIST, written as IDX files.
//!
//! Tests need 28×28 images of ten visually distinct classes, read through the real IDX loader,
//! on machines with no data set and no network. Each image draws the digit's segments of a
//! seven-segment display (`a` top, `b` top right, `c` bottom right, `d` bottom, `e` bottom
//! left, `f` top left, `g` middle) with a random size, position, stroke width and brightness,
//! plus a little pixel noise, so that the classes are easy to tell apart but no two images
//! are equal. The files carry the names, header and byte layout of MNIST's.

use super::Split;
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use std::path::Path;

/// Segments lit for each digit, as bits `a b c d e f g` (bit 0 = `a`).
const SEGMENTS: [u8; 10] = [
    0b011_1111, // 0: a b c d e f
    0b000_0110, // 1: b c
    0b101_1011, // 2: a b d e g
    0b100_1111, // 3: a b c d g
    0b110_0110, // 4: b c f g
    0b110_1101, // 5: a c d f g
    0b111_1101, // 6: a c d e f g
    0b000_0111, // 7: a b c
    0b111_1111, // 8: all
    0b110_1111, // 9: a b c d f g
];

/// Side of the images.
pub const SIDE: usize = 28;

/// One `SIDE × SIDE` image of `digit`, bytes in `[0, 255]`.
pub fn seven_segment_image(digit: u8, rng: &mut Rng) -> Vec<u8> {
    let mut img = vec![0f32; SIDE * SIDE];
    let w = 11 + rng.below(3); // glyph width 11–13
    let h = 19 + rng.below(3); // glyph height 19–21
    // Centred, then moved by at most 2 pixels each way (as MNIST centres its digits).
    let x0 = (SIDE - w) / 2 - 2 + rng.below(5);
    let y0 = (SIDE - h) / 2 - 2 + rng.below(5);
    let t = 2 + rng.below(2); // stroke 2–3 pixels
    let ink = 180.0 + 75.0 * rng.uniform() as f32;
    let mid = y0 + h / 2;
    let (x1, y1) = (x0 + w, y0 + h);
    let mut fill = |xa: usize, xb: usize, ya: usize, yb: usize| {
        for y in ya..yb.min(SIDE) {
            for x in xa..xb.min(SIDE) {
                img[y * SIDE + x] = ink;
            }
        }
    };
    let lit = SEGMENTS[digit as usize % 10];
    let on = |k: u8| lit & (1 << k) != 0;
    if on(0) {
        fill(x0, x1, y0, y0 + t);
    }
    if on(1) {
        fill(x1 - t, x1, y0, mid + t / 2);
    }
    if on(2) {
        fill(x1 - t, x1, mid, y1);
    }
    if on(3) {
        fill(x0, x1, y1 - t, y1);
    }
    if on(4) {
        fill(x0, x0 + t, mid, y1);
    }
    if on(5) {
        fill(x0, x0 + t, y0, mid + t / 2);
    }
    if on(6) {
        fill(x0, x1, mid - t / 2, mid - t / 2 + t);
    }
    img.iter()
        .map(|&v| (v + 20.0 * rng.uniform() as f32).clamp(0.0, 255.0) as u8)
        .collect()
}

fn idx_bytes(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for &d in dims {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// Writes `count` images and labels (cycling through the ten digits, in random order) as the
/// raw IDX files of `split` into `dir`: `train-…`/`t10k-images-idx3-ubyte` and `…-labels-idx1-ubyte`.
pub fn write_split(dir: &Path, split: Split, count: usize, seed: u64) -> Result<()> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let mut rng = Rng::derive(seed, prefix, 0);
    let order = rng.permutation(count);
    let labels: Vec<u8> = order.iter().map(|&i| (i % 10) as u8).collect();
    let mut pixels = Vec::with_capacity(count * SIDE * SIDE);
    for &d in &labels {
        pixels.extend(seven_segment_image(d, &mut rng));
    }
    std::fs::create_dir_all(dir).map_err(|e| GpfnError::io(dir, e))?;
    for (name, bytes) in [
        (
            format!("{prefix}-images-idx3-ubyte"),
            idx_bytes(&[count, SIDE, SIDE], &pixels),
        ),
        (
            format!("{prefix}-labels-idx1-ubyte"),
            idx_bytes(&[count], &labels),
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| GpfnError::io(&path, e))?;
    }
    Ok(())
}

/// Writes both splits into `dir`: a folder the `mnist` data set reads (`data.dir`).
pub fn write_seven_segment_idx(dir: &Path, train: usize, test: usize, seed: u64) -> Result<()> {
    write_split(dir, Split::Train, train, seed)?;
    write_split(dir, Split::Test, test, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_idx_images;

    #[test]
    fn the_files_read_back_through_the_mnist_loader_with_every_class() {
        let dir = tempfile::tempdir().unwrap();
        write_seven_segment_idx(dir.path(), 30, 20, 7).unwrap();
        let train = load_idx_images(dir.path(), Split::Train, None).unwrap();
        let test = load_idx_images(dir.path(), Split::Test, None).unwrap();
        assert_eq!((train.len(), test.len()), (30, 20));
        assert_eq!(train.shape, vec![1, 28, 28]);
        let labels = train.labels.clone().unwrap();
        assert!((0..10u8).all(|c| labels.iter().filter(|&&l| l == c).count() == 3));
        assert!(train.values.iter().all(|v| (-1.0..=1.0).contains(v)));
        // Each image has ink (a digit) and background, and no two images are equal.
        for r in 0..train.len() {
            let row = &train.values[r * 784..(r + 1) * 784];
            assert!(row.iter().any(|&v| v > 0.3) && row.iter().any(|&v| v < -0.8));
        }
        assert_ne!(&train.values[..784], &train.values[784..1568]);
        // "8" lights every segment another digit lights: more ink than "1" in every draw.
        let mut rng = Rng::seed(1);
        for _ in 0..20 {
            let ink = |img: Vec<u8>| img.iter().filter(|&&p| p > 100).count();
            assert!(ink(seven_segment_image(8, &mut rng)) > ink(seven_segment_image(1, &mut rng)));
        }
    }
}
