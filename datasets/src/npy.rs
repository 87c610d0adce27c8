//! `npy`: rows from a NumPy `.npy` file: `[N, D]` tabular data or `[N, C, H, W]` images,
//! float32 or float64, C order, with optional integer labels from a second `.npy` of shape
//! `[N]`.
//!
//! ```toml
//! [data]
//! name = "npy"
//! path = "data.npy"      # required
//! labels = "labels.npy"  # optional: [N] integers in 0..=255
//! holdout = 0.1          # test split: a fraction of the rows (by a hash of the row index) or a count
//! standardise = true     # tabular: per-feature (x − mean) / std, statistics of the training split
//! range = [0, 255]       # images: the values' range, mapped linearly to [−1, 1] (default [−1, 1])
//! ```
//!
//! Tabular data is standardised per feature by default ([`Standardisation`]); a run writes the
//! statistics to `data-stats.json` in its folder, and `gpfn sample` (and the periodic samples)
//! write the samples' `.npy` back in the data's units. Images are not standardised: their
//! values must lie in `range` (`[−1, 1]`, `[0, 1]` or `[0, 255]`, or any `[lo, hi]`) and are
//! mapped to `[−1, 1]` by `2 (v − lo) / (hi − lo) − 1`.
//!
//! Checked before training, each error naming the file: a file that is not a `.npy`, a dtype
//! other than float32/float64 (integer labels), a rank other than 2 or 4 (1 for labels),
//! Fortran order, a label count that differs from the data's row count, labels outside
//! `0..=255`, NaN or ±∞ anywhere, image values outside `range`. The file is read whole (a
//! `.npy` larger than memory is not streamed).

use super::{DataTable, Dataset, Holdout, Split, Standardisation, holdout_key};
use gpfn_core::{GpfnError, Result};
use npyz::{DType, NpyFile, Order, TypeChar};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

gpfn_core::register_plugin!(
    Dataset,
    "npy",
    "your arrays: data.path an .npy of [N, D] rows (standardised per feature, statistics kept in the run) or [N, C, H, W] images (data.range mapped to [−1, 1]), float32/float64; optional data.labels; data.holdout"
);

/// The values' range of `.npy` images, `[lo, hi]`, mapped to `[−1, 1]`.
pub type PixelRange = [f64; 2];

/// The `npy` data set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpyData {
    /// The data: `[N, D]` or `[N, C, H, W]`, float32 or float64.
    pub path: PathBuf,
    /// Labels: `[N]` integers in `0..=255`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// The test split: a fraction of the rows or a count.
    #[serde(default = "default_holdout")]
    pub holdout: Holdout,
    /// Tabular data: standardise each feature (the default).
    #[serde(default = "yes")]
    pub standardise: bool,
    /// Images: the values' range (default `[−1, 1]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<PixelRange>,
    /// Use only the first `limit` rows of each split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

fn yes() -> bool {
    true
}

fn default_holdout() -> Holdout {
    Holdout::Fraction(0.1)
}

