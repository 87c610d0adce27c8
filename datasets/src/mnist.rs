//! `mnist` and `fashion-mnist`: 28×28 grey-scale images from IDX files, scaled to `[−1, 1]`.
//!
//! The folder is `data.dir` if set, else `GPFN_DATA_DIR`; otherwise the first folder that
//! holds the four files among the download cache (`<cache>/data/<name>`, see
//! [`super::fetch`]) and the data set's usual places (`../shared/data/mnist` beside the
//! project for MNIST; `/usr/share/datasets/fashion-mnist` from Debian's
//! `dataset-fashion-mnist` for Fashion-MNIST). When none does and `download` is on (the
//! default), the files are downloaded into the cache first, as `gpfn data fetch NAME` would.
//! Each split is `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte`, `.gz` or raw,
//! with prefix `train` or `t10k`.
//!
//! `bin-mnist` ([`BinMnist`]) reads the same files as `mnist` and binarises them dynamically:
//! see its documentation.

use super::fetch;
use super::idx::read_idx;
use super::{DataTable, Dataset, Split};
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

gpfn_core::register_plugin!(
    Dataset,
    "mnist",
    "MNIST digits, 28×28 in [−1, 1], from IDX files (data.dir, GPFN_DATA_DIR, the download cache or ../shared/data/mnist)"
);
gpfn_core::register_plugin!(
    Dataset,
    "fashion-mnist",
    "Fashion-MNIST, 28×28 in [−1, 1], from IDX files (data.dir, GPFN_DATA_DIR, the download cache or /usr/share/datasets/fashion-mnist)"
);

gpfn_core::register_plugin!(
    Dataset,
    "bin-mnist",
    "dynamically binarised MNIST: 28×28 pixels in {0, 1} (K = 2), each training read drawn afresh as Bernoulli(grey/255); the same IDX files as mnist"
);

/// One IDX image data set, told apart by `K`: its registered name and where copies usually
/// lie. [`Mnist`] and [`FashionMnist`] are the two; they share the configuration (`data.dir`,
/// `data.limit`, `data.download`) and the loading.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct IdxImages<K: IdxSet> {
    /// Folder of the IDX files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first `limit` images of each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Download the files into the cache when no folder has them.
    #[serde(default = "yes")]
    pub download: bool,
    #[serde(skip)]
    pub set: PhantomData<K>,
}

/// Which IDX image data set an [`IdxImages`] reads.
pub trait IdxSet: Clone + Debug + Send + Sync + 'static {
    /// The registered name: also the download cache's folder and `gpfn data fetch`'s argument.
    const NAME: &'static str;
    /// Folders that usually hold a copy, searched after the download cache.
    fn usual_places() -> Vec<PathBuf>;
}

/// The MNIST digits (`../shared/data/mnist` beside the project is its usual place).
#[derive(Clone, Copy, Debug, Default)]
pub struct Digits;

impl IdxSet for Digits {
    const NAME: &'static str = "mnist";
    fn usual_places() -> Vec<PathBuf> {
        vec![PathBuf::from("../shared/data/mnist")]
    }
}

/// Zalando's Fashion-MNIST articles (Debian's `dataset-fashion-mnist` is its usual place).
#[derive(Clone, Copy, Debug, Default)]
pub struct Articles;

impl IdxSet for Articles {
    const NAME: &'static str = "fashion-mnist";
    fn usual_places() -> Vec<PathBuf> {
        vec![PathBuf::from("/usr/share/datasets/fashion-mnist")]
    }
}

/// The MNIST data set.
pub type Mnist = IdxImages<Digits>;
/// The Fashion-MNIST data set.
pub type FashionMnist = IdxImages<Articles>;

fn yes() -> bool {
    true
}

impl<K: IdxSet> Default for IdxImages<K> {
    fn default() -> Self {
        IdxImages {
            dir: None,
            limit: None,
            download: true,
            set: PhantomData,
        }
    }
}

