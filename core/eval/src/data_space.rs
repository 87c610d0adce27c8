//! Distances between generated samples and held-out data that need no feature classifier:
//! computed on the values themselves (pixels in `[−1, 1]`, or a table's columns), for data
//! sets that have no trained classifier (docs/evaluation.md, "Without a classifier").
//!
//! * the **energy distance** (Székely & Rizzo 2013)
//!   `E(P, Q) = 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖`, `X, X' ~ P`, `Y, Y' ~ Q`, estimated by
//!   its U-statistic (pairs `i ≠ j` within a set), which is unbiased and may come out slightly
//!   negative when `P = Q`; zero exactly when the laws are equal, in the data's units;
//! * the **debiased Sinkhorn divergence** `S_ε` (squared-Euclidean cost; [`gpfn_ot`]), at an
//!   `ε` in the cost's units (default: [`DEFAULT_EPSILON_FRACTION`] of the median squared
//!   distance between reference rows, so that it is comparable between runs scored on the
//!   same reference rows).
//!
//! **Standard errors** come from `K` disjoint subsets ([`subsets_for`]: `K = 10` when there
//! are at least 20 rows on each side): samples and reference rows are cut into `K` consecutive
//! blocks of equal size (a remainder is left out of the subsets), the statistic is computed on
//! each pair of blocks, and the standard error is `s/√K` with `s` the blocks' sample standard
//! deviation. For the energy distance the reported value is the U-statistic on all rows; to
//! first order in `1/n` its variance equals that of the blocks' mean, so `s/√K` is its
//! standard error away from `P = Q` and an overestimate near it (where the U-statistic's
//! variance falls like `1/n²`). `S_ε` is biased upwards at finite sample sizes by an amount
//! that depends on the size, so its reported value is the blocks' mean — `S_ε` at
//! `n/K` samples against `m/K` reference rows, as the report says — and `s/√K` is exactly
//! that mean's standard error.

use super::Features;
use super::against::Against;
use super::neighbours::{Points, for_each_block};
use super::report::{EvalReport, Heading, report_path, write_rows};
use super::run_eval::{EvalOptions, TrainedRun};
use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::sampler::{Sampler, name_of};
use gpfn_core::{GpfnError, Result};
use gpfn_data::Split;
use gpfn_ot::Sinkhorn;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Default `ε` of the data-space `S_ε`, as a fraction of the median squared distance between
/// reference rows.
pub const DEFAULT_EPSILON_FRACTION: f64 = 0.05;

/// Most reference rows the median squared distance (the default `ε`) is taken over.
const MEDIAN_ROWS: usize = 1000;

/// A value with its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Its standard error `s/√K` over the `K` disjoint subsets; `None` with fewer than two.
    pub stderr: Option<f64>,
}

impl Estimate {
    /// `value ± stderr` (or the value alone).
    pub fn show(&self) -> String {
        match self.stderr {
            Some(se) => format!("{:.5} ± {:.5}", self.value, se),
            None => format!("{:.5}", self.value),
        }
    }
}

/// `K` for `n` samples and `m` reference rows: 10, or fewer so that every block has at least
/// two rows of each (`⌊min(n, m)/2⌋`, at least 1).
pub fn subsets_for(n: usize, m: usize) -> usize {
    (n.min(m) / 2).clamp(1, 10)
}

