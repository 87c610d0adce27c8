//! Learning-rate schedule: linear warm-up, then cosine decay.

/// `lr(k)` for 0-based step `k` of `total`: `peak · k'/warmup` during warm-up (`k' = k + 1`),
/// then `peak · (r + (1 − r) · ½(1 + cos(π p)))` with progress `p ∈ [0, 1]` and final ratio `r`.
pub fn learning_rate(peak: f64, warmup: u64, total: u64, final_ratio: f64, k: u64) -> f64 {
    if k < warmup {
        return peak * (k + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let p = ((k - warmup) as f64 / span as f64).min(1.0);
    peak * (final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn warms_up_then_decays_to_the_final_ratio() {
        assert_relative_eq!(learning_rate(1e-3, 10, 110, 0.1, 0), 1e-4);
        assert_relative_eq!(learning_rate(1e-3, 10, 110, 0.1, 9), 1e-3);
        assert_relative_eq!(learning_rate(1e-3, 10, 110, 0.1, 10), 1e-3);
        assert_relative_eq!(
            learning_rate(1e-3, 10, 110, 0.1, 60),
            0.55e-3,
            epsilon = 1e-12
        );
        assert_relative_eq!(
            learning_rate(1e-3, 10, 110, 0.1, 110),
            1e-4,
            epsilon = 1e-12
        );
    }
}
