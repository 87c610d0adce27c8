//! Two-dimensional toy data sets, generated from the run seed, and one categorical toy whose
//! law (and so entropy) is known exactly: `eight-gaussians-grid`.
//!
//! Labels ([`DataTable::labels`], for class-conditional training): `eight-gaussians` and
//! `eight-gaussians-grid` label each point with the index `m ∈ 0..8` of its mode (centre
//! `2 (cos mπ/4, sin mπ/4)`), `spirals` with its arm (0: the arm drawn with sign `+1`, 1: the
//! other) and `two-moons` with its moon (0: the upper, 1: the lower); `checkerboard` has no
//! labels. Recording a label draws nothing more, so the points are those of the unlabelled
//! generators.

use super::{DataTable, Dataset, Split};
use gpfn_core::rng::Rng;
use gpfn_core::{GpfnError, Result};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

gpfn_core::register_plugin!(
    Dataset,
    "eight-gaussians",
    "2-D: eight Gaussians on a circle of radius 2 (std 0.1)"
);
gpfn_core::register_plugin!(Dataset, "two-moons", "2-D: two interleaved half circles");
gpfn_core::register_plugin!(
    Dataset,
    "checkerboard",
    "2-D: a 4×4 checkerboard on [−2, 2]²"
);
gpfn_core::register_plugin!(Dataset, "spirals", "2-D: two interleaved spirals");
gpfn_core::register_plugin!(
    Dataset,
    "eight-gaussians-grid",
    "2 categorical variables: eight-gaussians quantised to a K×K grid (data.classes = K, default 16); exact entropy known"
);

fn default_samples() -> usize {
    20_000
}

fn generate(
    samples: usize,
    split: Split,
    seed: u64,
    name: &str,
    mut f: impl FnMut(&mut Rng) -> ([f64; 2], Option<u8>),
) -> DataTable {
    let purpose = match split {
        Split::Train => format!("{name}/train"),
        Split::Test => format!("{name}/test"),
    };
    let mut rng = Rng::derive(seed, &purpose, 0);
    let mut values = Vec::with_capacity(2 * samples);
    let mut labels = Vec::with_capacity(samples);
    for _ in 0..samples {
        let ([a, b], label) = f(&mut rng);
        values.push(a as f32);
        values.push(b as f32);
        labels.extend(label);
    }
    // A toy labels every point or none.
    let labels = (labels.len() == samples).then_some(labels);
    DataTable {
        shape: vec![2],
        values,
        labels,
        noise: None,
        classes: None,
        binarise: false,
    }
}

/// The eight centres `2 (cos kπ/4, sin kπ/4)`.
pub fn eight_gaussian_centers() -> Vec<[f64; 2]> {
    (0..8)
        .map(|k| {
            let a = k as f64 * PI / 4.0;
            [2.0 * a.cos(), 2.0 * a.sin()]
        })
        .collect()
}

macro_rules! toy {
    ($ty:ident, $name:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            /// Number of points per split.
            #[serde(
                default = "default_samples",
                deserialize_with = "gpfn_core::check::at_least_one"
            )]
            pub samples: usize,
        }

        impl Default for $ty {
            fn default() -> Self {
                $ty {
                    samples: default_samples(),
                }
            }
        }

        #[typetag::serde(name = $name)]
        impl Dataset for $ty {
            fn load(&self, split: Split, seed: u64) -> Result<DataTable> {
                Ok(generate(self.samples, split, seed, $name, |rng| {
                    self.point(rng)
                }))
            }
        }
    };
}

toy!(
    EightGaussians,
    "eight-gaussians",
    "Eight Gaussians (std 0.1) on a circle of radius 2."
);
toy!(
    TwoMoons,
    "two-moons",
    "Two interleaved half circles with Gaussian noise (std 0.05)."
);
toy!(
    Checkerboard,
    "checkerboard",
    "Uniform on the dark squares of a 4×4 board on [−2, 2]²."
);
toy!(
    Spirals,
    "spirals",
    "Two interleaved spirals with Gaussian noise (std 0.05)."
);

impl EightGaussians {
    /// A point and its mode `m`.
    fn point(&self, rng: &mut Rng) -> ([f64; 2], Option<u8>) {
        let m = rng.below(8);
        let c = eight_gaussian_centers()[m];
        let p = [
            c[0] + EIGHT_GAUSSIANS_STD * rng.normal(),
            c[1] + EIGHT_GAUSSIANS_STD * rng.normal(),
        ];
        (p, Some(m as u8))
    }
}

