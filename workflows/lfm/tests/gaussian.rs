//! Local Flow Matching with the exact block maps, on Gaussian data `x_0 ~ N(m, S)` (2-D, a
//! full covariance).
//!
//! An Ornstein–Uhlenbeck step of a Gaussian is Gaussian: `x_l = a_l x_{l−1} + √(1 − a_l²) z`
//! (`a_l = e^{−h_l}`) has mean `m_l = a_l m_{l−1}`, covariance `S_l = a_l² S_{l−1} + (1 − a_l²) I`
//! and `Cov(x_{l−1}, x_l) = a_l S_{l−1}`; the free block pairs `x_L` with independent `N(0, I)`.
//! On block `l`'s straight path `y = κ x_{l−1} + (1 − κ) x_l` the pair is jointly Gaussian, so
//! the exact predictor `x̂ = E[x_{l−1} | y] = m_{l−1} + G (y − E y)`, `G = Cov(x_{l−1}, y)
//! Cov(y)⁻¹`, is affine, and the block's ODE `ż = κ'(x̂ − z)/(1 − κ)` carries `N(m_l, S_l)`
//! exactly to `N(m_{l−1}, S_{l−1})`. With these predictors in place of networks the composed
//! flow is exactly `N(m, S)`:
//!
//! * its exact likelihood (the blocks' change-of-variables terms and the prior's, through
//!   [`gpfn_lfm::nll_maps`]) is `ln N(x; m, S)` to 10⁻³ nats, item by item, for both
//!   interpolants;
//! * its samples (through [`gpfn_lfm::sample_maps`], dopri5 in every block) have the data's
//!   law: mean, covariance and the mean Mahalanobis distance within 4 standard errors.

use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::schedule::Schedule;
use gpfn_data as _;
use gpfn_lfm::LfmSettings;
use gpfn_lfm::workflow::block_config;
use gpfn_likelihood::{LikelihoodOptions, RowPredictor, TraceEstimator};
use gpfn_network as _;
use gpfn_rectified_flow as _;
use gpfn_run::config::{Config, ConfigSources, load};
use gpfn_run::model::FlowModel;
use std::f64::consts::PI;
use std::path::PathBuf;

type M2 = [[f64; 2]; 2];

const MEAN: [f64; 2] = [0.5, -1.0];
const COV: M2 = [[0.8, 0.3], [0.3, 0.5]];
const STEPS: [f64; 3] = [0.2, 0.4, 0.8];

fn add(a: M2, b: M2) -> M2 {
    [
        [a[0][0] + b[0][0], a[0][1] + b[0][1]],
        [a[1][0] + b[1][0], a[1][1] + b[1][1]],
    ]
}
fn scale(c: f64, a: M2) -> M2 {
    [[c * a[0][0], c * a[0][1]], [c * a[1][0], c * a[1][1]]]
}
fn transpose(a: M2) -> M2 {
    [[a[0][0], a[1][0]], [a[0][1], a[1][1]]]
}
fn mul(a: M2, b: M2) -> M2 {
    let mut c = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    c
}
fn det(a: M2) -> f64 {
    a[0][0] * a[1][1] - a[0][1] * a[1][0]
}
fn inv(a: M2) -> M2 {
    let d = det(a);
    [[a[1][1] / d, -a[0][1] / d], [-a[1][0] / d, a[0][0] / d]]
}
fn apply(a: M2, v: [f64; 2]) -> [f64; 2] {
    [
        a[0][0] * v[0] + a[0][1] * v[1],
        a[1][0] * v[0] + a[1][1] * v[1],
    ]
}
const EYE: M2 = [[1.0, 0.0], [0.0, 1.0]];

/// `ln N(x; mean, cov)`.
fn log_normal(x: [f64; 2], mean: [f64; 2], cov: M2) -> f64 {
    let d = [x[0] - mean[0], x[1] - mean[1]];
    let q = apply(inv(cov), d);
    -0.5 * (d[0] * q[0] + d[1] * q[1]) - (2.0 * PI).ln() - 0.5 * det(cov).ln()
}

/// Block `l`'s ends: `(m_{l−1}, S_{l−1})`, `(m_l, S_l)` and `Cov(x_{l−1}, x_l)`, `l = 1..=L + 1`.
struct Ends {
    data: ([f64; 2], M2),
    noise: ([f64; 2], M2),
    cross: M2,
}

fn ends() -> Vec<Ends> {
    let (mut m, mut s) = (MEAN, COV);
    let mut out = Vec::new();
    for h in STEPS {
        let a = (-h).exp();
        let (m1, s1) = (
            [a * m[0], a * m[1]],
            add(scale(a * a, s), scale(1.0 - a * a, EYE)),
        );
        out.push(Ends {
            data: (m, s),
            noise: (m1, s1),
            cross: scale(a, s),
        });
        (m, s) = (m1, s1);
    }
    out.push(Ends {
        data: (m, s),
        noise: ([0.0; 2], EYE),
        cross: [[0.0; 2]; 2],
    });
    out
}

