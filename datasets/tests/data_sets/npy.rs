//! `npy`: tabular rows standardised per feature and back (the statistics a run stores), images
//! mapped from their range, labels, the row-hash test split, and every bad file refused by
//! name.

use gpfn_data::{Dataset, Holdout, NpyData, Split, Standardisation};
use npyz::{WriteOptions, WriterBuilder};
use std::path::Path;

fn write<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    values: &[T],
    shape: &[u64],
) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut w = WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut f)
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// `n` rows of 8 features, feature `j` around `10 j` with spread `j + 1`.
fn tabular(n: usize) -> Vec<f64> {
    (0..n * 8)
        .map(|at| {
            let (i, j) = (at / 8, at % 8);
            let u = ((i * 7919 + j * 104_729) % 1000) as f64 / 1000.0 - 0.5;
            10.0 * j as f64 + (j as f64 + 1.0) * u
        })
        .collect()
}

fn err_of<T>(r: gpfn_core::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn tabular_rows_are_standardised_and_come_back_in_their_units() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.npy");
    let raw = tabular(300);
    write(&path, &raw, &[300, 8]);
    let ds = NpyData::new(&path);
    let train = ds.load(Split::Train, 0).unwrap();
    let test = ds.load(Split::Test, 0).unwrap();
    assert_eq!(train.shape, vec![8]);
    assert_eq!(train.len() + test.len(), 300);
    assert!((10..=60).contains(&test.len()), "{}", test.len());
    // Each feature of the training rows: mean 0, standard deviation 1.
    for j in 0..8 {
        let col: Vec<f64> = train
            .values
            .iter()
            .skip(j)
            .step_by(8)
            .map(|&v| f64::from(v))
            .collect();
        let m = col.iter().sum::<f64>() / col.len() as f64;
        let s = (col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
        assert!(
            m.abs() < 1e-5 && (s - 1.0).abs() < 1e-4,
            "feature {j}: {m} {s}"
        );
    }
    // The statistics a run stores bring rows back to the data's units, through the file.
    let stats = ds
        .standardisation(0)
        .unwrap()
        .expect("tabular data is standardised");
    stats.save(dir.path()).unwrap();
    let read = Standardisation::load(dir.path()).unwrap().unwrap();
    // JSON keeps the statistics to within an ulp or so.
    for (a, b) in [(&read.mean, &stats.mean), (&read.std, &stats.std)] {
        assert!(
            a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs().max(1.0))
        );
    }
    let mut back = train.values.clone();
    read.undo(&mut back);
    let mut both = back.clone();
    both.extend({
        let mut t = test.values.clone();
        read.undo(&mut t);
        t
    });
    // Every original row appears once among train and test, to f32 precision.
    let mut orig: Vec<Vec<f32>> = raw
        .chunks(8)
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    let mut got: Vec<Vec<f32>> = both.chunks(8).map(<[f32]>::to_vec).collect();
    let key = |r: &Vec<f32>| (r[0] * 1e4) as i64;
    orig.sort_by_key(key);
    got.sort_by_key(key);
    for (a, b) in orig.iter().zip(&got) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4 * (1.0 + x.abs()), "{a:?} vs {b:?}");
        }
    }
    assert!(
        Standardisation::load(&dir.path().join("none"))
            .unwrap()
            .is_none()
    );

    // standardise = false keeps the values.
    let mut plain = NpyData::new(&path);
    plain.standardise = false;
    assert!(plain.standardisation(0).unwrap().is_none());
    let t = plain.load(Split::Test, 0).unwrap();
    assert!(
        t.values
            .chunks(8)
            .all(|r| raw.chunks(8).any(|o| (o[3] as f32 - r[3]).abs() < 1e-6))
    );
}

