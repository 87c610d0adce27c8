//! The f-divergences on the simplex: proximal steps on categorical beliefs and the flow
//! distribution of their chain.
//!
//! On categorical beliefs (`gpfn_core::belief::categorical`: `K` classes per variable,
//! `θ_j ∈ Δ^{K−1}`) an f-divergence is
//!
//! ```text
//! D_f(p ‖ q) = Σ_{j,k} q_jk f(p_jk / q_jk),   f convex, f(1) = 0,
//! ```
//!
//! with the same `f` as the Gaussian value of each plugin (`forward-kl` `u ln u`, `reverse-kl`
//! `−ln u`, `chi2` `(u − 1)²`, `hellinger` `½(√u − 1)²` so that `H² = 1 − Σ√(pq)`,
//! `jensen-shannon` `½[u ln(2u/(u + 1)) + ln(2/(u + 1))]`, `total-variation` `½|u − 1|`,
//! `alpha` `(1 − u^a)/(a(1 − a))`).
//!
//! **The proximal step.** For one-hot data `E_p[½‖e − ỹ‖²] = ½ − ⟨p, ỹ⟩ + ½‖ỹ‖²`, so the step
//! `argmin_p α E_p[½‖e − ỹ‖²] + D_f(p, q)` is, per variable, with `s = α ỹ`,
//!
//! ```text
//! argmin_{p ∈ Δ^{K−1}}  −⟨p, s⟩ + Σ_k q_k f(p_k / q_k).
//! ```
//!
//! Its KKT conditions (`λ` the multiplier of `Σ_k p_k = 1`) are `f'(p_k/q_k) = s_k + λ` where
//! `p_k > 0`, and `f'(0⁺) ≥ s_k + λ` where `p_k = 0`, i.e.
//!
//! ```text
//! p_k = q_k g(s_k + λ),   g = (f')⁻¹ extended by 0 below f'(0⁺),
//! ```
//!
//! with the scalar `λ` of each variable the root of `Σ_k q_k g(s_k + λ) = 1`, which is
//! nondecreasing in `λ`. Since `g(f'(1)) = 1` and `Σ q = 1`, the root lies in
//! `λ + max s ∈ [f'(1), f'(1) + max s − min s]` (at the lower end every `g ≤ 1`, at the upper
//! every `g ≥ 1`), and below `c − max s` where `f'` is bounded above by `c` (`g → ∞` there). The
//! root is found by bisection in `μ = λ + max_k s_k` (so that `s_k − max s ≤ 0` is exact and `μ`
//! near a barrier `c` keeps its precision), [`BISECTIONS`] halvings on the whole batch at once
//! on the device — no per-variable host loop — and the result is normalised. The inverses:
//!
//! | `f` | `f'(u)` | `g(z) = (f')⁻¹(z)` | domain of `z` | `f'(1)` |
//! |---|---|---|---|---|
//! | `u ln u` (forward KL) | `ln u + 1` | `e^{z−1}` | all | 1 |
//! | `−ln u` (reverse KL) | `−1/u` | `−1/z` | `z < 0` | −1 |
//! | `(u − 1)²` (χ²) | `2(u − 1)` | `max(0, 1 + z/2)` | all (0 below −2) | 0 |
//! | `½(√u − 1)²` (Hellinger) | `½(1 − u^{−½})` | `(1 − 2z)^{−2}` | `z < ½` | 0 |
//! | Jensen–Shannon | `½ ln(2u/(u + 1))` | `r/(2 − r)`, `r = e^{2z}` | `z < ½ ln 2` | 0 |
//! | `(1 − u^a)/(a(1 − a))` | `u^{a−1}/(a − 1)` | `((a − 1)z)^{1/(a−1)}` | `a < 1`: `z < 0`; `a > 1`: all (0 below 0) | `1/(a − 1)` |
//!
//! Forward KL takes its closed form, Bayes' rule `p ∝ q e^{s}` (the `kl` plugin's step), and
//! total variation, not differentiable at `u = 1`, has one too: the step is the linear program
//! `max ⟨p, s⟩ − ½‖p − q‖₁`, where moving mass from class `k` to the class `m` of largest `s`
//! gains `s_m − s_k − 1`; so every class with `s_m − s_k > 1` gives all its mass to `m` (shared
//! among ties) and the others keep `q_k`.
//!
//! **The flow.** No non-KL chain has a closed-form law, so the flow distribution is the law of
//! the chain itself ([`simulated_flow`]): from the uniform prior, the sender observes the true
//! data, `s = α_i ỹ`, `ỹ = K e_x − 1 + √(K/α_i) ξ`, at the family's accuracies
//! `α_i = β(1)(2i − 1)/n²` of the divergence's `n`-step grid (its `steps` setting); a row at
//! time `t` stops after `j = ⌊t n⌋` steps and takes one last step at the remaining accuracy
//! `β(t) − β(j/n)` (none at a grid time), so its total accuracy is `β(t)`, as the loss weight
//! `K β(1) t` assumes. On the grid this is exactly the `n`-step chain's marginal — the only
//! times the sampler (which must run `n` steps) shows the network.
//!
//! **The training objective** is then the same regression as discrete BFN's,
//! `L = E_{t ~ U[0,1), θ ~ chain(x, t)} K β(1) t ‖e_x − p̂(θ, t)‖²`, on the chain's own marginals:
//! the GPFN objective (the network learns `E[e_x | θ_t]` under the chain's law, which the
//! sampler then follows). For KL it is BFN's continuous-time bound; for any other `f` the
//! chain is not Bayesian inference on a sender, so it bounds no likelihood and
//! `gpfn eval nll` refuses these runs.

