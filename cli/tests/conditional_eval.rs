//! A class-conditional MNIST-format run end to end, on the seven-segment digits of
//! [`gpfn_data::fixture`] with a tiny U-Net (2 training steps; the numbers mean nothing):
//! `gpfn eval --class all --guidance w` reports the conditional accuracy, per-class FIDs and
//! the class-balanced FID; `gpfn sweep --guidance 0,1` writes them to its CSV and plots FID and
//! accuracy against `w`; `gpfn sample --complete --mask` keeps the known pixels and names a
//! mask of the wrong shape; `gpfn bench` times guided against unguided sampling.

use crate::process;

use process::{gpfn, ok, read_json, tiny_digit_run};
use std::path::Path;

#[test]
fn conditional_eval_sweep_completion_and_bench() {
    let dir = tempfile::tempdir().unwrap();
    let owned = tiny_digit_run(dir.path(), (400, 100), "configs/w2-cond.toml", 10);
    let sets: Vec<&str> = owned.iter().map(String::as_str).collect();
    let with = |extra: &[&str]| {
        let mut a = sets.to_vec();
        a.extend_from_slice(extra);
        gpfn(&a)
    };
    ok(&with(&["train", "--no-progress"]));
    let run = dir.path().join("w2-cond");
    let run_s = run.display().to_string();
    let cls = dir.path().join("cls");
    let cls_s = cls.display().to_string();
    ok(&with(&[
        "eval",
        "classifier",
        "--out",
        &cls_s,
        "--epochs",
        "1",
        "--no-progress",
    ]));

    // gpfn eval --class all --guidance 1: the conditional metrics.
    let report = dir.path().join("guided.json");
    let report_s = report.display().to_string();
    let common = [
        "--classifier",
        &cls_s,
        "--count",
        "30",
        "--reference",
        "60",
        "--batch",
        "7",
        "--no-progress",
    ];
    let mut a = vec![
        "eval",
        "--run",
        &run_s,
        "--nfe",
        "2",
        "--class",
        "all",
        "--guidance",
        "1",
        "--out",
        &report_s,
    ];
    a.extend(common);
    let table = ok(&gpfn(&a));
    assert!(
        table.contains("class accuracy") && table.contains("balanced FID"),
        "{table}"
    );
    let v = read_json(&report);
    let c = &v["conditional"];
    assert_eq!(c["class"], "all");
    assert_eq!(c["guidance"], 1.0);
    let accuracy = c["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    assert_eq!(c["balanced_fid"], v["metrics"]["fid"]);
    let per = c["per_class"].as_array().unwrap();
    assert_eq!(per.len(), 10);
    // Batches of 7 keep sample i of class i mod 10: three samples per class.
    assert!(per.iter().all(|k| k["samples"] == 3 && k["fid"].is_f64()));
    // The NFE of a guided 2-step sample: 4.
    assert_eq!(v["nfe"], 4.0);

    // One class; guidance on an unconditional data path is refused by name (below, bench).
    let mut a = vec![
        "eval", "--run", &run_s, "--nfe", "2", "--class", "12", "--json",
    ];
    a.extend(common);
    let o = gpfn(&a);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--class"));

    // gpfn sweep --guidance 0,1.
    let out = dir.path().join("sweep");
    let out_s = out.display().to_string();
    let mut a = vec![
        "sweep",
        &run_s,
        "--samplers",
        "deterministic",
        "--nfe",
        "2",
        "--guidance",
        "0,1",
        "--out",
        &out_s,
    ];
    a.extend(common);
    let md = ok(&gpfn(&a));
    assert!(md.contains("class accuracy"), "{md}");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("guidance,class,class_accuracy,mean_class_fid")
    );
    assert_eq!(csv.lines().count(), 3);
    assert!(out.join("fid-vs-guidance.png").exists());

    // gpfn sample --complete --mask: the known upper half is kept.
    let images: Vec<f32> = (0..2 * 784).map(|i| ((i % 7) as f32) / 3.0 - 1.0).collect();
    let mask: Vec<f32> = (0..784).map(|p| if p < 392 { 1.0 } else { 0.0 }).collect();
    let (img, msk, bad) = (
        dir.path().join("img.npy"),
        dir.path().join("mask.npy"),
        dir.path().join("bad.npy"),
    );
    gpfn_io::write_npy(&img, &images, &[2, 1, 28, 28]).unwrap();
    gpfn_io::write_npy(&msk, &mask, &[1, 28, 28]).unwrap();
    gpfn_io::write_npy(&bad, &mask[..392], &[1, 14, 28]).unwrap();
    let (img_s, msk_s, bad_s) = (
        img.display().to_string(),
        msk.display().to_string(),
        bad.display().to_string(),
    );
    let npy = ok(&with(&[
        "sample",
        "--steps",
        "3",
        "--complete",
        &img_s,
        "--mask",
        &msk_s,
        "--count",
        "6",
    ]));
    let (values, shape) = gpfn_io::read_npy(Path::new(npy.trim())).unwrap();
    assert_eq!(shape, vec![6, 1, 28, 28]);
    for (k, row) in values.chunks_exact(784).enumerate() {
        let x = &images[(k % 2) * 784..(k % 2 + 1) * 784];
        assert_eq!(&row[..392], &x[..392], "sample {k}: the known half");
        assert_ne!(&row[392..], &x[392..], "sample {k}: the sampled half");
    }
    assert!(Path::new(npy.trim()).with_extension("png").exists());
    let o = with(&["sample", "--complete", &img_s, "--mask", &bad_s]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--mask") && e.contains("[1, 14, 28]"), "{e}");

    // gpfn bench on the conditional config: guided against unguided sampling.
    let bench = dir.path().join("bench.json");
    let bench_s = bench.display().to_string();
    let printed = ok(&with(&[
        "bench",
        "--batch",
        "4",
        "--train-steps",
        "1",
        "--samples",
        "4",
        "--nfe",
        "2",
        "--sample-reps",
        "2",
        "--out",
        &bench_s,
    ]));
    assert!(printed.contains("guidance"), "{printed}");
    let b = read_json(&bench);
    assert_eq!(b["guidance"]["nfe_guided"], 4.0);
    assert_eq!(b["guidance"]["nfe_unguided"], 2.0);
    assert!(b["guidance"]["ratio"].as_f64().unwrap() > 0.0);
}
