//! Additions over whole activations on the rayon threads: flex runs its elementwise operators
//! on the calling thread, and the U-Net's residual and time-embedding additions were 2 % of
//! the CPU samples of a forward pass, with the rayon workers idle meanwhile
//! (docs/benchmarks.md).
//!
//! * `y = a + b`, element by element;
//! * `y[n, c, p] = h[n, c, p] + t[n, c]`: a value per image and channel (the projected time
//!   embedding) added to every pixel of the plane, and its gradient with respect to `t`,
//!   `∂L/∂t[n, c] = Σ_p ∂L/∂y[n, c, p]`.

use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Values per rayon task: enough to amortise the task, few enough to share the work.
const CHUNK: usize = 1 << 14;

/// `y = a + b`; every value of `y` is written.
///
/// # Panics
/// If the three lengths differ.
pub fn add_into(a: &[f32], b: &[f32], y: &mut [MaybeUninit<f32>]) {
    assert!(
        a.len() == b.len() && a.len() == y.len(),
        "add: lengths {}, {} and {}",
        a.len(),
        b.len(),
        y.len()
    );
    y.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(y, (a, b))| {
            for (y, (&a, &b)) in y.iter_mut().zip(a.iter().zip(b)) {
                y.write(a + b);
            }
        });
}

/// `y[i, p] = h[i, p] + t[i]` for the planes `i` (image and channel) of `pixels` values each;
/// every value of `y` is written.
///
/// # Panics
/// If `h` and `y` do not hold `t.len()` planes of `pixels` values.
pub fn add_per_plane_into(h: &[f32], t: &[f32], pixels: usize, y: &mut [MaybeUninit<f32>]) {
    assert!(
        h.len() == t.len() * pixels && y.len() == h.len(),
        "add per plane: {} planes of {pixels} need {} values, got {} and {}",
        t.len(),
        t.len() * pixels,
        h.len(),
        y.len()
    );
    if pixels == 0 {
        return;
    }
    let planes = (CHUNK / pixels).max(1);
    y.par_chunks_mut(planes * pixels)
        .zip(h.par_chunks(planes * pixels).zip(t.par_chunks(planes)))
        .for_each(|(y, (h, t))| {
            for (y, (h, &t)) in y.chunks_mut(pixels).zip(h.chunks(pixels).zip(t)) {
                for (y, &h) in y.iter_mut().zip(h) {
                    y.write(h + t);
                }
            }
        });
}

/// `s[i] = Σ_p g[i, p]` for the planes `i` of `pixels` values each, summed in order within a
/// plane.
///
/// # Panics
/// If `g` does not hold `s.len()` planes of `pixels` values.
pub fn sum_per_plane(g: &[f32], pixels: usize, s: &mut [f32]) {
    assert_eq!(g.len(), s.len() * pixels, "sum per plane: length");
    if pixels == 0 {
        s.fill(0.0);
        return;
    }
    s.par_iter_mut()
        .zip(g.par_chunks(pixels))
        .with_min_len((CHUNK / pixels).max(1))
        .for_each(|(s, g)| *s = g.iter().sum());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(n: usize, f: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
        let mut y = vec![MaybeUninit::new(f32::NAN); n];
        f(&mut y);
        // SAFETY: initialised (to NaN, then by `f`).
        unsafe { y.assume_init_ref() }.to_vec()
    }

    /// Small integers: every sum is exact, so the checks are equalities; sizes around the
    /// task size and odd plane sizes cover the chunk edges.
    #[test]
    fn additions_and_plane_sums_are_the_definitions() {
        for (planes, pixels) in [(1, 1), (3, 7), (5, 4096), (70, 300), (2, 40_000)] {
            let n = planes * pixels;
            let a: Vec<f32> = (0..n).map(|i| (i % 13) as f32 - 6.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
            let t: Vec<f32> = (0..planes).map(|i| i as f32 - 2.0).collect();
            let y = written(n, |y| add_into(&a, &b, y));
            assert!(
                y.iter()
                    .zip(a.iter().zip(&b))
                    .all(|(y, (a, b))| *y == a + b)
            );
            let y = written(n, |y| add_per_plane_into(&a, &t, pixels, y));
            for (i, (y, a)) in y.iter().zip(&a).enumerate() {
                assert_eq!(*y, a + t[i / pixels], "{planes}×{pixels} at {i}");
            }
            let mut s = vec![f32::NAN; planes];
            sum_per_plane(&a, pixels, &mut s);
            for (i, s) in s.iter().enumerate() {
                let want: f32 = a[i * pixels..(i + 1) * pixels].iter().sum();
                assert_eq!(*s, want, "plane {i}");
            }
        }
    }
}
