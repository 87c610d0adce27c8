//! The registered f-divergences: `forward-kl`, `reverse-kl`, `chi2`, `hellinger`,
//! `jensen-shannon`, `total-variation` and `alpha`. Each is a config type with the chain
//! settings (`steps`, `loss_weight`, `tolerance`, `max_iterations`) and its own parameters, a
//! `gpfn_core::value_divergence::ValueDivergence` whose value is one of [`crate::values`] (with
//! the closed-form derivatives of [`crate::derivatives`] where they exist); core's chain does
//! the rest. Each also acts on categorical beliefs (`[belief] name = "categorical"`) with the
//! same `f`: its proximal step and simulated flow on the simplex are [`crate::simplex`]'s,
//! on a grid of `steps` steps.

use crate::simplex::{SimplexF, simulated_flow};
use crate::{derivatives, values};
use gpfn_core::belief::DiagGaussian;
use gpfn_core::belief::categorical::{Categorical, CategoricalFamily};
use gpfn_core::burn::tensor::Tensor;
use gpfn_core::divergence::{CategoricalMaths, Proximal};
use gpfn_core::proximal_solver::CoordinateDerivatives;
use gpfn_core::rng::Rng;
use gpfn_core::value_divergence::{
    ChainSettings, LossWeight, ValueDivergence, default_max_iterations, default_steps,
    default_tolerance,
};
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;

fn nonzero_steps() -> NonZeroUsize {
    NonZeroUsize::new(default_steps()).unwrap_or(NonZeroUsize::MIN)
}

fn default_alpha() -> f64 {
    0.5
}

fn default_nodes() -> NonZeroUsize {
    NonZeroUsize::new(48).unwrap_or(NonZeroUsize::MIN)
}

