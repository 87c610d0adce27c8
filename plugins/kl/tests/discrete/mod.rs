//! KL on categorical beliefs is discrete BFN (Graves et al. 2023, §6): Bayes' rule in closed
//! form, `n` sender samples applied one by one equal one softmax of their sum, the flow is the
//! chain's marginal (the conformance kit's simplex contracts), and a step that ignores its
//! observation fails the optimality contract.

use approx::assert_abs_diff_eq;
use gpfn_core::Result;
use gpfn_core::belief::categorical::{Categorical, CategoricalFamily, one_hot, sender_sample};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::conformance::{Options, check, prox_optimality};
use gpfn_core::divergence::{
    CategoricalMaths, CategoricalProblem, Divergence, KnownClasses, Noise, Proximal,
    categorical_chain,
};
use gpfn_core::rng::Rng;
use gpfn_kl::{KlDivergence, KlMaths};

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn tensor(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[test]
fn bayes_rule_on_the_simplex_is_the_closed_form() {
    let device = Device::flex();
    // One variable, K = 3 (class-major: one column per class): θ = (0.2, 0.3, 0.5),
    // ỹ = e_0, α = ln 2 doubles class 0: θ' ∝ (0.4, 0.3, 0.5) = (1/3, 1/4, 5/12).
    let q = Categorical {
        probs: tensor(vec![0.2, 0.3, 0.5], [1, 3], &device),
        classes: 3,
    };
    let y = tensor(vec![1.0, 0.0, 0.0], [1, 3], &device);
    let p = KlMaths.prox(&q, &y, 2f64.ln()).unwrap();
    for (a, b) in host(p.probs).iter().zip([1.0 / 3.0, 0.25, 5.0 / 12.0]) {
        // A softmax of O(1) logits in f32: a few ulps of 1.
        assert_abs_diff_eq!(*a as f64, b, epsilon = 1e-6);
    }
}

#[test]
fn n_sender_samples_applied_one_by_one_equal_the_softmax_of_their_sum() {
    let device = Device::flex();
    let (b, d, k, n) = (5, 4, 3, 10);
    let family = CategoricalFamily::default();
    let mut rng = Rng::seed(3);
    let x = tensor(
        (0..b * d).map(|i| ((i * 7) % k) as f32).collect(),
        [b, d],
        &device,
    );
    let e_x = one_hot(&x, k);
    let mut theta = Categorical::uniform(b, d, k, &device);
    let mut sum = Tensor::<2>::zeros([b, k * d], &device);
    for i in 1..=n {
        let alpha = family.alpha(i, n);
        let y = sender_sample(&e_x, k, &vec![alpha; b], &mut rng);
        sum = sum + y.clone();
        // The proximal step sees ỹ = y/α at accuracy α: θ' ∝ θ e^{y}.
        theta = KlMaths.prox(&theta, &y.div_scalar(alpha), alpha).unwrap();
    }
    let closed = Categorical::from_logits(sum, k);
    for (a, c) in host(theta.probs).iter().zip(host(closed.probs)) {
        // n = 10 chained softmaxes of logits of size ≲ β(1) K = 9 in f32: relative rounding
        // of ~1e-7 per step on values ≤ 1, amplified by the logits' size; 1e-5 bounds it.
        assert_abs_diff_eq!(*a, c, epsilon = 1e-5);
    }
    // The accuracies add up to β(1): Σ_i β(1)(2i − 1)/n² = β(1).
    let total: f64 = (1..=n).map(|i| family.alpha(i, n)).sum();
    assert_abs_diff_eq!(total, family.beta(1.0), epsilon = 1e-12);
}

#[test]
fn kl_on_the_simplex_passes_the_conformance_kit() {
    let report = check(&KlDivergence::default(), &Options::default());
    let simplex: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.name.starts_with("categorical/"))
        .collect();
    // 3 optimality checks and 3 oracle checks (steps 1, n/2, n).
    assert_eq!(simplex.len(), 6, "{report}");
    assert!(simplex.iter().all(|c| c.passed), "{report}");
}

/// A wrong step (it ignores the observation), to show the contracts can fail.
#[derive(Clone, Debug)]
struct Stubborn;

impl Proximal<Categorical> for Stubborn {
    fn value(&self, p: &Categorical, q: &Categorical) -> Tensor<1> {
        KlMaths.value(p, q)
    }

    fn prox(&self, prev: &Categorical, _y: &Tensor<2>, _alpha: f64) -> Result<Categorical> {
        Ok(prev.clone())
    }
}

impl CategoricalMaths for Stubborn {
    fn flow(
        &self,
        family: &CategoricalFamily,
        e_x: &Categorical,
        t: &[f64],
        rng: &mut Rng,
    ) -> Result<Categorical> {
        KlMaths.flow(family, e_x, t, rng)
    }
}

