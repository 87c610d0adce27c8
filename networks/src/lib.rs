//! Predictor networks `F(z, t) → x̂`.
//!
//! A network plugin is a config type registered by name (`[network] name = "mlp"`) that builds
//! a [`Network`]. The built networks are variants of one burn `Module` enum, because burn's
//! optimisers and records need a concrete module type; adding a network means adding a
//! variant here.

mod class_embedding;
mod io;
mod mlp;
mod output;
mod time_embedding;
mod unet;

pub use class_embedding::{ClassEmbedding, class_indices};
pub use io::NetworkIo;
pub use mlp::{Mlp, MlpConfig};
pub use output::OutputConfig;
pub use time_embedding::{fourier_features, sinusoidal_embedding};
pub use unet::{TimeEncoding, UNet, UNetConfig, UpsampleChannels};

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use gpfn_core::{GpfnError, Result};
use std::fmt::Debug;

/// A built predictor network.
// One network exists per run and is moved, not copied in bulk: the variant size is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    /// A multilayer perceptron with Fourier time features.
    Mlp(Mlp),
    /// A convolutional U-Net for images.
    UNet(UNet),
}

impl Network {
    /// `F(z, t)` for network inputs `z: [batch, in_channels · D]` and times `t: [batch, 1]`:
    /// `[batch, out_channels · D]`, both class-major as [`NetworkIo`] describes (with the
    /// identity [`NetworkIo::same`], `[batch, D] → [batch, D]`). A class-conditional network
    /// reads every row as the null class `∅` (its unconditional model).
    pub fn forward(&self, z: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        match self {
            Network::Mlp(m) => m.forward(z, t),
            Network::UNet(u) => u.forward(z, t),
        }
    }

    /// `F(z, t, c)` of a class-conditional network (built with
    /// [`NetworkIo::label_classes`] `= Some(K)`): `class: [batch]` holds each row's class in
    /// `0..K`, or `K` for the null class `∅`; `None` is `∅` for every row, which is also what
    /// [`forward`](Self::forward) gives on a conditional network. Indices are not checked here
    /// (the caller's labels and `--class` are). On an unconditional network, `None` is
    /// [`forward`](Self::forward) and a class is an error naming `[condition]`.
    pub fn forward_conditional(
        &self,
        z: Tensor<2>,
        t: Tensor<2>,
        class: Option<Tensor<1, Int>>,
    ) -> Result<Tensor<2>> {
        if class.is_some() && self.label_classes().is_none() {
            return Err(GpfnError::Config {
                key: "condition".into(),
                message: "this network is unconditional (built without [condition]); it takes \
                          no class"
                    .into(),
            });
        }
        Ok(match self {
            Network::Mlp(m) => m.forward_conditional(z, t, class),
            Network::UNet(u) => u.forward_conditional(z, t, class),
        })
    }

    /// `F(z_{j mod b}, t_{j mod b}, c_j)` for inputs `z: [b, ·]`, times `t: [b, 1]` and
    /// `class: [m·b]`, a multiple of the rows: the batch under `m` classings in one call
    /// (classifier-free guidance evaluates `[c; ∅]`, `m = 2`), `[m·b, ·]`. The same values as
    /// [`forward_conditional`](Self::forward_conditional) on `z` and `t` stacked `m` times;
    /// the U-Net computes what precedes the class embedding's first use once per row of `z`.
    /// A conditional network only; `class.len()` not a multiple of `b` is a shape error.
    pub fn forward_repeated(
        &self,
        z: Tensor<2>,
        t: Tensor<2>,
        class: Tensor<1, Int>,
    ) -> Result<Tensor<2>> {
        let [b, _] = z.dims();
        let [rows] = class.dims();
        if b == 0 || rows % b != 0 {
            return Err(GpfnError::Shape(format!(
                "{rows} classes for a batch of {b} rows: the classes must be a whole multiple \
                 of the rows"
            )));
        }
        if rows == b || self.label_classes().is_none() {
            // One classing: the plain conditional call, with no copy of the inputs.
            return self.forward_conditional(z, t, Some(class));
        }
        Ok(match self {
            Network::Mlp(m) => {
                let k = rows / b;
                m.forward_conditional(
                    Tensor::cat(vec![z; k], 0),
                    Tensor::cat(vec![t; k], 0),
                    Some(class),
                )
            }
            Network::UNet(u) => u.forward_repeated(z, t, class),
        })
    }

