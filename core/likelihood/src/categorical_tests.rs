//! Discrete BFN's bounds against closed forms: `L^∞` against the formula summed by hand, the
//! `K = 2` single-logit and two-logit parameterisations giving the same terms, and the bound
//! of the exact output distribution sitting at the data's entropy.

use crate::RowPredictor;
use crate::categorical::{CategoricalBoundProblem, CategoricalBoundTerms};
use gpfn_core::Result;
use gpfn_core::belief::categorical::CategoricalFamily;
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::rng::Rng;
use gpfn_kl::KlMaths;

fn column_data(values: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len(), 1]), device)
}

fn terms(
    family: &CategoricalFamily,
    classes: usize,
    predictor: &RowPredictor<'_>,
    x: &Tensor<2>,
    (steps, repeats, seed): (usize, usize, u64),
) -> CategoricalBoundTerms {
    let problem = CategoricalBoundProblem {
        maths: &KlMaths,
        family,
        classes,
        predictor,
    };
    problem
        .terms(x, steps, repeats, &mut Rng::seed(seed))
        .unwrap()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn standard_error(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / ((v.len() - 1) * v.len()) as f64).sqrt()
}

/// A predictor whose output distribution is the fixed `p̂ = softmax(logits)` whatever `θ`
/// and `t`: `L^∞ = K β(1) E[t] ‖e_x − p̂‖² = K β(1)/2 · ‖e_x − p̂‖²`.
#[test]
fn the_continuous_time_loss_is_the_formula_summed_by_hand() {
    let device = Device::flex();
    let (k, d, items) = (3usize, 2usize, 400usize);
    let logits = [0.3f32, -1.0, 0.5, 1.2, 0.0, -0.4]; // class-major: [k][d]
    let family = CategoricalFamily::default();
    let fixed = Tensor::<1>::from_floats(logits, &device).reshape([1, k * d]);
    let predictor = move |z: Tensor<2>, _t: &[f64]| -> Result<Tensor<2>> {
        Ok(fixed.clone().repeat_dim(0, z.dims()[0]))
    };
    // Every item x = (2, 0).
    let x = Tensor::<2>::from_data(
        TensorData::new(
            (0..items).flat_map(|_| [2.0f32, 0.0]).collect::<Vec<_>>(),
            [items, d],
        ),
        &device,
    );
    let got = terms(&family, k, &predictor, &x, (10, 8, 1));
    // By hand: p̂ per variable j = softmax over k of logits[k·d + j].
    let mut squared = 0.0;
    for (j, xj) in [(0usize, 2usize), (1, 0)] {
        let z: Vec<f64> = (0..k).map(|c| (logits[c * d + j] as f64).exp()).collect();
        let total: f64 = z.iter().sum();
        for (c, zc) in z.iter().enumerate() {
            let e = if c == xj { 1.0 } else { 0.0 };
            squared += (e - zc / total).powi(2);
        }
    }
    let want = k as f64 * family.beta_1 * 0.5 * squared;
    // The only randomness is t: 8 strata per item give E[t] with variance 1/(12·8³) per item,
    // so over 400 items the mean's sd is 0.5·√(1/(12·512·400))/0.5 ≈ 6.4e-4 relative; five of
    // them, plus f32 rounding (1e-6).
    let rel = (mean(&got.continuous) - want).abs() / want;
    assert!(
        rel < 5.0 * 6.4e-4 + 1e-6,
        "L∞ {} against {want}",
        mean(&got.continuous)
    );
    // The reconstruction term: −Σ_j ln p̂_j(x_j), exactly.
    let mut recon = 0.0;
    for (j, xj) in [(0usize, 2usize), (1, 0)] {
        let lse = (0..k)
            .map(|c| (logits[c * d + j] as f64).exp())
            .sum::<f64>()
            .ln();
        recon += lse - logits[xj * d + j] as f64;
    }
    approx::assert_relative_eq!(mean(&got.reconstruction), recon, max_relative = 1e-5);
}