/// Mean and `s/√K` of per-block values.
fn mean_and_stderr(values: &[f64]) -> (f64, Option<f64>) {
    let k = values.len() as f64;
    let mean = values.iter().sum::<f64>() / k;
    if values.len() < 2 {
        return (mean, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0);
    (mean, Some((var / k).sqrt()))
}

/// Sums of `‖a_i − b_j‖` over all pairs (over `i ≠ j` when `same`), in total and within each
/// of the `k` blocks (`i` in block `q` of `a`, `j` in block `q` of `b`; blocks of `per_a` and
/// `per_b` consecutive rows).
fn distance_sums(
    a: &Points,
    b: &Points,
    same: bool,
    k: usize,
    per_a: usize,
    per_b: usize,
) -> (f64, Vec<f64>) {
    let parts = for_each_block(a, b, |start, block| {
        let mut total = 0.0;
        let mut within = vec![0.0; k];
        for r in 0..block.rows() {
            let i = start + r;
            let qa = i / per_a;
            for (j, &sq) in block.row(r).iter().enumerate() {
                if same && i == j {
                    continue;
                }
                let dist = sq.sqrt();
                total += dist;
                if qa < k && j / per_b == qa {
                    within[qa] += dist;
                }
            }
        }
        (total, within)
    });
    let mut total = 0.0;
    let mut within = vec![0.0; k];
    for (t, w) in parts {
        total += t;
        for (acc, v) in within.iter_mut().zip(w) {
            *acc += v;
        }
    }
    (total, within)
}

/// The U-statistic of the energy distance between `x` (samples) and `y` (reference rows),
/// with its standard error over `k` disjoint subsets (see the module's documentation). Each
/// set needs at least two rows, and `k` at most half the smaller set.
pub fn energy_distance(x: &Features, y: &Features, k: usize) -> Result<Estimate> {
    x.check_same_dim(y)?;
    let (n, m) = (x.len(), y.len());
    if n < 2 || m < 2 {
        return Err(GpfnError::Invalid(format!(
            "the energy distance needs at least 2 rows on each side, got {n} and {m}"
        )));
    }
    let k = k.clamp(1, n.min(m) / 2);
    let (per_x, per_y) = (n / k, m / k);
    let center = y.mean();
    let (px, py) = (Points::new(x, &center), Points::new(y, &center));
    let (xy, xy_k) = distance_sums(&px, &py, false, k, per_x, per_y);
    let (xx, xx_k) = distance_sums(&px, &px, true, k, per_x, per_x);
    let (yy, yy_k) = distance_sums(&py, &py, true, k, per_y, per_y);
    let u = |xy: f64, xx: f64, yy: f64, n: usize, m: usize| {
        let (n, m) = (n as f64, m as f64);
        2.0 * xy / (n * m) - xx / (n * (n - 1.0)) - yy / (m * (m - 1.0))
    };
    let blocks: Vec<f64> = (0..k)
        .map(|q| u(xy_k[q], xx_k[q], yy_k[q], per_x, per_y))
        .collect();
    let (_, stderr) = mean_and_stderr(&blocks);
    Ok(Estimate {
        value: u(xy, xx, yy, n, m),
        stderr,
    })
}

/// Median of the squared distances between the first (at most [`MEDIAN_ROWS`]) rows of `y`,
/// pairs `i < j`.
pub fn median_squared_distance(y: &Features) -> Result<f64> {
    let n = y.len().min(MEDIAN_ROWS);
    if n < 2 {
        return Err(GpfnError::Invalid(
            "a median distance needs at least 2 rows".into(),
        ));
    }
    let head = Features::new(y.values()[..n * y.dim()].to_vec(), y.dim())?;
    let p = Points::new(&head, &head.mean());
    let mut all: Vec<f64> = for_each_block(&p, &p, |start, block| {
        let mut v = Vec::new();
        for r in 0..block.rows() {
            v.extend_from_slice(&block.row(r)[start + r + 1..]);
        }
        v
    })
    .into_iter()
    .flatten()
    .collect();
    let mid = all.len() / 2;
    let (_, median, _) = all.select_nth_unstable_by(mid, f64::total_cmp);
    Ok(*median)
}

/// `S_ε` on each of `k` pairs of disjoint blocks of `x` (samples) and `y` (reference rows),
/// all solved as one batch on `device`: their mean and `s/√K` (see the module's
/// documentation), with the block sizes.
pub fn sinkhorn_subsets(
    x: &Features,
    y: &Features,
    k: usize,
    epsilon: f64,
    device: &Device,
) -> Result<(Estimate, usize, usize)> {
    x.check_same_dim(y)?;
    let solver = Sinkhorn::with_epsilon(epsilon);
    solver.validate()?;
    let (n, m, d) = (x.len(), y.len(), x.dim());
    let k = k.clamp(1, n.min(m).max(1));
    let (per_x, per_y) = (n / k, m / k);
    if per_x == 0 || per_y == 0 {
        return Err(GpfnError::Invalid(format!(
            "the Sinkhorn divergence needs at least one row on each side, got {n} and {m}"
        )));
    }
    let cloud = |f: &Features, per: usize| {
        let v: Vec<f32> = f.values()[..k * per * d]
            .iter()
            .map(|&v| v as f32)
            .collect();
        Tensor::<3>::from_data(TensorData::new(v, [k, per, d]), device)
    };
    let s = solver.divergence(&cloud(x, per_x), &cloud(y, per_y), None, None)?;
    if !s.converged() {
        tracing::warn!(
            epsilon,
            "the data-space Sinkhorn divergence stopped before the solver's tolerance"
        );
    }
    let blocks: Vec<f64> = s.value.into_data().iter::<f32>().map(f64::from).collect();
    let (value, stderr) = mean_and_stderr(&blocks);
    Ok((Estimate { value, stderr }, per_x, per_y))
}

/// Both distances of generated samples against reference rows, in data space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSpaceDistances {
    /// Dimension of one row.
    pub dim: usize,
    /// Disjoint subsets the standard errors come from.
    pub subsets: usize,
    /// The energy distance (U-statistic on all rows).
    pub energy: Estimate,
    /// `S_ε`, the mean over the subsets.
    pub sinkhorn: Estimate,
    /// `ε` of `S_ε`, in squared data units.
    pub sinkhorn_epsilon: f64,
    /// Samples per subset in `S_ε`.
    pub sinkhorn_samples: usize,
    /// Reference rows per subset in `S_ε`.
    pub sinkhorn_reference: usize,
}

