//! gpfn-ot's integration tests, one module per file, linked into one test binary (every test
//! binary links burn, 100–200 MB in a test build; docs/ci.md, "Disk").
//! Run one file's tests with `cargo test -p gpfn-ot --test suite ot::`.

mod ot;
mod sinkhorn_f64;
