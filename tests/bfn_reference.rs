//! `configs/kl.toml` is the reference BFN for continuous data (Graves et al. 2023; the
//! nnaisense code's `CtsBayesianFlow`, `CtsBayesianFlowLoss` with `noise_pred = True` and
//! `DeltaFactory(clip_range = 1)`): each piece against the paper's formulas, computed here on
//! the host in f64 from the network's raw output, not by gpfn's own functions.

use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::host::host_f64;
use gpfn_core::rng::Rng;
use gpfn_network::Target;
use gpfn_run::train::{LossReduction, build_network, loss_at};
use gpfn_tests::config;

const SIGMA1: f64 = 0.001;
const D: usize = 784;

/// The reference's conversion: `x̂ = 0` for `t < 10⁻⁶`, else
/// `clip(μ/γ − √((1 − γ)/γ) ε̂, −1, 1)` with `γ = 1 − σ₁^{2t}`.
fn paper_x_hat(mu: f64, eps_hat: f64, t: f64) -> f64 {
    if t < 1e-6 {
        return 0.0;
    }
    let gamma = 1.0 - SIGMA1.powf(2.0 * t);
    (mu / gamma - ((1.0 - gamma) / gamma).sqrt() * eps_hat).clamp(-1.0, 1.0)
}

/// Times that reach each branch: before `t_min`, at it, early (|x̂| clipped), late.
const TIMES: [f64; 6] = [0.0, 5e-7, 1e-6, 0.02, 0.4, 0.97];

/// `[6, 784]` belief means from BFN's flow `μ ~ N(γ x, γ(1 − γ))` of data `x`, drawn here.
fn batch() -> (Vec<f64>, Vec<f64>) {
    let mut rng = Rng::seed(42);
    let mut x = Vec::with_capacity(TIMES.len() * D);
    let mut mu = Vec::with_capacity(TIMES.len() * D);
    for &t in &TIMES {
        let gamma = 1.0 - SIGMA1.powf(2.0 * t);
        for _ in 0..D {
            let xv = (2.0 * rng.uniform() - 1.0).clamp(-1.0, 1.0);
            x.push(xv);
            mu.push(gamma * xv + (gamma * (1.0 - gamma)).sqrt() * rng.normal());
        }
    }
    (x, mu)
}

fn tensor(v: &[f64], device: &Device) -> Tensor<2> {
    let f: Vec<f32> = v.iter().map(|&a| a as f32).collect();
    Tensor::from_data(TensorData::new(f, [v.len() / D, D]), device)
}

#[test]
fn kl_toml_is_the_reference_bfn_parameterisation() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        "kl.toml",
        dir.path(),
        &[
            "network.channels=[4, 8]",
            "network.attention=false",
            "network.groups=4",
        ],
    );
    assert_eq!(c.network.target(), Target::Eps);
    assert_eq!(c.output.clip, Some(1.0));
    assert_eq!(c.output.t_min, Some(1e-6));
    assert_eq!(c.train.loss_reduction, LossReduction::Mean);
    let sampler = serde_json::to_value(&c.sampler).unwrap();
    assert_eq!(
        sampler["name"], "stochastic",
        "BFN samples with sender noise"
    );
    assert_eq!(c.sampler.steps(), 100);
    let schedule = serde_json::to_value(c.schedule()).unwrap();
    assert_eq!(schedule["name"], "bfn-geometric");
    assert_eq!(schedule["sigma1"].as_f64(), Some(SIGMA1));

    let device = Device::flex();
    let net = build_network(&c, &[1, 28, 28], &device).unwrap();
    let (x, mu) = batch();
    let times = gpfn_core::divergence::column(&TIMES, &device);
    let eps_hat = host_f64(net.forward(tensor(&mu, &device), times));
    let model = c.model().unwrap();
    let got = host_f64(model.predict_x(&net, tensor(&mu, &device), &TIMES).unwrap());
    let mut clipped = 0;
    for (r, &t) in TIMES.iter().enumerate() {
        let gamma = 1.0 - SIGMA1.powf(2.0 * t);
        for k in r * D..(r + 1) * D {
            let want = paper_x_hat(mu[k] as f32 as f64, eps_hat[k], t);
            // f32 evaluation of μ·(1/γ) + ε̂·(−√(1−γ)/γ): two rounded products and a sum,
            // each within 2⁻²⁴ of its magnitude (clipping only shrinks the error).
            let scale = if t < 1e-6 {
                0.0
            } else {
                (mu[k] / gamma).abs() + (((1.0 - gamma) / gamma).sqrt() * eps_hat[k]).abs()
            };
            let tol = 4.0 * f32::EPSILON as f64 * scale + 1e-7;
            assert!(
                (got[k] - want).abs() <= tol,
                "t = {t}, pixel {}: {} vs {want}",
                k - r * D,
                got[k]
            );
            if want.abs() == 1.0 {
                clipped += 1;
            }
        }
    }
    assert!(clipped > 0, "the batch exercises the clipping");

    // The training loss on this batch: the reference's `C · mse / posterior_var` with
    // `C = −½ ln σ₁²`, `posterior_var = σ₁^{2t}`, averaged over pixels and rows.
    let mut want = 0.0;
    for (r, &t) in TIMES.iter().enumerate() {
        let weight = -SIGMA1.ln() / SIGMA1.powf(2.0 * t);
        let mut se = 0.0;
        for k in r * D..(r + 1) * D {
            let xh = paper_x_hat(mu[k] as f32 as f64, eps_hat[k], t);
            se += (x[k] as f32 as f64 - xh).powi(2);
        }
        want += weight * se / D as f64;
    }
    want /= TIMES.len() as f64;
    let loss = loss_at(
        &net,
        &model,
        c.train.loss_reduction,
        tensor(&x, &device),
        tensor(&mu, &device),
        &TIMES,
    )
    .unwrap()
    .into_scalar::<f32>() as f64;
    // f32 sums of 784 squared errors per row and the weighted mean: relative rounding
    // ≤ 784 · 2⁻²⁴ ≈ 5·10⁻⁵, plus the per-pixel x̂ errors bounded above.
    assert!(
        (loss - want).abs() <= 2e-4 * want,
        "loss {loss} vs the paper's {want}"
    );
}
