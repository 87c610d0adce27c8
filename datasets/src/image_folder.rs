//! `image-folder`: a folder of PNG and JPEG files, grey or RGB, optionally resized and
//! centre-cropped, with labels from class sub-folders.
//!
//! ```toml
//! [data]
//! name = "image-folder"
//! dir = "pictures"      # required
//! channels = 3          # 1: grey (luma), 3: RGB (the default); alpha is dropped
//! size = [32, 32]       # [h, w]: resize the shorter side, then centre-crop; optional
//! holdout = 0.1         # test split: a fraction (by a hash of the path) or a count
//! stream = true         # decode per batch instead of loading whole (default: above 1 GiB)
//! ```
//!
//! Files are those ending in `.png`, `.jpg` or `.jpeg` (any case); hidden files and others are
//! skipped. When `dir` has sub-folders, each is a class (labels `0, 1, …` in the sorted order
//! of their names, at most 256) and the images anywhere below it are its items; files beside
//! the class folders are then ignored (with a warning). Items are in the sorted order of their
//! paths relative to `dir`. The test split is chosen by [`Holdout`] from a hash of that
//! relative path, so adding pictures does not reshuffle the others.
//!
//! Everything that can be checked without decoding is checked before training, each error
//! naming the file: an empty folder, a file that is not a readable PNG or JPEG (its header),
//! and, with no `size`, a picture whose size differs from the first one's. A truncated file
//! whose header reads is found when it is decoded: at load for a folder loaded whole (before
//! training), at its batch for a streamed one.
//!
//! Pixel values are scaled to `[−1, 1]` (`v / 127.5 − 1`) and stored channel-first
//! (`[channels, h, w]`), as the U-Net takes them.

use super::{DataTable, Dataset, Holdout, RowSource, Split, holdout_key};
use gpfn_core::{GpfnError, Result};
use image::imageops::{self, FilterType};
use image::{ImageBuffer, ImageFormat, ImageReader, Pixel};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

gpfn_core::register_plugin!(
    Dataset,
    "image-folder",
    "your pictures: PNG/JPEG files under data.dir (class sub-folders give labels), grey or RGB (data.channels), resized and centre-cropped to data.size, held out by data.holdout, streamed when large"
);

/// Decoded size above which a split is streamed when `stream` is not set: 1 GiB of `f32`.
pub const STREAM_ABOVE_BYTES: usize = 1 << 30;

/// The `image-folder` data set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFolder {
    /// The folder of pictures.
    pub dir: PathBuf,
    /// 1 (grey) or 3 (RGB).
    #[serde(default = "three")]
    pub channels: usize,
    /// `[h, w]` to resize (the shorter side) and centre-crop every picture to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<[usize; 2]>,
    /// The test split: a fraction of the pictures or a count.
    #[serde(default = "default_holdout")]
    pub holdout: Holdout,
    /// Decode per batch (`true`) or load whole (`false`); unset: stream when the decoded
    /// training split would exceed [`STREAM_ABOVE_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Use only the first `limit` pictures of each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

fn three() -> usize {
    3
}

fn default_holdout() -> Holdout {
    Holdout::Fraction(0.1)
}

impl ImageFolder {
    /// An RGB folder with the defaults (no resize, 10 % held out, streamed when large).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ImageFolder {
            dir: dir.into(),
            channels: 3,
            size: None,
            holdout: default_holdout(),
            stream: None,
            limit: None,
        }
    }

    /// The pictures of `split`, checked (headers and sizes): a source that decodes on demand.
    pub fn open(&self, split: Split) -> Result<FolderSource> {
        if self.channels != 1 && self.channels != 3 {
            return Err(GpfnError::Config {
                key: "data.channels".into(),
                message: format!("{}: 1 (grey) or 3 (RGB)", self.channels),
            });
        }
        if let Some([h, w]) = self.size
            && (h == 0 || w == 0)
        {
            return Err(GpfnError::Config {
                key: "data.size".into(),
                message: format!("[{h}, {w}]: both sides must be positive"),
            });
        }
        self.holdout.check("data.holdout")?;
        let scan = scan(&self.dir)?;
        // Every picture's header, in parallel: unreadable files and (without `size`) mixed
        // sizes are refused before anything trains, whichever split is asked for.
        let dims: Vec<(u32, u32)> = scan
            .files
            .par_iter()
            .map(|f| dimensions(&f.path))
            .collect::<Result<_>>()?;
        let (h, w) = match self.size {
            Some([h, w]) => (h, w),
            None => {
                let (w0, h0) = dims[0];
                if let Some(i) = dims.iter().position(|&d| d != (w0, h0)) {
                    let (w1, h1) = dims[i];
                    return Err(GpfnError::Data {
                        path: scan.files[i].path.clone(),
                        message: format!(
                            "is {w1}×{h1} pixels where {} is {w0}×{h0}: pictures of mixed \
                             sizes need data.size = [h, w] to resize and crop them to",
                            scan.files[0].rel
                        ),
                    });
                }
                (h0 as usize, w0 as usize)
            }
        };
        let keys: Vec<u64> = scan
            .files
            .iter()
            .map(|f| holdout_key(f.rel.as_bytes()))
            .collect();
        let held = self.holdout.mask(&keys);
        let want = split == Split::Test;
        let mut files: Vec<File> = scan
            .files
            .into_iter()
            .zip(held)
            .filter(|(_, h)| *h == want)
            .map(|(f, _)| f)
            .collect();
        if let Some(limit) = self.limit {
            files.truncate(limit);
        }
        if files.is_empty() {
            let which = if want {
                format!(
                    "no picture is held out for the test split (data.holdout = {:?}); set \
                     data.holdout to a count of pictures, e.g. 1",
                    self.holdout
                )
            } else {
                "every picture is held out, none is left to train on; lower data.holdout"
                    .to_string()
            };
            return Err(GpfnError::Data {
                path: self.dir.clone(),
                message: which,
            });
        }
        let labels = scan
            .classes
            .then(|| files.iter().map(|f| f.label).collect());
        Ok(FolderSource {
            paths: files.into_iter().map(|f| f.path).collect(),
            labels,
            shape: vec![self.channels, h, w],
            size: self.size,
        })
    }

    /// Whether `split` is streamed: `stream` if set, else whether it decodes to more than
    /// [`STREAM_ABOVE_BYTES`].
    fn streams(&self, source: &FolderSource) -> bool {
        self.stream.unwrap_or_else(|| {
            source.len().saturating_mul(source.dim()).saturating_mul(4) > STREAM_ABOVE_BYTES
        })
    }
}

