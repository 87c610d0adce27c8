//! Layered loading with provenance.
//!
//! Each layer is read into a figment [`Dict`]; layers are merged here rather than by figment's
//! own deep merge because a layer that changes a plugin section's `name` must *replace* that
//! section (figment would keep the old plugin's fields). Every leaf remembers the layer it came
//! from, so `gpfn config` can print it and errors can say where a bad value was set.

use super::{Config, DEFAULTS_TOML};
use figment::Figment;
use figment::error::Kind;
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
    /// The `[workflow.*]` tables, merged over every layer like the rest (`--set
    /// workflow.lfm.blocks=4` works) but not the run's: taken out before the config is typed
    /// and read by the workflow crate named by the sub-table (`[workflow.lfm]`: gpfn-lfm).
    /// `Null` when no layer has one.
    pub workflow: serde_json::Value,
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
    let mut texts = BTreeMap::new();

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
        let source = format!("env {k}");
        let value = layer_value(&key, v);
        remember_text(&mut texts, &key, v, &value, &source);
        merge(&mut merged, nested(&key, value), &source, "", &mut prov);
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
        let source = format!("--set {key}");
        let text = value.trim();
        let value = layer_value(key, text);
        remember_text(&mut texts, key, text, &value, &source);
        merge(&mut merged, nested(key, value), &source, "", &mut prov);
    }

    check_plugin_names(&merged, &prov)?;

    let workflow = match merged.remove("workflow") {
        Some(v) => serde_json::to_value(&v).map_err(|e| GpfnError::Config {
            key: "workflow".into(),
            message: e.to_string(),
        })?,
        None => serde_json::Value::Null,
    };
    let config: Config =
        extract_typed(&mut merged, texts, &mut prov).map_err(|e| figment_error(e, &prov))?;
    let loaded = Loaded {
        config,
        provenance: prov,
        workflow,
    };
    loaded.config.belief_family()?;
    loaded.config.output.validate()?;
    loaded.config.likelihood.validate()?;
    Ok(loaded)
}

/// `s` as a TOML basic string (quoted, `\\` and `"` escaped): the right-hand side of a
/// `--set key=value` that must reach its key exactly, whatever the key's type (a string
/// field takes unquoted text as written anyway, see [`extract_typed`]; quoting also keeps
/// surrounding spaces and a leading `"`).
pub fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Parses a value the way a TOML right-hand side would read (`3`, `1e-3`, `true`,
/// `[1, 2]`, `"text"`); anything else is a plain string. This is only the first guess at a
/// `--set`/`GPFN_*` value's type: the schema decides in the end ([`extract_typed`]).
pub fn parse_value(text: &str) -> Value {
    let doc = format!("v = {text}");
    match toml::from_str::<Dict>(&doc) {
        Ok(mut d) => d
            .remove("v")
            .unwrap_or_else(|| Value::from(text.to_string())),
        Err(_) => Value::from(text.to_string()),
    }
}

/// The value of a `--set`/`GPFN_*` layer for `key`: the TOML reading of `text`, except that a
/// plugin section's `name` is always a string (so `--set divergence.name=2024` is an unknown
/// plugin, not a type error, and picks the section's plugin like any other name).
fn layer_value(key: &str, text: &str) -> Value {
    let value = parse_value(text);
    let is_plugin_name = key.split_once('.').is_some_and(|(section, rest)| {
        rest == "name" && PluginKind::from_section(section).is_some()
    });
    if is_plugin_name && value.as_str().is_none() {
        Value::from(text.to_string())
    } else {
        value
    }
}

/// A `--set`/`GPFN_*` value whose text TOML read as something other than a string (`2024`,
/// `nan`, `true`, `1e3`, `[1, 2]`, a date): kept so that a string field can take it as written.
struct LayerText {
    /// The value as written.
    text: String,
    /// The layer that set it (`--set run.name`, `env GPFN_RUN__NAME`).
    source: String,
}

/// Records the text of the layer that sets `key`, forgetting the texts it overrides (the same
/// key, keys below it, or a key above it that it changes).
fn remember_text(
    texts: &mut BTreeMap<String, LayerText>,
    key: &str,
    text: &str,
    value: &Value,
    source: &str,
) {
    let below = format!("{key}.");
    texts.retain(|k, _| k != key && !k.starts_with(&below) && !key.starts_with(&format!("{k}.")));
    if value.as_str().is_none() {
        texts.insert(
            key.to_string(),
            LayerText {
                text: text.to_string(),
                source: source.to_string(),
            },
        );
    }
}

/// Extracts the configuration, letting the schema type the values of the `--set` and `GPFN_*`
/// layers.
///
/// Those values arrive as text and are first read as TOML right-hand sides ([`parse_value`]):
/// `3` is an integer, `1e-3` and `nan` floats, `true` a boolean. That guess is right for
/// number and boolean fields but wrong for a string field given `2024`, `nan`, `true` or
/// `1e3`. The schema is the deserialisation itself, so no list of string keys is kept: when
/// extraction fails at a key whose value a layer wrote as non-string TOML, that key gets its
/// text as a string and extraction is tried again. If the field refuses the string too with a
/// type error (a number field given `true`), the typed value is put back and the first error
/// (`found bool true, expected f64`) is reported; any other outcome means the field takes
/// strings: the string stands, and a field that checks its string (`backend`, an enum) reports
/// on it. Plugin sections are deserialised by the plugin their `name` picks (through
/// `typetag`), so a plugin's own string fields are found the same way; [`localise`] narrows
/// their errors to the key. Each key is retried at most once, so this ends.
fn extract_typed(
    merged: &mut Dict,
    mut texts: BTreeMap<String, LayerText>,
    prov: &mut BTreeMap<String, String>,
) -> std::result::Result<Config, Box<figment::Error>> {
    let mut result = extract(merged).map_err(|e| localise(merged, e));
    loop {
        let e = match result {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        // A key the schema lacks (or misses) is no question of its value's type.
        if matches!(
            e.kind,
            Kind::UnknownField(..) | Kind::MissingField(..) | Kind::DuplicateField(..)
        ) {
            return Err(e);
        }
        let key = e.path.join(".");
        let Some(layer) = texts.remove(&key) else {
            return Err(e);
        };
        let Some(typed) = replace_at(merged, &key, Value::from(layer.text)) else {
            return Err(e);
        };
        let retry = extract(merged).map_err(|e| localise(merged, e));
        match retry {
            Err(e2) if e2.path == e.path && is_type_error(&e2.kind) => {
                replace_at(merged, &key, typed);
                return Err(e);
            }
            retry => {
                // A value TOML read as a table (a date) left provenance below the key.
                let below = format!("{key}.");
                prov.retain(|p, _| !p.starts_with(&below));
                prov.insert(key, layer.source);
                result = retry;
            }
        }
    }
}

/// Whether an error says the value has the wrong type (`invalid type: found string "x",
/// expected f64`). Plugin sections relay their fields' errors through `typetag`, which turns
/// them into messages: those keep serde's wording.
fn is_type_error(kind: &Kind) -> bool {
    match kind {
        Kind::InvalidType(..) => true,
        Kind::Message(m) => m.starts_with("invalid type:"),
        _ => false,
    }
}

/// The value at the path `key`.
fn get_at<'a>(dict: &'a Dict, key: &[String]) -> Option<&'a Value> {
    let (first, rest) = key.split_first()?;
    let mut value = dict.get(first)?;
    for k in rest {
        match value {
            Value::Dict(_, d) => value = d.get(k)?,
            _ => return None,
        }
    }
    Some(value)
}

