//! Training the evaluation classifier: cross-entropy with Adam on the data set's labelled
//! training images, a cosine-decayed learning rate, shuffled mini-batches from the seeded
//! [`DataLoader`], then the accuracy on the test split.

use super::classifier::{Classifier, ClassifierInfo, ClassifierSpec, accuracy};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gpfn_core::{GpfnError, Result};
use gpfn_data::{DataLoader, DataTable};
use gpfn_run::train::learning_rate;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

/// Options of [`train_classifier`].
#[derive(Clone, Debug)]
pub struct ClassifierTraining {
    /// Passes over the training images.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam's peak learning rate (cosine decay to a tenth of it).
    pub lr: f64,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Draw a progress bar.
    pub progress: bool,
}

impl Default for ClassifierTraining {
    fn default() -> Self {
        ClassifierTraining {
            epochs: 5,
            batch_size: 64,
            lr: 2e-3,
            seed: 0,
            progress: false,
        }
    }
}

fn labels_of(table: &DataTable, which: &str) -> Result<Vec<u8>> {
    table.labels.clone().ok_or_else(|| {
        GpfnError::Invalid(format!(
            "the {which} data have no class labels; the classifier needs a labelled image \
             data set such as mnist, fashion-mnist, cifar10 or an image folder with class \
             sub-folders"
        ))
    })
}

/// Trains the default classifier on `train` and measures its accuracy on `test`.
/// `data` is recorded in the returned [`ClassifierInfo`] (the data set's config section).
pub fn train_classifier(
    train: &DataTable,
    test: &DataTable,
    data: serde_json::Value,
    options: &ClassifierTraining,
    device: &Device,
) -> Result<(Classifier, ClassifierInfo)> {
    let started = Instant::now();
    let train_labels = labels_of(train, "training")?;
    labels_of(test, "test")?;
    if train.is_empty() || options.epochs == 0 || options.batch_size == 0 {
        return Err(GpfnError::Invalid(
            "classifier training needs images, epochs ≥ 1 and a batch size ≥ 1".into(),
        ));
    }
    if test.shape != train.shape {
        return Err(GpfnError::Shape(format!(
            "training images have shape {:?}, test images {:?}",
            train.shape, test.shape
        )));
    }
    let classes = *train_labels.iter().max().expect("non-empty") as usize + 1;
    let spec = ClassifierSpec::for_images(&train.shape, classes)?;
    let ad = device.clone().autodiff();
    ad.seed(options.seed);
    let mut model = spec.build(&ad);
    let parameters = model.num_params();
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let steps_per_epoch = train.len().div_ceil(options.batch_size);
    let total = (steps_per_epoch * options.epochs) as u64;
    let mut loader = DataLoader::new(train.clone(), options.batch_size, options.seed);
    let bar = if options.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} classifier steps · {msg} · eta {eta}",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    tracing::info!(
        parameters,
        classes,
        images = train.len(),
        epochs = options.epochs,
        "training the evaluation classifier"
    );
    for step in 0..total {
        let lr = learning_rate(options.lr, 0, total, 0.1, step);
        let idx = loader.indices(step);
        let x = loader.batch(step, &ad);
        let y: Vec<i64> = idx.iter().map(|&i| train_labels[i] as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), &ad);
        let loss = loss_fn.forward(model.forward(x), y);
        if (step + 1) % 20 == 0 || step + 1 == total {
            let value = loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                return Err(GpfnError::Invalid(format!(
                    "the classifier loss became {value} at step {}",
                    step + 1
                )));
            }
            bar.set_message(format!("loss {value:.4}"));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        bar.set_position(step + 1);
    }
    bar.finish_and_clear();
    let model = model.valid();
    let train_seconds = started.elapsed().as_secs_f64();
    let test_accuracy = accuracy(&model, test, 500, device)?;
    tracing::info!(test_accuracy, seconds = train_seconds, "classifier trained");
    Ok((
        model,
        ClassifierInfo {
            spec,
            data,
            train_images: train.len(),
            epochs: options.epochs,
            test_accuracy,
            test_images: test.len(),
            parameters,
            seed: options.seed,
            train_seconds,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpfn_data::{Dataset, Split};

    /// The classifier takes its shape from the data: colour 32×32 images (the CIFAR-10
    /// fixture) train and embed like MNIST's.
    #[test]
    fn a_colour_data_set_trains_a_classifier_of_its_own_shape() {
        let dir = tempfile::tempdir().unwrap();
        gpfn_data::cifar::write_fixture(dir.path(), 8, 10, 0).unwrap();
        let data = gpfn_data::Cifar10 {
            dir: Some(dir.path().to_path_buf()),
            ..gpfn_data::Cifar10::default()
        };
        let (train, test) = (
            data.load(Split::Train, 0).unwrap(),
            data.load(Split::Test, 0).unwrap(),
        );
        let device = Device::flex();
        let options = ClassifierTraining {
            epochs: 1,
            batch_size: 20,
            ..ClassifierTraining::default()
        };
        let (model, info) = train_classifier(
            &train,
            &test,
            serde_json::json!({"name": "cifar10"}),
            &options,
            &device,
        )
        .unwrap();
        assert_eq!(info.spec.shape, [3, 32, 32]);
        assert_eq!((info.spec.classes, info.train_images), (10, 40));
        let e = crate::classifier::embed(&model, &test.values, 4, &device).unwrap();
        assert_eq!((e.features.len(), e.features.dim()), (10, 128));
    }
}
