//! Exponential moving average of the weights, used for sampling.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use gpfn_network::Network;
use std::collections::HashMap;

struct Collect(HashMap<ParamId, Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = param.val();
        let n = v.shape().num_elements();
        self.0.insert(param.id, v.reshape([n]));
    }
}

struct Blend {
    source: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(src) = self.source.remove(&param.id) else {
            return param;
        };
        let decay = self.decay;
        param.map(|e| {
            let shape = e.shape();
            e.mul_scalar(decay) + src.reshape(shape).mul_scalar(1.0 - decay)
        })
    }
}

/// `ema ← decay · ema + (1 − decay) · model`, parameter by parameter (matched by id).
/// `model` must be the inference (non-autodiff) view of the trained network.
pub fn update_ema(ema: Network, model: &Network, decay: f64) -> Network {
    let mut collect = Collect(HashMap::new());
    model.visit(&mut collect);
    ema.map(&mut Blend {
        source: collect.0,
        decay,
    })
}