impl TwoMoons {
    /// A point and its moon (0: upper, 1: lower).
    fn point(&self, rng: &mut Rng) -> ([f64; 2], Option<u8>) {
        let a = PI * rng.uniform();
        let moon = rng.below(2);
        let (x, y) = if moon == 0 {
            (a.cos(), a.sin())
        } else {
            (1.0 - a.cos(), 0.5 - a.sin())
        };
        // Centred on the origin and scaled to about [−2, 2].
        let p = [
            1.3 * (x - 0.5) + 0.05 * rng.normal(),
            1.3 * (y - 0.25) + 0.05 * rng.normal(),
        ];
        (p, Some(moon as u8))
    }
}

impl Checkerboard {
    /// A point (no label).
    fn point(&self, rng: &mut Rng) -> ([f64; 2], Option<u8>) {
        loop {
            let x = 4.0 * rng.uniform() - 2.0;
            let y = 4.0 * rng.uniform() - 2.0;
            if ((x + 2.0).floor() as i64 + (y + 2.0).floor() as i64) % 2 == 0 {
                return ([x, y], None);
            }
        }
    }
}

impl Spirals {
    /// A point and its arm (0: sign `+1`, 1: sign `−1`).
    fn point(&self, rng: &mut Rng) -> ([f64; 2], Option<u8>) {
        let u = rng.uniform().sqrt();
        let theta = u * 3.0 * PI;
        let r = 2.0 * u;
        let arm = rng.below(2);
        let sign = if arm == 0 { 1.0 } else { -1.0 };
        let p = [
            sign * r * theta.cos() + 0.05 * rng.normal(),
            sign * r * theta.sin() + 0.05 * rng.normal(),
        ];
        (p, Some(arm as u8))
    }
}

/// Standard deviation of each of the eight Gaussians.
const EIGHT_GAUSSIANS_STD: f64 = 0.1;

fn default_grid_classes() -> usize {
    16
}

fn default_half_width() -> f64 {
    2.5
}

/// Largest `K` of [`EightGaussiansGrid`]: its probability table holds `K²` numbers.
pub const MAX_GRID_CLASSES: usize = 1024;

/// A class count in `2..=MAX_GRID_CLASSES`.
fn grid_classes<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let k = usize::deserialize(d)?;
    if !(2..=MAX_GRID_CLASSES).contains(&k) {
        return Err(D::Error::custom(format!(
            "must be in 2..={MAX_GRID_CLASSES} (a categorical variable needs K ≥ 2 classes), got {k}"
        )));
    }
    Ok(k)
}

/// `eight-gaussians-grid`: the eight-Gaussians toy ([`EightGaussians`]: centres
/// `c_m = 2 (cos mπ/4, sin mπ/4)`, std `σ = 0.1`, weights `1/8`) quantised to a `K × K` grid,
/// so each item is `D = 2` categorical variables with `K` classes each.
///
/// Coordinate `x` falls into class `i = clamp(⌊(x + h) K / 2h⌋, 0, K − 1)`: `K` cells of width
/// `w = 2h/K` over `[−h, h]`, the two outer cells stretched to `±∞` so that no mass is lost.
/// With cell edges `e_0 = −∞, e_i = −h + i w (0 < i < K), e_K = +∞`, the Gaussian factorises
/// per coordinate and the law of an item `(i, j)` is exactly
///
/// `p(i, j) = (1/8) Σ_m [Φ((e_{i+1} − c_{m,x})/σ) − Φ((e_i − c_{m,x})/σ)]
///                      · [Φ((e_{j+1} − c_{m,y})/σ) − Φ((e_j − c_{m,y})/σ)]`,
///
/// with `Φ(z) = ½ erfc(−z/√2)` ([`EightGaussiansGrid::probability_table`]), and its entropy
/// `H = −Σ p ln p` nats per item ([`EightGaussiansGrid::exact_entropy`]) is what a likelihood
/// bound in nats per item should approach from above. Samples are drawn as the continuous toy
/// and quantised, so they follow `p` exactly. Values are the class indices `(i, j)` as `f32`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EightGaussiansGrid {
    /// Number of points per split.
    #[serde(
        default = "default_samples",
        deserialize_with = "gpfn_core::check::at_least_one"
    )]
    pub samples: usize,
    /// Classes per coordinate, `K` (`2..=1024`).
    #[serde(default = "default_grid_classes", deserialize_with = "grid_classes")]
    pub classes: usize,
    /// Half width `h` of the gridded box `[−h, h]²` (the outer cells also take the tails).
    #[serde(
        default = "default_half_width",
        deserialize_with = "gpfn_core::check::positive"
    )]
    pub half_width: f64,
}

