//! Classifier-free guidance against its closed form on Gaussian data: for `x ~ N(m, s²)` per
//! dimension and the straight path `z = κ x + (1 − κ) ε`, the exact predictor is affine,
//!
//! ```text
//! x̂(z, κ) = A z + B,    A = κ s² / (κ² s² + (1 − κ)²),    B = m (1 − κ A),
//! ```
//!
//! so the guided predictor `x̂_w = x̂_∅ + (1 + w)(x̂_c − x̂_∅)` is affine too (`A_w`, `B_w`), and
//! the guided flow `dz/dκ = (x̂_w(z) − z)/(1 − κ)` from `z(0) = ε ~ N(0, 1)` keeps `z` Gaussian
//! with mean and variance solving
//!
//! ```text
//! dμ/dκ = ((A_w − 1) μ + B_w)/(1 − κ),     dV/dκ = 2 (A_w − 1) V/(1 − κ)
//! ```
//!
//! (integrated here by RK4 on 20 000 steps to κ = 1 − 10⁻⁷). W2's deterministic sampler with
//! this exact predictor, guided through [`Guidance::guide`] (the code path every sampler uses,
//! the conditional rows `[c]` and null rows `[∅]` in one call), must end with those moments:
//! with N = 20 000 samples and 500 steps, each mean within 5 standard errors `5 √(V/N)` plus
//! 0.02 (the discretisation), each variance within `5 √(2/N)` (≈ 5 %) plus 2 % relative. At
//! `w = 0` the law is the conditional one, `N(m_c, s_c²)`.
//!
//! For KL (BFN) with its stochastic sampler the chain's own law is known exactly on its grid
//! (a linear recursion of the belief mean's moments; the second test).

use gpfn_cli as _; // links every built-in plugin

use crate::gaussian_toy;

use gpfn_core::burn::tensor::{Device, Int, Tensor, TensorData};
use gpfn_core::rng::Rng;
use gpfn_core::sampler::by_name;
use gpfn_run::condition::{ClassChoice, ConditionConfig, Guidance};

/// Class 0's law and the null class's, per dimension: `(mean, standard deviation)`.
const CLASS: [(f64, f64); 2] = [(2.0, 0.5), (-1.0, 0.8)];
const NULL: [(f64, f64); 2] = [(0.0, 1.5), (0.5, 1.2)];

fn affine(kappa: f64, (m, s): (f64, f64)) -> (f64, f64) {
    let a = kappa * s * s / (kappa * kappa * s * s + (1.0 - kappa) * (1.0 - kappa));
    (a, m * (1.0 - kappa * a))
}

fn guided(kappa: f64, d: usize, w: f64) -> (f64, f64) {
    let (ac, bc) = affine(kappa, CLASS[d]);
    let (a0, b0) = affine(kappa, NULL[d]);
    (a0 + (1.0 + w) * (ac - a0), b0 + (1.0 + w) * (bc - b0))
}

/// The guided flow's mean and variance at κ → 1 in dimension `d`.
fn closed_form(d: usize, w: f64) -> (f64, f64) {
    let f = |k: f64, (mu, v): (f64, f64)| {
        let (a, b) = guided(k, d, w);
        (
            ((a - 1.0) * mu + b) / (1.0 - k),
            2.0 * (a - 1.0) * v / (1.0 - k),
        )
    };
    let (n, end) = (20_000, 1.0 - 1e-7);
    let h = end / n as f64;
    let mut y = (0.0, 1.0);
    for i in 0..n {
        let k = i as f64 * h;
        let add = |y: (f64, f64), d: (f64, f64), s: f64| (y.0 + s * d.0, y.1 + s * d.1);
        let k1 = f(k, y);
        let k2 = f(k + h / 2.0, add(y, k1, h / 2.0));
        let k3 = f(k + h / 2.0, add(y, k2, h / 2.0));
        let k4 = f(k + h, add(y, k3, h));
        y = (
            y.0 + h / 6.0 * (k1.0 + 2.0 * k2.0 + 2.0 * k3.0 + k4.0),
            y.1 + h / 6.0 * (k1.1 + 2.0 * k2.1 + 2.0 * k3.1 + k4.1),
        );
    }
    y
}

