//! `gpfn eval nll`: a trained run's negative log-likelihood of the test images, by the
//! estimator its divergence admits (`gpfn-likelihood`; docs/likelihood.md).

use super::run_eval::TrainedRun;
use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use gpfn_core::divergence::{Likelihood, categorical_maths, column};
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use gpfn_data::Split;
use gpfn_likelihood::bins::{dequantise, dequantised_nats};
use gpfn_likelihood::bound::{BoundProblem, bfn_bounds};
use gpfn_likelihood::categorical::CategoricalBoundProblem;
use gpfn_likelihood::ode::{OdeProblem, ode_log_density};
use gpfn_likelihood::{Estimate, NllEstimate, NllReport};
use gpfn_run::checkpoint;
use gpfn_run::model::{CategoricalModel, FlowModel};
use gpfn_run::train::build_network;
use std::time::Instant;

/// Which test items, in batches of what size, with which seed.
#[derive(Clone, Debug)]
pub struct NllOptions {
    /// The first `items` test items (all if `None`).
    pub items: Option<usize>,
    /// Items per batch (the ODE solves a batch together, with one step size).
    pub batch: usize,
    /// Seed of the Monte Carlo draws (flow, times, probes, dequantisation).
    pub seed: u64,
}

/// Scores `run` on its test split; `progress(items_done)` after each batch.
pub fn nll(
    run: &TrainedRun,
    options: &NllOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<NllReport> {
    let started = Instant::now();
    let config = &run.config;
    let mut lo = config.likelihood.clone();
    lo.validate()?;
    let divergence = config.divergence.as_ref();
    let kind = divergence.maths().likelihood();
    if kind == Likelihood::None {
        return Err(GpfnError::Invalid(format!(
            "divergence `{}` has no likelihood estimator: its steps are not Bayes' rule (no \
             variational bound) and it moves no particle along a probability-flow ODE (no \
             change of variables); `gpfn eval nll` scores kl, w2, rectified-flow and sinkhorn \
             runs (docs/likelihood.md)",
            divergence.name()
        )));
    }
    let test = config.data.load(Split::Test, config.seed)?;
    // A dynamically binarised test set is drawn once, with the run's seed: every estimate
    // scores the same binary images (docs/likelihood.md).
    let test = test.draw(config.seed, 0);
    let dim = test.dim();
    let count = options.items.unwrap_or(test.len()).min(test.len());
    if count == 0 {
        return Err(GpfnError::Invalid("no test items to score".into()));
    }
    let bins = lo.bins.or((run.shape.len() == 3).then_some(256));
    lo.t_end = Some(lo.t_end_for(bins));
    let lo = &lo;
    let model = config.model()?;
    let family = &model.family;
    let schedule = &model.schedule;
    // x̂ of `net` (the run's weights on the plain or the autodiff device), per-row times.
    let predictor_of = |net: &gpfn_network::Network| {
        let net = net.clone();
        let model = &model;
        move |z: Tensor<2>, t: &[f64]| model.predict_x(&net, z, t)
    };
    let batch = options.batch.max(1);
    let mut rng = Rng::derive(options.seed, "nll", 0);
    let device = run.device.clone();
    let mut estimates = Vec::new();
    let (mut nfe, mut hutchinson) = (None, None);
    let kind = if model.categorical.is_some() {
        Kind::Categorical
    } else {
        Kind::Continuous(kind)
    };
    match kind {
        Kind::Categorical => {
            let categorical = model.categorical.as_ref().expect("checked above");
            let steps = lo.steps.unwrap_or(config.sampler.steps());
            estimates = categorical_bounds(
                &model,
                categorical,
                &run.network,
                (&test.values[..count * dim], dim),
                (steps, lo.repeats, batch),
                &mut rng,
                progress,
            )?;
        }
        Kind::Continuous(kind) => match kind {
            Likelihood::VariationalBound => {
                let steps = lo.steps.unwrap_or(config.sampler.steps());
                if steps == 0 {
                    return Err(GpfnError::Config {
                        key: "likelihood.steps".into(),
                        message: "the sampler has no step count: give n of the n-step bound".into(),
                    });
                }
                let predictor = predictor_of(&run.network);
                let problem = BoundProblem {
                    divergence,
                    family: family.as_ref(),
                    schedule: schedule.as_ref(),
                    predictor: &predictor,
                };
                let (mut continuous, mut discrete) = (Vec::new(), Vec::new());
                for start in (0..count).step_by(batch) {
                    let rows = batch.min(count - start);
                    let values = test.values[start * dim..(start + rows) * dim].to_vec();
                    let x = Tensor::<2>::from_data(TensorData::new(values, [rows, dim]), &device);
                    let terms = bfn_bounds(&problem, &x, steps, bins, lo.repeats, &mut rng)?;
                    for i in 0..rows {
                        continuous.push(terms.continuous[i] + terms.reconstruction[i]);
                        discrete.push(terms.discrete[i] + terms.reconstruction[i]);
                    }
                    progress(start + rows);
                }
                let recon = if bins.is_some() {
                    "discretised reconstruction"
                } else {
                    "reconstruction"
                };
                estimates.push(NllEstimate::from_nats(
                    "bfn-continuous",
                    &format!("upper bound L^∞ + L^r (continuous-time loss + {recon})"),
                    &continuous,
                    dim,
                ));
                estimates.push(NllEstimate::from_nats(
                    &format!("bfn-{steps}-step"),
                    &format!("upper bound Lⁿ + L^r, n = {steps} ({recon})"),
                    &discrete,
                    dim,
                ));
            }
            Likelihood::ParticleOde => {
                // The weights again, on the autodiff device, without parameter gradients: the
                // trace needs the input's only.
                let ad = device.clone().autodiff();
                let net =
                    checkpoint::load_ema(&run.checkpoint, build_network(config, &run.shape, &ad)?)?
                        .no_grad();
                let predictor = predictor_of(&net);
                let problem = OdeProblem {
                    divergence,
                    family: family.as_ref(),
                    schedule: schedule.as_ref(),
                    predictor: &predictor,
                    device: device.clone(),
                };
                let (mut nats, mut evaluations, mut variances) = (Vec::new(), 0usize, Vec::new());
                let mut batches = 0usize;
                for start in (0..count).step_by(batch) {
                    let rows = batch.min(count - start);
                    let raw = &test.values[start * dim..(start + rows) * dim];
                    let x = match bins {
                        Some(k) => dequantise(raw, k, &mut rng),
                        None => raw.to_vec(),
                    };
                    let got = ode_log_density(&problem, &x, dim, lo, &mut rng)?;
                    for lp in got.log_density {
                        nats.push(match bins {
                            Some(k) => dequantised_nats(-lp, dim, k),
                            None => -lp,
                        });
                    }
                    if let Some(v) = got.probe_variance {
                        variances.extend(v);
                    }
                    evaluations += got.evaluations;
                    batches += 1;
                    progress(start + rows);
                }
                let (probes, exact) = lo.probes_for(dim);
                let trace = if exact {
                    "exact trace".to_string()
                } else {
                    format!("Hutchinson trace, {probes} probe(s) per item")
                };
                let deq = if bins.is_some() {
                    ", uniform dequantisation"
                } else {
                    ""
                };
                estimates.push(NllEstimate::from_nats(
                "ode",
                &format!(
                    "−ln p of the flow at t_end = {} (change of variables, dopri5, {trace}{deq})",
                    lo.t_end_for(bins)
                ),
                &nats,
                dim,
            ));
                nfe = Some(evaluations as f64 / batches as f64);
                hutchinson = (!variances.is_empty()).then(|| Estimate::of(&variances).mean);
            }
            Likelihood::None => unreachable!("refused above"),
        },
    }
    Ok(NllReport {
        run: crate::report_path(run.folder.path(), run.folder.path()),
        checkpoint: crate::report_path(&run.checkpoint, run.folder.path()),
        divergence: divergence.name().to_string(),
        items: count,
        dim,
        dequantisation: match (kind, bins) {
            (Kind::Categorical, _) => "none (categorical data)".into(),
            (Kind::Continuous(Likelihood::ParticleOde), Some(_)) => "uniform".into(),
            (Kind::Continuous(Likelihood::VariationalBound), Some(_)) => {
                "none (discretised likelihood)".into()
            }
            _ => "none (continuous data)".into(),
        },
        bins: if kind == Kind::Categorical {
            None
        } else {
            bins
        },
        data_entropy: config.data.exact_entropy(),
        estimates,
        nfe,
        hutchinson_variance: hutchinson,
        seed: options.seed,
        options: lo.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Which estimator a run is scored by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Discrete BFN's bounds on categorical data.
    Categorical,
    /// The divergence's estimator on continuous data.
    Continuous(Likelihood),
}

/// Discrete BFN's bounds (`gpfn_likelihood::categorical`) of the items `values` (`dim` class
/// indices each), `L^∞ + L^r` and `Lⁿ + L^r` with `n = steps`, in batches of `batch`, each
/// term averaged over `repeats` draws.
fn categorical_bounds(
    model: &FlowModel<'_>,
    categorical: &CategoricalModel,
    network: &gpfn_network::Network,
    (values, dim): (&[f32], usize),
    (steps, repeats, batch): (usize, usize, usize),
    rng: &mut Rng,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<NllEstimate>> {
    if steps == 0 {
        return Err(GpfnError::Config {
            key: "likelihood.steps".into(),
            message: "the sampler has no step count: give n of the n-step bound".into(),
        });
    }
    gpfn_core::belief::categorical::check_classes(values, categorical.classes)?;
    let net = network.valid();
    let predictor = |z: Tensor<2>, t: &[f64]| -> Result<Tensor<2>> {
        let device = z.device();
        Ok(net.forward(z, column(t, &device)))
    };
    let problem = CategoricalBoundProblem {
        maths: categorical_maths(model.divergence)?,
        family: &categorical.family,
        classes: categorical.classes,
        predictor: &predictor,
    };
    let device = network.devices().first().cloned().unwrap_or_default();
    let count = values.len() / dim;
    let (mut continuous, mut discrete) = (Vec::new(), Vec::new());
    for start in (0..count).step_by(batch) {
        let rows = batch.min(count - start);
        let x = Tensor::<2>::from_data(
            TensorData::new(
                values[start * dim..(start + rows) * dim].to_vec(),
                [rows, dim],
            ),
            &device,
        );
        let terms = problem.terms(&x, steps, repeats, rng)?;
        for i in 0..rows {
            continuous.push(terms.continuous[i] + terms.reconstruction[i]);
            discrete.push(terms.discrete[i] + terms.reconstruction[i]);
        }
        progress(start + rows);
    }
    Ok(vec![
        NllEstimate::from_nats(
            "bfn-continuous",
            "upper bound L^∞ + L^r on −ln P(x) (discrete BFN: continuous-time loss + reconstruction)",
            &continuous,
            dim,
        ),
        NllEstimate::from_nats(
            &format!("bfn-{steps}-step"),
            &format!("upper bound Lⁿ + L^r on −ln P(x), n = {steps} (discrete BFN)"),
            &discrete,
            dim,
        ),
    ])
}
