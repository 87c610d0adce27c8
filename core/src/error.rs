//! One error type for the framework: every variant names what is wrong and where.

use std::path::PathBuf;

/// Errors of gpfn. Messages name the file, config key, plugin or tensor shape at fault.
#[derive(Debug, thiserror::Error)]
pub enum GpfnError {
    /// A configuration value is missing, of the wrong type, or unknown.
    #[error("config key `{key}`: {message}")]
    Config { key: String, message: String },

    /// A configuration file could not be read or parsed.
    #[error("config file {path}: {message}")]
    ConfigFile { path: PathBuf, message: String },

    /// A plugin name that no linked crate registered.
    #[error("config key `{key}`: unknown {kind} `{name}`; registered {}: {registered}", plural(.kind))]
    UnknownPlugin {
        key: String,
        kind: String,
        name: String,
        registered: String,
    },

    /// A backend that was not compiled in or cannot start.
    #[error("backend `{backend}`: {message}")]
    Backend { backend: String, message: String },

    /// A data file that is missing or malformed.
    #[error("data file {path}: {message}")]
    Data { path: PathBuf, message: String },

    /// Tensors or vectors of the wrong shape.
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// A value outside its domain (negative std, α ≤ 0, …).
    #[error("invalid input: {0}")]
    Invalid(String),

    /// A run folder or checkpoint problem.
    #[error("run folder {path}: {message}")]
    Run { path: PathBuf, message: String },

    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl GpfnError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        GpfnError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`GpfnError`].
pub type Result<T, E = GpfnError> = std::result::Result<T, E>;

/// The plural of a plugin kind's human name (`belief family` → `belief families`).
fn plural(kind: &str) -> String {
    crate::registry::PluginKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .map_or_else(|| format!("{kind}s"), |k| k.plural().to_string())
}
