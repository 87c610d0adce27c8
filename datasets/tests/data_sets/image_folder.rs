//! `image-folder`: PNGs and JPEGs written here, in class sub-folders, grey and RGB, resized and
//! cropped; the hash-chosen test split's stability; the streaming loader against the table;
//! every bad input refused by name.

use gpfn_data::{DataLoader, Dataset, Holdout, ImageFolder, RowSource, Split};
use image::{ImageFormat, Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A `w × h` picture whose colours depend on `seed` and the position.
fn picture(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            ((x * 37 + seed * 11) % 256) as u8,
            ((y * 53 + seed * 7) % 256) as u8,
            ((x * y + seed * 29) % 256) as u8,
        ])
    })
}

fn save(img: &RgbImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => ImageFormat::Png,
        _ => ImageFormat::Jpeg,
    };
    img.save_with_format(path, format).unwrap();
}

/// `per_class` pictures (PNG and JPEG alternating) in each of `classes` sub-folders (or at
/// the top when `classes` is empty).
fn folder(root: &Path, classes: &[&str], per_class: u32, w: u32, h: u32) {
    let subs: Vec<PathBuf> = if classes.is_empty() {
        vec![root.to_path_buf()]
    } else {
        classes.iter().map(|c| root.join(c)).collect()
    };
    for (ci, sub) in subs.iter().enumerate() {
        for i in 0..per_class {
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            save(
                &picture(w, h, ci as u32 * 100 + i),
                &sub.join(format!("img{i:03}.{ext}")),
            );
        }
    }
}

fn err_of<T>(r: gpfn_core::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn class_folders_give_labels_in_sorted_order_grey_and_rgb() {
    let dir = tempfile::tempdir().unwrap();
    folder(dir.path(), &["zebra", "ant"], 6, 8, 8);
    std::fs::write(dir.path().join("ant/notes.txt"), "not a picture").unwrap();
    let mut ds = ImageFolder::new(dir.path());
    ds.holdout = Holdout::Count(3);
    let train = ds.load(Split::Train, 0).unwrap();
    let test = ds.load(Split::Test, 0).unwrap();
    assert_eq!(train.shape, vec![3, 8, 8]);
    assert_eq!((train.len(), test.len()), (9, 3));
    let labels: Vec<u8> = [train.labels.unwrap(), test.labels.unwrap()].concat();
    // `ant` sorts first: label 0; `zebra` 1; six of each.
    assert_eq!(labels.iter().filter(|&&l| l == 0).count(), 6);
    assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 6);
    assert!(train.values.iter().all(|v| (-1.0..=1.0).contains(v)));

    ds.channels = 1;
    let grey = ds.load(Split::Train, 0).unwrap();
    assert_eq!(grey.shape, vec![1, 8, 8]);
    assert_eq!(grey.values.len(), 9 * 64);

    // No sub-folders: no labels.
    let flat = tempfile::tempdir().unwrap();
    folder(flat.path(), &[], 5, 8, 8);
    let mut ds = ImageFolder::new(flat.path());
    ds.holdout = Holdout::Count(1);
    assert!(ds.load(Split::Train, 0).unwrap().labels.is_none());
}

