//! Dormand–Prince 5(4) with error control (Dormand & Prince 1980; Hairer, Nørsett & Wanner,
//! *Solving ODEs I*, §II.4–5), as `scipy`'s `RK45` and `torchdiffeq`'s `dopri5` run it.
//!
//! One step of size `h` from `(t, y)` with `k₁ = f(t, y)`:
//!
//! ```text
//! k_s = f(t + c_s h, y + h Σ_{j<s} a_sj k_j),   s = 2..7
//! y'  = y + h Σ_s b_s k_s                      (fifth order; b = the last row of a, so
//!                                               k₇ = f(t + h, y') is the next step's k₁: FSAL)
//! e   = h Σ_s (b_s − b̂_s) k_s                  (b̂: the embedded fourth-order weights)
//! ```
//!
//! The step is accepted when the scaled root-mean-square error
//! `‖e‖ = √(mean_i (e_i / (atol + rtol · max(|y_i|, |y'_i|)))²) ≤ 1`, the mean taken over
//! every entry of the batched state (one step size for the whole batch), and the next step
//! is `h · min(10, max(0.2, 0.9 ‖e‖^{−1/5}))` (no growth right after a rejection). The first
//! step follows Hairer's starting-step algorithm (one extra evaluation). Every evaluation of
//! `f`, accepted or not, is counted: that is the NFE a sampler reports.

use super::Rhs;
use crate::{GpfnError, Result};
use burn::tensor::Tensor;

const C: [f64; 6] = [1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const A2: [f64; 1] = [1.0 / 5.0];
const A3: [f64; 2] = [3.0 / 40.0, 9.0 / 40.0];
const A4: [f64; 3] = [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0];
const A5: [f64; 4] = [
    19372.0 / 6561.0,
    -25360.0 / 2187.0,
    64448.0 / 6561.0,
    -212.0 / 729.0,
];
const A6: [f64; 5] = [
    9017.0 / 3168.0,
    -355.0 / 33.0,
    46732.0 / 5247.0,
    49.0 / 176.0,
    -5103.0 / 18656.0,
];
/// Fifth-order weights (`k₂`'s is 0), also the seventh stage's row.
const B: [f64; 6] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
];
/// `b − b̂` for `k₁ … k₇`.
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// The Dormand–Prince 5(4) solver's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dopri5 {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Evaluations of `f` after which the solve fails rather than go on.
    pub max_evaluations: usize,
}

/// The end of a solve.
pub struct OdeEnd {
    /// `y(t₁)`.
    pub y: Tensor<2>,
    /// `f(t₁, y(t₁))` (the last accepted step's seventh stage).
    pub f: Tensor<2>,
    /// Evaluations of `f`, rejected steps and the starting-step estimate included.
    pub evaluations: usize,
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
}

/// `y + h Σ_j w_j k_j` (zero weights skipped).
fn combine(y: &Tensor<2>, h: f64, weights: &[f64], k: &[Tensor<2>]) -> Tensor<2> {
    let mut out = y.clone();
    for (w, kj) in weights.iter().zip(k) {
        if *w != 0.0 {
            out = out + kj.clone().mul_scalar(h * w);
        }
    }
    out
}

/// `√(mean (v / scale)²)` on the host.
fn rms(v: Tensor<2>, scale: Tensor<2>) -> f64 {
    (v / scale).square().mean().into_scalar::<f32>() as f64
}

