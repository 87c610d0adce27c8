//! `mlp`: a multilayer perceptron `x̂ = F([z, φ(t)])` with SiLU activations and Fourier time
//! features `φ(t)` concatenated to the input of every hidden layer. It reads
//! `in_channels · D` values and writes `out_channels · D` ([`NetworkIo`]).
//!
//! Class-conditional ([`NetworkIo::label_classes`] `= Some(K)`): `φ(t)` is replaced by
//! `φ(t) + e_c`, `e_c` the class's row of a `K × time_features` embedding
//! ([`ClassEmbedding`]; the null class adds zero), so the class reaches every hidden layer the
//! way time does.

use super::{ClassEmbedding, Network, NetworkConfig, NetworkIo, fourier_features};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor};
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};

gpfn_core::register_plugin!(
    Network,
    "mlp",
    "multilayer perceptron with Fourier time features; parameters hidden, time_features"
);

/// Configuration of the `mlp` network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Number of Fourier time features (even).
    #[serde(default = "default_time_features")]
    pub time_features: usize,
    /// What the network predicts: `x` (clean data) or `eps` (noise).
    #[serde(default)]
    pub target: super::Target,
}

fn default_hidden() -> Vec<usize> {
    vec![128, 128, 128]
}

fn default_time_features() -> usize {
    16
}

/// The MLP module.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    output: Linear,
    /// The class embedding of a conditional network (visited last: an unconditional MLP's
    /// parameters are unchanged).
    class_embedding: Option<ClassEmbedding>,
    #[module(skip)]
    time_features: usize,
    #[module(skip)]
    pub(crate) io: NetworkIo,
}

#[typetag::serde(name = "mlp")]
impl NetworkConfig for MlpConfig {
    fn build(&self, io: &NetworkIo, device: &Device) -> Result<Network> {
        io.validate()?;
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(GpfnError::Config {
                key: "network.hidden".into(),
                message: format!("needs at least one non-zero width, got {:?}", self.hidden),
            });
        }
        if self.time_features == 0 || !self.time_features.is_multiple_of(2) {
            return Err(GpfnError::Config {
                key: "network.time_features".into(),
                message: format!("must be a positive even number, got {}", self.time_features),
            });
        }
        let mut layers = Vec::new();
        let mut width = io.input_dim();
        for &h in &self.hidden {
            layers.push(LinearConfig::new(width + self.time_features, h).init(device));
            width = h;
        }
        let output = LinearConfig::new(width, io.output_dim()).init(device);
        let class_embedding = io
            .label_classes
            .map(|k| ClassEmbedding::new(k, self.time_features, device));
        Ok(Network::Mlp(Mlp {
            layers,
            output,
            class_embedding,
            time_features: self.time_features,
            io: io.clone(),
        }))
    }

    fn target(&self) -> super::Target {
        self.target
    }
}

impl Mlp {
    /// `F(z, t)` for `z: [batch, in_channels · D]`, `t: [batch, 1]`: `[batch, out_channels · D]`.
    pub fn forward(&self, z: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        self.forward_conditional(z, t, None)
    }

    /// `F(z, t, c)`: with the class embedding added to the time features (`class` `None`: the
    /// null class; an unconditional MLP ignores `class`, which its caller checks).
    pub(crate) fn forward_conditional(
        &self,
        z: Tensor<2>,
        t: Tensor<2>,
        class: Option<Tensor<1, Int>>,
    ) -> Tensor<2> {
        let device = z.device();
        let mut phi = fourier_features(t, self.time_features, 16.0, &device);
        if let Some(e) = &self.class_embedding {
            phi = phi + e.forward(class, z.dims()[0], &device);
        }
        let mut h = z;
        for layer in &self.layers {
            h = silu(layer.forward(Tensor::cat(vec![h, phi.clone()], 1)));
        }
        self.output.forward(h)
    }
}
