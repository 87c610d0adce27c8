//! The closed-form per-coordinate derivatives (`src/derivatives.rs`) against autodiff: the
//! gradient against burn's gradient of the divergence's value, the Hessian against burn's
//! gradient of the closed-form gradient; and the solver's step with them against its step
//! by autodiff alone.

use approx::assert_relative_eq;
use gpfn_core::belief::DiagGaussian;
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::divergence::Divergence;
use gpfn_core::host::host_f64 as host;
use gpfn_core::proximal_solver::{SolverOptions, solve, solve_prox};
use gpfn_fdiv::{AlphaDivergence, Chi2, ForwardKl, Hellinger, JensenShannon, ReverseKl};

fn column(v: &[f64], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n, 1]), device)
}

/// `(m, s, m_q, s_q)` per coordinate: means in `[−1.5, 1]`, stds in `[0.25, 1.1]`, every
/// combination inside the domain of every divergence tested, with a margin: χ² and α = 1.5
/// need `s² < 2 s_q²` resp. `3 s_q²`, α = −½ needs `s² > s_q²/3`.
fn grid() -> Vec<[f64; 4]> {
    let mut cases = Vec::new();
    for &m in &[-1.5, 0.0, 0.4, 1.0] {
        for &s in &[0.25, 0.8, 1.1] {
            for &mq in &[-0.5, 0.3] {
                for &sq in &[0.3, 1.0] {
                    let (v, vq) = (s * s, sq * sq);
                    if v < 1.5 * vq && 2.0 * v > vq {
                        cases.push([m, s, mq, sq]);
                    }
                }
            }
        }
    }
    cases
}

fn divergences() -> Vec<Box<dyn Divergence>> {
    let mut divs: Vec<Box<dyn Divergence>> = vec![
        Box::new(ForwardKl::default()),
        Box::new(ReverseKl::default()),
        Box::new(Chi2::default()),
        Box::new(Hellinger::default()),
    ];
    for alpha in [0.0, 0.3, 0.5, 1.0, 1.5, -0.5] {
        divs.push(Box::new(AlphaDivergence {
            alpha,
            ..AlphaDivergence::default()
        }));
    }
    divs
}

/// f32 rounding: each derivative is a few tens of roundings (relative 6·10⁻⁸ each) of terms
/// of size at most ~10² on this grid (`1/s²` with `s = 0.2` is 25), so both sides carry
/// absolute errors of a few 10⁻⁵ at most; `10⁻⁴ (1 + |x|)` separates rounding from a wrong
/// formula (a missing term or factor changes a derivative by O(1) of its size).
fn close(name: &str, what: &str, a: &[f64], b: &[f64]) {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "{name} {what} at case {k}: closed form {x}, autodiff {y}"
        );
    }
}

#[test]
fn closed_form_derivatives_match_autodiff() {
    let device = Device::flex();
    let cases = grid();
    let col = |i: usize| column(&cases.iter().map(|c| c[i]).collect::<Vec<_>>(), &device);
    let q = DiagGaussian {
        mean: col(2),
        std: col(3),
    };
    for div in divergences() {
        let name = format!("{div:?}");
        let tracked = || {
            let m = col(0).autodiff().require_grad();
            let u = col(1).log().autodiff().require_grad();
            let p = DiagGaussian {
                mean: m.clone(),
                std: u.clone().exp(),
            };
            (m, u, p)
        };
        // Gradient: autodiff of the value.
        let (m, u, p) = tracked();
        let grads = div.maths().value(&p, &q).sum().backward();
        let (gm, gu) = (host(m.grad(&grads).unwrap()), host(u.grad(&grads).unwrap()));
        // Burn keeps no graph after a backward pass: each one gets a fresh forward.
        let (_, _, p) = tracked();
        let d = div
            .maths()
            .coordinate_derivatives(&p, &q)
            .unwrap_or_else(|| panic!("{name} has closed-form derivatives"));
        close(&name, "∂m", &host(d.dm.clone().inner()), &gm);
        close(&name, "∂u", &host(d.du.clone().inner()), &gu);
        // Hessian: autodiff of the closed-form gradient, row by row of the 2×2 matrix.
        // A derivative that does not depend on `m` or `u` (KL's ∂m in u) has no gradient.
        let grad = |x: &Tensor<2>, grads| {
            host(
                x.grad(grads)
                    .unwrap_or_else(|| x.clone().inner().zeros_like()),
            )
        };
        let (m, u, p) = tracked();
        let d = div.maths().coordinate_derivatives(&p, &q).unwrap();
        let grads = d.dm.sum().backward();
        close(&name, "∂mm", &host(d.dmm.inner()), &grad(&m, &grads));
        close(
            &name,
            "∂mu (from ∂m)",
            &host(d.dmu.clone().inner()),
            &grad(&u, &grads),
        );
        let (m, u, p) = tracked();
        let d = div.maths().coordinate_derivatives(&p, &q).unwrap();
        let grads = d.du.sum().backward();
        close(
            &name,
            "∂mu (from ∂u)",
            &host(d.dmu.inner()),
            &grad(&m, &grads),
        );
        close(&name, "∂uu", &host(d.duu.inner()), &grad(&u, &grads));
    }
}

