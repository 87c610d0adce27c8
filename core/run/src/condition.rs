//! Class-conditional models and classifier-free guidance.
//!
//! `[condition] classes = K` trains a network that also reads a class `c ∈ 0..K`, or the null
//! class `∅` (index `K`): a table of `K` embeddings added to the time embedding, `∅` adding zero
//! ([`gpfn_network::ClassEmbedding`]). Training replaces each item's label by `∅` with
//! probability `dropout` ([`drop_labels`]), so one network learns both the conditional
//! prediction `x̂(z, t, c)` and the unconditional `x̂(z, t, ∅)`.
//!
//! Sampling with guidance weight `w` ([`Guidance`]) feeds every sampler, for every divergence,
//! the guided prediction
//!
//! ```text
//! x̂_w = x̂(z, t, ∅) + (1 + w) (x̂(z, t, c) − x̂(z, t, ∅))
//! ```
//!
//! formed on the network's raw output before the readout (`ε̂`/`v̂` conversion, BFN's `t_min`)
//! and before clipping: the conversions are affine in the output with the same coefficients
//! for both terms, so guiding the output is guiding `x̂` (and guiding `ε̂` or `v̂`), and the
//! clipping of `[output] clip` is applied to `x̂_w`. On categorical data the output is the
//! logits, and the guided logits are `l_w = l_∅ + (1 + w)(l_c − l_∅)`.
//!
//! `w = 0` is the conditional model: one network call per step. `w ≠ 0` evaluates the
//! conditional and unconditional rows in one batched call (`[z; z]` with classes `[c; ∅]`),
//! which counts as two network evaluations per sample (the NFE that samplers report).

use burn::tensor::{Int, Tensor};
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use gpfn_network::{Network, class_indices};
use serde::{Deserialize, Deserializer, Serialize};
use std::str::FromStr;

/// `[condition]`: a class-conditional model (absent: unconditional).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Number of classes `K`; the data set's labels must lie in `0..K`.
    #[serde(deserialize_with = "gpfn_core::check::at_least_one")]
    pub classes: usize,
    /// Probability that training replaces an item's label by the null class `∅` (per item,
    /// independently): what teaches the network the unconditional prediction guidance needs.
    #[serde(
        default = "default_dropout",
        deserialize_with = "gpfn_core::check::unit"
    )]
    pub dropout: f64,
    /// The guidance weight `w` of the samples training writes and of `gpfn sample` without
    /// `--guidance` (0: the conditional model).
    #[serde(default, deserialize_with = "finite")]
    pub guidance: f64,
}

/// Ho & Salimans' (2022) label dropout, within the 0.1–0.2 they found best.
fn default_dropout() -> f64 {
    0.1
}

fn finite<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() {
        return Err(serde::de::Error::custom(format!(
            "must be a finite number, got {v}"
        )));
    }
    Ok(v)
}

/// The classes of one training batch with label dropout: label `l_i` is kept, or replaced by
/// the null class `K = condition.classes` when a uniform `u_i ∈ [0, 1)` from `rng` (one per
/// item, in order) falls below `condition.dropout`. A label outside `0..K` is an error naming
/// `condition.classes`.
pub fn drop_labels(
    labels: &[u8],
    condition: &ConditionConfig,
    rng: &mut Rng,
) -> Result<Vec<usize>> {
    let k = condition.classes;
    labels
        .iter()
        .map(|&l| {
            if usize::from(l) >= k {
                return Err(GpfnError::Config {
                    key: "condition.classes".into(),
                    message: format!(
                        "is {k}, but the data set has the label {l}; labels must lie in 0..{k}"
                    ),
                });
            }
            Ok(if rng.uniform() < condition.dropout {
                k
            } else {
                usize::from(l)
            })
        })
        .collect()
}

/// The error of a conditional config on a data set whose items carry no labels.
pub fn unlabelled(dataset: &str) -> GpfnError {
    GpfnError::Config {
        key: "condition".into(),
        message: format!(
            "data set `{dataset}` has no labels, so it cannot train a class-conditional model; \
             remove [condition] or use a labelled data set (mnist, fashion-mnist, \
             eight-gaussians, eight-gaussians-grid, two-moons, spirals)"
        ),
    }
}

