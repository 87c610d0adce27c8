//! gpfn-fdiv's integration tests, one module per file, linked into one test binary (every test
//! binary links burn, 100–200 MB in a test build; docs/ci.md, "Disk").
//! Run one file's tests with `cargo test -p gpfn-fdiv --test suite derivatives::`.

mod derivatives;
mod simplex;
mod solver;
mod values;
