//! The network's prediction read as `x̂`, whatever the network outputs (`[network] target`):
//! the one place where a network meets a divergence's flow distribution.

use burn::tensor::Tensor;
use gpfn_core::divergence::{Divergence, column};
use gpfn_core::schedule::Schedule;
use gpfn_core::{GpfnError, Result};
use gpfn_network::{Network, Target};

/// `x̂` for network inputs `z` at per-row times `t`: the network's output, converted from
/// `ε̂` or `v̂` where the network predicts noise or velocity (see [`Target::conversion`]).
pub fn predict_x(
    network: &Network,
    target: Target,
    divergence: &dyn Divergence,
    schedule: &dyn Schedule,
    z: Tensor<2>,
    t: &[f64],
) -> Result<Tensor<2>> {
    let device = z.device();
    let out = network.forward(z.clone(), column(t, &device));
    if target == Target::X {
        return Ok(out);
    }
    let mut scale = Vec::with_capacity(t.len());
    let mut mix = Vec::with_capacity(t.len());
    for &ti in t {
        let (a, b) = divergence
            .maths()
            .flow_coefficients(schedule.kappa(ti))
            .ok_or_else(|| GpfnError::Config {
                key: "network.target".into(),
                message: format!(
                    "divergence `{}` has no closed-form flow `a x + b ε`; use target = \"x\"",
                    divergence.name()
                ),
            })?;
        let (cz, cout) = target.conversion(a, b);
        scale.push(cz);
        mix.push(cout);
    }
    let col = |v: &[f64]| column(v, &device);
    Ok(z * col(&scale) + out * col(&mix))
}