#[test]
fn divergences_without_closed_forms_say_so() {
    let device = Device::flex();
    let p = DiagGaussian {
        mean: column(&[0.0], &device),
        std: column(&[1.0], &device),
    };
    let js: &dyn Divergence = &JensenShannon::default();
    let tv: &dyn Divergence = &gpfn_fdiv::TotalVariation::default();
    assert!(js.maths().coordinate_derivatives(&p, &p).is_none());
    assert!(tv.maths().coordinate_derivatives(&p, &p).is_none());
}

#[test]
fn the_step_with_closed_form_derivatives_is_the_step_by_autodiff() {
    let device = Device::flex();
    let scalar = |v: f64| Tensor::<2>::from_data(TensorData::new(vec![v as f32], [1, 1]), &device);
    let options = SolverOptions::default();
    let (mut solved, mut total) = (0, 0);
    // Newton iterations with the closed-form and the finite-difference Hessian.
    let mut iterations = (0, 0);
    for div in divergences() {
        // Previous beliefs and observations over a grid, the accuracies spanning BFN's
        // (σ₁ = 0.001, n = 20: 0.03 to ~10⁵). One solve per case: a report covers a batch.
        for &(mq, sq) in &[(-1.0, 0.05), (0.2, 0.4), (-1.0, 1.0)] {
            for &y in &[-1.3, 0.0, 0.9] {
                for alpha in [0.03, 1.0, 40.0, 2000.0] {
                    let prev = DiagGaussian {
                        mean: scalar(mq),
                        std: scalar(sq),
                    };
                    let y = scalar(y);
                    let (fast, r_fast) =
                        solve_prox(div.maths(), &prev, &y, alpha, &options).unwrap();
                    let (slow, r_slow) =
                        solve(&|p, q| div.maths().value(p, q), &prev, &y, alpha, &options).unwrap();
                    let what = format!(
                        "{div:?}, q = N({mq}, {sq}²), α = {alpha}: {r_fast:?} / {r_slow:?}"
                    );
                    total += 1;
                    if r_slow.collapsed > 0 {
                        // A bounded divergence (Hellinger) far from a narrow q has no minimiser:
                        // the step collapses to the point mass at y (docs/maths.md). The
                        // closed-form path must see the same collapse.
                        assert_eq!(r_fast.collapsed, 1, "{what}");
                        let (s_fast, s_slow) = (host(fast.std)[0], host(slow.std)[0]);
                        assert!(s_fast < 1e-6 * sq && s_slow < 1e-6 * sq, "{what}");
                        continue;
                    }
                    solved += 1;
                    assert!(r_fast.converged, "{what}");
                    iterations.0 += r_fast.iterations;
                    iterations.1 += r_slow.iterations;
                    // Both stop once the Newton step is below 10⁻⁵ (in m/max(s, 0.1) and ln s)
                    // and take it: the two fixed points agree to that tolerance in the
                    // solver's units.
                    let (m, ms) = (host(fast.mean)[0], host(slow.mean)[0]);
                    let (s, ss) = (host(fast.std)[0], host(slow.std)[0]);
                    assert!(
                        (m - ms).abs() <= 1e-5 * ss.max(0.1),
                        "{what}: mean {m} vs {ms}"
                    );
                    assert_relative_eq!(s, ss, max_relative = 1e-5);
                }
            }
        }
    }
    // The collapse is the exception: most steps have a minimiser.
    assert!(solved * 10 >= total * 9, "{solved} of {total} solved");
    assert!(solved < total, "the grid has collapsing steps");
    // The exact Hessian converges quadratically, the differenced one only nearly so.
    assert!(iterations.0 <= iterations.1, "iterations {iterations:?}");
    println!("{solved} of {total} steps solved; Newton iterations {iterations:?}");
}
