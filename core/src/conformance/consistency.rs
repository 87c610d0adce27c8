//! Contract 3 (generic part): the sampling step is the proximal step, and accuracies
//! reproduce the schedule.

use super::{Options, Report};
use crate::belief::family_by_name;
use crate::divergence::{Divergence, Noise};
use crate::rng::Rng;
use crate::schedule::time_grid;
use burn::tensor::Tensor;

fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f64 {
    (a - b).abs().max().into_scalar::<f32>() as f64
}

pub(super) fn run(div: &dyn Divergence, o: &Options, report: &mut Report) {
    let div = div.maths();
    let (b, d) = (8, 3);
    let schedule = div.default_schedule();
    let grid = time_grid(schedule.as_ref(), o.steps);
    for &family_name in div.belief_families() {
        let family = match family_by_name(family_name, "belief_families") {
            Ok(f) => f,
            Err(e) => {
                report.push(format!("special/{family_name}"), false, e.to_string());
                continue;
            }
        };
        if family.categorical().is_some() {
            // Checked on the simplex by `conformance::categorical`.
            continue;
        }
        let mut rng = Rng::derive(o.seed, "consistency", 0);
        let mut state = match family.prior(b, d, &o.device, &mut rng) {
            Ok(s) => s,
            Err(e) => {
                report.push(format!("special/{family_name}/prior"), false, e.to_string());
                continue;
            }
        };
        let mut worst_step: f64 = 0.0;
        let mut worst_weight: f64 = 0.0;
        let mut bad_accuracy: Option<(usize, f64)> = None;
        let mut failure: Option<String> = None;
        for step in grid.iter().take(o.steps - 1) {
            let x_hat = rng.normal_tensor(b, d, &o.device);
            let alpha = div.accuracy(step);
            if alpha.is_nan() || alpha <= 0.0 {
                bad_accuracy = Some((step.index, alpha));
            }
            let expected = match div.prox(&state.gaussian, &x_hat, alpha) {
                Ok(p) => p,
                Err(e) => {
                    failure = Some(format!("prox at step {}: {e}", step.index));
                    break;
                }
            };
            // The mean moves towards the observation with the schedule's weight w_i.
            let w = step.weight;
            let blended =
                state.gaussian.mean.clone().mul_scalar(1.0 - w) + x_hat.clone().mul_scalar(w);
            worst_weight = worst_weight.max(max_abs_diff(expected.mean.clone(), blended));
            let next = match div.step(
                family.as_ref(),
                state,
                &x_hat,
                step,
                Noise::Deterministic,
                &mut rng,
            ) {
                Ok(next) => next,
                Err(e) => {
                    failure = Some(format!("step {}: {e}", step.index));
                    break;
                }
            };
            worst_step = worst_step
                .max(max_abs_diff(next.gaussian.mean.clone(), expected.mean))
                .max(max_abs_diff(next.gaussian.std.clone(), expected.std));
            state = next;
        }
        if let Some(e) = failure {
            report.push(format!("special/{family_name}/the steps succeed"), false, e);
            continue;
        }
        // f32 arithmetic on O(1) values over a few steps: 1e-5 is ~100 ulps.
        report.push(
            format!("special/{family_name}/step is the proximal step"),
            worst_step < 1e-5,
            format!("max |step − prox| = {worst_step:.2e}"),
        );
        if div.flow_grid().is_none() {
            report.push(
                format!("special/{family_name}/accuracy matches the schedule"),
                worst_weight < 1e-5,
                format!("max |prox mean − ((1−w) m + w y)| = {worst_weight:.2e}"),
            );
        } else {
            // A divergence with a simulated flow need not contract the mean linearly (its
            // step is nonlinear in y); its accuracies must still be usable.
            report.push(
                format!("special/{family_name}/accuracies are positive"),
                bad_accuracy.is_none(),
                match bad_accuracy {
                    Some((i, a)) => format!("α_{i} = {a}"),
                    None => "every α_i > 0".to_string(),
                },
            );
        }
    }
}
