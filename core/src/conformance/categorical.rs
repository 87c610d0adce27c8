//! The contracts on the simplex, for every divergence that lists a categorical family:
//!
//! * *maths present*: the divergence supplies [`Divergence::categorical`];
//! * *proximal optimality* on [`Categorical`] beliefs (perturbing the step's result in its
//!   logits does not lower the proximal objective);
//! * *oracle consistency*: with the oracle output `p̂ = e_x`, the stochastic chain's beliefs
//!   after `i` steps have the law of the flow at `t_i = i/n` (the mean and mean square of every
//!   `θ_jk`, compared within four standard errors); `n` is the divergence's
//!   [`flow_grid`](crate::divergence::DivergenceMaths::flow_grid) where its flow is simulated
//!   on a grid, else the kit's `steps`.

use super::{Options, Report, prox_optimality};
use crate::belief::categorical::{Categorical, CategoricalFamily, one_hot};
use crate::belief::family_by_name;
use crate::divergence::{CategoricalMaths, Divergence, Noise};
use crate::host::host_f64;
use crate::rng::Rng;
use burn::tensor::{Tensor, TensorData};

pub(super) fn run(div: &dyn Divergence, o: &Options, report: &mut Report) {
    for &name in div.maths().belief_families() {
        let Ok(family) = family_by_name(name, "belief_families") else {
            // The Gaussian kit reports unknown names.
            continue;
        };
        let Some(family) = family.categorical() else {
            continue;
        };
        let Some(maths) = div.categorical() else {
            report.push(
                format!("categorical/{name}"),
                false,
                "the divergence lists a categorical family but has no maths on the simplex",
            );
            continue;
        };
        optimality(maths, name, o, report);
        // A flow simulated on a grid exists on that grid only: check the chain of its steps.
        let n = div.maths().flow_grid().unwrap_or(o.steps);
        oracle(maths, family, name, n, o, report);
    }
}

fn optimality(maths: &dyn CategoricalMaths, name: &str, o: &Options, report: &mut Report) {
    let mut rng = Rng::derive(o.seed, "categorical optimality", 0);
    let (b, d, k) = (6, 2, 4);
    let random = |rng: &mut Rng| {
        Tensor::<2>::from_data(
            TensorData::new(rng.normals(b * d * k), [b, d * k]),
            &o.device,
        )
    };
    let prev = Categorical::from_logits(random(&mut rng), k);
    let y = random(&mut rng);
    for alpha in [0.1, 1.0, 10.0] {
        let check = format!("categorical/{name}/optimality/alpha {alpha}");
        match prox_optimality(maths, &prev, &y, alpha, 0.03) {
            Ok(worst) => report.push(
                check,
                worst >= 0.0,
                format!("worst relative change {worst:e}"),
            ),
            Err(e) => report.push(check, false, e.to_string()),
        }
    }
}

fn oracle(
    maths: &dyn CategoricalMaths,
    family: &CategoricalFamily,
    name: &str,
    n: usize,
    o: &Options,
    report: &mut Report,
) {
    // Three variables, K = 3, classes (0, 1, 2); `replicates` rows of the same item.
    let (d, k, rows) = (3, 3, o.replicates);
    let x = Tensor::<2>::from_data(
        TensorData::new(
            (0..rows * d).map(|i| (i % d) as f32).collect::<Vec<_>>(),
            [rows, d],
        ),
        &o.device,
    );
    let e_x = Categorical {
        probs: one_hot(&x, k),
        classes: k,
    };
    for i in [1, n / 2, n].into_iter().filter(|&i| i >= 1) {
        let check = format!("categorical/{name}/oracle/step {i} of {n}");
        let mut rng = Rng::derive(o.seed, &check, 0);
        let mut theta = Categorical::uniform(rows, d, k, &o.device);
        let mut failed = None;
        for step in 1..=i {
            match maths.step(
                theta.clone(),
                &e_x.probs,
                family.alpha(step, n),
                Noise::Stochastic { eta: 1.0 },
                &mut rng,
            ) {
                Ok(t) => theta = t,
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(e) = failed {
            report.push(check, false, e);
            continue;
        }
        let t = vec![i as f64 / n as f64; rows];
        let flow = match maths.flow(family, &e_x, &t, &mut rng) {
            Ok(f) => f,
            Err(e) => {
                report.push(check, false, e.to_string());
                continue;
            }
        };
        let (worst, detail) = compare_moments(&theta.probs, &flow.probs, rows, k * d);
        report.push(check, worst <= 4.0, detail);
    }
}

/// The largest `|difference| / standard error` of the column means of `θ` and `θ²` between two
/// samples of `rows` rows, and a description.
fn compare_moments(a: &Tensor<2>, b: &Tensor<2>, rows: usize, cols: usize) -> (f64, String) {
    let a = host_f64(a.clone());
    let b = host_f64(b.clone());
    let mut worst: f64 = 0.0;
    let mut at = String::new();
    for power in [1, 2] {
        for c in 0..cols {
            let stats = |v: &[f64]| {
                let xs: Vec<f64> = (0..rows).map(|r| v[r * cols + c].powi(power)).collect();
                let mean = xs.iter().sum::<f64>() / rows as f64;
                let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (rows - 1) as f64;
                (mean, var / rows as f64)
            };
            let (ma, va) = stats(&a);
            let (mb, vb) = stats(&b);
            // 1e-12: two samples of a point mass have zero variance and equal means.
            let z = (ma - mb).abs() / (va + vb + 1e-12).sqrt();
            if z > worst {
                worst = z;
                at = format!("E[θ^{power}] of column {c}: chain {ma:.5}, flow {mb:.5}");
            }
        }
    }
    (worst, format!("worst |z| = {worst:.2} ({at})"))
}
