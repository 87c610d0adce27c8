//! Masked completion: sampling the missing pixels of an image given the known ones
//! (`gpfn sample --complete IMAGE.npy --mask MASK.npy`, mask 1 = known).
//!
//! Every sampler reads the data only through the predictor `(z, t) ↦ x̂`, so completion
//! conditions the predictor (RePaint-style, Lugmayr et al. 2022): at each call the known
//! coordinates of the network's input are replaced by the known data taken along the flow,
//!
//! ```text
//! z_known(t) = a(κ(t)) x + b(κ(t)) ε,     (a, b) = the divergence's flow_coefficients
//! ```
//!
//! — the straight path `κ x + (1 − κ) ε` for `w2`, `rectified-flow` and `sinkhorn`; for BFN's
//! Gaussian beliefs (`kl`) the mean of the flow distribution at accuracy `γ = κ(t)`,
//! `μ = γ x + √(γ(1 − γ)) ε`, i.e. the known coordinates' beliefs set to the data at the flow's
//! accuracy — with one noise `ε` per sample drawn once (stream `(seed, "complete", stream)`),
//! so the known coordinates follow one path of the flow; and the known coordinates of the
//! prediction `x̂` are the data. The samples' known coordinates are the data exactly. The
//! unknown coordinates follow the sampler's chain, which now sees the known pixels at the
//! noise level of each step.
//!
//! On categorical data (discrete BFN and the f-divergences on the simplex) the chain's output
//! distribution for a known variable is its data's one-hot `e_x` ([`KnownClasses`]): every
//! step then observes it through the sender of its true class, so its belief follows the
//! flow distribution of the data at the chain's accuracy — the known coordinates' beliefs set
//! to the data at the flow's accuracy — and the network sees them so at every step.
//!
//! Continuous divergences without a closed-form flow (`fdiv`'s simulated flows) are refused
//! by name.

use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::divergence::KnownClasses;
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};

use crate::model::FlowModel;

/// The images to complete and their masks, checked against the data's item shape.
#[derive(Clone, Debug)]
pub struct Completion {
    /// `[n, dim]`: the images, in the data's range (as samples are written).
    images: Vec<f32>,
    /// `[n_masks, dim]` with `n_masks` 1 (one mask for every image) or `n`; 1 = known.
    masks: Vec<f32>,
    /// `dim`: values per image.
    dim: usize,
}

fn shape_error(key: &str, got: &[usize], shape: &[usize], images: Option<usize>) -> GpfnError {
    let stack = match images {
        Some(n) if n > 1 => format!("[1, …] or [{n}, …], one mask per image"),
        _ => "[n, …]".to_string(),
    };
    GpfnError::Config {
        key: key.into(),
        message: format!(
            "has shape {got:?}, but the run's data items have shape {shape:?}: give one item of \
             that shape or a stack {stack}"
        ),
    }
}

/// `got` as `n` items of `shape`: `shape` itself (one) or `[n, …shape]`.
fn items(got: &[usize], shape: &[usize]) -> Option<usize> {
    if got == shape {
        Some(1)
    } else if got.len() == shape.len() + 1 && got[1..] == *shape && got[0] > 0 {
        Some(got[0])
    } else {
        None
    }
}

impl Completion {
    /// The images `images` of shape `image_shape` and the masks `masks` of shape `mask_shape`
    /// for data items of shape `shape`: the images are one item or `[n, …shape]`, the masks one
    /// item (for every image) or `n` items; mask values are 0 (missing) or 1 (known). A shape
    /// that does not fit is an error naming `--complete` or `--mask`, before any work.
    pub fn new(
        images: Vec<f32>,
        image_shape: &[usize],
        masks: Vec<f32>,
        mask_shape: &[usize],
        shape: &[usize],
    ) -> Result<Completion> {
        let n = items(image_shape, shape)
            .ok_or_else(|| shape_error("--complete", image_shape, shape, None))?;
        let m = items(mask_shape, shape)
            .filter(|&m| m == 1 || m == n)
            .ok_or_else(|| shape_error("--mask", mask_shape, shape, Some(n)))?;
        let dim: usize = shape.iter().product();
        debug_assert_eq!((images.len(), masks.len()), (n * dim, m * dim));
        if let Some(v) = masks.iter().find(|&&v| v != 0.0 && v != 1.0) {
            return Err(GpfnError::Config {
                key: "--mask".into(),
                message: format!("mask values must be 0 (missing) or 1 (known), found {v}"),
            });
        }
        if let Some(v) = images.iter().find(|v| !v.is_finite()) {
            return Err(GpfnError::Config {
                key: "--complete".into(),
                message: format!("the image holds the non-finite value {v}"),
            });
        }
        Ok(Completion { images, masks, dim })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len() / self.dim
    }

