//! Contract 2: proximal optimality, for beliefs of any family.

use super::{Options, Report};
use crate::belief::{Belief, DiagGaussian};
use crate::divergence::{Divergence, Proximal, prox_objective};
use crate::host::host_f64 as host;
use crate::rng::Rng;
use burn::tensor::{Tensor, TensorData};

pub(super) fn run(div: &dyn Divergence, o: &Options, report: &mut Report) {
    let (b, d) = (16, 3);
    let mut rng = Rng::derive(o.seed, "optimality", 0);
    let mk = |rng: &mut Rng, scale: f32, shift: f32| {
        let v: Vec<f32> = rng
            .normals(b * d)
            .into_iter()
            .map(|x| x * scale + shift)
            .collect();
        Tensor::<2>::from_data(TensorData::new(v, [b, d]), &o.device)
    };
    let prev = DiagGaussian {
        mean: mk(&mut rng, 1.0, 0.0),
        std: mk(&mut rng, 0.3, 0.0).exp(),
    };
    let y = mk(&mut rng, 1.5, 0.0);
    // δ = 0.03 moves the objective by ≈ ½ J'' δ² ≥ 4e-4 · J'' (J'' ≥ α, ≥ 1 here in log-std),
    // far above f32 rounding of J (≈ 1e-7 · |J|); the tolerance is that rounding.
    let delta = 0.03f32;
    for alpha in [0.1, 1.0, 10.0] {
        let (ok, detail) = match prox_optimality(div.maths(), &prev, &y, alpha, delta) {
            Ok(worst) => (
                worst >= 0.0,
                format!(
                    "smallest objective change under ±{delta} perturbations, relative and \
                     less f32 rounding = {worst:.3e}"
                ),
            ),
            Err(e) => (false, format!("the step failed: {e}")),
        };
        report.push(format!("optimality/alpha={alpha}"), ok, detail);
    }
}

/// Proximal optimality of `div.prox(prev, y, α)`: moving any parameter of the result, one
/// column at a time, by `±delta` must not lower the proximal objective of any row by more
/// than f32 rounding (`10⁻⁶ (1 + |J|)`). Returns the smallest change of the objective, less
/// that rounding allowance, relative to `1 + |J|` (negative: a better point was found).
pub fn prox_optimality<B: Belief>(
    div: &dyn Proximal<B>,
    prev: &B,
    y: &Tensor<2>,
    alpha: f64,
    delta: f32,
) -> crate::Result<f64> {
    let best = div.prox(prev, y, alpha)?;
    let j0 = host(prox_objective(div, &best, prev, y, alpha));
    let device = y.device();
    let mut worst = f64::INFINITY;
    for which in 0..best.parameters().len() {
        let [b, width] = best.parameter_dims(which);
        for k in 0..width {
            for sign in [-1.0f32, 1.0] {
                let mut bump = vec![0.0f32; b * width];
                for r in 0..b {
                    bump[r * width + k] = sign * delta;
                }
                let bump = Tensor::<2>::from_data(TensorData::new(bump, [b, width]), &device);
                let p = best.perturbed(which, &bump);
                let j = host(prox_objective(div, &p, prev, y, alpha));
                for (a, z) in j.iter().zip(&j0) {
                    worst = worst.min((a - z) / (1.0 + z.abs()) + 1e-6);
                }
            }
        }
    }
    Ok(worst)
}
