//! The float64 solver behind `gpfn math sinkhorn`: every problem of the debiased divergence
//! solved to the tolerance, the symmetric ones by the averaged update in a few tens of
//! iterations, the cross one by Sinkhorn then Newton, and a capped solve reported as such.

use gpfn_core::rng::Rng;
use gpfn_ot::SinkhornF64;

/// `n` points uniform in the unit cube of dimension `d`.
fn cube(rng: &mut Rng, n: usize, d: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|_| (0..d).map(|_| rng.uniform()).collect())
        .collect()
}

fn squared_distance(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// The primal objective `⟨P, C⟩ + ε KL(P ‖ a⊗b)` of a plan.
fn primal(plan: &[f64], x: &[Vec<f64>], y: &[Vec<f64>], a: &[f64], b: &[f64], eps: f64) -> f64 {
    let m = y.len();
    plan.iter()
        .enumerate()
        .filter(|(_, p)| **p > 0.0)
        .map(|(k, &p)| {
            let (i, j) = (k / m, k % m);
            p * squared_distance(&x[i], &y[j]) + eps * p * (p / (a[i] * b[j])).ln()
        })
        .sum()
}

#[test]
fn every_problem_converges_on_clouds_of_200_points_at_epsilon_0_01() {
    let mut rng = Rng::seed(7);
    let (x, y) = (cube(&mut rng, 200, 8), cube(&mut rng, 200, 8));
    let w = vec![1.0 / 200.0; 200];
    let solver = SinkhornF64::with_epsilon(0.01);
    let d = solver.divergence(&x, &y, &w, &w);
    assert!(d.converged(), "{:?} {:?} {:?}", d.xy.report, d.xx, d.yy);
    // The averaged update: measured 12–25 iterations (ε-scaling's ~9 included); plain
    // alternating Sinkhorn ran to its 100 000-iteration cap on these problems.
    for sym in [&d.xx, &d.yy] {
        assert!(sym.iterations <= 300, "{sym:?}");
        assert!(sym.marginal_error <= 1e-9, "{sym:?}");
    }
    // Sinkhorn alone misses 10⁻⁶ after 20 000 iterations here; with Newton the cross problem
    // reaches 10⁻⁹ within the default cap.
    let r = &d.xy.report;
    assert!(r.marginal_error <= 1e-9 && r.newton_steps >= 1, "{r:?}");
    assert!(
        r.iterations + r.newton_steps < SinkhornF64::MAX_ITERATIONS,
        "{r:?}"
    );
    // Strong duality at the solution: the dual value equals the primal objective of the
    // returned plan. The gap is first order in the marginal error (≤ 10⁻⁹ times potentials of
    // O(max C) = O(8)), so 10⁻⁸ absolute on a value of O(0.1).
    let p = primal(&d.xy.plan, &x, &y, &w, &w, 0.01);
    approx::assert_abs_diff_eq!(p, r.entropic_cost, epsilon = 1e-8);
    // S_ε of two samples of one law is small and positive, far below OT_ε itself.
    assert!(d.value > 0.0 && d.value < r.entropic_cost, "{}", d.value);
}

#[test]
fn the_symmetric_value_is_the_primal_objective_of_its_plan() {
    // OT_ε(a, a) from the averaged update against the primal objective of the plan
    // P_ij = a_i a_j exp((f_i + f_j − C_ij)/ε) that the cross solver finds for (x, x).
    let mut rng = Rng::seed(8);
    let x = cube(&mut rng, 60, 3);
    let w = vec![1.0 / 60.0; 60];
    let solver = SinkhornF64::with_epsilon(0.05);
    let sym = solver.solve_symmetric(&x, &w);
    let cross = solver.solve(&x, &x, &w, &w);
    assert!(
        sym.converged && cross.report.converged,
        "{sym:?} {:?}",
        cross.report
    );
    let p = primal(&cross.plan, &x, &x, &w, &w, 0.05);
    approx::assert_abs_diff_eq!(sym.entropic_cost, p, epsilon = 1e-9);
    approx::assert_abs_diff_eq!(
        sym.entropic_cost,
        cross.report.entropic_cost,
        epsilon = 1e-9
    );
}

#[test]
fn a_capped_solve_reports_that_it_did_not_converge() {
    let mut rng = Rng::seed(9);
    let (x, y) = (cube(&mut rng, 50, 8), cube(&mut rng, 40, 8));
    let (a, b) = (vec![1.0 / 50.0; 50], vec![1.0 / 40.0; 40]);
    let solver = SinkhornF64 {
        epsilon: 0.01,
        tolerance: 1e-9,
        max_iterations: 6,
    };
    let d = solver.divergence(&x, &y, &a, &b);
    assert!(!d.converged());
    assert!(!d.xy.report.converged && d.xy.report.marginal_error > 1e-9);
    assert!(d.xy.report.iterations + d.xy.report.newton_steps <= 6);
    // Each symmetric problem is reported on its own: with a cap they miss too.
    assert!(!d.xx.converged && d.xx.iterations == 6, "{:?}", d.xx);
}
