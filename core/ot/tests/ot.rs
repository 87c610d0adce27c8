//! Entropic optimal transport: marginals, convergence to exact OT as ε → 0, the debiased
//! divergence's symmetry and sign, stability at small ε, batching, and input errors.

use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::host::host_f64 as host;
use gpfn_core::rng::Rng;
use gpfn_ot::{
    GroundCost, Sinkhorn, assignment_cost, exact_pairing, feature_sinkhorn_divergence,
    min_cost_assignment,
};

fn cloud(rng: &mut Rng, b: usize, n: usize, d: usize, scale: f32, dev: &Device) -> Tensor<3> {
    let v: Vec<f32> = rng
        .normals(b * n * d)
        .into_iter()
        .map(|x| x * scale)
        .collect();
    Tensor::from_data(TensorData::new(v, [b, n, d]), dev)
}

/// Exact `OT_0` (squared Euclidean, uniform weights, n = m) of one problem: the optimal
/// assignment divided by n (Birkhoff–von Neumann; the solver is checked against brute force
/// over all permutations in its unit tests).
fn exact_ot(x: &Tensor<3>, y: &Tensor<3>) -> f64 {
    let n = x.dims()[1];
    let c = host(GroundCost::SquaredEuclidean.matrix(x, y));
    let sigma = min_cost_assignment(&c, n, n).unwrap();
    assignment_cost(&c, n, &sigma) / n as f64
}

#[test]
fn plan_has_the_prescribed_marginals() {
    let dev = Device::flex();
    let mut rng = Rng::seed(1);
    let (b, n, m, d) = (2, 20, 30, 3);
    let x = cloud(&mut rng, b, n, d, 1.0, &dev);
    let y = cloud(&mut rng, b, m, d, 1.0, &dev).add_scalar(0.5);
    let a_host: Vec<f32> = (0..b * n).map(|_| 0.1 + rng.uniform() as f32).collect();
    let b_host: Vec<f32> = (0..b * m).map(|_| 0.1 + rng.uniform() as f32).collect();
    let a = Tensor::<2>::from_data(TensorData::new(a_host.clone(), [b, n]), &dev);
    let bw = Tensor::<2>::from_data(TensorData::new(b_host.clone(), [b, m]), &dev);
    let solver = Sinkhorn {
        epsilon: 0.2,
        tolerance: 1e-4,
        max_iterations: 5000,
        ..Default::default()
    };
    let sol = solver.solve(&x, &y, Some(&a), Some(&bw)).unwrap();
    assert!(sol.converged, "error {}", sol.marginal_error);
    let plan = sol.plan();
    let rows = host(plan.clone().sum_dim(2));
    let cols = host(plan.sum_dim(1));
    for k in 0..b {
        let sa: f32 = a_host[k * n..(k + 1) * n].iter().sum();
        let sb: f32 = b_host[k * m..(k + 1) * m].iter().sum();
        let row_err: f64 = (0..n)
            .map(|i| (rows[k * n + i] - (a_host[k * n + i] / sa) as f64).abs())
            .sum();
        // The stopping rule: ‖P1 − a‖₁ ≤ tolerance (plus f32 rounding of the sums, 1e-6).
        assert!(row_err <= 1e-4 + 1e-6, "row marginal error {row_err}");
        // The reported error is the worst problem's, computed from the potentials.
        assert!(
            row_err <= sol.marginal_error + 1e-6,
            "{row_err} > {}",
            sol.marginal_error
        );
        let col_err: f64 = (0..m)
            .map(|j| (cols[k * m + j] - (b_host[k * m + j] / sb) as f64).abs())
            .sum();
        // The last update is the g-update, which makes Pᵀ1 = b exactly up to f32 rounding of
        // m sums of n terms (≈ m · n · 6e-8 · max b).
        assert!(col_err < 1e-5, "column marginal error {col_err}");
    }
}