impl NpyData {
    /// The data set of `path` with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        NpyData {
            path: path.into(),
            labels: None,
            holdout: default_holdout(),
            standardise: true,
            range: None,
            limit: None,
        }
    }

    /// Reads, checks and splits the file: the rows of `split` (images mapped to `[−1, 1]`,
    /// tabular data not yet standardised) and the training split's statistics for tabular
    /// data with `standardise`.
    fn read_split(&self, split: Split) -> Result<(DataTable, Option<Standardisation>)> {
        self.holdout.check("data.holdout")?;
        let (mut values, dims) = read_floats(&self.path)?;
        let n = dims[0];
        let shape: Vec<usize> = dims[1..].to_vec();
        let d: usize = shape.iter().product();
        let tabular = shape.len() == 1;
        if tabular && self.range.is_some() {
            return Err(GpfnError::Config {
                key: "data.range".into(),
                message: format!(
                    "applies to images ([N, C, H, W]); {} holds tabular rows {dims:?}",
                    self.path.display()
                ),
            });
        }
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(GpfnError::Data {
                path: self.path.clone(),
                message: format!(
                    "value {} at row {}, column {} is not finite (NaN or ±∞)",
                    values[at],
                    at / d.max(1),
                    at % d.max(1)
                ),
            });
        }
        if !tabular {
            let [lo, hi] = self.range.unwrap_or([-1.0, 1.0]);
            if lo.is_nan() || hi.is_nan() || lo >= hi {
                return Err(GpfnError::Config {
                    key: "data.range".into(),
                    message: format!("[{lo}, {hi}]: needs lo < hi"),
                });
            }
            if let Some(at) = values
                .iter()
                .position(|&v| f64::from(v) < lo || f64::from(v) > hi)
            {
                return Err(GpfnError::Data {
                    path: self.path.clone(),
                    message: format!(
                        "value {} at image {} lies outside data.range = [{lo}, {hi}]; set \
                         data.range to the images' range ([0, 1], [0, 255] or [−1, 1])",
                        values[at],
                        at / d.max(1)
                    ),
                });
            }
            for v in &mut values {
                *v = (2.0 * (f64::from(*v) - lo) / (hi - lo) - 1.0) as f32;
            }
        }
        let labels = match &self.labels {
            Some(p) => Some(read_labels(p, n, &self.path)?),
            None => None,
        };
        let keys: Vec<u64> = (0..n as u64)
            .map(|i| holdout_key(&i.to_le_bytes()))
            .collect();
        let held = self.holdout.mask(&keys);
        let pick = |want: bool| -> Vec<usize> {
            let mut rows: Vec<usize> = (0..n).filter(|&i| held[i] == want).collect();
            if let Some(limit) = self.limit {
                rows.truncate(limit);
            }
            rows
        };
        let rows = pick(split == Split::Test);
        if rows.is_empty() {
            return Err(GpfnError::Data {
                path: self.path.clone(),
                message: if split == Split::Test {
                    format!(
                        "no row is held out for the test split (data.holdout = {:?} of {n} \
                         rows); set data.holdout to a count of rows, e.g. 1",
                        self.holdout
                    )
                } else {
                    format!("every one of the {n} rows is held out; lower data.holdout")
                },
            });
        }
        let gather = |rows: &[usize]| -> Vec<f32> {
            let mut v = Vec::with_capacity(rows.len() * d);
            for &i in rows {
                v.extend_from_slice(&values[i * d..(i + 1) * d]);
            }
            v
        };
        let stats = (tabular && self.standardise).then(|| {
            let train = if split == Split::Train {
                rows.clone()
            } else {
                pick(false)
            };
            Standardisation::fit(&gather(&train), d)
        });
        let table = DataTable {
            shape,
            values: gather(&rows),
            labels: labels.map(|l| rows.iter().map(|&i| l[i]).collect()),
            noise: None,
            classes: None,
            binarise: false,
        };
        Ok((table, stats))
    }
}

#[typetag::serde(name = "npy")]
impl Dataset for NpyData {
    fn load(&self, split: Split, _seed: u64) -> Result<DataTable> {
        let (mut table, stats) = self.read_split(split)?;
        if let Some(s) = stats {
            s.apply(&mut table.values);
        }
        Ok(table)
    }

    fn standardisation(&self, _seed: u64) -> Result<Option<Standardisation>> {
        Ok(self.read_split(Split::Train)?.1)
    }
}

fn bad(path: &Path, message: String) -> GpfnError {
    GpfnError::Data {
        path: path.to_path_buf(),
        message,
    }
}

/// Opens a `.npy`: its bytes' reader and shape, C order checked.
fn open<'a>(path: &Path, bytes: &'a [u8]) -> Result<(NpyFile<&'a [u8]>, Vec<usize>)> {
    let npy = NpyFile::new(bytes).map_err(|e| bad(path, format!("not a .npy file: {e}")))?;
    if npy.order() == Order::Fortran {
        return Err(bad(
            path,
            "is in Fortran (column-major) order; save it with np.ascontiguousarray".into(),
        ));
    }
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&s| usize::try_from(s).ok())
        .collect::<Option<_>>()
        .ok_or_else(|| bad(path, format!("shape {:?} does not fit", npy.shape())))?;
    Ok((npy, shape))
}