/// Puts `value` at dotted `key` where a value is, returning the value it replaces.
fn replace_at(dict: &mut Dict, key: &str, value: Value) -> Option<Value> {
    let mut parts = key.split('.');
    let mut d = dict;
    let mut k = parts.next()?;
    for next in parts {
        match d.get_mut(k)? {
            Value::Dict(_, inner) => d = inner,
            _ => return None,
        }
        k = next;
    }
    let slot = d.get_mut(k)?;
    Some(std::mem::replace(slot, value))
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
                            "missing; registered {}: {}",
                            kind.plural(),
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
/// the path below it: an error there names only the section (or a table inside it). Find the
/// key at fault by removing one key at a time and seeing which removal changes the error,
/// going down into tables until the key is not a table.
fn localise(merged: &Dict, e: Box<figment::Error>) -> Box<figment::Error> {
    let Some(section) = e.path.first() else {
        return e;
    };
    if PluginKind::from_section(section).is_none() {
        return e;
    }
    let mut e = e;
    let message = e.kind.to_string();
    loop {
        let Some(Value::Dict(_, fields)) = get_at(merged, &e.path) else {
            return e;
        };
        let at_section = e.path.len() == 1;
        let culprit = fields
            .keys()
            .filter(|k| !(at_section && k.as_str() == "name"))
            .find(|key| {
                let mut trial = merged.clone();
                if let Some(Value::Dict(_, d)) = get_at_mut(&mut trial, &e.path) {
                    d.remove(key.as_str());
                }
                match extract(&trial) {
                    Ok(_) => true,
                    Err(e2) => e2.kind.to_string() != message,
                }
            })
            .cloned();
        match culprit {
            Some(key) => e.path.push(key),
            None => return e,
        }
    }
}

/// The value at the path `key`, mutably.
fn get_at_mut<'a>(dict: &'a mut Dict, key: &[String]) -> Option<&'a mut Value> {
    let (first, rest) = key.split_first()?;
    let mut value = dict.get_mut(first)?;
    for k in rest {
        match value {
            Value::Dict(_, d) => value = d.get_mut(k)?,
            _ => return None,
        }
    }
    Some(value)
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