#[test]
fn png_pixels_come_out_channel_first_in_minus_one_to_one() {
    let dir = tempfile::tempdir().unwrap();
    // Pure red, left half; pure blue, right half.
    let img = RgbImage::from_fn(4, 2, |x, _| {
        if x < 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    save(&img, &dir.path().join("a.png"));
    save(&img, &dir.path().join("b.png"));
    let mut ds = ImageFolder::new(dir.path());
    ds.holdout = Holdout::Count(1);
    let t = ds.load(Split::Train, 0).unwrap();
    assert_eq!(t.shape, vec![3, 2, 4]);
    let row = t.row(0);
    let red = &row[0..8];
    let blue = &row[16..24];
    assert_eq!(red, &[1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0]);
    assert_eq!(blue, &[-1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0]);
    assert!(row[8..16].iter().all(|&g| g == -1.0));
}

#[test]
fn size_resizes_the_shorter_side_and_crops_the_centre() {
    let dir = tempfile::tempdir().unwrap();
    save(&picture(64, 48, 1), &dir.path().join("wide.jpg"));
    save(&picture(30, 40, 2), &dir.path().join("tall.png"));
    save(&picture(16, 16, 3), &dir.path().join("exact.png"));
    let mut ds = ImageFolder::new(dir.path());
    ds.holdout = Holdout::Count(1);
    // Mixed sizes without `size`: refused, naming a file and the setting.
    let err = err_of(ds.load(Split::Train, 0));
    assert!(
        err.contains("data.size") && (err.contains(".png") || err.contains(".jpg")),
        "{err}"
    );
    ds.size = Some([16, 12]);
    let t = ds.load(Split::Train, 0).unwrap();
    assert_eq!(t.shape, vec![3, 16, 12]);
    assert_eq!(t.values.len(), 2 * 3 * 16 * 12);
    ds.channels = 1;
    assert_eq!(ds.load(Split::Test, 0).unwrap().shape, vec![1, 16, 12]);

    // A black frame around a white centre survives the centre crop of a wide picture.
    let framed = tempfile::tempdir().unwrap();
    let img = RgbImage::from_fn(60, 20, |x, _| {
        if (20..40).contains(&x) {
            Rgb([255, 255, 255])
        } else {
            Rgb([0, 0, 0])
        }
    });
    save(&img, &framed.path().join("a.png"));
    save(&img, &framed.path().join("b.png"));
    let mut ds = ImageFolder::new(framed.path());
    ds.holdout = Holdout::Count(1);
    ds.channels = 1;
    ds.size = Some([10, 10]);
    let t = ds.load(Split::Train, 0).unwrap();
    // 60 × 20 → 30 × 10, centre 10 columns (10..20 of 30) are the white band.
    assert!(t.row(0).iter().all(|&v| v > 0.5), "{:?}", t.row(0));
}

/// The test split's file names.
fn test_names(ds: &ImageFolder) -> Vec<String> {
    ds.open(Split::Test)
        .unwrap()
        .paths()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_held_out_pictures_stay_held_out_when_pictures_are_added() {
    let dir = tempfile::tempdir().unwrap();
    folder(dir.path(), &[], 60, 4, 4);
    let mut ds = ImageFolder::new(dir.path());
    ds.holdout = Holdout::Fraction(0.25);
    let before = test_names(&ds);
    assert!((5..=25).contains(&before.len()), "{}", before.len());
    // Train and test split the folder between them.
    let train = ds.open(Split::Train).unwrap();
    assert_eq!(train.len() + before.len(), 60);
    for i in 0..30 {
        save(
            &picture(4, 4, 999 + i),
            &dir.path().join(format!("new{i:03}.png")),
        );
    }
    let after = test_names(&ds);
    let old: Vec<&String> = after.iter().filter(|n| n.starts_with("img")).collect();
    assert_eq!(old.len(), before.len());
    assert!(old.iter().zip(&before).all(|(a, b)| *a == b));
    assert!(
        after.len() > before.len(),
        "some new pictures are held out too"
    );
    // Again the same.
    assert_eq!(test_names(&ds), after);
}

#[test]
fn the_streaming_loader_gives_the_tables_batches() {
    let dir = tempfile::tempdir().unwrap();
    folder(dir.path(), &["a", "b"], 12, 6, 6);
    let mut ds = ImageFolder::new(dir.path());
    ds.holdout = Holdout::Count(4);
    // Small folders load whole unless asked.
    assert!(ds.source(Split::Train, 0).unwrap().is_none());
    ds.stream = Some(true);
    let source = ds.source(Split::Train, 0).unwrap().expect("streamed");
    assert_eq!(source.len(), 20);
    let table = ds.load(Split::Train, 0).unwrap();
    let mut whole = DataLoader::new(table, 7, 5);
    let mut streamed = DataLoader::streaming(Arc::clone(&source), 7, 5);
    assert_eq!(streamed.shape(), &[3, 6, 6]);
    // In order (each read ahead used), then a jump back (the read ahead dropped).
    for k in [0u64, 1, 2, 3, 4, 5, 1, 9] {
        assert_eq!(
            streamed.try_batch_values(k).unwrap(),
            whole.batch_values(k),
            "batch {k}"
        );
    }
    // A picture spoiled after the check: its batch's read fails, naming it.
    let rows: Vec<usize> = (0..20).collect();
    assert!(source.rows(&rows).is_ok());
    let victim = &ds.open(Split::Train).unwrap().paths()[0].clone();
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..bytes.len() / 2]).unwrap();
    let err = err_of(source.rows(&rows));
    assert!(err.contains(&victim.display().to_string()), "{err}");
}

#[test]
fn bad_folders_and_pictures_are_refused_by_name() {
    // Missing folder and empty folder.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let err = err_of(ImageFolder::new(&missing).load(Split::Train, 0));
    assert!(
        err.contains("nowhere") && err.contains("not found"),
        "{err}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("class-a")).unwrap();
    std::fs::write(empty.join("class-a/readme.txt"), "hi").unwrap();
    let err = err_of(ImageFolder::new(&empty).load(Split::Train, 0));
    assert!(
        err.contains("empty") && err.contains("no pictures"),
        "{err}"
    );

    // A file that is no picture at all, with a picture's name.
    let corrupt = dir.path().join("corrupt");
    folder(&corrupt, &[], 4, 8, 8);
    std::fs::write(corrupt.join("zz-broken.png"), b"certainly not a PNG file").unwrap();
    let mut ds = ImageFolder::new(&corrupt);
    ds.holdout = Holdout::Count(1);
    let err = err_of(ds.load(Split::Train, 0));
    assert!(err.contains("zz-broken.png"), "{err}");

    // Truncated PNG and JPEG: their headers read, their pixels do not.
    for name in ["cut.png", "cut.jpg"] {
        let d = dir.path().join(format!("trunc-{name}"));
        folder(&d, &[], 3, 64, 64);
        let whole = d.join(name);
        save(&picture(64, 64, 5), &whole);
        let bytes = std::fs::read(&whole).unwrap();
        std::fs::write(&whole, &bytes[..bytes.len() / 3]).unwrap();
        let mut ds = ImageFolder::new(&d);
        ds.holdout = Holdout::Fraction(0.0);
        let err = err_of(ds.load(Split::Train, 0));
        assert!(
            err.contains(name) && err.contains("truncated"),
            "{name}: {err}"
        );
    }

    // Mixed sizes without data.size.
    let mixed = dir.path().join("mixed");
    folder(&mixed, &[], 3, 8, 8);
    save(&picture(9, 8, 1), &mixed.join("odd.png"));
    let mut ds = ImageFolder::new(&mixed);
    ds.holdout = Holdout::Count(1);
    let err = err_of(ds.load(Split::Test, 0));
    assert!(
        err.contains("odd.png") && err.contains("data.size"),
        "{err}"
    );

    // No picture held out for the test split; every one held out.
    let few = dir.path().join("few");
    folder(&few, &[], 3, 4, 4);
    let mut ds = ImageFolder::new(&few);
    ds.holdout = Holdout::Fraction(0.0);
    let err = err_of(ds.load(Split::Test, 0));
    assert!(err.contains("data.holdout"), "{err}");
    ds.holdout = Holdout::Count(3);
    let err = err_of(ds.load(Split::Train, 0));
    assert!(err.contains("data.holdout"), "{err}");

    // Channels other than 1 or 3.
    let mut ds = ImageFolder::new(&few);
    ds.channels = 4;
    let err = err_of(ds.load(Split::Train, 0));
    assert!(err.contains("data.channels"), "{err}");
}

#[test]
fn the_config_reads_holdout_as_a_fraction_or_a_count() {
    let ds: Box<dyn Dataset> = serde_json::from_str(
        r#"{"name": "image-folder", "dir": "pics", "channels": 1, "size": [32, 32], "holdout": 100}"#,
    )
    .unwrap();
    let v = serde_json::to_value(&ds).unwrap();
    assert_eq!(v["holdout"], 100);
    assert_eq!(v["size"], serde_json::json!([32, 32]));
    let ds: Box<dyn Dataset> =
        serde_json::from_str(r#"{"name": "image-folder", "dir": "pics", "holdout": 0.05}"#)
            .unwrap();
    assert_eq!(serde_json::to_value(&ds).unwrap()["holdout"], 0.05);
    assert!(
        serde_json::from_str::<Box<dyn Dataset>>(
            r#"{"name": "image-folder", "dir": "pics", "holdout": 2.5}"#
        )
        .is_err()
    );
    assert!(
        serde_json::from_str::<Box<dyn Dataset>>(r#"{"name": "image-folder"}"#).is_err(),
        "dir is required"
    );
}
