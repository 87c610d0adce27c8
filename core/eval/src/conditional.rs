//! Class-conditional evaluation: how often a sample asked to be class `k` is classified as
//! `k`, and how close each class's samples are to the reference images of that class.
//!
//! For samples asked to be classes `a_i` (`gpfn eval --class K|all --guidance w`) that the
//! feature classifier puts in classes `ĉ_i`:
//!
//! ```text
//! accuracy     = (1/n) Σ_i 1[ĉ_i = a_i]
//! accuracy_k   = share of the samples asked to be k classified as k
//! FID_k        = Fréchet distance of the features of the samples asked to be k
//!                and of the reference images labelled k
//! balanced FID = FID of the whole class-balanced set (`--class all`: sample i of class
//!                i mod K) against the whole reference set: the report's `metrics.fid`
//! ```
//!
//! `FID_k` rests on `n / K` samples per class, so it is biased upwards more than the FID of the
//! whole set (FID's bias grows as the sample count falls); compare it only at equal counts.

use super::Features;
use super::fid::{GaussianStats, frechet_distance};
use gpfn_core::{GpfnError, Result};
use serde::{Deserialize, Serialize};

/// One asked-for class's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// The class asked for.
    pub class: usize,
    /// Samples asked to be this class.
    pub samples: usize,
    /// Share of them the classifier puts in this class.
    pub accuracy: f64,
    /// FID of their features against the reference images labelled with this class (`None`
    /// when either side has fewer than 2 images, or the reference has no labels).
    pub fid: Option<f64>,
}

/// The conditional metrics of one guided sample set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionalMetrics {
    /// The guidance weight `w`.
    pub guidance: f64,
    /// The classes asked for: `all` (class-balanced) or one class index.
    pub class: String,
    /// Share of all samples the classifier puts in the class they were asked to be.
    pub accuracy: f64,
    /// The FID of the class-balanced set against the whole reference (the report's FID;
    /// `None` unless `class` is `all`).
    pub balanced_fid: Option<f64>,
    /// Mean of the per-class FIDs that exist.
    pub mean_class_fid: Option<f64>,
    /// Each asked-for class, in class order.
    pub per_class: Vec<ClassScore>,
}

/// The rows of `features` whose index `i` satisfies `keep(i)`.
fn rows_where(features: &Features, keep: impl Fn(usize) -> bool) -> Result<Features> {
    let d = features.dim();
    let values: Vec<f64> = (0..features.len())
        .filter(|&i| keep(i))
        .flat_map(|i| features.row(i).iter().copied())
        .collect();
    Features::new(values, d)
}

/// What a guided sample set asked for, as [`ConditionalMetrics`] records it.
#[derive(Clone, Debug, PartialEq)]
pub struct GuidedSet {
    /// The guidance weight `w`.
    pub guidance: f64,
    /// `all` or one class index.
    pub class: String,
    /// The whole set's FID when it is class-balanced.
    pub balanced: Option<f64>,
}