use gpfn_core::belief::categorical::{Categorical, CategoricalFamily, sender_sample};
use gpfn_core::burn::tensor::{Int, Tensor, TensorData};
use gpfn_core::{GpfnError, Result};

/// Bisection halvings of the multiplier's bracket: the bracket's width is `α (max ỹ − min ỹ)`,
/// and 40 halvings reach f32's resolution of `μ` (later ones stop moving it).
pub const BISECTIONS: usize = 40;

/// Probabilities this close to 0 are read as 0 in logarithms (as the `kl` plugin does).
const TINY: f64 = f32::MIN_POSITIVE as f64;

/// Where `g` leaves its domain (`z ≥ c`), and as a cap on `g`: large, yet `K` of them sum in f32.
const BIG: f64 = 1e30;

/// The `f` of an f-divergence on the simplex.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SimplexF {
    /// `f(u) = u ln u`: `KL(p ‖ q)`.
    ForwardKl,
    /// `f(u) = −ln u`: `KL(q ‖ p)`.
    ReverseKl,
    /// `f(u) = (u − 1)²`: Pearson `χ²(p ‖ q)`.
    Chi2,
    /// `f(u) = ½(√u − 1)²`: squared Hellinger `1 − Σ√(pq)`.
    Hellinger,
    /// `f(u) = ½[u ln(2u/(u + 1)) + ln(2/(u + 1))]`: Jensen–Shannon.
    JensenShannon,
    /// `f(u) = ½|u − 1|`: total variation.
    TotalVariation,
    /// `f(u) = (1 − u^a)/(a(1 − a))`, `a ∉ {0, 1}`: Amari's α-divergence (`a = 1` is forward
    /// KL, `a = 0` reverse KL: use [`SimplexF::alpha`]).
    Alpha(f64),
}

impl SimplexF {
    /// Amari's α-divergence, its limits `a = 1` (forward KL) and `a = 0` (reverse KL) included.
    pub fn alpha(a: f64) -> Self {
        if a == 1.0 {
            SimplexF::ForwardKl
        } else if a == 0.0 {
            SimplexF::ReverseKl
        } else {
            SimplexF::Alpha(a)
        }
    }

    /// A finite `a` for [`SimplexF::Alpha`].
    pub fn check(&self) -> Result<()> {
        match *self {
            SimplexF::Alpha(a) if !a.is_finite() => Err(GpfnError::Config {
                key: "divergence.alpha".into(),
                message: format!("the α-divergence's α must be finite, got {a}"),
            }),
            _ => Ok(()),
        }
    }

