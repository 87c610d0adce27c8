//! Layered loading with provenance.
//!
//! Each layer is read into a figment [`Dict`]; layers are merged here rather than by figment's
//! own deep merge because a layer that changes a plugin section's `name` must *replace* that
//! section (figment would keep the old plugin's fields). Every leaf remembers the layer it came
//! from, so `gpfn config` can print it and errors can say where a bad value was set.

use super::{Config, DEFAULTS_TOML};
use figment::Figment;
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use gpfn_core::registry::{self, PluginKind};
use gpfn_core::{GpfnError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the configuration comes from, above the built-in defaults.
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    /// `--config FILE`.
    pub file: Option<PathBuf>,
    /// Environment variables (all of them; only `GPFN_*` are read).
    pub env: Vec<(String, String)>,
    /// `--set key=value` flags, in order.
    pub sets: Vec<String>,
}

impl ConfigSources {
    /// Sources with the process environment.
    pub fn with_process_env(file: Option<PathBuf>, sets: Vec<String>) -> Self {
        ConfigSources {
            file,
            env: std::env::vars().collect(),
            sets,
        }
    }
}

/// A resolved configuration and where each value came from.
#[derive(Debug)]
pub struct Loaded {
    /// The typed configuration.
    pub config: Config,
    /// Dotted key → layer that set it (keys absent here are built-in defaults of the types).
    pub provenance: BTreeMap<String, String>,
}

impl Loaded {
    /// The layer a dotted key came from.
    pub fn source_of(&self, key: &str) -> &str {
        let mut k = key;
        loop {
            if let Some(s) = self.provenance.get(k) {
                return s;
            }
            match k.rfind('.') {
                Some(i) => k = &k[..i],
                None => return "default",
            }
        }
    }
}

/// Environment variables that are shorthands rather than `__`-nested keys.
const ENV_ALIASES: &[(&str, &str)] = &[("GPFN_BACKEND", "backend")];

/// `GPFN_*` variables that are not config layers: `GPFN_DATA_DIR` is the fallback folder of
/// file-backed data sets (read by them when `data.dir` is unset), so it never breaks a
/// config whose data set has no folder; `GPFN_LOG` is the log filter of the command line
/// (`GPFN_LOG=debug`); `GPFN_CACHE_DIR` is where `gpfn data fetch` puts downloads.
pub const ENV_RESERVED: &[&str] = &["GPFN_DATA_DIR", "GPFN_LOG", "GPFN_CACHE_DIR"];

/// Loads the configuration from its layers.
pub fn load(sources: &ConfigSources) -> Result<Loaded> {
    let mut merged = Dict::new();
    let mut prov = BTreeMap::new();

    let defaults = parse_toml(DEFAULTS_TOML, Path::new("<built-in defaults>"))?;
    merge(&mut merged, defaults, "default", "", &mut prov);

    if let Some(file) = &sources.file {
        let mut chain = Vec::new();
        read_file_chain(file, &mut chain, 0)?;
        for (path, dict) in chain {
            merge(
                &mut merged,
                dict,
                &format!("file {}", path.display()),
                "",
                &mut prov,
            );
        }
    }

    for (k, v) in &sources.env {
        if ENV_RESERVED.contains(&k.as_str()) {
            continue;
        }
        let key = if let Some((_, alias)) = ENV_ALIASES.iter().find(|(name, _)| name == k) {
            alias.to_string()
        } else if let Some(rest) = k.strip_prefix("GPFN_") {
            rest.to_lowercase()
                .split("__")
                .collect::<Vec<_>>()
                .join(".")
        } else {
            continue;
        };
        if key.split('.').any(str::is_empty) {
            return Err(GpfnError::Config {
                key: key.clone(),
                message: format!(
                    "environment variable {k} does not name a config key (nested keys are \
                     joined by `__`, e.g. GPFN_TRAIN__LR; non-config variables: {})",
                    ENV_RESERVED.join(", ")
                ),
            });
        }
        let dict = nested(&key, parse_value(v));
        merge(&mut merged, dict, &format!("env {k}"), "", &mut prov);
    }

    for set in &sources.sets {
        let (key, value) = set.split_once('=').ok_or_else(|| GpfnError::Config {
            key: set.clone(),
            message: "a --set flag must look like key=value (e.g. --set train.lr=1e-3)".into(),
        })?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(GpfnError::Config {
                key: key.into(),
                message: "empty key segment in --set".into(),
            });
        }
        let dict = nested(key, parse_value(value.trim()));
        merge(&mut merged, dict, &format!("--set {key}"), "", &mut prov);
    }

    check_plugin_names(&merged, &prov)?;

    let config: Config = extract(&merged).map_err(|e| {
        let e = localise(&merged, e);
        figment_error(e, &prov)
    })?;
    let loaded = Loaded {
        config,
        provenance: prov,
    };
    loaded.config.belief_family()?;
    loaded.config.output.validate()?;
    loaded.config.likelihood.validate()?;
    Ok(loaded)
}

