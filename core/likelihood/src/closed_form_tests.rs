//! The likelihood estimators against closed forms, on Gaussian data `x_k ~ N(m_k, S_k²)` with
//! the oracle (exact posterior-mean) predictor, where the model's density is known.

use crate::bound::{BoundProblem, bfn_bounds};
use crate::ode::{OdeProblem, ode_log_density};
use crate::{Estimate, LikelihoodOptions, ProbeKind, TraceEstimator};
use approx::assert_relative_eq;
use gpfn_core::belief::family_by_name;
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::divergence::Divergence;
use gpfn_core::rng::Rng;
use gpfn_core::schedule::{BfnGeometric, Schedule, Uniform};
use gpfn_kl::KlDivergence;
use gpfn_rectified_flow::RectifiedFlow;
use gpfn_sinkhorn::SinkhornDivergence;
use gpfn_w2::W2Divergence;
use std::f64::consts::PI;

const M: [f64; 3] = [0.3, -0.5, 0.0];
const S: [f64; 3] = [0.5, 1.0, 0.2];

/// A row of per-coordinate constants, on `device`.
fn row(v: &[f64], rows: usize, device: &Device) -> Tensor<2> {
    let vals: Vec<f32> = (0..rows)
        .flat_map(|_| v.iter().map(|&a| a as f32))
        .collect();
    Tensor::from_data(TensorData::new(vals, [rows, v.len()]), device)
}

