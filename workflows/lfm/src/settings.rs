//! `[workflow.lfm]`: the blocks and their step sizes, checked before any work.

use gpfn_core::sampler::{self, Sampler};
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};

/// The interpolant of a block (`workflow.lfm.interpolant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interpolant {
    /// `cos(πs/2) x_{l−1} + sin(πs/2) x_l` (the reference's): the `trigonometric` schedule.
    #[default]
    Trigonometric,
    /// `(1 − s) x_{l−1} + s x_l`: the straight path on the `uniform` schedule.
    Linear,
}

/// The step sizes `h_l` of the Ornstein–Uhlenbeck blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StepRule {
    /// `h_1, h_2, …` as listed (`steps = [0.025, 0.031, …]`); the first `blocks` are used.
    List(Vec<f64>),
    /// `h_l = first · ratio^{l−1}` (`steps = { first = 0.025, ratio = 1.25 }`).
    Geometric {
        /// `h_1`.
        first: f64,
        /// The growth factor.
        ratio: f64,
    },
}

/// `[workflow.lfm]` of a config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LfmSettings {
    /// `L`: the number of Ornstein–Uhlenbeck blocks; a free block to `N(0, I)` follows them,
    /// so `L + 1` flows are trained.
    pub blocks: usize,
    /// Their step sizes.
    pub steps: StepRule,
    /// The blocks' interpolant.
    #[serde(default)]
    pub interpolant: Interpolant,
    /// Start each block from the previous block's (EMA) weights.
    #[serde(default = "yes")]
    pub warm_start: bool,
    /// Independent Ornstein–Uhlenbeck draws `z` per training row (the pairs table holds
    /// `draws ×` the training rows).
    #[serde(default = "one")]
    pub draws: usize,
    /// Rows per shard of a block's pairs (and per batch of the push).
    #[serde(default = "shard")]
    pub shard_size: usize,
    /// The sampler that pushes the data through a trained block, backwards in gpfn time: a
    /// sampler config (`{ name = "dopri5", rtol = 1e-5 }` or `{ name = "deterministic", steps
    /// = 20 }`); default dopri5 at its default tolerance.
    #[serde(default)]
    pub push: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn shard() -> usize {
    10_000
}

fn bad(key: &str, message: String) -> GpfnError {
    GpfnError::Config {
        key: format!("workflow.lfm.{key}"),
        message,
    }
}

/// How a block's map is run backwards (data → noise).
#[derive(Clone, Debug, PartialEq)]
pub enum Push {
    /// Dormand–Prince 5(4) at tolerance `rtol = atol`.
    Dopri5(f64),
    /// `n` Euler steps on the uniform grid from `t_end` down to 0.
    Euler(usize),
}

impl LfmSettings {
    /// The settings of `[workflow.lfm]` in a loaded config's workflow tables.
    pub fn from_workflow(workflow: &serde_json::Value) -> Result<LfmSettings> {
        let table = workflow.get("lfm").ok_or_else(|| {
            bad(
                "blocks",
                "this config has no [workflow.lfm] table: Local Flow Matching needs at least \
                 `blocks` and `steps`"
                    .into(),
            )
        })?;
        let settings: LfmSettings = serde_json::from_value(table.clone())
            .map_err(|e| bad("blocks", format!("[workflow.lfm]: {e}")))?;
        settings.step_sizes()?;
        settings.push()?;
        if settings.draws == 0 {
            return Err(bad("draws", "need at least one draw per row".into()));
        }
        if settings.shard_size == 0 {
            return Err(bad("shard_size", "need at least one row per shard".into()));
        }
        Ok(settings)
    }

    /// `h_1, …, h_L`, checked: a non-empty list of finite positive steps with at least `L`
    /// entries, or a geometric rule with a positive first step and ratio.
    pub fn step_sizes(&self) -> Result<Vec<f64>> {
        if self.blocks == 0 {
            return Err(bad(
                "blocks",
                "need at least one Ornstein–Uhlenbeck block (blocks = 0 is one global flow: \
                 train it with `gpfn train`)"
                    .into(),
            ));
        }
        let hs: Vec<f64> = match &self.steps {
            StepRule::List(list) => {
                if list.is_empty() {
                    return Err(bad("steps", "the step list is empty".into()));
                }
                if list.len() < self.blocks {
                    return Err(bad(
                        "steps",
                        format!(
                            "{} blocks need {} step sizes, the list has {}",
                            self.blocks,
                            self.blocks,
                            list.len()
                        ),
                    ));
                }
                list[..self.blocks].to_vec()
            }
            StepRule::Geometric { first, ratio } => {
                if !(ratio.is_finite() && *ratio > 0.0) {
                    return Err(bad(
                        "steps.ratio",
                        format!("the ratio must be finite and positive, got {ratio}"),
                    ));
                }
                (0..self.blocks)
                    .map(|l| first * ratio.powi(l as i32))
                    .collect()
            }
        };
        if let Some((l, h)) = hs
            .iter()
            .enumerate()
            .find(|(_, h)| !(h.is_finite() && **h > 0.0))
        {
            return Err(bad(
                "steps",
                format!("step h_{} = {h} must be finite and positive", l + 1),
            ));
        }
        Ok(hs)
    }

    /// The push sampler, checked to be one that can run a block backwards.
    pub fn push(&self) -> Result<Push> {
        let value = self
            .push
            .clone()
            .unwrap_or_else(|| serde_json::json!({ "name": "dopri5" }));
        let name = value
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        let sampler: Box<dyn Sampler> = sampler::build(&name, value, "workflow.lfm.push")?;
        if let Some(tol) = sampler.tolerance() {
            return Ok(Push::Dopri5(tol));
        }
        if name == "deterministic" {
            return Ok(Push::Euler(sampler.steps().max(1)));
        }
        Err(bad(
            "push",
            format!(
                "sampler `{name}` cannot push data forward through a block: only an ODE runs \
                 backwards (data → noise); use `dopri5` or `deterministic`"
            ),
        ))
    }
}
