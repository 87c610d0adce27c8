//! Pairwise distances and k-nearest-neighbour radii, the building blocks of precision/recall,
//! density/coverage and diversity.
//!
//! Squared distances come in row blocks `D_ij = ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j` (one
//! `matrixmultiply::dgemm` product per block, clamped at 0), after both sets are centred on the same point so that
//! the cancellation in that formula stays at f64 rounding of the spread, not of the norms.
//! Blocks run in parallel; nothing of size `n × m` is ever held at once.

use super::Features;
use gpfn_core::{GpfnError, Result};
use rayon::prelude::*;

/// Rows per block of the distance matrix (`BLOCK × m` f64 values in memory per thread).
const BLOCK: usize = 256;

/// A point set prepared for distance blocks: centred rows (row-major) and squared norms.
pub(crate) struct Points {
    rows: Vec<f64>,
    norms: Vec<f64>,
    dim: usize,
}

impl Points {
    /// `features − center`.
    pub(crate) fn new(features: &Features, center: &[f64]) -> Points {
        let dim = features.dim();
        let rows: Vec<f64> = features
            .values()
            .chunks_exact(dim)
            .flat_map(|r| r.iter().zip(center).map(|(v, c)| v - c))
            .collect();
        let norms = rows
            .chunks_exact(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect();
        Points { rows, norms, dim }
    }

    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.norms.len()
    }
}

/// Squared distances of a block of rows of `a` to all of `b`, row-major.
pub(crate) struct Block {
    cols: usize,
    values: Vec<f64>,
}

impl Block {
    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.values.len() / self.cols.max(1)
    }

    /// Row `r`: `‖a_{first+r} − b_j‖²` for every `j`.
    pub(crate) fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.cols..(r + 1) * self.cols]
    }
}

/// `‖a_i − b_j‖² = ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j` (clamped at 0) for rows `start..start+rows`
/// of `a`; the products come from one `matrixmultiply::dgemm` call.
fn block(a: &Points, b: &Points, start: usize, rows: usize) -> Block {
    let (m, d) = (b.len(), a.dim);
    let mut values = vec![0.0; rows * m];
    if rows > 0 && m > 0 {
        let a_block = &a.rows[start * d..(start + rows) * d];
        // SAFETY: `a_block` is rows × d row-major (strides d, 1); `b.rows` read as bᵀ is
        // d × m (strides 1, d) within its m·d values; `values` is rows × m row-major
        // (strides m, 1). All three are live, correctly sized and `values` is not aliased.
        unsafe {
            matrixmultiply::dgemm(
                rows,
                d,
                m,
                -2.0,
                a_block.as_ptr(),
                d as isize,
                1,
                b.rows.as_ptr(),
                1,
                d as isize,
                0.0,
                values.as_mut_ptr(),
                m as isize,
                1,
            );
        }
    }
    for (r, row) in values.chunks_exact_mut(m.max(1)).enumerate() {
        let na = a.norms[start + r];
        for (v, nb) in row.iter_mut().zip(&b.norms) {
            *v = (*v + na + nb).max(0.0);
        }
    }
    Block { cols: m, values }
}

/// Calls `visit(first_row, block)` for every row block of `a` against all of `b`, in
/// parallel, and collects the results in block order.
pub(crate) fn for_each_block<T: Send>(
    a: &Points,
    b: &Points,
    visit: impl Fn(usize, &Block) -> T + Sync,
) -> Vec<T> {
    let starts: Vec<usize> = (0..a.len()).step_by(BLOCK).collect();
    starts
        .into_par_iter()
        .map(|start| visit(start, &block(a, b, start, BLOCK.min(a.len() - start))))
        .collect()
}

/// Squared distance from every point to its `k`-th nearest *other* point of the same set,
/// for each `k` in `ks` (`radii[q][i]` for `ks[q]`); also returns the sum of all pairwise
/// distances `Σ_{i≠j} ‖f_i − f_j‖` (for diversity).
pub(crate) fn kth_radii_and_distance_sum(
    set: &Features,
    ks: &[usize],
) -> Result<(Vec<Vec<f64>>, f64)> {
    let n = set.len();
    if let Some(&k) = ks.iter().max()
        && k >= n
    {
        return Err(GpfnError::Invalid(format!(
            "the {k}-th nearest neighbour needs more than {k} feature vectors, got {n}"
        )));
    }
    if ks.contains(&0) {
        return Err(GpfnError::Invalid("k must be at least 1".into()));
    }
    let points = Points::new(set, &set.mean());
    let blocks = for_each_block(&points, &points, |start, d| {
        let mut radii = vec![Vec::with_capacity(d.rows()); ks.len()];
        let mut sum = 0.0;
        let mut row = Vec::with_capacity(n);
        for r in 0..d.rows() {
            row.clear();
            for (j, &dist) in d.row(r).iter().enumerate() {
                if j != start + r {
                    row.push(dist);
                    sum += dist.sqrt();
                }
            }
            for (q, &k) in ks.iter().enumerate() {
                let (_, kth, _) = row.select_nth_unstable_by(k - 1, f64::total_cmp);
                radii[q].push(*kth);
            }
        }
        (radii, sum)
    });
    let mut radii = vec![Vec::with_capacity(n); ks.len()];
    let mut sum = 0.0;
    for (r, s) in blocks {
        for (all, part) in radii.iter_mut().zip(r) {
            all.extend(part);
        }
        sum += s;
    }
    Ok((radii, sum))
}

