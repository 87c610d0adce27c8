//! The unconditional continuous networks (one channel in, one out) keep the parameters they
//! had before the input and output channel counts became configurable: same count, same
//! visiting order, same seeded initial values. The expected values were computed with the
//! code of commit 19dbc0b (`build(&[usize], …)`), so a checkpoint written then still loads
//! and a seeded run still starts from the same weights.
//!
//! The device's generator is global, so the test holds [`crate::generator`]: no other test
//! draws from it between the seed and the initialisation.

use burn::tensor::Device;
use gpfn_network::{MlpConfig, NetworkConfig, NetworkIo, UNetConfig, UpsampleChannels};

/// `(count, first three, last three, sum in f64)` of the flat parameters of `config` built
/// for `NetworkIo::same(shape)` after seeding the device with `seed`.
fn fingerprint(
    config: &dyn NetworkConfig,
    shape: &[usize],
    seed: u64,
) -> (usize, Vec<f32>, Vec<f32>, f64) {
    let device = Device::flex();
    device.seed(seed);
    let net = config.build(&NetworkIo::same(shape), &device).unwrap();
    net.initialise_parameters();
    let p = net.flat_parameters();
    let n = p.len();
    let sum: f64 = p.iter().map(|&v| v as f64).sum();
    (n, p[..3].to_vec(), p[n - 3..].to_vec(), sum)
}

#[test]
fn one_channel_networks_keep_their_parameters() {
    let _generator = crate::generator();
    let mlp = MlpConfig {
        hidden: vec![128, 128, 128],
        time_features: 16,
        target: Default::default(),
    };
    let unet = UNetConfig::default();
    let small = UNetConfig {
        channels: vec![8, 16],
        res_blocks: 2,
        upsample_channels: UpsampleChannels::Next,
        ..UNetConfig::default()
    };
    type Pin = (usize, [f32; 3], [f32; 3], f64);
    let cases: [(&str, &dyn NetworkConfig, &[usize], Pin); 3] = [
        (
            "mlp [2]",
            &mlp,
            &[2],
            (
                39810,
                [-0.039295867, -0.22141054, -0.16850203],
                [0.009863161, 0.050890647, 0.030819736],
                -3.394290592521429,
            ),
        ),
        (
            "default unet [1, 28, 28]",
            &unet,
            &[1, 28, 28],
            (
                1996385,
                [-0.014735952, -0.08302895, -0.06318826],
                [0.054330755, 0.02567264, 0.036520395],
                1742.279005361721,
            ),
        ),
        (
            "unet 8/16, 2 blocks, upsample next [1, 8, 8]",
            &small,
            &[1, 8, 8],
            (
                88161,
                [-0.014735952, -0.08302895, -0.06318826],
                [0.03295698, -0.032730706, 0.028137662],
                285.41554029658437,
            ),
        ),
    ];
    for (name, config, shape, (count, first, last, sum)) in cases {
        let (n, f, l, s) = fingerprint(config, shape, 7);
        assert_eq!(n, count, "{name}: parameter count");
        assert_eq!(f, first, "{name}: first values");
        assert_eq!(l, last, "{name}: last values");
        assert_eq!(s, sum, "{name}: sum of all values");
    }
}
