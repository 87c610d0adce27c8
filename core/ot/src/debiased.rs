//! The debiased Sinkhorn divergence
//! `S_ε(a, b) = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b)`.
//!
//! With the entropic cost relative to `a⊗b` and a cost whose Gibbs kernel `exp(−C/ε)` is
//! positive definite (the squared Euclidean cost's Gaussian kernel is), `S_ε` is symmetric,
//! non-negative and zero only when `a = b` (Feydy et al. 2019, Theorem 1); it interpolates
//! between `OT_0` (ε → 0) and an energy distance / MMD (ε → ∞).

use super::sinkhorn::{Sinkhorn, SinkhornSolution};
use burn::tensor::Tensor;
use gpfn_core::Result;

/// `S_ε` per problem of the batch, with the transport problem between `x` and `y` (the two
/// symmetric problems only enter the value).
#[derive(Clone, Debug)]
pub struct DebiasedSinkhorn {
    /// `S_ε(a, b)`, `[batch]`.
    pub value: Tensor<1>,
    /// The problem between `x` and `y`.
    pub xy: SinkhornSolution,
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
        let xx = self.solve(x, x, a, a)?.entropic_cost();
        let yy = self.solve(y, y, b, b)?.entropic_cost();
        let value = xy.entropic_cost() - (xx + yy).mul_scalar(0.5);
        Ok(DebiasedSinkhorn { value, xy })
    }
}