/// Membership of points in balls `B(c_i, r_i) = {x : ‖x − c_i‖ ≤ r_i}`.
pub(crate) struct BallCounts {
    /// For each point, the number of balls that contain it.
    pub per_point: Vec<usize>,
    /// For each ball, the number of points it contains.
    pub per_ball: Vec<usize>,
}

/// Counts which of `points` lie in which ball around `centres`, for each list of squared
/// radii in `radii_sq` (`radii_sq[l][i]` for centre `i`; both sets centred on `center`
/// first). All lists share one pass over the distances; the result has one [`BallCounts`]
/// per list.
pub(crate) fn ball_counts(
    centres: &Features,
    radii_sq: &[&[f64]],
    points: &Features,
    center: &[f64],
) -> Vec<BallCounts> {
    let c = Points::new(centres, center);
    let p = Points::new(points, center);
    let empty = |rows: usize| BallCounts {
        per_point: Vec::with_capacity(rows),
        per_ball: vec![0usize; c.len()],
    };
    let blocks = for_each_block(&p, &c, |_, d| {
        let mut counts: Vec<BallCounts> = radii_sq.iter().map(|_| empty(d.rows())).collect();
        for r in 0..d.rows() {
            for (radii, counts) in radii_sq.iter().zip(&mut counts) {
                let mut inside = 0;
                for (i, (&dist, &radius)) in d.row(r).iter().zip(*radii).enumerate() {
                    if dist <= radius {
                        inside += 1;
                        counts.per_ball[i] += 1;
                    }
                }
                counts.per_point.push(inside);
            }
        }
        counts
    });
    let mut total: Vec<BallCounts> = radii_sq.iter().map(|_| empty(p.len())).collect();
    for block in blocks {
        for (t, b) in total.iter_mut().zip(block) {
            t.per_point.extend(b.per_point);
            for (a, b) in t.per_ball.iter_mut().zip(b.per_ball) {
                *a += b;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radii_and_sums_match_a_direct_computation() {
        // Five points on a line at 0, 1, 3, 7, 15 (plus a constant second coordinate).
        let xs = [0.0, 1.0, 3.0, 7.0, 15.0];
        let f = Features::new(xs.iter().flat_map(|&x| [x, 2.0]).collect(), 2).unwrap();
        let (radii, sum) = kth_radii_and_distance_sum(&f, &[1, 3]).unwrap();
        let mut expected_sum = 0.0;
        for (i, a) in xs.iter().enumerate() {
            let mut d: Vec<f64> = xs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| (a - b).abs())
                .collect();
            expected_sum += d.iter().sum::<f64>();
            d.sort_by(f64::total_cmp);
            // Integers below 2^26: every step of ‖a‖² + ‖b‖² − 2ab is exact in f64 up to
            // the centring by the mean 5.2; 1e-9 covers that rounding.
            assert!((radii[0][i] - d[0] * d[0]).abs() < 1e-9);
            assert!((radii[1][i] - d[2] * d[2]).abs() < 1e-9);
        }
        assert!((sum - expected_sum).abs() < 1e-9);
        assert!(kth_radii_and_distance_sum(&f, &[5]).is_err());

        // Balls of squared radius 1 around 0 and 7 (one coordinate; the other is constant).
        let centres = Features::new(vec![0.0, 2.0, 7.0, 2.0], 2).unwrap();
        let points = Features::new(vec![0.5, 2.0, 1.0, 2.0, 1.5, 2.0, 6.0, 2.0], 2).unwrap();
        let c = ball_counts(&centres, &[&[1.0, 1.0]], &points, &[3.0, 2.0]).remove(0);
        // 0.5 and 1.0 (on the boundary) are in the first ball, 6.0 in the second, 1.5 in none.
        assert_eq!(c.per_point, vec![1, 1, 0, 1]);
        assert_eq!(c.per_ball, vec![2, 1]);
        assert!(kth_radii_and_distance_sum(&f, &[0]).is_err());
    }
}
