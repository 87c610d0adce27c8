//! Predictor networks `F(z, t) → x̂`.
//!
//! A network plugin is a config type registered by name (`[network] name = "mlp"`) that builds
//! a [`Network`]. The built networks are variants of one burn `Module` enum, because burn's
//! optimisers and records need a concrete module type; adding a network means adding a
//! variant here.

mod mlp;
mod time_embedding;

pub use mlp::{Mlp, MlpConfig};
pub use time_embedding::fourier_features;

use crate::Result;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use std::fmt::Debug;

/// A built predictor network.
#[derive(Module, Debug)]
pub enum Network {
    /// A multilayer perceptron with Fourier time features.
    Mlp(Mlp),
}

impl Network {
    /// `x̂ = F(z, t)` for network inputs `z: [batch, dim]` and times `t: [batch, 1]`.
    pub fn forward(&self, z: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        match self {
            Network::Mlp(m) => m.forward(z, t),
        }
    }
}

struct Flatten(Vec<f32>);

impl burn::module::ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let v = param.val().into_data();
        self.0.extend(v.iter::<f32>());
    }
}

impl Network {
    /// All parameters, in visiting order, as host values (for comparisons and tests).
    pub fn flat_parameters(&self) -> Vec<f32> {
        let mut f = Flatten(Vec::new());
        self.visit(&mut f);
        f.0
    }
}

/// A network configuration (`[network] name = "…"`).
#[typetag::serde(tag = "name")]
pub trait NetworkConfig: Debug + Send + Sync + dyn_clone::DynClone {
    /// Builds the network for data of shape `data_shape` (e.g. `[2]` or `[1, 28, 28]`).
    fn build(&self, data_shape: &[usize], device: &Device) -> Result<Network>;
}

dyn_clone::clone_trait_object!(NetworkConfig);
