//! Networks whose input and output channel counts the caller chooses ([`NetworkIo`]):
//! categorical beliefs as `K` channels in and `K` logits out (one and one for `K = 2`),
//! colour images, and shapes a network cannot take as named errors.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Distribution, Gradients, Tensor};
use gpfn_core::GpfnError;
use gpfn_network::{MlpConfig, Network, NetworkConfig, NetworkIo, UNetConfig};

fn tiny_unet() -> UNetConfig {
    UNetConfig {
        channels: vec![8, 16],
        time_embedding: 16,
        ..UNetConfig::default()
    }
}

fn tiny_mlp() -> MlpConfig {
    MlpConfig {
        hidden: vec![8],
        time_features: 4,
        target: Default::default(),
    }
}

/// Builds `config` for `io`, checks `io()`, runs a forward pass on a batch of 3 and returns
/// the network and the output's dimensions.
fn forward_dims(config: &dyn NetworkConfig, io: &NetworkIo, device: &Device) -> [usize; 2] {
    let net = config.build(io, device).unwrap();
    assert_eq!(net.io(), io);
    let z = Tensor::<2>::random([3, io.input_dim()], Distribution::Normal(0.0, 1.0), device);
    let t = Tensor::<2>::full([3, 1], 0.3, device);
    let out = net.forward(z, t);
    let values = out.clone().into_data().try_to_vec::<f32>().unwrap();
    assert!(values.iter().all(|v| v.is_finite()));
    out.dims()
}

fn parameter_count(net: &Network) -> usize {
    net.flat_parameters().len()
}

#[test]
fn identity_and_categorical_channel_counts() {
    let _generator = crate::generator();
    let same = NetworkIo::same(&[1, 28, 28]);
    assert_eq!((same.in_channels, same.out_channels), (1, 1));
    assert!(same.is_same());
    assert_eq!(
        (same.data_dim(), same.input_dim(), same.output_dim()),
        (784, 784, 784)
    );
    let two = NetworkIo::categorical(&[1, 28, 28], 2).unwrap();
    assert_eq!(two, same, "K = 2: one channel (2θ − 1) in, one logit out");
    let four = NetworkIo::categorical(&[1, 28, 28], 4).unwrap();
    assert_eq!((four.in_channels, four.out_channels), (4, 4));
    assert_eq!((four.input_dim(), four.output_dim()), (4 * 784, 4 * 784));
    for k in [0, 1] {
        assert!(matches!(
            NetworkIo::categorical(&[2], k),
            Err(GpfnError::Invalid(_))
        ));
    }
}

/// K = 4: the U-Net reads `[batch, 4·D]` and writes `[batch, 4·D]`; only `conv_in` and
/// `conv_out` grow: `(K − 1)·9·c₀` input weights, `(K − 1)·(9·c₀ + 1)` output weights and
/// biases for the first width `c₀ = 8`.
#[test]
fn unet_reads_and_writes_k_channels() {
    let _generator = crate::generator();
    let device = Device::flex();
    let config = tiny_unet();
    let shape = [1, 8, 8];
    let io = NetworkIo::categorical(&shape, 4).unwrap();
    assert_eq!(forward_dims(&config, &io, &device), [3, 4 * 64]);
    let k = config.build(&io, &device).unwrap();
    let one = config.build(&NetworkIo::same(&shape), &device).unwrap();
    assert_eq!(
        parameter_count(&k) - parameter_count(&one),
        3 * 9 * 8 + 3 * (9 * 8 + 1)
    );
    // Input and output channel counts are independent.
    assert_eq!(
        forward_dims(&config, &NetworkIo::new(&shape, 4, 1), &device),
        [3, 64]
    );
    assert_eq!(
        forward_dims(&config, &NetworkIo::new(&shape, 1, 3), &device),
        [3, 3 * 64]
    );
}

/// K = 4: the MLP reads `[batch, 4·D]` and writes `[batch, 4·D]`; only the first and the
/// output layers grow, by `(K − 1)·D·h` and `(K − 1)·D·(h + 1)` for hidden width `h = 8`.
#[test]
fn mlp_reads_and_writes_k_channels() {
    let _generator = crate::generator();
    let device = Device::flex();
    let config = tiny_mlp();
    let shape = [3];
    let io = NetworkIo::categorical(&shape, 4).unwrap();
    assert_eq!(forward_dims(&config, &io, &device), [3, 12]);
    let k = config.build(&io, &device).unwrap();
    let one = config.build(&NetworkIo::same(&shape), &device).unwrap();
    assert_eq!(
        parameter_count(&k) - parameter_count(&one),
        3 * 3 * 8 + 3 * 3 * 9
    );
    assert_eq!(
        forward_dims(&config, &NetworkIo::new(&shape, 1, 5), &device),
        [3, 15]
    );
}