    /// Whether there is no image (never, once built).
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Image `i` (`dim` values).
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.dim..(i + 1) * self.dim]
    }

    /// The mask of image `i` (`dim` values, 1 = known).
    pub fn mask(&self, i: usize) -> &[f32] {
        let j = if self.masks.len() == self.dim { 0 } else { i };
        &self.masks[j * self.dim..(j + 1) * self.dim]
    }

    /// `(images, masks)` of samples `start..start + count`, sample `s` completing image
    /// `s mod n`, each `[count, dim]`.
    pub fn rows(&self, start: usize, count: usize) -> (Vec<f32>, Vec<f32>) {
        let n = self.len();
        let mut x = Vec::with_capacity(count * self.dim);
        let mut m = Vec::with_capacity(count * self.dim);
        for s in start..start + count {
            x.extend_from_slice(self.image(s % n));
            m.extend_from_slice(self.mask(s % n));
        }
        (x, m)
    }

    /// Sets the known coordinates of `values` (`[count, dim]`, samples `start..`) to the data.
    pub fn impose(&self, values: &mut [f32], start: usize) {
        let n = self.len();
        for (k, row) in values.chunks_exact_mut(self.dim).enumerate() {
            let (x, m) = (self.image((start + k) % n), self.mask((start + k) % n));
            for ((v, &xi), &mi) in row.iter_mut().zip(x).zip(m) {
                if mi == 1.0 {
                    *v = xi;
                }
            }
        }
    }
}

impl Completion {
    /// The known variables of samples `start..start + count` for the categorical chain
    /// ([`KnownClasses`]): the mask repeated over the `K` class blocks and `e_x` of the known
    /// variables. A known value that is not a class index `0..K` is an error naming
    /// `--complete` (the unknown ones may hold anything).
    pub fn known_classes(
        &self,
        classes: usize,
        start: usize,
        count: usize,
        device: &Device,
    ) -> Result<KnownClasses> {
        let (mut x, m) = self.rows(start, count);
        for (v, &mi) in x.iter_mut().zip(&m) {
            if mi == 0.0 {
                *v = 0.0;
            } else if !(v.fract() == 0.0 && *v >= 0.0 && (*v as usize) < classes) {
                return Err(GpfnError::Config {
                    key: "--complete".into(),
                    message: format!(
                        "a known value is {v}, but the run's data are class indices 0..{} \
                         (as its samples are written)",
                        classes - 1
                    ),
                });
            }
        }
        let shape = [count, self.dim];
        let x = Tensor::<2>::from_data(TensorData::new(x, shape), device);
        let mask = Tensor::<2>::from_data(TensorData::new(m, shape), device);
        Ok(KnownClasses::new(&x, mask, classes))
    }
}

/// The known data of one batch on the device: what the conditioned predictor imposes.
pub struct Known {
    x: Tensor<2>,
    mask: Tensor<2>,
    noise: Tensor<2>,
}

