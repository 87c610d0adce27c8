//! The evaluation classifier: a small CNN trained on a data set's labelled training images,
//! whose penultimate activations are the features of every metric (the role Inception-v3
//! plays for FID on natural images).
//!
//! Architecture, for images `[c, h, w]`: three 3×3 convolutions with ReLU (the second and
//! third with stride 2: `h → ⌈h/2⌉ → ⌈h/4⌉`), a linear layer to `features` units with ReLU
//! — the *features* — and a linear layer to the class logits. With the defaults
//! (16/32/24 channels, 128 features) a 28×28 classifier has 163 682 parameters.
//!
//! A trained classifier is a folder: `classifier.bpk` (burn's burnpack weights) and
//! `classifier.json` ([`ClassifierInfo`]: architecture, data set, test accuracy), written
//! into a hidden temporary folder and renamed into place when complete.

use super::Features;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::store::ModuleRecord;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::{GpfnError, Result};
use gpfn_data::DataTable;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The architecture of a classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSpec {
    /// Shape of one image, `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Output channels of the three convolutions.
    pub channels: [usize; 3],
    /// Width of the penultimate (feature) layer.
    pub features: usize,
}

impl ClassifierSpec {
    /// The default architecture for images of `shape` (`[c, h, w]`) and `classes` classes.
    pub fn for_images(shape: &[usize], classes: usize) -> Result<ClassifierSpec> {
        let shape = match shape {
            [c, h, w] if *c > 0 && *h > 0 && *w > 0 => [*c, *h, *w],
            _ => {
                return Err(GpfnError::Invalid(format!(
                    "the classifier needs image data of shape [channels, height, width], got {shape:?}"
                )));
            }
        };
        if classes < 2 {
            return Err(GpfnError::Invalid(format!(
                "a classifier needs at least 2 classes, the labels hold {classes}"
            )));
        }
        Ok(ClassifierSpec {
            shape,
            classes,
            channels: [16, 32, 24],
            features: 128,
        })
    }

    /// Height and width after the two stride-2 convolutions, `⌈⌈n/2⌉/2⌉`.
    fn reduced(&self) -> (usize, usize) {
        let q = |n: usize| n.div_ceil(2).div_ceil(2);
        (q(self.shape[1]), q(self.shape[2]))
    }

    /// Builds a freshly initialised classifier on `device`.
    pub fn build(&self, device: &Device) -> Classifier {
        let conv = |c_in: usize, c_out: usize, stride: usize| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let [c1, c2, c3] = self.channels;
        let (h, w) = self.reduced();
        Classifier {
            conv1: conv(self.shape[0], c1, 1),
            conv2: conv(c1, c2, 2),
            conv3: conv(c2, c3, 2),
            hidden: LinearConfig::new(c3 * h * w, self.features).init(device),
            out: LinearConfig::new(self.features, self.classes).init(device),
            shape: self.shape,
            width: self.features,
        }
    }
}

/// The classifier network.
#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    hidden: Linear,
    out: Linear,
    #[module(skip)]
    shape: [usize; 3],
    #[module(skip)]
    width: usize,
}

impl Classifier {
    /// Penultimate features `φ(x) = ReLU(W h(x) + b)` of flattened images `x: [batch, c·h·w]`.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let b = x.dims()[0];
        let [c, h, w] = self.shape;
        let x = x.reshape([b, c, h, w]);
        let x = relu(self.conv1.forward(x));
        let x = relu(self.conv2.forward(x));
        let x = relu(self.conv3.forward(x));
        let x = x.flatten::<2>(1, 3);
        relu(self.hidden.forward(x))
    }

    /// Class logits from features.
    pub fn logits_from_features(&self, features: Tensor<2>) -> Tensor<2> {
        self.out.forward(features)
    }

    /// Class logits of flattened images.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.logits_from_features(self.features(x))
    }
}

/// What `classifier.json` records beside the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierInfo {
    /// The architecture.
    pub spec: ClassifierSpec,
    /// The data set it was trained on (its config section).
    pub data: serde_json::Value,
    /// Training images used.
    pub train_images: usize,
    /// Passes over the training images.
    pub epochs: usize,
    /// Accuracy on the data set's test split.
    pub test_accuracy: f64,
    /// Test images the accuracy was measured on.
    pub test_images: usize,
    /// Number of parameters.
    pub parameters: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Wall time of training, seconds.
    pub train_seconds: f64,
}

/// Features and predicted classes of a set of images.
#[derive(Clone, Debug)]
pub struct Embedded {
    /// Penultimate features, one row per image.
    pub features: Features,
    /// `argmax` of the logits.
    pub predicted: Vec<usize>,
}

