//! Categorical tables: the class checks of `DataTable::check_classes`, and the K-ary toy
//! `eight-gaussians-grid` against its exact law and entropy.

use gpfn_core::registry::{self, PluginKind};
use gpfn_data::{DataTable, Dataset, EightGaussiansGrid, Split};
use std::f64::consts::LN_2;

fn table(classes: Option<usize>, values: Vec<f32>) -> DataTable {
    DataTable {
        shape: vec![3],
        values,
        labels: None,
        noise: None,
        classes,
        binarise: false,
    }
}

#[test]
fn a_value_outside_the_classes_is_a_named_error_with_its_row_and_column() {
    let good = vec![0.0, 1.0, 2.0, 2.0, 1.0, 0.0];
    table(Some(3), good.clone()).check_classes("toy").unwrap();
    // Continuous tables hold anything.
    table(None, vec![0.5, f32::NAN, -7.0])
        .check_classes("toy")
        .unwrap();
    for (bad, shown) in [
        (3.0, "value 3 "),
        (0.5, "value 0.5 "),
        (f32::NAN, "value NaN "),
        (-1.0, "value -1 "),
        (f32::INFINITY, "value inf "),
    ] {
        let mut v = good.clone();
        v[4] = bad; // row 1, column 1
        let e = table(Some(3), v)
            .check_classes("my-set")
            .unwrap_err()
            .to_string();
        for what in [
            "data set `my-set`",
            shown,
            "row 1, column 1",
            "K = 3",
            "0..=2",
        ] {
            assert!(e.contains(what), "`{what}` missing from: {e}");
        }
    }
}

#[test]
fn fewer_than_two_classes_and_misused_binarisation_are_refused() {
    for k in [0, 1] {
        let e = table(Some(k), vec![0.0; 3])
            .check_classes("my-set")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("my-set") && e.contains(&format!("K = {k}")) && e.contains("K ≥ 2"),
            "{e}"
        );
    }
    let binarised = |classes, values| DataTable {
        binarise: true,
        ..table(classes, values)
    };
    binarised(Some(2), vec![0.0, 0.25, 1.0])
        .check_classes("b")
        .unwrap();
    let e = binarised(None, vec![0.5; 3])
        .check_classes("b")
        .unwrap_err()
        .to_string();
    assert!(e.contains("binarise") && e.contains("K = 2"), "{e}");
    let e = binarised(Some(3), vec![0.5; 3])
        .check_classes("b")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("binarise needs K = 2") && e.contains("K = 3"),
        "{e}"
    );
    let e = binarised(Some(2), vec![0.5, 1.5, 0.0])
        .check_classes("b")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("value 1.5 at row 0, column 1") && e.contains("probability in [0, 1]"),
        "{e}"
    );
}

fn grid(k: usize, samples: usize) -> EightGaussiansGrid {
    EightGaussiansGrid {
        samples,
        classes: k,
        ..EightGaussiansGrid::default()
    }
}

#[test]
fn the_grid_table_is_a_law_and_its_entropy_is_minus_sum_p_log_p() {
    for (k, h) in [
        (2, 2.5),
        (3, 2.5),
        (16, 2.5),
        (16, 1.0),
        (64, 3.0),
        (1024, 2.5),
    ] {
        let g = EightGaussiansGrid {
            half_width: h,
            ..grid(k, 1)
        };
        let p = g.probability_table().unwrap();
        assert_eq!(p.len(), k * k);
        assert!(p.iter().all(|&q| (0.0..=1.0).contains(&q)));
        // Each cell mass is a difference of erfc values accurate to an ulp or so (relative
        // ~1e-16), and the K² ≤ 2²⁰ terms add at most K²·ε ≈ 2e-10 of rounding; 1e-9 is above
        // that, yet far below what a real mistake costs (tails dropped from the outer cells:
        // Φ(−5) ≈ 2.9e-7 of mass at h = 2.5 from the centres at radius 2).
        let total: f64 = p.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "K = {k}, h = {h}: Σp = {total}");
        let mut h_by_hand = 0.0;
        for &q in &p {
            if q > 0.0 {
                h_by_hand -= q * q.ln();
            }
        }
        let entropy = g.exact_entropy().unwrap();
        assert!((entropy - h_by_hand).abs() < 1e-12, "{entropy} {h_by_hand}");
        // H ≤ ln K², with equality only for the uniform law (which K = 2 is, see below).
        assert!(
            entropy <= 2.0 * (k as f64).ln() + 1e-12,
            "K = {k}: H = {entropy}"
        );
        if k > 2 {
            assert!(
                entropy < 2.0 * (k as f64).ln() - 0.1,
                "K = {k}: H = {entropy}"
            );
        }
        assert_eq!(Dataset::exact_entropy(&g), Some(entropy));
        assert_eq!(Dataset::classes(&g), Some(k));
    }
    // K = 2 splits the plane into quadrants at the origin; each quadrant holds one centre off
    // the axes and two halves of the centres on them (the others lie ≥ 14σ away): mass ¼ each,
    // entropy ln 4 = 2 ln 2.
    assert!((grid(2, 1).exact_entropy().unwrap() - 2.0 * LN_2).abs() < 1e-12);
    // At K = 16 the eight modes sit in different cells: the entropy exceeds ln 8 (the mode)
    // and stays far below ln 256 (the uniform grid).
    let h16 = grid(16, 1).exact_entropy().unwrap();
    assert!(h16 > 8f64.ln() && h16 < 256f64.ln() - 1.0, "{h16}");
}