impl<K: IdxSet> IdxImages<K> {
    /// Loads one split from the folder [`resolve`] finds.
    pub fn load_split(&self, split: Split) -> Result<DataTable> {
        let dir = resolve(&self.dir, K::NAME, &K::usual_places(), self.download)?;
        load_idx_images(&dir, split, self.limit)
    }
}

const STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Whether `dir` holds all four IDX files (`.gz` or raw).
fn has_files(dir: &Path) -> bool {
    STEMS.iter().all(|s| find_file(dir, s).is_ok())
}

/// The folder to read: `dir`, else `GPFN_DATA_DIR`, else the first of the cache and the usual
/// places that holds the files, else the cache after a download (when `download`).
fn resolve(
    dir: &Option<PathBuf>,
    name: &str,
    usual: &[PathBuf],
    download: bool,
) -> Result<PathBuf> {
    let env = std::env::var_os("GPFN_DATA_DIR")
        .filter(|e| !e.is_empty())
        .map(PathBuf::from);
    // A named folder needs neither the cache (whose lookup fails without HOME) nor a source.
    if dir.is_some() || env.is_some() {
        return locate(
            name,
            dir.as_deref(),
            env.as_deref(),
            Path::new(""),
            &[],
            None,
        );
    }
    let source = if download {
        Some(fetch::source(name)?)
    } else {
        None
    };
    locate(
        name,
        None,
        None,
        &fetch::cache_dir(name)?,
        usual,
        source.as_ref(),
    )
}

/// [`resolve`] with its inputs explicit: the configured folder, `GPFN_DATA_DIR`, the cache,
/// the usual places, and the source to download from (`None`: no download).
fn locate(
    name: &str,
    dir: Option<&Path>,
    env: Option<&Path>,
    cache: &Path,
    usual: &[PathBuf],
    source: Option<&fetch::Source>,
) -> Result<PathBuf> {
    let explicit = match (dir, env) {
        (Some(d), _) => Some((d, "data.dir")),
        (None, Some(e)) => Some((e, "GPFN_DATA_DIR")),
        _ => None,
    };
    if let Some((d, origin)) = explicit {
        if d.is_dir() {
            return Ok(d.to_path_buf());
        }
        return Err(GpfnError::Data {
            path: d.to_path_buf(),
            message: format!(
                "{name}: data folder not found ({origin} names {}); fix {origin}, or unset it \
                 to use the download cache (`gpfn data fetch {name}`)",
                d.display()
            ),
        });
    }
    let mut tried = vec![cache.to_path_buf()];
    tried.extend(usual.iter().cloned());
    if let Some(found) = tried.iter().find(|p| has_files(p)) {
        return Ok(found.clone());
    }
    let files = STEMS.map(|s| format!("{s}.gz")).join(", ");
    let tried_list = tried
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let advice = format!(
        "run `gpfn data fetch {name}`, or put {files} into {} (or into a folder named by \
         --data-dir or GPFN_DATA_DIR)",
        cache.display()
    );
    let Some(source) = source else {
        return Err(GpfnError::Data {
            path: cache.to_path_buf(),
            message: format!(
                "{name}: the IDX files are in none of {tried_list} and data.download is off; \
                 {advice}"
            ),
        });
    };
    tracing::info!(
        "{name}: no local copy in {tried_list}; downloading into {}",
        cache.display()
    );
    fetch::fetch(source, cache, true).map_err(|e| GpfnError::Data {
        path: cache.to_path_buf(),
        message: format!(
            "{name}: the IDX files are in none of {tried_list}, and downloading them failed \
             ({e}); when online, {advice}"
        ),
    })?;
    Ok(cache.to_path_buf())
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

/// Loads one split of an IDX image data set from `dir`, grey levels `g ∈ {0, …, 255}` scaled to
/// `g / 127.5 − 1 ∈ [−1, 1]`.
pub fn load_idx_images(dir: &Path, split: Split, limit: Option<usize>) -> Result<DataTable> {
    let raw = read_split(dir, split, limit)?;
    Ok(DataTable {
        shape: vec![1, raw.rows, raw.cols],
        values: raw.pixels.iter().map(|&p| p as f32 / 127.5 - 1.0).collect(),
        labels: Some(raw.labels),
        noise: None,
        classes: None,
        binarise: false,
    })
}

/// The first `limit` images of one split, as bytes.
struct RawSplit {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
}

fn read_split(dir: &Path, split: Split, limit: Option<usize>) -> Result<RawSplit> {
    if limit == Some(0) {
        return Err(GpfnError::Config {
            key: "data.limit".into(),
            message: "must be ≥ 1 (or absent for every image), got 0".into(),
        });
    }
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
    Ok(RawSplit {
        pixels: images.data[..n * rows * cols].to_vec(),
        labels: labels.data[..n].to_vec(),
        rows,
        cols,
    })
}

#[typetag::serde(name = "mnist")]
impl Dataset for Mnist {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        self.load_split(split)
    }
}

