//! `mnist` and `fashion-mnist`: 28×28 grey-scale images from IDX files, scaled to `[−1, 1]`.
//!
//! The folder is `data.dir` if set, else `GPFN_DATA_DIR`, else the data set's default
//! (`../shared/data/mnist` beside the project for MNIST — looked up from the current folder
//! and from the workspace — and `/usr/share/datasets/fashion-mnist` from Debian's
//! `dataset-fashion-mnist` for Fashion-MNIST). Each split is `<prefix>-images-idx3-ubyte` and
//! `<prefix>-labels-idx1-ubyte`, `.gz` or raw, with prefix `train` or `t10k`.

use super::idx::read_idx;
use super::{DataTable, Dataset, Split};
use crate::{GpfnError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

crate::register_plugin!(
    Dataset,
    "mnist",
    "MNIST digits, 28×28 in [−1, 1], from IDX files (data.dir, GPFN_DATA_DIR or ../shared/data/mnist)"
);
crate::register_plugin!(
    Dataset,
    "fashion-mnist",
    "Fashion-MNIST, 28×28 in [−1, 1], from IDX files (default /usr/share/datasets/fashion-mnist)"
);

/// The MNIST data set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mnist {
    /// Folder of the IDX files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first `limit` images of each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// The Fashion-MNIST data set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FashionMnist {
    /// Folder of the IDX files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first `limit` images of each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

fn mnist_defaults() -> Vec<PathBuf> {
    vec![
        PathBuf::from("../shared/data/mnist"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mnist"),
    ]
}

fn fashion_defaults() -> Vec<PathBuf> {
    vec![PathBuf::from("/usr/share/datasets/fashion-mnist")]
}

/// The folder to read: `dir`, else `GPFN_DATA_DIR`, else the first default that exists.
fn resolve(dir: &Option<PathBuf>, defaults: Vec<PathBuf>, name: &str) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match (dir, std::env::var_os("GPFN_DATA_DIR")) {
        (Some(d), _) => vec![d.clone()],
        (None, Some(e)) => vec![PathBuf::from(e)],
        (None, None) => defaults,
    };
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .ok_or_else(|| GpfnError::Data {
            path: candidates[0].clone(),
            message: format!(
                "{name}: data folder not found (tried {}); set data.dir, --data-dir or GPFN_DATA_DIR",
                candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        })
}

fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(GpfnError::Data {
        path: dir.join(format!("{stem}.gz")),
        message: format!(
            "missing (looked for {stem}.gz and {stem} in {})",
            dir.display()
        ),
    })
}

/// Loads one split of an IDX image data set from `dir`.
pub fn load_idx_images(dir: &Path, split: Split, limit: Option<usize>) -> Result<DataTable> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images_path = find_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&images_path, 3)?;
    let labels = read_idx(&labels_path, 1)?;
    if images.dims[0] != labels.dims[0] {
        return Err(GpfnError::Data {
            path: labels_path,
            message: format!(
                "holds {} labels but {} holds {} images",
                labels.dims[0],
                images_path.display(),
                images.dims[0]
            ),
        });
    }
    let (rows, cols) = (images.dims[1], images.dims[2]);
    let n = limit.map_or(images.dims[0], |l| l.min(images.dims[0]));
    let values = images.data[..n * rows * cols]
        .iter()
        .map(|&p| p as f32 / 127.5 - 1.0)
        .collect();
    Ok(DataTable {
        shape: vec![1, rows, cols],
        values,
        labels: Some(labels.data[..n].to_vec()),
        noise: None,
    })
}

#[typetag::serde(name = "mnist")]
impl Dataset for Mnist {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        load_idx_images(
            &resolve(&self.dir, mnist_defaults(), "mnist")?,
            split,
            self.limit,
        )
    }
}

#[typetag::serde(name = "fashion-mnist")]
impl Dataset for FashionMnist {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        load_idx_images(
            &resolve(&self.dir, fashion_defaults(), "fashion-mnist")?,
            split,
            self.limit,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn folder(images: &[u8], labels: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), images).unwrap();
        std::fs::write(dir.path().join("train-labels-idx1-ubyte"), labels).unwrap();
        dir
    }

    #[test]
    fn loads_counts_from_the_header_and_scales_to_unit_range() {
        let dir = folder(
            &idx(
                &[3, 2, 2],
                &[0, 255, 51, 204, 0, 0, 0, 0, 255, 255, 255, 255],
            ),
            &idx(&[3], &[1, 2, 3]),
        );
        let t = load_idx_images(dir.path(), Split::Train, None).unwrap();
        assert_eq!(t.shape, vec![1, 2, 2]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.row(0), &[-1.0, 1.0, -0.6, 0.6]);
        assert_eq!(t.labels.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(
            load_idx_images(dir.path(), Split::Train, Some(2))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn every_bad_file_gets_a_named_error() {
        let good_images = idx(&[2, 1, 1], &[1, 2]);
        let cases: Vec<(Vec<u8>, Vec<u8>, &str, &str)> = vec![
            (
                idx(&[2, 1, 1], &[1]),
                idx(&[2], &[0, 1]),
                "train-images-idx3-ubyte",
                "truncated",
            ),
            (
                vec![1, 2, 3, 4, 5, 6, 7, 8],
                idx(&[2], &[0, 1]),
                "train-images-idx3-ubyte",
                "wrong magic number",
            ),
            (
                good_images.clone(),
                idx(&[2, 1], &[0, 1]),
                "train-labels-idx1-ubyte",
                "wrong magic number",
            ),
            (
                good_images.clone(),
                idx(&[3], &[0, 1, 2]),
                "train-labels-idx1-ubyte",
                "holds 3 labels but",
            ),
        ];
        for (images, labels, file, what) in cases {
            let dir = folder(&images, &labels);
            let e = load_idx_images(dir.path(), Split::Train, None)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(file) && e.contains(what),
                "expected `{file}` and `{what}` in: {e}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let e = load_idx_images(dir.path(), Split::Test, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t10k-images-idx3-ubyte") && e.contains("missing"),
            "{e}"
        );
        let e = Mnist {
            dir: Some(dir.path().join("absent")),
            limit: None,
        }
        .load(Split::Train, 0)
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("absent") && e.contains("data folder not found"),
            "{e}"
        );
    }

    #[test]
    fn reads_the_shared_mnist_when_present() {
        let Ok(dir) = resolve(&None, mnist_defaults(), "mnist") else {
            return; // covered by the synthetic tests above where ../shared is absent
        };
        let t = load_idx_images(&dir, Split::Test, None).unwrap();
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.shape, vec![1, 28, 28]);
        let labels = t.labels.unwrap();
        assert!((0..10u8).all(|c| labels.contains(&c)));
        assert!(t.values.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}
