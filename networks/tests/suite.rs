//! gpfn-network's integration tests, one module per file, linked into one test binary (every
//! test binary links burn, ≈ 160 MB in a test build; docs/ci.md, "Disk").

mod conditional;
mod io;
mod pinned_init;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Exclusive use of the device's random number generator, which burn keeps per process: a test
/// that builds a network (parameter initialisation draws from it) holds this guard, so a test
/// that seeds the generator gets the draws that follow its seed.
pub fn generator() -> MutexGuard<'static, ()> {
    static GENERATOR: Mutex<()> = Mutex::new(());
    GENERATOR.lock().unwrap_or_else(PoisonError::into_inner)
}