fn gaussian_data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..n)
        .flat_map(|_| {
            (0..d)
                .map(|k| (M[k] + S[k] * rng.normal()) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `ln N(x; mean, var)` summed over coordinates.
fn log_normal(x: &[f64], mean: &[f64], var: &[f64]) -> f64 {
    x.iter()
        .zip(mean)
        .zip(var)
        .map(|((x, m), v)| -0.5 * (2.0 * PI * v).ln() - (x - m).powi(2) / (2.0 * v))
        .sum()
}

/// The straight path `z = κ x + (1 − κ) ε`: `E[x | z] = m + κ S²/(κ² S² + (1 − κ)²) (z − κ m)`,
/// written with tensor operations so that autodiff differentiates through it.
fn straight_path_oracle(
    schedule: &dyn Schedule,
    d: usize,
) -> impl Fn(Tensor<2>, &[f64]) -> gpfn_core::Result<Tensor<2>> + '_ {
    move |z: Tensor<2>, t: &[f64]| {
        let k = schedule.kappa(t[0]);
        let rows = z.dims()[0];
        let device = z.device();
        let gain: Vec<f64> = (0..d)
            .map(|j| k * S[j] * S[j] / (k * k * S[j] * S[j] + (1.0 - k).powi(2)))
            .collect();
        let shift: Vec<f64> = (0..d).map(|j| M[j] - gain[j] * k * M[j]).collect();
        Ok(z * row(&gain, rows, &device) + row(&shift, rows, &device))
    }
}

fn ode_problem_parts() -> (
    Box<dyn Divergence>,
    Box<dyn gpfn_core::belief::BeliefFamily>,
) {
    (
        Box::new(W2Divergence::default()),
        family_by_name("particle", "belief.name").unwrap(),
    )
}

/// Every divergence whose model is a particle ODE.
fn particle_divergences() -> Vec<Box<dyn Divergence>> {
    vec![
        Box::new(W2Divergence::default()),
        Box::new(RectifiedFlow::default()),
        Box::new(SinkhornDivergence::default()),
    ]
}

/// The flow of the oracle is the true one, so at `t_end` the model is
/// `N(κ m, κ² S² + (1 − κ)²)`: the exact trace reproduces its log-density item by item, for
/// every particle-flow divergence.
#[test]
fn the_ode_likelihood_of_gaussian_data_is_the_closed_form() {
    let d = 3;
    let schedule = Uniform {};
    let predictor = straight_path_oracle(&schedule, d);
    let family = family_by_name("particle", "belief.name").unwrap();
    for div in particle_divergences() {
        let problem = OdeProblem {
            divergence: div.as_ref(),
            family: family.as_ref(),
            schedule: &schedule,
            predictor: &predictor,
            device: Device::flex(),
        };
        let options = LikelihoodOptions {
            rtol: 1e-6,
            atol: 1e-6,
            trace: TraceEstimator::Exact,
            ..Default::default()
        };
        // Items up to 3 standard deviations out.
        let x: Vec<f32> = vec![0.3, -0.5, 0.0, 1.8, -3.5, 0.6, -1.2, 2.5, -0.6];
        let got = ode_log_density(&problem, &x, d, &options, &mut Rng::seed(0)).unwrap();
        let k = options.t_end_for(None);
        let mean: Vec<f64> = M.iter().map(|m| k * m).collect();
        let var: Vec<f64> = S
            .iter()
            .map(|s| k * k * s * s + (1.0 - k).powi(2))
            .collect();
        for (item, lp) in x.chunks(d).zip(&got.log_density) {
            let xs: Vec<f64> = item.iter().map(|&v| v as f64).collect();
            let want = log_normal(&xs, &mean, &var);
            // dopri5 at 10⁻⁶ in f32: the state's rounding (≈ 10⁻⁷ relative per step, a few
            // dozen steps) dominates; ln p is O(10), so 10⁻³ absolute is a 10⁻⁴ relative bound.
            assert!(
                (lp - want).abs() < 1e-3,
                "{}: item {item:?}: {lp} vs {want}",
                div.name()
            );
        }
        assert!(got.probe_variance.is_none());
        assert!(got.evaluations > 8);
    }
}

/// Hutchinson's estimator is unbiased: with Gaussian probes its per-item estimates scatter
/// around the closed form, and their mean over items agrees within 4 standard errors; with
/// Rademacher probes on this diagonal Jacobian (`ε_k² = 1`) it is exact.
#[test]
fn hutchinsons_estimator_is_unbiased_and_reports_its_variance() {
    let d = 3;
    let schedule = Uniform {};
    let predictor = straight_path_oracle(&schedule, d);
    let (div, family) = ode_problem_parts();
    let problem = OdeProblem {
        divergence: div.as_ref(),
        family: family.as_ref(),
        schedule: &schedule,
        predictor: &predictor,
        device: Device::flex(),
    };
    let x = gaussian_data(100, d, 7);
    let k = 1.0 - 1e-3;
    let mean: Vec<f64> = M.iter().map(|m| k * m).collect();
    let var: Vec<f64> = S
        .iter()
        .map(|s| k * k * s * s + (1.0 - k).powi(2))
        .collect();
    let want: Vec<f64> = x
        .chunks(d)
        .map(|i| {
            log_normal(
                &i.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                &mean,
                &var,
            )
        })
        .collect();
    for probe in [ProbeKind::Gaussian, ProbeKind::Rademacher] {
        let options = LikelihoodOptions {
            rtol: 1e-5,
            atol: 1e-5,
            trace: TraceEstimator::Hutchinson,
            probes: 4,
            probe,
            ..Default::default()
        };
        let got = ode_log_density(&problem, &x, d, &options, &mut Rng::seed(1)).unwrap();
        let diff: Vec<f64> = got
            .log_density
            .iter()
            .zip(&want)
            .map(|(g, w)| g - w)
            .collect();
        let e = Estimate::of(&diff);
        let v = Estimate::of(got.probe_variance.as_ref().unwrap()).mean;
        match probe {
            ProbeKind::Gaussian => {
                assert!(v > 1.0, "Gaussian probes scatter: variance {v}");
                assert!(e.mean.abs() < 4.0 * e.standard_error, "{e:?}");
            }
            ProbeKind::Rademacher => {
                assert!(v < 1e-6, "Rademacher probes are exact here: variance {v}");
                assert!(e.mean.abs() < 1e-3, "{e:?}");
            }
        }
    }
}

fn kl_oracle(
    schedule: &dyn Schedule,
    d: usize,
) -> impl Fn(Tensor<2>, &[f64]) -> gpfn_core::Result<Tensor<2>> + '_ {
    // μ | x ~ N(κ x, κ(1 − κ)): E[x | μ] = (m/S² + μ/(1 − κ)) / (1/S² + κ/(1 − κ)), per row.
    move |mu: Tensor<2>, t: &[f64]| {
        let rows = mu.dims()[0];
        let device = mu.device();
        let mut gain = Vec::with_capacity(rows * d);
        let mut shift = Vec::with_capacity(rows * d);
        for &ti in t {
            let k = schedule.kappa(ti);
            for j in 0..d {
                let prec = 1.0 / (S[j] * S[j]) + k / (1.0 - k);
                gain.push((1.0 / (1.0 - k) / prec) as f32);
                shift.push((M[j] / (S[j] * S[j]) / prec) as f32);
            }
        }
        let g = Tensor::<2>::from_data(TensorData::new(gain, [rows, d]), &device);
        let s = Tensor::<2>::from_data(TensorData::new(shift, [rows, d]), &device);
        Ok(mu * g + s)
    }
}

/// Runs `f` on BFN's bound problem for 2-D Gaussian data with the KL chain on
/// `bfn-geometric(σ₁)` and the exact posterior-mean predictor.
fn with_kl_oracle_problem<R>(sigma1: f64, f: impl FnOnce(&BoundProblem<'_>) -> R) -> R {
    let schedule = BfnGeometric { sigma1 };
    let predictor = kl_oracle(&schedule, 2);
    let div = KlDivergence::default();
    let family = family_by_name("diag-gaussian", "belief.name").unwrap();
    f(&BoundProblem {
        divergence: &div,
        family: family.as_ref(),
        schedule: &schedule,
        predictor: &predictor,
    })
}

/// BFN's bounds with the exact predictor, against the paper's equations summed by hand:
/// `E_x[Lⁿ] = ½ Σ_i α_i Var(x | μ_{i−1})` with `α_i = σ₁^{−2i/n}(1 − σ₁^{2/n})`,
/// `ρ_{i−1} = σ₁^{−2(i−1)/n}`, `Var(x | μ) = 1/(1/S² + ρ − 1)`; `E_x[L^∞] = ½ ln(1 + S²(ρ₁ − 1))`;
/// `E_x[L^r] = ½ ln(2π σ₁²) + Var(x | μ₁)/(2σ₁²)`. And `L^∞ + L^r` equals the model's
/// cross-entropy `E_x[−ln N(x; m, V)]`, `V = S² − Var(x | μ₁) + σ₁²`, to 10⁻⁵: the
/// continuous-time bound is tight for the exact predictor.
#[test]
fn bfn_bounds_reproduce_the_papers_equations_on_gaussian_data() {
    let d = 2;
    let sigma1: f64 = 0.02;
    let n = 10;
    let items = 20_000;
    let x = gaussian_data(items, d, 11);
    let device = Device::flex();
    let xt = Tensor::<2>::from_data(TensorData::new(x, [items, d]), &device);
    let terms = with_kl_oracle_problem(sigma1, |problem| {
        bfn_bounds(problem, &xt, n, None, 1, &mut Rng::seed(2)).unwrap()
    });

    let rho1 = sigma1.powi(-2);
    let post = |s: f64, rho: f64| 1.0 / (1.0 / (s * s) + rho - 1.0);
    let mut want_n = 0.0;
    let mut want_inf = 0.0;
    let mut want_r = 0.0;
    let mut cross_entropy = 0.0;
    for &s in &S[..d] {
        for i in 1..=n {
            let alpha =
                sigma1.powf(-2.0 * i as f64 / n as f64) * (1.0 - sigma1.powf(2.0 / n as f64));
            let rho_prev = sigma1.powf(-2.0 * (i - 1) as f64 / n as f64);
            want_n += 0.5 * alpha * post(s, rho_prev);
        }
        want_inf += 0.5 * (1.0 + s * s * (rho1 - 1.0)).ln();
        want_r += 0.5 * (2.0 * PI * sigma1 * sigma1).ln() + post(s, rho1) / (2.0 * sigma1 * sigma1);
        let v = s * s - post(s, rho1) + sigma1 * sigma1;
        cross_entropy += 0.5 * (2.0 * PI * v).ln() + s * s / (2.0 * v);
    }
    for (name, values, want) in [
        ("Lⁿ", &terms.discrete, want_n),
        ("L^∞", &terms.continuous, want_inf),
        ("L^r", &terms.reconstruction, want_r),
    ] {
        let e = Estimate::of(values);
        // Unbiased Monte Carlo: within 4 standard errors (a false failure once in ~16 000).
        assert!(
            (e.mean - want).abs() < 4.0 * e.standard_error,
            "{name}: {e:?} vs {want}"
        );
    }
    assert_relative_eq!(want_inf + want_r, cross_entropy, epsilon = 1e-5);
    // The n-step bound is looser than the continuous one (a left Riemann sum of a decreasing
    // integrand).
    assert!(want_n > want_inf);
}

/// The draws of `t` are stratified over the repeats. On one item repeated (so that all the
/// spread is Monte Carlo noise) 8 stratified draws per item give a per-item spread below the
/// `σ₁/√8` of 8 independent draws, and the estimate stays unbiased (the 8-draw mean within 4
/// of its standard errors of the 1-draw mean). The gain from stratifying is small here
/// (measured 2.36 against 2.49): with the exact predictor `E[L^∞ | t]` is nearly constant in
/// `t` (`ρ' Var(x | μ) ≈ −2 ln σ₁`), and what is left is the χ² noise of `‖x − x̂‖²` at each
/// `t`, which only more draws reduce — hence `likelihood.repeats` for low-dimensional data.
#[test]
fn stratified_draws_cut_the_bounds_monte_carlo_error() {
    let d = 2;
    let device = Device::flex();
    let one = |items: usize| {
        let v: Vec<f32> = (0..items).flat_map(|_| [0.7f32, -0.4]).collect();
        Tensor::<2>::from_data(TensorData::new(v, [items, d]), &device)
    };
    let (single, strat) = with_kl_oracle_problem(0.02, |problem| {
        (
            bfn_bounds(problem, &one(40_000), 10, None, 1, &mut Rng::seed(3)).unwrap(),
            bfn_bounds(problem, &one(8_000), 10, None, 8, &mut Rng::seed(4)).unwrap(),
        )
    });
    let (e1, e8) = (
        Estimate::of(&single.continuous),
        Estimate::of(&strat.continuous),
    );
    // Per-item spreads: independent draws would give σ₁/√8.
    let (s1, s8) = (
        e1.standard_error * (40_000f64).sqrt(),
        e8.standard_error * (8_000f64).sqrt(),
    );
    // Each spread is estimated to ≈ 1 % (tens of thousands of draws); the gap is 5 %.
    assert!(
        s8 < s1 / 8f64.sqrt(),
        "σ with 8 stratified draws {s8}, with 1 draw {s1}"
    );
    let se = (e1.standard_error.powi(2) + e8.standard_error.powi(2)).sqrt();
    assert!((e1.mean - e8.mean).abs() < 4.0 * se, "{e1:?} vs {e8:?}");
}

#[test]
fn each_estimator_refuses_the_other_kind_of_divergence() {
    let schedule = Uniform {};
    let predictor = straight_path_oracle(&schedule, 3);
    let w2 = W2Divergence::default();
    let particle = family_by_name("particle", "belief.name").unwrap();
    let bound = BoundProblem {
        divergence: &w2,
        family: particle.as_ref(),
        schedule: &schedule,
        predictor: &predictor,
    };
    let x = Tensor::<2>::zeros([2, 3], &Device::flex());
    let e = bfn_bounds(&bound, &x, 10, None, 1, &mut Rng::seed(0)).unwrap_err();
    assert!(
        e.to_string().contains("`w2` is not a Bayesian chain"),
        "{e}"
    );

    let kl = KlDivergence::default();
    let gaussian = family_by_name("diag-gaussian", "belief.name").unwrap();
    let ode = OdeProblem {
        divergence: &kl,
        family: gaussian.as_ref(),
        schedule: &schedule,
        predictor: &predictor,
        device: Device::flex(),
    };
    let e = ode_log_density(
        &ode,
        &[0.0; 3],
        3,
        &LikelihoodOptions::default(),
        &mut Rng::seed(0),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("has no particle"), "{e}");
}
