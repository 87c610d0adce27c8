//! `dopri5`: the adaptive sampler of straight-path particle flows.
//!
//! It integrates the probability-flow ODE of the straight path `z = κ x + (1 − κ) ε` in time,
//!
//! ```text
//! dz/dt = κ'(t) (x̂(z, t) − z) / (1 − κ(t)),     z(0) ~ N(0, I),
//! ```
//!
//! with Dormand–Prince 5(4) ([`crate::ode::Dopri5`]) from `t = 0` to `t_end < 1` (the
//! velocity is singular at `κ = 1`), and returns the prediction there,
//! `x̂(z(t_end), t_end) = z + (1 − κ) f / κ'` (read from the solver's last evaluation, so it
//! costs no extra one). The NFE is what the error control spends: reports count the actual
//! evaluations, rejected steps included. The Rectified Flow reference samples this way
//! (scipy's `RK45`, `rtol = atol = 1e-5`, `t_end = 1 − 10⁻³`), which are the defaults.

use super::Sampler;
use crate::belief::BeliefState;
use crate::ode::Dopri5;
use crate::rng::Rng;
use crate::sampling::{SamplingProblem, check_straight_path};
use crate::{GpfnError, Result};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Sampler,
    "dopri5",
    "adaptive Dormand–Prince 5(4) ODE sampler for straight-path particle flows; parameters rtol, atol, t_end, max_evaluations"
);

/// The adaptive ODE sampler (`[sampler] name = "dopri5"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dopri5Sampler {
    /// Relative tolerance of the error control.
    #[serde(default = "default_tolerance")]
    pub rtol: f64,
    /// Absolute tolerance of the error control.
    #[serde(default = "default_tolerance")]
    pub atol: f64,
    /// Where the integration stops, `t_end < 1`.
    #[serde(default = "default_t_end")]
    pub t_end: f64,
    /// Evaluations after which sampling fails instead of going on.
    #[serde(default = "default_max_evaluations")]
    pub max_evaluations: usize,
}

fn default_tolerance() -> f64 {
    1e-5
}

fn default_t_end() -> f64 {
    1.0 - 1e-3
}

fn default_max_evaluations() -> usize {
    2000
}

impl Default for Dopri5Sampler {
    fn default() -> Self {
        Dopri5Sampler {
            rtol: default_tolerance(),
            atol: default_tolerance(),
            t_end: default_t_end(),
            max_evaluations: default_max_evaluations(),
        }
    }
}

/// What a dopri5 integration ends with.
pub struct OdeSample {
    /// `x̂(z(t_end), t_end)`: the sample.
    pub prediction: Tensor<2>,
    /// `z(t_end)`.
    pub particle: Tensor<2>,
    /// Network evaluations spent.
    pub evaluations: usize,
}

impl Dopri5Sampler {
    /// The solver these settings describe, checked.
    pub fn solver(&self) -> Result<Dopri5> {
        let solver = Dopri5 {
            rtol: self.rtol,
            atol: self.atol,
            max_evaluations: self.max_evaluations,
        };
        solver.validate("sampler")?;
        if !(self.t_end > 0.0 && self.t_end < 1.0) {
            return Err(GpfnError::Config {
                key: "sampler.t_end".into(),
                message: format!(
                    "the ODE is integrated on [0, t_end] with 0 < t_end < 1 (its velocity is \
                     singular at t = 1), got {}",
                    self.t_end
                ),
            });
        }
        Ok(solver)
    }

    /// Integrates the probability-flow ODE from the particle `z0` to `t_end`.
    pub fn integrate(&self, problem: &SamplingProblem<'_>, z0: Tensor<2>) -> Result<OdeSample> {
        let solver = self.solver()?;
        check_straight_path(problem.divergence, problem.family, "dopri5")?;
        let schedule = problem.schedule;
        let mut rhs = |t: f64, z: &Tensor<2>| -> Result<Tensor<2>> {
            let rate = schedule.kappa_dot(t) / (1.0 - schedule.kappa(t));
            let x_hat = (problem.predictor)(z.clone(), t);
            Ok((x_hat - z.clone()).mul_scalar(rate))
        };
        let end = solver.solve(&mut rhs, 0.0, self.t_end, z0)?;
        let (kappa, kappa_dot) = (schedule.kappa(self.t_end), schedule.kappa_dot(self.t_end));
        let (prediction, evaluations) = if kappa_dot > 0.0 {
            let x_hat = end.y.clone() + end.f.mul_scalar((1.0 - kappa) / kappa_dot);
            (x_hat, end.evaluations)
        } else {
            (
                (problem.predictor)(end.y.clone(), self.t_end),
                end.evaluations + 1,
            )
        };
        Ok(OdeSample {
            prediction,
            particle: end.y,
            evaluations,
        })
    }
}

#[typetag::serde(name = "dopri5")]
impl Sampler for Dopri5Sampler {
    /// 0: the error control chooses the steps.
    fn steps(&self) -> usize {
        0
    }

    /// A planning estimate only (progress bars): reports count the evaluations made.
    fn evaluations(&self) -> usize {
        60
    }

    /// The same sampler: its steps follow from the tolerances, not from a count.
    fn with_steps(&self, _n: usize) -> Box<dyn Sampler> {
        Box::new(self.clone())
    }

    fn tolerance(&self) -> Option<f64> {
        Some(self.rtol)
    }

    fn with_tolerance(&self, tolerance: f64) -> Option<Box<dyn Sampler>> {
        Some(Box::new(Dopri5Sampler {
            rtol: tolerance,
            atol: tolerance,
            ..self.clone()
        }))
    }

    fn sample_from(
        &self,
        problem: &SamplingProblem<'_>,
        start: BeliefState,
        _rng: &mut Rng,
    ) -> Result<Tensor<2>> {
        let z0 = problem.family.network_input(&start)?;
        Ok(self.integrate(problem, z0)?.prediction)
    }
}
