//! The generic solver and simulated flow through the f-divergences: `forward-kl` reproduces
//! the exact KL plugin (Bayes = BFN), the simulated flow matches the closed-form flows of KL
//! and W2 in moments, and every f-divergence passes the conformance kit (on diagonal Gaussians
//! and on the categorical family).

use approx::assert_relative_eq;
use gpfn_core::belief::{DiagGaussian, DiagGaussianFamily, ParticleFamily};
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::conformance::{Options, check};
use gpfn_core::divergence::Divergence;
use gpfn_core::host::host_f64 as host;
use gpfn_core::rng::Rng;
use gpfn_core::schedule::{BfnGeometric, Uniform, time_grid};
use gpfn_core::simulated_flow::simulated_flow;
use gpfn_fdiv::{
    AlphaDivergence, Chi2, ForwardKl, Hellinger, JensenShannon, ReverseKl, TotalVariation,
};
use gpfn_kl::KlDivergence;
use gpfn_w2::W2Divergence;
use std::num::NonZeroUsize;

fn tensor(v: &[f64], rows: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let cols = v.len() / rows;
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

#[test]
fn forward_kl_through_the_solver_is_the_exact_kl_step() {
    let device = Device::flex();
    let mut rng = Rng::seed(11);
    let (b, d) = (6, 5);
    let mean = tensor(
        &rng.normals(b * d)
            .iter()
            .map(|&x| x as f64)
            .collect::<Vec<_>>(),
        b,
        &device,
    );
    let std = tensor(
        &rng.normals(b * d)
            .iter()
            .map(|&x| (0.5 * x as f64).exp())
            .collect::<Vec<_>>(),
        b,
        &device,
    );
    let y = rng.normal_tensor(b, d, &device).mul_scalar(2.0);
    let prev = DiagGaussian { mean, std };
    let exact = KlDivergence::default();
    let numeric = ForwardKl::default();
    // BFN's accuracies for σ₁ = 0.001, n = 20, from the smallest to the largest.
    for step in time_grid(&BfnGeometric::default(), 20).iter().step_by(4) {
        let alpha = exact.maths().accuracy(step);
        assert_eq!(numeric.maths().accuracy(step), alpha);
        let a = exact.maths().prox(&prev, &y, alpha).unwrap();
        let n = numeric.maths().prox(&prev, &y, alpha).unwrap();
        for (x, z) in host(n.mean).iter().zip(host(a.mean)) {
            // The 1e-5; the f32 fixed point is ~1e-7 accurate.
            assert_relative_eq!(*x, z, max_relative = 1e-5, epsilon = 1e-5);
        }
        for (x, z) in host(n.std).iter().zip(host(a.std)) {
            assert_relative_eq!(*x, z, max_relative = 1e-5);
        }
    }
}

/// Mean and standard deviation of each column of `[rows, d]` host values.
fn column_moments(v: &[f64], d: usize) -> Vec<(f64, f64)> {
    let rows = v.len() / d;
    (0..d)
        .map(|k| {
            let col: Vec<f64> = v.iter().skip(k).step_by(d).copied().collect();
            let m = col.iter().sum::<f64>() / rows as f64;
            let var = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (rows - 1) as f64;
            (m, var.sqrt())
        })
        .collect()
}

/// Simulated and closed-form flows of one data point replicated `r` times agree in mean and
/// standard deviation within five standard errors, at every grid step.
fn assert_flows_agree(div: &dyn Divergence, family: &dyn gpfn_core::belief::BeliefFamily) {
    let device = Device::flex();
    let r = 4000;
    let point = [0.8, -0.5, 0.3];
    let x = tensor(&point.repeat(r), r, &device);
    let schedule = div.maths().default_schedule();
    let n = 8;
    let grid = time_grid(schedule.as_ref(), n);
    let mut rng = Rng::seed(23);
    for j in [1, 3, 5, 7] {
        let steps = vec![j; r];
        let sim = simulated_flow(div.maths(), family, &grid, &x, &steps, &mut rng).unwrap();
        let closed = div
            .maths()
            .flow(family, &x, &vec![grid[j - 1].kappa; r], &mut rng)
            .unwrap();
        let a = column_moments(&host(sim), 3);
        let b = column_moments(&host(closed), 3);
        for ((ma, sa), (mb, sb)) in a.iter().zip(&b) {
            // Five standard errors of a difference of means / of standard deviations.
            let se_m = ((sa * sa + sb * sb) / r as f64).sqrt();
            let se_s = ((sa * sa + sb * sb) / (2.0 * r as f64)).sqrt();
            assert!(
                (ma - mb).abs() <= 5.0 * se_m + 1e-6,
                "step {j}: {ma} vs {mb}"
            );
            assert!(
                (sa - sb).abs() <= 5.0 * se_s + 1e-6,
                "step {j}: {sa} vs {sb}"
            );
        }
    }
}

#[test]
fn simulated_flow_matches_the_kl_closed_form() {
    assert_flows_agree(&KlDivergence::default(), &DiagGaussianFamily {});
}

#[test]
fn simulated_flow_matches_the_w2_closed_form() {
    assert_flows_agree(&W2Divergence::default(), &ParticleFamily {});
}

#[test]
fn simulated_flow_of_forward_kl_through_the_solver_matches_bfn() {
    // forward-kl's flow is simulated through the numerical solver; KL's is closed form.
    let device = Device::flex();
    let r = 3000;
    let x = tensor(&[0.6, -0.9].repeat(r), r, &device);
    let fkl = ForwardKl {
        steps: NonZeroUsize::new(6).unwrap(),
        ..ForwardKl::default()
    };
    let schedule = BfnGeometric::default();
    let mut rng = Rng::seed(5);
    for j in [2, 5] {
        let t = vec![j as f64 / 6.0; r];
        let sim = fkl
            .maths()
            .flow_at(&DiagGaussianFamily {}, &schedule, &x, &t, &mut rng)
            .unwrap();
        let gamma = gpfn_core::schedule::Schedule::kappa(&schedule, j as f64 / 6.0);
        for (k, (m, s)) in column_moments(&host(sim), 2).into_iter().enumerate() {
            let xk = [0.6, -0.9][k];
            let sd = (gamma * (1.0 - gamma)).sqrt();
            // μ ~ N(γx, γ(1−γ)): five standard errors.
            assert!((m - gamma * xk).abs() <= 5.0 * sd / (r as f64).sqrt() + 1e-6);
            assert!((s - sd).abs() <= 5.0 * sd / (2.0 * r as f64).sqrt() + 1e-6);
        }
    }
    // Off the grid the simulated flow refuses, naming the grid.
    let err = fkl
        .maths()
        .flow_at(
            &DiagGaussianFamily {},
            &schedule,
            &x,
            &vec![0.1; r],
            &mut rng,
        )
        .unwrap_err();
    assert!(err.to_string().contains("6-step grid"), "{err}");
}

#[test]
fn uniform_schedule_last_step_observes_exactly() {
    // κ = 1 at the end of the uniform grid: α = ∞, the belief collapses onto y.
    let device = Device::flex();
    let h = Hellinger::default();
    let grid = time_grid(&Uniform {}, 4);
    assert!(h.maths().accuracy(&grid[3]).is_infinite());
    let prev = DiagGaussian::standard(2, 3, &device);
    let y = tensor(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 2, &device);
    let p = h.maths().prox(&prev, &y, f64::INFINITY).unwrap();
    assert_eq!(host(p.mean), host(y));
}

/// A step the solver cannot take (here a negative accuracy, or a `y` of another shape) is an
/// error that names the divergence and the problem, not a NaN belief (`gpfn math prox` used to
/// print `null` for it).
#[test]
fn a_failed_solve_is_an_error_naming_the_divergence() {
    let device = Device::flex();
    let prev = DiagGaussian::standard(2, 3, &device);
    let y = tensor(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 2, &device);
    let div: &dyn Divergence = &Hellinger::default();
    let err = div.maths().prox(&prev, &y, -1.0).expect_err("α < 0");
    let message = err.to_string();
    assert!(message.contains("divergence `hellinger`"), "{message}");
    assert!(message.contains("accuracy must be positive"), "{message}");
    let wrong = tensor(&[0.1, 0.2], 1, &device);
    let err = div
        .maths()
        .prox(&prev, &wrong, 1.0)
        .expect_err("shapes differ");
    assert!(err.to_string().contains("divergence `hellinger`"), "{err}");
}

fn small<T: Default>(f: impl FnOnce(T) -> T) -> T {
    f(T::default())
}

/// The conformance kit with `options` passes, its contracts on the simplex among them: every
/// f-divergence lists the categorical family, so the kit's 3 optimality and 3 oracle checks on
/// it (`categorical/…`) must have run.
fn conforms(div: &dyn Divergence, options: &Options) {
    let report = check(div, options);
    assert!(
        report.passed(),
        "divergence `{}` fails the conformance kit:\n{report}",
        div.name()
    );
    let simplex = report
        .checks
        .iter()
        .filter(|c| c.name.starts_with("categorical/"))
        .count();
    assert_eq!(simplex, 6, "{report}");
}

#[test]
fn forward_kl_conforms() {
    conforms(
        &small(|d: ForwardKl| ForwardKl {
            steps: NonZeroUsize::new(6).unwrap(),
            ..d
        }),
        &Options::default(),
    );
}

#[test]
fn reverse_kl_conforms() {
    conforms(
        &small(|d: ReverseKl| ReverseKl {
            steps: NonZeroUsize::new(6).unwrap(),
            ..d
        }),
        &Options::default(),
    );
}

#[test]
fn chi2_conforms() {
    conforms(
        &small(|d: Chi2| Chi2 {
            steps: NonZeroUsize::new(6).unwrap(),
            ..d
        }),
        &Options::default(),
    );
}

#[test]
fn hellinger_conforms() {
    conforms(
        &small(|d: Hellinger| Hellinger {
            steps: NonZeroUsize::new(6).unwrap(),
            ..d
        }),
        &Options::default(),
    );
}

#[test]
fn jensen_shannon_conforms() {
    // The same kit as `assert_conforms`, with 250 replicates per data point instead of 2000:
    // Jensen–Shannon's quadrature makes each solver iteration ~80 times dearer than the closed
    // forms' (examples/solver_cost.rs), and the default kit took over 10 minutes here. The
    // moment tolerances of the kit scale with the replicates (five standard errors), so the
    // check is as strict in probability, only less sensitive. 6 nodes: the kit checks the chain
    // and the optimality of each step for the value as configured, both exact for any node
    // count; the value's accuracy is tests/values.rs's business.
    let js = JensenShannon {
        steps: NonZeroUsize::new(6).unwrap(),
        nodes: NonZeroUsize::new(6).unwrap(),
        ..JensenShannon::default()
    };
    let options = Options {
        replicates: 250,
        ..Options::default()
    };
    conforms(&js, &options);
}

#[test]
fn total_variation_conforms() {
    // The kit with 500 replicates per point instead of 2000 (tolerances scale with them, five
    // standard errors): total variation's kink at p = q makes Newton creep (linearly) and its
    // value needs the densities' crossing points, so the default kit took ~90 s alone.
    let tv = TotalVariation {
        steps: NonZeroUsize::new(6).unwrap(),
        ..TotalVariation::default()
    };
    let options = Options {
        replicates: 500,
        ..Options::default()
    };
    conforms(&tv, &options);
}

#[test]
fn alpha_divergences_conform() {
    for alpha in [0.5, 2.0] {
        conforms(
            &AlphaDivergence {
                steps: NonZeroUsize::new(6).unwrap(),
                alpha,
                ..AlphaDivergence::default()
            },
            &Options::default(),
        );
    }
}

/// A simulated-flow divergence was trained on its grid's inputs only: a chain of another
/// length is refused with an error naming `sampler.steps`, the grid's own length runs.
#[test]
fn chains_off_the_simulated_grid_are_refused() {
    use gpfn_core::divergence::Noise;
    use gpfn_core::sampling::{SamplingProblem, proximal_chain};
    let div = small(|d: Hellinger| Hellinger {
        steps: NonZeroUsize::new(4).unwrap(),
        ..d
    });
    let family = DiagGaussianFamily {};
    let schedule = div.maths().default_schedule();
    let predictor = |z: Tensor<2>, _t: f64| z.zeros_like();
    let problem = SamplingProblem {
        divergence: &div,
        family: &family,
        schedule: schedule.as_ref(),
        predictor: &predictor,
        batch: 3,
        dim: 2,
        device: Device::flex(),
    };
    let mut rng = Rng::seed(1);
    let e = proximal_chain(&problem, 5, Noise::Deterministic, &mut rng, None)
        .err()
        .expect("a 5-step chain on a 4-step grid is refused")
        .to_string();
    assert!(
        e.contains("sampler.steps") && e.contains("4-step grid"),
        "{e}"
    );
    assert!(proximal_chain(&problem, 4, Noise::Deterministic, &mut rng, None).is_ok());
}