impl Default for EightGaussiansGrid {
    fn default() -> Self {
        EightGaussiansGrid {
            samples: default_samples(),
            classes: default_grid_classes(),
            half_width: default_half_width(),
        }
    }
}

/// `Φ(b) − Φ(a)` for the standard normal, `a ≤ b` (either may be infinite), computed from the
/// tail on the side where both lie so that small masses keep their relative accuracy.
fn normal_mass(a: f64, b: f64) -> f64 {
    let upper = |z: f64| 0.5 * libm::erfc(z * FRAC_1_SQRT_2); // 1 − Φ(z)
    if a >= 0.0 {
        upper(a) - upper(b)
    } else if b <= 0.0 {
        upper(-b) - upper(-a)
    } else {
        1.0 - upper(-a) - upper(b)
    }
}

impl EightGaussiansGrid {
    fn check(&self) -> Result<()> {
        if !(2..=MAX_GRID_CLASSES).contains(&self.classes) {
            return Err(GpfnError::Config {
                key: "data.classes".into(),
                message: format!(
                    "eight-gaussians-grid: K = {} classes; must be in 2..={MAX_GRID_CLASSES} \
                     (a categorical variable needs K ≥ 2)",
                    self.classes
                ),
            });
        }
        if !(self.half_width.is_finite() && self.half_width > 0.0) {
            return Err(GpfnError::Config {
                key: "data.half_width".into(),
                message: format!("must be a finite number > 0, got {}", self.half_width),
            });
        }
        Ok(())
    }

    /// The class `(i, j)` of a point: `clamp(⌊(x + h) K / 2h⌋, 0, K − 1)` per coordinate.
    pub fn cell(&self, point: [f64; 2]) -> [usize; 2] {
        let k = self.classes;
        point.map(|x| {
            let c = ((x + self.half_width) * k as f64 / (2.0 * self.half_width)).floor();
            c.clamp(0.0, (k - 1) as f64) as usize
        })
    }

    /// Masses of the `K` cells of one coordinate under `N(mu, σ²)`.
    fn cell_masses(&self, mu: f64) -> Vec<f64> {
        let k = self.classes;
        let w = 2.0 * self.half_width / k as f64;
        let edge = |i: usize| match i {
            0 => f64::NEG_INFINITY,
            i if i == k => f64::INFINITY,
            i => -self.half_width + i as f64 * w,
        };
        (0..k)
            .map(|i| {
                normal_mass(
                    (edge(i) - mu) / EIGHT_GAUSSIANS_STD,
                    (edge(i + 1) - mu) / EIGHT_GAUSSIANS_STD,
                )
            })
            .collect()
    }

    /// The exact law `p(i, j)` of one item, row-major (`p[i · K + j]`, `i` the class of the
    /// first coordinate), as in the type's documentation. It sums to 1 up to rounding.
    pub fn probability_table(&self) -> Result<Vec<f64>> {
        self.check()?;
        let k = self.classes;
        let mut p = vec![0.0; k * k];
        let centres = eight_gaussian_centers();
        for c in &centres {
            let (mx, my) = (self.cell_masses(c[0]), self.cell_masses(c[1]));
            for i in 0..k {
                for j in 0..k {
                    p[i * k + j] += mx[i] * my[j] / centres.len() as f64;
                }
            }
        }
        Ok(p)
    }

    /// The exact entropy `H = −Σ_{i,j} p(i, j) ln p(i, j)` of one item (two variables) in nats
    /// (`0 ln 0 = 0`); at most `ln K²`, the uniform law's (reached at `K = 2`, where the four
    /// quadrants each hold mass ¼).
    pub fn exact_entropy(&self) -> Result<f64> {
        Ok(self
            .probability_table()?
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| -p * p.ln())
            .sum())
    }
}

#[typetag::serde(name = "eight-gaussians-grid")]
impl Dataset for EightGaussiansGrid {
    fn load(&self, split: Split, seed: u64) -> Result<DataTable> {
        self.check()?;
        let continuous = EightGaussians {
            samples: self.samples,
        };
        let mut table = generate(self.samples, split, seed, "eight-gaussians-grid", |rng| {
            let (point, mode) = continuous.point(rng);
            let [i, j] = self.cell(point);
            ([i as f64, j as f64], mode)
        });
        table.classes = Some(self.classes);
        table.check_classes("eight-gaussians-grid")?;
        Ok(table)
    }

