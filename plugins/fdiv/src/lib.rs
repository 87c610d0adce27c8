//! # gpfn-fdiv: f-divergences through the generic proximal solver
//!
//! `D_f(p ‖ q) = ∫ q f(p/q)` between diagonal Gaussians, per coordinate and summed over
//! coordinates: `forward-kl`, `reverse-kl`, `chi2`, `hellinger` (squared), `jensen-shannon`,
//! `total-variation` and `alpha`. None has a closed-form proximal step
//!
//! ```text
//! p_i = argmin_p  α_i · E_{x~p}[ ½‖x − y_i‖² ]  +  D(p, p_{i−1})
//! ```
//!
//! (`forward-kl` has one, Bayes' rule, which the solver reproduces). Each is a
//! `gpfn_core::value_divergence::ValueDivergence`: this crate supplies the values
//! ([`values`]) and, where they exist, their closed-form derivatives ([`derivatives`]);
//! core's chain for divergences defined by their value does the rest: every step is taken by
//! `gpfn_core::proximal_solver`, the flow distribution used for training is simulated by
//! `gpfn_core::simulated_flow` on an `n`-step grid, accuracies are KL's precision gains
//! `α_i = ρ(κ_i) − ρ(κ_{i−1})`, `ρ = 1/(1 − κ)`, and the default schedule is `bfn-geometric`.
//!
//! Every one of them also acts on categorical beliefs (`[belief] name = "categorical"`,
//! [`simplex`]): `D_f(p ‖ q) = Σ q f(p/q)` with the same `f`, its proximal step
//! `p_k = q_k (f')⁻¹(α ỹ_k + λ)` with the multiplier `λ` of each variable found by bisection on
//! the device (closed forms for forward KL, Bayes' rule, and total variation), and its flow the
//! law of its own chain on the `steps`-step grid. Trained with discrete BFN's regression loss
//! `K β(1) t ‖e_x − p̂‖²` on those marginals — the GPFN objective, no likelihood bound
//! (`gpfn eval nll` refuses them).

pub mod derivatives;
mod divergences;
pub mod gauss_hermite;
pub mod simplex;
pub mod values;

pub use divergences::{
    AlphaDivergence, Chi2, ForwardKl, Hellinger, JensenShannon, ReverseKl, TotalVariation,
};