#[test]
fn grid_samples_follow_the_table() {
    let (k, n) = (16, 200_000);
    let g = grid(k, n);
    let t = g.load(Split::Train, 5).unwrap();
    assert_eq!((t.len(), t.shape.clone(), t.classes), (n, vec![2], Some(k)));
    assert!(!t.binarise);
    t.check_classes("eight-gaussians-grid").unwrap();
    let p = g.probability_table().unwrap();
    let mut counts = vec![0usize; k * k];
    let mut log_p = Vec::with_capacity(n);
    for r in 0..n {
        let [i, j] = [t.row(r)[0] as usize, t.row(r)[1] as usize];
        counts[i * k + j] += 1;
        log_p.push(p[i * k + j].ln());
    }
    // Pearson's chi-square over the cells expecting ≥ 5 draws, the rest pooled into one bin.
    let (mut chi2, mut bins, mut pooled_p, mut pooled_c) = (0.0, 0usize, 0.0, 0usize);
    for (&q, &c) in p.iter().zip(&counts) {
        let e = q * n as f64;
        if e >= 5.0 {
            chi2 += (c as f64 - e).powi(2) / e;
            bins += 1;
        } else {
            pooled_p += q;
            pooled_c += c;
        }
    }
    let e = pooled_p * n as f64;
    chi2 += (pooled_c as f64 - e).powi(2) / e.max(1e-300);
    let df = bins as f64; // (bins + 1 pooled) − 1
    // The limit is the chi-square's upper 1e-6 quantile by Wilson–Hilferty,
    // df (1 − 2/(9df) + z √(2/(9df)))³ with z = 4.75 (accurate to a few per cent at df ≥ 20):
    // a correct sampler fails about once in a million seeds.
    assert!(df >= 20.0, "{df}");
    let a = 2.0 / (9.0 * df);
    let limit = df * (1.0 - a + 4.75 * a.sqrt()).powi(3);
    assert!(chi2 < limit, "chi² = {chi2} on {df} d.f. (limit {limit})");
    // The sample mean of −ln p(x) estimates H: within 5 standard errors.
    let mean = -log_p.iter().sum::<f64>() / n as f64;
    let var = log_p.iter().map(|l| (-l - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let se = (var / n as f64).sqrt();
    let h = g.exact_entropy().unwrap();
    assert!((mean - h).abs() < 5.0 * se, "{mean} vs H = {h} (se {se})");
    // Seeded: the same seed repeats, the other split differs.
    assert_eq!(t.values, g.load(Split::Train, 5).unwrap().values);
    assert_ne!(t.values, g.load(Split::Test, 5).unwrap().values);
}

#[test]
fn the_grid_refuses_fewer_than_two_classes_by_config_and_by_hand() {
    let e = serde_json::from_str::<Box<dyn Dataset>>(
        r#"{"name": "eight-gaussians-grid", "classes": 1}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("must be in 2..=1024") && e.contains("got 1"),
        "{e}"
    );
    let e = grid(1, 10).load(Split::Train, 0).unwrap_err().to_string();
    assert!(e.contains("data.classes") && e.contains("K = 1"), "{e}");
    assert!(grid(0, 10).exact_entropy().is_err());
    let d: Box<dyn Dataset> =
        serde_json::from_str(r#"{"name": "eight-gaussians-grid", "classes": 5, "samples": 10}"#)
            .unwrap();
    assert_eq!(d.classes(), Some(5));
    assert_eq!(d.load(Split::Test, 1).unwrap().classes, Some(5));
    let info = registry::find(PluginKind::Dataset, "eight-gaussians-grid").unwrap();
    assert_eq!(info.crate_name, "gpfn-data");
}
