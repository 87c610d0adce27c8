//! `mmd` against the conformance kit (docs/maths.md, "The conformance kit"): the oracle chain's
//! law matches the (simulated) flow distribution, the step is proximally optimal, and the
//! sampling step is the proximal step.

use gpfn_core::conformance::{Options, check};
use gpfn_plugin_mmd::Mmd;

#[test]
fn mmd_conforms() {
    let mmd = Mmd {
        steps: 6,
        ..Mmd::default()
    };
    // The kit's moment tolerances are five standard errors at any replicate count; 300
    // replicates per data point (instead of the default 2000) keep this test short.
    let options = Options {
        replicates: 300,
        ..Options::default()
    };
    let report = check(&mmd, &options);
    assert!(report.passed(), "mmd fails the conformance kit:\n{report}");
}
