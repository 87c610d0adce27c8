//! The C allocator's thresholds, set for tensor-sized blocks.
//!
//! glibc's `malloc` serves blocks above its mmap threshold with fresh `mmap` pages and
//! returns them on `free`, and trims the top of its heap when more than the trim threshold
//! is free. A training step allocates and frees megabyte-sized tensors hundreds of times, so
//! with the defaults most of them come back as new pages: a page fault and a kernel
//! zero-fill per 4 KiB on every allocation. With blocks up to 32 MiB kept in the heap and no
//! trimming below 1 GiB, the main job's training step took 0.25–0.26 s instead of 0.29 s and
//! its sampling ran at 21.4–21.6 instead of 18.1–18.8 images/s (`gpfn --config
//! configs/w2.toml bench --batch 32`, alternated, one shell; docs/benchmarks.md).
//!
//! A user's own `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` wins: then nothing is set.

/// Sets the thresholds (glibc on Linux only; elsewhere nothing).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
            .iter()
            .any(|k| std::env::var_os(k).is_some());
        if !user_set {
            // SAFETY: mallopt only changes the allocator's parameters; it is called before
            // any other thread exists.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        }
    }
}
