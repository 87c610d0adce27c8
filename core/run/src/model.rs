//! The model as training and sampling both see it: the divergence whose flow the network
//! learns, the belief family, the schedule, and the readout that turns the network's raw
//! output into `x̂`. Built once from a [`Config`](crate::config::Config)
//! ([`Config::model`](crate::config::Config::model)) and handed by reference to the loss
//! ([`crate::train::training_loss`]), to [`FlowModel::predict_x`] and, as a
//! [`SamplingProblem`], to the samplers.

use burn::tensor::Device;
use gpfn_core::belief::BeliefFamily;
use gpfn_core::belief::categorical::CategoricalFamily;
use gpfn_core::divergence::Divergence;
use gpfn_core::sampling::{Predictor, SamplingProblem};
use gpfn_core::schedule::Schedule;
use gpfn_core::{GpfnError, Result};
use gpfn_network::{NetworkIo, OutputConfig, Target};

/// The readout of a network: its target and the `[output]` settings.
#[derive(Clone, Copy, Debug)]
pub struct Readout {
    /// What the network predicts.
    pub target: Target,
    /// Clipping and `t_min`.
    pub output: OutputConfig,
}

/// One model: divergence, belief family, schedule and readout, bundled once. The divergence
/// is borrowed from the config; the family and schedule are the config's, built once.
#[derive(Debug)]
pub struct FlowModel<'a> {
    /// The divergence whose flow the network learns and whose proximal steps sample it.
    pub divergence: &'a dyn Divergence,
    /// The belief family.
    pub family: Box<dyn BeliefFamily>,
    /// The accuracy/time schedule.
    pub schedule: Box<dyn Schedule>,
    /// How the network's output is read as `x̂`.
    pub readout: Readout,
    /// On categorical data: the family's settings and `K` (the network then reads beliefs
    /// and returns logits; training, sampling and the bounds take the simplex's path).
    pub categorical: Option<CategoricalModel>,
    /// A class-conditional model's `[condition]` (the network then has a class embedding;
    /// training drops labels, sampling may guide); `None`: unconditional.
    pub condition: Option<crate::condition::ConditionConfig>,
}

/// A model of categorical data: the categorical family and the number of classes `K`.
#[derive(Clone, Debug)]
pub struct CategoricalModel {
    /// `β(1)` and the network's input and output.
    pub family: CategoricalFamily,
    /// `K`, from the data set.
    pub classes: usize,
}

impl FlowModel<'_> {
    /// The network's input and output for items of `shape`: the data's own shape for
    /// continuous data; for categorical data the family's channels per variable (`K` in and
    /// out, or one for `K = 2` with a single logit); with `[condition]`, a class embedding.
    pub fn network_io(&self, shape: &[usize]) -> NetworkIo {
        let io = match &self.categorical {
            None => NetworkIo::same(shape),
            Some(c) => {
                let (input, output) = c.family.network_channels(c.classes);
                NetworkIo::new(shape, input, output)
            }
        };
        // A conditional model's network has `[condition] classes` classes and the null class.
        io.with_label_classes(self.condition.map(|c| c.classes))
    }

    /// Checks that the readout can be applied: a network predicting `ε` or `v` needs a
    /// divergence with a closed-form flow `a x + b ε` to convert its output.
    pub fn check_readout(&self) -> Result<()> {
        let target = self.readout.target;
        if self.categorical.is_some() {
            if target != Target::X || self.readout.output.t_min.is_some() {
                return Err(GpfnError::Config {
                    key: "network.target".into(),
                    message: "a categorical model's network returns logits of the output distribution: use target = \"x\" and no output.t_min".into(),
                });
            }
            return Ok(());
        }
        if target != Target::X && self.divergence.maths().flow_coefficients(0.5).is_none() {
            return Err(GpfnError::Config {
                key: "network.target".into(),
                message: format!(
                    "divergence `{}` cannot convert a {target:?} prediction (it has no flow `a x + b ε`)",
                    self.divergence.name()
                ),
            });
        }
        Ok(())
    }

    /// The sampling problem of this model with the network `predictor` (already read as `x̂`)
    /// for `batch` samples of `dim` values on `device`.
    pub fn sampling_problem<'p>(
        &'p self,
        predictor: &'p Predictor<'p>,
        batch: usize,
        dim: usize,
        device: Device,
    ) -> SamplingProblem<'p> {
        SamplingProblem {
            divergence: self.divergence,
            family: self.family.as_ref(),
            schedule: self.schedule.as_ref(),
            predictor,
            batch,
            dim,
            device,
        }
    }
}