#[typetag::serde(name = "fashion-mnist")]
impl Dataset for FashionMnist {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        self.load_split(split)
    }
}

/// How `bin-mnist` binarises its test split (`data.test`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestBinarisation {
    /// Once, from `data.test_seed` (the default): the test table holds `x ∈ {0, 1}` drawn with
    /// [`DataTable::draw`]`(test_seed, 0)`, the same images for every run and every model.
    #[default]
    Once,
    /// Per evaluation repeat, as the reference's loader does: the test table keeps the
    /// probabilities with [`DataTable::binarise`] on, and the evaluator draws repeat `r` with
    /// [`DataTable::draw`]`(seed, r)` (a [`crate::DataLoader`] draws per batch by itself).
    Redraw,
}

/// `bin-mnist`: dynamically binarised MNIST (Graves et al. 2023, §6.4; nnaisense
/// `bayesian-flow-networks`), read from the same IDX files as [`Mnist`] (same `dir`, `limit`,
/// `download`).
///
/// Each pixel of grey level `g ∈ {0, …, 255}` is stored as the probability `p = g / 255`
/// (rounded to `f32`) in a table with [`DataTable::classes`] `= Some(2)` and
/// [`DataTable::binarise`] on: every read draws `x ~ Bernoulli(p)`, `x = [u < p]` with
/// `u ~ U[0, 1)`. The training loader draws batch `k` from `Rng::derive(seed, "binarise", k)`,
/// so a resumed run sees bit-exactly the pixels an uninterrupted one would, and a row met in
/// two epochs is binarised independently each time.
///
/// The test split is binarised **once** by default ([`TestBinarisation::Once`], with
/// `test_seed`, default 0): each test item is then one image with one independent
/// binarisation, so the mean NLL over the 10 000 items is an unbiased estimate of the same
/// expectation over images and binarisations that the reference's re-drawing loader
/// estimates, the usual standard error across items already includes the binarisation noise,
/// and every run is scored on identical data. `data.test = "redraw"` keeps the test split
/// dynamic like the reference's; an evaluator then averages each image's score over its
/// repeats before taking the standard error across images (repeats of one image are not
/// independent items).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinMnist {
    /// Folder of the IDX files (as `mnist`'s `data.dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first `limit` images of each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Download MNIST into the cache when no folder has it.
    #[serde(default = "yes")]
    pub download: bool,
    /// How the test split is binarised: `"once"` (default) or `"redraw"`.
    #[serde(default)]
    pub test: TestBinarisation,
    /// Seed of the one-off test binarisation (`test = "once"`); independent of the run seed
    /// so that every run sees the same test images.
    #[serde(default)]
    pub test_seed: u64,
}

impl Default for BinMnist {
    fn default() -> Self {
        BinMnist {
            dir: None,
            limit: None,
            download: true,
            test: TestBinarisation::Once,
            test_seed: 0,
        }
    }
}

