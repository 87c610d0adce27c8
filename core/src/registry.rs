//! The plugin registry.
//!
//! Every plugin submits one [`PluginInfo`] with [`register_plugin!`]; its configuration type
//! is registered with `typetag` under the same name, so that `[divergence] name = "w2"`
//! deserialises into the plugin with no central list. Linking a crate registers its plugins.

use std::fmt;

/// What a plugin is: the config section it is picked from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginKind {
    /// A belief family (`[belief]`).
    Belief,
    /// A divergence (`[divergence]`).
    Divergence,
    /// A sampler (`[sampler]`).
    Sampler,
    /// An accuracy/time schedule (`[schedule]`).
    Schedule,
    /// A predictor network (`[network]`).
    Network,
    /// A data set (`[data]`).
    Dataset,
}

impl PluginKind {
    /// All kinds, in the order `gpfn plugins` lists them.
    pub const ALL: [PluginKind; 6] = [
        PluginKind::Belief,
        PluginKind::Divergence,
        PluginKind::Sampler,
        PluginKind::Schedule,
        PluginKind::Network,
        PluginKind::Dataset,
    ];

    /// The config section (top-level key) that selects a plugin of this kind.
    pub fn section(self) -> &'static str {
        match self {
            PluginKind::Belief => "belief",
            PluginKind::Divergence => "divergence",
            PluginKind::Sampler => "sampler",
            PluginKind::Schedule => "schedule",
            PluginKind::Network => "network",
            PluginKind::Dataset => "data",
        }
    }

    /// Human name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Belief => "belief family",
            PluginKind::Divergence => "divergence",
            PluginKind::Sampler => "sampler",
            PluginKind::Schedule => "schedule",
            PluginKind::Network => "network",
            PluginKind::Dataset => "data set",
        }
    }

    /// Human name of the kind, plural (`belief families`, `divergences`).
    pub fn plural(self) -> &'static str {
        match self {
            PluginKind::Belief => "belief families",
            PluginKind::Divergence => "divergences",
            PluginKind::Sampler => "samplers",
            PluginKind::Schedule => "schedules",
            PluginKind::Network => "networks",
            PluginKind::Dataset => "data sets",
        }
    }

    /// The kind whose config section is `section`.
    pub fn from_section(section: &str) -> Option<PluginKind> {
        PluginKind::ALL.into_iter().find(|k| k.section() == section)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registered plugin, as `gpfn plugins` lists it.
#[derive(Debug)]
pub struct PluginInfo {
    /// Kind of plugin.
    pub kind: PluginKind,
    /// Name used in config (`name = "…"`), identical to its `typetag` name.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// The crate that registered it.
    pub crate_name: &'static str,
}

inventory::collect!(PluginInfo);

/// Registers a plugin for `gpfn plugins` and for name validation in config.
///
/// ```text
/// crate::register_plugin!(Divergence, "w2", "½ W2² proximal step (optimal transport)");
/// ```
/// The config type must also carry `#[typetag::serde(name = "w2")]` on its trait impl.
#[macro_export]
macro_rules! register_plugin {
    ($kind:ident, $name:expr, $description:expr) => {
        $crate::inventory::submit! {
            $crate::registry::PluginInfo {
                kind: $crate::registry::PluginKind::$kind,
                name: $name,
                description: $description,
                crate_name: env!("CARGO_PKG_NAME"),
            }
        }
    };
}

/// Every registered plugin, sorted by kind then name.
pub fn plugins() -> Vec<&'static PluginInfo> {
    let mut all: Vec<_> = inventory::iter::<PluginInfo>.into_iter().collect();
    all.sort_by(|a, b| (a.kind, a.name).cmp(&(b.kind, b.name)));
    all
}

/// Names registered for one kind, sorted.
pub fn names(kind: PluginKind) -> Vec<&'static str> {
    plugins()
        .into_iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.name)
        .collect()
}

/// The plugin of `kind` called `name`, if any crate registered it.
pub fn find(kind: PluginKind, name: &str) -> Option<&'static PluginInfo> {
    plugins()
        .into_iter()
        .find(|p| p.kind == kind && p.name == name)
}
