//! `cosine`: `κ(t) = (1 − cos πt)/2`, smaller steps near both ends of the path, where
//! W2's velocity changes fastest.

use super::Schedule;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

crate::register_plugin!(
    Schedule,
    "cosine",
    "κ(t) = (1 − cos πt)/2: finer steps near noise and near data"
);

/// The cosine schedule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cosine {}

#[typetag::serde(name = "cosine")]
impl Schedule for Cosine {
    fn kappa(&self, t: f64) -> f64 {
        0.5 * (1.0 - (PI * t).cos())
    }

    fn kappa_dot(&self, t: f64) -> f64 {
        0.5 * PI * (PI * t).sin()
    }
}