/// [`energy_distance`] and [`sinkhorn_subsets`] of `samples` against `reference` (both rows
/// of dimension `dim`), with `ε = epsilon` or by default [`DEFAULT_EPSILON_FRACTION`] of the
/// reference rows' [`median_squared_distance`].
pub fn data_space_distances(
    samples: &[f32],
    reference: &[f32],
    dim: usize,
    epsilon: Option<f64>,
    device: &Device,
) -> Result<DataSpaceDistances> {
    let x = Features::from_f32(samples, dim)?;
    let y = Features::from_f32(reference, dim)?;
    let k = subsets_for(x.len(), y.len());
    let epsilon = match epsilon {
        Some(e) => e,
        None => DEFAULT_EPSILON_FRACTION * median_squared_distance(&y)?,
    };
    let energy = energy_distance(&x, &y, k)?;
    let (sinkhorn, sinkhorn_samples, sinkhorn_reference) =
        sinkhorn_subsets(&x, &y, k, epsilon, device)?;
    Ok(DataSpaceDistances {
        dim,
        subsets: k,
        energy,
        sinkhorn,
        sinkhorn_epsilon: epsilon,
        sinkhorn_samples,
        sinkhorn_reference,
    })
}

/// One evaluation in data space: what was evaluated, how, and the two distances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSpaceReport {
    /// Run folder, as [`report_path`] writes it.
    pub run: String,
    /// Run name (the folder's name).
    pub name: String,
    /// Checkpoint folder of the weights, as [`report_path`] writes it.
    pub checkpoint: String,
    /// Divergence of the run.
    pub divergence: String,
    /// Sampler name.
    pub sampler: String,
    /// Network evaluations per sample actually made.
    pub nfe: f64,
    /// Samples generated.
    pub samples: usize,
    /// Reference rows.
    pub reference: usize,
    /// Which rows the reference is: the test split, or the run's held-out training rows.
    pub against: Against,
    /// Seed of the sampling noise.
    pub seed: u64,
    /// The distances.
    pub distances: DataSpaceDistances,
    /// Why there are no feature metrics (FID, precision/recall, …).
    pub note: String,
    /// Wall time of sampling, seconds.
    pub sampling_seconds: f64,
    /// Wall time of sampling and distances, seconds.
    pub total_seconds: f64,
}

impl DataSpaceReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// Writes the JSON atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        gpfn_io::atomic_write(path, self.to_json().as_bytes())
    }

    /// `eval/<tag>-data.json` inside `run_folder` (`eval/holdout/…` against the held-out
    /// rows), beside where a classifier's report would go.
    pub fn default_path(run_folder: &Path, tag: &str, against: Against) -> PathBuf {
        EvalReport::default_path(run_folder, &format!("{tag}-data"), against)
    }

    /// A readable table.
    pub fn table(&self) -> String {
        let d = &self.distances;
        let mut s = Heading {
            name: &self.name,
            divergence: &self.divergence,
            sampler: &self.sampler,
            nfe: self.nfe,
            samples: self.samples,
            reference: self.reference,
            against: self.against,
        }
        .line(&format!("rows · data space ({} dimensions)", d.dim));
        let rows = [
            ("energy distance", d.energy.show()),
            (
                "sinkhorn S_ε",
                format!(
                    "{}  (ε = {:.4}; {} samples vs {} rows per subset)",
                    d.sinkhorn.show(),
                    d.sinkhorn_epsilon,
                    d.sinkhorn_samples,
                    d.sinkhorn_reference
                ),
            ),
            (
                "standard errors",
                format!("s/√K over K = {} disjoint subsets", d.subsets),
            ),
            (
                "sampling",
                format!(
                    "{:.1} s ({:.1} s with distances)",
                    self.sampling_seconds, self.total_seconds
                ),
            ),
        ];
        write_rows(&mut s, rows);
        let _ = writeln!(s, "  {}", self.note);
        s
    }
}

