//! `gpfn math prox`, `gpfn math divergence` and `gpfn math sinkhorn`: the maths as JSON in,
//! JSON out.
//!
//! ```text
//! prox:       {"divergence": "w2", "belief": {"mean": [..], "std": [..]}, "y": [..], "alpha": a}
//!          →  {"belief": {"mean": [..], "std": [..]}}
//! divergence: {"divergence": "kl", "p": {"mean": [..], "std": [..]}, "q": {..}}
//!          →  {"value": v}
//! sinkhorn:   {"x": [[..]..], "y": [[..]..], "a": [..], "b": [..], "epsilon": e,
//!              "tolerance": t, "max_iterations": k, "plan": false}   (the last three
//!              optional; "plan": false leaves the n × m plan out of the reply)
//!          →  {"plan": [[..]..], "cost": c, "entropic_cost": o, "divergence": s,
//!              "iterations": k, "marginal_error": r, "converged": true,
//!              "terms": {"xy": {..}, "xx": {..}, "yy": {..}}}
//!             (each term: entropic_cost, iterations, newton_steps, marginal_error,
//!              converged; the top level sums the iterations, takes the largest error, and
//!              is converged only if every term is)
//! ```
//! `"divergence"` is a plugin name, or a table `{"name": "…", …parameters}`.

use burn::tensor::Device;
use gpfn_core::belief::DiagGaussian;
use gpfn_core::divergence::Divergence;
use gpfn_core::registry::{self, PluginKind};
use gpfn_core::{GpfnError, Result};
use gpfn_ot::SinkhornF64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A diagonal Gaussian in JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GaussianJson {
    /// Means.
    pub mean: Vec<f64>,
    /// Standard deviations (> 0).
    pub std: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxRequest {
    divergence: Value,
    belief: GaussianJson,
    y: Vec<f64>,
    alpha: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DivergenceRequest {
    divergence: Value,
    p: GaussianJson,
    q: GaussianJson,
}

fn divergence_from(v: Value) -> Result<Box<dyn Divergence>> {
    let v = match v {
        Value::String(s) => serde_json::json!({ "name": s }),
        other => other,
    };
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if registry::find(PluginKind::Divergence, &name).is_none() {
        return Err(GpfnError::UnknownPlugin {
            key: "divergence".into(),
            kind: "divergence".into(),
            name,
            registered: registry::names(PluginKind::Divergence).join(", "),
        });
    }
    serde_json::from_value(v).map_err(|e| GpfnError::Config {
        key: "divergence".into(),
        message: e.to_string(),
    })
}

fn check(g: &GaussianJson, what: &str, dim: Option<usize>) -> Result<()> {
    if g.mean.len() != g.std.len() {
        return Err(GpfnError::Shape(format!(
            "{what}.mean has {} entries but {what}.std has {}",
            g.mean.len(),
            g.std.len()
        )));
    }
    if let Some(d) = dim
        && g.mean.len() != d
    {
        return Err(GpfnError::Shape(format!(
            "{what} has dimension {} but {d} was expected",
            g.mean.len()
        )));
    }
    if let Some(s) = g.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(GpfnError::Invalid(format!(
            "{what}.std must be positive and finite, got {s}"
        )));
    }
    if g.mean.iter().any(|m| !m.is_finite()) {
        return Err(GpfnError::Invalid(format!("{what}.mean must be finite")));
    }
    Ok(())
}

fn to_tensor(g: &GaussianJson, device: &Device) -> DiagGaussian {
    let m: Vec<f32> = g.mean.iter().map(|&v| v as f32).collect();
    let s: Vec<f32> = g.std.iter().map(|&v| v as f32).collect();
    DiagGaussian::from_vecs(&m, &s, device)
}

fn to_vec(t: burn::tensor::Tensor<2>) -> Vec<f64> {
    t.into_data()
        .try_to_vec::<f32>()
        .expect("f32 tensor")
        .into_iter()
        .map(f64::from)
        .collect()
}

fn parse<T: for<'de> Deserialize<'de>>(input: &str) -> Result<T> {
    serde_json::from_str(input)
        .map_err(|e| GpfnError::Invalid(format!("malformed JSON input: {e}")))
}

/// Applies one proximal step; returns the JSON answer.
pub fn prox(input: &str, device: &Device) -> Result<Value> {
    let req: ProxRequest = parse(input)?;
    let div = divergence_from(req.divergence)?;
    check(&req.belief, "belief", None)?;
    if req.y.len() != req.belief.mean.len() {
        return Err(GpfnError::Shape(format!(
            "y has {} entries but the belief has dimension {}",
            req.y.len(),
            req.belief.mean.len()
        )));
    }
    if !(req.alpha.is_finite() && req.alpha > 0.0) {
        return Err(GpfnError::Invalid(format!(
            "alpha must be positive and finite, got {}",
            req.alpha
        )));
    }
    let prev = to_tensor(&req.belief, device);
    let d = req.y.len();
    let y: Vec<f32> = req.y.iter().map(|&v| v as f32).collect();
    let y = burn::tensor::Tensor::<1>::from_floats(y.as_slice(), device).reshape([1, d]);
    let next = div.maths().prox(&prev, &y, req.alpha)?;
    Ok(serde_json::json!({
        "belief": GaussianJson { mean: to_vec(next.mean), std: to_vec(next.std) }
    }))
}

/// Evaluates `D(p, q)`; returns the JSON answer.
pub fn divergence(input: &str, device: &Device) -> Result<Value> {
    let req: DivergenceRequest = parse(input)?;
    let div = divergence_from(req.divergence)?;
    check(&req.p, "p", None)?;
    check(&req.q, "q", Some(req.p.mean.len()))?;
    let v = div
        .maths()
        .value(&to_tensor(&req.p, device), &to_tensor(&req.q, device));
    let value = v.into_data().try_to_vec::<f32>().expect("f32 tensor")[0] as f64;
    if !value.is_finite() {
        // JSON has no infinity: say so rather than print `null`.
        return Err(GpfnError::Invalid(format!(
            "divergence `{}` is {value} for these beliefs (outside its domain)",
            div.name()
        )));
    }
    Ok(serde_json::json!({ "value": value }))
}

/// Points (rows) and weights of `gpfn math sinkhorn`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkhornRequest {
    x: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    #[serde(default)]
    a: Option<Vec<f64>>,
    #[serde(default)]
    b: Option<Vec<f64>>,
    epsilon: f64,
    #[serde(default)]
    tolerance: Option<f64>,
    #[serde(default)]
    max_iterations: Option<usize>,
    /// Whether to return the plan (default true; it is left out above
    /// [`MAX_PLAN_ENTRIES`] entries anyway).
    #[serde(default)]
    plan: Option<bool>,
}

