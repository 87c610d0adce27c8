//! The end-to-end trainings, one module per file, linked into one test binary (every test
//! binary links burn and every plugin, ≈ 200 MB in a test build; docs/ci.md, "Disk").
//! Run one file's tests with `cargo test -p gpfn-tests --test suite resume::`.

mod bfn_reference;
mod demonstration;
mod resume;