/// For `K = 2` the reference's single logit `l` and the two logits `(0, l)` are the same
/// output distribution (`σ(l) = e^l/(1 + e^l)`), so every term agrees draw for draw.
#[test]
fn k2_single_logit_and_two_logits_give_the_same_bound() {
    let device = Device::flex();
    let items = 64;
    let single = CategoricalFamily::default();
    let two = CategoricalFamily {
        single_logit: false,
        ..CategoricalFamily::default()
    };
    assert_eq!(single.network_channels(2), (1, 1));
    assert_eq!(two.network_channels(2), (2, 2));
    // An output that depends on θ₁ and t: l = 3 θ₁ − 1 + t.
    let logit = |theta1: Tensor<2>, t: &[f64]| {
        let t = Tensor::<1>::from_floats(
            t.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(),
            &theta1.device(),
        )
        .reshape([t.len(), 1]);
        theta1.mul_scalar(3.0).sub_scalar(1.0) + t
    };
    let one_logit = |s: Tensor<2>, t: &[f64]| -> Result<Tensor<2>> {
        // s = 2θ₁ − 1.
        Ok(logit(s.add_scalar(1.0).div_scalar(2.0), t))
    };
    let two_logits = |theta: Tensor<2>, t: &[f64]| -> Result<Tensor<2>> {
        let [b, _] = theta.dims();
        let l = logit(theta.slice([0..b, 1..2]), t);
        Ok(Tensor::cat(vec![l.clone().mul_scalar(0.0), l], 1))
    };
    let x = column_data(
        &(0..items)
            .map(|i| (i % 3 == 0) as u8 as f32)
            .collect::<Vec<_>>(),
        &device,
    );
    let a = terms(&single, 2, &one_logit, &x, (10, 4, 9));
    let b = terms(&two, 2, &two_logits, &x, (10, 4, 9));
    for (u, v) in [
        (&a.continuous, &b.continuous),
        (&a.discrete, &b.discrete),
        (&a.reconstruction, &b.reconstruction),
    ] {
        for (p, q) in u.iter().zip(v.iter()) {
            // Same draws, the same p̂ through sigmoid against softmax in f32.
            approx::assert_relative_eq!(p, q, max_relative = 1e-4, epsilon = 1e-5);
        }
    }
}

/// One variable with `K` classes and law `P`: the exact output distribution is the posterior
/// `p̂_c ∝ P(c) θ_c` (θ is a sufficient statistic of the sender's sum). Then `E[L^∞ + L^r] =
/// I(x; y_1) + H(x | y_1) = H(P)` (I-MMSE for the Gaussian channel of SNR `β(t) K`), and the
/// `n`-step bound lies above it.
#[test]
fn the_bound_of_the_exact_output_sits_at_the_entropy() {
    let device = Device::flex();
    for (law, single_logit) in [
        (vec![0.05, 0.1, 0.15, 0.2, 0.5], false),
        (vec![0.3, 0.7], true),
    ] {
        let k = law.len();
        let family = CategoricalFamily {
            single_logit,
            ..CategoricalFamily::default()
        };
        let entropy: f64 = law.iter().map(|p: &f64| -p * p.ln()).sum();
        let ln_p: Vec<f32> = law.iter().map(|p: &f64| p.ln() as f32).collect();
        let ln_p_tensor = Tensor::<1>::from_floats(ln_p.as_slice(), &device).reshape([1, k]);
        let posterior = move |input: Tensor<2>, _t: &[f64]| -> Result<Tensor<2>> {
            let [b, _] = input.dims();
            if k == 2 && single_logit {
                // θ₁ = (s + 1)/2: the logit ln(P₁ θ₁) − ln(P₀ θ₀).
                let theta1 = input.add_scalar(1.0).div_scalar(2.0).clamp(1e-30, 1.0);
                let theta0 = theta1.clone().neg().add_scalar(1.0).clamp_min(1e-30);
                Ok(theta1.log() - theta0.log() + (ln_p[1] - ln_p[0]) as f64)
            } else {
                Ok(input.clamp_min(1e-30).log() + ln_p_tensor.clone().repeat_dim(0, b))
            }
        };
        // Items drawn from P.
        let items = 600;
        let mut rng = Rng::seed(11);
        let x: Vec<f32> = (0..items)
            .map(|_| {
                let u = rng.uniform();
                let mut c = 0.0;
                law.iter()
                    .position(|p| {
                        c += p;
                        u < c
                    })
                    .unwrap_or(k - 1) as f32
            })
            .collect();
        let got = terms(
            &family,
            k,
            &posterior,
            &column_data(&x, &device),
            (10, 16, 5),
        );
        let total: Vec<f64> = got
            .continuous
            .iter()
            .zip(&got.reconstruction)
            .map(|(a, b)| a + b)
            .collect();
        let discrete: Vec<f64> = got
            .discrete
            .iter()
            .zip(&got.reconstruction)
            .map(|(a, b)| a + b)
            .collect();
        // The items are a sample of P: the bound's mean estimates H(P) with the spread of the
        // items and of the Monte Carlo draws together, both in the standard error; four of
        // them (a false failure one time in ~16 000).
        let se = standard_error(&total);
        assert!(
            (mean(&total) - entropy).abs() < 4.0 * se,
            "K = {k}: L∞ + Lr = {} ± {se}, H = {entropy}",
            mean(&total)
        );
        assert!(
            mean(&discrete) > entropy - 4.0 * standard_error(&discrete),
            "K = {k}: Lⁿ + Lr = {} below H = {entropy}",
            mean(&discrete)
        );
    }
}
