//! The shuffling loader: batch `k` of a run is a pure function of `(seed, k)`, so a resumed
//! run sees exactly the batches an uninterrupted one would.
//!
//! Rows are shuffled per epoch with `Rng::derive(seed, "shuffle", epoch)`. Where the table asks
//! for it ([`DataTable::binarise`]), batch `k` is then binarised with its own stream
//! `Rng::derive(seed, "binarise", k)`: the `batch · d` values are replaced in row-major order by
//! `x = [u < p]`, `u ~ U[0, 1)`. The draw is per *read* (per batch), not per row and epoch, so
//! a row read twice gets independent pixels, and batch `k` stays a pure function of
//! `(seed, k)` (and of the batch size).

use super::{DataTable, bernoulli};
use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::rng::Rng;

/// Draws shuffled mini-batches without replacement within each epoch.
#[derive(Debug)]
pub struct DataLoader {
    table: DataTable,
    batch: usize,
    seed: u64,
    epoch: Option<(u64, Vec<usize>)>,
}

impl DataLoader {
    /// A loader over `table` with batch size `batch`.
    pub fn new(table: DataTable, batch: usize, seed: u64) -> Self {
        DataLoader {
            table,
            batch,
            seed,
            epoch: None,
        }
    }

    /// The data.
    pub fn table(&self) -> &DataTable {
        &self.table
    }

    /// Row indices of batch number `k` (0-based).
    pub fn indices(&mut self, k: u64) -> Vec<usize> {
        let n = self.table.len();
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
    pub fn batch_values(&mut self, k: u64) -> Vec<f32> {
        let idx = self.indices(k);
        self.values_of(&idx, k)
    }

    /// Batch number `k` as a `[batch, d]` tensor.
    pub fn batch(&mut self, k: u64, device: &Device) -> Tensor<2> {
        let idx = self.indices(k);
        let v = self.values_of(&idx, k);
        Tensor::from_data(TensorData::new(v, [idx.len(), self.table.dim()]), device)
    }

    /// The rows `idx` of batch `k`, stacked and (for a binarised table) drawn.
    fn values_of(&self, idx: &[usize], k: u64) -> Vec<f32> {
        let mut v = Vec::with_capacity(idx.len() * self.table.dim());
        for &i in idx {
            v.extend_from_slice(self.table.row(i));
        }
        if self.table.binarise {
            bernoulli(&mut v, &mut Rng::derive(self.seed, "binarise", k));
        }
        v
    }

    /// Batch number `k` and, where the table has a noise column, the paired noise of the
    /// same rows (reflow's coupling).
    pub fn paired_batch(&mut self, k: u64, device: &Device) -> (Tensor<2>, Option<Tensor<2>>) {
        let idx = self.indices(k);
        let v = self.values_of(&idx, k);
        let x = Tensor::from_data(TensorData::new(v, [idx.len(), self.table.dim()]), device);
        let noise = self.table.noise.as_ref().map(|_| {
            gather(
                &idx,
                |i| self.table.noise_row(i).expect("the table has noise"),
                device,
            )
        });
        (x, noise)
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
        let again = DataLoader::new(loader.table().clone(), 5, 3).indices(3);
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
                ..loader.table().clone()
            },
            4,
            5,
        );
        assert!(plain.paired_batch(0, &device).1.is_none());
    }
}
