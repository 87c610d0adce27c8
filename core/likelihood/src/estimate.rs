//! Means with standard errors, and the report `gpfn eval nll` writes.

use serde::{Deserialize, Serialize};
use std::f64::consts::LN_2;

/// A Monte Carlo mean with its standard error `s/√n`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The sample mean.
    pub mean: f64,
    /// The sample standard deviation over `√n` (0 for one value).
    pub standard_error: f64,
    /// The number of values.
    pub count: usize,
}

impl Estimate {
    /// The mean and standard error of `values`.
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Estimate {
            mean,
            standard_error: (var / n.max(1) as f64).sqrt(),
            count: n,
        }
    }

    /// The same estimate scaled by `a` (units).
    pub fn scaled(self, a: f64) -> Estimate {
        Estimate {
            mean: self.mean * a,
            standard_error: self.standard_error * a.abs(),
            count: self.count,
        }
    }
}

/// One estimator's negative log-likelihood, in nats per item and bits per dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NllEstimate {
    /// Short name (`bfn-continuous`, `bfn-discrete`, `ode`).
    pub name: String,
    /// What it estimates, in words.
    pub description: String,
    /// `−ln p` per item (a bound where the description says so).
    pub nats: Estimate,
    /// `nats / (d ln 2)`.
    pub bits_per_dim: Estimate,
}

impl NllEstimate {
    /// From per-item nats, for data of dimension `dim`.
    pub fn from_nats(name: &str, description: &str, nats: &[f64], dim: usize) -> NllEstimate {
        let e = Estimate::of(nats);
        NllEstimate {
            name: name.into(),
            description: description.into(),
            nats: e,
            bits_per_dim: e.scaled(1.0 / (dim as f64 * LN_2)),
        }
    }
}

/// What `gpfn eval nll` writes (`<run>/eval/nll.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NllReport {
    /// Run folder, never absolute (`gpfn_eval::report_path`: relative to the current
    /// directory, else the run's name).
    pub run: String,
    /// Checkpoint of the weights, never absolute (relative to the current directory, else to
    /// the folder the run lies in).
    pub checkpoint: String,
    /// Divergence.
    pub divergence: String,
    /// Test items scored.
    pub items: usize,
    /// Dimension of one item.
    pub dim: usize,
    /// How 8-bit data were made continuous (`uniform`) or `none`.
    pub dequantisation: String,
    /// Bins per dimension, if the data are quantised.
    pub bins: Option<usize>,
    /// The estimates.
    pub estimates: Vec<NllEstimate>,
    /// ODE only: network evaluations per ODE solve (averaged over the batches), each a
    /// forward and a backward pass.
    pub nfe: Option<f64>,
    /// ODE with Hutchinson's trace and two or more probes: the mean over items of the
    /// variance of one probe's `ln p` estimate (nats²).
    pub hutchinson_variance: Option<f64>,
    /// Seed of the Monte Carlo draws.
    pub seed: u64,
    /// The settings used.
    pub options: crate::LikelihoodOptions,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The exact entropy of one item in nats, where the data set's law is known (the discrete
    /// toys): the value a tight bound reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_entropy: Option<f64>,
}

impl NllReport {
    /// A readable table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{} ({}) · {} test items of dimension {} · dequantisation {}\n",
            self.run, self.divergence, self.items, self.dim, self.dequantisation
        );
        for e in &self.estimates {
            s.push_str(&format!(
                "  {:<15} {:>10.3} ± {:<8.3} nats  {:>7.4} ± {:<7.4} bits/dim   {}\n",
                e.name,
                e.nats.mean,
                e.nats.standard_error,
                e.bits_per_dim.mean,
                e.bits_per_dim.standard_error,
                e.description
            ));
        }
        if let Some(nfe) = self.nfe {
            s.push_str(&format!("  ODE: {nfe:.1} evaluations per solve\n"));
        }
        if let Some(v) = self.hutchinson_variance {
            s.push_str(&format!(
                "  Hutchinson: variance of one probe's ln p {v:.3} nats²\n"
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_standard_error() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(e.mean, 2.5);
        // s² = 5/3, SE = √(5/12).
        approx::assert_relative_eq!(e.standard_error, (5.0f64 / 12.0).sqrt(), epsilon = 1e-15);
        let b = NllEstimate::from_nats("x", "", &[784.0 * LN_2], 784);
        approx::assert_relative_eq!(b.bits_per_dim.mean, 1.0, epsilon = 1e-15);
    }
}
