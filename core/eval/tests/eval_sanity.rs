//! Sanity checks of the evaluation metrics with known answers, on classifier features of
//! images: a tiny classifier is trained in-test on 2 000 training images (seconds).
//!
//! The images are seven-segment digits ([`gpfn_data::fixture`]) written as MNIST's IDX
//! files and read by the `mnist` data set, so the checks run on every machine, with or
//! without MNIST and a network.

use gpfn_core::burn::tensor::Device;
use gpfn_core::rng::Rng;
use gpfn_data::{DataTable, Dataset, Mnist, Split, fixture};
use gpfn_eval::classifier::{self, Classifier, embed};
use gpfn_eval::{
    ClassHistogram, ClassifierTraining, Features, GaussianStats, density_coverage, diversity, fid,
    precision_recall, train_classifier,
};

fn take(table: &DataTable, n: usize) -> DataTable {
    let n = n.min(table.len());
    DataTable {
        shape: table.shape.clone(),
        values: table.values[..n * table.dim()].to_vec(),
        labels: table.labels.as_ref().map(|l| l[..n].to_vec()),
        noise: None,
        classes: None,
        binarise: false,
    }
}

/// 6 000 training and 1 000 test images of the fixture, through the `mnist` loader.
fn digits() -> (DataTable, DataTable) {
    let dir = tempfile::tempdir().unwrap();
    fixture::write_seven_segment_idx(dir.path(), 6000, 1000, 11).unwrap();
    let m = Mnist {
        dir: Some(dir.path().to_path_buf()),
        ..Mnist::default()
    };
    (
        m.load(Split::Train, 0).unwrap(),
        m.load(Split::Test, 0).unwrap(),
    )
}

fn tiny_classifier(train: &DataTable, test: &DataTable, device: &Device) -> (Classifier, f64) {
    let (model, info) = train_classifier(
        &take(train, 2000),
        &take(test, 1000),
        serde_json::json!({"name": "mnist"}),
        &ClassifierTraining {
            epochs: 1,
            batch_size: 50,
            ..ClassifierTraining::default()
        },
        device,
    )
    .unwrap();
    (model, info.test_accuracy)
}

fn features(model: &Classifier, values: &[f32], device: &Device) -> (Features, Vec<usize>) {
    let e = embed(model, values, 250, device).unwrap();
    (e.features, e.predicted)
}

#[test]
fn metrics_on_classifier_features_give_the_known_answers() {
    let (train, test) = digits();
    let device = Device::flex();
    let (model, accuracy) = tiny_classifier(&train, &test, &device);
    // 40 steps on 2 000 images already separate the digits well; far above chance (10%).
    // Tests running at the same time share the flex device's seed, so the exact value
    // varies between runs; alone, a seed gives one classifier.
    assert!(accuracy > 0.6, "tiny classifier accuracy {accuracy}");

    let d = test.dim();
    let n = 1000;
    let (real, _) = features(&model, &test.values[..n * d], &device);
    // Training images 5000.. were not used to train the classifier: an independent real set.
    let (train_part, _) = features(&model, &train.values[5000 * d..(5000 + n) * d], &device);
    let mut rng = Rng::seed(3);
    let noise: Vec<f32> = (0..n * d)
        .map(|_| 2.0 * rng.uniform() as f32 - 1.0)
        .collect();
    let (noise, _) = features(&model, &noise, &device);

    // FID of a set against itself is 0 (identical statistics; f64 rounding only).
    let self_fid = fid(&real, &real).unwrap();
    assert!(self_fid < 1e-9, "FID(test, test) = {self_fid}");
    // Symmetric: the trace term is the nuclear norm of R₁R₂ᵀ (fid.rs), and swapping the
    // sets transposes that matrix, whose singular values are the same up to the SVD's
    // rounding (~1e-13 of the trace at 128 dimensions; 1e-9 is slack). The old eigenvalue
    // route, with square roots of the rank-deficient covariances that dead ReLU units give,
    // once came out 0.41 apart here on CI.
    let a = fid(&real, &train_part).unwrap();
    let b = fid(&train_part, &real).unwrap();
    let scale = GaussianStats::of(&real).unwrap().cov.trace()
        + GaussianStats::of(&train_part).unwrap().cov.trace();
    assert!(
        (a - b).abs() <= 1e-9 * scale,
        "{a} vs {b} (trace scale {scale})"
    );
    // Test set vs training subset: small; vs uniform noise: large.
    let to_noise = fid(&real, &noise).unwrap();
    eprintln!("FID test/train {a:.3}, test/noise {to_noise:.3}, accuracy {accuracy:.3}");
    assert!(to_noise > 20.0 * a, "test/train {a}, test/noise {to_noise}");

    // Precision and recall of the real set against itself: every point is a ball centre.
    let pr = precision_recall(&real, &real, 3).unwrap();
    assert_eq!((pr.precision, pr.recall), (1.0, 1.0));
    // Against an independent real set both stay high.
    let pr = precision_recall(&real, &train_part, 3).unwrap();
    assert!(pr.precision > 0.6 && pr.recall > 0.6, "{pr:?}");
    // Noise images all land near one point of feature space, which may well sit inside the
    // wide ball of some outlying real image — the known weakness of improved precision that
    // density/coverage address — so precision proves nothing here. Recall and coverage do:
    // a clump of features reaches almost none of the real neighbourhoods.
    let pr = precision_recall(&real, &noise, 3).unwrap();
    let dc = density_coverage(&real, &noise, 5).unwrap();
    eprintln!("noise: {pr:?} {dc:?}");
    assert!(pr.recall < 0.05 && dc.coverage < 0.05, "{pr:?} {dc:?}");

    // A single repeated image: diversity 0, one class covered.
    let one = test.values[..d].repeat(200);
    let (same, predicted) = features(&model, &one, &device);
    let div = diversity(&same).unwrap();
    // The same input gives the same features wherever it sits in a batch (at worst f32
    // summation-order differences, ~1e-7 relative); real images are ~1 apart or more.
    assert!(div < 1e-4 * diversity(&real).unwrap(), "diversity {div}");
    assert_eq!(ClassHistogram::of(&predicted, 10).unwrap().covered, 1);
}

#[test]
fn a_saved_classifier_loads_back_with_the_same_features() {
    let (train, test) = digits();
    let device = Device::flex();
    let (model, info) = train_classifier(
        &take(&train, 200),
        &take(&test, 100),
        serde_json::json!({"name": "mnist"}),
        &ClassifierTraining {
            epochs: 1,
            batch_size: 50,
            ..ClassifierTraining::default()
        },
        &device,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cls");
    classifier::save(&path, &model, &info).unwrap();
    let (back, back_info) = classifier::load(&path, &device).unwrap();
    assert_eq!(back_info, info);
    let x = &test.values[..10 * test.dim()];
    assert_eq!(
        features(&model, x, &device).0,
        features(&back, x, &device).0
    );
    let e = classifier::load(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gpfn eval classifier"), "{e}");
}