/// The exact network of the laws `CLASS` (class 0) and `NULL` (the null class, 1) for a flow
/// whose predictor `affine(κ, law) = (A, B)` is `x̂ = A z + B`: row `r`'s output is that of its
/// class at `κ(t)`, on the inputs repeated once per classing (`Network::forward_repeated`'s
/// contract), as [`Guidance::guide`] calls it.
fn exact_network<'a>(
    kappa: impl Fn(f64) -> f64 + 'a,
    affine: fn(f64, (f64, f64)) -> (f64, f64),
    device: &'a Device,
) -> impl Fn(Tensor<2>, Tensor<2>, Tensor<1, Int>) -> gpfn_core::Result<Tensor<2>> + 'a {
    move |z: Tensor<2>, t: Tensor<2>, class: Tensor<1, Int>| {
        let rows = class.dims()[0];
        let z = Tensor::cat(vec![z.clone(); rows / z.dims()[0]], 0);
        let k = kappa(t.slice([0..1, 0..1]).into_scalar::<f32>() as f64);
        let classes: Vec<i64> = class.into_data().iter::<i64>().collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for c in &classes {
            for (&class_law, &null_law) in CLASS.iter().zip(&NULL) {
                let law = if *c == 0 { class_law } else { null_law };
                let (ad, bd) = affine(k, law);
                a.push(ad as f32);
                b.push(bd as f32);
            }
        }
        let a = Tensor::<2>::from_data(TensorData::new(a, [rows, 2]), device);
        let b = Tensor::<2>::from_data(TensorData::new(b, [rows, 2]), device);
        Ok(z * a + b)
    }
}

/// The `[condition]` of the toy's one class (the guidance weight is the test's own).
fn one_class() -> ConditionConfig {
    ConditionConfig {
        classes: 1,
        dropout: 0.1,
        guidance: 0.0,
    }
}

#[test]
fn the_guided_w2_chain_ends_at_the_guided_flows_gaussian() {
    let device = Device::flex();
    let config = gaussian_toy::config("w2-toy.toml");
    let model = config.model().unwrap();
    let condition = one_class();
    let (n, steps) = (20_000usize, 500);
    let sampler = by_name("deterministic", steps, "--sampler").unwrap();
    for w in [0.0, 1.0, 3.0] {
        let guidance = Guidance::new(ClassChoice::One(0), w, Some(&condition)).unwrap();
        let exact = exact_network(|t| model.schedule.kappa(t), affine, &device);
        let predictor = |z: Tensor<2>, t: f64| {
            let rows = z.dims()[0];
            let t = Tensor::<2>::full([rows, 1], t, &device);
            guidance.guide(&exact, z, t).unwrap()
        };
        let problem = model.sampling_problem(&predictor, n, 2, device.clone());
        let out = sampler
            .sample(&problem, &mut Rng::derive(7, "sample", 0))
            .unwrap();
        let values: Vec<f32> = out.into_data().iter::<f32>().collect();
        for (d, class_law) in CLASS.iter().enumerate() {
            let (mean, var) = gaussian_toy::moments(&values, 2, d);
            let (mu, v) = closed_form(d, w);
            if w == 0.0 {
                // The conditional law itself.
                assert!((mu - class_law.0).abs() < 1e-3, "{mu}");
                assert!((v - class_law.1.powi(2)).abs() < 1e-3, "{v}");
            }
            let mean_tol = 5.0 * (v / n as f64).sqrt() + 0.02;
            let var_tol = 5.0 * (2.0 / n as f64).sqrt() + 0.02;
            assert!(
                (mean - mu).abs() < mean_tol,
                "w = {w}, dim {d}: mean {mean} against {mu} (± {mean_tol})"
            );
            assert!(
                (var / v - 1.0).abs() < var_tol,
                "w = {w}, dim {d}: variance {var} against {v} (± {var_tol} relative)"
            );
        }
    }
}

/// BFN's exact predictor for `x ~ N(m, s²)` from the belief mean `μ ~ N(γ x, γ(1 − γ))`:
/// `E[x | μ] = A μ + B`, `A = s²/(γ s² + 1 − γ)`, `B = m (1 − γ A)` (finite at `γ = 0`).
fn bfn_affine(gamma: f64, (m, s): (f64, f64)) -> (f64, f64) {
    let a = s * s / (gamma * s * s + 1.0 - gamma);
    (a, m * (1.0 - gamma * a))
}

