//! The network's prediction read as `x̂`, whatever the network outputs (`[network] target`)
//! and however it is read (`[output]`: clipping, BFN's `t_min`): the one place where a network
//! meets a divergence's flow distribution.

pub use crate::model::Readout;

use crate::condition::Guidance;
use crate::model::FlowModel;
use burn::tensor::{Int, Tensor};
use gpfn_core::divergence::column;
use gpfn_core::{GpfnError, Result};
use gpfn_network::{Network, Target};

impl FlowModel<'_> {
    /// `x̂` for network inputs `z` at per-row times `t`: the network's output, converted from
    /// `ε̂` or `v̂` where the network predicts noise or velocity (see [`Target::conversion`]);
    /// with `output.t_min`, `x̂ = 0` for rows with `t < t_min` and the conversion exact above;
    /// with `output.clip`, `x̂` clipped to `[−clip, clip]`.
    pub fn predict_x(&self, network: &Network, z: Tensor<2>, t: &[f64]) -> Result<Tensor<2>> {
        let out = network.forward(z.clone(), column(t, &z.device()));
        self.read_out(z, out, t)
    }

    /// [`predict_x`](Self::predict_x) of a class-conditional network with row `i` of class
    /// `class[i]` (`K` = the null class; `None`: the null class for every row), as training
    /// reads it after label dropout.
    pub fn predict_x_conditional(
        &self,
        network: &Network,
        z: Tensor<2>,
        t: &[f64],
        class: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<2>> {
        let out = network.forward_conditional(z.clone(), column(t, &z.device()), class)?;
        self.read_out(z, out, t)
    }

    /// The guided prediction `x̂_w = x̂(z, t, ∅) + (1 + w)(x̂(z, t, c) − x̂(z, t, ∅))`, formed on
    /// the network's output before the readout (affine in the output, so the same) and the
    /// clipping (applied to `x̂_w`); see [`crate::condition`]. One network call whatever `w`.
    pub fn predict_x_guided(
        &self,
        network: &Network,
        z: Tensor<2>,
        t: &[f64],
        guidance: &Guidance,
    ) -> Result<Tensor<2>> {
        let out = guidance.guide_network(network, z.clone(), column(t, &z.device()))?;
        self.read_out(z, out, t)
    }

    /// `x̂` from the network's raw output `out` on inputs `z` at times `t`: the conversion
    /// `x̂ = c_z z + c_out out` of the target (with `t_min`), then the clipping.
    pub fn read_out(&self, z: Tensor<2>, out: Tensor<2>, t: &[f64]) -> Result<Tensor<2>> {
        let Readout { target, output } = self.readout;
        let divergence = self.divergence;
        let device = z.device();
        let x_hat = if target == Target::X && output.t_min.is_none() {
            out
        } else {
            let mut scale = Vec::with_capacity(t.len());
            let mut mix = Vec::with_capacity(t.len());
            for &ti in t {
                let (cz, cout) = match output.t_min {
                    Some(t_min) if ti < t_min => (0.0, 0.0),
                    _ if target == Target::X => (0.0, 1.0),
                    t_min => {
                        let (a, b) = divergence
                            .maths()
                            .flow_coefficients(self.schedule.kappa(ti))
                            .ok_or_else(|| GpfnError::Config {
                                key: "network.target".into(),
                                message: format!(
                                    "divergence `{}` has no closed-form flow `a x + b ε`; use target = \"x\"",
                                    divergence.name()
                                ),
                            })?;
                        let floor = if t_min.is_some() { 0.0 } else { 1e-3 };
                        target.conversion_guarded(a, b, floor)
                    }
                };
                scale.push(cz);
                mix.push(cout);
            }
            let col = |v: &[f64]| column(v, &device);
            z * col(&scale) + out * col(&mix)
        };
        Ok(match output.clip {
            Some(c) => x_hat.clamp(-c, c),
            None => x_hat,
        })
    }
}
