//! Class-conditional networks ([`NetworkIo::label_classes`]): an embedding of `K` rows added
//! to the time embedding (the null class `∅` adds zero), for the MLP and the U-Net.
//!
//! The device's generator is global, and the parameter comparisons seed it, so the test holds
//! [`crate::generator`] while it builds networks.

use burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::GpfnError;
use gpfn_network::{MlpConfig, NetworkConfig, NetworkIo, UNetConfig, class_indices};

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Flat parameters of `config` built for `io` after seeding the device with `seed`.
fn parameters(config: &dyn NetworkConfig, io: &NetworkIo, seed: u64) -> Vec<f32> {
    let device = Device::flex();
    device.seed(seed);
    let net = config.build(io, &device).unwrap();
    net.initialise_parameters();
    net.flat_parameters()
}

#[test]
fn conditional_networks_add_only_the_class_table_and_read_the_class() {
    let _generator = crate::generator();
    let device = Device::flex();
    let mlp = MlpConfig {
        hidden: vec![16, 16],
        time_features: 8,
        target: Default::default(),
    };
    let unet = UNetConfig {
        channels: vec![8, 16],
        time_embedding: 16,
        ..UNetConfig::default()
    };
    let k = 10;
    let cases: [(&str, &dyn NetworkConfig, &[usize], usize); 2] =
        [("mlp", &mlp, &[2], 8), ("unet", &unet, &[1, 8, 8], 16)];
    for (name, config, shape, width) in cases {
        // Parameters: the unconditional network's, in the same order with the same seeded
        // values, then exactly K · width more (the table, visited last).
        let plain = parameters(config, &NetworkIo::same(shape), 7);
        let io = NetworkIo::same(shape).with_label_classes(Some(k));
        let cond = parameters(config, &io, 7);
        assert_eq!(cond.len(), plain.len() + k * width, "{name}");
        assert_eq!(&cond[..plain.len()], &plain[..], "{name}");

        // Behaviour: `forward` and `None` are the null class; classes change the output.
        let net = config.build(&io, &device).unwrap();
        assert_eq!(net.label_classes(), Some(k));
        let d: usize = shape.iter().product();
        let b = 4;
        let z = Tensor::<2>::from_data(
            TensorData::new(
                (0..b * d)
                    .map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0)
                    .collect(),
                [b, d],
            ),
            &device,
        );
        let t = Tensor::<2>::from_data(
            TensorData::new(vec![0.1f32, 0.4, 0.6, 0.9], [b, 1]),
            &device,
        );
        let plain_out = host(net.forward(z.clone(), t.clone()));
        let none = host(net.forward_conditional(z.clone(), t.clone(), None).unwrap());
        let null = host(
            net.forward_conditional(z.clone(), t.clone(), Some(class_indices(&[k; 4], &device)))
                .unwrap(),
        );
        assert_eq!(plain_out, none, "{name}: forward is the null class");
        assert_eq!(none, null, "{name}: None is class K");
        let classes = [0, 3, 9, 3];
        let out = host(
            net.forward_conditional(z.clone(), t.clone(), Some(class_indices(&classes, &device)))
                .unwrap(),
        );
        assert_eq!(out.len(), b * d);
        assert_ne!(out, null, "{name}: a class changes the output");
        // Row i depends on its own class only: row 1 and row 3 (both class 3) match a batch
        // of class 3 everywhere.
        let threes = host(
            net.forward_conditional(z.clone(), t.clone(), Some(class_indices(&[3; 4], &device)))
                .unwrap(),
        );
        for r in [1, 3] {
            for j in 0..d {
                let (a, b) = (out[r * d + j], threes[r * d + j]);
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{name}: row {r}");
            }
        }

        // Two classings in one call (guidance's `[c; ∅]`): the values of the stacked inputs,
        // though the U-Net runs its stem and first convolution once per row of z. Per row the
        // same operations on the same values, so equal to f32 summation-order differences of
        // the batched kernels at most.
        let paired = [0usize, 3, 9, 3, k, k, k, k];
        let repeated = host(
            net.forward_repeated(z.clone(), t.clone(), class_indices(&paired, &device))
                .unwrap(),
        );
        let stacked = host(
            net.forward_conditional(
                Tensor::cat(vec![z.clone(), z.clone()], 0),
                Tensor::cat(vec![t.clone(), t.clone()], 0),
                Some(class_indices(&paired, &device)),
            )
            .unwrap(),
        );
        assert_eq!(repeated.len(), 2 * b * d, "{name}");
        for (j, (a, s)) in repeated.iter().zip(&stacked).enumerate() {
            assert!(
                (a - s).abs() <= 1e-5 * (1.0 + s.abs()),
                "{name}: value {j}: {a} vs {s}"
            );
        }
        let err = net
            .forward_repeated(z.clone(), t.clone(), class_indices(&[0, 1, 2], &device))
            .unwrap_err();
        assert!(err.to_string().contains("multiple of the rows"), "{err}");

        // The null class is the unconditional network itself: built from the same seed,
        // the two compute the same operations on the same parameters (the null class adds
        // an exact zero), so their outputs agree bit for bit.
        device.seed(7);
        let uncond = config.build(&NetworkIo::same(shape), &device).unwrap();
        uncond.initialise_parameters();
        device.seed(7);
        let cond = config.build(&io, &device).unwrap();
        cond.initialise_parameters();
        assert_eq!(
            host(uncond.forward(z.clone(), t.clone())),
            host(
                cond.forward_conditional(
                    z.clone(),
                    t.clone(),
                    Some(class_indices(&[k; 4], &device))
                )
                .unwrap()
            ),
            "{name}: the null class is the unconditional network"
        );

        // An unconditional network takes no class: a named error.
        assert_eq!(uncond.label_classes(), None);
        let err = uncond
            .forward_conditional(z, t, Some(class_indices(&[0; 4], &device)))
            .unwrap_err();
        assert!(
            matches!(&err, GpfnError::Config { key, .. } if key == "condition"),
            "{err}"
        );
    }
    // Zero classes is refused by name.
    let err = mlp
        .build(&NetworkIo::same(&[2]).with_label_classes(Some(0)), &device)
        .unwrap_err();
    assert!(err.to_string().contains("condition.classes"), "{err}");
}
