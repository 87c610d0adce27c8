//! `gpfn math sinkhorn` against an independent float64 solver.

use gpfn_core::burn::tensor::Device;
use gpfn_core::rng::Rng;

/// An independent float64 solver: Sinkhorn–Knopp matrix scaling `u ← a / (K v)`,
/// `v ← b / (Kᵀ u)` on the kernel `K = exp(−C/ε)` (no log domain, no ε-scaling; exact in f64
/// while `max C / ε < 700`), run until `‖P1 − a‖₁ < 1e-9` (four orders below the 1e-5 compared). Returns `(plan, ⟨P, C⟩, OT_ε)` with
/// `OT_ε = ⟨a, f⟩ + ⟨b, g⟩` at the potentials `f = ε log(u/a)`, `g = ε log(v/b)` (then
/// `P = diag(u) K diag(v) = a_i b_j exp((f_i + g_j − C_ij)/ε)`).
fn sinkhorn_f64(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    a: &[f64],
    b: &[f64],
    eps: f64,
) -> (Vec<f64>, f64, f64) {
    let (n, m) = (x.len(), y.len());
    let c: Vec<f64> = x
        .iter()
        .flat_map(|xi| {
            y.iter()
                .map(move |yj| xi.iter().zip(yj).map(|(p, q)| (p - q) * (p - q)).sum())
        })
        .collect();
    assert!(
        c.iter().all(|c| c / eps < 700.0),
        "the kernel would underflow"
    );
    let k: Vec<f64> = c.iter().map(|c| (-c / eps).exp()).collect();
    let (mut u, mut v) = (vec![1.0; n], vec![1.0; m]);
    for round in 0.. {
        for i in 0..n {
            u[i] = a[i] / (0..m).map(|j| k[i * m + j] * v[j]).sum::<f64>();
        }
        for j in 0..m {
            v[j] = b[j] / (0..n).map(|i| k[i * m + j] * u[i]).sum::<f64>();
        }
        let err: f64 = (0..n)
            .map(|i| (u[i] * (0..m).map(|j| k[i * m + j] * v[j]).sum::<f64>() - a[i]).abs())
            .sum();
        if err < 1e-9 {
            break;
        }
        assert!(round < 1_000_000, "the reference did not converge: {err}");
    }
    let plan: Vec<f64> = (0..n * m).map(|ij| u[ij / m] * k[ij] * v[ij % m]).collect();
    let cost = plan.iter().zip(&c).map(|(p, c)| p * c).sum();
    let dual = eps
        * (a.iter().zip(&u).map(|(a, u)| a * (u / a).ln()).sum::<f64>()
            + b.iter().zip(&v).map(|(b, v)| b * (v / b).ln()).sum::<f64>());
    (plan, cost, dual)
}

/// `gpfn math sinkhorn` with its default tolerance agrees with an independent float64 solver
/// to 1e-5 relative in cost, plan and debiased divergence, on problems up to 200 × 200 (the
/// clouds are shifted apart so that the divergence is not a difference of near-equal terms).
#[test]
fn math_sinkhorn_defaults_agree_with_a_float64_solver() {
    let dev = Device::flex();
    let mut rng = Rng::seed(21);
    for (n, m, eps, weighted) in [
        (5, 7, 0.01, false),
        (60, 40, 0.05, true),
        (200, 200, 0.01, false),
        (200, 150, 0.1, true),
    ] {
        let point = |rng: &mut Rng, shift: f64| vec![rng.uniform() + shift, rng.uniform()];
        let x: Vec<Vec<f64>> = (0..n).map(|_| point(&mut rng, 0.0)).collect();
        let y: Vec<Vec<f64>> = (0..m).map(|_| point(&mut rng, 0.5)).collect();
        let weights = |rng: &mut Rng, k: usize| -> Vec<f64> {
            let w: Vec<f64> = (0..k)
                .map(|_| if weighted { 0.2 + rng.uniform() } else { 1.0 })
                .collect();
            let s: f64 = w.iter().sum();
            w.iter().map(|v| v / s).collect()
        };
        let (a, b) = (weights(&mut rng, n), weights(&mut rng, m));
        let request = serde_json::json!({"x": x, "y": y, "a": a, "b": b, "epsilon": eps});
        let out = gpfn_cli::math_json::sinkhorn(&request.to_string(), &dev).unwrap();

        let (plan, cost, ot_xy) = sinkhorn_f64(&x, &y, &a, &b, eps);
        let (_, _, ot_xx) = sinkhorn_f64(&x, &x, &a, &a, eps);
        let (_, _, ot_yy) = sinkhorn_f64(&y, &y, &b, &b, eps);
        let divergence = ot_xy - 0.5 * (ot_xx + ot_yy);
        let rel = |got: f64, want: f64| (got - want).abs() / want.abs();
        let case = format!("{n}×{m}, ε = {eps}");
        assert!(out["converged"].as_bool().unwrap(), "{case}: {out}");
        assert!(
            rel(out["cost"].as_f64().unwrap(), cost) < 1e-5,
            "{case}: cost {} vs {cost}",
            out["cost"]
        );
        assert!(
            rel(out["entropic_cost"].as_f64().unwrap(), ot_xy) < 1e-5,
            "{case}: OT_ε {} vs {ot_xy}",
            out["entropic_cost"]
        );
        assert!(
            rel(out["divergence"].as_f64().unwrap(), divergence) < 1e-5,
            "{case}: S_ε {} vs {divergence}",
            out["divergence"]
        );
        let got: Vec<f64> = out["plan"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        let l1: f64 = got.iter().zip(&plan).map(|(p, q)| (p - q).abs()).sum();
        assert!(
            l1 < 1e-5,
            "{case}: ‖P − P_f64‖₁ = {l1} (the plan has mass 1)"
        );
    }
}