impl Known {
    /// The batch of samples `start..start + count` of `completion` for `model`, with the
    /// noise `ε` of its known path from `rng`. Errors, naming `--complete`, for a divergence
    /// without a closed-form flow `a x + b ε`; a model of categorical data takes
    /// [`Completion::known_classes`] instead (an error here).
    pub fn new(
        model: &FlowModel<'_>,
        completion: &Completion,
        start: usize,
        count: usize,
        device: &Device,
        rng: &mut Rng,
    ) -> Result<Known> {
        check(model)?;
        if model.categorical.is_some() {
            return Err(GpfnError::Invalid(
                "a categorical model's known variables are Completion::known_classes, not a \
                 path a x + b ε"
                    .into(),
            ));
        }
        let (x, m) = completion.rows(start, count);
        let dim = completion.dim;
        Ok(Known {
            x: Tensor::<2>::from_data(TensorData::new(x, [count, dim]), device),
            mask: Tensor::<2>::from_data(TensorData::new(m, [count, dim]), device),
            noise: rng.normal_tensor(count, dim, device),
        })
    }

    /// The network input `z` at time `t` with its known coordinates on the flow:
    /// `z (1 − m) + (a x + b ε) m`.
    pub fn input(&self, model: &FlowModel<'_>, z: Tensor<2>, t: f64) -> Tensor<2> {
        let kappa = model.schedule.kappa(t);
        let (a, b) = model
            .divergence
            .maths()
            .flow_coefficients(kappa)
            .expect("checked when the batch was built");
        let on_path = self.x.clone().mul_scalar(a) + self.noise.clone().mul_scalar(b);
        self.blend(z, on_path)
    }

    /// The prediction `x̂` with its known coordinates the data: `x̂ (1 − m) + x m`.
    pub fn output(&self, x_hat: Tensor<2>) -> Tensor<2> {
        self.blend(x_hat, self.x.clone())
    }

    fn blend(&self, free: Tensor<2>, known: Tensor<2>) -> Tensor<2> {
        let keep = self.mask.clone().neg().add_scalar(1.0);
        free * keep + known * self.mask.clone()
    }
}

/// Whether `model` can complete images: categorical beliefs, or particle and Gaussian beliefs
/// with a closed-form flow.
pub fn check(model: &FlowModel<'_>) -> Result<()> {
    if model.categorical.is_some() {
        return Ok(());
    }
    if model.divergence.maths().flow_coefficients(0.5).is_none() {
        return Err(GpfnError::Config {
            key: "--complete".into(),
            message: format!(
                "divergence `{}` has no closed-form flow `a x + b ε` to put the known pixels \
                 on; completion needs w2, rectified-flow, sinkhorn or kl",
                model.divergence.name()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(e: GpfnError) -> String {
        match e {
            GpfnError::Config { key, .. } => key,
            e => panic!("{e}"),
        }
    }

    #[test]
    fn shapes_masks_and_rows() {
        let shape = [1, 2, 2];
        let img: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let c = Completion::new(
            img.clone(),
            &[2, 1, 2, 2],
            vec![1., 0., 1., 0.],
            &shape,
            &shape,
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        let (x, m) = c.rows(1, 3);
        assert_eq!(x, [&img[4..8], &img[0..4], &img[4..8]].concat());
        assert_eq!(m, [1., 0., 1., 0.].repeat(3));
        let mut v = vec![-9.0; 8];
        c.impose(&mut v, 0);
        assert_eq!(v, vec![0., -9., 2., -9., 4., -9., 6., -9.]);
        // One mask per image.
        let per = Completion::new(
            img.clone(),
            &[2, 1, 2, 2],
            vec![1.0; 8],
            &[2, 1, 2, 2],
            &shape,
        );
        assert!(per.is_ok());
        // Shape mismatches and bad masks name their flag.
        let bad = |i: &[usize], m: &[usize], mv: Vec<f32>| {
            key(Completion::new(vec![0.0; i.iter().product()], i, mv, m, &shape).unwrap_err())
        };
        assert_eq!(bad(&[1, 3, 3], &[1, 2, 2], vec![1.0; 4]), "--complete");
        assert_eq!(bad(&[1, 2, 2], &[2, 2], vec![1.0; 4]), "--mask");
        assert_eq!(bad(&[2, 1, 2, 2], &[3, 1, 2, 2], vec![1.0; 12]), "--mask");
        assert_eq!(bad(&[1, 2, 2], &[1, 2, 2], vec![0.5; 4]), "--mask");
    }
}
