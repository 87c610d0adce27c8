//! # gpfn-w2: proximal steps in optimal-transport geometry
//!
//! With `D = ½ W2²` on the diagonal-Gaussian belief `N(m, s²)` the proximal step
//! `argmin_p α E_p[½‖x − y‖²] + ½ W2²(p, p_{i−1})` has the closed form (`w = α/(1+α)`)
//!
//! ```text
//! m_i = (1 − w) m_{i−1} + w y_i,     s_i = (1 − w) s_{i−1}
//! ```
//!
//! and a particle `z ~ p_{i−1}` moves with the optimal-transport map between the two
//! Gaussians, `z_i = (1 − w) z_{i−1} + w y_i`. With the oracle `y = x` and `s₀ = 1` this is
//! the straight path `z_t = κ(t) x + (1 − κ(t)) z₀`; on the uniform grid it is Rectified Flow
//! read as a JKO scheme: the deterministic sampler is Euler's method for
//! `dz/dt = (x̂(z, t) − z)/(1 − t)`.

mod divergence;

pub use divergence::{W2Divergence, W2LossWeight, W2Maths, half_w2_squared};