macro_rules! f_divergence {
    (
        $(#[$meta:meta])*
        $ty:ident, $name:literal, $desc:literal,
        { $( $(#[$fmeta:meta])* $field:ident : $fty:ty = $fdefault:expr ),* $(,)? },
        |$this:ident, $p:ident, $q:ident| $value:expr,
        derivatives: $derivatives:expr,
        simplex: $simplex:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            /// Steps `n` of the grid the flow distribution is simulated on (sample with
            /// `sampler.steps = n`), on Gaussian and on categorical beliefs alike.
            #[serde(default = "nonzero_steps")]
            pub steps: NonZeroUsize,
            /// Training-loss weighting on Gaussian beliefs (on the simplex the loss is discrete
            /// BFN's `K β(1) t ‖e_x − p̂‖²`, [`crate::simplex`]).
            #[serde(default)]
            pub loss_weight: LossWeight,
            /// Proximal solver tolerance (largest Newton step in `m/s` and `ln s`; Gaussian
            /// beliefs only: the simplex's step is closed-form up to its bisection).
            #[serde(default = "default_tolerance")]
            pub tolerance: f64,
            /// Proximal solver iteration cap.
            #[serde(default = "default_max_iterations")]
            pub max_iterations: usize,
            $( $(#[$fmeta])* pub $field: $fty, )*
        }

        impl Default for $ty {
            fn default() -> Self {
                $ty {
                    steps: nonzero_steps(),
                    loss_weight: LossWeight::default(),
                    tolerance: default_tolerance(),
                    max_iterations: default_max_iterations(),
                    $( $field: $fdefault, )*
                }
            }
        }

        impl ValueDivergence for $ty {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $desc;

            /// `D(p, q)` per row, summed over coordinates.
            fn value(&self, $p: &DiagGaussian, $q: &DiagGaussian) -> Tensor<1> {
                let $this = self;
                $value
            }

            /// Every f-divergence acts on the simplex too ([`crate::simplex`]).
            fn on_simplex(&self) -> Option<&dyn CategoricalMaths> {
                Some(self)
            }

            fn settings(&self) -> ChainSettings {
                ChainSettings {
                    steps: self.steps.get(),
                    loss_weight: self.loss_weight,
                    tolerance: self.tolerance,
                    max_iterations: self.max_iterations,
                }
            }

            /// The closed-form per-coordinate derivatives of the value for the generic
            /// solver (`None`: the solver differentiates the value by autodiff).
            // Divergences without them ignore their arguments.
            #[allow(unused_variables)]
            fn coordinate_derivatives(
                &self,
                $p: &DiagGaussian,
                $q: &DiagGaussian,
            ) -> Option<CoordinateDerivatives> {
                let $this = self;
                $derivatives
            }
        }

        impl $ty {
            /// Its `f` on the simplex ([`crate::simplex`]).
            // Divergences without parameters ignore `self`.
            #[allow(unused_variables)]
            pub fn simplex_f(&self) -> SimplexF {
                let $this = self;
                $simplex
            }
        }

        impl Proximal<Categorical> for $ty {
            /// `D_f(p ‖ q) = Σ_{j,k} q_jk f(p_jk/q_jk)` per row.
            fn value(&self, p: &Categorical, q: &Categorical) -> Tensor<1> {
                self.simplex_f().value(p, q)
            }

            /// `argmin_p α E_p[½‖e − y‖²] + D_f(p, prev)`: `p_k = q_k (f')⁻¹(α y_k + λ)` per
            /// variable ([`crate::simplex`]).
            fn prox(&self, prev: &Categorical, y: &Tensor<2>, alpha: f64) -> Result<Categorical> {
                check_simplex_step::<$ty>(prev, y, alpha)?;
                let f = self.simplex_f();
                f.check()?;
                Ok(f.step(prev, y.clone().mul_scalar(alpha)))
            }
        }

        impl CategoricalMaths for $ty {
            /// The law of the chain itself on the `steps`-step grid
            /// ([`crate::simplex::simulated_flow`]).
            fn flow(
                &self,
                family: &CategoricalFamily,
                e_x: &Categorical,
                t: &[f64],
                rng: &mut Rng,
            ) -> Result<Categorical> {
                let f = self.simplex_f();
                f.check()?;
                simulated_flow(&f, family, e_x, t, self.steps.get(), rng)
            }
        }

        gpfn_core::value_divergence!($ty);
    };
}

/// A step's input: `α ≥ 0` finite, `y` of the belief's shape; errors name the divergence.
fn check_simplex_step<T: ValueDivergence>(
    prev: &Categorical,
    y: &Tensor<2>,
    alpha: f64,
) -> Result<()> {
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(GpfnError::Invalid(format!(
            "divergence `{}` on categorical beliefs: accuracy α = {alpha} must be finite and ≥ 0",
            T::NAME
        )));
    }
    if y.dims() != prev.probs.dims() {
        return Err(GpfnError::Shape(format!(
            "divergence `{}` on categorical beliefs: observation {:?} for beliefs {:?}",
            T::NAME,
            y.dims(),
            prev.probs.dims()
        )));
    }
    Ok(())
}

f_divergence!(
    /// `KL(p ‖ q)` through the generic solver: the same step as the exact `kl` plugin (BFN),
    /// computed numerically; registered as `forward-kl` because `kl` is the closed form.
    ForwardKl, "forward-kl",
    "KL(p‖q) through the generic numerical proximal solver (the closed form is `kl`)",
    {},
    |_this, p, q| values::forward_kl(p, q),
    derivatives: Some(derivatives::forward_kl(p, q)),
    simplex: SimplexF::ForwardKl
);

f_divergence!(
    /// Reverse KL, `KL(q ‖ p)`: mode-seeking in the new belief.
    ReverseKl, "reverse-kl",
    "reverse KL(q‖p) between diagonal Gaussians, generic numerical proximal step",
    {},
    |_this, p, q| values::reverse_kl(p, q),
    derivatives: Some(derivatives::reverse_kl(p, q)),
    simplex: SimplexF::ReverseKl
);

f_divergence!(
    /// Pearson χ²(p ‖ q); `+∞` outside `2 s_q² > s_p²`.
    Chi2, "chi2",
    "Pearson χ²(p‖q) between diagonal Gaussians (finite for 2σ_q² > σ_p²), numerical step",
    {},
    |_this, p, q| values::chi2(p, q),
    derivatives: Some(derivatives::chi2(p, q)),
    simplex: SimplexF::Chi2
);

f_divergence!(
    /// Squared Hellinger distance `H² = 1 − ∫√(pq)` per coordinate, summed.
    Hellinger, "hellinger",
    "squared Hellinger 1 − ∫√(pq) per coordinate, summed; numerical proximal step",
    {},
    |_this, p, q| values::squared_hellinger(p, q),
    derivatives: Some(derivatives::squared_hellinger(p, q)),
    simplex: SimplexF::Hellinger
);

f_divergence!(
    /// Jensen–Shannon divergence by Gauss–Hermite quadrature.
    JensenShannon, "jensen-shannon",
    "Jensen–Shannon divergence by Gauss–Hermite quadrature; numerical proximal step",
    {
        /// Gauss–Hermite nodes per expectation.
        #[serde(default = "default_nodes")]
        nodes: NonZeroUsize = default_nodes(),
    },
    |this, p, q| values::jensen_shannon(p, q, this.nodes.get()),
    derivatives: None,
    simplex: SimplexF::JensenShannon
);

f_divergence!(
    /// Total variation `½∫|p − q|` per coordinate, summed (closed form through the crossing
    /// points of the densities). Not differentiable at `p = q`.
    TotalVariation, "total-variation",
    "total variation ½∫|p − q| per coordinate, summed (exact); numerical proximal step",
    {},
    |_this, p, q| values::total_variation(p, q),
    derivatives: None,
    simplex: SimplexF::TotalVariation
);

f_divergence!(
    /// Amari's α-divergence `(1 − ∫p^α q^{1−α})/(α(1 − α))`; α → 1 is `KL(p ‖ q)`, α → 0 is
    /// `KL(q ‖ p)`, α = ½ is `4 H²`, α = 2 is `χ²/2`.
    AlphaDivergence, "alpha",
    "Amari α-divergence (parameter alpha; 1: KL(p‖q), 0: KL(q‖p)), numerical proximal step",
    {
        /// The divergence's α (any real; the value is `+∞` where `∫p^α q^{1−α}` diverges).
        #[serde(default = "default_alpha")]
        alpha: f64 = default_alpha(),
    },
    |this, p, q| values::alpha_divergence(p, q, this.alpha),
    derivatives: Some(derivatives::alpha_divergence(p, q, this.alpha)),
    simplex: SimplexF::alpha(this.alpha)
);