/// The conditional metrics of samples asked to be classes `asked` (one per sample), predicted
/// `predicted` by the classifier, with features `fake`, against reference features `real`
/// labelled `real_labels` (per-class FIDs need them).
pub fn conditional_metrics(
    asked: &[usize],
    predicted: &[usize],
    fake: &Features,
    (real, real_labels): (&Features, Option<&[u8]>),
    set: GuidedSet,
) -> Result<ConditionalMetrics> {
    let GuidedSet {
        guidance,
        class,
        balanced,
    } = set;
    if asked.len() != predicted.len() || asked.len() != fake.len() {
        return Err(GpfnError::Shape(format!(
            "{} asked classes, {} predicted classes and {} feature vectors",
            asked.len(),
            predicted.len(),
            fake.len()
        )));
    }
    if asked.is_empty() {
        return Err(GpfnError::Invalid(
            "conditional metrics need at least one sample".into(),
        ));
    }
    if let Some(l) = real_labels
        && l.len() != real.len()
    {
        return Err(GpfnError::Shape(format!(
            "{} reference labels for {} reference feature vectors",
            l.len(),
            real.len()
        )));
    }
    let hits = asked.iter().zip(predicted).filter(|(a, p)| a == p).count();
    let mut classes: Vec<usize> = asked.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let mut per_class = Vec::with_capacity(classes.len());
    for &k in &classes {
        let mine: Vec<usize> = (0..asked.len()).filter(|&i| asked[i] == k).collect();
        let correct = mine.iter().filter(|&&i| predicted[i] == k).count();
        let fid = match real_labels {
            Some(labels) => {
                let real_k = labels.iter().filter(|&&l| usize::from(l) == k).count();
                if mine.len() >= 2 && real_k >= 2 {
                    let fake_k = rows_where(fake, |i| asked[i] == k)?;
                    let real_k = rows_where(real, |i| usize::from(labels[i]) == k)?;
                    Some(frechet_distance(
                        &GaussianStats::of(&real_k)?,
                        &GaussianStats::of(&fake_k)?,
                    )?)
                } else {
                    None
                }
            }
            None => None,
        };
        per_class.push(ClassScore {
            class: k,
            samples: mine.len(),
            accuracy: correct as f64 / mine.len() as f64,
            fid,
        });
    }
    let fids: Vec<f64> = per_class.iter().filter_map(|c| c.fid).collect();
    Ok(ConditionalMetrics {
        guidance,
        class,
        accuracy: hits as f64 / asked.len() as f64,
        balanced_fid: balanced,
        mean_class_fid: (!fids.is_empty()).then(|| fids.iter().sum::<f64>() / fids.len() as f64),
        per_class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Features of rows `i` of classes `classes[i] = i mod 4`, class `k`'s at
    /// `(10 k + k·shift ± 1, ±0.5)` (the sign alternating within the class).
    fn clustered(classes: &[usize], shift: f64) -> Features {
        let values = classes
            .iter()
            .enumerate()
            .flat_map(|(i, &k)| {
                let wobble = if (i / 4) % 2 == 0 { 1.0 } else { -1.0 };
                [10.0 * k as f64 + k as f64 * shift + wobble, wobble * 0.5]
            })
            .collect();
        Features::new(values, 2).unwrap()
    }

    #[test]
    fn accuracy_per_class_fid_and_errors() {
        let asked: Vec<usize> = (0..40).map(|i| i % 4).collect();
        // Class 3's samples all classified as 2; the rest right.
        let predicted: Vec<usize> = asked.iter().map(|&k| if k == 3 { 2 } else { k }).collect();
        let labels: Vec<u8> = (0..80).map(|i| (i % 4) as u8).collect();
        let real = clustered(&labels.iter().map(|&l| l as usize).collect::<Vec<_>>(), 0.0);
        // Class k's samples shifted by k: FID_k ≈ k² (covariances alike, mean offset k).
        let fake = clustered(&asked, 1.0);
        let set = |guidance: f64, class: &str, balanced: Option<f64>| GuidedSet {
            guidance,
            class: class.into(),
            balanced,
        };
        let m = conditional_metrics(
            &asked,
            &predicted,
            &fake,
            (&real, Some(&labels)),
            set(1.5, "all", Some(7.0)),
        )
        .unwrap();
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.per_class.len(), 4);
        for c in &m.per_class {
            assert_eq!(c.samples, 10);
            assert_eq!(c.accuracy, if c.class == 3 { 0.0 } else { 1.0 });
            // Covariances: 10 fake rows and 20 real rows of ±(1, 0.5) differ only by the
            // unbiased normalisation, 10/9 against 20/19: FID_k = k² + 1.25 (√(10/9) −
            // √(20/19))² ≈ k² + 0.001.
            let k2 = (c.class * c.class) as f64;
            let f = c.fid.unwrap();
            assert!((f - k2).abs() < 0.01, "class {}: {f} against {k2}", c.class);
        }
        assert_eq!(m.balanced_fid, Some(7.0));
        assert!((m.mean_class_fid.unwrap() - 3.5).abs() < 0.01);
        // Without reference labels: accuracy only.
        let m = conditional_metrics(
            &asked,
            &predicted,
            &fake,
            (&real, None),
            set(0.0, "3", None),
        )
        .unwrap();
        assert!(m.per_class.iter().all(|c| c.fid.is_none()) && m.mean_class_fid.is_none());
        // Mismatched lengths are shape errors.
        assert!(
            conditional_metrics(
                &asked[..3],
                &predicted,
                &fake,
                (&real, None),
                set(0.0, "all", None)
            )
            .is_err()
        );
        assert!(
            conditional_metrics(
                &asked,
                &predicted,
                &fake,
                (&real, Some(&labels[..5])),
                set(0.0, "all", None)
            )
            .is_err()
        );
    }
}
