//! What the closed-form Gaussian tests share (`mod gaussian_toy;`): a config of `configs/`
//! and the sample moments of one coordinate of a sample set.
#![allow(dead_code)]

use gpfn_run::config::{Config, ConfigSources, load};
use std::path::Path;

/// The config `configs/<file>`, as the CLI loads it with no overrides.
pub fn config(file: &str) -> Config {
    load(&ConfigSources {
        file: Some(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../configs")
                .join(file),
        ),
        env: Vec::new(),
        sets: Vec::new(),
    })
    .unwrap_or_else(|e| panic!("{file}: {e}"))
    .config
}

/// The sample mean and unbiased variance of coordinate `d` of row-major samples of `dims`
/// coordinates each (f64 sums).
pub fn moments(values: &[f32], dims: usize, d: usize) -> (f64, f64) {
    let xs: Vec<f64> = values
        .iter()
        .skip(d)
        .step_by(dims)
        .map(|&v| f64::from(v))
        .collect();
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}