/// The note a data-space report carries: FID and the other feature metrics need a classifier,
/// and none is at `classifier_dir`.
pub fn no_classifier_note(classifier_dir: &Path, run: &Path) -> String {
    format!(
        "FID, precision/recall, density/coverage and the class histogram need a feature \
         classifier, and there is none at {}: `gpfn eval classifier` trains one on a labelled \
         data set (then `gpfn eval` reports them too)",
        report_path(classifier_dir, run)
    )
}

/// What samples are compared with in data space, and how.
#[derive(Clone, Debug)]
pub struct DataSpaceComparison {
    /// The first `reference` rows (all if `None`) of the reference set.
    pub reference: Option<usize>,
    /// The test split or the run's held-out rows.
    pub against: Against,
    /// `ε` of `S_ε` (default: a fraction of the median squared distance).
    pub epsilon: Option<f64>,
    /// Recorded in the report (why no classifier was used).
    pub note: String,
}

/// Evaluates `run` with `sampler` in data space: draws the samples and compares them with the
/// rows `comparison` names, by the energy distance and the debiased Sinkhorn divergence.
pub fn evaluate_data_space(
    run: &TrainedRun,
    sampler: &dyn Sampler,
    options: &EvalOptions,
    comparison: DataSpaceComparison,
    progress: &mut dyn FnMut(usize),
) -> Result<(DataSpaceReport, Vec<f32>)> {
    let DataSpaceComparison {
        reference,
        against,
        epsilon,
        note,
    } = comparison;
    let rows = match against {
        Against::Test => run.config.data.load(Split::Test, run.config.seed)?,
        Against::Holdout => gpfn_run::holdout::held_out_rows(&run.config)?,
    };
    // A dynamically binarised table is compared as one drawn copy.
    let rows = rows.draw(run.config.seed, 0);
    let m = reference.unwrap_or(rows.len()).min(rows.len());
    let dim = rows.dim();
    let started = Instant::now();
    let (values, nfe) = run.draw_guided(
        sampler,
        options.samples,
        options.batch,
        options.seed,
        options.guidance.as_ref(),
        progress,
    )?;
    let sampling_seconds = started.elapsed().as_secs_f64();
    let distances =
        data_space_distances(&values, &rows.values[..m * dim], dim, epsilon, &run.device)?;
    let report = DataSpaceReport {
        run: report_path(run.folder.path(), run.folder.path()),
        name: run.name(),
        checkpoint: report_path(&run.checkpoint, run.folder.path()),
        divergence: run.divergence(),
        sampler: name_of(sampler),
        nfe,
        samples: options.samples,
        reference: m,
        against,
        seed: options.seed,
        distances,
        note,
        sampling_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    Ok((report, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpfn_core::rng::Rng;

    fn normals(n: usize, d: usize, shift: f64, seed: u64) -> Features {
        let mut rng = Rng::seed(seed);
        Features::new((0..n * d).map(|_| rng.normal() + shift).collect(), d).unwrap()
    }

    /// `E|Z|` for `Z ~ N(μ, s²)`: `s √(2/π) e^{−μ²/2s²} + μ (1 − 2Φ(−μ/s))`.
    fn mean_abs_normal(mu: f64, s: f64) -> f64 {
        let phi = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
        s * (2.0 / std::f64::consts::PI).sqrt() * (-mu * mu / (2.0 * s * s)).exp()
            + mu * (1.0 - 2.0 * phi(-mu / s))
    }

    /// 1-D: `X ~ N(δ, 1)`, `Y ~ N(0, 1)`. `X − Y ~ N(δ, 2)` and `X − X' ~ N(0, 2)`, so
    /// `E = 2 E|N(δ, 2)| − 2 E|N(0, 2)|`; at δ = 1 that is 0.5418. The estimate agrees within
    /// 4 of its standard errors (n = m = 2000), and the standard error is within a factor 2
    /// of the spread of independent repeats.
    #[test]
    fn the_energy_distance_of_two_gaussians_matches_the_closed_form() {
        let s = 2f64.sqrt();
        let delta = 1.0;
        let exact = 2.0 * mean_abs_normal(delta, s) - 2.0 * mean_abs_normal(0.0, s);
        assert!((exact - 0.5418).abs() < 1e-4, "{exact}");
        let mut repeats = Vec::new();
        for seed in 0..4 {
            let e = energy_distance(
                &normals(2000, 1, delta, 2 * seed),
                &normals(2000, 1, 0.0, 2 * seed + 1),
                10,
            )
            .unwrap();
            let se = e.stderr.unwrap();
            assert!((e.value - exact).abs() < 4.0 * se, "{e:?} vs {exact}");
            repeats.push((e.value, se));
        }
        let values: Vec<f64> = repeats.iter().map(|r| r.0).collect();
        let (_, spread) = mean_and_stderr(&values);
        let spread = spread.unwrap() * 2.0; // s of the repeats, not of their mean
        let se = repeats.iter().map(|r| r.1).sum::<f64>() / 4.0;
        assert!(
            se / spread < 3.0 && spread / se < 3.0,
            "se {se}, spread {spread}"
        );
    }

    /// Two samples of one law: the U-statistic is unbiased, so it lies within 4 standard
    /// errors of 0; a shift of 0.5 per coordinate in 8 dimensions stands more than 10 standard
    /// errors above it.
    #[test]
    fn the_energy_distance_of_one_law_is_zero_within_its_error() {
        let e = energy_distance(&normals(600, 8, 0.0, 1), &normals(500, 8, 0.0, 2), 10).unwrap();
        assert!(e.value.abs() < 4.0 * e.stderr.unwrap(), "{e:?}");
        let shifted =
            energy_distance(&normals(600, 8, 0.5, 3), &normals(500, 8, 0.0, 4), 10).unwrap();
        assert!(
            shifted.value > 10.0 * shifted.stderr.unwrap(),
            "{shifted:?}"
        );
        assert!(shifted.value > 20.0 * e.value.abs(), "{shifted:?} {e:?}");
    }

    /// Identical sets: the distance sums cancel exactly.
    #[test]
    fn the_energy_distance_of_a_set_with_itself_is_its_diagonal_correction() {
        let x = normals(50, 3, 0.0, 5);
        let e = energy_distance(&x, &x, 5).unwrap();
        // 2/n² Σ_{ij} − 2/(n(n−1)) Σ_{i≠j} = −2/(n²(n−1)) Σ_{i≠j}: small and negative.
        assert!(e.value < 0.0 && e.value > -0.1, "{e:?}");
    }

    /// A translated copy: `S_ε = ‖v‖²` for every ε (the potentials only shift), per subset.
    #[test]
    fn the_sinkhorn_subsets_of_a_translated_set_give_the_squared_shift_with_no_spread() {
        let y = normals(60, 2, 0.0, 7);
        let x = Features::new(
            y.values()
                .chunks(2)
                .flat_map(|r| [r[0] + 0.6, r[1] - 0.8])
                .collect(),
            2,
        )
        .unwrap();
        let (s, per_x, per_y) = sinkhorn_subsets(&x, &y, 6, 0.5, &Device::flex()).unwrap();
        assert_eq!((per_x, per_y), (10, 10));
        approx::assert_abs_diff_eq!(s.value, 1.0, epsilon = 2e-3);
        assert!(s.stderr.unwrap() < 2e-3, "{s:?}");
    }

    #[test]
    fn the_default_epsilon_is_a_fraction_of_the_median_squared_distance() {
        // Rows 0, 1, 2 on a line: squared distances 1, 4, 1; median 1.
        let y = Features::new(vec![0.0, 1.0, 2.0], 1).unwrap();
        assert_eq!(median_squared_distance(&y).unwrap(), 1.0);
        let d = data_space_distances(
            &[0.0, 1.0, 2.0, 3.0],
            &[0.0, 1.0, 2.0, 3.0],
            1,
            None,
            &Device::flex(),
        )
        .unwrap();
        // Pairs of {0, 1, 2, 3}: 1, 4, 9, 1, 4, 1 → median (upper) 4.
        assert_eq!(d.sinkhorn_epsilon, DEFAULT_EPSILON_FRACTION * 4.0);
        assert_eq!(d.subsets, 2);
        assert_eq!(subsets_for(1000, 5), 2);
        assert_eq!(subsets_for(1000, 1000), 10);
        assert_eq!(subsets_for(3, 1000), 1);
    }
}