/// Which classes a sample set asks for: `--class 7` or `--class all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassChoice {
    /// Every sample of class `c`.
    One(usize),
    /// Class-balanced: sample `i` of class `i mod K`.
    All,
}

impl FromStr for ClassChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "all" {
            return Ok(ClassChoice::All);
        }
        s.parse::<usize>()
            .map(ClassChoice::One)
            .map_err(|_| format!("`{s}` is neither a class index (0, 1, …) nor `all`"))
    }
}

impl std::fmt::Display for ClassChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassChoice::One(c) => write!(f, "{c}"),
            ClassChoice::All => write!(f, "all"),
        }
    }
}

/// The conditioning of one sample set: each sample's class and the guidance weight `w`.
#[derive(Clone, Debug, PartialEq)]
pub struct Guidance {
    /// Sample `i` has class `classes[i mod classes.len()]` (in `0..K`).
    classes: Vec<usize>,
    /// `K`: the null class's index.
    null: usize,
    /// The weight `w`.
    weight: f64,
}

impl Guidance {
    /// The guidance of `choice` at weight `weight` for a model with `condition` (`None`: the
    /// model is unconditional). Each fault is an error before any work, naming the flag:
    /// a class or a guidance weight for an unconditional model, a class outside `0..K`, a
    /// non-finite `w`.
    pub fn new(
        choice: ClassChoice,
        weight: f64,
        condition: Option<&ConditionConfig>,
    ) -> Result<Guidance> {
        let Some(condition) = condition else {
            return Err(GpfnError::Config {
                key: "--class".into(),
                message: "this run is unconditional (its config has no [condition]): it cannot \
                          be asked for a class or guided; train with [condition] classes = K"
                    .into(),
            });
        };
        let k = condition.classes;
        if !weight.is_finite() {
            return Err(GpfnError::Config {
                key: "--guidance".into(),
                message: format!("the guidance weight must be a finite number, got {weight}"),
            });
        }
        let classes = match choice {
            ClassChoice::One(c) if c >= k => {
                return Err(GpfnError::Config {
                    key: "--class".into(),
                    message: format!(
                        "class {c} is outside the model's classes 0..{k} (condition.classes = {k})"
                    ),
                });
            }
            ClassChoice::One(c) => vec![c],
            ClassChoice::All => (0..k).collect(),
        };
        Ok(Guidance {
            classes,
            null: k,
            weight,
        })
    }

    /// The guidance weight `w`.
    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// The class of sample (row) `i`.
    pub fn class_of(&self, i: usize) -> usize {
        self.classes[i % self.classes.len()]
    }

    /// The same guidance for the samples `start, start + 1, …` of a larger set: sample `i` of
    /// the result has the class of sample `start + i` of `self` (for sets drawn in batches).
    pub fn from_sample(&self, start: usize) -> Guidance {
        let mut classes = self.classes.clone();
        let shift = start % classes.len();
        classes.rotate_left(shift);
        Guidance {
            classes,
            null: self.null,
            weight: self.weight,
        }
    }

    /// The classes of the model (`K`).
    pub fn model_classes(&self) -> usize {
        self.null
    }

    /// What was asked: every class in turn ([`ClassChoice::All`]) or one class.
    pub fn choice(&self) -> ClassChoice {
        if self.classes.len() == 1 && self.null > 1 {
            ClassChoice::One(self.classes[0])
        } else {
            ClassChoice::All
        }
    }

    /// Network evaluations per sample per guided prediction: 1 at `w = 0` (the conditional
    /// model alone), else 2 (conditional and unconditional, in one batched call).
    pub fn evaluations(&self) -> usize {
        if self.weight == 0.0 { 1 } else { 2 }
    }