    /// `Some(K)` for a class-conditional network over `K` classes (plus `∅`), else `None`.
    pub fn label_classes(&self) -> Option<usize> {
        self.io().label_classes
    }

    /// What the network was built to read and write.
    pub fn io(&self) -> &NetworkIo {
        match self {
            Network::Mlp(m) => &m.io,
            Network::UNet(u) => &u.io,
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

/// Touches every parameter, which makes burn run its lazy initialisation.
struct Initialise;

impl burn::module::ModuleVisitor for Initialise {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let _ = param.val();
    }
}

impl Network {
    /// Runs burn's lazy parameter initialisation now, on the calling thread, instead of at
    /// the first forward pass (no host copy).
    pub fn initialise_parameters(&self) {
        self.visit(&mut Initialise);
    }

    /// All parameters, in visiting order, as host values (for comparisons and tests).
    pub fn flat_parameters(&self) -> Vec<f32> {
        let mut f = Flatten(Vec::new());
        self.visit(&mut f);
        f.0
    }
}

/// What the network outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The clean data `x̂` directly.
    #[default]
    X,
    /// The noise `ε̂` of the flow distribution `input = a(κ) x + b(κ) ε`; converted to
    /// `x̂ = (input − b ε̂)/a` (and `x̂ = 0` where `a < 10⁻³`, as BFN does near `t = 0`).
    Eps,
    /// The velocity `v̂` of the straight path `input = a x + b ε` in the signal level,
    /// `v = x − ε` (Rectified Flow's `v = dz/dt` on the `uniform` schedule, where `a + b = 1`);
    /// converted to `x̂ = (input + b v̂)/(a + b)`, i.e. `x̂ = z + (1 − κ) v̂` for particle
    /// beliefs (and `x̂ = 0` where `a + b < 10⁻³`).
    Velocity,
}

impl Target {
    /// `(c_z, c_out)` of the conversion `x̂ = c_z · input + c_out · output` for a flow
    /// `input = a x + b ε`: `(1, 0)` for `x`, `(1/a, −b/a)` for `eps`, `(1/(a+b), b/(a+b))` for
    /// `velocity` (zero where the divisor is below `10⁻³`).
    pub fn conversion(self, a: f64, b: f64) -> (f64, f64) {
        self.conversion_guarded(a, b, 1e-3)
    }

    /// [`conversion`](Self::conversion) with the divisor's guard at `floor` (0 where the
    /// divisor is below it); `floor = 0` is the exact conversion wherever the divisor is
    /// positive ([`OutputConfig::t_min`] keeps it away from 0).
    pub fn conversion_guarded(self, a: f64, b: f64, floor: f64) -> (f64, f64) {
        let inv = |d: f64| if d > 0.0 && d >= floor { 1.0 / d } else { 0.0 };
        match self {
            Target::X => (1.0, 0.0),
            Target::Eps => (inv(a), -b * inv(a)),
            Target::Velocity => (inv(a + b), b * inv(a + b)),
        }
    }
}

/// A network configuration (`[network] name = "…"`).
#[typetag::serde(tag = "name")]
pub trait NetworkConfig: Debug + Send + Sync + dyn_clone::DynClone {
    /// Builds the network for `io`: data items of shape `io.data_shape` (e.g. `[2]`,
    /// `[1, 28, 28]` or `[3, 32, 32]`) read through `io.in_channels` and written through
    /// `io.out_channels` values per data value ([`NetworkIo::same`] for one in, one out).
    /// A shape the network cannot take is an error, never a panic.
    fn build(&self, io: &NetworkIo, device: &Device) -> Result<Network>;

    /// What the network predicts.
    fn target(&self) -> Target {
        Target::X
    }

    /// Whether the forward pass in training draws random numbers (dropout).
    fn uses_dropout(&self) -> bool {
        false
    }
}

dyn_clone::clone_trait_object!(NetworkConfig);
