//! The `wgpu` backend agrees with `flex` (built only with `--features wgpu`).
//!
//! CI runs it on Mesa's software Vulkan (lavapipe), in the one build of the README's test
//! command `cargo test --workspace --features gpfn-cli/wgpu` (`apt-get install -y
//! mesa-vulkan-drivers libvulkan1`). It trains a tiny toy model a few steps on each backend
//! from the same checkpoint and compares losses and samples (`common::matches_flex_on_a_tiny_model`).
#![cfg(feature = "wgpu")]

use crate::common;

#[test]
fn wgpu_matches_flex_on_a_tiny_model() {
    common::matches_flex_on_a_tiny_model(
        "wgpu",
        "install a Vulkan driver, e.g. `apt-get install -y mesa-vulkan-drivers libvulkan1`",
    );
}