/// The exact `x̂(y, t) = m_{l−1} + G(κ)(y − E y)` of a block on `schedule`'s straight path, as
/// `(Gᵀ, m_{l−1} − G E y)` for the row form `x̂ = y Gᵀ + c`.
fn exact_map(e: &Ends, kappa: f64) -> (M2, [f64; 2]) {
    let k = kappa;
    let (m0, s0) = e.data;
    let (m1, s1) = e.noise;
    let ey = [k * m0[0] + (1.0 - k) * m1[0], k * m0[1] + (1.0 - k) * m1[1]];
    let cov_y = add(
        add(scale(k * k, s0), scale((1.0 - k) * (1.0 - k), s1)),
        scale(k * (1.0 - k), add(e.cross, transpose(e.cross))),
    );
    let cov_xy = add(scale(k, s0), scale(1.0 - k, e.cross));
    let g = mul(cov_xy, inv(cov_y));
    let gy = apply(g, ey);
    (transpose(g), [m0[0] - gy[0], m0[1] - gy[1]])
}

/// `z Gᵀ + c` on `z`'s device.
fn affine(z: Tensor<2>, gt: M2, c: [f64; 2]) -> Tensor<2> {
    let device: Device = z.device();
    let rows = z.dims()[0];
    let gt: Vec<f32> = gt.iter().flatten().map(|&v| v as f32).collect();
    let gt = Tensor::<2>::from_data(TensorData::new(gt, [2, 2]), &device);
    let shift: Vec<f32> = (0..rows).flat_map(|_| c.map(|v| v as f32)).collect();
    let shift = Tensor::<2>::from_data(TensorData::new(shift, [rows, 2]), &device);
    z.matmul(gt) + shift
}

/// The LFM toy config with `STEPS` as its blocks and `interpolant`; its blocks' configs.
fn block_configs(interpolant: &str) -> Vec<Config> {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(&ConfigSources {
        file: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/lfm-toy.toml")),
        env: Vec::new(),
        sets: vec![
            format!("run.dir={}", dir.path().display()),
            format!("workflow.lfm.blocks={}", STEPS.len()),
            format!("workflow.lfm.steps={STEPS:?}"),
            format!("workflow.lfm.interpolant=\"{interpolant}\""),
        ],
    })
    .unwrap();
    let settings = LfmSettings::from_workflow(&loaded.workflow).unwrap();
    (1..=STEPS.len() + 1)
        .map(|l| block_config(&loaded.config, &settings, l, None).unwrap())
        .collect()
}

/// Items around the data, up to ~3.5 standard deviations out.
fn items() -> Vec<[f64; 2]> {
    let mut out = vec![MEAN];
    for (r, n) in [(0.5, 5), (1.2, 7), (2.0, 7), (3.0, 5)] {
        for i in 0..n {
            let a = 2.0 * PI * (i as f64 + 0.3 * r) / n as f64;
            out.push([MEAN[0] + r * a.cos(), MEAN[1] + 0.8 * r * a.sin()]);
        }
    }
    out
}

