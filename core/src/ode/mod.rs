//! ODE solvers on batched states `[rows, columns]`: what the adaptive sampler (`dopri5`) and
//! the exact likelihood of particle flows integrate.

mod dopri5;

pub use dopri5::{Dopri5, OdeEnd};

use crate::Result;
use burn::tensor::Tensor;

/// The right-hand side `f(t, y)` of `dy/dt = f(t, y)`.
pub type Rhs<'a> = dyn FnMut(f64, &Tensor<2>) -> Result<Tensor<2>> + 'a;