#[test]
fn approaches_the_exact_transport_cost_as_epsilon_shrinks() {
    let dev = Device::flex();
    let mut rng = Rng::seed(2);
    let n = 8;
    let x = cloud(&mut rng, 1, n, 2, 1.0, &dev);
    let y = cloud(&mut rng, 1, n, 2, 1.0, &dev).add_scalar(0.3);
    let exact = exact_ot(&x, &y);
    let c_max = host(GroundCost::SquaredEuclidean.matrix(&x, &y))
        .into_iter()
        .fold(0.0, f64::max);
    let mut previous_gap = f64::INFINITY;
    for eps in [1.0, 0.1, 0.01] {
        let solver = Sinkhorn {
            epsilon: eps,
            tolerance: 1e-4,
            max_iterations: 5000,
            ..Default::default()
        };
        let sol = solver.solve(&x, &y, None, None).unwrap();
        assert!(sol.converged, "ε = {eps}: error {}", sol.marginal_error);
        let cost = host(sol.transport_cost())[0];
        let entropic = host(sol.entropic_cost())[0];
        // OT_0 ≤ ⟨P_ε, C⟩ ≤ OT_ε ≤ OT_0 + ε log n: P_ε is feasible and KL ≥ 0, and the exact
        // plan (a permutation) has KL(P‖a⊗b) = log n. Slack: a plan whose marginals are off by
        // the tolerance in ℓ1 can gain at most tolerance · max C, plus f32 rounding.
        let slack = 1e-4 * c_max + 1e-5;
        assert!(cost >= exact - slack, "ε = {eps}: {cost} < exact {exact}");
        assert!(
            cost <= entropic + slack,
            "ε = {eps}: {cost} > OT_ε {entropic}"
        );
        assert!(
            entropic <= exact + eps * (n as f64).ln() + slack,
            "ε = {eps}: OT_ε {entropic} above exact {exact} + ε log n"
        );
        let gap = cost - exact;
        assert!(gap < previous_gap, "ε = {eps}: gap {gap} did not shrink");
        previous_gap = gap;
    }
    // At ε = 0.01 the bound ε log n ≈ 0.02 is small against the cost.
    assert!(previous_gap < 0.021, "gap {previous_gap}");
}

#[test]
fn debiased_divergence_is_symmetric_and_non_negative() {
    let dev = Device::flex();
    let mut rng = Rng::seed(3);
    let x = cloud(&mut rng, 1, 16, 2, 1.0, &dev);
    let y = cloud(&mut rng, 1, 24, 2, 1.5, &dev).add_scalar(0.4);
    let solver = Sinkhorn {
        epsilon: 0.1,
        tolerance: 1e-5,
        ..Default::default()
    };
    let sxy = host(solver.divergence(&x, &y, None, None).unwrap().value)[0];
    let syx = host(solver.divergence(&y, &x, None, None).unwrap().value)[0];
    let sxx = host(solver.divergence(&x, &x, None, None).unwrap().value)[0];
    // Each OT_ε is ~1 and converged to 1e-5 in marginals; f32 sums of a few hundred terms
    // add ~1e-6: agreement to 1e-4 absolute.
    assert!((sxy - syx).abs() < 1e-4, "S(x,y) = {sxy}, S(y,x) = {syx}");
    assert!(sxy > 0.1, "distinct clouds must be far apart: {sxy}");
    assert!(sxx.abs() < 1e-4, "S(x,x) = {sxx}");
    // Non-negativity over many random pairs, including nearly equal ones.
    for k in 0..6 {
        let shift = 0.05 * k as f32;
        let z = x.clone().add_scalar(shift);
        let s = host(solver.divergence(&x, &z, None, None).unwrap().value)[0];
        assert!(s >= -1e-4, "S = {s} at shift {shift}");
        // Moving a cloud by v changes OT_ε(x, x + v) by exactly ‖v‖² (the cross term
        // vanishes for equal means), so S_ε = ‖v‖² = 2 shift² here.
        let expected = 2.0 * (shift as f64).powi(2);
        assert!((s - expected).abs() < 2e-4, "S = {s}, expected {expected}");
    }
}