#[test]
fn a_step_that_ignores_its_observation_fails_the_contracts() {
    let device = Device::flex();
    let mut rng = Rng::seed(7);
    let (b, k) = (6, 4);
    let prev = Categorical::from_logits(tensor(rng.normals(b * 2 * k), [b, 2 * k], &device), k);
    let y = tensor(rng.normals(b * 2 * k), [b, 2 * k], &device);
    let worst = prox_optimality(&Stubborn, &prev, &y, 1.0, 0.03).unwrap();
    assert!(worst < 0.0, "a step that ignores y must fail ({worst:e})");
    let worst = prox_optimality(&KlMaths, &prev, &y, 1.0, 0.03).unwrap();
    assert!(worst >= 0.0, "Bayes' rule is the proximal step ({worst:e})");
}

#[test]
fn kl_lists_the_categorical_family_and_supplies_its_maths() {
    let kl = KlDivergence::default();
    assert!(kl.maths().belief_families().contains(&"categorical"));
    assert!(kl.categorical().is_some());
}

/// Masked completion on the simplex: with the known variables' output distribution replaced
/// by their data's one-hot ([`KnownClasses`]), BFN's chain observes them through the sender of
/// their true class, `y_i ~ N(α_i (K e_x − 1), α_i K I)`, so their beliefs at `t = 1` are the
/// flow distribution's `θ = softmax(y)`, `y ~ N(β(1)(K e_x − 1), β(1) K I)`, whatever the
/// network says; the unknown variables follow the network, and the known ones end as `x`.
/// For `j ≠ x`, `ln θ_x − ln θ_j = y_x − y_j ~ N(β K, 2 β K)` (mean 9, variance 18 at
/// `β(1) = 3`, `K = 3`). With 2 000 known variables the sample mean's standard error is
/// `√(18/2000)` ≈ 0.095 and the variance's `18 √(2/2000)` ≈ 0.57: 5 of each.
#[test]
fn known_classes_follow_the_flow_and_end_as_the_data() {
    let device = Device::flex();
    let family = CategoricalFamily::default();
    let (k, b, d) = (3usize, 2000usize, 2usize);
    let beta = family.beta(1.0);
    // Variable 0 is known (class i mod 3 in row i); variable 1 is free.
    let x: Vec<f32> = (0..b).flat_map(|i| [(i % 3) as f32, 0.0]).collect();
    let mask: Vec<f32> = (0..b).flat_map(|_| [1.0, 0.0]).collect();
    let x = tensor(x, [b, d], &device);
    let mask = tensor(mask, [b, d], &device);
    let known = KnownClasses::new(&x, mask, k);
    // A network that always says "class 2" and records the beliefs it is shown at t = 1.
    let last = std::cell::RefCell::new(None);
    let predictor = |input: Tensor<2>, t: f64| {
        if t == 1.0 {
            *last.borrow_mut() = Some(input.clone());
        }
        let [rows, w] = input.dims();
        let logits: Vec<f32> = (0..rows * w)
            .map(|i| if (i % w) / d == 2 { 8.0 } else { 0.0 })
            .collect();
        tensor(logits, [rows, w], &device)
    };
    let problem = CategoricalProblem {
        divergence: &KlDivergence::default(),
        family: &family,
        classes: k,
        predictor: &predictor,
        batch: b,
        dim: d,
        device: device.clone(),
        known: Some(&known),
    };
    let end = categorical_chain(
        &problem,
        20,
        Noise::Stochastic { eta: 1.0 },
        &mut Rng::seed(9),
    )
    .unwrap();
    let sample = host(end.sample);
    for i in 0..b {
        assert_eq!(sample[i * d], (i % 3) as f32, "known variable of row {i}");
        assert_eq!(sample[i * d + 1], 2.0, "free variable of row {i}");
    }
    // θ at t = 1, class-major: θ[i, c·D + j].
    let theta = host(last.borrow_mut().take().expect("a call at t = 1"));
    let gaps: Vec<f64> = (0..b)
        .map(|i| {
            let c = i % 3;
            let other = (c + 1) % 3;
            let at = |class: usize| theta[i * k * d + class * d] as f64;
            at(c).ln() - at(other).ln()
        })
        .collect();
    let n = gaps.len() as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let (want_mean, want_var) = (beta * k as f64, 2.0 * beta * k as f64);
    assert!(
        (mean - want_mean).abs() < 5.0 * (want_var / n).sqrt(),
        "mean {mean}"
    );
    assert!(
        (var - want_var).abs() < 5.0 * want_var * (2.0 / n).sqrt(),
        "variance {var}"
    );
}