/// `s` as a TOML basic string (quoted, `\\` and `"` escaped): the right-hand side of a
/// `--set key=value` whose value must stay a string (a path, a backend name).
pub fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Parses a value the way a TOML right-hand side would read (`3`, `1e-3`, `true`,
/// `[1, 2]`, `"text"`); anything else is a plain string.
pub fn parse_value(text: &str) -> Value {
    let doc = format!("v = {text}");
    match toml::from_str::<Dict>(&doc) {
        Ok(mut d) => d
            .remove("v")
            .unwrap_or_else(|| Value::from(text.to_string())),
        Err(_) => Value::from(text.to_string()),
    }
}

fn parse_toml(text: &str, path: &Path) -> Result<Dict> {
    toml::from_str::<Dict>(text).map_err(|e| GpfnError::ConfigFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads `file` and, first, the files its `extends` key names (relative to it).
fn read_file_chain(file: &Path, chain: &mut Vec<(PathBuf, Dict)>, depth: usize) -> Result<()> {
    if depth > 8 {
        return Err(GpfnError::ConfigFile {
            path: file.to_path_buf(),
            message: "`extends` nests more than 8 files deep (a cycle?)".into(),
        });
    }
    let text = std::fs::read_to_string(file).map_err(|e| GpfnError::ConfigFile {
        path: file.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    let mut dict = parse_toml(&text, file)?;
    if let Some(parent) = dict.remove("extends") {
        let rel = parent.as_str().ok_or_else(|| GpfnError::ConfigFile {
            path: file.to_path_buf(),
            message: "`extends` must be a file name (string)".into(),
        })?;
        let base = file.parent().unwrap_or(Path::new(".")).join(rel);
        read_file_chain(&base, chain, depth + 1)?;
    }
    chain.push((file.to_path_buf(), dict));
    Ok(())
}

fn nested(key: &str, value: Value) -> Dict {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut v = value;
    let mut d = Dict::new();
    d.insert(last.to_string(), v);
    for p in parts.into_iter().rev() {
        v = Value::from(d);
        d = Dict::new();
        d.insert(p.to_string(), v);
    }
    d
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn record_leaves(value: &Value, key: &str, source: &str, prov: &mut BTreeMap<String, String>) {
    match value {
        Value::Dict(_, d) => {
            for (k, v) in d {
                record_leaves(v, &join(key, k), source, prov);
            }
        }
        _ => {
            prov.insert(key.to_string(), source.to_string());
        }
    }
}

fn plugin_name(value: &Value) -> Option<&str> {
    match value {
        Value::Dict(_, d) => d.get("name").and_then(Value::as_str),
        _ => None,
    }
}

/// Merges `top` into `base`; plugin sections whose `name` changes are replaced whole.
fn merge(
    base: &mut Dict,
    top: Dict,
    source: &str,
    prefix: &str,
    prov: &mut BTreeMap<String, String>,
) {
    for (k, v) in top {
        let key = join(prefix, &k);
        let is_plugin_section = prefix.is_empty() && PluginKind::from_section(&k).is_some();
        let replace_section = is_plugin_section
            && match (base.get(&k).and_then(plugin_name), plugin_name(&v)) {
                (Some(old), Some(new)) => old != new,
                (None, Some(_)) => true,
                _ => false,
            };
        match (base.get_mut(&k), v) {
            (Some(Value::Dict(_, bd)), Value::Dict(_, td)) if !replace_section => {
                merge(bd, td, source, &key, prov);
            }
            (_, v) => {
                let dotted = format!("{key}.");
                prov.retain(|p, _| p != &key && !p.starts_with(&dotted));
                record_leaves(&v, &key, source, prov);
                base.insert(k, v);
            }
        }
    }
}

fn check_plugin_names(merged: &Dict, prov: &BTreeMap<String, String>) -> Result<()> {
    for kind in PluginKind::ALL {
        let section = kind.section();
        let Some(value) = merged.get(section) else {
            continue;
        };
        let key = format!("{section}.name");
        let name = match value {
            Value::Dict(_, d) => match d.get("name") {
                Some(Value::String(_, s)) => s.clone(),
                Some(_) => {
                    return Err(GpfnError::Config {
                        key,
                        message: "must be a string naming a plugin".into(),
                    });
                }
                None => {
                    return Err(GpfnError::Config {
                        key,
                        message: format!(
                            "missing; registered {}s: {}",
                            kind.as_str(),
                            registry::names(kind).join(", ")
                        ),
                    });
                }
            },
            _ => {
                return Err(GpfnError::Config {
                    key: section.into(),
                    message: "must be a table with a `name`".into(),
                });
            }
        };
        if registry::find(kind, &name).is_none() {
            let origin = prov.get(&key).map(String::as_str).unwrap_or("default");
            return Err(GpfnError::UnknownPlugin {
                key: format!("{key} (from {origin})"),
                kind: kind.as_str().into(),
                name,
                registered: registry::names(kind).join(", "),
            });
        }
    }
    Ok(())
}

fn extract(merged: &Dict) -> std::result::Result<Config, Box<figment::Error>> {
    Figment::from(Serialized::defaults(merged))
        .extract()
        .map_err(Box::new)
}

/// Plugin sections are deserialised through `typetag`, which buffers the section and so loses
/// the path below it: an error there names only the section. Find the key at fault by
/// removing one key at a time and seeing which removal changes the error.
fn localise(merged: &Dict, e: Box<figment::Error>) -> Box<figment::Error> {
    let [section] = e.path.as_slice() else {
        return e;
    };
    if PluginKind::from_section(section).is_none() {
        return e;
    }
    let Some(Value::Dict(_, fields)) = merged.get(section) else {
        return e;
    };
    let message = e.kind.to_string();
    for key in fields.keys().filter(|k| k.as_str() != "name") {
        let mut trial = merged.clone();
        if let Some(Value::Dict(_, d)) = trial.get_mut(section) {
            d.remove(key);
        }
        let changed = match extract(&trial) {
            Ok(_) => true,
            Err(e2) => e2.kind.to_string() != message,
        };
        if changed {
            let mut e = e;
            e.path.push(key.clone());
            return e;
        }
    }
    e
}

fn figment_error(e: Box<figment::Error>, prov: &BTreeMap<String, String>) -> GpfnError {
    // figment reports the path of the value that failed; name the layer that set it.
    let mut key = e.path.join(".");
    let mut message = e.kind.to_string().replace("``", "`");
    if let figment::error::Kind::UnknownField(field, _) = &e.kind
        && e.path.last() != Some(field)
    {
        key = join(&key, field);
    }
    if let figment::error::Kind::MissingField(field) = &e.kind {
        key = join(&key, field);
        message = "missing required value".into();
    }
    let origin = (0..=key.matches('.').count())
        .rev()
        .find_map(|n| {
            let k: Vec<&str> = key.split('.').take(n + 1).collect();
            prov.get(&k.join("."))
        })
        .cloned();
    if let Some(origin) = origin {
        message = format!("{message} (from {origin})");
    }
    GpfnError::Config { key, message }
}