#[test]
fn small_epsilon_on_large_inputs_stays_finite() {
    let dev = Device::flex();
    let mut rng = Rng::seed(4);
    let x = cloud(&mut rng, 1, 32, 2, 10.0, &dev);
    let y = cloud(&mut rng, 1, 32, 2, 10.0, &dev);
    let solver = Sinkhorn {
        epsilon: 1e-3,
        max_iterations: 300,
        ..Default::default()
    };
    let sol = solver.solve(&x, &y, None, None).unwrap();
    for v in host(sol.f.clone())
        .into_iter()
        .chain(host(sol.g.clone()))
        .chain(host(sol.plan()))
    {
        assert!(v.is_finite());
    }
    let cost = host(sol.transport_cost())[0];
    let exact = exact_ot(&x, &y);
    assert!(cost.is_finite() && sol.marginal_error.is_finite());
    // Near ε = 0 the plan is close to the optimal permutation: within a few per cent
    // of a cost of several hundred, even when f32 precision stops convergence.
    assert!((cost - exact).abs() < 0.05 * exact, "{cost} vs {exact}");
    let s = solver.divergence(&x, &y, None, None).unwrap();
    assert!(host(s.value)[0].is_finite());
}

#[test]
fn batched_problems_are_solved_independently() {
    let dev = Device::flex();
    let mut rng = Rng::seed(5);
    let x = cloud(&mut rng, 2, 10, 3, 1.0, &dev);
    let y = cloud(&mut rng, 2, 12, 3, 1.0, &dev);
    let solver = Sinkhorn {
        epsilon: 0.2,
        tolerance: 1e-5,
        ..Default::default()
    };
    let both = host(solver.solve(&x, &y, None, None).unwrap().entropic_cost());
    for (k, joint) in both.iter().enumerate() {
        let xs = x.clone().narrow(0, k, 1);
        let ys = y.clone().narrow(0, k, 1);
        let one = host(solver.solve(&xs, &ys, None, None).unwrap().entropic_cost())[0];
        // Same iterations on the same numbers, possibly a different iteration count (the
        // batch stops when its worst problem converges): 1e-4 of an O(1) cost.
        assert!((joint - one).abs() < 1e-4, "{joint} vs {one}");
    }
}

