//! A block's map run backwards: data end (`t_end`) → noise end (`t = 0`).
//!
//! Block `l`'s ODE, `dz/dt = u(z, t) = κ'(t) (x̂(z, t) − z)/(1 − κ(t))`, carries its noise end
//! `x_l` to its data end `x_{l−1}` as `t` runs 0 → 1; the next block's data is the image of
//! `x_{l−1}` under the inverse map, the same ODE from `t_end` back to 0 (the reference's
//! `front_or_back(towards_one = True)`). `t_end < 1` because the velocity is singular at
//! `t = 1`; it is the one the likelihood uses (`likelihood.t_end`, default `1 − 10⁻³`), so
//! the data the next block trains on is what the likelihood's change of variables sees.

use crate::settings::Push;
use gpfn_core::burn::tensor::{Device, Tensor, TensorData};
use gpfn_core::host::host_f32;
use gpfn_core::ode::Dopri5;
use gpfn_core::{GpfnError, Result};
use gpfn_network::Network;
use gpfn_run::config::Config;

/// `x` (`[rows · dim]`) pushed backwards through the block of `config` and `network` from
/// `t_end` to 0; returns the image and the network evaluations per row (NFE).
pub fn push_back(
    config: &Config,
    network: &Network,
    x: &[f32],
    dim: usize,
    t_end: f64,
    push: &Push,
    device: &Device,
) -> Result<(Vec<f32>, usize)> {
    let rows = x.len() / dim;
    if rows == 0 {
        return Ok((Vec::new(), 0));
    }
    let model = config.model()?;
    let schedule = model.schedule.as_ref();
    let velocity = |t: f64, z: &Tensor<2>| -> Result<Tensor<2>> {
        let rate = schedule.kappa_dot(t) / (1.0 - schedule.kappa(t));
        let x_hat = model.predict_x(network, z.clone(), &vec![t; rows])?;
        Ok((x_hat - z.clone()).mul_scalar(rate))
    };
    let z0 = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [rows, dim]), device);
    let (z, nfe) = match *push {
        Push::Dopri5(tol) => {
            let solver = Dopri5 {
                rtol: tol,
                atol: tol,
                max_evaluations: 100_000,
            };
            let mut rhs = |t: f64, z: &Tensor<2>| velocity(t, z);
            let end = solver.solve(&mut rhs, t_end, 0.0, z0)?;
            (end.y, end.evaluations)
        }
        Push::Euler(n) => {
            let mut z = z0;
            let dt = t_end / n as f64;
            for i in (1..=n).rev() {
                let t = dt * i as f64;
                z = z.clone() - velocity(t, &z)?.mul_scalar(dt);
            }
            (z, n)
        }
    };
    let out = host_f32(z)?;
    if out.iter().any(|v| !v.is_finite()) {
        return Err(GpfnError::Invalid(
            "pushing the data through a block gave non-finite values".into(),
        ));
    }
    Ok((out, nfe))
}
