//! `uniform`: `κ(t) = t`, the straight (rectified-flow) path `z_t = t x + (1 − t) z_0`.

use super::Schedule;
use serde::{Deserialize, Serialize};

crate::register_plugin!(
    Schedule,
    "uniform",
    "κ(t) = t: the straight rectified-flow path; with W2 it is Rectified Flow as JKO"
);

/// The uniform (linear) schedule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uniform {}

#[typetag::serde(name = "uniform")]
impl Schedule for Uniform {
    fn kappa(&self, t: f64) -> f64 {
        t
    }

    fn kappa_dot(&self, _t: f64) -> f64 {
        1.0
    }
}