#[typetag::serde(name = "image-folder")]
impl Dataset for ImageFolder {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        let source = self.open(split)?;
        let all: Vec<usize> = (0..source.len()).collect();
        Ok(DataTable {
            shape: source.shape.clone(),
            values: source.rows(&all)?,
            labels: source.labels.clone(),
            noise: None,
            classes: None,
            binarise: false,
        })
    }

    fn source(&self, split: Split, _seed: u64) -> Result<Option<Arc<dyn RowSource>>> {
        let source = self.open(split)?;
        Ok(self
            .streams(&source)
            .then(|| Arc::new(source) as Arc<dyn RowSource>))
    }
}

/// The checked pictures of one split, decoded on demand (on the rayon threads).
#[derive(Clone, Debug)]
pub struct FolderSource {
    paths: Vec<PathBuf>,
    labels: Option<Vec<u8>>,
    shape: Vec<usize>,
    size: Option<[usize; 2]>,
}

impl FolderSource {
    /// The files, in row order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    fn dim(&self) -> usize {
        self.shape.iter().product()
    }
}

impl RowSource for FolderSource {
    fn len(&self) -> usize {
        self.paths.len()
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn rows(&self, idx: &[usize]) -> Result<Vec<f32>> {
        let (c, h, w) = (self.shape[0], self.shape[1], self.shape[2]);
        let decoded: Vec<Vec<f32>> = idx
            .par_iter()
            .map(|&i| decode(&self.paths[i], c, self.size, (h, w)))
            .collect::<Result<_>>()?;
        Ok(decoded.concat())
    }

    fn labels(&self, idx: &[usize]) -> Option<Vec<u8>> {
        self.labels
            .as_ref()
            .map(|l| idx.iter().map(|&i| l[i]).collect())
    }
}

/// One picture found by [`scan`].
#[derive(Clone, Debug)]
struct File {
    path: PathBuf,
    /// Path relative to the folder, `/`-separated (the holdout key).
    rel: String,
    label: u8,
}

struct Scan {
    files: Vec<File>,
    /// Whether the labels come from class folders.
    classes: bool,
}

fn is_picture(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    !hidden && matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}

/// The entries of `dir`, sorted by name.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| GpfnError::io(dir, e))? {
        out.push(e.map_err(|e| GpfnError::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

/// The pictures anywhere below `dir`, sorted.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for p in entries(dir)? {
        if p.is_dir() {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                walk(&p, out)?;
            }
        } else if is_picture(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// The pictures of `root`, and their classes when `root` has sub-folders.
fn scan(root: &Path) -> Result<Scan> {
    if !root.is_dir() {
        return Err(GpfnError::Data {
            path: root.to_path_buf(),
            message: "image folder not found (data.dir)".into(),
        });
    }
    let top = entries(root)?;
    let class_dirs: Vec<&PathBuf> = top
        .iter()
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    if class_dirs.len() > 256 {
        return Err(GpfnError::Data {
            path: root.to_path_buf(),
            message: format!(
                "{} class sub-folders; labels are bytes, so at most 256 classes",
                class_dirs.len()
            ),
        });
    }
    let rel = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut files = Vec::new();
    if class_dirs.is_empty() {
        for p in top.iter().filter(|p| is_picture(p)) {
            files.push(File {
                rel: rel(p),
                path: p.clone(),
                label: 0,
            });
        }
    } else {
        let loose = top.iter().filter(|p| is_picture(p)).count();
        if loose > 0 {
            tracing::warn!(folder = %root.display(), loose, "pictures beside the class sub-folders are ignored");
        }
        for (label, d) in class_dirs.iter().enumerate() {
            let mut found = Vec::new();
            walk(d, &mut found)?;
            for p in found {
                files.push(File {
                    rel: rel(&p),
                    path: p,
                    label: label as u8,
                });
            }
        }
    }
    if files.is_empty() {
        return Err(GpfnError::Data {
            path: root.to_path_buf(),
            message: "the image folder holds no pictures (files ending in .png, .jpg or .jpeg)"
                .into(),
        });
    }
    Ok(Scan {
        files,
        classes: !class_dirs.is_empty(),
    })
}

fn reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>> {
    ImageReader::open(path)
        .map_err(|e| GpfnError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| GpfnError::io(path, e))
}

/// `(width, height)` from the file's header.
fn dimensions(path: &Path) -> Result<(u32, u32)> {
    let r = reader(path)?;
    if r.format().is_none() {
        return Err(GpfnError::Data {
            path: path.to_path_buf(),
            message: "not a PNG or JPEG picture (unrecognised contents)".into(),
        });
    }
    r.into_dimensions().map_err(|e| GpfnError::Data {
        path: path.to_path_buf(),
        message: format!("corrupt picture, its header does not read: {e}"),
    })
}

/// Resizes `img` so that it covers `h × w` (the shorter side to fit, bilinear) and crops the
/// centre.
fn cover<P: Pixel<Subpixel = u8> + 'static>(
    img: ImageBuffer<P, Vec<u8>>,
    h: usize,
    w: usize,
) -> ImageBuffer<P, Vec<u8>> {
    let (w0, h0) = img.dimensions();
    if (w0 as usize, h0 as usize) == (w, h) {
        return img;
    }
    let s = f64::max(h as f64 / f64::from(h0), w as f64 / f64::from(w0));
    let nw = ((f64::from(w0) * s).round() as u32).max(w as u32);
    let nh = ((f64::from(h0) * s).round() as u32).max(h as u32);
    let r = imageops::resize(&img, nw, nh, FilterType::Triangle);
    imageops::crop_imm(
        &r,
        (nw - w as u32) / 2,
        (nh - h as u32) / 2,
        w as u32,
        h as u32,
    )
    .to_image()
}

/// Whether a JPEG's last start-of-scan marker (`FF DA`) is followed by an end-of-image marker
/// (`FF D9`). Inside entropy-coded data a byte `FF` is always followed by `00` or a restart
/// marker, so neither pair occurs there; an embedded thumbnail's markers come before the main
/// image's scans.
fn jpeg_complete(bytes: &[u8]) -> bool {
    let last = |m: u8| bytes.windows(2).rposition(|w| w == [0xFF, m]);
    matches!((last(0xDA), last(0xD9)), (Some(s), Some(e)) if e > s)
}

/// Decodes one picture to `c × h × w` values in `[−1, 1]`, channel-first.
pub fn decode(
    path: &Path,
    c: usize,
    size: Option<[usize; 2]>,
    (h, w): (usize, usize),
) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| GpfnError::io(path, e))?;
    let reader = ImageReader::new(std::io::Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|e| GpfnError::io(path, e))?;
    // The JPEG decoder fills a truncated file's missing rows with grey; a complete file ends
    // its last scan with an end-of-image marker.
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_complete(&bytes) {
        return Err(GpfnError::Data {
            path: path.to_path_buf(),
            message: "corrupt or truncated picture: the JPEG ends before its end-of-image \
                      marker"
                .into(),
        });
    }
    let img = reader.decode().map_err(|e| GpfnError::Data {
        path: path.to_path_buf(),
        message: format!("corrupt or truncated picture: {e}"),
    })?;
    let bad_size = |w1: u32, h1: u32| GpfnError::Data {
        path: path.to_path_buf(),
        message: format!(
            "decodes to {w1}×{h1} pixels where the data set's pictures are {w}×{h}; set \
             data.size = [h, w] to resize"
        ),
    };
    let scale = |v: u8| f32::from(v) / 127.5 - 1.0;
    if c == 1 {
        let mut g = img.to_luma8();
        if size.is_some() {
            g = cover(g, h, w);
        }
        if g.dimensions() != (w as u32, h as u32) {
            return Err(bad_size(g.width(), g.height()));
        }
        Ok(g.into_raw().into_iter().map(scale).collect())
    } else {
        let mut rgb = img.to_rgb8();
        if size.is_some() {
            rgb = cover(rgb, h, w);
        }
        if rgb.dimensions() != (w as u32, h as u32) {
            return Err(bad_size(rgb.width(), rgb.height()));
        }
        let raw = rgb.into_raw();
        let mut out = vec![0.0f32; 3 * h * w];
        for (p, px) in raw.chunks_exact(3).enumerate() {
            for ch in 0..3 {
                out[ch * h * w + p] = scale(px[ch]);
            }
        }
        Ok(out)
    }
}
