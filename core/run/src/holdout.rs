//! The held-out part of the training split (`[train] holdout = N`): the last `N` rows of the
//! training split, never trained on, and the reference set of `gpfn eval --against holdout`.
//! Hyper-parameters are chosen against these images, so that the test set is looked at
//! once, for the final numbers (docs/results.md, "The fair comparison: protocol").

use crate::config::Config;
use gpfn_core::{GpfnError, Result};
use gpfn_data::{DataTable, RowSource, Split};
use std::sync::Arc;

/// The rows `range` of `table` (values, labels and paired noise alike).
fn rows(table: &DataTable, range: std::ops::Range<usize>) -> DataTable {
    let d = table.dim();
    DataTable {
        shape: table.shape.clone(),
        values: table.values[range.start * d..range.end * d].to_vec(),
        labels: table.labels.as_ref().map(|l| l[range.clone()].to_vec()),
        noise: table
            .noise
            .as_ref()
            .map(|n| n[range.start * d..range.end * d].to_vec()),
        classes: table.classes,
        binarise: table.binarise,
    }
}

/// `(training rows, held-out rows)`: the first `n − holdout` rows of `table` and its last
/// `holdout`. Holding out every row (or more) is an error that names `train.holdout`.
pub fn split(table: &DataTable, holdout: usize) -> Result<(DataTable, DataTable)> {
    let n = table.len();
    if holdout >= n {
        return Err(GpfnError::Config {
            key: "train.holdout".into(),
            message: format!(
                "holds out {holdout} of the {n} training rows; at least one must be left to train on"
            ),
        });
    }
    Ok((rows(table, 0..n - holdout), rows(table, n - holdout..n)))
}

/// The rows a run trains on: the training split without its held-out rows.
pub fn training_rows(config: &Config) -> Result<DataTable> {
    let table = config.data.load(Split::Train, config.seed)?;
    match config.train.holdout {
        0 => Ok(table),
        h => Ok(split(&table, h)?.0),
    }
}

/// The training rows read on demand, when the data set streams them (a large image folder):
/// its training split without the last `train.holdout` rows; `None` when it loads whole.
pub fn training_source(config: &Config) -> Result<Option<Arc<dyn RowSource>>> {
    let Some(source) = config.data.source(Split::Train, config.seed)? else {
        return Ok(None);
    };
    let n = source.len();
    match config.train.holdout {
        0 => Ok(Some(source)),
        h if h >= n => Err(GpfnError::Config {
            key: "train.holdout".into(),
            message: format!(
                "holds out {h} of the {n} training rows; at least one must be left to train on"
            ),
        }),
        h => Ok(Some(gpfn_data::head(source, n - h))),
    }
}

/// The held-out rows of a run's training split; an error when the run holds none out.
pub fn held_out_rows(config: &Config) -> Result<DataTable> {
    if config.train.holdout == 0 {
        return Err(GpfnError::Config {
            key: "train.holdout".into(),
            message: "is 0: this run held no training images out, so there is no held-out set \
                      to compare with; train with `--set train.holdout=N` (e.g. 1000) first"
                .into(),
        });
    }
    // A streamed data set reads only the held-out rows.
    if let Some(source) = config.data.source(Split::Train, config.seed)? {
        let (n, h) = (source.len(), config.train.holdout);
        if h >= n {
            return Err(GpfnError::Config {
                key: "train.holdout".into(),
                message: format!(
                    "holds out {h} of the {n} training rows; at least one must be left to train on"
                ),
            });
        }
        return gpfn_data::table_of(&*source, n - h..n);
    }
    let table = config.data.load(Split::Train, config.seed)?;
    Ok(split(&table, config.train.holdout)?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: usize) -> DataTable {
        DataTable {
            shape: vec![2],
            values: (0..2 * n).map(|v| v as f32).collect(),
            labels: Some((0..n as u8).collect()),
            noise: Some((0..2 * n).map(|v| -(v as f32)).collect()),
            classes: None,
            binarise: false,
        }
    }

    #[test]
    fn the_last_rows_are_held_out_with_their_labels_and_noise() {
        let (train, held) = split(&table(5), 2).unwrap();
        assert_eq!(train.len(), 3);
        assert_eq!(held.len(), 2);
        assert_eq!(held.values, vec![6.0, 7.0, 8.0, 9.0]);
        assert_eq!(held.labels, Some(vec![3, 4]));
        assert_eq!(held.noise, Some(vec![-6.0, -7.0, -8.0, -9.0]));
        assert_eq!(train.values, (0..6).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(train.labels, Some(vec![0, 1, 2]));
    }

    #[test]
    fn holding_out_every_row_is_refused_by_name() {
        let err = split(&table(4), 4).unwrap_err().to_string();
        assert!(
            err.contains("train.holdout") && err.contains("4 of the 4"),
            "{err}"
        );
        assert!(split(&table(4), 3).is_ok());
    }
}
