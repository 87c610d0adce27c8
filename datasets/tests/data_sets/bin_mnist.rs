//! `bin-mnist` on the seven-segment fixture (no download): probabilities `g/255`, batches of
//! 0/1 pixels that are a pure function of `(seed, k)`, Bernoulli means that match `g/255`, and
//! the test split binarised once or re-drawn.

use burn::tensor::Device;
use gpfn_core::registry::{self, PluginKind};
use gpfn_data::{BinMnist, DataLoader, Dataset, Split, TestBinarisation, fixture, load_idx_images};
use std::path::Path;

fn bin_mnist(dir: &Path) -> BinMnist {
    BinMnist {
        dir: Some(dir.to_path_buf()),
        ..BinMnist::default()
    }
}

/// A fixture folder with `train` training and `test` test images.
fn folder(train: usize, test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fixture::write_seven_segment_idx(dir.path(), train, test, 3).unwrap();
    dir
}

#[test]
fn the_training_table_holds_grey_over_255_and_asks_for_binarisation() {
    let dir = folder(20, 10);
    let t = bin_mnist(dir.path()).load(Split::Train, 0).unwrap();
    assert_eq!((t.classes, t.binarise), (Some(2), true));
    assert_eq!((t.len(), t.shape.clone()), (20, vec![1, 28, 28]));
    t.check_classes("bin-mnist").unwrap();
    // The same grey levels `mnist` reads, as g/255.
    let m = load_idx_images(dir.path(), Split::Train, None).unwrap();
    for (&p, &v) in t.values.iter().zip(&m.values) {
        let g = ((v + 1.0) * 127.5).round();
        assert_eq!(p, g / 255.0);
    }
    assert_eq!(t.labels, m.labels);
    let info = registry::find(PluginKind::Dataset, "bin-mnist").unwrap();
    assert_eq!(info.crate_name, "gpfn-data");
    assert_eq!(Dataset::classes(&bin_mnist(dir.path())), Some(2));
}

#[test]
fn batches_are_zero_one_and_a_pure_function_of_seed_and_k() {
    let dir = folder(20, 10);
    let t = bin_mnist(dir.path()).load(Split::Train, 0).unwrap();
    let n = t.len();
    let mut a = DataLoader::new(t.clone(), 8, 11);
    let first: Vec<Vec<f32>> = (0..6).map(|k| a.batch_values(k)).collect();
    for b in &first {
        assert_eq!(b.len(), 8 * 784);
        assert!(b.iter().all(|&x| x == 0.0 || x == 1.0));
    }
    // A fresh loader (a resumed run) asked in another order draws the same batches.
    let mut resumed = DataLoader::new(t.clone(), 8, 11);
    for k in [5, 2, 0, 4, 1, 3] {
        assert_eq!(resumed.batch_values(k), first[k as usize], "batch {k}");
    }
    // The tensor is the same draw.
    let x = resumed.batch(3, &Device::flex());
    assert_eq!(x.dims(), [8, 784]);
    assert_eq!(x.into_data().try_to_vec::<f32>().unwrap(), first[3]);
    let (x, noise) = resumed.paired_batch(4, &Device::flex());
    assert!(noise.is_none());
    assert_eq!(x.into_data().try_to_vec::<f32>().unwrap(), first[4]);
    // Another seed draws other pixels.
    assert_ne!(DataLoader::new(t.clone(), 8, 12).batch_values(0), first[0]);
    // Two reads of the same rows (batch = whole table: each batch one epoch) differ, row by
    // row, wherever a row has grey pixels strictly between 0 and 255.
    let mut whole = DataLoader::new(t.clone(), n, 11);
    let rows_of = |loader: &mut DataLoader, k: u64| {
        let idx = loader.indices(k);
        let v = loader.batch_values(k);
        let mut by_row = vec![Vec::new(); n];
        for (j, &i) in idx.iter().enumerate() {
            by_row[i] = v[j * 784..(j + 1) * 784].to_vec();
        }
        by_row
    };
    let (r0, r1) = (rows_of(&mut whole, 0), rows_of(&mut whole, 1));
    for i in 0..n {
        assert!(t.row(i).iter().any(|&p| p > 0.0 && p < 1.0));
        assert_ne!(
            r0[i], r1[i],
            "row {i} drew the same pixels in epochs 0 and 1"
        );
        // Pixels at p = 0 or 1 are certain.
        for (c, &p) in t.row(i).iter().enumerate() {
            if p == 0.0 || p == 1.0 {
                assert_eq!((r0[i][c], r1[i][c]), (p, p));
            }
        }
    }
}

