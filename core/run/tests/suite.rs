//! gpfn-run's integration tests, one module per file, linked into one test binary (every test
//! binary links burn, 100–200 MB in a test build; docs/ci.md, "Disk").
//! Run one file's tests with `cargo test -p gpfn-run --test suite config_typing::`.

mod config_typing;
mod plugin_config;