/// K = 2: one channel in, one logit out, for both networks.
#[test]
fn two_classes_give_a_single_logit() {
    let _generator = crate::generator();
    let device = Device::flex();
    let io = NetworkIo::categorical(&[1, 8, 8], 2).unwrap();
    assert_eq!(forward_dims(&tiny_unet(), &io, &device), [3, 64]);
    let io = NetworkIo::categorical(&[6], 2).unwrap();
    assert_eq!(forward_dims(&tiny_mlp(), &io, &device), [3, 6]);
}

/// Counts parameters, those with a gradient, and the gradient values that are not finite.
struct GradientCheck<'a> {
    grads: &'a Gradients,
    parameters: usize,
    with_gradient: usize,
    non_finite: usize,
    nonzero: usize,
}

impl ModuleVisitor for GradientCheck<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.parameters += 1;
        if let Some(g) = param.val().grad(self.grads) {
            self.with_gradient += 1;
            let g = g.into_data().try_to_vec::<f32>().unwrap();
            self.non_finite += g.iter().filter(|v| !v.is_finite()).count();
            self.nonzero += g.iter().filter(|v| **v != 0.0).count();
        }
    }
}

/// A colour U-Net (data `[3, 32, 32]`, channels from the data): forward shape, and one
/// backward pass gives every parameter a finite gradient.
#[test]
fn rgb_unet_forward_and_backward() {
    let _generator = crate::generator();
    let device = Device::flex().autodiff();
    let config = tiny_unet();
    let io = NetworkIo::same(&[3, 32, 32]);
    let net = config.build(&io, &device).unwrap();
    let z = Tensor::<2>::random([2, 3 * 32 * 32], Distribution::Normal(0.0, 1.0), &device)
        .require_grad();
    let t = Tensor::<2>::full([2, 1], 0.5, &device);
    let out = net.forward(z.clone(), t);
    assert_eq!(out.dims(), [2, 3 * 32 * 32]);
    let grads = out.powf_scalar(2.0).mean().backward();
    let mut check = GradientCheck {
        grads: &grads,
        parameters: 0,
        with_gradient: 0,
        non_finite: 0,
        nonzero: 0,
    };
    net.visit(&mut check);
    assert!(check.parameters > 0);
    assert_eq!(check.with_gradient, check.parameters, "every parameter");
    assert_eq!(check.non_finite, 0);
    assert!(check.nonzero > 0);
    let dz = z
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(dz.iter().all(|v| v.is_finite()) && dz.iter().any(|v| *v != 0.0));
}

fn config_key(e: GpfnError) -> String {
    match e {
        GpfnError::Config { key, .. } => key,
        other => panic!("expected a config error, got {other}"),
    }
}

/// Shapes a network cannot take are named errors, not panics.
#[test]
fn bad_shapes_are_named_errors() {
    let _generator = crate::generator();
    let device = Device::flex();
    let unet = tiny_unet();
    // Two levels halve once: 7 × 7 is not divisible by 2.
    let e = unet
        .build(&NetworkIo::same(&[1, 7, 7]), &device)
        .unwrap_err();
    assert!(e.to_string().contains("divisible by 2"), "{e}");
    assert_eq!(config_key(e), "network.channels");
    let e = UNetConfig::default()
        .build(&NetworkIo::same(&[1, 30, 30]), &device)
        .unwrap_err();
    assert_eq!(config_key(e), "network.channels");
    // Not an image.
    let e = unet.build(&NetworkIo::same(&[784]), &device).unwrap_err();
    assert_eq!(config_key(e), "network.name");
    // Zero channels or zero sizes.
    for (config, io) in [
        (
            &unet as &dyn NetworkConfig,
            NetworkIo::new(&[1, 8, 8], 0, 1),
        ),
        (&unet, NetworkIo::new(&[1, 8, 8], 2, 0)),
        (&unet, NetworkIo::same(&[0, 8, 8])),
        (&tiny_mlp(), NetworkIo::new(&[2], 0, 1)),
        (&tiny_mlp(), NetworkIo::same(&[])),
        (&tiny_mlp(), NetworkIo::same(&[2, 0])),
    ] {
        assert!(
            matches!(config.build(&io, &device), Err(GpfnError::Shape(_))),
            "{io:?}"
        );
    }
}
