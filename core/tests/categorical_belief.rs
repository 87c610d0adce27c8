//! Beliefs are generic: a categorical family — a probability vector over `K` classes per
//! coordinate, updated by Bayes' rule as in discrete BFN (Graves et al. 2023, §6) — needs its
//! own belief type and proximal maths only. Nothing of the Gaussian families or plugins is
//! touched, and the proximal objective and the conformance kit's optimality contract
//! ([`prox_optimality`]) apply to it as they are. Test-only: gpfn has no categorical family.
//!
//! Observations live in `R^{d·K}`: class `k` of coordinate `j` is the one-hot `e_k` in block
//! `j`. Then `E_p[½‖x − y‖²] = Σ_j (½ − ⟨p_j, y_j⟩ + ½‖y_j‖²)`, and the proximal step under
//! `D = KL(p ‖ q)`,
//!
//! ```text
//! argmin_p  α Σ_j (½ − ⟨p_j, y_j⟩ + ½‖y_j‖²) + Σ_j KL(p_j ‖ q_j),
//! ```
//!
//! is Bayes' rule with likelihood `e^{α y_jk}`: `p_jk ∝ q_jk e^{α y_jk}` (Gibbs' variational
//! principle) — discrete BFN's update `θ' ∝ e^{y} θ` with its sender sample `y` in the role of
//! `α y` here.

use gpfn_core::Result;
use gpfn_core::belief::Belief;
use gpfn_core::burn::tensor::activation::softmax;
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::conformance::prox_optimality;
use gpfn_core::divergence::{Proximal, prox_objective};
use gpfn_core::rng::Rng;

/// A batch of categorical beliefs: `probs` is `[batch, d·K]`, each block of `K` a probability
/// vector.
#[derive(Clone, Debug)]
struct Categorical {
    probs: Tensor<2>,
    classes: usize,
}

impl Categorical {
    /// Normalises `exp(logits)` within each block of `K`.
    fn with_logits(&self, logits: Tensor<2>) -> Categorical {
        let [b, w] = logits.dims();
        let blocks = logits.reshape([b, w / self.classes, self.classes]);
        Categorical {
            probs: softmax(blocks, 2).reshape([b, w]),
            classes: self.classes,
        }
    }
}

impl Belief for Categorical {
    /// `Σ_j (½ − ⟨p_j, y_j⟩ + ½‖y_j‖²)` per row.
    fn expected_half_sq_dist(&self, y: &Tensor<2>) -> Tensor<1> {
        let d = y.dims()[1] / self.classes;
        let inner = (self.probs.clone() * y.clone())
            .sum_dim(1)
            .squeeze_dim::<1>(1);
        let norm = y
            .clone()
            .square()
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .mul_scalar(0.5);
        (norm - inner).add_scalar(0.5 * d as f64)
    }

    fn parameters(&self) -> &'static [&'static str] {
        &["logit"]
    }

    fn parameter_dims(&self, _which: usize) -> [usize; 2] {
        self.probs.dims()
    }

    /// A move of `δ` in the (unnormalised) log-probabilities.
    fn perturbed(&self, _which: usize, delta: &Tensor<2>) -> Self {
        self.with_logits(self.probs.clone().log() + delta.clone())
    }
}

/// `KL(p ‖ q)` on categorical beliefs, with Bayes' rule as its proximal step.
struct CategoricalKl;

impl Proximal<Categorical> for CategoricalKl {
    fn value(&self, p: &Categorical, q: &Categorical) -> Tensor<1> {
        (p.probs.clone() * (p.probs.clone().log() - q.probs.clone().log()))
            .sum_dim(1)
            .squeeze_dim(1)
    }

    /// Bayes' rule `p_jk ∝ q_jk e^{α y_jk}`.
    fn prox(&self, prev: &Categorical, y: &Tensor<2>, alpha: f64) -> Result<Categorical> {
        Ok(prev.with_logits(prev.probs.clone().log() + y.clone().mul_scalar(alpha)))
    }
}

/// A wrong step (it ignores the observation), to show the contract can fail.
struct Stubborn;

impl Proximal<Categorical> for Stubborn {
    fn value(&self, p: &Categorical, q: &Categorical) -> Tensor<1> {
        CategoricalKl.value(p, q)
    }

    fn prox(&self, prev: &Categorical, _y: &Tensor<2>, _alpha: f64) -> Result<Categorical> {
        Ok(prev.clone())
    }
}

fn random(rows: usize, cols: usize, rng: &mut Rng, device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(rng.normals(rows * cols), [rows, cols]),
        device,
    )
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn bayes_rule_is_the_closed_form() {
    let device = Device::flex();
    // One row, one coordinate, K = 3: q = (0.2, 0.3, 0.5), y = e_1, α = ln 2 doubles class 1:
    // p ∝ (0.4, 0.3, 0.5), i.e. (1/3, 1/4, 5/12).
    let q = Categorical {
        probs: Tensor::from_data(TensorData::new(vec![0.2f32, 0.3, 0.5], [1, 3]), &device),
        classes: 3,
    };
    let y = Tensor::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0], [1, 3]), &device);
    let p = CategoricalKl.prox(&q, &y, 2f64.ln()).unwrap();
    let want = [1.0 / 3.0, 0.25, 5.0 / 12.0];
    for (a, b) in host(p.probs).iter().zip(want) {
        // A softmax of O(1) logits in f32: a few ulps of 1.
        approx::assert_abs_diff_eq!(*a as f64, b, epsilon = 1e-6);
    }
}

#[test]
fn the_optimality_contract_holds_for_categorical_beliefs() {
    let device = Device::flex();
    let mut rng = Rng::seed(7);
    let (b, d, k) = (6, 2, 4);
    let template = Categorical {
        probs: Tensor::zeros([b, d * k], &device),
        classes: k,
    };
    let prev = template.with_logits(random(b, d * k, &mut rng, &device));
    let y = random(b, d * k, &mut rng, &device);
    for alpha in [0.1, 1.0, 10.0] {
        let worst = prox_optimality(&CategoricalKl, &prev, &y, alpha, 0.03).unwrap();
        assert!(
            worst >= 0.0,
            "α = {alpha}: a perturbation lowered J ({worst:e})"
        );
        // The generic proximal objective applies to this family too: the step lowers it.
        let p = CategoricalKl.prox(&prev, &y, alpha).unwrap();
        let j = host(prox_objective(&CategoricalKl, &p, &prev, &y, alpha));
        let j_prev = host(prox_objective(&CategoricalKl, &prev, &prev, &y, alpha));
        assert!(
            j.iter().zip(&j_prev).all(|(a, b)| a <= b),
            "{j:?} vs {j_prev:?}"
        );
    }
    let worst = prox_optimality(&Stubborn, &prev, &y, 1.0, 0.03).unwrap();
    assert!(
        worst < 0.0,
        "a step that ignores y must fail the contract ({worst:e})"
    );
}
