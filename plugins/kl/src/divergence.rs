//! The `kl` divergence.

use gpfn_core::Result;
use gpfn_core::belief::{BeliefFamily, BeliefState, DiagGaussian};
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::{
    CategoricalMaths, Divergence, DivergenceMaths, Noise, Objective, ProxStep, Proximal, column,
    sender_step,
};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::precision::{discrete_loss_weight, discrete_time, precision_gain};
use gpfn_core::schedule::{BfnGeometric, Schedule};
use serde::{Deserialize, Serialize};

gpfn_core::register_plugin!(
    Divergence,
    "kl",
    "KL(p‖q): Bayes' rule; with bfn-geometric this is exactly BFN for continuous data"
);

/// Which of BFN's losses to train with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KlLoss {
    /// `L∞ = ½ ρ'(t) ‖x − x̂‖²`, `t ~ U[0, 1)` (BFN: `−ln σ₁ σ₁^{−2t} ‖x − x̂‖²`).
    #[default]
    Continuous,
    /// `Lⁿ = n/2 · α_i ‖x − x̂(θ_{i−1}, t_{i−1})‖²`, `i ~ U{1..n}`.
    Discrete,
}

/// KL divergence: the BFN plugin.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlDivergence {
    /// Training loss.
    #[serde(default)]
    pub loss: KlLoss,
    /// `n` of the discrete-time loss.
    #[serde(
        default = "default_discrete_steps",
        deserialize_with = "gpfn_core::check::at_least_one"
    )]
    pub discrete_steps: usize,
}

fn default_discrete_steps() -> usize {
    100
}

impl Default for KlDivergence {
    fn default() -> Self {
        KlDivergence {
            loss: KlLoss::Continuous,
            discrete_steps: default_discrete_steps(),
        }
    }
}

/// `KL(p ‖ q)` between diagonal Gaussians, per row:
/// `½ Σ_k [ s_p²/s_q² + (m_q − m_p)²/s_q² − 1 + 2 ln(s_q/s_p) ]`.
pub fn kl_diag_gaussian(p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
    let vq = q.std.clone().square();
    let ratio = p.std.clone().square() / vq.clone();
    let maha = (q.mean.clone() - p.mean.clone()).square() / vq;
    let log = (q.std.clone() / p.std.clone()).log().mul_scalar(2.0);
    (ratio + maha + log - 1.0)
        .sum_dim(1)
        .squeeze_dim(1)
        .mul_scalar(0.5)
}

/// The maths of `KL(p ‖ q)` on diagonal Gaussians: Bayes' rule and BFN's Bayesian flow. It
/// has no settings; `kl`'s settings choose its training objective.
#[derive(Clone, Copy, Debug, Default)]
pub struct KlMaths;

impl Proximal<DiagGaussian> for KlMaths {
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        kl_diag_gaussian(p, q)
    }

    /// Bayes: `ρ' = ρ + α`, `μ' = (ρ μ + α y)/ρ'`; `α = ∞` observes `y` exactly.
    fn prox(&self, prev: &DiagGaussian, y: &Tensor<2>, alpha: f64) -> Result<DiagGaussian> {
        if !alpha.is_finite() {
            return Ok(DiagGaussian {
                mean: y.clone(),
                std: prev.std.clone().mul_scalar(0.0),
            });
        }
        let rho = prev.precision();
        let rho_next = rho.clone().add_scalar(alpha);
        Ok(DiagGaussian {
            mean: (rho * prev.mean.clone() + y.clone().mul_scalar(alpha)) / rho_next.clone(),
            std: rho_next.sqrt().recip(),
        })
    }
}

impl DivergenceMaths for KlMaths {
    fn belief_families(&self) -> &'static [&'static str] {
        &["diag-gaussian", "categorical"]
    }

    /// Bayes' rule with BFN's sender: BFN's variational bounds.
    fn likelihood(&self) -> gpfn_core::divergence::Likelihood {
        gpfn_core::divergence::Likelihood::VariationalBound
    }

    fn default_schedule(&self) -> Box<dyn Schedule> {
        Box::new(BfnGeometric::default())
    }

    /// `α_i = ρ(κ_i) − ρ(κ_{i−1})`; with `bfn-geometric`, `σ₁^{−2i/n}(1 − σ₁^{2/n})`.
    fn accuracy(&self, step: &ProxStep) -> f64 {
        precision_gain(step.kappa_prev, step.kappa)
    }

    fn step(
        &self,
        _family: &dyn BeliefFamily,
        state: BeliefState,
        x_hat: &Tensor<2>,
        step: &ProxStep,
        noise: Noise,
        rng: &mut Rng,
    ) -> Result<BeliefState> {
        sender_step(self, state, x_hat, step, noise, rng)
    }

    /// BFN's Bayesian flow distribution `μ ~ N(γ x, γ(1−γ) I)` with `γ = κ(t)`.
    fn flow(
        &self,
        _family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        let [b, d] = x.dims();
        let device = x.device();
        let sd: Vec<f64> = kappa
            .iter()
            .map(|g| (g * (1.0 - g)).max(0.0).sqrt())
            .collect();
        Ok(x.clone() * column(kappa, &device)
            + rng.normal_tensor(b, d, &device) * column(&sd, &device))
    }

    fn flow_coefficients(&self, kappa: f64) -> Option<(f64, f64)> {
        Some((kappa, (kappa * (1.0 - kappa)).max(0.0).sqrt()))
    }
}

#[typetag::serde(name = "kl")]
impl Divergence for KlDivergence {
    fn maths(&self) -> &dyn DivergenceMaths {
        &KlMaths
    }

    fn objective(&self) -> &dyn Objective {
        self
    }

    /// Bayes' rule on the simplex: discrete BFN (`crate::categorical`).
    fn categorical(&self) -> Option<&dyn CategoricalMaths> {
        Some(&KlMaths)
    }
}

impl Objective for KlDivergence {
    /// Continuous: `½ ρ'(t) = ½ κ'(t)/(1 − κ(t))²` (BFN: `−ln σ₁ · σ₁^{−2t}`).
    /// Discrete: `n/2 · α_i` for `t = t_{i−1} = (i−1)/n`.
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64 {
        match self.loss {
            KlLoss::Continuous => {
                let k = schedule.kappa(t);
                0.5 * schedule.kappa_dot(t) / ((1.0 - k) * (1.0 - k))
            }
            KlLoss::Discrete => discrete_loss_weight(schedule, self.discrete_steps, t),
        }
    }

    fn sample_time(&self, rng: &mut Rng) -> f64 {
        match self.loss {
            KlLoss::Continuous => rng.uniform(),
            KlLoss::Discrete => discrete_time(self.discrete_steps, rng),
        }
    }
}
