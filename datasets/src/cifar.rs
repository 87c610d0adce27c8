//! `cifar10`: Krizhevsky's CIFAR-10, 32×32 colour images of ten classes, from the binary
//! distribution (`cifar-10-binary.tar.gz`).
//!
//! The training split is `data_batch_1.bin` … `data_batch_5.bin` (10 000 records each), the
//! test split `test_batch.bin`. A record is 3 073 bytes: one label byte (`0..=9`) and 3 072
//! pixel bytes, channel-major — the 1 024 red values of the 32×32 image row by row, then the
//! green, then the blue — which is exactly the `[3, 32, 32]` layout of a [`DataTable`] row;
//! each byte `p` becomes `p / 127.5 − 1 ∈ [−1, 1]`, as MNIST's grey levels do.
//!
//! The folder is `data.dir` if set, else `GPFN_DATA_DIR`, else the download cache
//! (`<cache>/data/cifar10`, where `gpfn data fetch cifar10` unpacks the archive); each may
//! hold the batch files themselves or the archive's `cifar-10-batches-bin/` folder. When no
//! folder has them and `data.download` is on (the default), the archive is downloaded and
//! unpacked into the cache first.

use super::fetch;
use super::{DataTable, Dataset, Split};
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

gpfn_core::register_plugin!(
    Dataset,
    "cifar10",
    "CIFAR-10: 32×32 colour images [3, 32, 32] in [−1, 1] with 10 class labels, from the binary batches (data.dir, GPFN_DATA_DIR or the download cache; gpfn data fetch cifar10)"
);

/// The registered name: also the download cache's folder and `gpfn data fetch`'s argument.
pub const NAME: &str = "cifar10";
/// Bytes of one image: 3 channels of 32 × 32.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes of one record: the label byte and the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The archive's folder of batch files.
pub const BATCH_FOLDER: &str = "cifar-10-batches-bin";
/// The training split's files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test split's file.
pub const TEST_FILE: &str = "test_batch.bin";

/// The `cifar10` data set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cifar10 {
    /// Folder of the batch files (or of `cifar-10-batches-bin/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Use only the first `limit` images of each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Download the archive into the cache when no folder has the files.
    #[serde(default = "yes")]
    pub download: bool,
}

fn yes() -> bool {
    true
}

impl Default for Cifar10 {
    fn default() -> Self {
        Cifar10 {
            dir: None,
            limit: None,
            download: true,
        }
    }
}

fn all_files() -> impl Iterator<Item = &'static str> {
    TRAIN_FILES.into_iter().chain([TEST_FILE])
}

/// The folder inside `dir` that holds all six batch files: `dir` itself or
/// `dir/cifar-10-batches-bin`.
pub fn batch_dir(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join(BATCH_FOLDER)]
        .into_iter()
        .find(|d| all_files().all(|f| d.join(f).is_file()))
}

