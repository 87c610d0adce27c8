//! PNG pictures: scatter plots of 2-D samples and grids of images.

use super::atomic_write;
use gpfn_core::{GpfnError, Result};
use image::{ImageFormat, Rgb, RgbImage};
use std::path::Path;

fn encode(img: &RgbImage, path: &Path) -> Result<()> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, ImageFormat::Png)
        .map_err(|e| GpfnError::Invalid(format!("PNG encoding of {}: {e}", path.display())))?;
    atomic_write(path, buf.get_ref())
}

/// A scatter plot of 2-D `points` (rows of `[x, y]`) over `[−extent, extent]²`, in blue, with
/// optional `reference` points (e.g. the data) in light grey underneath and axes through 0.
pub fn scatter_png(
    path: &Path,
    points: &[f32],
    reference: Option<&[f32]>,
    extent: f32,
) -> Result<()> {
    if !points.len().is_multiple_of(2) {
        return Err(GpfnError::Shape(format!(
            "scatter plot needs 2-D points, got {} values",
            points.len()
        )));
    }
    let size = 512u32;
    let mut img = RgbImage::from_pixel(size, size, Rgb([255, 255, 255]));
    let to_px = |v: f32| ((v + extent) / (2.0 * extent) * (size - 1) as f32).round() as i64;
    let mid = to_px(0.0);
    for i in 0..size {
        if (0..size as i64).contains(&mid) {
            img.put_pixel(i, mid as u32, Rgb([200, 200, 200]));
            img.put_pixel(mid as u32, i, Rgb([200, 200, 200]));
        }
    }
    let dot = |img: &mut RgbImage, x: f32, y: f32, color: Rgb<u8>, r: i64| {
        if !x.is_finite() || !y.is_finite() {
            return;
        }
        let (cx, cy) = (to_px(x), size as i64 - 1 - to_px(y));
        for dx in -r..=r {
            for dy in -r..=r {
                let (px, py) = (cx + dx, cy + dy);
                if dx * dx + dy * dy <= r * r
                    && (0..size as i64).contains(&px)
                    && (0..size as i64).contains(&py)
                {
                    img.put_pixel(px as u32, py as u32, color);
                }
            }
        }
    };
    if let Some(reference) = reference {
        for p in reference.chunks_exact(2) {
            dot(&mut img, p[0], p[1], Rgb([210, 210, 210]), 1);
        }
    }
    for p in points.chunks_exact(2) {
        dot(&mut img, p[0], p[1], Rgb([31, 90, 180]), 1);
    }
    encode(&img, path)
}

/// A grid of images, grey-scale (`[count, h, w]` or `[count, 1, h, w]`) or colour
/// (`[count, 3, h, w]`, channel-first RGB), values in `[−1, 1]`, `columns` wide, with a 2-pixel
/// border.
pub fn image_grid_png(path: &Path, values: &[f32], shape: &[usize], columns: usize) -> Result<()> {
    let (c, h, w) = match shape {
        [h, w] | [1, h, w] => (1, *h, *w),
        [3, h, w] => (3, *h, *w),
        _ => {
            return Err(GpfnError::Shape(format!(
                "image grid needs items of shape [h, w], [1, h, w] or [3, h, w], got {shape:?}"
            )));
        }
    };
    let per = c * h * w;
    let count = values.len() / per.max(1);
    let columns = columns.max(1).min(count.max(1));
    let rows = count.div_ceil(columns);
    let pad = 2;
    let (gw, gh) = (columns * (w + pad) + pad, rows * (h + pad) + pad);
    let mut img = RgbImage::from_pixel(gw as u32, gh as u32, Rgb([40, 40, 40]));
    let level = |v: f32| (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8;
    for k in 0..count {
        let (r, col) = (k / columns, k % columns);
        let item = &values[k * per..(k + 1) * per];
        for y in 0..h {
            for x in 0..w {
                let at = y * w + x;
                let px = if c == 1 {
                    let g = level(item[at]);
                    [g, g, g]
                } else {
                    [
                        level(item[at]),
                        level(item[h * w + at]),
                        level(item[2 * h * w + at]),
                    ]
                };
                img.put_pixel(
                    (pad + col * (w + pad) + x) as u32,
                    (pad + r * (h + pad) + y) as u32,
                    Rgb(px),
                );
            }
        }
    }
    encode(&img, path)
}