    fn classes(&self) -> Option<usize> {
        Some(self.classes)
    }

    fn exact_entropy(&self) -> Option<f64> {
        EightGaussiansGrid::exact_entropy(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_gaussians_cover_all_modes_and_are_seeded() {
        let ds = EightGaussians { samples: 4000 };
        let t = ds.load(Split::Train, 1).unwrap();
        assert_eq!(t.len(), 4000);
        let centers = eight_gaussian_centers();
        let mut counts = [0usize; 8];
        for i in 0..t.len() {
            let p = t.row(i);
            let (k, d) = centers
                .iter()
                .enumerate()
                .map(|(k, c)| (k, (c[0] - p[0] as f64).hypot(c[1] - p[1] as f64)))
                .fold((0, f64::MAX), |a, b| if b.1 < a.1 { b } else { a });
            assert!(d < 0.6, "point {p:?} is {d} from its nearest centre");
            // The label is the mode the point was drawn from (at std 0.1 the nearest centre).
            assert_eq!(t.labels.as_ref().unwrap()[i] as usize, k, "point {p:?}");
            counts[k] += 1;
        }
        // Each mode has 500 ± 3σ (σ = √(4000·⅛·⅞) ≈ 21).
        assert!(
            counts.iter().all(|&c| (435..=565).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(t.values, ds.load(Split::Train, 1).unwrap().values);
        assert_ne!(t.values, ds.load(Split::Test, 1).unwrap().values);
    }

    #[test]
    fn toys_stay_in_a_bounded_box() {
        let sets: Vec<Box<dyn Dataset>> = vec![
            Box::new(TwoMoons { samples: 2000 }),
            Box::new(Checkerboard { samples: 2000 }),
            Box::new(Spirals { samples: 2000 }),
        ];
        for s in sets {
            let t = s.load(Split::Train, 0).unwrap();
            assert!(t.values.iter().all(|v| v.abs() < 2.6), "{s:?}");
        }
    }

    #[test]
    fn labelled_toys_label_every_point_and_the_others_say_none() {
        // Spirals: arm 0 is `+r (cos θ, sin θ)`, arm 1 its negation; at radius r > 0.5 the
        // point lies closer to its own arm's curve than to the other's.
        let t = Spirals { samples: 2000 }.load(Split::Train, 3).unwrap();
        let labels = t.labels.clone().unwrap();
        assert_eq!(labels.len(), 2000);
        assert!(labels.iter().all(|&l| l < 2));
        let arm_distance = |p: &[f32], sign: f64| {
            (0..=3000)
                .map(|k| {
                    let u = k as f64 / 3000.0;
                    let (theta, r) = (u * 3.0 * PI, 2.0 * u);
                    let c = [sign * r * theta.cos(), sign * r * theta.sin()];
                    (c[0] - p[0] as f64).hypot(c[1] - p[1] as f64)
                })
                .fold(f64::MAX, f64::min)
        };
        let mut checked = 0;
        for (i, &label) in labels.iter().enumerate().take(200) {
            let p = t.row(i);
            if (p[0] as f64).hypot(p[1] as f64) < 0.5 {
                continue;
            }
            let own = if label == 0 { 1.0 } else { -1.0 };
            assert!(
                arm_distance(p, own) < arm_distance(p, -own),
                "point {p:?} labelled arm {label}"
            );
            checked += 1;
        }
        assert!(checked > 100);
        // Both arms and both moons occur about equally often.
        let ones = labels.iter().filter(|&&l| l == 1).count();
        assert!((900..=1100).contains(&ones), "{ones}");
        let moons = TwoMoons { samples: 2000 }.load(Split::Train, 3).unwrap();
        let ones = moons.labels.unwrap().iter().filter(|&&l| l == 1).count();
        assert!((900..=1100).contains(&ones), "{ones}");
        // The grid toy carries the continuous toy's mode; the checkerboard has no labels.
        let grid = EightGaussiansGrid {
            samples: 500,
            ..Default::default()
        }
        .load(Split::Train, 1)
        .unwrap();
        let modes = EightGaussians { samples: 500 }
            .load(Split::Train, 1)
            .unwrap()
            .labels;
        assert!(grid.labels.is_some());
        assert_eq!(grid.labels.unwrap().len(), 500);
        assert!(modes.is_some());
        assert!(
            Checkerboard { samples: 10 }
                .load(Split::Train, 0)
                .unwrap()
                .labels
                .is_none()
        );
    }
}