/// The same for KL (BFN) with its stochastic sampler, where the law of the chain itself is
/// known exactly on its grid: with the guided predictor `x̂_w = A_w μ + B_w` (affine), the
/// sender sample `y_i ~ N(x̂_w(μ_{i−1}), α_i⁻¹)` and Bayes' update
/// `μ_i = (ρ_{i−1} μ_{i−1} + α_i y_i)/ρ_i` (`ρ = 1/(1 − γ)`, `α_i = ρ_i − ρ_{i−1}`) keep `μ`
/// Gaussian from `μ_0 = 0`, with
///
/// ```text
/// m_i = ((ρ_{i−1} + α_i A_w) m_{i−1} + α_i B_w)/ρ_i,   V_i = ((ρ_{i−1} + α_i A_w)² V_{i−1} + α_i)/ρ_i²,
/// ```
///
/// and the sample, the last prediction `x̂_w(μ_{n−1})`, has mean `A_w m_{n−1} + B_w` and
/// variance `A_w² V_{n−1}` (the coefficients at `t_{n−1}`). No discretisation enters, so each
/// moment is checked within 5 standard errors only (N = 20 000: `5 √(V/N)` for the mean,
/// `5 √(2/N)` ≈ 5 % relative for the variance), at `w = 0, 1, 3` on 50 steps.
#[test]
fn the_guided_kl_chain_has_its_recursions_moments() {
    let device = Device::flex();
    let config = gaussian_toy::config("kl-toy.toml");
    let model = config.model().unwrap();
    let condition = one_class();
    let (n, steps) = (20_000usize, 50);
    let sampler = by_name("stochastic", steps, "--sampler").unwrap();
    let gamma = |t: f64| model.schedule.kappa(t);
    let guided_bfn = |g: f64, d: usize, w: f64| {
        let (ac, bc) = bfn_affine(g, CLASS[d]);
        let (a0, b0) = bfn_affine(g, NULL[d]);
        (a0 + (1.0 + w) * (ac - a0), b0 + (1.0 + w) * (bc - b0))
    };
    for w in [0.0, 1.0, 3.0] {
        let guidance = Guidance::new(ClassChoice::One(0), w, Some(&condition)).unwrap();
        let exact = exact_network(gamma, bfn_affine, &device);
        let predictor = |z: Tensor<2>, t: f64| {
            let rows = z.dims()[0];
            let t = Tensor::<2>::full([rows, 1], t, &device);
            guidance.guide(&exact, z, t).unwrap()
        };
        let problem = model.sampling_problem(&predictor, n, 2, device.clone());
        let out = sampler
            .sample(&problem, &mut Rng::derive(11, "sample", 0))
            .unwrap();
        let values: Vec<f32> = out.into_data().iter::<f32>().collect();
        for d in 0..2 {
            // The recursion on the sampler's grid t_i = i/steps, in f64, with the times read
            // through f32 as the predictor reads them.
            let g_at = |i: usize| gamma((i as f64 / steps as f64) as f32 as f64);
            let rho = |i: usize| 1.0 / (1.0 - g_at(i));
            let (mut m, mut v) = (0.0, 0.0);
            for i in 1..steps {
                let (a, b) = guided_bfn(g_at(i - 1), d, w);
                let alpha = rho(i) - rho(i - 1);
                m = ((rho(i - 1) + alpha * a) * m + alpha * b) / rho(i);
                v = ((rho(i - 1) + alpha * a).powi(2) * v + alpha) / rho(i).powi(2);
            }
            let (a, b) = guided_bfn(g_at(steps - 1), d, w);
            let (mu, var_want) = (a * m + b, a * a * v);
            let (mean, var) = gaussian_toy::moments(&values, 2, d);
            let mean_tol = 5.0 * (var_want / n as f64).sqrt();
            let var_tol = 5.0 * (2.0 / n as f64).sqrt();
            assert!(
                (mean - mu).abs() < mean_tol,
                "w = {w}, dim {d}: mean {mean} against {mu} (± {mean_tol})"
            );
            assert!(
                (var / var_want - 1.0).abs() < var_tol,
                "w = {w}, dim {d}: variance {var} against {var_want} (± {var_tol} relative)"
            );
        }
    }
}
