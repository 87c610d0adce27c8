//! Contract 2: proximal optimality.

use super::{Options, Report};
use crate::belief::DiagGaussian;
use crate::divergence::{Divergence, prox_objective};
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
        let best = div.prox(&prev, &y, alpha);
        let j0 = host(prox_objective(div, &best, &prev, &y, alpha));
        let mut worst = f64::INFINITY;
        let mut ok = true;
        for k in 0..d {
            for sign in [-1.0f32, 1.0] {
                let mut bump = vec![0.0f32; b * d];
                for r in 0..b {
                    bump[r * d + k] = sign * delta;
                }
                let bump = Tensor::<2>::from_data(TensorData::new(bump, [b, d]), &o.device);
                for param in ["mean", "log std"] {
                    let p = if param == "mean" {
                        DiagGaussian {
                            mean: best.mean.clone() + bump.clone(),
                            std: best.std.clone(),
                        }
                    } else {
                        DiagGaussian {
                            mean: best.mean.clone(),
                            std: best.std.clone() * bump.clone().exp(),
                        }
                    };
                    let j = host(prox_objective(div, &p, &prev, &y, alpha));
                    for (a, z) in j.iter().zip(&j0) {
                        let gain = a - z;
                        worst = worst.min(gain);
                        ok &= gain >= -1e-6 * (1.0 + z.abs());
                    }
                }
            }
        }
        report.push(
            format!("optimality/alpha={alpha}"),
            ok,
            format!("smallest objective change under ±{delta} perturbations = {worst:.3e}"),
        );
    }
}