impl Cifar10 {
    /// The folder of the batch files: see the module's documentation.
    pub fn resolve(&self) -> Result<PathBuf> {
        let env = std::env::var_os("GPFN_DATA_DIR")
            .filter(|e| !e.is_empty())
            .map(PathBuf::from);
        let explicit = match (&self.dir, env) {
            (Some(d), _) => Some((d.clone(), "data.dir")),
            (None, Some(e)) => Some((e, "GPFN_DATA_DIR")),
            _ => None,
        };
        if let Some((d, origin)) = explicit {
            return batch_dir(&d).ok_or_else(|| GpfnError::Data {
                path: d.clone(),
                message: format!(
                    "{NAME}: {origin} names {}, which holds neither the batch files {} nor a \
                     {BATCH_FOLDER}/ folder with them; fix {origin}, or unset it to use the \
                     download cache (`gpfn data fetch {NAME}`)",
                    d.display(),
                    all_files().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let cache = fetch::cache_dir(NAME)?;
        if let Some(found) = batch_dir(&cache) {
            return Ok(found);
        }
        let advice = format!(
            "run `gpfn data fetch {NAME}`, or unpack cifar-10-binary.tar.gz into {} (or into \
             a folder named by data.dir or GPFN_DATA_DIR)",
            cache.display()
        );
        if !self.download {
            return Err(GpfnError::Data {
                path: cache,
                message: format!(
                    "{NAME}: the batch files are not in the cache and data.download is off; \
                     {advice}"
                ),
            });
        }
        tracing::info!(
            "{NAME}: no local copy; downloading into {}",
            cache.display()
        );
        fetch::fetch(&fetch::source(NAME)?, &cache, true).map_err(|e| GpfnError::Data {
            path: cache.clone(),
            message: format!("{NAME}: downloading the archive failed ({e}); when online, {advice}"),
        })?;
        batch_dir(&cache).ok_or_else(|| GpfnError::Data {
            path: cache.clone(),
            message: format!("{NAME}: the unpacked archive lacks the batch files; {advice}"),
        })
    }
}

/// Reads the records of one batch file, at most `max` of them: the pixel bytes (`3 072` per
/// record) and the labels. A file whose length is not a whole number of records (truncated)
/// or with a label above 9 is refused, naming the file and the record.
pub fn read_batch(path: &Path, max: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let bad = |message: String| GpfnError::Data {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(bad(format!(
            "{} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records (1 label \
             byte + 3×32×32 pixel bytes); the file is truncated or not a CIFAR-10 binary batch",
            bytes.len()
        )));
    }
    let n = (bytes.len() / RECORD_BYTES).min(max);
    let mut pixels = Vec::with_capacity(n * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(n);
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).take(n).enumerate() {
        if record[0] > 9 {
            return Err(bad(format!(
                "record {i} has label {}; CIFAR-10 labels are 0..=9",
                record[0]
            )));
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok((pixels, labels))
}

/// Loads one split from the batch files in `dir` (no folder search), the first `limit`
/// images if set: shape `[3, 32, 32]`, values `p / 127.5 − 1`, labels `0..=9`.
pub fn load_cifar10(dir: &Path, split: Split, limit: Option<usize>) -> Result<DataTable> {
    if limit == Some(0) {
        return Err(GpfnError::Config {
            key: "data.limit".into(),
            message: "must be ≥ 1 (or absent for every image), got 0".into(),
        });
    }
    let files: Vec<&str> = match split {
        Split::Train => TRAIN_FILES.to_vec(),
        Split::Test => vec![TEST_FILE],
    };
    let mut want = limit.unwrap_or(usize::MAX);
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        if want == 0 {
            break;
        }
        let (p, l) = read_batch(&dir.join(f), want)?;
        want -= l.len();
        pixels.extend(p);
        labels.extend(l);
    }
    Ok(DataTable {
        shape: vec![3, 32, 32],
        values: pixels.iter().map(|&p| p as f32 / 127.5 - 1.0).collect(),
        labels: Some(labels),
        noise: None,
        classes: None,
        binarise: false,
    })
}

#[typetag::serde(name = "cifar10")]
impl Dataset for Cifar10 {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        load_cifar10(&self.resolve()?, split, self.limit)
    }
}

/// A synthetic stand-in in CIFAR-10's binary format, for tests and CI: `per_batch` records
/// in each of the five training files and `test` in the test file, written into `dir`.
/// Image `i` of class `c` is a smooth colour gradient whose hue is set by `c`, with a
/// horizontal band at a class-dependent height and a little noise, so that the classes are
/// easy to tell apart and no two images are equal. Record `i` of file `b` (the
/// training files `0..5`, then the test file) has class `(i + b · per_batch) mod 10`, so the
/// training split cycles through the classes in order.
pub fn write_fixture(dir: &Path, per_batch: usize, test: usize, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| GpfnError::io(dir, e))?;
    let mut rng = Rng::derive(seed, "cifar10-fixture", 0);
    for (b, (file, n)) in TRAIN_FILES
        .iter()
        .map(|f| (*f, per_batch))
        .chain([(TEST_FILE, test)])
        .enumerate()
    {
        let offset = b * per_batch;
        let mut bytes = Vec::with_capacity(n * RECORD_BYTES);
        for i in 0..n {
            let class = ((i + offset) % 10) as u8;
            bytes.push(class);
            bytes.extend(fixture_image(class, &mut rng));
        }
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(|e| GpfnError::io(&path, e))?;
    }
    Ok(())
}

/// One fixture image of `class`, channel-major bytes.
fn fixture_image(class: u8, rng: &mut Rng) -> Vec<u8> {
    let angle = class as f64 * std::f64::consts::TAU / 10.0;
    let base = [angle.cos(), (angle + 2.1).cos(), (angle + 4.2).cos()];
    let band = 3 + 3 * (class as usize % 8);
    let mut out = Vec::with_capacity(IMAGE_BYTES);
    for (ch, b) in base.iter().enumerate() {
        for y in 0..32usize {
            for x in 0..32 {
                let ramp = (x as f64 + y as f64) / 62.0 - 0.5;
                let mut v = 0.55 * b + 0.3 * ramp * if ch == 1 { -1.0 } else { 1.0 };
                if y.abs_diff(band) <= 1 {
                    v = 0.9;
                }
                v += 0.05 * rng.normal();
                out.push(((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of `label` whose pixel `k` (channel-major) is `f(k)`.
    fn record(label: u8, f: impl Fn(usize) -> u8) -> Vec<u8> {
        std::iter::once(label)
            .chain((0..IMAGE_BYTES).map(f))
            .collect()
    }

    #[test]
    fn records_load_channel_major_scaled_with_their_labels() {
        let dir = tempfile::tempdir().unwrap();
        // Test batch: three records; the second is red 0, green 255, blue = column.
        let mut test = record(3, |_| 0);
        test.extend(record(7, |k| match k / 1024 {
            0 => 0,
            1 => 255,
            _ => (k % 32) as u8,
        }));
        test.extend(record(9, |k| (k % 256) as u8));
        std::fs::write(dir.path().join(TEST_FILE), &test).unwrap();
        let t = load_cifar10(dir.path(), Split::Test, None).unwrap();
        assert_eq!(t.shape, vec![3, 32, 32]);
        assert_eq!((t.len(), t.dim()), (3, 3072));
        assert_eq!(t.labels.as_deref(), Some(&[3u8, 7, 9][..]));
        assert!(t.row(0).iter().all(|&v| v == -1.0));
        let r = t.row(1);
        // Channel c, row y, column x is value c·1024 + y·32 + x.
        assert_eq!(r[0], -1.0);
        assert_eq!(r[1024 + 5 * 32 + 6], 1.0);
        assert_eq!(r[2048 + 7 * 32 + 31], 31.0 / 127.5 - 1.0);
        assert!(t.values.iter().all(|v| (-1.0..=1.0).contains(v)));
        // `limit` keeps the first records.
        let t = load_cifar10(dir.path(), Split::Test, Some(2)).unwrap();
        assert_eq!(t.labels.as_deref(), Some(&[3u8, 7][..]));
    }

    #[test]
    fn the_training_split_is_the_five_batches_in_order_and_limit_spans_them() {
        let dir = tempfile::tempdir().unwrap();
        for (b, f) in TRAIN_FILES.iter().enumerate() {
            let bytes: Vec<u8> = (0..2)
                .flat_map(|i| record((2 * b + i) as u8, |_| 0))
                .collect();
            std::fs::write(dir.path().join(f), bytes).unwrap();
        }
        let t = load_cifar10(dir.path(), Split::Train, None).unwrap();
        assert_eq!(t.labels.unwrap(), (0..10).collect::<Vec<u8>>());
        let t = load_cifar10(dir.path(), Split::Train, Some(5)).unwrap();
        assert_eq!(t.labels.unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(t.values.len(), 5 * 3072);
        let e = load_cifar10(dir.path(), Split::Train, Some(0)).unwrap_err();
        assert!(e.to_string().contains("data.limit"), "{e}");
    }

    #[test]
    fn a_truncated_batch_or_a_bad_label_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TEST_FILE);
        let mut bytes = record(1, |_| 0);
        bytes.extend(&record(2, |_| 0)[..100]);
        std::fs::write(&path, &bytes).unwrap();
        let e = load_cifar10(dir.path(), Split::Test, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(TEST_FILE) && e.contains("3173 bytes") && e.contains("truncated"),
            "{e}"
        );
        std::fs::write(&path, record(10, |_| 0)).unwrap();
        let e = load_cifar10(dir.path(), Split::Test, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("record 0 has label 10"), "{e}");
        let e = load_cifar10(dir.path(), Split::Train, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("data_batch_1.bin"), "{e}");
    }

    #[test]
    fn the_folder_may_be_the_batches_or_the_archives_folder_above_them() {
        let root = tempfile::tempdir().unwrap();
        let inner = root.path().join(BATCH_FOLDER);
        write_fixture(&inner, 2, 3, 0).unwrap();
        assert_eq!(batch_dir(root.path()), Some(inner.clone()));
        assert_eq!(batch_dir(&inner), Some(inner.clone()));
        let c = Cifar10 {
            dir: Some(root.path().to_path_buf()),
            ..Cifar10::default()
        };
        let t = c.load(Split::Train, 0).unwrap();
        assert_eq!((t.len(), t.shape.clone()), (10, vec![3, 32, 32]));
        let labels = t.labels.unwrap();
        assert!((0..10u8).all(|c| labels.contains(&c)), "{labels:?}");
        assert_eq!(c.load(Split::Test, 0).unwrap().len(), 3);
        // A folder without the files is named with what to do.
        let empty = tempfile::tempdir().unwrap();
        let e = Cifar10 {
            dir: Some(empty.path().to_path_buf()),
            ..Cifar10::default()
        }
        .load(Split::Test, 0)
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("data.dir")
                && e.contains("test_batch.bin")
                && e.contains("gpfn data fetch cifar10"),
            "{e}"
        );
    }

    #[test]
    fn the_config_section_reads_and_refuses_unknown_keys() {
        let c: Box<dyn Dataset> =
            serde_json::from_str(r#"{"name": "cifar10", "dir": "x", "limit": 5}"#).unwrap();
        assert!(format!("{c:?}").contains("limit: Some(5)"));
        let e = serde_json::from_str::<Box<dyn Dataset>>(r#"{"name": "cifar10", "dirr": "x"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("dirr"), "{e}");
    }
}
