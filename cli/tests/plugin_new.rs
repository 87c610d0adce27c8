//! `gpfn plugin new`: the scaffolded crate builds and passes its own tests as generated
//! (offline, against this checkout's path dependencies), and bad names and destinations are
//! refused.
//!
//! The generated crate reuses the workspace's compiled dependencies: it is built with the
//! workspace's target folder (the parent of `CARGO_TARGET_TMPDIR`), the workspace's
//! Cargo.lock, and the workspace's `[profile.*]` settings passed with `cargo --config` (its own
//! manifest keeps a few lines of them, checked to agree below), so only gpfn's own crates and
//! the new one are compiled.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn gpfn(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpfn"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GPFN_")) {
        cmd.env_remove(k);
    }
    cmd.output().expect("gpfn runs")
}

/// gpfn's own crates: the `gpfn-*` entries of the workspace's `[workspace.dependencies]`.
fn gpfn_crates() -> Vec<String> {
    let root: toml::Table = std::fs::read_to_string(workspace().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    root["workspace"]["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .filter(|name| name.starts_with("gpfn-"))
        .cloned()
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn invalid_names_and_non_empty_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    let p = path.to_str().unwrap();
    for bad in ["Mmd", "my_div", "9lives", "kl"] {
        let o = gpfn(&["plugin", "new", bad, "--path", p]);
        assert_eq!(o.status.code(), Some(1), "{bad}");
        assert!(stderr(&o).contains("invalid plugin name"), "{}", stderr(&o));
        assert!(!path.exists());
    }
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("keep"), "").unwrap();
    let o = gpfn(&["plugin", "new", "fresh", "--path", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
}

/// The workspace's `[profile]` table as a crate outside it sees it: gpfn's crates (members
/// there, dependencies here) named with the dev settings they get in the workspace for every
/// key that `"*"` overrides — the dev profile's value where it sets one, Cargo's dev default
/// otherwise — and with their own settings where the workspace names them.
fn workspace_profiles() -> toml::Table {
    let root: toml::Table = std::fs::read_to_string(workspace().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut profiles = root["profile"].as_table().unwrap().clone();
    let dev = profiles["dev"].as_table().unwrap().clone();
    let overridden: Vec<(String, toml::Value)> = dev["package"]["*"]
        .as_table()
        .unwrap()
        .keys()
        .map(|key| {
            let value = dev.get(key).cloned().unwrap_or_else(|| match key.as_str() {
                "debug-assertions" | "overflow-checks" | "debug" => toml::Value::Boolean(true),
                other => panic!("no Cargo dev default known for profile key {other}"),
            });
            (key.clone(), value)
        })
        .collect();
    let packages = profiles["dev"]
        .as_table_mut()
        .unwrap()
        .entry("package")
        .or_insert_with(|| toml::Value::Table(Default::default()))
        .as_table_mut()
        .unwrap();
    for name in gpfn_crates() {
        let mut t: toml::Table = overridden.iter().cloned().collect();
        if let Some(own) = packages.get(&name).and_then(|v| v.as_table()) {
            t.extend(own.clone());
        }
        packages.insert(name, toml::Value::Table(t));
    }
    profiles
}

/// Every `(path, value)` leaf of a TOML table.
fn leaves(table: &toml::Table, path: &str, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let path = format!("{path}.{key}");
        match value.as_table() {
            Some(t) => leaves(t, &path, out),
            None => out.push((path, value.clone())),
        }
    }
}

/// The template keeps a few profile lines only (what a plugin's tests need to be fast), each
/// the workspace's own setting, so that with the workspace's profiles added (`cargo
/// --config`, below) the scaffold builds with exactly the workspace's settings.
#[test]
fn the_templates_few_profile_lines_agree_with_the_workspace() {
    let template: toml::Table = include_str!("../src/commands/plugin_template/Cargo.toml.tmpl")
        .replace("{{gpfn_core}}", "\"\"")
        .replace("{{gpfn_cli}}", "\"\"")
        .parse()
        .unwrap();
    let mut own = Vec::new();
    leaves(template["profile"].as_table().unwrap(), "profile", &mut own);
    assert!(!own.is_empty() && own.len() <= 4, "{own:?}");
    let mut workspace = Vec::new();
    leaves(&workspace_profiles(), "profile", &mut workspace);
    for (path, value) in own {
        assert!(
            workspace.contains(&(path.clone(), value.clone())),
            "the template sets {path} = {value}, the workspace does not"
        );
    }
}

#[test]
fn a_scaffolded_crate_builds_and_passes_its_tests() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let krate = tmp.path().join("scaffold");
    let o = gpfn(&[
        "plugin",
        "new",
        "scaffold-test",
        "--path",
        krate.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "src/main.rs",
        "tests/conformance.rs",
        "configs/scaffold-test-toy.toml",
        "README.md",
    ] {
        assert!(krate.join(f).is_file(), "{f} missing");
    }
    // The workspace's lock file pins every dependency to what is already built, and its cargo
    // settings (if any) give the same compiler flags.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let local = workspace().join(".cargo/config.toml");
    if local.is_file() {
        std::fs::create_dir_all(krate.join(".cargo")).unwrap();
        std::fs::copy(&local, krate.join(".cargo/config.toml")).unwrap();
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let start = std::time::Instant::now();
    // The same features as this build (CI compiles the wgpu backend in), so that burn and
    // the other dependencies are reused rather than rebuilt with other features.
    // The workspace's profiles, on top of the scaffold's own few lines.
    let profiles = tmp.path().join("profiles.toml");
    let mut config = toml::Table::new();
    config.insert("profile".into(), toml::Value::Table(workspace_profiles()));
    std::fs::write(&profiles, toml::to_string(&config).unwrap()).unwrap();
    let config = profiles.to_str().unwrap();
    let mut args = vec!["--config", config, "test", "--offline"];
    if cfg!(feature = "wgpu") {
        args.extend(["--features", "gpfn-cli/wgpu"]);
    }
    let mut nested = Command::new(cargo);
    nested
        .args(&args)
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUST_LOG");
    // Cargo gives this test process CARGO_PKG_NAME, CARGO_MANIFEST_DIR and the like. A build
    // script that declares `rerun-if-env-changed` on one of them (ring does) would see it
    // change between the workspace's build and this one, and rebuild itself and everything
    // above it (gpfn's crates included) here and again in the workspace's next build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_")
            && !matches!(
                k.as_str(),
                "CARGO_HOME" | "CARGO_INCREMENTAL" | "CARGO_TARGET_DIR"
            )
        {
            nested.env_remove(&k);
        }
    }
    let o = nested.output().expect("cargo runs");
    eprintln!(
        "cargo test on the scaffolded crate took {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{out}");
    assert!(out.contains("test conforms ... ok"), "{out}");
    // burn and the other dependencies come from the workspace's build.
    assert!(!out.contains("Compiling burn"), "{out}");
    // And it is formatted as generated.
    let o = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fmt", "--check"])
        .current_dir(&krate)
        .output()
        .expect("cargo fmt runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
