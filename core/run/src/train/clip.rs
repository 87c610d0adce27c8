//! Gradient clipping by the global norm, as `torch.nn.utils.clip_grad_norm_` (which the BFN
//! reference code calls through `accelerate`): with the norm taken over every parameter of the
//! network together,
//!
//! ```text
//! ‖g‖ = (Σ_p Σ_i g_{p,i}²)^{1/2},     g_p ← g_p · min(1, c / (‖g‖ + 10⁻⁶))   for every parameter p.
//! ```
//!
//! burn's `GradientClippingConfig::Norm` clips each parameter tensor by its own norm, another
//! rule (it bounds every tensor's gradient, not the step's, and changes the step's direction),
//! so the optimiser is built without it and the training loop calls [`clip_global_norm`].

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// PyTorch's guard against a zero norm.
const NORM_EPSILON: f64 = 1e-6;

struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let squares = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + squares,
                None => squares,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let factor: Tensor<D> = self.factor.clone().reshape([1; D]);
            self.grads.register(param.id, g * factor);
        }
    }
}

/// `‖g‖ = (Σ_p Σ_i g_{p,i}²)^{1/2}` over the parameters of `module` that have a gradient in
/// `grads`, as a one-element tensor (no read-back to the host); `None` when none has one.
pub fn global_norm<M: Module>(grads: &GradientsParams, module: &M) -> Option<Tensor<1>> {
    let mut sum = SumOfSquares { grads, total: None };
    module.visit(&mut sum);
    sum.total.map(Tensor::sqrt)
}

/// Scales every gradient of `grads` by `min(1, max_norm / (‖g‖ + 10⁻⁶))`, `‖g‖` the
/// [`global_norm`]: the step keeps its direction, and its norm is at most `max_norm`.
pub fn clip_global_norm<M: Module>(
    grads: GradientsParams,
    module: &M,
    max_norm: f64,
) -> GradientsParams {
    match global_norm(&grads, module) {
        Some(norm) => clip_to(grads, module, norm, max_norm),
        None => grads,
    }
}

/// [`clip_global_norm`] with the norm already computed.
pub fn clip_to<M: Module>(
    mut grads: GradientsParams,
    module: &M,
    norm: Tensor<1>,
    max_norm: f64,
) -> GradientsParams {
    let factor = norm
        .add_scalar(NORM_EPSILON)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    module.visit(&mut Scale {
        grads: &mut grads,
        factor,
    });
    grads
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    /// The gradients of `L = Σ k ⊙ linear(x)` for a 3 → 2 linear layer: `∂L/∂W = xᵀ k` (3×2)
    /// and `∂L/∂b = Σ_rows k`, whatever the weights.
    fn gradients(scale: f32) -> (Linear, GradientsParams) {
        let device = Device::flex().autodiff();
        let layer: Linear = LinearConfig::new(3, 2).init(&device);
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0, 0.0, -1.0], [2, 3]),
            &device,
        );
        let k = Tensor::<2>::from_data(
            TensorData::new(vec![scale, -scale, 2.0 * scale, 0.5 * scale], [2, 2]),
            &device,
        );
        let loss = (layer.forward(x) * k).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        (layer, grads)
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// `(∂L/∂W, ∂L/∂b)` from the closed forms, in f64.
    fn expected(scale: f64) -> (Vec<f64>, Vec<f64>) {
        let x = [[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]];
        let k = [[scale, -scale], [2.0 * scale, 0.5 * scale]];
        // burn's Linear stores W as [in, out]: ∂L/∂W[i, o] = Σ_r x[r, i] k[r, o].
        let w = (0..3)
            .flat_map(|i| (0..2).map(move |o| x[0][i] * k[0][o] + x[1][i] * k[1][o]))
            .collect();
        let b = (0..2).map(|o| k[0][o] + k[1][o]).collect();
        (w, b)
    }

    #[test]
    fn clips_by_the_norm_over_all_parameters_together() {
        let (layer, grads) = gradients(1.0);
        let (w, b) = expected(1.0);
        let norm: f64 = w.iter().chain(&b).map(|v| v * v).sum::<f64>().sqrt();
        // ∂L/∂W = [[7, 0.5], [-2, 2], [-1.5, -1]] and ∂L/∂b = [3, -0.5]: ‖g‖ = √69.75 ≈ 8.35,
        // while each tensor alone (√60.5 and √9.25) would pass a per-tensor threshold of 8.
        assert!((norm - 69.75f64.sqrt()).abs() < 1e-12);
        let got_norm = host(global_norm(&grads, &layer).unwrap())[0] as f64;
        approx::assert_relative_eq!(got_norm, norm, max_relative = 1e-6);

        let c = 8.0;
        let clipped = clip_global_norm(grads, &layer, c);
        let gw = host(clipped.get::<2>(layer.weight.id).unwrap());
        let gb = host(clipped.get::<1>(layer.bias.as_ref().unwrap().id).unwrap());
        let factor = c / (norm + NORM_EPSILON);
        // One rounding of the factor and one of each product: a few ulp.
        for (got, want) in gw.iter().zip(&w).chain(gb.iter().zip(&b)) {
            approx::assert_relative_eq!(*got as f64, want * factor, max_relative = 1e-6);
        }
        let clipped_norm: f64 = gw
            .iter()
            .chain(&gb)
            .map(|v| (*v as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        approx::assert_relative_eq!(clipped_norm, c, max_relative = 1e-6);
    }

    #[test]
    fn leaves_gradients_under_the_threshold_unchanged() {
        let (layer, grads) = gradients(0.01);
        let before_w = host(grads.get::<2>(layer.weight.id).unwrap());
        let bias = layer.bias.as_ref().unwrap().id;
        let before_b = host(grads.get::<1>(bias).unwrap());
        // ‖g‖ ≈ 0.085 < 1: the factor clamps to exactly 1.
        let clipped = clip_global_norm(grads, &layer, 1.0);
        assert_eq!(host(clipped.get::<2>(layer.weight.id).unwrap()), before_w);
        assert_eq!(host(clipped.get::<1>(bias).unwrap()), before_b);
        let (w, _) = expected(0.01);
        approx::assert_relative_eq!(before_w[0] as f64, w[0], max_relative = 1e-6);
    }
}
