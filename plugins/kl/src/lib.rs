//! # gpfn-kl: Bayesian Flow Networks recovered
//!
//! With `D = KL(p ‖ p_{i−1})` the proximal step
//! `argmin_p α E_p[½‖x − y‖²] + KL(p ‖ p_{i−1})` is Bayes' rule with the likelihood
//! `N(y; x, α⁻¹ I)`. On the diagonal-Gaussian belief `N(μ, ρ⁻¹)`:
//!
//! ```text
//! ρ_i = ρ_{i−1} + α_i,     μ_i = (ρ_{i−1} μ_{i−1} + α_i y_i) / ρ_i
//! ```
//!
//! With BFN's schedule `α_i = σ₁^{−2i/n}(1 − σ₁^{2/n})` and prior `μ₀ = 0, ρ₀ = 1` this is the
//! BFN update for continuous data (Graves et al. 2023): flow distribution
//! `μ ~ N(γ x, γ(1−γ) I)`, `γ(t) = 1 − σ₁^{2t}`, continuous-time loss
//! `−ln σ₁ · σ₁^{−2t} ‖x − x̂‖²`, discrete-time loss `n/2 · α_i ‖x − x̂‖²`.
//!
//! On categorical beliefs (`[belief] name = "categorical"`) the same step is Bayes' rule
//! `θ' ∝ θ e^{y}` with the sender `y ~ N(α(K e_x − 1), α K I)`: BFN for discrete data, whose
//! flow is `θ = softmax(y)`, `y ~ N(β(t)(K e_x − 1), β(t) K I)`.

mod categorical;
mod divergence;

pub use divergence::{KlDivergence, KlLoss, KlMaths, kl_diag_gaussian};