/// Runs the classifier over `values` (rows of flattened images) in batches of `batch`.
pub fn embed(
    model: &Classifier,
    values: &[f32],
    batch: usize,
    device: &Device,
) -> Result<Embedded> {
    let d: usize = model.shape.iter().product();
    if !values.len().is_multiple_of(d) {
        return Err(GpfnError::Shape(format!(
            "{} values are not rows of images of shape {:?}",
            values.len(),
            model.shape
        )));
    }
    let n = values.len() / d;
    let mut feats = Vec::with_capacity(n * model.width);
    let mut predicted = Vec::with_capacity(n);
    for start in (0..n).step_by(batch.max(1)) {
        let rows = batch.max(1).min(n - start);
        let x = Tensor::<2>::from_data(
            TensorData::new(values[start * d..(start + rows) * d].to_vec(), [rows, d]),
            device,
        );
        let f = model.features(x);
        let labels = model.logits_from_features(f.clone()).argmax(1);
        feats.extend(f.into_data().iter::<f32>());
        predicted.extend(labels.into_data().iter::<i64>().map(|c| c as usize));
    }
    Ok(Embedded {
        features: Features::from_f32(&feats, model.width)?,
        predicted,
    })
}

/// Fraction of `table`'s images the classifier labels correctly.
pub fn accuracy(
    model: &Classifier,
    table: &DataTable,
    batch: usize,
    device: &Device,
) -> Result<f64> {
    let labels = table.labels.as_ref().ok_or_else(|| {
        GpfnError::Invalid("the data set has no class labels to measure accuracy on".into())
    })?;
    let e = embed(model, &table.values, batch, device)?;
    let right = e
        .predicted
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as usize)
        .count();
    Ok(right as f64 / labels.len().max(1) as f64)
}

fn err(path: &Path, message: impl Into<String>) -> GpfnError {
    GpfnError::Run {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Saves `model` and `info` into the folder `dir` atomically (a temporary sibling folder,
/// renamed into place; an existing classifier there is replaced).
pub fn save(dir: &Path, model: &Classifier, info: &ClassifierInfo) -> Result<()> {
    let name = dir
        .file_name()
        .ok_or_else(|| err(dir, "not a folder name"))?
        .to_string_lossy()
        .into_owned();
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| GpfnError::io(parent, e))?;
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| GpfnError::io(&tmp, e))?;
    }
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| err(dir, format!("cannot serialise the classifier: {e:?}")))?;
    gpfn_io::atomic_write(&tmp.join("classifier.bpk"), &weights)?;
    let json = serde_json::to_vec_pretty(info).expect("classifier info serialises");
    gpfn_io::atomic_write(&tmp.join("classifier.json"), &json)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| GpfnError::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| GpfnError::io(dir, e))
}

/// Loads a classifier folder written by [`save`].
pub fn load(dir: &Path, device: &Device) -> Result<(Classifier, ClassifierInfo)> {
    let info_path: PathBuf = dir.join("classifier.json");
    let bytes = std::fs::read(&info_path).map_err(|e| {
        err(
            dir,
            format!("no classifier here ({e}); train one with `gpfn eval classifier`"),
        )
    })?;
    let info: ClassifierInfo =
        serde_json::from_slice(&bytes).map_err(|e| err(&info_path, format!("malformed: {e}")))?;
    let weights_path = dir.join("classifier.bpk");
    let weights = std::fs::read(&weights_path).map_err(|e| GpfnError::io(&weights_path, e))?;
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(weights))
        .map_err(|e| err(&weights_path, format!("not a weights file: {e:?}")))?;
    let model = info
        .spec
        .build(device)
        .try_load_record(record)
        .map_err(|e| {
            err(
                &weights_path,
                format!("weights do not fit the architecture in classifier.json: {e:?}"),
            )
        })?;
    Ok((model, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_architecture_has_the_documented_size_and_feature_width() {
        let spec = ClassifierSpec::for_images(&[1, 28, 28], 10).unwrap();
        let model = spec.build(&Device::flex());
        // Weights + biases: 3×3 convolutions 1→16, 16→32, 32→24; 28 → 14 → 7, so the hidden
        // layer sees 24·7·7 = 1176 inputs; then 1176→128 and 128→10.
        let conv = |i: usize, o: usize| 9 * i * o + o;
        let expected = conv(1, 16) + conv(16, 32) + conv(32, 24) + 1176 * 128 + 128 + 128 * 10 + 10;
        assert_eq!(model.num_params(), expected);
        assert_eq!(expected, 163_682);
        let x = Tensor::<2>::zeros([3, 784], &Device::flex());
        assert_eq!(model.features(x.clone()).dims(), [3, 128]);
        assert_eq!(model.forward(x).dims(), [3, 10]);
        assert!(ClassifierSpec::for_images(&[784], 10).is_err());
        assert!(ClassifierSpec::for_images(&[1, 28, 28], 1).is_err());
    }
}
