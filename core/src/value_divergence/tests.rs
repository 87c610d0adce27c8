//! A value-defined divergence registered with the one-name macro: it is in the registry and
//! deserialises under its name, and the chain core gives it takes the right step.

use super::*;
use crate::belief::DiagGaussian;
use crate::divergence::Divergence;
use crate::host::host_f64 as host;
use crate::registry::{PluginKind, find};
use burn::tensor::Device;

/// `½‖m_p − m_q‖² + ½‖s_p − s_q‖²` per row, with its chain's settings as config keys.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HalfSquares {
    #[serde(default = "default_steps")]
    steps: usize,
}

impl ValueDivergence for HalfSquares {
    const NAME: &'static str = "core-test-half-squares";
    const DESCRIPTION: &'static str = "½‖Δm‖² + ½‖Δs‖² (a core unit test's divergence)";

    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        let mean = (p.mean.clone() - q.mean.clone()).square();
        let std = (p.std.clone() - q.std.clone()).square();
        (mean + std).mul_scalar(0.5).sum_dim(1).squeeze_dim(1)
    }

    fn settings(&self) -> ChainSettings {
        ChainSettings {
            steps: self.steps,
            ..ChainSettings::default()
        }
    }
}

crate::value_divergence!(HalfSquares);

#[test]
fn the_macro_registers_the_type_under_its_name() {
    let info = find(PluginKind::Divergence, "core-test-half-squares").expect("registered");
    assert_eq!(info.description, HalfSquares::DESCRIPTION);
    assert_eq!(info.crate_name, "gpfn-core");

    let div: Box<dyn Divergence> =
        serde_json::from_str(r#"{"name": "core-test-half-squares"}"#).unwrap();
    assert_eq!(div.name(), "core-test-half-squares");
    assert_eq!(div.maths().flow_grid(), Some(default_steps()));
    let div: Box<dyn Divergence> =
        serde_json::from_str(r#"{"name": "core-test-half-squares", "steps": 7}"#).unwrap();
    assert_eq!(div.maths().flow_grid(), Some(7));
    assert_eq!(
        serde_json::to_value(&div).unwrap(),
        serde_json::json!({"name": "core-test-half-squares", "steps": 7})
    );
    let unknown = serde_json::from_str::<Box<dyn Divergence>>(
        r#"{"name": "core-test-half-squares", "stepz": 7}"#,
    );
    assert!(unknown.is_err());
}

/// The step of `α ½‖m − y‖² + α ½ s² + ½‖m − m_q‖² + ½‖s − s_q‖²` is
/// `m = (α y + m_q)/(α + 1)`, `s = s_q/(α + 1)`; a bad accuracy is an error naming the
/// divergence.
#[test]
fn the_core_chain_takes_the_proximal_step_and_names_the_divergence() {
    let device = Device::flex();
    let div: &dyn Divergence = &HalfSquares::default();
    let prev = DiagGaussian::from_vecs(&[0.5, -1.0, 2.0], &[1.0, 0.4, 2.0], &device);
    let y = Tensor::<1>::from_floats([1.5, 0.0, -2.0], &device).reshape([1, 3]);
    let alpha = 3.0;
    let p = div.maths().prox(&prev, &y, alpha).unwrap();
    let (m, s) = (host(p.mean), host(p.std));
    for (k, (mq, sq, yk)) in [(0.5, 1.0, 1.5), (-1.0, 0.4, 0.0), (2.0, 2.0, -2.0)]
        .into_iter()
        .enumerate()
    {
        assert!(
            (m[k] - (alpha * yk + mq) / (alpha + 1.0)).abs() < 1e-4,
            "{m:?}"
        );
        assert!((s[k] - sq / (alpha + 1.0)).abs() < 1e-4, "{s:?}");
    }
    let e = div.maths().prox(&prev, &y, -1.0).unwrap_err().to_string();
    assert!(e.contains("divergence `core-test-half-squares`"), "{e}");
}