#[test]
fn images_are_mapped_from_their_range_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("images.npy");
    let n = 20usize;
    let mut vals: Vec<f32> = (0..n * 3 * 4 * 4).map(|i| (i % 256) as f32).collect();
    // Image i starts with the value 10 i: its rows can be told apart.
    for i in 0..n {
        vals[i * 48] = (10 * i) as f32;
    }
    write(&path, &vals, &[n as u64, 3, 4, 4]);
    let labels = dir.path().join("labels.npy");
    write(
        &labels,
        &(0..n as i64).map(|i| i % 10).collect::<Vec<i64>>(),
        &[n as u64],
    );
    let mut ds = NpyData::new(&path);
    ds.labels = Some(labels.clone());
    ds.holdout = Holdout::Count(5);
    // The default range [−1, 1] refuses 0..255 values, naming the file and the setting.
    let err = err_of(ds.load(Split::Train, 0));
    assert!(
        err.contains("images.npy") && err.contains("data.range"),
        "{err}"
    );
    ds.range = Some([0.0, 255.0]);
    let train = ds.load(Split::Train, 0).unwrap();
    let test = ds.load(Split::Test, 0).unwrap();
    assert_eq!(train.shape, vec![3, 4, 4]);
    assert_eq!((train.len(), test.len()), (15, 5));
    assert!(
        ds.standardisation(0).unwrap().is_none(),
        "images are not standardised"
    );
    assert!(train.values.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(train.values.contains(&-1.0) && train.values.contains(&1.0));
    // Labels follow their rows: row i has label i % 10 and starts with (48 i) % 256.
    for t in [&train, &test] {
        for (r, &l) in t.labels.as_ref().unwrap().iter().enumerate() {
            let first = (t.row(r)[0] + 1.0) * 127.5;
            let i = (first.round() / 10.0) as usize;
            assert_eq!(l as usize, i % 10);
        }
    }
}

#[test]
fn bad_arrays_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);

    write(&p("ints.npy"), &[1i32, 2, 3, 4], &[2, 2]);
    let err = err_of(NpyData::new(p("ints.npy")).load(Split::Train, 0));
    assert!(
        err.contains("ints.npy") && err.contains("dtype") && err.contains("float32"),
        "{err}"
    );

    write(&p("rank3.npy"), &[0f32; 8], &[2, 2, 2]);
    let err = err_of(NpyData::new(p("rank3.npy")).load(Split::Train, 0));
    assert!(err.contains("rank3.npy") && err.contains("rank 3"), "{err}");

    write(&p("rank1.npy"), &[0f32; 8], &[8]);
    let err = err_of(NpyData::new(p("rank1.npy")).load(Split::Train, 0));
    assert!(err.contains("rank1.npy") && err.contains("rank 1"), "{err}");

    std::fs::write(p("junk.npy"), b"not numpy").unwrap();
    let err = err_of(NpyData::new(p("junk.npy")).load(Split::Train, 0));
    assert!(
        err.contains("junk.npy") && err.contains("not a .npy"),
        "{err}"
    );

    let mut rows = tabular(10);
    rows[3 * 8 + 5] = f64::NAN;
    write(&p("nan.npy"), &rows, &[10, 8]);
    let err = err_of(NpyData::new(p("nan.npy")).load(Split::Train, 0));
    assert!(
        err.contains("nan.npy") && err.contains("row 3, column 5"),
        "{err}"
    );

    write(&p("good.npy"), &tabular(10), &[10, 8]);
    write(&p("nine.npy"), &[0u8; 9], &[9]);
    let mut ds = NpyData::new(p("good.npy"));
    ds.labels = Some(p("nine.npy"));
    let err = err_of(ds.load(Split::Train, 0));
    assert!(
        err.contains("nine.npy") && err.contains("9 labels") && err.contains("10 rows"),
        "{err}"
    );

    write(&p("float-labels.npy"), &[0f32; 10], &[10]);
    ds.labels = Some(p("float-labels.npy"));
    let err = err_of(ds.load(Split::Train, 0));
    assert!(
        err.contains("float-labels.npy") && err.contains("integers"),
        "{err}"
    );

    write(&p("big-labels.npy"), &[300i64; 10], &[10]);
    ds.labels = Some(p("big-labels.npy"));
    let err = err_of(ds.load(Split::Train, 0));
    assert!(
        err.contains("big-labels.npy") && err.contains("0..=255"),
        "{err}"
    );

    let mut ds = NpyData::new(p("good.npy"));
    ds.range = Some([0.0, 1.0]);
    let err = err_of(ds.load(Split::Train, 0));
    assert!(err.contains("data.range"), "{err}");

    let err = err_of(NpyData::new(p("missing.npy")).load(Split::Train, 0));
    assert!(err.contains("missing.npy"), "{err}");
}