impl Dopri5 {
    /// Checks the settings: tolerances positive and finite, at least one step's evaluations.
    pub fn validate(&self, key: &str) -> Result<()> {
        for (name, v) in [("rtol", self.rtol), ("atol", self.atol)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(GpfnError::Config {
                    key: format!("{key}.{name}"),
                    message: format!("a tolerance must be positive and finite, got {v}"),
                });
            }
        }
        if self.max_evaluations < 8 {
            return Err(GpfnError::Config {
                key: format!("{key}.max_evaluations"),
                message: format!(
                    "one dopri5 step needs 8 evaluations with its start, got {}",
                    self.max_evaluations
                ),
            });
        }
        Ok(())
    }

    fn scale(&self, y: &Tensor<2>, y_new: Option<&Tensor<2>>) -> Tensor<2> {
        let a = y.clone().abs();
        let m = match y_new {
            Some(n) => a.max_pair(n.clone().abs()),
            None => a,
        };
        m.mul_scalar(self.rtol).add_scalar(self.atol)
    }

    /// Integrates `dy/dt = f(t, y)` from `(t0, y0)` to `t1` (either direction).
    pub fn solve(&self, f: &mut Rhs<'_>, t0: f64, t1: f64, y0: Tensor<2>) -> Result<OdeEnd> {
        self.validate("ode")?;
        if !(t0.is_finite() && t1.is_finite()) {
            return Err(GpfnError::Invalid(format!(
                "dopri5: integration bounds must be finite, got {t0} → {t1}"
            )));
        }
        let mut evaluations = 0usize;
        let mut eval = |t: f64, y: &Tensor<2>, evaluations: &mut usize| -> Result<Tensor<2>> {
            *evaluations += 1;
            f(t, y)
        };
        let mut k1 = eval(t0, &y0, &mut evaluations)?;
        if t1 == t0 {
            return Ok(OdeEnd {
                y: y0,
                f: k1,
                evaluations,
                accepted: 0,
                rejected: 0,
            });
        }
        let dir = (t1 - t0).signum();
        let span = (t1 - t0).abs();

        // Hairer's starting step (Solving ODEs I, II.4).
        let scale0 = self.scale(&y0, None);
        let d0 = rms(y0.clone(), scale0.clone()).sqrt();
        let d1 = rms(k1.clone(), scale0.clone()).sqrt();
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        }
        .min(span);
        let y_probe = y0.clone() + k1.clone().mul_scalar(dir * h0);
        let f_probe = eval(t0 + dir * h0, &y_probe, &mut evaluations)?;
        let d2 = rms(f_probe - k1.clone(), scale0).sqrt() / h0;
        let h1 = if d1.max(d2) <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / d1.max(d2)).powf(0.2)
        };
        let mut h = (100.0 * h0).min(h1).min(span);

        let (mut t, mut y) = (t0, y0);
        let (mut accepted, mut rejected) = (0usize, 0usize);
        let mut just_rejected = false;
        loop {
            let remaining = (t1 - t) * dir;
            if remaining <= 0.0 {
                break;
            }
            if evaluations + 6 > self.max_evaluations {
                return Err(GpfnError::Invalid(format!(
                    "dopri5 reached its limit of {} evaluations at t = {t:.6} of {t0} → {t1} \
                     (step {h:.3e}, {accepted} steps accepted, {rejected} rejected); raise \
                     max_evaluations or loosen rtol = {:e} / atol = {:e}",
                    self.max_evaluations, self.rtol, self.atol
                )));
            }
            // Land on t1 exactly rather than leave a sliver.
            let last = h >= remaining * (1.0 - 1e-12);
            let h_step = if last { remaining } else { h };
            let hs = dir * h_step;
            let mut k = vec![k1.clone()];
            for (s, row) in [&A2[..], &A3[..], &A4[..], &A5[..], &A6[..]]
                .into_iter()
                .enumerate()
            {
                let ys = combine(&y, hs, row, &k);
                k.push(eval(t + C[s] * hs, &ys, &mut evaluations)?);
            }
            let t_new = if last { t1 } else { t + hs };
            let y_new = combine(&y, hs, &B, &k);
            let k7 = eval(t_new, &y_new, &mut evaluations)?;
            k.push(k7.clone());
            let zero = y.clone().zeros_like();
            let err = combine(&zero, hs, &E, &k);
            let norm = rms(err, self.scale(&y, Some(&y_new))).sqrt();
            if !norm.is_finite() {
                return Err(GpfnError::Invalid(format!(
                    "dopri5: the right-hand side is not finite near t = {t:.6} (step {hs:.3e}); \
                     the ODE or its inputs produce NaN or infinity"
                )));
            }
            let mut factor = if norm == 0.0 {
                10.0
            } else {
                (0.9 * norm.powf(-0.2)).clamp(0.2, 10.0)
            };
            if norm <= 1.0 {
                t = t_new;
                y = y_new;
                k1 = k7;
                accepted += 1;
                if just_rejected {
                    factor = factor.min(1.0);
                }
                just_rejected = false;
                if last {
                    break;
                }
            } else {
                rejected += 1;
                just_rejected = true;
            }
            h = h_step * factor;
            if h < 1e-14 * span.max(t.abs()) {
                return Err(GpfnError::Invalid(format!(
                    "dopri5: the step size underflowed at t = {t:.6} ({h:.3e}); the ODE is too \
                     stiff or singular there for rtol = {:e} / atol = {:e}",
                    self.rtol, self.atol
                )));
            }
        }
        Ok(OdeEnd {
            y,
            f: k1,
            evaluations,
            accepted,
            rejected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::host_f64;
    use burn::tensor::Device;

    fn solver(tol: f64) -> Dopri5 {
        Dopri5 {
            rtol: tol,
            atol: tol,
            max_evaluations: 100_000,
        }
    }

    /// The tableau's consistency conditions: rows sum to `c`, both weight sets sum to 1.
    #[test]
    fn the_tableau_is_consistent() {
        for (row, c) in [&A2[..], &A3[..], &A4[..], &A5[..], &A6[..]].iter().zip(C) {
            approx::assert_relative_eq!(row.iter().sum::<f64>(), c, epsilon = 1e-14);
        }
        approx::assert_relative_eq!(B.iter().sum::<f64>(), 1.0, epsilon = 1e-14);
        approx::assert_relative_eq!(E.iter().sum::<f64>(), 0.0, epsilon = 1e-14);
    }

    /// `y' = A y` with `A = [[−1, 2], [−2, −1]]` (a damped rotation) from `y(0) = (1, 0)`:
    /// `y(t) = e^{−t} (cos 2t, −sin 2t)`, forward to `t = 3` and back to 0.
    #[test]
    fn a_linear_ode_reaches_its_tolerance_in_both_directions() {
        let device = Device::flex();
        let exact = |t: f64| [(-t).exp() * (2.0 * t).cos(), -(-t).exp() * (2.0 * t).sin()];
        let mut f = |_t: f64, y: &Tensor<2>| -> Result<Tensor<2>> {
            let a = y.clone().narrow(1, 0, 1);
            let b = y.clone().narrow(1, 1, 1);
            Ok(Tensor::cat(
                vec![
                    a.clone().neg() + b.clone().mul_scalar(2.0),
                    a.mul_scalar(-2.0) - b,
                ],
                1,
            ))
        };
        let y0 = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        let mut previous = usize::MAX;
        for tol in [1e-3, 1e-5] {
            let end = solver(tol).solve(&mut f, 0.0, 3.0, y0.clone()).unwrap();
            let y = host_f64(end.y);
            let want = exact(3.0);
            // Global error of a tolerance-controlled integration: a small multiple of the
            // tolerance (the local errors add up over the accepted steps), far above f32's
            // 1e-7 rounding.
            for (g, w) in y.iter().zip(want) {
                assert!((g - w).abs() < 10.0 * tol, "tol {tol}: {g} vs {w}");
            }
            assert_eq!(end.evaluations, 2 + 6 * (end.accepted + end.rejected));
            assert!(end.accepted > 0);
            if previous != usize::MAX {
                assert!(end.evaluations > previous, "a tighter tolerance costs more");
            }
            previous = end.evaluations;
            let back = solver(tol)
                .solve(
                    &mut f,
                    3.0,
                    0.0,
                    Tensor::<2>::from_floats([[want[0] as f32, want[1] as f32]], &device),
                )
                .unwrap();
            let y = host_f64(back.y);
            // Backwards the solution grows like e^{t}: the error is relative to |y| ≈ 1 at the
            // end, from a start of size e^{−3}.
            assert!(
                (y[0] - 1.0).abs() < 20.0 * tol && y[1].abs() < 20.0 * tol,
                "{y:?}"
            );
        }
    }

    /// Fifth order: on `y' = y cos t`, `y = e^{sin t}`, the error at a fixed step count
    /// falls with the tolerance roughly as the tolerance does, and the step count grows as
    /// `tol^{−1/5}`.
    #[test]
    fn steps_grow_like_the_fifth_root_of_the_tolerance() {
        let device = Device::flex();
        let mut f =
            |t: f64, y: &Tensor<2>| -> Result<Tensor<2>> { Ok(y.clone().mul_scalar(t.cos())) };
        let y0 = Tensor::<2>::from_floats([[1.0]], &device);
        let a = solver(1e-3).solve(&mut f, 0.0, 10.0, y0.clone()).unwrap();
        let b = solver(1e-6).solve(&mut f, 0.0, 10.0, y0).unwrap();
        let ratio = b.accepted as f64 / a.accepted as f64;
        // 1000^{1/5} ≈ 3.98; the controller's safety factor and rounding of step counts
        // leave it between 2.5 and 6.
        assert!(
            (2.5..6.0).contains(&ratio),
            "accepted {} → {}",
            a.accepted,
            b.accepted
        );
        let y = host_f64(b.y)[0];
        assert!((y - 10f64.sin().exp()).abs() < 1e-5, "{y}");
    }

    #[test]
    fn a_tight_budget_is_an_error_that_says_so() {
        let device = Device::flex();
        let mut f = |t: f64, y: &Tensor<2>| -> Result<Tensor<2>> {
            Ok(y.clone().mul_scalar((10.0 * t).cos() * 10.0))
        };
        let y0 = Tensor::<2>::from_floats([[1.0]], &device);
        let s = Dopri5 {
            rtol: 1e-8,
            atol: 1e-8,
            max_evaluations: 40,
        };
        let e = s.solve(&mut f, 0.0, 10.0, y0).err().unwrap().to_string();
        assert!(e.contains("limit of 40 evaluations"), "{e}");
        let bad = Dopri5 { rtol: 0.0, ..s };
        assert!(
            bad.validate("sampler")
                .unwrap_err()
                .to_string()
                .contains("sampler.rtol")
        );
    }

    #[test]
    fn a_nan_right_hand_side_is_an_error() {
        let device = Device::flex();
        let mut f = |_t: f64, y: &Tensor<2>| -> Result<Tensor<2>> {
            Ok(y.clone().log().sub_scalar(1e30).sqrt())
        };
        let y0 = Tensor::<2>::from_floats([[-1.0]], &device);
        let e = solver(1e-3)
            .solve(&mut f, 0.0, 1.0, y0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not finite"), "{e}");
    }
}