    /// The guided raw output for inputs `z: [b, ·]` at times `t: [b, 1]`, with `forward` the
    /// network `(z, t, classes) ↦ output` for `classes: [m·b]`, row `j` of the output being
    /// `F(z_{j mod b}, t_{j mod b}, c_j)` ([`Network::forward_repeated`]): at `w = 0` one call
    /// with each row's class (`m = 1`); else one call with classes `[c; ∅]` (`m = 2`), split
    /// into `o_c` and `o_∅`, and `o_∅ + (1 + w)(o_c − o_∅)`.
    pub fn guide(
        &self,
        forward: impl FnOnce(Tensor<2>, Tensor<2>, Tensor<1, Int>) -> Result<Tensor<2>>,
        z: Tensor<2>,
        t: Tensor<2>,
    ) -> Result<Tensor<2>> {
        let device = z.device();
        let b = z.dims()[0];
        let mut classes: Vec<usize> = (0..b).map(|i| self.class_of(i)).collect();
        if self.weight == 0.0 {
            return forward(z, t, class_indices(&classes, &device));
        }
        classes.extend(std::iter::repeat_n(self.null, b));
        let out = forward(z, t, class_indices(&classes, &device))?;
        let cond = out.clone().narrow(0, 0, b);
        let uncond = out.narrow(0, b, b);
        Ok(uncond.clone() + (cond - uncond).mul_scalar(1.0 + self.weight))
    }