/// The values of a float32 or float64 `[N, D]` or `[N, C, H, W]` `.npy` and its shape.
fn read_floats(path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    let bytes = std::fs::read(path).map_err(|e| GpfnError::io(path, e))?;
    let (npy, shape) = open(path, &bytes)?;
    if shape.len() != 2 && shape.len() != 4 {
        return Err(bad(
            path,
            format!(
                "has shape {shape:?} (rank {}); the npy data set reads [N, D] tabular rows or \
                 [N, C, H, W] images",
                shape.len()
            ),
        ));
    }
    let count = gpfn_io::checked_len(&shape)
        .ok_or_else(|| bad(path, format!("shape {shape:?} overflows")))?;
    let dtype = npy.dtype();
    let size = match &dtype {
        DType::Plain(t) if t.type_char() == TypeChar::Float => t.size_field(),
        _ => 0,
    };
    let short = |got: usize| {
        bad(
            path,
            format!("holds {got} values where its shape {shape:?} says {count}"),
        )
    };
    let values: Vec<f32> = match size {
        4 => npy
            .into_vec::<f32>()
            .map_err(|e| bad(path, format!("unreadable float32 data: {e}")))?,
        8 => npy
            .into_vec::<f64>()
            .map_err(|e| bad(path, format!("unreadable float64 data: {e}")))?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        _ => {
            return Err(bad(
                path,
                format!(
                    "has dtype {}; the npy data set reads float32 or float64 (convert with \
                     .astype(np.float32))",
                    dtype.descr()
                ),
            ));
        }
    };
    if values.len() != count {
        return Err(short(values.len()));
    }
    Ok((values, shape))
}

/// The labels of a `[N]` integer `.npy`, checked against the data's `n` rows.
fn read_labels(path: &Path, n: usize, data: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| GpfnError::io(path, e))?;
    let (npy, shape) = open(path, &bytes)?;
    if shape.len() != 1 {
        return Err(bad(
            path,
            format!("labels have shape {shape:?}; expected [N], one integer per row"),
        ));
    }
    if shape[0] != n {
        return Err(bad(
            path,
            format!(
                "holds {} labels where {} holds {n} rows",
                shape[0],
                data.display()
            ),
        ));
    }
    let dtype = npy.dtype();
    let kind = match &dtype {
        DType::Plain(t) => Some((t.type_char(), t.size_field())),
        _ => None,
    };
    let err = |e: std::io::Error| bad(path, format!("unreadable labels: {e}"));
    let wide: Vec<i128> = match kind {
        Some((TypeChar::Int, 1)) => npy
            .into_vec::<i8>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        Some((TypeChar::Int, 2)) => npy
            .into_vec::<i16>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        Some((TypeChar::Int, 4)) => npy
            .into_vec::<i32>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        Some((TypeChar::Int, 8)) => npy
            .into_vec::<i64>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        Some((TypeChar::Uint, 1)) => npy
            .into_vec::<u8>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        Some((TypeChar::Uint, 2)) => npy
            .into_vec::<u16>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        Some((TypeChar::Uint, 4)) => npy
            .into_vec::<u32>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        Some((TypeChar::Uint, 8)) => npy
            .into_vec::<u64>()
            .map_err(err)?
            .into_iter()
            .map(i128::from)
            .collect(),
        _ => {
            return Err(bad(
                path,
                format!("labels have dtype {}; expected integers", dtype.descr()),
            ));
        }
    };
    if wide.len() != n {
        return Err(bad(
            path,
            format!("holds {} labels, its shape says {n}", wide.len()),
        ));
    }
    wide.into_iter()
        .enumerate()
        .map(|(i, v)| {
            u8::try_from(v)
                .map_err(|_| bad(path, format!("label {v} at row {i} is outside 0..=255")))
        })
        .collect()
}
