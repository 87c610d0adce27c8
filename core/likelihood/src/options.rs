//! `[likelihood]`: how `gpfn eval nll` estimates.

use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};

/// How the ODE likelihood takes the trace of the velocity's Jacobian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceEstimator {
    /// Exact for `d ≤ 16` (one probe per coordinate), Hutchinson's above.
    Auto,
    /// `Σ_k e_kᵀ J e_k`: `d` probes per item.
    Exact,
    /// Hutchinson's `E[εᵀ J ε] = tr J` with `probes` probes per item.
    Hutchinson,
}

/// The distribution of Hutchinson's probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// `ε_k = ±1`: the least variance of the two (exact for a diagonal Jacobian).
    Rademacher,
    /// `ε ~ N(0, I)`.
    Gaussian,
}

/// `[likelihood]` settings (every key optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LikelihoodOptions {
    /// Relative tolerance of the likelihood ODE (dopri5).
    pub rtol: f64,
    /// Absolute tolerance of the likelihood ODE.
    pub atol: f64,
    /// The ODE's data end `t_end < 1`: the density is that of the flow at `t_end`; absent:
    /// `1 − 1/K` for data in `K` bins (the flow's noise `1 − t_end` is then half a bin
    /// width), `1 − 10⁻³` for continuous data ([`t_end_for`](Self::t_end_for)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_end: Option<f64>,
    /// Evaluations after which one ODE solve fails.
    pub max_evaluations: usize,
    /// The trace estimator.
    pub trace: TraceEstimator,
    /// Hutchinson probes per item (their spread is reported when there are two or more).
    pub probes: usize,
    /// The probes' distribution.
    pub probe: ProbeKind,
    /// Quantisation bins per dimension of the data in `[−1, 1]` (256 for 8-bit images);
    /// absent: 256 for image data sets, none (continuous data) otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bins: Option<usize>,
    /// `n` of BFN's `n`-step bound; absent: the run's sampler steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Monte Carlo draws of `t` and the flow per item for BFN's bounds.
    pub repeats: usize,
}

impl Default for LikelihoodOptions {
    fn default() -> Self {
        LikelihoodOptions {
            rtol: 1e-5,
            atol: 1e-5,
            t_end: None,
            max_evaluations: 4000,
            trace: TraceEstimator::Auto,
            probes: 1,
            probe: ProbeKind::Rademacher,
            bins: None,
            steps: None,
            repeats: 1,
        }
    }
}

impl LikelihoodOptions {
    /// Checks every value, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        let err = |key: &str, message: String| GpfnError::Config {
            key: format!("likelihood.{key}"),
            message,
        };
        for (key, v) in [("rtol", self.rtol), ("atol", self.atol)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(err(key, format!("must be positive and finite, got {v}")));
            }
        }
        if let Some(t) = self.t_end
            && !(t > 0.0 && t < 1.0)
        {
            return Err(err(
                "t_end",
                format!("the ODE's velocity is singular at t = 1: need 0 < t_end < 1, got {t}"),
            ));
        }
        if self.probes == 0 {
            return Err(err("probes", "at least one probe per item".into()));
        }
        if self.repeats == 0 {
            return Err(err("repeats", "at least one draw per item".into()));
        }
        if self.bins == Some(1) || self.bins == Some(0) {
            return Err(err(
                "bins",
                "quantised data have at least 2 bins (leave the key out for continuous data)"
                    .into(),
            ));
        }
        if self.steps == Some(0) {
            return Err(err("steps", "the n-step bound needs n ≥ 1".into()));
        }
        Ok(())
    }

    /// `t_end` as configured, else the default for data in `bins` bins (or continuous).
    pub fn t_end_for(&self, bins: Option<usize>) -> f64 {
        self.t_end.unwrap_or(match bins {
            Some(k) => 1.0 - 1.0 / k as f64,
            None => 1.0 - 1e-3,
        })
    }

    /// Probes per item and whether they are the coordinate vectors (exact trace), for data
    /// of dimension `dim`.
    pub fn probes_for(&self, dim: usize) -> (usize, bool) {
        match self.trace {
            TraceEstimator::Exact => (dim, true),
            TraceEstimator::Auto if dim <= 16 => (dim, true),
            _ => (self.probes, false),
        }
    }
}
