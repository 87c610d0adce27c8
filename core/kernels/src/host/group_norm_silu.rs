//! Group normalisation followed by SiLU, fused, on host slices (forward and backward).
//!
//! For `x: [B, C, S]` (S = H·W pixels) cut into `G` groups of `C/G` channels, per image `n`
//! and group `g` (Wu & He 2018), with `ε` added to the biased variance as burn and PyTorch do:
//!
//! ```text
//! μ = mean_{c∈g, s} x,   σ² = mean_{c∈g, s} (x − μ)²,   r = 1/√(σ² + ε),
//! x̂ = (x − μ) r,   a = γ_c x̂ + β_c,   y = SiLU(a) = a σ(a).
//! ```
//!
//! Backward, with `SiLU'(a) = σ(a)(1 + a(1 − σ(a)))`, `δa = δy SiLU'(a)`, `δx̂ = γ_c δa`:
//!
//! ```text
//! δβ_c = Σ_{n, s} δa,   δγ_c = Σ_{n, s} δa x̂,
//! δx = r (δx̂ − mean_{c∈g, s}(δx̂) − x̂ · mean_{c∈g, s}(δx̂ x̂)).
//! ```
//!
//! One pass reads `x` for the statistics and one writes `y`, instead of burn's separate mean,
//! variance, normalise, affine, sigmoid and product passes; the backward recomputes `x̂` and
//! `σ(a)` from `x` and the saved `(μ, r)` rather than keeping them, in two passes over each
//! group: one writes `δa` and sums `δa` and `δa x̂` per channel (the two group means are
//! `Σ_c γ_c` of those sums over the group's size), one writes `δx`. Sums run in 16 f32 lanes.
//! Work is split over (image, group) pairs, and the per-channel parameter gradients are
//! summed per image and then over images in order, so the result does not depend on the
//! thread schedule.

