//! `gpfn plugin new NAME`: writes a divergence plugin crate that builds and passes its tests as
//! generated. The templates are the files of `plugin_template/`.

use crate::cli::PluginNewArgs;
use crate::output::outln;
use gpfn_core::registry::{PluginKind, names};
use gpfn_core::{GpfnError, Result};
use gpfn_run::config::toml_string;
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = include_str!("plugin_template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("plugin_template/lib.rs.tmpl");
const MAIN_RS: &str = include_str!("plugin_template/main.rs.tmpl");
const CONFORMANCE_RS: &str = include_str!("plugin_template/conformance.rs.tmpl");
const TOY_TOML: &str = include_str!("plugin_template/toy.toml.tmpl");
const README_MD: &str = include_str!("plugin_template/README.md.tmpl");

pub fn run(args: &PluginNewArgs) -> Result<()> {
    let name = args.name.as_str();
    validate_name(name)?;
    let gpfn = gpfn_source(args.gpfn.as_deref())?;
    let krate = format!("gpfn-plugin-{name}");
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&krate));
    check_destination(&dir)?;
    let files = render(name, &gpfn);
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| GpfnError::io(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| GpfnError::io(&path, e))?;
    }
    outln!("{}", dir.display())?;
    tracing::info!(
        "wrote crate `{krate}` (divergence `{name}`) in {}; next: `cd {} && cargo test`",
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// The files of the crate, relative to its folder.
pub fn render(name: &str, gpfn: &Path) -> Vec<(String, String)> {
    let krate = format!("gpfn-plugin-{name}");
    let lib = krate.replace('-', "_");
    let ty: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let dep = |sub: &str| toml_string(&gpfn.join(sub).display().to_string());
    let fill = |t: &str| {
        t.replace("{{crate}}", &krate)
            .replace("{{lib}}", &lib)
            .replace("{{type}}", &ty)
            .replace("{{gpfn_core}}", &dep("core"))
            .replace("{{gpfn_cli}}", &dep("cli"))
            .replace("{{name}}", name)
    };
    vec![
        ("Cargo.toml".into(), fill(CARGO_TOML)),
        ("src/lib.rs".into(), fill(LIB_RS)),
        ("src/main.rs".into(), fill(MAIN_RS)),
        ("tests/conformance.rs".into(), fill(CONFORMANCE_RS)),
        (format!("configs/{name}-toy.toml"), fill(TOY_TOML)),
        ("README.md".into(), fill(README_MD)),
        (".gitignore".into(), "/target\n".into()),
    ]
}

/// A config name: lowercase ASCII letters, digits and single inner dashes, starting with a
/// letter, at most 48 characters, and not the name of a divergence already linked in.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |why: &str| {
        Err(GpfnError::Invalid(format!(
            "invalid plugin name `{name}`: {why} (use lowercase letters, digits and dashes, \
             starting with a letter, e.g. `my-divergence`)"
        )))
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > 48 {
        return invalid("it is longer than 48 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("it must start with a lowercase letter");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return invalid(&format!("`{c}` is not allowed"));
    }
    if name.ends_with('-') || name.contains("--") {
        return invalid("dashes must separate words");
    }
    if names(PluginKind::Divergence).contains(&name) {
        return Err(GpfnError::Invalid(format!(
            "invalid plugin name `{name}`: a divergence of that name is already registered \
             (see `gpfn plugins`); pick another"
        )));
    }
    Ok(())
}

/// The gpfn checkout: `--gpfn` if given, else the source tree this binary was built from.
fn gpfn_source(given: Option<&Path>) -> Result<PathBuf> {
    let dir = match given {
        Some(d) => d.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    };
    let looks_right = ["core/Cargo.toml", "cli/Cargo.toml"]
        .iter()
        .all(|f| dir.join(f).is_file());
    if !looks_right {
        return Err(GpfnError::Invalid(format!(
            "`{}` is not a gpfn checkout (no core/ and cli/ crates); pass \
             `--gpfn DIR` (or set GPFN_SOURCE) to the folder holding gpfn's root Cargo.toml",
            dir.display()
        )));
    }
    dir.canonicalize().map_err(|e| GpfnError::io(&dir, e))
}

/// The destination must not exist, or be an empty folder.
fn check_destination(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(GpfnError::Invalid(format!(
            "`{}` exists and is not a folder",
            dir.display()
        )));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| GpfnError::io(dir, e))?;
    if entries.next().is_some() {
        return Err(GpfnError::Invalid(format!(
            "`{}` exists and is not empty; pick a new folder with --path",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for ok in ["mmd", "my-div", "energy2", "a-b-c"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "My", "2d", "a_b", "a--b", "a-", "-a", "ä", "a b"] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains("invalid plugin name"), "{bad}: {e}");
        }
    }

    #[test]
    fn renders_names_into_every_file() {
        let files = render("my-div", Path::new("/src/gpfn"));
        let text: String = files.iter().map(|(_, t)| t.as_str()).collect();
        assert!(!text.contains("{{"), "a placeholder is left");
        assert!(text.contains("pub struct MyDiv"));
        assert!(text.contains("use gpfn_plugin_my_div as _;"));
        assert!(text.contains(r#"gpfn-core = { path = "/src/gpfn/core" }"#));
        // The code names the divergence once, in the `ValueDivergence` impl; core's macro
        // registers it under that name.
        let lib = &files.iter().find(|(p, _)| p == "src/lib.rs").unwrap().1;
        let code: Vec<&str> = lib
            .lines()
            .filter(|l| !l.trim_start().starts_with("//") && l.contains(r#""my-div""#))
            .collect();
        assert_eq!(
            code,
            [r#"    const NAME: &'static str = "my-div";"#],
            "{lib}"
        );
        assert!(lib.contains("gpfn_core::value_divergence!(MyDiv);"));
        assert!(
            !text.contains("fdiv"),
            "the crate does not depend on gpfn-fdiv"
        );
        assert!(files.iter().any(|(p, _)| p == "configs/my-div-toy.toml"));
        assert!(!text.contains("todo!"));
    }
}
