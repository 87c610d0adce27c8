//! KL on categorical beliefs is discrete BFN (Graves et al. 2023, §6): Bayes' rule in closed
//! form, `n` sender samples applied one by one equal one softmax of their sum, the flow is the
//! chain's marginal (the conformance kit's simplex contracts), and a step that ignores its
//! observation fails the optimality contract.

use approx::assert_abs_diff_eq;
use gpfn_core::Result;
use gpfn_core::belief::categorical::{
    Categorical, CategoricalFamily, one_hot, sender_bridge, sender_sample,
};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::conformance::{Options, check, prox_optimality};
use gpfn_core::divergence::{
    CategoricalMaths, CategoricalProblem, Divergence, KnownClasses, Noise, Proximal,
    categorical_chain, categorical_repaint_chain,
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

/// KL's categorical chain over `[batch, D, K]` with `predictor` and the `known` variables.
fn kl_problem<'a>(
    family: &'a CategoricalFamily,
    predictor: &'a (dyn Fn(Tensor<2>, f64) -> Tensor<2> + 'a),
    [batch, dim, classes]: [usize; 3],
    known: &'a KnownClasses,
) -> CategoricalProblem<'a> {
    static KL: std::sync::LazyLock<KlDivergence> = std::sync::LazyLock::new(KlDivergence::default);
    CategoricalProblem {
        divergence: &*KL,
        family,
        classes,
        predictor,
        batch,
        dim,
        device: Device::flex(),
        known: Some(known),
    }
}

/// Masked completion on the simplex: with the known variables' output distribution replaced
/// by their data's one-hot ([`KnownClasses`]), BFN's chain observes them through the sender of
/// their true class, `y_i ~ N(α_i (K e_x − 1), α_i K I)`, so their beliefs at `t = 1` are the
/// flow distribution's `θ = softmax(y)`, `y ~ N(β(1)(K e_x − 1), β(1) K I)`, whatever the
/// network says; the unknown variables follow the network, and the known ones end as `x`.
/// For `j ≠ x`, `ln θ_x − ln θ_j = y_x − y_j ~ N(β K, 2 β K)` (mean 9, variance 18 at
/// `β(1) = 3`, `K = 3`). With 2 000 known variables the sample mean's standard error is
/// `√(18/2000)` ≈ 0.095 and the variance's `18 √(2/2000)` ≈ 0.57: 5 of each.
///
/// The same holds with RePaint's resampling (`jumps = 3`): each redo carries the beliefs back
/// by the sender's bridge, which maps the flow at `β_i` to the flow at `β_{i−1}`, and the
/// retaken step brings them to `β_i` again; the network is called `3 n + 1` times.
#[test]
fn known_classes_follow_the_flow_and_end_as_the_data() {
    for jumps in [1, 3] {
        known_classes_follow_the_flow_with(jumps);
    }
}

fn known_classes_follow_the_flow_with(jumps: usize) {
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
    let problem = kl_problem(&family, &predictor, [b, d, k], &known);
    let end = categorical_repaint_chain(
        &problem,
        20,
        Noise::Stochastic { eta: 1.0 },
        jumps,
        &mut Rng::seed(9),
    )
    .unwrap();
    assert_eq!(end.evaluations, 20 * jumps + 1);
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
        "jumps {jumps}: mean {mean}"
    );
    assert!(
        (var - want_var).abs() < 5.0 * want_var * (2.0 / n).sqrt(),
        "jumps {jumps}: variance {var}"
    );
}

