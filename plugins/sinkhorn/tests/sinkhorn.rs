//! Sinkhorn: the conformance kit, the particle step's ε → 0 limit (the W2 step), and the
//! minibatch OT coupling of the flow distribution.

use gpfn_core::belief::{BeliefState, DiagGaussian, ParticleFamily};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::conformance::{Options, check};
use gpfn_core::divergence::{Divergence, Noise};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::{Uniform, time_grid};
use gpfn_sinkhorn::{Coupling, SinkhornDivergence, entropic_transport_step};
use gpfn_w2::W2Divergence;

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// The kit with 64 replicates of each of its 4 data points: the particle step solves a
/// 256 × 256 transport problem and the coupling a 256 × 256 assignment, which keeps the test
/// to seconds; the 5-σ moment tolerances scale with the sample size, so the check stays
/// calibrated.
#[test]
fn conforms() {
    let div = SinkhornDivergence::default();
    let report = check(
        &div,
        &Options {
            replicates: 64,
            ..Options::default()
        },
    );
    assert!(report.passed(), "sinkhorn fails the kit:\n{report}");
    println!("{report}");
}

/// Well-separated particles, each with its target nearby: the identity is the optimal
/// assignment, and the entropic step converges to the W2 step `(1 − w) z + w y` as ε → 0.
#[test]
fn particle_step_approaches_the_w2_step_as_epsilon_shrinks() {
    let device = Device::flex();
    let mut rng = Rng::seed(9);
    let n = 16;
    let d = 2;
    // A 4 × 4 grid with spacing 4, each target displaced by at most 0.5.
    let z: Vec<f32> = (0..n)
        .flat_map(|i| [(i % 4) as f32 * 4.0, (i / 4) as f32 * 4.0])
        .collect();
    let y: Vec<f32> = z
        .iter()
        .map(|v| v + 0.5 * (rng.uniform() as f32 - 0.5))
        .collect();
    let z = Tensor::<2>::from_data(TensorData::new(z, [n, d]), &device);
    let y = Tensor::<2>::from_data(TensorData::new(y, [n, d]), &device);
    let w = 0.3;
    let w2 = host(z.clone().mul_scalar(1.0 - w) + y.clone().mul_scalar(w));
    let div = SinkhornDivergence::default();
    let solver = gpfn_ot::Sinkhorn {
        tolerance: 1e-5,
        max_iterations: 2000,
        ..Default::default()
    };
    let mut previous = f32::INFINITY;
    for eps in [0.1, 0.03, 0.01, 0.003] {
        let moved = host(entropic_transport_step(&z, &y, w, &solver, eps, n).unwrap());
        let gap = moved
            .iter()
            .zip(&w2)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(gap < previous, "ε = {eps}: gap {gap} did not shrink");
        previous = gap;
    }
    // Mean cost ≈ 45, so ε ≈ 0.14 at the last setting; the nearest wrong target costs ≥ 9
    // more, weight ≤ e^{−9/0.14} ≈ 1e-28: only f32 rounding remains (values up to 12).
    assert!(previous < 1e-5, "gap {previous}");
    // Through the Divergence trait: the deterministic sampling step is the same move.
    let family = ParticleFamily {};
    let grid = time_grid(&Uniform {}, 5);
    let state = BeliefState {
        gaussian: DiagGaussian::standard(n, d, &device),
        particle: Some(z.clone()),
    };
    let sharp = SinkhornDivergence {
        epsilon: 0.003,
        tolerance: 1e-5,
        max_iterations: 2000,
        ..div
    };
    let next = sharp
        .maths()
        .step(&family, state, &y, &grid[1], Noise::Deterministic, &mut rng)
        .unwrap();
    let w = grid[1].weight as f32;
    let expected = host(z.mul_scalar(1.0 - w) + y.mul_scalar(w));
    for (a, b) in host(next.particle.unwrap()).iter().zip(&expected) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

/// The coupled flow keeps both batch marginals (a permutation of the noise) and shortens the
/// paths: `Σ ‖x_i − ε_i‖²` is minimal among pairings, so at most the independent one.
#[test]
fn coupled_flow_permutes_the_noise_and_shortens_paths() {
    let device = Device::flex();
    let family = ParticleFamily {};
    let (b, d) = (24, 2);
    let mut rng = Rng::seed(4);
    let x = rng.normal_tensor(b, d, &device).add_scalar(2.0);
    let zero = vec![0.0; b];
    let coupled = SinkhornDivergence::default();
    let independent = SinkhornDivergence {
        coupling: Coupling::Independent,
        ..Default::default()
    };
    // κ = 0 returns the noise itself; the same rng seed draws the same noise.
    let e_c = host(
        coupled
            .maths()
            .flow(&family, &x, &zero, &mut Rng::seed(5))
            .unwrap(),
    );
    let e_i = host(
        independent
            .maths()
            .flow(&family, &x, &zero, &mut Rng::seed(5))
            .unwrap(),
    );
    let rows = |v: &[f32]| {
        let mut r: Vec<Vec<u32>> = v
            .chunks(d)
            .map(|c| c.iter().map(|f| f.to_bits()).collect())
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        rows(&e_c),
        rows(&e_i),
        "coupling must only reorder the noise"
    );
    let xs = host(x.clone());
    let length = |e: &[f32]| -> f64 {
        xs.iter()
            .zip(e)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum()
    };
    assert!(
        length(&e_c) < 0.8 * length(&e_i),
        "coupled {} vs independent {}",
        length(&e_c),
        length(&e_i)
    );
    // And the flow is κ x + (1 − κ) ε_σ for a general κ.
    let kappa: Vec<f64> = (0..b).map(|i| i as f64 / b as f64).collect();
    let z = host(
        coupled
            .maths()
            .flow(&family, &x, &kappa, &mut Rng::seed(5))
            .unwrap(),
    );
    for i in 0..b {
        for k in 0..d {
            let want = kappa[i] as f32 * xs[i * d + k] + (1.0 - kappa[i] as f32) * e_c[i * d + k];
            assert!((z[i * d + k] - want).abs() < 1e-5);
        }
    }
}

/// Blocks are independent problems: transporting in blocks of 8 equals transporting each
/// block alone, and a remainder block is handled.
#[test]
fn particle_step_transports_blocks_independently() {
    let device = Device::flex();
    let mut rng = Rng::seed(12);
    let (n, d) = (20, 2);
    let z = rng.normal_tensor(n, d, &device);
    let y = rng.normal_tensor(n, d, &device).add_scalar(1.0);
    let solver = gpfn_ot::Sinkhorn {
        tolerance: 1e-5,
        ..Default::default()
    };
    let blocked = host(entropic_transport_step(&z, &y, 0.4, &solver, 0.05, 8).unwrap());
    // The relative ε uses the mean cost of the whole batch; pass the same absolute ε.
    let scale = gpfn_ot::mean_cost(&z, &y);
    for (start, len) in [(0, 8), (8, 8), (16, 4)] {
        let zs = z.clone().narrow(0, start, len);
        let ys = y.clone().narrow(0, start, len);
        let rel = 0.05 * scale / gpfn_ot::mean_cost(&zs, &ys);
        let alone = host(entropic_transport_step(&zs, &ys, 0.4, &solver, rel, len).unwrap());
        for (k, v) in alone.iter().enumerate() {
            // Same ε up to f32 rounding of the two mean costs: 1e-4 of O(1) values.
            assert!(
                (blocked[start * d + k] - v).abs() < 1e-4,
                "row {}",
                start + k / d
            );
        }
    }
    assert!(entropic_transport_step(&z, &y, 0.4, &solver, 0.05, 0).is_err());
}

#[test]
fn gaussian_parts_are_those_of_w2() {
    let device = Device::flex();
    let s = SinkhornDivergence::default();
    let w2 = W2Divergence::default();
    let p = DiagGaussian::from_vecs(&[0.5, -1.0], &[0.8, 2.0], &device);
    let q = DiagGaussian::from_vecs(&[0.0, 1.0], &[1.0, 1.5], &device);
    assert_eq!(
        s.maths().value(&p, &q).into_scalar::<f32>(),
        w2.maths().value(&p, &q).into_scalar::<f32>()
    );
    for step in time_grid(&Uniform {}, 4) {
        assert_eq!(s.maths().accuracy(&step), w2.maths().accuracy(&step));
    }
}

#[test]
fn config_reads_its_fields_and_rejects_unknown_ones() {
    let d: SinkhornDivergence =
        serde_json::from_str(r#"{"epsilon": 0.05, "coupling": "independent"}"#).unwrap();
    assert_eq!(d.epsilon, 0.05);
    assert_eq!(d.coupling, Coupling::Independent);
    assert_eq!(
        d.max_iterations,
        SinkhornDivergence::default().max_iterations
    );
    let e = serde_json::from_str::<SinkhornDivergence>(r#"{"epsilonn": 0.05}"#).unwrap_err();
    assert!(e.to_string().contains("epsilonn"), "{e}");
}

/// A failed entropic step is an error that names the divergence, never a silent W2 step:
/// `epsilon = 0` (which the config rejects, so it is set here directly) has no Sinkhorn plan.
#[test]
fn a_failed_entropic_step_is_an_error_not_a_w2_step() {
    let device = Device::flex();
    let mut rng = Rng::seed(3);
    let (n, d) = (8, 2);
    let state = BeliefState {
        gaussian: DiagGaussian::standard(n, d, &device),
        particle: Some(rng.normal_tensor(n, d, &device)),
    };
    let y = rng.normal_tensor(n, d, &device);
    let grid = time_grid(&Uniform {}, 5);
    let broken = SinkhornDivergence {
        epsilon: 0.0,
        ..SinkhornDivergence::default()
    };
    let err = broken
        .maths()
        .step(
            &ParticleFamily {},
            state,
            &y,
            &grid[1],
            Noise::Deterministic,
            &mut rng,
        )
        .expect_err("ε = 0 has no entropic plan");
    let message = err.to_string();
    assert!(message.contains("divergence `sinkhorn`"), "{message}");
    assert!(message.contains("entropic transport step 2"), "{message}");
    // And the config refuses ε = 0 before any sampling starts.
    let e = serde_json::from_value::<SinkhornDivergence>(serde_json::json!({ "epsilon": 0.0 }))
        .expect_err("epsilon must be positive");
    assert!(e.to_string().contains("must be"), "{e}");
}
