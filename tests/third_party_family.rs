//! A belief family from outside `gpfn-core` (issue 34: "a family can come from a third-party
//! crate without touching core"). This file plays the third-party crate: it registers
//!
//! * `standardised-mean`, a diagonal-Gaussian family whose network sees the belief's mean in
//!   units of its standard deviation, `μ/σ` (the prior and the proximal step are the
//!   Gaussian chain's; only the network input differs from `diag-gaussian`);
//! * `kl-family-input`, KL's maths (Bayes' rule, BFN's Bayesian flow) with a flow that returns
//!   the *family's* network input of the flow's belief `N(μ, (1 − γ) I)`,
//!   `μ ~ N(γ x, γ(1 − γ) I)`: a divergence must do this to list a family whose input is not
//!   the mean (`kl` itself returns `μ`, right for `diag-gaussian` only).
//!
//! and shows that the registry resolves and lists the family with this crate's name, that the
//! conformance kit runs on it (and catches a flow that ignores it), and that a config picks it
//! by `[belief] name` and refuses it beside a divergence that does not list it.

use gpfn_core::belief::{BeliefFamily, BeliefState, DiagGaussian, family_by_name};
use gpfn_core::burn::tensor::{Device, Tensor};
use gpfn_core::conformance::{Options, check};
use gpfn_core::divergence::{
    Divergence, DivergenceMaths, Noise, Objective, ProxStep, Proximal, column, sender_step,
};
use gpfn_core::registry::{self, PluginKind};
use gpfn_core::rng::Rng;
use gpfn_core::schedule::Schedule;
use gpfn_kl::{KlDivergence, KlMaths};
use gpfn_network as _;
use gpfn_run::config::{ConfigSources, load};
use serde::{Deserialize, Serialize};

const FAMILY: &str = "standardised-mean";
const DIVERGENCE: &str = "kl-family-input";

gpfn_core::register_plugin!(
    Belief,
    "standardised-mean",
    "test-only: a diagonal Gaussian whose network sees μ/σ"
);

/// The `standardised-mean` family.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StandardisedMean {}

#[typetag::serde(name = "standardised-mean")]
impl BeliefFamily for StandardisedMean {
    fn has_particle(&self) -> bool {
        false
    }

    fn prior(
        &self,
        batch: usize,
        dim: usize,
        device: &Device,
        _rng: &mut Rng,
    ) -> gpfn_core::Result<BeliefState> {
        Ok(BeliefState {
            gaussian: DiagGaussian::standard(batch, dim, device),
            particle: None,
        })
    }

    /// `μ/σ`.
    fn network_input(&self, state: &BeliefState) -> gpfn_core::Result<Tensor<2>> {
        Ok(state.gaussian.mean.clone() / state.gaussian.std.clone())
    }
}

gpfn_core::register_plugin!(
    Divergence,
    "kl-family-input",
    "test-only: KL whose flow is the belief family's network input"
);

/// `kl-family-input`: KL's maths and objective, its flow read through the family.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KlFamilyInput {
    /// Returns KL's `μ` whatever the family (wrong for `standardised-mean`): what the kit
    /// must catch.
    #[serde(skip)]
    ignore_family: bool,
}

impl Proximal<DiagGaussian> for KlFamilyInput {
    fn value(&self, p: &DiagGaussian, q: &DiagGaussian) -> Tensor<1> {
        KlMaths.value(p, q)
    }

    fn prox(
        &self,
        prev: &DiagGaussian,
        y: &Tensor<2>,
        alpha: f64,
    ) -> gpfn_core::Result<DiagGaussian> {
        KlMaths.prox(prev, y, alpha)
    }
}

impl DivergenceMaths for KlFamilyInput {
    fn belief_families(&self) -> &'static [&'static str] {
        &["diag-gaussian", FAMILY]
    }

    fn default_schedule(&self) -> Box<dyn Schedule> {
        KlMaths.default_schedule()
    }

    fn accuracy(&self, step: &ProxStep) -> f64 {
        KlMaths.accuracy(step)
    }

    fn step(
        &self,
        _family: &dyn BeliefFamily,
        state: BeliefState,
        x_hat: &Tensor<2>,
        step: &ProxStep,
        noise: Noise,
        rng: &mut Rng,
    ) -> gpfn_core::Result<BeliefState> {
        sender_step(self, state, x_hat, step, noise, rng)
    }

    /// KL's flow `μ ~ N(γ x, γ(1 − γ) I)` with the chain's `σ = √(1 − γ)` (precision
    /// `1/(1 − γ)` from the standard prior), read by the family.
    fn flow(
        &self,
        family: &dyn BeliefFamily,
        x: &Tensor<2>,
        kappa: &[f64],
        rng: &mut Rng,
    ) -> gpfn_core::Result<Tensor<2>> {
        let mean = KlMaths.flow(family, x, kappa, rng)?;
        if self.ignore_family {
            return Ok(mean);
        }
        let sd: Vec<f64> = kappa.iter().map(|g| (1.0 - g).max(0.0).sqrt()).collect();
        let std = Tensor::ones(x.dims(), &x.device()) * column(&sd, &x.device());
        family.network_input(&BeliefState {
            gaussian: DiagGaussian { mean, std },
            particle: None,
        })
    }
}

