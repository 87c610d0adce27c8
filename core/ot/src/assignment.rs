//! Exact optimal assignment (the Hungarian method with potentials, O(n² m)).
//!
//! For uniform weights on `n` points each, the transport polytope is `1/n` times the
//! Birkhoff polytope of doubly stochastic matrices, whose vertices are permutation matrices
//! (Birkhoff–von Neumann); a linear objective attains its minimum at a vertex, so exact
//! `OT_0 = (1/n) min_σ Σ_i C_{iσ(i)}`: an assignment problem.

use gpfn_core::{GpfnError, Result};

/// The assignment `σ` (row `i` ↦ column `σ(i)`, all distinct) minimising `Σ_i C_{iσ(i)}`,
/// for a row-major cost matrix of `n ≤ m` rows and `m` columns.
pub fn min_cost_assignment(cost: &[f64], n: usize, m: usize) -> Result<Vec<usize>> {
    if cost.len() != n * m {
        return Err(GpfnError::Shape(format!(
            "cost matrix has {} entries, not {n} × {m}",
            cost.len()
        )));
    }
    if n > m {
        return Err(GpfnError::Shape(format!(
            "assignment needs at most as many rows as columns, got {n} × {m}"
        )));
    }
    if cost.iter().any(|c| !c.is_finite()) {
        return Err(GpfnError::Invalid("assignment costs must be finite".into()));
    }
    let c = |i: usize, j: usize| cost[(i - 1) * m + (j - 1)];
    // 1-based: row 0 and column 0 are the virtual start of each augmenting path.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: row assigned to column j
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = c(i0, j) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut sigma = vec![0usize; n];
    for j in 1..=m {
        if p[j] != 0 {
            sigma[p[j] - 1] = j - 1;
        }
    }
    Ok(sigma)
}

/// `Σ_i C_{iσ(i)}` for a row-major `n × m` cost matrix.
pub fn assignment_cost(cost: &[f64], m: usize, sigma: &[usize]) -> f64 {
    sigma
        .iter()
        .enumerate()
        .map(|(i, &j)| cost[i * m + j])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpfn_core::rng::Rng;

    fn brute_force(cost: &[f64], n: usize) -> f64 {
        fn go(cost: &[f64], n: usize, row: usize, used: &mut Vec<bool>, acc: f64) -> f64 {
            if row == n {
                return acc;
            }
            let mut best = f64::INFINITY;
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    best = best.min(go(cost, n, row + 1, used, acc + cost[row * n + j]));
                    used[j] = false;
                }
            }
            best
        }
        go(cost, n, 0, &mut vec![false; n], 0.0)
    }

    #[test]
    fn matches_brute_force_over_all_permutations() {
        let mut rng = Rng::seed(3);
        for n in 1..=7 {
            for _ in 0..5 {
                let cost: Vec<f64> = (0..n * n).map(|_| rng.normal() * 3.0).collect();
                let sigma = min_cost_assignment(&cost, n, n).unwrap();
                let mut seen = sigma.clone();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "not a permutation");
                // Both sum the same n costs of O(3): equal up to a few f64 ulps.
                let exact = brute_force(&cost, n);
                assert!((assignment_cost(&cost, n, &sigma) - exact).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(min_cost_assignment(&[1.0; 6], 3, 2).is_err());
        assert!(min_cost_assignment(&[1.0; 5], 2, 3).is_err());
        assert!(min_cost_assignment(&[f64::NAN; 4], 2, 2).is_err());
    }
}