#[test]
fn barycentric_projection_recovers_a_translation() {
    let dev = Device::flex();
    // Well-separated points on a line, translated: the identity pairing is optimal and the
    // projection is x + v as ε → 0.
    let xs: Vec<f32> = (0..6).flat_map(|i| [i as f32 * 3.0, 0.0]).collect();
    let x = Tensor::<3>::from_data(TensorData::new(xs, [1, 6, 2]), &dev);
    let y = x.clone().add_scalar(0.5);
    let sol = Sinkhorn::with_epsilon(0.05)
        .solve(&x, &y, None, None)
        .unwrap();
    let t = host(sol.barycentric_projection(&y));
    let want = host(y);
    for (a, b) in t.iter().zip(&want) {
        // Neighbours are 9 cost units further than the partner: weights e^{−9/0.05} vanish.
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn exact_pairing_undoes_a_shuffle() {
    let dev = Device::flex();
    let mut rng = Rng::seed(6);
    let n = 12;
    let x = cloud(&mut rng, 1, n, 4, 3.0, &dev).reshape([n, 4]);
    let perm = rng.permutation(n);
    let idx = Tensor::<1, gpfn_core::burn::tensor::Int>::from_data(
        TensorData::new(perm.iter().map(|&p| p as i64).collect::<Vec<_>>(), [n]),
        &dev,
    );
    let y = x.clone().select(0, idx).add_scalar(0.01);
    let sigma = exact_pairing(&x, &y).unwrap();
    for (i, &j) in sigma.iter().enumerate() {
        assert_eq!(perm[j], i, "x_{i} paired with y_{j}");
    }
}

#[test]
fn feature_divergence_matches_the_tensor_one_and_rejects_ragged_rows() {
    let dev = Device::flex();
    let mut rng = Rng::seed(7);
    let x: Vec<Vec<f32>> = (0..10).map(|_| rng.normals(3)).collect();
    let y: Vec<Vec<f32>> = (0..14)
        .map(|_| rng.normals(3).into_iter().map(|v| v + 1.0).collect())
        .collect();
    let s = feature_sinkhorn_divergence(&x, &y, 0.1, &dev).unwrap();
    let flat =
        |r: &[Vec<f32>]| Tensor::<3>::from_data(TensorData::new(r.concat(), [1, r.len(), 3]), &dev);
    let t = Sinkhorn::with_epsilon(0.1)
        .divergence(&flat(&x), &flat(&y), None, None)
        .unwrap();
    assert_eq!(s, host(t.value)[0]);
    assert!(s > 1.0, "means differ by √3: {s}");
    let mut ragged = y.clone();
    ragged[2].push(0.0);
    let e = feature_sinkhorn_divergence(&x, &ragged, 0.1, &dev).unwrap_err();
    assert!(e.to_string().contains("row 2"), "{e}");
}

#[test]
fn bad_input_is_an_error() {
    let dev = Device::flex();
    let mut rng = Rng::seed(8);
    let x = cloud(&mut rng, 1, 4, 2, 1.0, &dev);
    let y3 = cloud(&mut rng, 1, 4, 3, 1.0, &dev);
    let s = Sinkhorn::default();
    assert!(
        s.solve(&x, &y3, None, None)
            .unwrap_err()
            .to_string()
            .contains("dimension")
    );
    let neg = Tensor::<2>::from_floats([[0.5, -0.1, 0.3, 0.3]], &dev);
    let e = s.solve(&x, &x, Some(&neg), None).unwrap_err();
    assert!(e.to_string().contains("non-negative"), "{e}");
    let e = Sinkhorn::with_epsilon(0.0)
        .solve(&x, &x, None, None)
        .unwrap_err();
    assert!(e.to_string().contains("epsilon"), "{e}");
}

#[test]
fn symmetric_problems_converge_in_a_few_tens_of_iterations() {
    // 200 points in 8-D at ε = 0.01: alternating Sinkhorn oscillates on OT_ε(a, a) and ran to
    // its cap; the averaged update meets the tolerance after ε-scaling's ~12 stages and a
    // few more (measured: 12–25 in float64).
    let dev = Device::flex();
    let mut rng = Rng::seed(11);
    let x = cloud(&mut rng, 1, 200, 8, 0.3, &dev);
    let y = cloud(&mut rng, 1, 200, 8, 0.3, &dev).add_scalar(0.1);
    let solver = Sinkhorn {
        epsilon: 0.01,
        tolerance: 1e-4,
        max_iterations: 10_000,
        ..Default::default()
    };
    let s = solver.divergence(&x, &y, None, None).unwrap();
    for sym in [&s.xx, &s.yy] {
        assert!(
            sym.converged && sym.iterations <= 300,
            "{} iterations, error {}",
            sym.iterations,
            sym.marginal_error
        );
    }
    // The symmetric solution against the alternating solver run on (x, x) to the same
    // tolerance: the same OT_ε(a, a) up to f32 rounding of potentials of O(max C) (1e-5 of 4).
    let alt = solver.solve(&x, &x, None, None).unwrap();
    assert!(alt.converged);
    approx::assert_abs_diff_eq!(
        host(s.xx.entropic_cost())[0],
        host(alt.entropic_cost())[0],
        epsilon = 1e-4
    );
}

#[test]
fn a_capped_divergence_reports_every_term() {
    let dev = Device::flex();
    let mut rng = Rng::seed(12);
    let x = cloud(&mut rng, 1, 64, 8, 1.0, &dev);
    let y = cloud(&mut rng, 1, 48, 8, 1.0, &dev);
    let solver = Sinkhorn {
        epsilon: 0.01,
        tolerance: 1e-6,
        max_iterations: 5,
        ..Default::default()
    };
    let s = solver.divergence(&x, &y, None, None).unwrap();
    assert!(!s.converged());
    assert!(!s.xy.converged && !s.xx.converged && !s.yy.converged);
    assert!(s.xx.iterations <= 5 && s.xy.iterations <= 5);
}