/// `(mean, variance)` over rows of `ln θ_x − ln θ_{x+1 mod K}` for variable 0 of class
/// `x = i mod K` in row `i` (`theta: [b, K]`, one variable).
fn gap_moments(theta: &[f32], k: usize) -> (f64, f64) {
    let b = theta.len() / k;
    let gaps: Vec<f64> = (0..b)
        .map(|i| {
            let c = i % k;
            (theta[i * k + c] as f64).ln() - (theta[i * k + (c + 1) % k] as f64).ln()
        })
        .collect();
    let n = b as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    (
        mean,
        gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

/// RePaint's kernel on the simplex (`sender_bridge`, KL's `CategoricalRenoise`): beliefs drawn
/// from the flow at `t = 1` (`β = 3`, `K = 3`) and carried back to `t = 0.5` (`β' = 0.75`)
/// are the flow at `t = 0.5`, for every class, without the kernel knowing the class:
/// `ln θ_x − ln θ_j ~ N(β'K, 2β'K) = N(2.25, 4.5)`. With 8 000 rows the standard errors are
/// 0.024 (mean) and 0.071 (variance); the test allows 5 of each. The bridge to `t = 0` is
/// the uniform prior; a kernel asked to go forward in time is an error.
#[test]
fn the_sender_bridge_carries_the_flow_back_in_time() {
    let device = Device::flex();
    let family = CategoricalFamily::default();
    let (k, b) = (3usize, 8000usize);
    let x: Vec<f32> = (0..b).map(|i| (i % k) as f32).collect();
    let e_x = Categorical {
        probs: one_hot(&tensor(x, [b, 1], &device), k),
        classes: k,
    };
    let mut rng = Rng::seed(21);
    let at_one = KlMaths
        .flow(&family, &e_x, &vec![1.0; b], &mut rng)
        .unwrap();
    let kernel = KlMaths.renoise_kernel().expect("kl has a kernel");
    let back = kernel
        .renoise(&family, &at_one, (1.0, 0.5), &mut rng)
        .unwrap();
    let (mean, var) = gap_moments(&host(back.probs), k);
    let beta = family.beta(0.5);
    let (want_mean, want_var) = (beta * k as f64, 2.0 * beta * k as f64);
    let n = b as f64;
    assert!(
        (mean - want_mean).abs() < 5.0 * (want_var / n).sqrt(),
        "mean {mean} against {want_mean}"
    );
    assert!(
        (var - want_var).abs() < 5.0 * want_var * (2.0 / n).sqrt(),
        "variance {var} against {want_var}"
    );
    // Before the bridge, the flow at t = 1: mean 9, far from 2.25.
    assert!(gap_moments(&host(at_one.probs.clone()), k).0 > 8.0);

    let prior = sender_bridge(&at_one, family.beta(1.0), 0.0, &mut rng);
    assert!(host(prior.probs).iter().all(|&p| p == 1.0 / 3.0));
    let e = kernel
        .renoise(&family, &at_one, (0.5, 1.0), &mut rng)
        .unwrap_err()
        .to_string();
    assert!(e.contains("back in time"), "{e}");
}

/// The joint of two variables with `K = 3` classes that agree with probability 0.8:
/// `p(a, a) = 0.8/3`, `p(a, b) = 0.1/3` for `b ≠ a`.
fn agreeing_pair(a: usize, b: usize) -> f64 {
    if a == b { 0.8 / 3.0 } else { 0.1 / 3.0 }
}

/// The exact output distribution of BFN's network for [`agreeing_pair`] data, as logits:
/// the flow's likelihood of class `c` for a variable is `∝ θ_c` (`y ~ N(β(K e_c − 1), βK)`
/// gives `p(y | c) ∝ e^{y_c}` and `θ = softmax(y)`), so `p(x | θ) ∝ p(x) θ_{0,x₀} θ_{1,x₁}`
/// and variable `j`'s marginal is the sum over the other's class. Input and output are
/// class-major `[rows, K·2]` (entry `c·2 + j`).
fn exact_pair_logits(input: Tensor<2>) -> Tensor<2> {
    let [rows, w] = input.dims();
    let device = input.device();
    let theta = host(input);
    let mut out = Vec::with_capacity(rows * w);
    for r in 0..rows {
        let at = |c: usize, j: usize| theta[r * w + c * 2 + j] as f64;
        let mut marginal = [[0.0f64; 2]; 3];
        for a in 0..3 {
            for b in 0..3 {
                let p = agreeing_pair(a, b) * at(a, 0) * at(b, 1);
                marginal[a][0] += p;
                marginal[b][1] += p;
            }
        }
        for row in marginal {
            out.extend(row.iter().map(|&p| p.max(f64::MIN_POSITIVE).ln() as f32));
        }
    }
    tensor(out, [rows, w], &device)
}

/// RePaint's resampling on the simplex (`categorical_repaint_chain`, KL's sender bridge) moves
/// a masked completion towards the conditional law. Data [`agreeing_pair`], the exact network
/// [`exact_pair_logits`], 20 stochastic steps at the default `β(1) = 3`; the first variable is
/// known to be 0, so the second should be 0 with probability 0.8. Replacement alone
/// (`U = 1`) under-uses the known variable, whose belief the network sees only through its
/// noisy flow, as on the Gaussian (cli/tests/completion_gaussian.rs). Measured with 4 000
/// rows (standard error of a share ≈ 0.007): the second variable is 0 in 0.55 of the rows at
/// `U = 1`, 0.69 at `U = 5`, 0.75 at `U = 20`; the unconditional chain with the same network
/// makes the two agree in 0.78 of the rows, the 20-step sampler's own limit. The test asserts
/// the direction and size: the gap to 0.8 shrinks at every `U`, at `U = 20` is under a third
/// of `U = 1`'s, and the unconditional agreement is within 0.05 of 0.8.
#[test]
fn resampling_moves_categorical_completion_towards_the_conditional_law() {
    let device = Device::flex();
    let (k, b, d) = (3usize, 4000usize, 2usize);
    let family = CategoricalFamily::default();
    let x = tensor(vec![0.0; b * d], [b, d], &device);
    let mask: Vec<f32> = (0..b).flat_map(|_| [1.0, 0.0]).collect();
    let known = KnownClasses::new(&x, tensor(mask, [b, d], &device), k);
    let predictor = |input: Tensor<2>, _t: f64| exact_pair_logits(input);
    let problem = kl_problem(&family, &predictor, [b, d, k], &known);
    let stochastic = Noise::Stochastic { eta: 1.0 };
    // The share of rows `i` for which `holds(i)`.
    let share =
        |holds: &dyn Fn(usize) -> bool| (0..b).filter(|&i| holds(i)).count() as f64 / b as f64;
    let mut gaps = Vec::new();
    for jumps in [1usize, 5, 20] {
        let end =
            categorical_repaint_chain(&problem, 20, stochastic, jumps, &mut Rng::seed(5)).unwrap();
        let sample = host(end.sample);
        assert!((0..b).all(|i| sample[i * d] == 0.0), "the known variable");
        let zero = share(&|i| sample[i * d + 1] == 0.0);
        eprintln!("U = {jumps}: the second variable is 0 in {zero} of the rows");
        gaps.push(0.8 - zero);
    }
    assert!(gaps[0] > gaps[1] && gaps[1] > gaps[2], "gaps {gaps:?}");
    assert!(gaps[2].abs() < gaps[0] / 3.0, "gaps {gaps:?}");

    let free = CategoricalProblem {
        known: None,
        ..problem
    };
    let sample = host(
        categorical_chain(&free, 20, stochastic, &mut Rng::seed(5))
            .unwrap()
            .sample,
    );
    let agree = share(&|i| sample[i * d] == sample[i * d + 1]);
    assert!(
        (agree - 0.8).abs() < 0.05,
        "unconditional agreement {agree}"
    );
}
