//! `gpfn config`.

use super::load_config;
use crate::cli::ConfigArgs;
use crate::output::{out, outln};
use gpfn_core::Result;
use gpfn_run::config::ConfigSources;

pub fn run(sources: &ConfigSources, args: &ConfigArgs) -> Result<()> {
    let loaded = load_config(sources)?;
    let text = loaded.config.to_toml();
    if args.plain {
        out!("{text}")?;
        return Ok(());
    }
    // Annotate each `key = value` line with the layer that set it.
    let mut section = String::new();
    let width = text.lines().map(str::len).max().unwrap_or(0).min(60);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            section = trimmed.trim_matches(|c| c == '[' || c == ']').to_string();
            outln!("{line}")?;
        } else if let Some((k, _)) = trimmed.split_once(" = ") {
            let key = if section.is_empty() {
                k.trim().to_string()
            } else {
                format!("{section}.{}", k.trim())
            };
            outln!("{line:<width$}  # {}", loaded.source_of(&key))?;
        } else {
            outln!("{line}")?;
        }
    }
    Ok(())
}