impl BinMnist {
    /// Loads one split from `dir` (no folder search): probabilities `g / 255` with `binarise`
    /// on, except a test split binarised once (see the type's documentation).
    pub fn load_from(&self, dir: &Path, split: Split) -> Result<DataTable> {
        let raw = read_split(dir, split, self.limit)?;
        let table = DataTable {
            shape: vec![1, raw.rows, raw.cols],
            values: raw.pixels.iter().map(|&g| g as f32 / 255.0).collect(),
            labels: Some(raw.labels),
            noise: None,
            classes: Some(2),
            binarise: true,
        };
        let table = match (split, self.test) {
            (Split::Test, TestBinarisation::Once) => table.draw(self.test_seed, 0),
            _ => table,
        };
        table.check_classes("bin-mnist")?;
        Ok(table)
    }
}

#[typetag::serde(name = "bin-mnist")]
impl Dataset for BinMnist {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        let dir = resolve(
            &self.dir,
            Digits::NAME,
            &Digits::usual_places(),
            self.download,
        )?;
        self.load_from(&dir, split)
    }

    fn classes(&self) -> Option<usize> {
        Some(2)
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
            ..Mnist::default()
        }
        .load(Split::Train, 0)
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("absent") && e.contains("data folder not found"),
            "{e}"
        );
        let e = load_idx_images(dir.path(), Split::Test, Some(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.limit"), "{e}");
    }

    #[test]
    fn reads_a_full_size_test_split() {
        let dir = tempfile::tempdir().unwrap();
        crate::fixture::write_split(dir.path(), Split::Test, 10_000, 0).unwrap();
        let m = Mnist {
            dir: Some(dir.path().to_path_buf()),
            ..Mnist::default()
        };
        let t = m.load(Split::Test, 0).unwrap();
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.shape, vec![1, 28, 28]);
        let labels = t.labels.unwrap();
        assert!((0..10u8).all(|c| labels.contains(&c)));
        assert!(t.values.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn the_folder_is_the_configured_one_else_the_cache_else_a_usual_place() {
        let root = tempfile::tempdir().unwrap();
        let (configured, env, cache, usual) = (
            root.path().join("configured"),
            root.path().join("env"),
            root.path().join("cache"),
            root.path().join("usual"),
        );
        for d in [&configured, &env, &usual] {
            crate::fixture::write_seven_segment_idx(d, 10, 10, 0).unwrap();
        }
        let usual = vec![usual];
        let at = |dir: Option<&Path>, env: Option<&Path>| {
            locate("mnist", dir, env, &cache, &usual, None)
        };
        assert_eq!(at(Some(&configured), Some(&env)).unwrap(), configured);
        assert_eq!(at(None, Some(&env)).unwrap(), env);
        assert_eq!(at(None, None).unwrap(), usual[0]);
        // A complete cache comes first; an incomplete one (an interrupted download) does not.
        crate::fixture::write_split(&cache, Split::Test, 10, 0).unwrap();
        assert_eq!(at(None, None).unwrap(), usual[0]);
        crate::fixture::write_split(&cache, Split::Train, 10, 0).unwrap();
        assert_eq!(at(None, None).unwrap(), cache);
    }

    #[test]
    fn with_no_copy_and_no_network_the_error_says_what_to_run_and_where_to_put_files() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("cache");
        let usual = vec![root.path().join("shared")];
        let e = locate("mnist", None, None, &cache, &usual, None)
            .unwrap_err()
            .to_string();
        for what in [
            "gpfn data fetch mnist",
            "train-images-idx3-ubyte.gz",
            "data.download is off",
        ] {
            assert!(e.contains(what), "{what}: {e}");
        }
        assert!(e.contains(&cache.display().to_string()), "{e}");
        // Downloading from a server that is not there fails with the same advice.
        let mut source = crate::fetch::source("mnist").unwrap();
        source.mirrors = vec!["http://127.0.0.1:9/".into()];
        let e = locate("mnist", None, None, &cache, &usual, Some(&source))
            .unwrap_err()
            .to_string();
        for what in [
            "gpfn data fetch mnist",
            "downloading them failed",
            "127.0.0.1:9",
        ] {
            assert!(e.contains(what), "{what}: {e}");
        }
    }
}