    /// `D_f(p ‖ q)` per row, summed over variables: each term is written as
    /// `q f(p/q) − f'(1)(p − q)` (the linear part sums to 0 per variable) so that every term is
    /// `≥ 0` and `0/0`-free: `ln 0` is read at [`TINY`], so `q = 0 < p` is `+∞` or huge.
    pub fn value(&self, p: &Categorical, q: &Categorical) -> Tensor<1> {
        let (p, q) = (p.probs.clone(), q.probs.clone());
        let ln = |t: &Tensor<2>| t.clone().clamp_min(TINY).log();
        let terms = match *self {
            SimplexF::ForwardKl => p.clone() * (ln(&p) - ln(&q)) - p + q,
            SimplexF::ReverseKl => q.clone() * (ln(&q) - ln(&p)) - q + p,
            SimplexF::Chi2 => {
                p.clone().square() / q.clone().clamp_min(TINY) - p.mul_scalar(2.0) + q
            }
            SimplexF::Hellinger => (p.sqrt() - q.sqrt()).square().mul_scalar(0.5),
            SimplexF::JensenShannon => {
                let m = ln(&(p.clone() + q.clone()).mul_scalar(0.5));
                (p.clone() * (ln(&p) - m.clone()) + q.clone() * (ln(&q) - m)).mul_scalar(0.5)
            }
            SimplexF::TotalVariation => (p - q).abs().mul_scalar(0.5),
            SimplexF::Alpha(a) => {
                let cross = (ln(&p).mul_scalar(a) + ln(&q).mul_scalar(1.0 - a)).exp();
                (p.mul_scalar(a) + q.mul_scalar(1.0 - a) - cross).div_scalar(a * (1.0 - a))
            }
        };
        terms.sum_dim(1).squeeze_dim(1)
    }

    /// `f'(1)`: `g(f'(1)) = 1`.
    fn slope_at_one(&self) -> f64 {
        match *self {
            SimplexF::ForwardKl => 1.0,
            SimplexF::ReverseKl => -1.0,
            SimplexF::Alpha(a) => 1.0 / (a - 1.0),
            SimplexF::Chi2 | SimplexF::Hellinger | SimplexF::JensenShannon => 0.0,
            SimplexF::TotalVariation => 0.0,
        }
    }

    /// `sup f'`, where it is finite: `g(z) → ∞` as `z → c`.
    fn barrier(&self) -> Option<f64> {
        match *self {
            SimplexF::ReverseKl => Some(0.0),
            SimplexF::Hellinger => Some(0.5),
            SimplexF::JensenShannon => Some(0.5 * 2f64.ln()),
            SimplexF::Alpha(a) if a < 1.0 => Some(0.0),
            _ => None,
        }
    }

    /// `g(z) = (f')⁻¹(z)` (0 below `f'(0⁺)`), capped at [`BIG`], and [`BIG`] from the barrier
    /// on: `[batch, K, D]`.
    fn inverse_slope(&self, z: Tensor<3>) -> Tensor<3> {
        let g = match *self {
            SimplexF::ForwardKl => z.clone().sub_scalar(1.0).exp(),
            SimplexF::ReverseKl => z.clone().recip().neg(),
            SimplexF::Chi2 => z.clone().mul_scalar(0.5).add_scalar(1.0).clamp_min(0.0),
            SimplexF::Hellinger => z.clone().mul_scalar(-2.0).add_scalar(1.0).square().recip(),
            SimplexF::JensenShannon => {
                let r = z.clone().mul_scalar(2.0).exp();
                r.clone() / r.neg().add_scalar(2.0)
            }
            // ((a − 1) z)^{1/(a−1)} = exp(ln((a − 1) z)/(a − 1)); for a > 1, 0 where z ≤ 0.
            SimplexF::Alpha(a) => z
                .clone()
                .mul_scalar(a - 1.0)
                .clamp_min(0.0)
                .log()
                .div_scalar(a - 1.0)
                .exp(),
            SimplexF::TotalVariation => unreachable!("total variation has a closed-form step"),
        };
        let g = match self.barrier() {
            Some(c) => g.mask_fill(z.greater_equal_elem(c), BIG),
            None => g,
        };
        g.clamp_max(BIG)
    }

