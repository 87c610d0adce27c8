//! The f-divergences on categorical beliefs (`gpfn_fdiv::simplex`): each step against an
//! independent brute-force minimisation in f64 on `K = 2`, forward KL (and the α-divergence
//! next to `α = 1`) against Bayes' rule, the simulated flow of forward KL against discrete BFN's
//! closed-form flow (on and off the grid), the registration, and the categorical chain sampling
//! with them (on their grid only). The conformance kit's simplex contracts run in
//! tests/solver.rs, with the rest of the kit.

use approx::assert_abs_diff_eq;
use gpfn_core::belief::categorical::{Categorical, CategoricalFamily, one_hot};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::divergence::{
    CategoricalMaths, CategoricalProblem, Divergence, Noise, Proximal, categorical_chain,
};
use gpfn_core::host::host_f64 as host;
use gpfn_core::rng::Rng;
use gpfn_fdiv::simplex::SimplexF;
use gpfn_fdiv::{
    AlphaDivergence, Chi2, ForwardKl, Hellinger, JensenShannon, ReverseKl, TotalVariation,
};
use gpfn_kl::KlMaths;
use std::num::NonZeroUsize;

fn tensor(v: &[f64], rows: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let cols = v.len() / rows;
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

/// A divergence's name, its `f` on the simplex and that `f` in f64.
type NamedF = (&'static str, SimplexF, fn(f64) -> f64);

/// Every f the plugin offers.
fn every_f() -> Vec<NamedF> {
    vec![
        ("forward-kl", SimplexF::ForwardKl, |u| {
            if u == 0.0 { 0.0 } else { u * u.ln() }
        }),
        ("reverse-kl", SimplexF::ReverseKl, |u| -u.ln()),
        ("chi2", SimplexF::Chi2, |u| (u - 1.0).powi(2)),
        ("hellinger", SimplexF::Hellinger, |u| {
            0.5 * (u.sqrt() - 1.0).powi(2)
        }),
        ("jensen-shannon", SimplexF::JensenShannon, |u| {
            let a = if u == 0.0 {
                0.0
            } else {
                u * (2.0 * u / (u + 1.0)).ln()
            };
            0.5 * (a + (2.0 / (u + 1.0)).ln())
        }),
        ("total-variation", SimplexF::TotalVariation, |u| {
            0.5 * (u - 1.0).abs()
        }),
        ("alpha 0.5", SimplexF::alpha(0.5), |u| {
            (1.0 - u.powf(0.5)) / 0.25
        }),
        ("alpha 2", SimplexF::alpha(2.0), |u| (1.0 - u * u) / -2.0),
        ("alpha -1", SimplexF::alpha(-1.0), |u| {
            (1.0 - 1.0 / u) / -2.0
        }),
    ]
}

/// `argmin_{p ∈ [0, 1]} −(p s₀ + (1 − p) s₁) + q₀ f(p/q₀) + q₁ f((1 − p)/q₁)` in f64: the best
/// of a 20 001-point grid, then a ternary search (the objective is convex) on its neighbours.
fn brute_force(f: fn(f64) -> f64, q0: f64, s: [f64; 2]) -> f64 {
    let objective = |p: f64| {
        -(p * s[0] + (1.0 - p) * s[1]) + q0 * f(p / q0) + (1.0 - q0) * f((1.0 - p) / (1.0 - q0))
    };
    let m = 20_000;
    let best = (0..=m)
        .map(|i| i as f64 / m as f64)
        .min_by(|&a, &b| objective(a).total_cmp(&objective(b)))
        .unwrap();
    let (mut lo, mut hi) = (
        (best - 1.0 / m as f64).max(0.0),
        (best + 1.0 / m as f64).min(1.0),
    );
    for _ in 0..200 {
        let (a, b) = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0);
        if objective(a) <= objective(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    0.5 * (lo + hi)
}

#[test]
fn every_step_is_the_brute_force_minimiser_on_two_classes() {
    let device = Device::flex();
    // Beliefs q₀ near and far from the boundary, observations s = αỹ from gentle to ones that
    // empty a class (χ², α = 2, total variation).
    let cases: Vec<(f64, [f64; 2])> = vec![
        (0.5, [0.3, -0.2]),
        (0.2, [1.5, -0.5]),
        (0.9, [-2.0, 1.0]),
        (0.05, [4.0, 0.0]),
        (0.7, [0.0, 0.0]),
        (0.3, [-0.4, 0.45]),
    ];
    for (name, f, f64_f) in every_f() {
        for &(q0, s) in &cases {
            // One variable, K = 2, class-major: [q₀, q₁]; α = 1 so s = ỹ.
            let q = Categorical {
                probs: tensor(&[q0, 1.0 - q0], 1, &device),
                classes: 2,
            };
            let p = f.step(&q, tensor(&s, 1, &device));
            let got = host(p.probs);
            let want = brute_force(f64_f, q0, s);
            // f32 bisection and normalisation against an f64 minimiser: 2e-5 on probabilities.
            assert!(
                (got[0] - want).abs() < 2e-5 && (got[0] + got[1] - 1.0).abs() < 1e-6,
                "{name}, q₀ = {q0}, s = {s:?}: step {got:?}, brute force {want}"
            );
        }
    }
}

/// The step through the divergence's `Proximal<Categorical>` is `SimplexF::step` at `s = α y`,
/// and its value is `Σ q f(p/q)` (checked against the f64 sum).
#[test]
fn the_registered_step_and_value_are_the_simplex_maths() {
    let device = Device::flex();
    let q = Categorical {
        probs: tensor(&[0.2, 0.5, 0.3, 0.8, 0.5, 0.7], 1, &device),
        classes: 2,
    };
    let p = Categorical {
        probs: tensor(&[0.4, 0.1, 0.5, 0.6, 0.9, 0.5], 1, &device),
        classes: 2,
    };
    // Class-major, K = 2, D = 3: variable j is (q_j, q_{3+j}); the sum runs over every entry.
    let qv = [0.2, 0.5, 0.3, 0.8, 0.5, 0.7];
    let pv = [0.4, 0.1, 0.5, 0.6, 0.9, 0.5];
    for (name, f, f64_f) in every_f() {
        let want: f64 = qv.iter().zip(pv).map(|(&q, p)| q * f64_f(p / q)).sum();
        let got = host(f.value(&p, &q))[0];
        assert!((got - want).abs() < 1e-5, "{name}: {got} vs {want}");
    }
    let y = tensor(&[0.3, -1.0, 2.0, 0.5, 0.0, -0.7], 1, &device);
    let div = Hellinger::default();
    let by_trait = host(div.prox(&q, &y, 0.7).unwrap().probs);
    let by_f = host(
        SimplexF::Hellinger
            .step(&q, y.clone().mul_scalar(0.7))
            .probs,
    );
    assert_eq!(by_trait, by_f);
    let e = div.prox(&q, &y, -1.0).unwrap_err().to_string();
    assert!(e.contains("hellinger") && e.contains("α"), "{e}");
}

#[test]
fn forward_kl_on_the_simplex_is_bayes_rule() {
    let device = Device::flex();
    let mut rng = Rng::seed(5);
    let (b, d, k) = (4, 3, 5);
    let logits: Vec<f64> = rng.normals(b * d * k).iter().map(|&x| x as f64).collect();
    let q = Categorical::from_logits(tensor(&logits, b, &device), k);
    let y: Vec<f64> = rng.normals(b * d * k).iter().map(|&x| x as f64).collect();
    let y = tensor(&y, b, &device);
    for alpha in [0.05, 0.7, 4.0] {
        let bayes = host(KlMaths.prox(&q, &y, alpha).unwrap().probs);
        let fkl = host(ForwardKl::default().prox(&q, &y, alpha).unwrap().probs);
        let a1 = host(
            AlphaDivergence {
                alpha: 1.0,
                ..AlphaDivergence::default()
            }
            .prox(&q, &y, alpha)
            .unwrap()
            .probs,
        );
        // Next to α = 1 the bisection path (the α-divergence) is Bayes to O(|α − 1|).
        let near = host(
            AlphaDivergence {
                alpha: 1.0 + 1e-3,
                ..AlphaDivergence::default()
            }
            .prox(&q, &y, alpha)
            .unwrap()
            .probs,
        );
        for i in 0..bayes.len() {
            assert_abs_diff_eq!(fkl[i], bayes[i], epsilon = 1e-6);
            assert_abs_diff_eq!(a1[i], bayes[i], epsilon = 1e-6);
            assert_abs_diff_eq!(near[i], bayes[i], epsilon = 5e-3);
        }
    }
}

/// Column means of `θ` and `θ²` of two samples, compared within `z` standard errors.
fn same_moments(a: &Tensor<2>, b: &Tensor<2>, z: f64) -> Result<(), String> {
    let [rows, cols] = a.dims();
    let (a, b) = (host(a.clone()), host(b.clone()));
    for power in [1, 2] {
        for c in 0..cols {
            let stats = |v: &[f64]| {
                let xs: Vec<f64> = (0..rows).map(|r| v[r * cols + c].powi(power)).collect();
                let mean = xs.iter().sum::<f64>() / rows as f64;
                let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (rows - 1) as f64;
                (mean, var / rows as f64)
            };
            let ((ma, va), (mb, vb)) = (stats(&a), stats(&b));
            let score = (ma - mb).abs() / (va + vb + 1e-12).sqrt();
            if score > z {
                return Err(format!(
                    "E[θ^{power}] of column {c}: {ma:.5} vs {mb:.5} ({score:.2} s.e.)"
                ));
            }
        }
    }
    Ok(())
}

/// Forward KL's chain is Bayes' rule, so its simulated flow has discrete BFN's closed-form law
/// at every time: on the grid (the chain's marginal) and off it (the chain to the last grid
/// time, then one step of the remaining accuracy, totals `β(t)`).
#[test]
fn the_simulated_flow_of_forward_kl_is_bfns_flow_on_and_off_the_grid() {
    let device = Device::flex();
    let family = CategoricalFamily::default();
    let (rows, d, k) = (3000, 3, 3);
    let x: Vec<f64> = (0..rows * d).map(|i| (i % d) as f64).collect();
    let e_x = Categorical {
        probs: one_hot(&tensor(&x, rows, &device), k),
        classes: k,
    };
    let div = ForwardKl {
        steps: NonZeroUsize::new(5).unwrap(),
        ..ForwardKl::default()
    };
    let mut rng = Rng::seed(9);
    for t in [0.0, 0.4, 0.37, 0.93, 1.0] {
        let times = vec![t; rows];
        let simulated = div.flow(&family, &e_x, &times, &mut rng).unwrap();
        let closed = KlMaths.flow(&family, &e_x, &times, &mut rng).unwrap();
        // 4.5 standard errors over 18 comparisons per time.
        same_moments(&simulated.probs, &closed.probs, 4.5)
            .unwrap_or_else(|e| panic!("t = {t}: {e}"));
    }
    // Mixed times in one batch: rows stop at their own steps and come back in their order.
    let times: Vec<f64> = (0..rows).map(|r| [0.1, 0.8, 0.5][r % 3]).collect();
    let mixed = host(div.flow(&family, &e_x, &times, &mut rng).unwrap().probs);
    let mut by_time = Vec::new();
    for t in [0.1, 0.8, 0.5] {
        let theta = host(
            div.flow(&family, &e_x, &vec![t; rows], &mut rng)
                .unwrap()
                .probs,
        );
        // The mean belief in the true class of variable 0 (class 0: column 0).
        by_time.push(theta.iter().step_by(k * d).sum::<f64>() / rows as f64);
    }
    for (which, want) in by_time.iter().enumerate() {
        let got: Vec<f64> = (0..rows)
            .filter(|r| r % 3 == which)
            .map(|r| mixed[r * k * d])
            .collect();
        let mean = got.iter().sum::<f64>() / got.len() as f64;
        assert!((mean - want).abs() < 0.03, "time {which}: {mean} vs {want}");
    }
}

/// Reverse KL's flow is not Bayes': its chain concentrates on the data differently (the check
/// that the simulated flow is not KL's in disguise), and every belief stays on the simplex.
#[test]
fn a_non_kl_flow_stays_on_the_simplex_and_differs_from_bfn() {
    let device = Device::flex();
    let family = CategoricalFamily::default();
    let (rows, d, k) = (2000, 2, 4);
    let x: Vec<f64> = (0..rows * d).map(|i| (i % k) as f64).collect();
    let e_x = Categorical {
        probs: one_hot(&tensor(&x, rows, &device), k),
        classes: k,
    };
    let mut rng = Rng::seed(2);
    for div in [
        &ReverseKl::default() as &dyn CategoricalMaths,
        &Chi2::default(),
        &TotalVariation::default(),
    ] {
        let theta = div.flow(&family, &e_x, &vec![1.0; rows], &mut rng).unwrap();
        let p = host(theta.probs.clone());
        assert!(
            p.iter()
                .all(|v| v.is_finite() && *v >= 0.0 && *v <= 1.0 + 1e-6)
        );
        let sums = host(theta.blocks().sum_dim(1).reshape([rows * d]));
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
    }
    let rkl = ReverseKl::default()
        .flow(&family, &e_x, &vec![1.0; rows], &mut rng)
        .unwrap();
    let bfn = KlMaths
        .flow(&family, &e_x, &vec![1.0; rows], &mut rng)
        .unwrap();
    assert!(same_moments(&rkl.probs, &bfn.probs, 6.0).is_err());
}

#[test]
fn every_f_divergence_lists_and_supplies_the_categorical_family() {
    let divs: Vec<Box<dyn Divergence>> = vec![
        Box::new(ForwardKl::default()),
        Box::new(ReverseKl::default()),
        Box::new(Chi2::default()),
        Box::new(Hellinger::default()),
        Box::new(JensenShannon::default()),
        Box::new(TotalVariation::default()),
        Box::new(AlphaDivergence::default()),
    ];
    for div in &divs {
        assert!(
            div.maths().belief_families().contains(&"categorical"),
            "{}",
            div.name()
        );
        assert!(div.categorical().is_some(), "{}", div.name());
        assert_eq!(div.maths().flow_grid(), Some(20), "{}", div.name());
    }
    let e = AlphaDivergence {
        alpha: f64::NAN,
        ..AlphaDivergence::default()
    }
    .prox(
        &Categorical::uniform(1, 1, 2, &Device::flex()),
        &Tensor::zeros([1, 2], &Device::flex()),
        1.0,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("divergence.alpha"), "{e}");
}

/// BFN's sampler (and the deterministic one) run the chain with a non-KL step on its grid;
/// another step count is refused naming `sampler.steps`.
#[test]
fn the_categorical_chain_samples_with_a_non_kl_step_on_its_grid() {
    let device = Device::flex();
    let family = CategoricalFamily::default();
    let div = Hellinger {
        steps: NonZeroUsize::new(8).unwrap(),
        ..Hellinger::default()
    };
    let k = 3;
    // A predictor that always says "class 2": the chain must end there.
    let predictor = |input: Tensor<2>, _t: f64| {
        let [b, w] = input.dims();
        let d = w / k;
        let logits: Vec<f32> = (0..b * w)
            .map(|i| if (i % w) / d == 2 { 8.0 } else { 0.0 })
            .collect();
        Tensor::from_data(TensorData::new(logits, [b, w]), &input.device())
    };
    let problem = CategoricalProblem {
        divergence: &div,
        family: &family,
        classes: k,
        predictor: &predictor,
        batch: 4,
        dim: 5,
        device: device.clone(),
        known: None,
    };
    let mut rng = Rng::seed(4);
    for noise in [Noise::Stochastic { eta: 1.0 }, Noise::Deterministic] {
        let end = categorical_chain(&problem, 8, noise, &mut rng).unwrap();
        assert!(host(end.sample).iter().all(|&c| c == 2.0));
        assert_eq!(end.evaluations, 9);
    }
    let e = categorical_chain(&problem, 20, Noise::Deterministic, &mut rng)
        .err()
        .expect("a 20-step chain on an 8-step grid")
        .to_string();
    assert!(
        e.contains("sampler.steps") && e.contains("8-step grid"),
        "{e}"
    );
}