use crate::fast_math::{Kernel, LANES, dispatch, lane_sum, lane_total, sigmoid};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Shape of one group normalisation: `x: [batch, channels, pixels]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupNormShape {
    /// Images.
    pub batch: usize,
    /// Channels (a multiple of `groups`).
    pub channels: usize,
    /// Pixels per channel (`H · W`).
    pub pixels: usize,
    /// Groups.
    pub groups: usize,
}

impl GroupNormShape {
    /// Whether the kernels take this shape: non-zero sizes and `groups` dividing `channels`.
    pub fn is_valid(&self) -> bool {
        self.batch > 0
            && self.pixels > 0
            && self.groups > 0
            && self.channels > 0
            && self.channels.is_multiple_of(self.groups)
    }

    fn group_len(&self) -> usize {
        self.channels / self.groups * self.pixels
    }
}

/// The per-channel affine parameters `γ` (scale) and `β` (shift), `[C]` each.
#[derive(Clone, Copy, Debug)]
pub struct GroupNormAffine<'a> {
    /// `γ`.
    pub gamma: &'a [f32],
    /// `β`.
    pub beta: &'a [f32],
}

/// The statistics `(μ, r)` per `(image, group)`, `[B·G]` each, as
/// [`group_norm_silu_forward`] returns them.
#[derive(Clone, Copy, Debug)]
pub struct GroupNormStats<'a> {
    /// `μ`.
    pub mean: &'a [f32],
    /// `r = 1/√(σ² + ε)`.
    pub rstd: &'a [f32],
}

/// The gradients `δγ` and `δβ`, `[C]` each, that the backward overwrites.
#[derive(Debug)]
pub struct GroupNormAffineGrads<'a> {
    /// `δγ`.
    pub dgamma: &'a mut [f32],
    /// `δβ`.
    pub dbeta: &'a mut [f32],
}

/// One group's forward: statistics, then `y = SiLU(scale_c x + shift_c)`.
struct GroupForward<'a> {
    x: &'a [f32],
    y: &'a mut [MaybeUninit<f32>],
    gamma: &'a [f32],
    beta: &'a [f32],
    pixels: usize,
    epsilon: f64,
}

impl Kernel for GroupForward<'_> {
    type Output = (f32, f32);

    #[inline(always)]
    fn run(self) -> (f32, f32) {
        let x = self.x;
        let n = x.len();
        let mean = lane_sum(x, |v| v) as f64 / n as f64;
        let m = mean as f32;
        let var = lane_sum(x, |v| (v - m) * (v - m)) as f64 / n as f64;
        let rstd = (1.0 / (var + self.epsilon).sqrt()) as f32;
        for (c, (yc, xc)) in self
            .y
            .chunks_mut(self.pixels)
            .zip(x.chunks(self.pixels))
            .enumerate()
        {
            // a = γ r (x − μ) + β = scale x + shift
            let scale = self.gamma[c] * rstd;
            let shift = self.beta[c] - scale * m;
            for (yv, &xv) in yc.iter_mut().zip(xc) {
                let a = scale * xv + shift;
                yv.write(a * sigmoid(a));
            }
        }
        (m, rstd)
    }
}

/// `y = SiLU(γ x̂ + β)`; returns the statistics `(μ, r)` per `(image, group)`, `[B·G]` each,
/// which [`group_norm_silu_backward`] takes.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn group_norm_silu_forward(
    shape: &GroupNormShape,
    x: &[f32],
    affine: GroupNormAffine<'_>,
    epsilon: f64,
    y: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    // SAFETY: `group_norm_silu_forward_into` writes only initialised values through the view.
    let y = unsafe { super::uninit::as_uninit(y) };
    group_norm_silu_forward_into(shape, x, affine, epsilon, y)
}

/// [`group_norm_silu_forward`] into an output that need not be initialised: every value of
/// `y` is written, none read.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn group_norm_silu_forward_into(
    shape: &GroupNormShape,
    x: &[f32],
    affine: GroupNormAffine<'_>,
    epsilon: f64,
    y: &mut [MaybeUninit<f32>],
) -> (Vec<f32>, Vec<f32>) {
    let s = *shape;
    let GroupNormAffine { gamma, beta } = affine;
    let len = s.group_len();
    let cpg = s.channels / s.groups;
    assert_eq!(
        x.len(),
        s.batch * s.channels * s.pixels,
        "group norm input length"
    );
    assert_eq!(y.len(), x.len(), "group norm output length");
    assert_eq!(gamma.len(), s.channels, "group norm γ length");
    assert_eq!(beta.len(), s.channels, "group norm β length");
    let stats: Vec<(f32, f32)> = y
        .par_chunks_mut(len)
        .zip(x.par_chunks(len))
        .enumerate()
        .map(|(ng, (yg, xg))| {
            let g = ng % s.groups;
            dispatch(GroupForward {
                x: xg,
                y: yg,
                gamma: &gamma[g * cpg..(g + 1) * cpg],
                beta: &beta[g * cpg..(g + 1) * cpg],
                pixels: s.pixels,
                epsilon,
            })
        })
        .collect();
    stats.into_iter().unzip()
}

/// One group's backward; returns `(Σ δa x̂, Σ δa)` per channel of the group.
struct GroupBackward<'a> {
    x: &'a [f32],
    dy: &'a [f32],
    dx: &'a mut [MaybeUninit<f32>],
    gamma: &'a [f32],
    beta: &'a [f32],
    mean: f32,
    rstd: f32,
    pixels: usize,
}

impl Kernel for GroupBackward<'_> {
    type Output = Vec<(f32, f32)>;

    #[inline(always)]
    fn run(self) -> Vec<(f32, f32)> {
        const L: usize = LANES;
        let (mu, r, p) = (self.mean, self.rstd, self.pixels);
        let (x, dy) = (self.x, self.dy);
        let mut per_channel = Vec::with_capacity(self.gamma.len());
        // First pass: δa into dx, and per channel Σ δa x̂ and Σ δa (in L lanes); the group
        // sums of δx̂ = γ_c δa and δx̂ x̂ follow from them, Σ_c γ_c Σ δa and Σ_c γ_c Σ δa x̂,
        // so no pass over the group is needed for the means.
        let (mut group_da, mut group_da_xhat) = (0.0f32, 0.0f32);
        for (c, dxc) in self.dx.chunks_mut(p).enumerate() {
            let (gc, bc) = (self.gamma[c], self.beta[c]);
            let (xc, dyc) = (&x[c * p..(c + 1) * p], &dy[c * p..(c + 1) * p]);
            let delta_a = |xv: f32, g_out: f32| {
                let xh = (xv - mu) * r;
                let a = gc * xh + bc;
                let sg = sigmoid(a);
                (g_out * sg * (1.0 + a * (1.0 - sg)), xh)
            };
            let (mut acc_xhat, mut acc) = ([0.0f32; L], [0.0f32; L]);
            let mut dxl = dxc.chunks_exact_mut(L);
            let mut xl = xc.chunks_exact(L);
            let mut dyl = dyc.chunks_exact(L);
            for ((d, xv), g_out) in (&mut dxl).zip(&mut xl).zip(&mut dyl) {
                for l in 0..L {
                    let (da, xh) = delta_a(xv[l], g_out[l]);
                    d[l].write(da);
                    acc_xhat[l] += da * xh;
                    acc[l] += da;
                }
            }
            for ((d, &xv), &g_out) in dxl
                .into_remainder()
                .iter_mut()
                .zip(xl.remainder())
                .zip(dyl.remainder())
            {
                let (da, xh) = delta_a(xv, g_out);
                d.write(da);
                acc_xhat[0] += da * xh;
                acc[0] += da;
            }
            let (da_xhat, da_sum) = (lane_total(acc_xhat), lane_total(acc));
            per_channel.push((da_xhat, da_sum));
            group_da += gc * da_sum;
            group_da_xhat += gc * da_xhat;
        }
        // Second pass: δx = r (γ_c δa − m1 − x̂ m2) with the group means m1 of δx̂ and m2 of
        // δx̂ x̂.
        let n = x.len() as f32;
        let (m1, m2) = (group_da / n, group_da_xhat / n);
        // SAFETY: the first pass wrote every value of the group (its chunks and remainders).
        let dx = unsafe { self.dx.assume_init_mut() };
        for (c, dxc) in dx.chunks_mut(p).enumerate() {
            let gc = self.gamma[c];
            for (d, &xv) in dxc.iter_mut().zip(&x[c * p..(c + 1) * p]) {
                *d = r * (gc * *d - m1 - (xv - mu) * r * m2);
            }
        }
        per_channel
    }
}

/// The gradients of [`group_norm_silu_forward`] for `dy`, given its statistics: overwrites
/// `dx` (`[B, C, S]`), `grads.dgamma` and `grads.dbeta` (`[C]`).
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn group_norm_silu_backward(
    shape: &GroupNormShape,
    x: &[f32],
    affine: GroupNormAffine<'_>,
    stats: GroupNormStats<'_>,
    dy: &[f32],
    dx: &mut [f32],
    grads: GroupNormAffineGrads<'_>,
) {
    // SAFETY: `group_norm_silu_backward_into` writes only initialised values through the view.
    let dx = unsafe { super::uninit::as_uninit(dx) };
    group_norm_silu_backward_into(shape, x, affine, stats, dy, dx, grads);
}

/// [`group_norm_silu_backward`] with an input gradient that need not be initialised: every
/// value of `dx` is written before it is read.
///
/// # Panics
/// If a slice's length does not match `shape`.
pub fn group_norm_silu_backward_into(
    shape: &GroupNormShape,
    x: &[f32],
    affine: GroupNormAffine<'_>,
    stats: GroupNormStats<'_>,
    dy: &[f32],
    dx: &mut [MaybeUninit<f32>],
    grads: GroupNormAffineGrads<'_>,
) {
    let s = *shape;
    let (GroupNormAffine { gamma, beta }, GroupNormStats { mean, rstd }) = (affine, stats);
    let GroupNormAffineGrads { dgamma, dbeta } = grads;
    let len = s.group_len();
    let cpg = s.channels / s.groups;
    assert_eq!(
        x.len(),
        s.batch * s.channels * s.pixels,
        "group norm input length"
    );
    assert_eq!(dy.len(), x.len(), "group norm output-gradient length");
    assert_eq!(dx.len(), x.len(), "group norm input-gradient length");
    assert_eq!(
        mean.len(),
        s.batch * s.groups,
        "group norm statistics length"
    );
    assert_eq!(
        rstd.len(),
        s.batch * s.groups,
        "group norm statistics length"
    );
    assert_eq!(dgamma.len(), s.channels, "group norm δγ length");
    assert_eq!(dbeta.len(), s.channels, "group norm δβ length");
    let partial: Vec<Vec<(f32, f32)>> = dx
        .par_chunks_mut(len)
        .zip(x.par_chunks(len).zip(dy.par_chunks(len)))
        .enumerate()
        .map(|(ng, (dxg, (xg, dyg)))| {
            let g = ng % s.groups;
            dispatch(GroupBackward {
                x: xg,
                dy: dyg,
                dx: dxg,
                gamma: &gamma[g * cpg..(g + 1) * cpg],
                beta: &beta[g * cpg..(g + 1) * cpg],
                mean: mean[ng],
                rstd: rstd[ng],
                pixels: s.pixels,
            })
        })
        .collect();
    // Per channel, the images' partial sums in image order (f64, so the order of a few
    // hundred additions does not matter to f32's precision).
    let mut acc = vec![(0.0f64, 0.0f64); s.channels];
    for (ng, channels) in partial.iter().enumerate() {
        let g = ng % s.groups;
        for (ci, &(dg, db)) in channels.iter().enumerate() {
            acc[g * cpg + ci].0 += dg as f64;
            acc[g * cpg + ci].1 += db as f64;
        }
    }
    for (c, &(dg, db)) in acc.iter().enumerate() {
        dgamma[c] = dg as f32;
        dbeta[c] = db as f32;
    }
}