#[typetag::serde(name = "kl-family-input")]
impl Divergence for KlFamilyInput {
    fn maths(&self) -> &dyn DivergenceMaths {
        self
    }

    fn objective(&self) -> &dyn Objective {
        self
    }
}

impl Objective for KlFamilyInput {
    fn loss_weight(&self, schedule: &dyn Schedule, t: f64) -> f64 {
        KlDivergence::default().loss_weight(schedule, t)
    }
}

fn load_sets(sets: &[&str]) -> gpfn_core::Result<gpfn_run::config::Loaded> {
    load(&ConfigSources {
        file: None,
        env: Vec::new(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn the_registry_resolves_and_lists_a_family_from_another_crate() {
    let family = family_by_name(FAMILY, "belief.name").unwrap();
    assert_eq!(family.name(), FAMILY);
    assert!(!family.has_particle() && family.categorical().is_none());
    let device = Device::flex();
    let state = BeliefState {
        gaussian: DiagGaussian::from_vecs(&[1.0, -3.0], &[0.5, 2.0], &device),
        particle: None,
    };
    let input = family.network_input(&state).unwrap();
    assert_eq!(
        input.into_data().try_to_vec::<f32>().unwrap(),
        vec![2.0, -1.5]
    );

    assert!(registry::names(PluginKind::Belief).contains(&FAMILY));
    let info = registry::find(PluginKind::Belief, FAMILY).unwrap();
    assert_eq!(info.crate_name, "gpfn-tests");
    assert_eq!(
        registry::find(PluginKind::Belief, "categorical")
            .unwrap()
            .crate_name,
        "gpfn-core"
    );
}

#[test]
fn the_conformance_kit_runs_on_a_family_from_another_crate() {
    let report = check(&KlFamilyInput::default(), &Options::default());
    assert!(report.passed(), "{report}");
    for contract in ["oracle", "special"] {
        let prefix = format!("{contract}/{FAMILY}/");
        assert!(
            report.checks.iter().any(|c| c.name.starts_with(&prefix)),
            "no {prefix} check in:\n{report}"
        );
    }
    // Not vacuous: a flow that hands the network `μ` instead of the family's `μ/σ` fails the
    // oracle contract on this family, and on this family only.
    let report = check(
        &KlFamilyInput {
            ignore_family: true,
        },
        &Options::default(),
    );
    let failures = report.failures();
    assert!(!failures.is_empty(), "{report}");
    assert!(
        failures
            .iter()
            .all(|c| c.name.starts_with(&format!("oracle/{FAMILY}/"))),
        "{report}"
    );
}

#[test]
fn a_config_picks_the_family_by_name_and_refuses_it_beside_a_divergence_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("family.toml");
    std::fs::write(
        &file,
        format!("[divergence]\nname = \"{DIVERGENCE}\"\n\n[belief]\nname = \"{FAMILY}\"\n"),
    )
    .unwrap();
    let loaded = load(&ConfigSources {
        file: Some(file),
        env: Vec::new(),
        sets: Vec::new(),
    })
    .unwrap();
    assert_eq!(loaded.config.divergence.name(), DIVERGENCE);
    assert_eq!(loaded.config.belief_family().unwrap().name(), FAMILY);
    // The resolved config writes the section back and reads it again (a run folder's).
    let toml = loaded.config.to_toml();
    assert!(
        toml.contains(&format!("[belief]\nname = \"{FAMILY}\"")),
        "{toml}"
    );
    let again = gpfn_run::config::Config::from_toml(&toml).unwrap();
    assert_eq!(again.belief_family().unwrap().name(), FAMILY);

    // `kl` does not list it: refused when the config is loaded, naming both.
    let e = load_sets(&["divergence.name=kl", &format!("belief.name={FAMILY}")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("belief.name")
            && e.contains("`kl`")
            && e.contains(&format!("`{FAMILY}`"))
            && e.contains("it supports: diag-gaussian, categorical"),
        "{e}"
    );
}
