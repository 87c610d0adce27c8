//! Two-dimensional toy data sets, generated from the run seed.

use super::{DataTable, Dataset, Split};
use gpfn_core::Result;
use gpfn_core::rng::Rng;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

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

fn default_samples() -> usize {
    20_000
}

fn generate(
    samples: usize,
    split: Split,
    seed: u64,
    name: &str,
    mut f: impl FnMut(&mut Rng) -> [f64; 2],
) -> DataTable {
    let purpose = match split {
        Split::Train => format!("{name}/train"),
        Split::Test => format!("{name}/test"),
    };
    let mut rng = Rng::derive(seed, &purpose, 0);
    let mut values = Vec::with_capacity(2 * samples);
    for _ in 0..samples {
        let [a, b] = f(&mut rng);
        values.push(a as f32);
        values.push(b as f32);
    }
    DataTable {
        shape: vec![2],
        values,
        labels: None,
        noise: None,
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
    fn point(&self, rng: &mut Rng) -> [f64; 2] {
        let c = eight_gaussian_centers()[rng.below(8)];
        [c[0] + 0.1 * rng.normal(), c[1] + 0.1 * rng.normal()]
    }
}

impl TwoMoons {
    fn point(&self, rng: &mut Rng) -> [f64; 2] {
        let a = PI * rng.uniform();
        let (x, y) = if rng.below(2) == 0 {
            (a.cos(), a.sin())
        } else {
            (1.0 - a.cos(), 0.5 - a.sin())
        };
        // Centred on the origin and scaled to about [−2, 2].
        [
            1.3 * (x - 0.5) + 0.05 * rng.normal(),
            1.3 * (y - 0.25) + 0.05 * rng.normal(),
        ]
    }
}

impl Checkerboard {
    fn point(&self, rng: &mut Rng) -> [f64; 2] {
        loop {
            let x = 4.0 * rng.uniform() - 2.0;
            let y = 4.0 * rng.uniform() - 2.0;
            if ((x + 2.0).floor() as i64 + (y + 2.0).floor() as i64) % 2 == 0 {
                return [x, y];
            }
        }
    }
}

impl Spirals {
    fn point(&self, rng: &mut Rng) -> [f64; 2] {
        let u = rng.uniform().sqrt();
        let theta = u * 3.0 * PI;
        let r = 2.0 * u;
        let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
        [
            sign * r * theta.cos() + 0.05 * rng.normal(),
            sign * r * theta.sin() + 0.05 * rng.normal(),
        ]
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
}
