//! Range checks applied while a config is read (`#[serde(deserialize_with = "…")]`), so a bad
//! value is reported with its key, its value, what is allowed and the layer that set it
//! (`config key `train.ema_decay`: must be in [0, 1), got 1 (from --set train.ema_decay)`)
//! before any work starts.

use serde::de::{Deserialize, Deserializer, Error};

/// A count that must be at least 1 (steps, batch sizes, groups, sample counts).
pub fn at_least_one<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + PartialOrd + From<u8> + std::fmt::Display,
{
    let v = T::deserialize(d)?;
    if v < T::from(1) {
        return Err(D::Error::custom(format!("must be ≥ 1, got {v}")));
    }
    Ok(v)
}

/// A finite number for which `allowed` holds, else an error saying what is `wanted`.
fn checked<'de, D: Deserializer<'de>>(
    d: D,
    allowed: impl Fn(f64) -> bool,
    wanted: &str,
) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() {
        return Err(D::Error::custom(format!(
            "must be a finite number, got {v}"
        )));
    }
    if !allowed(v) {
        return Err(D::Error::custom(format!("must be {wanted}, got {v}")));
    }
    Ok(v)
}

/// A finite number `> 0` (learning rates, scales, tolerances).
pub fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| v > 0.0, "> 0")
}

/// A finite number `≥ 0` (thresholds where 0 switches a feature off).
pub fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| v >= 0.0, "≥ 0")
}

/// A number in `[0, 1)`: a decay (1 would never move) or a drop probability (1 drops all).
pub fn unit_below_one<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| (0.0..1.0).contains(&v), "in [0, 1)")
}

/// A number in `[0, 1]` (ratios, DDIM's η).
pub fn unit<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| (0.0..=1.0).contains(&v), "in [0, 1]")
}

/// A number in the open interval `(0, 1)` (BFN's σ₁).
pub fn open_unit<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| v > 0.0 && v < 1.0, "in (0, 1)")
}