    /// The proximal step for scaled observations `s = α ỹ` (`[batch, K·D]`, class-major; the
    /// accuracy may differ from row to row): `argmin_p −⟨p, s⟩ + D_f(p, q)` per variable.
    pub fn step(&self, q: &Categorical, s: Tensor<2>) -> Categorical {
        let classes = q.classes;
        let [b, w] = q.probs.dims();
        let qb = q.blocks();
        let s = s.reshape([b, classes, w / classes]);
        let top = s.clone().max_dim(1);
        let probs = match *self {
            SimplexF::ForwardKl => {
                return Categorical::from_logits(
                    q.probs.clone().clamp_min(TINY).log() + s.reshape([b, w]),
                    classes,
                );
            }
            SimplexF::TotalVariation => {
                // Classes more than 1 below the top give their mass to the top class(es).
                let gap = top.clone() - s.clone();
                let keep = gap.clone().lower_equal_elem(1.0).float();
                let is_top = gap.lower_equal_elem(0.0).float();
                let kept = qb.clone() * keep;
                let moved = (qb - kept.clone()).sum_dim(1);
                kept + is_top.clone() * (moved / is_top.sum_dim(1))
            }
            _ => {
                // μ = λ + max s in [f'(1), f'(1) + max s − min s], below the barrier.
                let d = s.clone() - top.clone();
                let slope = self.slope_at_one();
                let mut lo = top.zeros_like().add_scalar(slope);
                let mut hi = (top - s.min_dim(1)).add_scalar(slope);
                if let Some(c) = self.barrier() {
                    hi = hi.clamp_max(c);
                }
                let total = |mu: &Tensor<3>| {
                    (qb.clone() * self.inverse_slope(d.clone() + mu.clone())).sum_dim(1)
                };
                for _ in 0..BISECTIONS {
                    let mid = (lo.clone() + hi.clone()).mul_scalar(0.5);
                    let over = total(&mid).greater_elem(1.0);
                    hi = hi.mask_where(over.clone(), mid.clone());
                    lo = lo.mask_where(over.bool_not(), mid);
                }
                // Σ ≤ 1 at `lo`, within f32 of 1: normalise.
                let p = qb.clone() * self.inverse_slope(d + lo);
                let sum = p.clone().sum_dim(1).clamp_min(TINY);
                p / sum
            }
        };
        Categorical {
            probs: probs.reshape([b, w]),
            classes,
        }
    }
}

/// The flow distribution of the `n`-step chain: for each row `r` of the data `e_x`, the
/// belief after `j_r = ⌊t_r n⌋` stochastic oracle steps at accuracies `α_i`
/// ([`CategoricalFamily::alpha`]) followed by one step at the remaining accuracy
/// `β(t_r) − β(j_r/n)` (see the module's docs). Rows are sorted by `j_r`, so step `i` runs on
/// the rows that need it only (cost `Σ_r j_r` row-steps, plus one batch step off the grid).
pub fn simulated_flow(
    f: &SimplexF,
    family: &CategoricalFamily,
    e_x: &Categorical,
    t: &[f64],
    n: usize,
    rng: &mut gpfn_core::rng::Rng,
) -> Result<Categorical> {
    let classes = e_x.classes;
    let [b, d] = e_x.dims();
    if t.len() != b {
        return Err(GpfnError::Shape(format!(
            "simulated flow on the simplex: {} times for {b} rows",
            t.len()
        )));
    }
    if let Some(bad) = t.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(GpfnError::Invalid(format!(
            "simulated flow on the simplex: time {bad} is not in [0, 1]"
        )));
    }
    let n = n.max(1);
    // 1e-9: a grid time i/n in f64 is i steps, not i − 1 and a residual of rounding.
    let steps: Vec<usize> = t
        .iter()
        .map(|&t| ((t * n as f64 + 1e-9).floor() as usize).min(n))
        .collect();
    let residual: Vec<f64> = t
        .iter()
        .zip(&steps)
        .map(|(&t, &j)| {
            let r = family.beta(t) - family.beta(j as f64 / n as f64);
            if r > 1e-9 * family.beta_1 { r } else { 0.0 }
        })
        .collect();
    let device = e_x.probs.device();
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&i, &j| steps[j].cmp(&steps[i]));
    let index = |ix: &[usize]| {
        let v: Vec<i64> = ix.iter().map(|&i| i as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(v, [ix.len()]), &device)
    };
    let e_sorted = e_x.probs.clone().select(0, index(&order));
    let mut theta = Categorical::uniform(b, d, classes, &device);
    let mut finished: Vec<Tensor<2>> = Vec::new();
    let mut active = b;
    for i in 1..=steps.iter().copied().max().unwrap_or(0) {
        let still = steps.iter().filter(|&&j| j >= i).count();
        if still < active {
            finished.push(theta.probs.clone().slice(still..active));
            theta.probs = theta.probs.slice(0..still);
            active = still;
        }
        let e = e_sorted.clone().slice(0..active);
        let s = sender_sample(&e, classes, &vec![family.alpha(i, n); active], rng);
        theta = f.step(&theta, s);
    }
    let mut parts = vec![theta.probs];
    parts.extend(finished.into_iter().rev());
    let mut inverse = vec![0usize; b];
    for (pos, &r) in order.iter().enumerate() {
        inverse[r] = pos;
    }
    let theta = Categorical {
        probs: Tensor::cat(parts, 0).select(0, index(&inverse)),
        classes,
    };
    if residual.iter().all(|&r| r == 0.0) {
        return Ok(theta);
    }
    let s = sender_sample(&e_x.probs, classes, &residual, rng);
    Ok(f.step(&theta, s))
}