    /// [`guide`](Self::guide) with `network`.
    pub fn guide_network(
        &self,
        network: &Network,
        z: Tensor<2>,
        t: Tensor<2>,
    ) -> Result<Tensor<2>> {
        self.guide(|z, t, c| network.forward_repeated(z, t, c), z, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use std::cell::Cell;

    fn condition(classes: usize, dropout: f64) -> ConditionConfig {
        ConditionConfig {
            classes,
            dropout,
            guidance: 0.0,
        }
    }

    #[test]
    fn label_dropout_keeps_the_rate_and_the_labels() {
        let n = 20_000;
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let c = condition(10, 0.2);
        let got = drop_labels(&labels, &c, &mut Rng::derive(5, "label-dropout", 3)).unwrap();
        let dropped = got.iter().filter(|&&v| v == 10).count();
        // Binomial(20 000, 0.2): mean 4 000, std √(20 000 · 0.2 · 0.8) ≈ 56.6; ±4σ.
        assert!((4000 - 227..=4000 + 227).contains(&dropped), "{dropped}");
        // Kept labels are unchanged; the draw is a function of the stream.
        for (g, l) in got.iter().zip(&labels) {
            assert!(*g == 10 || *g == usize::from(*l));
        }
        let again = drop_labels(&labels, &c, &mut Rng::derive(5, "label-dropout", 3)).unwrap();
        assert_eq!(got, again);
        // p = 0 keeps all, p = 1 drops all.
        let r = &mut Rng::derive(0, "x", 0);
        assert_eq!(
            drop_labels(&labels[..5], &condition(10, 0.0), r).unwrap(),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(
            drop_labels(&labels[..5], &condition(10, 1.0), r).unwrap(),
            vec![10; 5]
        );
        // A label ≥ K is refused by name.
        let e = drop_labels(&[3, 7], &condition(5, 0.1), r)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("condition.classes") && e.contains("label 7"),
            "{e}"
        );
    }

    #[test]
    fn class_choices_and_bad_guidance_are_named_errors() {
        assert_eq!("7".parse::<ClassChoice>(), Ok(ClassChoice::One(7)));
        assert_eq!("all".parse::<ClassChoice>(), Ok(ClassChoice::All));
        assert!("seven".parse::<ClassChoice>().is_err());
        let c = condition(10, 0.1);
        let all = Guidance::new(ClassChoice::All, 1.0, Some(&c)).unwrap();
        assert_eq!(
            (0..23).map(|i| all.class_of(i)).collect::<Vec<_>>(),
            (0..23).map(|i| i % 10).collect::<Vec<_>>()
        );
        assert_eq!(all.evaluations(), 2);
        let later = all.from_sample(13);
        assert_eq!(
            (0..23).map(|i| later.class_of(i)).collect::<Vec<_>>(),
            (13..36).map(|i| i % 10).collect::<Vec<_>>()
        );
        assert_eq!((later.weight(), later.model_classes()), (1.0, 10));
        assert_eq!(
            (all.choice(), later.choice()),
            (ClassChoice::All, ClassChoice::All)
        );
        let seven = Guidance::new(ClassChoice::One(7), 0.0, Some(&c)).unwrap();
        assert_eq!(seven.from_sample(3).class_of(4), 7);
        assert_eq!(seven.choice(), ClassChoice::One(7));
        assert_eq!((seven.class_of(0), seven.class_of(5)), (7, 7));
        assert_eq!(seven.evaluations(), 1);
        let key = |e: GpfnError| match e {
            GpfnError::Config { key, .. } => key,
            e => panic!("{e}"),
        };
        assert_eq!(
            key(Guidance::new(ClassChoice::One(10), 0.0, Some(&c)).unwrap_err()),
            "--class"
        );
        assert_eq!(
            key(Guidance::new(ClassChoice::One(0), 1.0, None).unwrap_err()),
            "--class"
        );
        for w in [f64::NAN, f64::INFINITY] {
            assert_eq!(
                key(Guidance::new(ClassChoice::All, w, Some(&c)).unwrap_err()),
                "--guidance"
            );
        }
    }

    /// A fake network whose output is `z · (c + 1) + t` per row, counting its calls.
    fn fake(
        calls: &Cell<usize>,
        rows: &Cell<usize>,
    ) -> impl FnOnce(Tensor<2>, Tensor<2>, Tensor<1, Int>) -> Result<Tensor<2>> {
        move |z, t, c| {
            calls.set(calls.get() + 1);
            let m = c.dims()[0] / z.dims()[0];
            let (z, t) = (Tensor::cat(vec![z; m], 0), Tensor::cat(vec![t; m], 0));
            rows.set(z.dims()[0]);
            let c = c.float().add_scalar(1.0).unsqueeze_dim(1);
            Ok(z * c + t)
        }
    }

    #[test]
    fn guidance_is_one_call_and_the_formula() {
        let device = Device::flex();
        let (b, d) = (4, 3);
        let zs: Vec<f32> = (0..b * d).map(|i| i as f32 * 0.25 - 1.0).collect();
        let ts: Vec<f32> = vec![0.1, 0.2, 0.3, 0.4];
        let z = Tensor::<2>::from_data(TensorData::new(zs.clone(), [b, d]), &device);
        let t = Tensor::<2>::from_data(TensorData::new(ts.clone(), [b, 1]), &device);
        let c = condition(10, 0.1);
        let host = |x: Tensor<2>| x.into_data().try_to_vec::<f32>().unwrap();
        let out_of =
            |i: usize, j: usize, class: usize| zs[i * d + j] * (class as f32 + 1.0) + ts[i];

        // w = 0: one call on b rows, the conditional output itself.
        let g = Guidance::new(ClassChoice::All, 0.0, Some(&c)).unwrap();
        let (calls, rows) = (Cell::new(0), Cell::new(0));
        let got = host(g.guide(fake(&calls, &rows), z.clone(), t.clone()).unwrap());
        assert_eq!((calls.get(), rows.get()), (1, b));
        for i in 0..b {
            for j in 0..d {
                assert_eq!(got[i * d + j], out_of(i, j, i % 10));
            }
        }

        // w = 1: one call on 2b rows, o_∅ + 2 (o_c − o_∅) exactly.
        let g = Guidance::new(ClassChoice::One(3), 1.0, Some(&c)).unwrap();
        let (calls, rows) = (Cell::new(0), Cell::new(0));
        let got = host(g.guide(fake(&calls, &rows), z, t).unwrap());
        assert_eq!((calls.get(), rows.get()), (1, 2 * b));
        for i in 0..b {
            for j in 0..d {
                let (oc, ou) = (out_of(i, j, 3), out_of(i, j, 10));
                assert_eq!(got[i * d + j], ou + (oc - ou) * 2.0, "row {i}, column {j}");
            }
        }
    }
}
