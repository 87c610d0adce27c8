//! A divergence plugin's section read through the run's layered config: `rectified-flow` (and
//! its `heun` sampler) picked by name, its parameters checked while the section is read. Here
//! rather than in `plugins/rectified-flow`, whose tests may use nothing above `gpfn-core`
//! (docs/architecture.md, "Folders and levels").

use gpfn_data as _;
use gpfn_network as _;
use gpfn_rectified_flow as _;
use gpfn_run::config::{ConfigSources, load};
use gpfn_w2 as _;

fn load_sets(sets: &[&str]) -> gpfn_core::Result<gpfn_run::config::Loaded> {
    load(&ConfigSources {
        file: None,
        env: Vec::new(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn rectified_flow_is_picked_by_name_and_bad_parameters_are_rejected() {
    let loaded = load_sets(&[
        "divergence.name=\"rectified-flow\"",
        "divergence.time_sampling=\"logit-normal\"",
        "sampler.name=\"heun\"",
    ])
    .unwrap();
    assert_eq!(loaded.config.divergence.name(), "rectified-flow");
    // A new sampler name replaces the section: heun's own default, not the deterministic 20.
    assert_eq!(loaded.config.sampler.steps(), 10);
    let err = load_sets(&["divergence.name=\"rectified-flow\"", "divergence.scale=0"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("scale") && err.contains("positive"), "{err}");
    let err = load_sets(&[
        "divergence.name=\"rectified-flow\"",
        "divergence.time_sampling=\"sometimes\"",
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("sometimes"), "{err}");
}