/// The plan is returned only up to this many entries.
pub const MAX_PLAN_ENTRIES: usize = 1_000_000;

/// Weights `w` of `n` points (uniform when absent), checked (finite, non-negative, not all
/// zero) and normalised to mass 1.
fn weights(w: &Option<Vec<f64>>, what: &str, n: usize) -> Result<Vec<f64>> {
    let Some(w) = w else {
        return Ok(vec![1.0 / n as f64; n]);
    };
    if w.len() != n {
        return Err(GpfnError::Shape(format!(
            "{what} has {} weights but there are {n} points",
            w.len()
        )));
    }
    if let Some(v) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        return Err(GpfnError::Invalid(format!(
            "weights {what} must be finite and non-negative, got {v}"
        )));
    }
    let total: f64 = w.iter().sum();
    if total <= 0.0 {
        return Err(GpfnError::Invalid(format!("weights {what} are all zero")));
    }
    Ok(w.iter().map(|v| v / total).collect())
}

/// Entropic OT between two weighted point clouds, in float64 ([`SinkhornF64`]: each of the
/// three problems of `S_ε` solved to the tolerance, `10⁻⁹` on the marginal error unless the
/// request sets one); returns the JSON answer. `cost` is
/// the transport cost `⟨P, C⟩` (no entropy term), `entropic_cost` is `OT_ε`, `divergence` the
/// debiased `S_ε`, all for the squared-Euclidean cost.
pub fn sinkhorn(input: &str, device: &Device) -> Result<Value> {
    let req: SinkhornRequest = parse(input)?;
    // The same checks of the points as every other OT entry point (shapes, finiteness).
    let x = gpfn_ot::point_cloud(&req.x, "x", None, device)?;
    gpfn_ot::point_cloud(&req.y, "y", Some(x.dims()[2]), device)?;
    let (n, m) = (req.x.len(), req.y.len());
    let a = weights(&req.a, "a", n)?;
    let b = weights(&req.b, "b", m)?;
    let mut solver = SinkhornF64::with_epsilon(req.epsilon);
    if let Some(t) = req.tolerance {
        solver.tolerance = t;
    }
    if let Some(k) = req.max_iterations {
        solver.max_iterations = k;
    }
    if !(solver.epsilon.is_finite() && solver.epsilon > 0.0) {
        return Err(GpfnError::Invalid(format!(
            "Sinkhorn epsilon must be positive and finite, got {}",
            solver.epsilon
        )));
    }
    if !(solver.tolerance.is_finite() && solver.tolerance > 0.0) || solver.max_iterations == 0 {
        return Err(GpfnError::Invalid(format!(
            "Sinkhorn tolerance must be positive and finite and max_iterations ≥ 1, got {} and {}",
            solver.tolerance, solver.max_iterations
        )));
    }
    let d = solver.divergence(&req.x, &req.y, &a, &b);
    let term = |r: &gpfn_ot::SolveReport| {
        serde_json::json!({
            "entropic_cost": r.entropic_cost,
            "iterations": r.iterations,
            "newton_steps": r.newton_steps,
            "marginal_error": r.marginal_error,
            "converged": r.converged,
        })
    };
    let xy = &d.xy;
    let mut out = serde_json::json!({
        "cost": xy.cost,
        "entropic_cost": xy.report.entropic_cost,
        "divergence": d.value,
        "iterations": xy.report.iterations + xy.report.newton_steps
            + d.xx.iterations + d.yy.iterations,
        "marginal_error": xy.report.marginal_error
            .max(d.xx.marginal_error)
            .max(d.yy.marginal_error),
        "converged": d.converged(),
        "terms": { "xy": term(&xy.report), "xx": term(&d.xx), "yy": term(&d.yy) },
    });
    if req.plan != Some(false) && n * m <= MAX_PLAN_ENTRIES {
        let rows: Vec<&[f64]> = xy.plan.chunks(m).collect();
        out["plan"] = serde_json::json!(rows);
    }
    Ok(out)
}