#[test]
fn the_exact_block_maps_compose_to_the_data_likelihood() {
    let all = ends();
    let device = Device::flex();
    for interpolant in ["trigonometric", "linear"] {
        let configs = block_configs(interpolant);
        let models: Vec<FlowModel<'_>> = configs.iter().map(|c| c.model().unwrap()).collect();
        let predictors: Vec<Box<RowPredictor<'_>>> = models
            .iter()
            .zip(&all)
            .map(|(model, e)| -> Box<RowPredictor<'_>> {
                let schedule: &dyn Schedule = model.schedule.as_ref();
                Box::new(move |z: Tensor<2>, t: &[f64]| {
                    let (gt, c) = exact_map(e, schedule.kappa(t[0]));
                    Ok(affine(z, gt, c))
                })
            })
            .collect();
        let maps: Vec<(&FlowModel<'_>, &RowPredictor<'_>)> = models
            .iter()
            .zip(&predictors)
            .map(|(m, p)| (m, p.as_ref()))
            .collect();
        // t_end = 1 − 10⁻⁵: each block's flow at t_end differs from its data end by
        // 1 − κ(t_end) ≤ 1.6·10⁻⁵ of the way (at the default 1 − 10⁻³ the composed density
        // is off by ≈ 6·10⁻³ nats at the mean). What remains is the f32 state's rounding
        // over four blocks: at most 7·10⁻⁴ nats here, on the items 3 standard deviations out.
        let options = LikelihoodOptions {
            rtol: 1e-7,
            atol: 1e-7,
            t_end: Some(1.0 - 1e-5),
            trace: TraceEstimator::Exact,
            ..Default::default()
        };
        let xs = items();
        let x: Vec<f32> = xs.iter().flat_map(|p| p.map(|v| v as f32)).collect();
        let scoring = gpfn_lfm::workflow::Scoring {
            batch: 64,
            options,
            bins: None,
            seed: 0,
        };
        let got = gpfn_lfm::nll_maps(&maps, &x, 2, &scoring, &device).unwrap();
        assert_eq!(got.per_item.len(), xs.len());
        assert_eq!(got.blocks.len(), STEPS.len() + 1);
        for (p, nll) in xs.iter().zip(&got.per_item) {
            // The f32 input itself.
            let p32 = p.map(|v| v as f32 as f64);
            let want = -log_normal(p32, MEAN, COV);
            assert!(
                (nll - want).abs() < 1e-3,
                "{interpolant}: item {p:?}: {nll} nats, closed form {want}"
            );
        }
        // The blocks' log-determinants add up to ln det of the composed map: −½ ln det S
        // against the prior's 0 (mean over the items, exact for an affine map).
        let log_det: f64 = got.blocks.iter().map(|b| b.log_det).sum();
        assert!(
            (log_det + 0.5 * det(COV).ln()).abs() < 1e-3,
            "{interpolant}: Σ log det = {log_det}"
        );
    }
}

#[test]
fn samples_through_the_exact_block_maps_have_the_data_law() {
    let all = ends();
    let device = Device::flex();
    let configs = block_configs("trigonometric");
    let models: Vec<FlowModel<'_>> = configs.iter().map(|c| c.model().unwrap()).collect();
    let predictors: Vec<Box<gpfn_core::sampling::Predictor<'_>>> = models
        .iter()
        .zip(&all)
        .map(|(model, e)| -> Box<gpfn_core::sampling::Predictor<'_>> {
            let schedule: &dyn Schedule = model.schedule.as_ref();
            Box::new(move |z: Tensor<2>, t: f64| {
                let (gt, c) = exact_map(e, schedule.kappa(t));
                affine(z, gt, c)
            })
        })
        .collect();
    let maps: Vec<(&FlowModel<'_>, &gpfn_core::sampling::Predictor<'_>)> = models
        .iter()
        .zip(&predictors)
        .map(|(m, p)| (m, p.as_ref()))
        .collect();
    let sampler = gpfn_core::sampler::by_name("dopri5", 0, "sampler").unwrap();
    let n = 4000;
    let (x, nfe) = gpfn_lfm::sample_maps(&maps, &[2], n, sampler.as_ref(), 7, &device).unwrap();
    assert_eq!(x.len(), 2 * n);
    assert!(nfe >= 4 * 6, "NFE over 4 blocks: {nfe}");
    let rows: Vec<[f64; 2]> = x.chunks(2).map(|r| [r[0] as f64, r[1] as f64]).collect();
    let nf = n as f64;
    let mean = [0, 1].map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / nf);
    let mut cov = [[0.0; 2]; 2];
    for r in &rows {
        for i in 0..2 {
            for j in 0..2 {
                cov[i][j] += (r[i] - mean[i]) * (r[j] - mean[j]) / (nf - 1.0);
            }
        }
    }
    // 4 standard errors: se(mean_j) = √(S_jj/n); se(Ŝ_ij) = √((S_ii S_jj + S_ij²)/n) (Gaussian).
    for j in 0..2 {
        let se = (COV[j][j] / nf).sqrt();
        assert!(
            (mean[j] - MEAN[j]).abs() < 4.0 * se,
            "mean {mean:?} vs {MEAN:?}"
        );
        for i in 0..2 {
            let se = ((COV[i][i] * COV[j][j] + COV[i][j].powi(2)) / nf).sqrt();
            assert!(
                (cov[i][j] - COV[i][j]).abs() < 4.0 * se,
                "covariance {cov:?} vs {COV:?}"
            );
        }
    }
    // The squared Mahalanobis distance under the data's law is χ²₂: mean 2, s.d. 2.
    let p = inv(COV);
    let maha = rows
        .iter()
        .map(|r| {
            let d = [r[0] - MEAN[0], r[1] - MEAN[1]];
            let q = apply(p, d);
            d[0] * q[0] + d[1] * q[1]
        })
        .sum::<f64>()
        / nf;
    assert!(
        (maha - 2.0).abs() < 4.0 * 2.0 / nf.sqrt(),
        "mean Mahalanobis² {maha}"
    );
}
