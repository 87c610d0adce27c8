//! The shuffling loader: batch `k` of a run is a pure function of `(seed, k)`, so a resumed
//! run sees exactly the batches an uninterrupted one would.
//!
//! Rows are shuffled per epoch with `Rng::derive(seed, "shuffle", epoch)`. Where the table asks
//! for it ([`DataTable::binarise`]), batch `k` is then binarised with its own stream
//! `Rng::derive(seed, "binarise", k)`: the `batch · d` values are replaced in row-major order by
//! `x = [u < p]`, `u ~ U[0, 1)`. The draw is per *read* (per batch), not per row and epoch, so
//! a row read twice gets independent pixels, and batch `k` stays a pure function of
//! `(seed, k)` (and of the batch size).
//!
//! Where the table has labels ([`DataTable::labels`]), [`DataLoader::batch_labels`] gives the
//! labels of batch `k`'s rows in the batch's order (so also a pure function of `(seed, k)`);
//! a table without labels gives `None`.
//!
//! A *streaming* loader ([`DataLoader::streaming`]) holds no table: it asks its [`RowSource`]
//! for the rows of batch `k` (an image folder decodes them on the rayon threads) and, once
//! batch `k` is handed out, starts reading batch `k + 1` on a background thread, so that the
//! decoding overlaps the training step. The indices are the same pure function of
//! `(seed, k)`, and a source gives the same values for the same indices, so the batches are
//! the ones a table in memory would give; at most one batch is read ahead.

use super::{DataTable, RowSource, bernoulli};
use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::Result;
use gpfn_core::rng::Rng;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Where the loader's rows come from.
#[derive(Debug)]
enum Rows {
    /// A table in memory.
    Table(DataTable),
    /// Rows read on demand, with batch `k`'s read started ahead (`(k, its rows' values)`).
    Stream {
        source: Arc<dyn RowSource>,
        ahead: Option<(u64, JoinHandle<Result<Vec<f32>>>)>,
    },
}

/// Draws shuffled mini-batches without replacement within each epoch.
#[derive(Debug)]
pub struct DataLoader {
    rows: Rows,
    batch: usize,
    seed: u64,
    epoch: Option<(u64, Vec<usize>)>,
}

impl DataLoader {
    /// A loader over `table` with batch size `batch`.
    pub fn new(table: DataTable, batch: usize, seed: u64) -> Self {
        DataLoader {
            rows: Rows::Table(table),
            batch,
            seed,
            epoch: None,
        }
    }

    /// A loader that reads the rows of each batch from `source` when asked, and the next
    /// batch's ahead on a background thread.
    pub fn streaming(source: Arc<dyn RowSource>, batch: usize, seed: u64) -> Self {
        DataLoader {
            rows: Rows::Stream {
                source,
                ahead: None,
            },
            batch,
            seed,
            epoch: None,
        }
    }