#[test]
fn the_mean_of_many_reads_is_grey_over_255() {
    let dir = folder(10, 10);
    let t = bin_mnist(dir.path()).load(Split::Train, 0).unwrap();
    let (n, reads) = (t.len(), 400u64);
    // Batch = whole table: each batch reads every row once, so each pixel is read `reads`
    // times through the loader, exactly as training reads it.
    let mut loader = DataLoader::new(t.clone(), n, 7);
    // Reads and ones, pooled by grey level g over every pixel with that level.
    let (mut count, mut ones) = (vec![0u64; 256], vec![0u64; 256]);
    for k in 0..reads {
        let idx = loader.indices(k);
        let v = loader.batch_values(k);
        for (j, &i) in idx.iter().enumerate() {
            for (c, &p) in t.row(i).iter().enumerate() {
                let g = (p * 255.0).round() as usize;
                count[g] += 1;
                ones[g] += v[j * 784 + c] as u64;
            }
        }
    }
    let mut levels = 0;
    for g in 0..256 {
        if count[g] == 0 {
            continue;
        }
        levels += 1;
        let p = g as f64 / 255.0;
        let mean = ones[g] as f64 / count[g] as f64;
        // The binomial standard error √(p(1 − p)/m) of the mean of m reads; 5 of them, over at
        // most 256 levels, fail a correct draw with probability ≤ 256 · 5.7e-7 ≈ 1.5e-4 (each
        // level has m ≥ 400 reads and mp ≥ 1.6, mostly far more, where the normal tail holds).
        // p = 0 and p = 1 must come out exact.
        let se = (p * (1.0 - p) / count[g] as f64).sqrt();
        assert!(
            (mean - p).abs() <= 5.0 * se,
            "grey {g}: mean {mean} of {} reads, p = {p}, se = {se}",
            count[g]
        );
    }
    // The fixture has background noise (grey 0–19) and ink (180–255): many levels are tested.
    assert!(levels > 50, "{levels}");
}

#[test]
fn the_test_split_is_binarised_once_by_default_or_redrawn_on_request() {
    let dir = folder(10, 20);
    let once = bin_mnist(dir.path()).load(Split::Test, 0).unwrap();
    assert_eq!((once.classes, once.binarise), (Some(2), false));
    assert!(once.values.iter().all(|&x| x == 0.0 || x == 1.0));
    once.check_classes("bin-mnist").unwrap();
    // The run seed does not matter, the test seed does; fewer rows keep the first rows' draws.
    assert_eq!(
        once.values,
        bin_mnist(dir.path()).load(Split::Test, 9).unwrap().values
    );
    let other = BinMnist {
        test_seed: 1,
        ..bin_mnist(dir.path())
    };
    assert_ne!(once.values, other.load(Split::Test, 0).unwrap().values);
    let first10 = BinMnist {
        limit: Some(10),
        ..bin_mnist(dir.path())
    };
    assert_eq!(
        first10.load(Split::Test, 0).unwrap().values[..],
        once.values[..10 * 784]
    );
    // Re-drawn: the probabilities stay, each repeat draws its own 0/1 copy, repeatably.
    let redraw: Box<dyn Dataset> = serde_json::from_str(&format!(
        r#"{{"name": "bin-mnist", "dir": {:?}, "test": "redraw"}}"#,
        dir.path().display().to_string()
    ))
    .unwrap();
    let t = redraw.load(Split::Test, 0).unwrap();
    assert_eq!((t.classes, t.binarise), (Some(2), true));
    let (r0, r1) = (t.draw(4, 0), t.draw(4, 1));
    assert!(!r0.binarise && r0.values.iter().all(|&x| x == 0.0 || x == 1.0));
    assert_ne!(r0.values, r1.values);
    assert_eq!(r0.values, t.draw(4, 0).values);
    // `draw` on a table that is already binary changes nothing.
    assert_eq!(once.draw(4, 0).values, once.values);
    let e = serde_json::from_str::<Box<dyn Dataset>>(r#"{"name": "bin-mnist", "test": "twice"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("twice") && e.contains("redraw"), "{e}");
    assert_eq!(TestBinarisation::default(), TestBinarisation::Once);
}
