//! Contract 1: oracle consistency.

use super::{Options, Report};
use crate::belief::family_by_name;
use crate::divergence::{Divergence, Noise};
use crate::rng::Rng;
use crate::sampling::{SamplingProblem, proximal_chain};
use crate::schedule::time_grid;
use burn::tensor::{Tensor, TensorData};

/// Four data points in `R^3`, each replicated `r` times: `[4r, 3]` host values.
fn oracle_data(r: usize) -> (Vec<f32>, usize) {
    let points = [
        [0.8f32, -0.5, 0.0],
        [-1.0, 0.3, 0.9],
        [0.1, 0.1, -0.7],
        [0.5, -0.9, 0.4],
    ];
    let mut v = Vec::with_capacity(points.len() * r * 3);
    for p in &points {
        for _ in 0..r {
            v.extend_from_slice(p);
        }
    }
    (v, points.len())
}

/// Mean, standard deviation and kurtosis `μ₄/σ⁴` of each (point, coordinate) group.
fn moments(values: &[f32], groups: usize, r: usize, d: usize) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    for g in 0..groups {
        for k in 0..d {
            let xs: Vec<f64> = (0..r).map(|j| values[(g * r + j) * d + k] as f64).collect();
            let m = xs.iter().sum::<f64>() / r as f64;
            let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (r - 1) as f64;
            let m4 = xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / r as f64;
            let kurtosis = if var > 0.0 { m4 / (var * var) } else { 3.0 };
            out.push((m, var.sqrt(), kurtosis));
        }
    }
    out
}

pub(super) fn run(div: &dyn Divergence, o: &Options, report: &mut Report) {
    let d = 3;
    let (data, groups) = oracle_data(o.replicates);
    let n_rows = groups * o.replicates;
    let x = Tensor::<2>::from_data(TensorData::new(data, [n_rows, d]), &o.device);
    let schedule = div.maths().default_schedule();
    // A simulated flow exists on its own grid only: check the chain of that many steps.
    let n = div.maths().flow_grid().unwrap_or(o.steps);
    let grid = time_grid(schedule.as_ref(), n);
    let oracle_x = x.clone();
    let oracle = move |_z: Tensor<2>, _t: f64| oracle_x.clone();
    for &family_name in div.maths().belief_families() {
        let family = match family_by_name(family_name, "belief_families") {
            Ok(f) => f,
            Err(e) => {
                report.push(format!("oracle/{family_name}"), false, e.to_string());
                continue;
            }
        };
        if family.categorical().is_some() {
            // Checked on the simplex by `conformance::categorical`.
            continue;
        }
        let problem = SamplingProblem {
            divergence: div,
            family: family.as_ref(),
            schedule: schedule.as_ref(),
            predictor: &oracle,
            batch: n_rows,
            dim: d,
            device: o.device.clone(),
        };
        let mut modes = vec![
            Noise::Stochastic { eta: 1.0 },
            Noise::Stochastic { eta: 0.5 },
            Noise::Ancestral { eta: 1.0 },
        ];
        if family.has_particle() {
            modes.push(Noise::Deterministic);
        }
        for noise in modes {
            // The last step can reach κ = 1 (a point mass); check the interior ones.
            for i in [1, n / 2, n - 1].into_iter().filter(|&i| i >= 1) {
                let name = format!("oracle/{family_name}/{noise:?}/step {i}");
                let mut rng = Rng::derive(o.seed, &name, 0);
                let end = match proximal_chain(&problem, n, noise, &mut rng, Some(i)) {
                    Ok(e) => e,
                    Err(e) => {
                        report.push(name, false, e.to_string());
                        continue;
                    }
                };
                let reached = match family.network_input(&end.state) {
                    Ok(input) => input,
                    Err(e) => {
                        report.push(name, false, e.to_string());
                        continue;
                    }
                };
                let reached = reached.into_data().try_to_vec::<f32>().expect("f32");
                let t = vec![grid[i - 1].t; n_rows];
                let flow =
                    match div
                        .maths()
                        .flow_at(family.as_ref(), schedule.as_ref(), &x, &t, &mut rng)
                    {
                        Ok(f) => f,
                        Err(e) => {
                            report.push(name, false, e.to_string());
                            continue;
                        }
                    };
                let flow = flow.into_data().try_to_vec::<f32>().expect("f32");
                // A divergence that couples the rows of a batch moves row i towards its
                // coupled partner, not towards x_i: compare the laws of whole batches.
                let (g, r) = if div.maths().couples_batch() {
                    (1, n_rows)
                } else {
                    (groups, o.replicates)
                };
                let a = moments(&reached, g, r, d);
                let b = moments(&flow, g, r, d);
                let r = r as f64;
                let mut worst: f64 = 0.0;
                let mut ok = true;
                for ((ma, sa, ka), (mb, sb, kb)) in a.iter().zip(&b) {
                    // Five standard errors: of a difference of means, √((s_a² + s_b²)/r); of
                    // a difference of standard deviations, ≈ √((κ_a − 1) s_a² + (κ_b − 1) s_b²)
                    // / √(4r) with the kurtoses κ (√((s_a² + s_b²)/(2r)) for Gaussians, κ = 3;
                    // simulated flows of nonlinear steps are heavier-tailed).
                    let se_m = ((sa * sa + sb * sb) / r).sqrt();
                    let se_s = (((ka - 1.0).max(2.0) * sa * sa + (kb - 1.0).max(2.0) * sb * sb)
                        / (4.0 * r))
                        .sqrt();
                    let zm = (ma - mb).abs() / (5.0 * se_m + 1e-5);
                    let zs = (sa - sb).abs() / (5.0 * se_s + 1e-5);
                    worst = worst.max(zm).max(zs);
                    ok &= zm <= 1.0 && zs <= 1.0;
                }
                report.push(
                    name,
                    ok,
                    format!(
                        "largest moment gap = {worst:.2} × its 5-σ tolerance (κ = {:.4})",
                        grid[i - 1].kappa
                    ),
                );
            }
        }
        if !family.has_particle() {
            // No particle moves: from the shared prior mean, a deterministic network gives every
            // sample the same trajectory.
            let net = |z: Tensor<2>, t: f64| z.add_scalar(t).tanh().mul_scalar(0.9);
            let p = SamplingProblem {
                predictor: &net,
                ..problem
            };
            let name = format!("oracle/{family_name}/deterministic collapses");
            let mut rng = Rng::derive(o.seed, &name, 0);
            match proximal_chain(&p, n, Noise::Deterministic, &mut rng, None) {
                Ok(end) => {
                    let v = end.prediction.into_data().try_to_vec::<f32>().expect("f32");
                    let spread = (0..d)
                        .map(|k| {
                            let col: Vec<f32> = v.iter().skip(k).step_by(d).copied().collect();
                            let lo = col.iter().copied().fold(f32::MAX, f32::min);
                            let hi = col.iter().copied().fold(f32::MIN, f32::max);
                            hi - lo
                        })
                        .fold(0.0f32, f32::max);
                    report.push(
                        name,
                        spread == 0.0,
                        format!("spread of the samples = {spread}"),
                    );
                }
                Err(e) => report.push(name, false, e.to_string()),
            }
        }
    }
}
