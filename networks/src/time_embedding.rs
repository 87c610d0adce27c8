//! Encodings of time: Fourier features and DDPM's sinusoidal embedding.

use burn::tensor::{Device, Tensor};

/// Fourier features of `t: [batch, 1]`: `[sin(2π f_k t), cos(2π f_k t)]` for `size/2`
/// geometrically spaced frequencies `f_k ∈ [1, max_frequency]`. Returns `[batch, size]`.
pub fn fourier_features(
    t: Tensor<2>,
    size: usize,
    max_frequency: f64,
    device: &Device,
) -> Tensor<2> {
    let half = size / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|k| {
            let r = if half > 1 {
                k as f64 / (half - 1) as f64
            } else {
                0.0
            };
            (2.0 * std::f64::consts::PI * max_frequency.powf(r)) as f32
        })
        .collect();
    sin_cos(t, &freqs, device)
}

/// DDPM's sinusoidal time embedding of `t: [batch, 1]` (Ho et al. 2020, after the
/// transformer's position encoding): `[sin(1000 t ω_k), cos(1000 t ω_k)]` with
/// `ω_k = exp(−ln(10000) k / half)`, `k = 0 … half − 1`, `half = size/2`. Returns
/// `[batch, size]`.
pub fn sinusoidal_embedding(t: Tensor<2>, size: usize, device: &Device) -> Tensor<2> {
    let half = size / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|k| (1000.0 * (-(10000f64.ln()) * k as f64 / half as f64).exp()) as f32)
        .collect();
    sin_cos(t, &freqs, device)
}

/// `[sin(ω_k t), cos(ω_k t)]` for `t: [batch, 1]` and angular frequencies `ω`: the encoding
/// both functions above share. Returns `[batch, 2 |ω|]`.
fn sin_cos(t: Tensor<2>, omega: &[f32], device: &Device) -> Tensor<2> {
    let f = Tensor::<1>::from_floats(omega, device).reshape([1, omega.len()]);
    let arg = t * f;
    Tensor::cat(vec![arg.clone().sin(), arg.cos()], 1)
}
