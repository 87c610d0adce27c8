//! The conformance kit: the contracts that every divergence must satisfy (docs/maths.md, "The
//! conformance kit").
//!
//! A plugin crate runs it on itself with one line:
//!
//! ```text
//! #[test]
//! fn conforms() {
//!     crate::conformance::assert_conforms(&MyDivergence::default());
//! }
//! ```
//!
//! 1. *Oracle consistency* ([`oracle`]): with the oracle predictor `x̂ = x`, the law of the
//!    network input after `i` steps equals the flow distribution at `t_i` (moments within
//!    statistical tolerance), for every stochastic sampler and for the deterministic one
//!    wherever the family moves particles; where it moves none, the deterministic sampler's
//!    outputs coincide (the collapse BFN shows). For divergences that couple the rows of a
//!    batch ([`Divergence::couples_batch`], minibatch OT) the moments of the whole batch are
//!    compared instead of those of each data point's replicates.
//! 2. *Proximal optimality* ([`optimality`]): perturbing the step's result in any parameter
//!    does not lower the proximal objective.
//! 3. *Special cases* ([`consistency`]): the sampling step is the proximal step with the
//!    sampler's observation, and the step's accuracy reproduces the schedule's contraction
//!    weight. Closed-form special cases of a particular divergence (KL = Bayes/BFN,
//!    W2 on a uniform grid = Euler) are tested in that plugin's crate.
//! 4. *On the simplex* ([`categorical`]), for a divergence that lists a categorical family:
//!    proximal optimality on categorical beliefs, and the stochastic chain with the oracle
//!    output `p̂ = e_x` reaching the flow distribution's law.

mod categorical;
mod consistency;
mod optimality;
mod oracle;

pub use optimality::prox_optimality;

use crate::divergence::Divergence;
use burn::tensor::Device;
use std::fmt;

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct Check {
    /// Contract and case, e.g. `oracle/particle/stochastic(eta=1)/step 3`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was measured.
    pub detail: String,
}

/// All checks run on one divergence.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, name: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed).collect()
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(
                f,
                "{} {}: {}",
                if c.passed { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
        Ok(())
    }
}

/// Settings of the kit.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of steps of the chains checked.
    pub steps: usize,
    /// Replicates per data point for the moment comparisons.
    pub replicates: usize,
    /// Seed.
    pub seed: u64,
    /// Device to run on.
    pub device: Device,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            steps: 6,
            replicates: 2000,
            seed: 17,
            device: Device::flex(),
        }
    }
}

/// Runs every contract on `div`.
pub fn check(div: &dyn Divergence, options: &Options) -> Report {
    let mut report = Report::default();
    oracle::run(div, options, &mut report);
    optimality::run(div, options, &mut report);
    consistency::run(div, options, &mut report);
    categorical::run(div, options, &mut report);
    report
}

/// Runs every contract with default options and panics with the failures, if any.
pub fn assert_conforms(div: &dyn Divergence) {
    let report = check(div, &Options::default());
    assert!(
        report.passed(),
        "divergence `{}` fails the conformance kit:\n{}",
        div.name(),
        report
    );
}
