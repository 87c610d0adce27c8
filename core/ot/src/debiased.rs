//! The debiased Sinkhorn divergence
//! `S_ε(a, b) = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b)`.
//!
//! With the entropic cost relative to `a⊗b` and a cost whose Gibbs kernel `exp(−C/ε)` is
//! positive definite (the squared Euclidean cost's Gaussian kernel is), `S_ε` is symmetric,
//! non-negative and zero only when `a = b` (Feydy et al. 2019, Theorem 1); it interpolates
//! between `OT_0` (ε → 0) and an energy distance / MMD (ε → ∞).
//!
//! The cross problem is solved by alternating Sinkhorn ([`Sinkhorn::solve`]), the two
//! symmetric ones by the averaged update ([`Sinkhorn::solve_symmetric`]), each to the
//! solver's tolerance.

use super::sinkhorn::{Sinkhorn, SinkhornSolution};
use burn::tensor::Tensor;
use gpfn_core::Result;

/// `S_ε` per problem of the batch, with the three transport problems it is made of.
#[derive(Clone, Debug)]
pub struct DebiasedSinkhorn {
    /// `S_ε(a, b)`, `[batch]`.
    pub value: Tensor<1>,
    /// The problem between `x` and `y`.
    pub xy: SinkhornSolution,
    /// The symmetric problem of `x`.
    pub xx: SinkhornSolution,
    /// The symmetric problem of `y`.
    pub yy: SinkhornSolution,
}

impl DebiasedSinkhorn {
    /// Whether all three problems reached the solver's tolerance.
    pub fn converged(&self) -> bool {
        self.xy.converged && self.xx.converged && self.yy.converged
    }
}

impl Sinkhorn {
    /// The debiased Sinkhorn divergence between `(x, a)` and `(y, b)` (shapes as in
    /// [`Sinkhorn::solve`]).
    pub fn divergence(
        &self,
        x: &Tensor<3>,
        y: &Tensor<3>,
        a: Option<&Tensor<2>>,
        b: Option<&Tensor<2>>,
    ) -> Result<DebiasedSinkhorn> {
        let xy = self.solve(x, y, a, b)?;
        let xx = self.solve_symmetric(x, a)?;
        let yy = self.solve_symmetric(y, b)?;
        let value = xy.entropic_cost() - (xx.entropic_cost() + yy.entropic_cost()).mul_scalar(0.5);
        Ok(DebiasedSinkhorn { value, xy, xx, yy })
    }
}
