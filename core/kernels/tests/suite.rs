//! gpfn-kernels's integration tests, one module per file, linked into one test binary (docs/ci.md,
//! "Disk"). Run one file's tests with `cargo test -p gpfn-kernels --test suite agreement::`.

mod agreement;
mod overwrite;