    /// The data, when it is a table in memory (`None` for a streaming loader).
    pub fn table(&self) -> Option<&DataTable> {
        match &self.rows {
            Rows::Table(t) => Some(t),
            Rows::Stream { .. } => None,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match &self.rows {
            Rows::Table(t) => t.len(),
            Rows::Stream { source, .. } => source.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one item.
    pub fn shape(&self) -> &[usize] {
        match &self.rows {
            Rows::Table(t) => &t.shape,
            Rows::Stream { source, .. } => source.shape(),
        }
    }

    /// Dimension of one item.
    pub fn dim(&self) -> usize {
        self.shape().iter().product()
    }

    /// Row indices of batch number `k` (0-based).
    pub fn indices(&mut self, k: u64) -> Vec<usize> {
        let n = self.len();
        let mut out = Vec::with_capacity(self.batch);
        for j in 0..self.batch as u64 {
            let pos = k * self.batch as u64 + j;
            let epoch = pos / n as u64;
            if self.epoch.as_ref().map(|e| e.0) != Some(epoch) {
                let perm = Rng::derive(self.seed, "shuffle", epoch).permutation(n);
                self.epoch = Some((epoch, perm));
            }
            let perm = &self.epoch.as_ref().expect("set above").1;
            out.push(perm[(pos % n as u64) as usize]);
        }
        out
    }

    /// The values of batch number `k`, row-major `[batch, d]`, binarised where the table asks.
    ///
    /// # Panics
    /// When a streaming source cannot read a row ([`DataLoader::try_batch_values`] returns the
    /// error instead).
    pub fn batch_values(&mut self, k: u64) -> Vec<f32> {
        self.try_batch_values(k).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`DataLoader::batch_values`], with a streaming source's read error returned.
    pub fn try_batch_values(&mut self, k: u64) -> Result<Vec<f32>> {
        let idx = self.indices(k);
        self.values_of(&idx, k)
    }

    /// Batch number `k` as a `[batch, d]` tensor.
    ///
    /// # Panics
    /// When a streaming source cannot read a row.
    pub fn batch(&mut self, k: u64, device: &Device) -> Tensor<2> {
        self.paired_batch(k, device).0
    }

    /// The labels of batch number `k`'s rows, in the order of [`batch`](Self::batch)'s rows;
    /// `None` when the table has no labels.
    pub fn batch_labels(&mut self, k: u64) -> Option<Vec<u8>> {
        if let Rows::Table(t) = &self.rows {
            t.labels.as_ref()?;
        }
        let idx = self.indices(k);
        match &self.rows {
            Rows::Table(t) => {
                let labels = t.labels.as_ref()?;
                Some(idx.iter().map(|&i| labels[i]).collect())
            }
            Rows::Stream { source, .. } => source.labels(&idx),
        }
    }

    /// The rows `idx` of batch `k`, stacked and (for a binarised table) drawn; for a streaming
    /// loader, read (or taken from the read started ahead), and batch `k + 1`'s read started.
    fn values_of(&mut self, idx: &[usize], k: u64) -> Result<Vec<f32>> {
        match &self.rows {
            Rows::Table(table) => {
                let mut v = Vec::with_capacity(idx.len() * table.dim());
                for &i in idx {
                    v.extend_from_slice(table.row(i));
                }
                if table.binarise {
                    bernoulli(&mut v, &mut Rng::derive(self.seed, "binarise", k));
                }
                Ok(v)
            }
            Rows::Stream { .. } => {
                let next = self.indices(k + 1);
                let Rows::Stream { source, ahead } = &mut self.rows else {
                    unreachable!("matched above")
                };
                let v = match ahead.take() {
                    Some((j, handle)) if j == k => handle
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))?,
                    // A read ahead of another batch (the caller jumped): drop it.
                    _ => source.rows(idx)?,
                };
                let src = Arc::clone(source);
                *ahead = Some((k + 1, std::thread::spawn(move || src.rows(&next))));
                Ok(v)
            }
        }
    }

    /// Batch number `k` and, where the table has a noise column, the paired noise of the
    /// same rows (reflow's coupling).
    ///
    /// # Panics
    /// When a streaming source cannot read a row ([`DataLoader::try_paired_batch`] returns
    /// the error instead).
    pub fn paired_batch(&mut self, k: u64, device: &Device) -> (Tensor<2>, Option<Tensor<2>>) {
        self.try_paired_batch(k, device)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`DataLoader::paired_batch`], with a streaming source's read error returned.
    pub fn try_paired_batch(
        &mut self,
        k: u64,
        device: &Device,
    ) -> Result<(Tensor<2>, Option<Tensor<2>>)> {
        let idx = self.indices(k);
        let v = self.values_of(&idx, k)?;
        let x = Tensor::from_data(TensorData::new(v, [idx.len(), self.dim()]), device);
        let noise = match &self.rows {
            Rows::Table(table) => table.noise.as_ref().map(|_| {
                gather(
                    &idx,
                    |i| table.noise_row(i).expect("the table has noise"),
                    device,
                )
            }),
            Rows::Stream { .. } => None,
        };
        Ok((x, noise))
    }
}

/// The rows `idx` stacked into a `[idx.len(), d]` tensor.
fn gather<'a>(idx: &[usize], row: impl Fn(usize) -> &'a [f32], device: &Device) -> Tensor<2> {
    let d = idx.first().map_or(0, |&i| row(i).len());
    let mut v = Vec::with_capacity(idx.len() * d);
    for &i in idx {
        v.extend_from_slice(row(i));
    }
    Tensor::from_data(TensorData::new(v, [idx.len(), d]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_visits_every_row_once() {
        let table = DataTable {
            shape: vec![1],
            values: (0..10).map(|i| i as f32).collect(),
            labels: None,
            noise: None,
            classes: None,
            binarise: false,
        };
        let mut loader = DataLoader::new(table, 5, 3);
        let mut seen: Vec<usize> = loader.indices(0);
        seen.extend(loader.indices(1));
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        // A fresh loader reproduces batch 3 exactly.
        let again = DataLoader::new(loader.table().unwrap().clone(), 5, 3).indices(3);
        assert_eq!(again, loader.indices(3));
    }

    #[test]
    fn paired_noise_follows_its_rows() {
        let device = Device::flex();
        let table = DataTable {
            shape: vec![2],
            values: (0..20).map(|i| i as f32).collect(),
            labels: None,
            noise: Some((0..20).map(|i| -(i as f32)).collect()),
            classes: None,
            binarise: false,
        };
        let mut loader = DataLoader::new(table, 4, 5);
        for k in 0..4 {
            let (x, n) = loader.paired_batch(k, &device);
            assert_eq!(
                x.clone().into_data().try_to_vec::<f32>().unwrap(),
                loader
                    .batch(k, &device)
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            );
            let x = x.into_data().try_to_vec::<f32>().unwrap();
            let n = n.unwrap().into_data().try_to_vec::<f32>().unwrap();
            // Each noise row is the negated data row it was stored with.
            assert_eq!(n, x.iter().map(|v| -v).collect::<Vec<_>>());
        }
        let mut plain = DataLoader::new(
            DataTable {
                noise: None,
                ..loader.table().unwrap().clone()
            },
            4,
            5,
        );
        assert!(plain.paired_batch(0, &device).1.is_none());
    }

    #[test]
    fn labels_follow_their_rows_and_are_a_function_of_seed_and_batch() {
        // Row i holds the value i and the label i mod 7.
        let table = DataTable {
            shape: vec![1],
            values: (0..23).map(|i| i as f32).collect(),
            labels: Some((0..23).map(|i| (i % 7) as u8).collect()),
            noise: None,
            classes: None,
            binarise: false,
        };
        let device = Device::flex();
        let mut loader = DataLoader::new(table.clone(), 5, 11);
        // Batches 0..9 cross epoch boundaries (23 rows, 5 per batch).
        let mut seen = Vec::new();
        for k in 0..10 {
            let x = loader
                .batch(k, &device)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let labels = loader.batch_labels(k).unwrap();
            assert_eq!(
                labels,
                x.iter()
                    .map(|&v| (v as usize % 7) as u8)
                    .collect::<Vec<_>>()
            );
            seen.push(labels);
        }
        // A fresh loader, asked out of order, gives the same labels for each k.
        let mut again = DataLoader::new(table.clone(), 5, 11);
        for k in (0..10).rev() {
            assert_eq!(again.batch_labels(k).unwrap(), seen[k as usize]);
        }
        // Another seed shuffles differently; a table without labels has none.
        assert_ne!(
            DataLoader::new(table.clone(), 5, 12).batch_labels(0),
            Some(seen[0].clone())
        );
        let mut unlabelled = DataLoader::new(
            DataTable {
                labels: None,
                ..table
            },
            5,
            11,
        );
        assert_eq!(unlabelled.batch_labels(0), None);
    }

    #[test]
    fn the_mnist_fixture_labels_go_through_the_loader() {
        use crate::{Dataset, Mnist, Split};
        let dir = tempfile::tempdir().unwrap();
        crate::fixture::write_split(dir.path(), Split::Train, 40, 2).unwrap();
        let mnist = Mnist {
            dir: Some(dir.path().to_path_buf()),
            download: false,
            ..Mnist::default()
        };
        let table = mnist.load(Split::Train, 0).unwrap();
        let labels = table.labels.clone().expect("MNIST has labels");
        let mut loader = DataLoader::new(table.clone(), 8, 4);
        for k in 0..7 {
            let batch = loader.batch_labels(k).unwrap();
            let idx = loader.indices(k);
            assert_eq!(batch, idx.iter().map(|&i| labels[i]).collect::<Vec<_>>());
            assert_eq!(
                DataLoader::new(table.clone(), 8, 4)
                    .batch_labels(k)
                    .unwrap(),
                batch
            );
        }
    }
}
