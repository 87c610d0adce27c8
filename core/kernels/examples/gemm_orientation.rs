//! Which orientation of the convolution GEMMs the `gemm` crate runs faster on this machine:
//! the destination contiguous along pixels or along channels (`conv2d.rs` picks by channel
//! count from these numbers). `cargo run --release -p gpfn-kernels --example gemm_orientation`
use std::time::Instant;
fn t(flops: f64, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let s = Instant::now();
    for _ in 0..reps {
        f();
    }
    let e = s.elapsed().as_secs_f64() / reps as f64;
    flops / e / 1e9
}
// dst m×n = lhs m×k · rhs k×n ; lhs layout: lhs_m_contig; rhs: rhs_k_contig
fn g(m: usize, n: usize, k: usize, dst_cm: bool, lhs_mc: bool, rhs_kc: bool) -> impl FnMut() {
    let a = vec![0.5f32; m * k];
    let b = vec![0.5f32; k * n];
    let mut c = vec![0.0f32; m * n];
    move || unsafe {
        let (cs, rs) = if dst_cm {
            (m as isize, 1)
        } else {
            (1, n as isize)
        };
        let (lcs, lrs) = if lhs_mc {
            (m as isize, 1)
        } else {
            (1, k as isize)
        };
        let (rcs, rrs) = if rhs_kc {
            (k as isize, 1)
        } else {
            (1, n as isize)
        };
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            cs,
            rs,
            false,
            a.as_ptr(),
            lcs,
            lrs,
            b.as_ptr(),
            rcs,
            rrs,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}
fn main() {
    // forward: m=q n=o k=K, lhs col [K][q] (m contiguous), rhs W [o][K] (k contiguous)
    println!("forward (q, o, K): dst q-contig | dst o-contig");
    for &(q, o, kk) in &[
        (784, 32, 288),
        (784, 32, 576),
        (588, 64, 288),
        (588, 64, 576),
        (196, 64, 576),
        (588, 64, 1152),
        (539, 128, 576),
        (539, 128, 1152),
        (539, 128, 2304),
        (539, 128, 256),
        (784, 32, 64),
        (588, 64, 128),
    ] {
        let f = 2.0 * (q * o * kk) as f64;
        println!(
            "{q}x{o}x{kk}: {:.0} | {:.0}",
            t(f, 20, g(q, o, kk, true, true, true)),
            t(f, 20, g(q, o, kk, false, true, true))
        );
    }
    // dW: m=K n=o k=q : lhs col [K][q] (k contiguous => lhs_mc=false), rhs dy [o][q] (k contiguous)
    println!("dW (K, o, q): dst K-contig | dst o-contig");
    for &(kk, o, q) in &[
        (288, 32, 784),
        (576, 64, 588),
        (1152, 128, 539),
        (2304, 128, 539),
        (576, 32, 784),
        (256, 128, 539),
    ] {
        let f = 2.0 * (q * o * kk) as f64;
        println!(
            "{kk}x{o}x{q}: {:.0} | {:.0}",
            t(f, 20, g(kk, o, q, true, false, true)),
            t(f, 20, g(kk, o, q, false, false, true))
        );
    }
    // dcol: m=q n=K k=o : lhs dy [o][q] (m contiguous), rhs W [o][K] (n contiguous => rhs_kc=false)
    println!("dcol (q, K, o): dst q-contig | dst K-contig");
    for &(q, kk, o) in &[
        (784, 288, 32),
        (588, 576, 64),
        (539, 1152, 128),
        (539, 2304, 128),
        (784, 576, 32),
    ] {
        let f = 2.0 * (q * o * kk) as f64;
        println!(
            "{q}x{kk}x{o}: {:.0} | {:.0}",
            t(f, 20, g(q, kk, o, true, true, false)),
            t(f, 20, g(q, kk, o, false, true, false))
        );
    }
}
