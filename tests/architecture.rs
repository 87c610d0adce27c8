//! The workspace's shape is the one docs/architecture.md draws:
//!
//! * the crate graph (each crate's gpfn `[dependencies]`) equals the `crate-graph` block there;
//! * a divergence plugin reaches no gpfn crate above `gpfn-core` other than `gpfn-ot`,
//!   `gpfn-kernels` and other divergence plugins, and no plotting, image, config-file or
//!   command-line crate, directly or through those;
//! * no crate depends on a crate of a higher level of the `folder-levels` block there (by the
//!   folder it sits in): not in `[dependencies]`, `[dev-dependencies]` or
//!   `[build-dependencies]`, nor by naming it in any of its sources, tests, benches or examples;
//! * every `docs/….md` path that a source, document, config or script cites exists, every
//!   relative link of a Markdown file leads somewhere, and nothing cites the design notes kept
//!   outside the repository (their content is in docs/maths.md and docs/architecture.md);
//! * inside every crate, at every level of the module tree, the modules nested in one module
//!   import each other without a cycle: `use` trees and paths through `crate::`, `self::`,
//!   `super::` or a child module's name, each resolved to the module it names (through
//!   re-exports, `pub use a::Item` and `pub use a::*`, to the module that defines the item), in
//!   inline `mod x { … }` and `mod x;` files alike, outside `#[cfg(test)]` items.
//! * no `.rs` file of a workspace crate silences clippy's `too_many_arguments` lint: a
//!   function with that many inputs names them in structs (a shape, a strided matrix, the
//!   statistics a backward reuses).
//!
//! Read from the manifests and sources, so it needs no build of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn manifest(dir: &Path) -> toml::Table {
    let path = dir.join("Cargo.toml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Member folder of every workspace crate, by package name.
fn members() -> BTreeMap<String, PathBuf> {
    let root = manifest(&workspace());
    root["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let dir = workspace().join(m.as_str().unwrap());
            let name = manifest(&dir)["package"]["name"]
                .as_str()
                .unwrap()
                .to_string();
            (name, dir)
        })
        .collect()
}

/// The `[dependencies]` of the crate in `dir`, split into gpfn crates and the others.
fn dependencies(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let m = manifest(dir);
    let deps = m.get("dependencies").and_then(|d| d.as_table());
    let names = deps.into_iter().flat_map(|t| t.keys().cloned());
    names.partition(|n| n.starts_with("gpfn-"))
}

/// The `crate-graph` block of docs/architecture.md: `crate: dep dep …` per line.
fn documented_graph() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace().join("docs/architecture.md")).unwrap();
    let block = text
        .split("```text crate-graph\n")
        .nth(1)
        .expect("docs/architecture.md has a ```text crate-graph block")
        .split("```")
        .next()
        .unwrap();
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, deps) = l.split_once(':').expect("`crate: deps` lines");
            (
                name.trim().to_string(),
                deps.split_whitespace().map(str::to_string).collect(),
            )
        })
        .collect()
}

#[test]
fn the_crate_graph_is_the_documented_one() {
    let actual: BTreeMap<String, BTreeSet<String>> = members()
        .into_iter()
        .map(|(name, dir)| (name, dependencies(&dir).0))
        .collect();
    let documented = documented_graph();
    for (name, deps) in &actual {
        assert_eq!(
            Some(deps),
            documented.get(name),
            "crate {name}: its Cargo.toml depends on {deps:?}, docs/architecture.md says {:?}",
            documented.get(name)
        );
    }
    let extra: Vec<_> = documented
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    assert!(
        extra.is_empty(),
        "documented crates that do not exist: {extra:?}"
    );
}

#[test]
fn divergence_plugins_stand_on_gpfn_core_alone() {
    let members = members();
    let divergences = [
        "gpfn-kl",
        "gpfn-w2",
        "gpfn-fdiv",
        "gpfn-sinkhorn",
        "gpfn-rectified-flow",
    ];
    let allowed: BTreeSet<&str> = divergences
        .iter()
        .copied()
        .chain(["gpfn-core", "gpfn-ot", "gpfn-kernels"])
        .collect();
    let forbidden_external = [
        "plotters",
        "image",
        "clap",
        "figment",
        "indicatif",
        "ctrlc",
        "ureq",
        "nalgebra",
    ];
    for plugin in divergences {
        // Every gpfn crate the plugin reaches, and every external crate those name directly.
        let mut seen = BTreeSet::new();
        let mut todo = vec![plugin.to_string()];
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let (gpfn, external) = dependencies(&members[&name]);
            assert!(
                allowed.contains(name.as_str()),
                "{plugin} reaches {name}, a crate above gpfn-core"
            );
            for e in &external {
                assert!(
                    !forbidden_external.contains(&e.as_str()),
                    "{plugin} reaches `{e}` through {name}"
                );
            }
            todo.extend(gpfn);
        }
    }
}

/// The `folder-levels` block of docs/architecture.md, bottom level first: each level's name
/// and its folders (relative to the workspace, with `/`).
fn documented_levels() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(workspace().join("docs/architecture.md")).unwrap();
    let block = text
        .split("```text folder-levels\n")
        .nth(1)
        .expect("docs/architecture.md has a ```text folder-levels block")
        .split("```")
        .next()
        .unwrap();
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, folders) = l.split_once(':').expect("`level: folder folder …` lines");
            let folders = folders.split_whitespace().map(str::to_string).collect();
            (name.trim().to_string(), folders)
        })
        .collect()
}

/// The level (index into `levels`) of the crate in folder `dir` (relative to the workspace,
/// with `/`): that of the longest listed folder that is `dir` or holds it.
fn level_of(levels: &[(String, Vec<String>)], dir: &str) -> Option<usize> {
    levels
        .iter()
        .enumerate()
        .flat_map(|(i, (_, folders))| folders.iter().map(move |f| (i, f)))
        .filter(|(_, f)| dir == f.as_str() || dir.starts_with(&format!("{f}/")))
        .max_by_key(|(_, f)| f.len())
        .map(|(i, _)| i)
}

/// Every gpfn crate the manifest in `dir` names, with the sections that name it:
/// `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]` and their
/// `[target.'cfg(…)'.…]` forms.
fn manifest_arrows(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let m = manifest(dir);
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut tables: Vec<(String, &toml::Table)> = kinds
        .iter()
        .filter_map(|k| Some((format!("[{k}]"), m.get(*k)?.as_table()?)))
        .collect();
    for (cfg, t) in m
        .get("target")
        .and_then(|t| t.as_table())
        .into_iter()
        .flatten()
    {
        for k in kinds {
            if let Some(deps) = t.get(k).and_then(|d| d.as_table()) {
                tables.push((format!("[target.'{cfg}'.{k}]"), deps));
            }
        }
    }
    let mut arrows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (section, deps) in tables {
        for name in deps.keys().filter(|n| n.starts_with("gpfn-")) {
            arrows
                .entry(name.clone())
                .or_default()
                .insert(section.clone());
        }
    }
    arrows
}

/// The `.rs` files of the crate in `dir` (its `src/`, `tests/`, `benches/`, `examples/`,
/// `build.rs` and any other), by path relative to the workspace; folders holding a crate of
/// their own (`core/kernels/` inside `core/`) and `target/` are left out.
fn crate_files(dir: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let nested = path != dir && path.join("Cargo.toml").exists();
            if nested || name == "target" || name.starts_with('.') {
                continue;
            }
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(workspace()).unwrap().to_string_lossy();
            found.insert(
                rel.replace('\\', "/"),
                std::fs::read_to_string(&path).unwrap(),
            );
        }
    }
    found
}

/// The gpfn crates that Rust source `text` names (`gpfn_run::backend`, `use gpfn_w2 as _`), as
/// package names; comments and literals name none.
fn named_crates(text: &str, crates: &BTreeSet<String>) -> BTreeSet<String> {
    tokens(text)
        .into_iter()
        .filter_map(|t| match t {
            Token::Ident(w) => Some(w.replace('_', "-")),
            _ => None,
        })
        .filter(|name| crates.contains(name))
        .collect()
}

/// The arrows of a crate that run upwards, one line each: the crate in `dir` (at `level`)
/// reaching a crate of a higher level, named in `manifest` (crate → sections) or in `files`
/// (path → source).
fn upward_arrows(
    levels: &[(String, Vec<String>)],
    level: usize,
    name: &str,
    folder_of: &BTreeMap<String, String>,
    manifest: &BTreeMap<String, BTreeSet<String>>,
    files: &BTreeMap<String, String>,
) -> Vec<String> {
    let crates: BTreeSet<String> = folder_of.keys().cloned().collect();
    let mut arrows: BTreeMap<String, BTreeSet<String>> = manifest.clone();
    for (path, text) in files {
        for to in named_crates(text, &crates) {
            arrows.entry(to).or_default().insert(path.clone());
        }
    }
    let mut up = Vec::new();
    for (to, wheres) in arrows {
        if to == name {
            continue;
        }
        let Some(folder) = folder_of.get(&to) else {
            continue; // a gpfn crate outside the workspace
        };
        let to_level = level_of(levels, folder);
        if to_level.is_none_or(|l| l > level) {
            let above = to_level.map_or("no level".to_string(), |l| levels[l].0.clone());
            up.push(format!(
                "{name} ({}) depends on {to} ({above}, {folder}/) in {}",
                levels[level].0,
                wheres.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    up
}

#[test]
fn no_arrow_runs_up_the_folder_levels() {
    let levels = documented_levels();
    let members = members();
    let root = workspace();
    let folder_of: BTreeMap<String, String> = members
        .iter()
        .map(|(name, dir)| {
            let rel = dir.strip_prefix(&root).unwrap().to_string_lossy();
            (name.clone(), rel.replace('\\', "/"))
        })
        .collect();
    let mut listed = BTreeSet::new();
    for (_, folders) in &levels {
        for f in folders {
            assert!(
                root.join(f).is_dir(),
                "docs/architecture.md's folder-levels names {f}/, which does not exist"
            );
            assert!(listed.insert(f), "folder-levels lists {f}/ twice");
        }
    }
    let mut up = Vec::new();
    for (name, dir) in &members {
        let Some(level) = level_of(&levels, &folder_of[name]) else {
            up.push(format!(
                "{name} ({}/) is in no folder of docs/architecture.md's folder-levels",
                folder_of[name]
            ));
            continue;
        };
        let files = crate_files(dir);
        up.extend(upward_arrows(
            &levels,
            level,
            name,
            &folder_of,
            &manifest_arrows(dir),
            &files,
        ));
    }
    assert!(
        up.is_empty(),
        "arrows up the folder levels:\n{}",
        up.join("\n")
    );
}

#[test]
fn the_level_checker_finds_the_old_upward_arrows() {
    let levels: Vec<(String, Vec<String>)> = [
        ("foundation", "core core/ot"),
        ("plugins", "plugins networks"),
        ("loops", "core/run"),
        ("workflows", "workflows"),
    ]
    .iter()
    .map(|(n, f)| (n.to_string(), f.split(' ').map(str::to_string).collect()))
    .collect();
    assert_eq!(level_of(&levels, "core"), Some(0));
    assert_eq!(level_of(&levels, "core/ot"), Some(0));
    assert_eq!(level_of(&levels, "core/run"), Some(2));
    assert_eq!(level_of(&levels, "plugins/rectified-flow/reflow"), Some(1));
    assert_eq!(level_of(&levels, "workflows/reflow"), Some(3));
    assert_eq!(level_of(&levels, "corex"), None);
    assert_eq!(level_of(&levels, "cli"), None);

    let folder_of: BTreeMap<String, String> = [
        ("gpfn-core", "core"),
        ("gpfn-ot", "core/ot"),
        ("gpfn-run", "core/run"),
        ("gpfn-sinkhorn", "plugins/sinkhorn"),
        ("gpfn-reflow", "plugins/rectified-flow/reflow"),
    ]
    .iter()
    .map(|(n, f)| (n.to_string(), f.to_string()))
    .collect();
    let sections = |pairs: &[(&str, &str)]| -> BTreeMap<String, BTreeSet<String>> {
        pairs
            .iter()
            .map(|(c, s)| (c.to_string(), [s.to_string()].into()))
            .collect()
    };
    // The Sinkhorn bench as it was: a dev-dependency on the run, named in the bench.
    let bench = "use gpfn_core::rng::Rng;\nuse gpfn_ot::Sinkhorn;\nuse gpfn_run::backend;\n\
                 // gpfn_eval in a comment\nconst S: &str = \"gpfn_eval\";\n";
    let files: BTreeMap<String, String> = [(
        "plugins/sinkhorn/benches/sinkhorn.rs".to_string(),
        bench.to_string(),
    )]
    .into();
    let manifest = sections(&[
        ("gpfn-core", "[dependencies]"),
        ("gpfn-ot", "[dependencies]"),
        ("gpfn-run", "[dev-dependencies]"),
    ]);
    let up = upward_arrows(&levels, 1, "gpfn-sinkhorn", &folder_of, &manifest, &files);
    assert_eq!(
        up,
        [
            "gpfn-sinkhorn (plugins) depends on gpfn-run (loops, core/run/) in \
          [dev-dependencies], plugins/sinkhorn/benches/sinkhorn.rs"
        ]
    );
    // Named in a source alone (a doc test's crate, say) is an arrow too.
    let manifest = sections(&[
        ("gpfn-core", "[dependencies]"),
        ("gpfn-ot", "[dependencies]"),
    ]);
    let up = upward_arrows(&levels, 1, "gpfn-sinkhorn", &folder_of, &manifest, &files);
    assert_eq!(up.len(), 1, "{up:?}");
    // Reflow under plugins/: its [dependencies] on the run point up.
    let manifest = sections(&[
        ("gpfn-core", "[dependencies]"),
        ("gpfn-run", "[dependencies]"),
    ]);
    let level = level_of(&levels, &folder_of["gpfn-reflow"]).unwrap();
    let up = upward_arrows(
        &levels,
        level,
        "gpfn-reflow",
        &folder_of,
        &manifest,
        &[].into(),
    );
    assert_eq!(up.len(), 1, "{up:?}");
    // The same crate under workflows/ points down only.
    let mut moved = folder_of.clone();
    moved.insert("gpfn-reflow".into(), "workflows/reflow".into());
    let up = upward_arrows(&levels, 3, "gpfn-reflow", &moved, &manifest, &[].into());
    assert!(up.is_empty(), "{up:?}");
}

/// The repository's text files that may cite documents: Rust, Markdown, TOML, shell, Python
/// and the plugin template's files, by path relative to the workspace (with `/`), outside
/// `target/`, the run and classifier folders and hidden folders.
fn text_files() -> BTreeMap<String, String> {
    let root = workspace();
    let skip = ["target", "runs", "classifiers"];
    let kinds = ["rs", "md", "toml", "sh", "py", "tmpl"];
    let mut found = BTreeMap::new();
    let mut todo = vec![root.clone()];
    while let Some(path) = todo.pop() {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if path == root || !(name.starts_with('.') || skip.contains(&name.as_ref())) {
                todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            }
        } else if path
            .extension()
            .is_some_and(|e| kinds.contains(&e.to_string_lossy().as_ref()))
        {
            let rel = path.strip_prefix(&root).unwrap().to_string_lossy();
            if let Ok(text) = std::fs::read_to_string(&path) {
                found.insert(rel.replace('\\', "/"), text);
            }
        }
    }
    found
}

/// The `docs/….md` paths that `text` cites: `docs/` not preceded by a path character, then
/// path characters up to `.md`.
fn cited_docs(text: &str) -> Vec<String> {
    let path_char = |c: char| c.is_alphanumeric() || "_-./".contains(c);
    let mut cited = Vec::new();
    for (at, _) in text.match_indices("docs/") {
        if text[..at].chars().next_back().is_some_and(path_char) {
            continue;
        }
        let rest = &text[at..];
        let end = rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches('.');
        if path.ends_with(".md") {
            cited.push(path.to_string());
        } else if let Some(i) = path.find(".md") {
            cited.push(path[..i + 3].to_string()); // `docs/maths.md.` or `….md/…`
        }
    }
    cited
}

/// Whether `text` names the design notes kept outside the repository: their file name's stem,
/// in capitals, as a word (`…/<STEM>.md`, `<STEM> §1`).
fn cites_outside_notes(text: &str) -> bool {
    let word = concat!("DES", "IGN");
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn every_cited_doc_exists_and_no_source_cites_notes_outside_the_repository() {
    let root = workspace();
    let files = text_files();
    assert!(
        files.contains_key("docs/maths.md") && files.contains_key("core/src/lib.rs"),
        "the walk missed the docs or the sources: {} files",
        files.len()
    );
    let mut wrong = Vec::new();
    for (path, text) in &files {
        for doc in cited_docs(text) {
            if !root.join(&doc).is_file() {
                wrong.push(format!("{path} cites {doc}, which does not exist"));
            }
        }
        if cites_outside_notes(text) {
            wrong.push(format!(
                "{path} cites the design notes outside the repository; cite docs/maths.md or \
                 docs/architecture.md"
            ));
        }
        // Relative links of the Markdown files: `[text](path)` from the file's folder.
        if path.ends_with(".md") {
            let dir = root.join(path).parent().unwrap().to_path_buf();
            for link in text.split("](").skip(1) {
                let target = link.split([')', ' ', '#']).next().unwrap_or("");
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                if !dir.join(target).exists() {
                    wrong.push(format!("{path} links to {target}, which does not exist"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn doc_citations_are_read_as_written() {
    let text = "see docs/maths.md, \"Sinkhorn\" and (docs/writing-a-plugin.md). Not \
                ../shared/docs/x.md nor mydocs/y.md; docs/maths.md.\n`docs/ci.md`";
    assert_eq!(
        cited_docs(text),
        [
            "docs/maths.md",
            "docs/writing-a-plugin.md",
            "docs/maths.md",
            "docs/ci.md"
        ]
    );
    let word = concat!("DES", "IGN");
    assert!(cites_outside_notes(&format!("(../shared/{word}.md §1)")));
    assert!(cites_outside_notes(&format!("{word} §1's contracts")));
    assert!(!cites_outside_notes(&format!(
        "MY_{word}_CONST {word}S design"
    )));
}

/// Where `files` (path, text) hold an attribute that silences clippy's `too_many_arguments`
/// lint (`#[allow(…)]`, `#![allow(…)]`, `#[expect(…)]`, inside `cfg_attr` or a list of lints
/// too), as `path:line`; a function with that many inputs takes them in named structs instead
/// (a shape, a strided matrix, the statistics a backward reuses).
fn too_many_arguments_allows(files: &BTreeMap<String, String>) -> Vec<String> {
    // Spelt in two halves, so that this file does not hold what it looks for.
    let lint = concat!("too_many", "_arguments");
    files
        .iter()
        .flat_map(|(path, text)| {
            text.lines().enumerate().filter_map(move |(i, line)| {
                let line = line.trim_start();
                let attribute = line.starts_with("#[") || line.starts_with("#![");
                (attribute && line.contains(lint)).then(|| format!("{path}:{}", i + 1))
            })
        })
        .collect()
}

#[test]
fn no_crate_silences_too_many_arguments() {
    let mut files = BTreeMap::new();
    for dir in members().values() {
        files.extend(crate_files(dir));
    }
    let found = too_many_arguments_allows(&files);
    assert!(
        found.is_empty(),
        "clippy's too_many_arguments silenced (bundle the arguments into named structs \
         instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_too_many_arguments_checker_finds_each_form() {
    let lint = concat!("clippy::too_many", "_arguments");
    let text = format!(
        "/// Mentions {lint} in a comment.\n\
         #[allow({lint})]\n\
         fn a() {{}}\n    #[expect(clippy::all, {lint})]\n\
         #![allow({lint})]\n\
         #[cfg_attr(test, allow({lint}))]\n\
         let s = \"#[allow({lint})]\";\n"
    );
    let files = BTreeMap::from([("core/x/src/lib.rs".to_string(), text)]);
    assert_eq!(
        too_many_arguments_allows(&files),
        [
            "core/x/src/lib.rs:2",
            "core/x/src/lib.rs:4",
            "core/x/src/lib.rs:5",
            "core/x/src/lib.rs:6"
        ]
    );
}

/// A token of Rust source, as much as the module graph needs: comments are dropped, and
/// literals and lifetimes stand as [`Token::Literal`] (so that no path is read inside them).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// An identifier or keyword (a raw identifier without its `r#`).
    Ident(String),
    /// `::`.
    PathSep,
    /// A string, character or number literal, or a lifetime.
    Literal,
    /// Any other character.
    Punct(char),
}

/// The tokens of `text`.
fn tokens(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let ident_start = |ch: char| ch == '_' || ch.is_alphabetic();
    let ident_char = |ch: char| ch == '_' || ch.is_alphanumeric();
    // Index after the string whose opening quote is just before `i`.
    let string_end = |mut i: usize| {
        while i < c.len() {
            match c[i] {
                '\\' => i += 2,
                '"' => return i + 1,
                _ => i += 1,
            }
        }
        i
    };
    // Index after the character literal whose opening quote is at `i`, or None for a lifetime.
    let char_end = |i: usize| {
        if c.get(i + 1) == Some(&'\\') {
            let mut j = i + 3;
            while j < c.len() && c[j] != '\'' {
                j += 1;
            }
            Some(j + 1)
        } else if c.get(i + 2) == Some(&'\'') {
            Some(i + 3)
        } else {
            None
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = string_end(i + 1);
            out.push(Token::Literal);
        } else if ch == '\'' {
            i = char_end(i).unwrap_or_else(|| {
                let mut j = i + 1;
                while j < c.len() && ident_char(c[j]) {
                    j += 1;
                }
                j
            });
            out.push(Token::Literal);
        } else if ident_start(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let hashes = c[i..].iter().take_while(|&&h| h == '#').count();
            let after = c.get(i + hashes).copied();
            if matches!(word.as_str(), "r" | "br" | "cr") && after == Some('"') {
                // A raw string: it ends at a quote followed by as many hashes.
                let mut j = i + hashes + 1;
                while j < c.len()
                    && !(c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')))
                {
                    j += 1;
                }
                i = j + 1 + hashes;
                out.push(Token::Literal);
            } else if word == "r" && hashes == 1 && after.is_some_and(ident_start) {
                let start = i + 1;
                i = start;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
                out.push(Token::Ident(c[start..i].iter().collect()));
            } else if matches!(word.as_str(), "b" | "c") && c.get(i) == Some(&'"') {
                i = string_end(i + 1);
                out.push(Token::Literal);
            } else if word == "b" && c.get(i) == Some(&'\'') {
                i = char_end(i).unwrap_or(i + 1);
                out.push(Token::Literal);
            } else {
                out.push(Token::Ident(word));
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            out.push(Token::Literal);
        } else if ch == ':' && next == Some(':') {
            out.push(Token::PathSep);
            i += 2;
        } else {
            out.push(Token::Punct(ch));
            i += 1;
        }
    }
    out
}

/// The index of the bracket that closes the one at `open` (or the last token).
fn closing(toks: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match t {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    toks.len() - 1
}

/// Moves `i` past the item that starts there (the one a `#[cfg(test)]` switches off): its
/// further attributes, then up to its `;` or to the end of its `{…}` body.
fn skip_item(toks: &[Token], i: &mut usize) {
    while toks.get(*i) == Some(&Token::Punct('#')) && toks.get(*i + 1) == Some(&Token::Punct('[')) {
        *i = closing(toks, *i + 1) + 1;
    }
    let word = |j: usize| match toks.get(j) {
        Some(Token::Ident(w)) => w.as_str(),
        _ => "",
    };
    let mut first = *i;
    if word(first) == "pub" {
        first += 1;
        if toks.get(first) == Some(&Token::Punct('(')) {
            first = closing(toks, first) + 1;
        }
    }
    // Items that may hold a `{…}` before the `;` that ends them.
    let ends_at_semicolon = match word(first) {
        "use" | "static" | "type" | "let" => true,
        "const" => !matches!(word(first + 1), "fn" | "unsafe" | "async" | "extern"),
        _ => false,
    };
    let mut depth = 0usize;
    while let Some(t) = toks.get(*i) {
        match t {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(c @ (')' | ']' | '}')) => {
                if depth == 0 {
                    return; // the end of what holds the item
                }
                depth -= 1;
                if *c == '}' && depth == 0 && !ends_at_semicolon {
                    *i += 1;
                    return;
                }
            }
            Token::Punct(';') if depth == 0 => {
                *i += 1;
                return;
            }
            _ => {}
        }
        *i += 1;
    }
}

/// One path of a `use` tree and the name it brings into scope: its last segment or its `as`
/// name, `None` for a glob (`a::*`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Use {
    path: Vec<String>,
    name: Option<String>,
}

/// The paths of the `use` tree that starts at `i` (after the `use`), each with `prefix` before
/// it; a group's `self` names the prefix itself. Moves `i` past the tree.
fn use_tree(toks: &[Token], i: &mut usize, mut path: Vec<String>, found: &mut Vec<Use>) {
    if path.is_empty() && toks.get(*i) == Some(&Token::PathSep) {
        path.push("::".to_string()); // an external crate
        *i += 1;
    }
    loop {
        match toks.get(*i) {
            Some(Token::Ident(name)) => {
                *i += 1;
                let group_self = name == "self" && !path.is_empty();
                if !group_self {
                    path.push(name.clone());
                    if toks.get(*i) == Some(&Token::PathSep) {
                        *i += 1;
                        continue;
                    }
                }
                let mut name = path.last().cloned();
                if toks.get(*i) == Some(&Token::Ident("as".to_string())) {
                    if let Some(Token::Ident(alias)) = toks.get(*i + 1) {
                        name = Some(alias.clone());
                    }
                    *i += 2;
                }
                found.push(Use { path, name });
                return;
            }
            Some(Token::Punct('*')) => {
                *i += 1;
                found.push(Use { path, name: None });
                return;
            }
            Some(Token::Punct('{')) => {
                *i += 1;
                while toks.get(*i).is_some_and(|t| *t != Token::Punct('}')) {
                    let before = *i;
                    use_tree(toks, i, path.clone(), found);
                    if toks.get(*i) == Some(&Token::Punct(',')) {
                        *i += 1;
                    }
                    if *i == before {
                        *i += 1; // not a use tree: step over it
                    }
                }
                *i += 1;
                return;
            }
            _ => return,
        }
    }
}

/// A crate's modules as its sources declare them, each module (its path from the crate root)
/// with its child modules, the paths its own code writes (`use` trees and paths such as
/// `super::a::f`, whatever they name), the names of the items it defines (`fn`, `struct`,
/// `enum`, `union`, `trait`, `type`, `const`, `static`) and its own `use` declarations (what
/// names it gives to items of other modules, re-exports among them), outside its nested
/// modules and `#[cfg(test)]` items.
#[derive(Debug, Default)]
struct Modules {
    children: BTreeMap<Vec<String>, BTreeSet<String>>,
    paths: BTreeMap<Vec<String>, Vec<Vec<String>>>,
    items: BTreeMap<Vec<String>, BTreeSet<String>>,
    uses: BTreeMap<Vec<String>, Vec<Use>>,
}

/// The modules of the crate whose root file is `root`, following its `mod` declarations
/// through `sources` (file paths relative to the crate's `src/`, with `/`).
fn read_modules(sources: &BTreeMap<String, String>, root: &str) -> Modules {
    let mut modules = Modules::default();
    let toks = tokens(&sources[root]);
    read_items(&toks, &mut 0, &[], "", sources, &mut modules);
    modules
}

/// The name of the item that the keyword at `at` defines (`fn f`, `struct S`, `const C`,
/// `static mut S`, …), if it is such a keyword.
fn defined_name(toks: &[Token], at: usize) -> Option<&str> {
    let ident = |j: usize| match toks.get(j) {
        Some(Token::Ident(w)) => Some(w.as_str()),
        _ => None,
    };
    let name = match ident(at)? {
        "fn" | "struct" | "enum" | "union" | "trait" | "type" => ident(at + 1)?,
        "static" if ident(at + 1) == Some("mut") => ident(at + 2)?,
        "static" => ident(at + 1)?,
        // Not `const fn` (its `fn` names it) nor a generic `<const N: usize>`.
        "const" if at == 0 || !matches!(toks[at - 1], Token::Punct('<' | ',')) => {
            ident(at + 1).filter(|n| !matches!(*n, "fn" | "unsafe" | "async" | "extern"))?
        }
        _ => return None,
    };
    (name != "_").then_some(name)
}

/// Reads the items of `module` from `i` to the end of its body (its closing `}` or the end
/// of its file). `dir` is where the files of its `mod x;` children are: `{dir}x.rs` or
/// `{dir}x/mod.rs`.
fn read_items(
    toks: &[Token],
    i: &mut usize,
    module: &[String],
    dir: &str,
    sources: &BTreeMap<String, String>,
    out: &mut Modules,
) {
    out.children.entry(module.to_vec()).or_default();
    out.paths.entry(module.to_vec()).or_default();
    out.items.entry(module.to_vec()).or_default();
    out.uses.entry(module.to_vec()).or_default();
    let ident = |j: usize| match toks.get(j) {
        Some(Token::Ident(w)) => Some(w.as_str()),
        _ => None,
    };
    let mut depth = 0usize;
    while *i < toks.len() {
        let at = *i;
        *i += 1;
        match &toks[at] {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') if depth == 0 => return,
            Token::Punct('}') => depth -= 1,
            Token::Punct('#') => {
                let inner = toks.get(at + 1) == Some(&Token::Punct('!'));
                let open = at + 1 + usize::from(inner);
                if toks.get(open) != Some(&Token::Punct('[')) {
                    continue;
                }
                let close = closing(toks, open);
                let cfg_test = toks[open + 1..close]
                    == [
                        Token::Ident("cfg".to_string()),
                        Token::Punct('('),
                        Token::Ident("test".to_string()),
                        Token::Punct(')'),
                    ];
                if cfg_test && inner {
                    // The whole module is test code: read it into nothing, and forget it.
                    *i = close + 1;
                    read_items(toks, i, module, dir, sources, &mut Modules::default());
                    out.children.remove(module);
                    out.paths.remove(module);
                    out.items.remove(module);
                    out.uses.remove(module);
                    if let Some((name, parent)) = module.split_last() {
                        out.children.get_mut(parent).unwrap().remove(name);
                    }
                    return;
                }
                if cfg_test {
                    *i = close + 1;
                    skip_item(toks, i);
                }
            }
            Token::Ident(w) if w == "mod" => {
                let Some(name) = ident(at + 1) else { continue };
                let child: Vec<String> = module.iter().cloned().chain([name.to_string()]).collect();
                let child_dir = format!("{dir}{name}/");
                match toks.get(at + 2) {
                    Some(Token::Punct(';')) => {
                        out.children
                            .get_mut(module)
                            .unwrap()
                            .insert(name.to_string());
                        let file = [format!("{dir}{name}.rs"), format!("{dir}{name}/mod.rs")]
                            .into_iter()
                            .find(|f| sources.contains_key(f))
                            .unwrap_or_else(|| panic!("`mod {name};` in {dir}: no file"));
                        let child_toks = tokens(&sources[&file]);
                        read_items(&child_toks, &mut 0, &child, &child_dir, sources, out);
                        *i = at + 3;
                    }
                    Some(Token::Punct('{')) => {
                        out.children
                            .get_mut(module)
                            .unwrap()
                            .insert(name.to_string());
                        *i = at + 3;
                        read_items(toks, i, &child, &child_dir, sources, out);
                    }
                    _ => {}
                }
            }
            Token::Ident(w) if w == "use" => {
                let mut found = Vec::new();
                use_tree(toks, i, Vec::new(), &mut found);
                let paths = found.iter().map(|u| u.path.clone());
                out.paths.get_mut(module).unwrap().extend(paths);
                if depth == 0 {
                    // A declaration of the module (not one inside a function's body).
                    out.uses.get_mut(module).unwrap().extend(found);
                }
            }
            // `pub(in path)` limits who sees an item; it imports nothing.
            Token::Ident(w) if w == "pub" && toks.get(at + 1) == Some(&Token::Punct('(')) => {
                *i = closing(toks, at + 1) + 1;
            }
            Token::Ident(first) => {
                if depth == 0
                    && let Some(name) = defined_name(toks, at)
                {
                    out.items.get_mut(module).unwrap().insert(name.to_string());
                }
                let inside = at > 0
                    && matches!(
                        toks[at - 1],
                        Token::PathSep | Token::Punct('$') | Token::Punct('.')
                    );
                if inside || toks.get(at + 1) != Some(&Token::PathSep) {
                    continue;
                }
                let mut path = vec![first.clone()];
                while toks.get(*i) == Some(&Token::PathSep)
                    && let Some(segment) = ident(*i + 1)
                {
                    path.push(segment.to_string());
                    *i += 2;
                }
                out.paths.get_mut(module).unwrap().push(path);
            }
            _ => {}
        }
    }
}

/// The module that `path`, written in `module`, names: the deepest module along it, from the
/// crate root (`crate::`), `module` itself (`self::`, or a path that starts with one of its
/// children), or an ancestor (`super::`), and where it names an item that a module has from
/// a `use` (a re-export such as `pub use a::b::Item` or `pub use a::*`, followed from module
/// to module), the module that defines the item; `None` for other crates and for names in
/// scope.
fn resolve(modules: &Modules, module: &[String], path: &[String]) -> Option<Vec<String>> {
    follow(modules, module, path, &mut BTreeSet::new()).map(|(at, _)| at)
}

/// Where a path leads: a module, and whether the path names that module itself (`true`) or an
/// item in it (`false`).
type Place = (Vec<String>, bool);

/// Where `path`, written in `module`, leads (see [`resolve`]); `seen` holds the names already
/// looked up, so that modules that glob-import each other end the search.
fn follow(
    modules: &Modules,
    module: &[String],
    path: &[String],
    seen: &mut BTreeSet<(Vec<String>, String)>,
) -> Option<Place> {
    let has_child =
        |m: &[String], name: &str| modules.children.get(m).is_some_and(|c| c.contains(name));
    let (mut at, rest) = match path.first()?.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (module.to_vec(), &path[1..]),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let depth = module.len().checked_sub(ups)?;
            (module[..depth].to_vec(), &path[ups..])
        }
        name if has_child(module, name) => (module.to_vec(), path),
        _ => return None,
    };
    for segment in rest {
        match lookup(modules, &at, segment, seen) {
            Some((next, true)) => at = next,
            Some(item) => return Some(item),
            None => return Some((at, false)),
        }
    }
    Some((at, true))
}

/// Where `name`, looked up in `module`, leads: to a child module; to `module` itself for an
/// item it defines; through a `use` of `module` that brings `name` into scope, or a glob `use`
/// of a module that has `name`, to where that leads. `None` where the sources show no such
/// name in `module` (or its `use` leads out of the crate).
fn lookup(
    modules: &Modules,
    module: &[String],
    name: &str,
    seen: &mut BTreeSet<(Vec<String>, String)>,
) -> Option<Place> {
    if modules
        .children
        .get(module)
        .is_some_and(|c| c.contains(name))
    {
        let child = module.iter().cloned().chain([name.to_string()]).collect();
        return Some((child, true));
    }
    if modules.items.get(module).is_some_and(|i| i.contains(name)) {
        return Some((module.to_vec(), false));
    }
    if !seen.insert((module.to_vec(), name.to_string())) {
        return None;
    }
    let uses = modules
        .uses
        .get(module)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut named = uses
        .iter()
        .filter(|u| u.name.as_deref() == Some(name))
        .peekable();
    if named.peek().is_some() {
        return named.find_map(|u| follow(modules, module, &u.path, seen));
    }
    for glob in uses.iter().filter(|u| u.name.is_none()) {
        if let Some((from, true)) = follow(modules, module, &glob.path, seen)
            && from != module
            && let Some(place) = lookup(modules, &from, name, seen)
        {
            return Some(place);
        }
    }
    None
}

/// Every module with the other modules its own code names.
fn import_graph(modules: &Modules) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    modules
        .paths
        .iter()
        .map(|(module, paths)| {
            let named = paths
                .iter()
                .filter_map(|p| resolve(modules, module, p))
                .filter(|m| m != module)
                .collect();
            (module.clone(), named)
        })
        .collect()
}

/// `module` as written in a path from the crate root.
fn display(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

/// A cycle among the children of some module of `modules`, as `"parent: a → b → a"`. Child
/// `a` imports its sibling `b` when code anywhere inside `a` (`a` or a module nested in it)
/// names a module anywhere inside `b`; so each level of the module tree is checked, and a
/// cycle that runs through nested modules shows at the level where its modules branch apart.
///
/// A module and the modules nested in it may name each other (a parent re-exports its
/// children's items and they use the parent's), and a path counts for the module that
/// defines what it names: `super::X`, where the parent has `X` from `pub use b::X`, names the
/// sibling `b`.
fn module_cycle(modules: &Modules) -> Option<String> {
    let graph = import_graph(modules);
    // The child of `parent` that `m` is or lies in.
    let child_of = |parent: &[String], m: &[String]| {
        (m.len() > parent.len() && m.starts_with(parent)).then(|| m[parent.len()].clone())
    };
    for (parent, children) in &modules.children {
        let mut level: BTreeMap<String, BTreeSet<String>> = children
            .iter()
            .map(|c| (c.clone(), BTreeSet::new()))
            .collect();
        for (from, named) in &graph {
            let Some(a) = child_of(parent, from) else {
                continue;
            };
            for to in named {
                if let Some(b) = child_of(parent, to)
                    && a != b
                {
                    level.get_mut(&a).unwrap().insert(b);
                }
            }
        }
        if let Some(cycle) = find_cycle(&level) {
            return Some(format!("{}: {}", display(parent), cycle.join(" → ")));
        }
    }
    None
}

/// The `.rs` files under `src`, by path relative to it (with `/`).
fn sources(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut todo = vec![src.to_path_buf()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src).unwrap();
            let rel: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
            found.insert(rel.join("/"), std::fs::read_to_string(&path).unwrap());
        }
    }
    found
}

/// A cycle of `graph`, if it has one (depth-first search with colours).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(v.to_string(), 1);
        path.push(v.to_string());
        for w in graph.get(v).into_iter().flatten() {
            if !graph.contains_key(w) {
                continue; // a re-export or item of the crate root, not a module
            }
            match state.get(w.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|p| p == w).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(w.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(w, graph, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(v.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in graph.keys() {
        if state.get(v).copied().unwrap_or(0) == 0
            && let Some(c) = visit(v, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let mut checked = 0;
    for (name, dir) in members() {
        let src = dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let sources = sources(&src);
        for root in ["lib.rs", "main.rs"] {
            if !sources.contains_key(root) {
                continue;
            }
            let modules = read_modules(&sources, root);
            if let Some(cycle) = module_cycle(&modules) {
                panic!("{name} (src/{root}): modules import each other in a cycle, in {cycle}");
            }
            if name == "gpfn-kernels" && root == "lib.rs" {
                // The reading reaches nested modules and their `super::` paths.
                let graph = import_graph(&modules);
                let rows = module_path("host::conv2d_rows");
                assert!(
                    graph[&rows].contains(&module_path("host::conv2d_common")),
                    "gpfn-kernels: host::conv2d_rows names {:?}",
                    graph[&rows]
                );
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 15,
        "only {checked} crates with a src/ folder were found"
    );
}

/// `"a::b"` as a module path.
fn module_path(path: &str) -> Vec<String> {
    path.split("::").map(str::to_string).collect()
}

/// The modules of a crate whose sources are `files` (path relative to `src/`, text), from
/// `lib.rs`.
fn read_fixture(files: &[(&str, &str)]) -> Modules {
    let sources = files
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect();
    read_modules(&sources, "lib.rs")
}

#[test]
fn the_checker_finds_a_cycle_through_super_paths() {
    // The shape gpfn-kernels' convolution had: `conv2d` picks the path and calls the other two
    // through `super::`, and they import the plan, the GEMM and the scratch back from it.
    let host = "pub mod conv2d;\nmod conv2d_rows;\npub mod conv2d_winograd;\npub mod transpose;\n\
                pub use conv2d::{Conv2dShape, conv2d_forward};\n";
    let conv2d = "use super::transpose::{transpose, transpose_into};\n\
                  pub struct Conv2dShape;\n\
                  pub(super) struct Plan;\n\
                  pub fn conv2d_forward(s: &Conv2dShape) {\n\
                      if super::conv2d_winograd::takes(s) {\n\
                          return super::conv2d_winograd::forward(s);\n\
                      }\n\
                      if super::conv2d_rows::takes(s) {\n\
                          return super::conv2d_rows::forward(s);\n\
                      }\n\
                  }\n";
    let rows = "use super::conv2d::{Conv2dShape, Plan, SharedMut, sgemm, with_scratch};\n\
                use super::transpose::transpose_into;\n\
                pub(super) fn forward(s: &Conv2dShape) {\n\
                    if super::conv2d_winograd::takes(s) {\n\
                        super::conv2d_winograd::forward(s);\n\
                    }\n\
                }\n";
    let winograd = "use super::conv2d::{Conv2dShape, Plan, SharedMut, sgemm, with_scratch};\n\
                    use super::transpose::{transpose, transpose_into};\n\
                    use crate::fast_math::{Kernel, dispatch};\n\
                    #[cfg(test)]\nmod tests {\n    use super::*;\n}\n";
    let old = [
        ("lib.rs", "pub mod fast_math;\npub mod host;\n"),
        ("fast_math.rs", "pub struct Kernel;\n"),
        ("host/mod.rs", host),
        ("host/transpose.rs", "pub fn transpose() {}\n"),
        ("host/conv2d.rs", conv2d),
        ("host/conv2d_rows.rs", rows),
        ("host/conv2d_winograd.rs", winograd),
    ];
    let modules = read_fixture(&old);
    assert_eq!(
        module_cycle(&modules).as_deref(),
        Some("host: conv2d → conv2d_rows → conv2d")
    );

    // The shared pieces in a module of their own, which all three import.
    let common = "pub struct Conv2dShape;\npub(super) struct Plan;\n";
    let host_new = host.replace("mod conv2d_rows;", "mod conv2d_common;\nmod conv2d_rows;");
    let conv2d_new = conv2d.replace(
        "pub struct Conv2dShape;\npub(super) struct Plan;\n",
        "pub use super::conv2d_common::Conv2dShape;\nuse super::conv2d_common::Plan;\n",
    );
    let new = [
        ("lib.rs", "pub mod fast_math;\npub mod host;\n"),
        ("fast_math.rs", "pub struct Kernel;\n"),
        ("host/mod.rs", host_new.as_str()),
        ("host/transpose.rs", "pub fn transpose() {}\n"),
        ("host/conv2d_common.rs", common),
        ("host/conv2d.rs", conv2d_new.as_str()),
        (
            "host/conv2d_rows.rs",
            &rows.replace("conv2d::", "conv2d_common::"),
        ),
        (
            "host/conv2d_winograd.rs",
            &winograd.replace("conv2d::", "conv2d_common::"),
        ),
    ];
    let modules = read_fixture(&new);
    assert_eq!(module_cycle(&modules), None);
    let graph = import_graph(&modules);
    let named: Vec<String> = graph[&module_path("host::conv2d_winograd")]
        .iter()
        .map(|m| display(m))
        .collect();
    assert_eq!(
        named,
        ["fast_math", "host::conv2d_common", "host::transpose"]
    );
}

#[test]
fn the_checker_follows_re_exports_to_the_module_that_defines_the_item() {
    // The shape gpfn-eval had: the crate root re-exports `Against` from `run_eval`, `report`
    // names it as `super::Against`, and `run_eval` imports the report back.
    let lib = "mod report;\nmod run_eval;\n\
               pub use report::{EvalReport, report_path};\n\
               pub use run_eval::Against;\n\
               pub trait FeatureMetric {}\n";
    let report = "pub struct EvalReport {\n    pub against: super::Against,\n}\n\
                  pub fn report_path() {}\n";
    let run_eval = "use super::report::{EvalReport, report_path};\n\
                    #[derive(Clone, Copy)]\n\
                    pub enum Against {\n    Test,\n    Holdout,\n}\n";
    let modules = read_fixture(&[
        ("lib.rs", lib),
        ("report.rs", report),
        ("run_eval.rs", run_eval),
    ]);
    assert_eq!(
        module_cycle(&modules).as_deref(),
        Some("crate: report → run_eval → report")
    );
    assert_eq!(
        resolve(
            &modules,
            &module_path("report"),
            &module_path("super::Against::Test")
        ),
        Some(module_path("run_eval"))
    );

    // The same through a glob, an `as` name and a module in between: the root has everything
    // of `prelude`, which has `run_eval`'s `Against` as `Reference`.
    let lib_glob = "mod prelude;\nmod report;\nmod run_eval;\npub use prelude::*;\n";
    let prelude = "pub use crate::run_eval::Against as Reference;\n\
                   pub use super::report::*;\n";
    let report_ref = report.replace("super::Against", "super::Reference");
    let modules = read_fixture(&[
        ("lib.rs", lib_glob),
        ("prelude.rs", prelude),
        ("report.rs", &report_ref),
        ("run_eval.rs", run_eval),
    ]);
    assert_eq!(
        module_cycle(&modules).as_deref(),
        Some("crate: report → run_eval → report")
    );
    assert_eq!(
        import_graph(&modules)[&module_path("report")],
        [module_path("run_eval")].into()
    );

    // `Against` in a module of its own, which both import: no cycle, whichever path names it.
    let lib_new = "mod against;\nmod report;\nmod run_eval;\n\
                   pub use against::Against;\n\
                   pub use report::{EvalReport, report_path};\n\
                   pub use run_eval::*;\n\
                   pub trait FeatureMetric {}\n";
    let against = "pub enum Against {\n    Test,\n    Holdout,\n}\n";
    let run_eval_new = "use super::report::{EvalReport, report_path};\n\
                        use super::Against;\n\
                        pub struct Evaluator(Box<dyn super::FeatureMetric>);\n";
    let modules = read_fixture(&[
        ("lib.rs", lib_new),
        ("against.rs", against),
        ("report.rs", report),
        ("run_eval.rs", run_eval_new),
    ]);
    assert_eq!(module_cycle(&modules), None);
    let graph = import_graph(&modules);
    assert_eq!(
        graph[&module_path("report")],
        [module_path("against")].into()
    );
    assert_eq!(
        graph[&module_path("run_eval")],
        [Vec::new(), module_path("against"), module_path("report")].into()
    );
    // An item the root defines itself is not looked for in its glob imports.
    assert_eq!(
        resolve(
            &modules,
            &module_path("run_eval"),
            &module_path("super::FeatureMetric")
        ),
        Some(Vec::new())
    );

    // Modules that glob-import each other end the search.
    let lib_loop = "mod a;\npub use a::*;\n";
    let a = "use super::*;\npub fn f() {}\n";
    let modules = read_fixture(&[("lib.rs", lib_loop), ("a.rs", a)]);
    assert_eq!(
        resolve(&modules, &module_path("a"), &module_path("super::g")),
        Some(Vec::new())
    );
    assert_eq!(
        resolve(&modules, &module_path("a"), &module_path("super::f")),
        Some(module_path("a"))
    );
}

#[test]
fn the_checker_follows_self_paths_inline_modules_and_nested_files() {
    let lib = "//! crate::b::f in a comment names nothing\n\
               mod a;\n\
               mod b {\n\
                   pub fn f() {\n\
                       self::inner::g();\n\
                   }\n\
                   mod inner {\n\
                       pub fn g() {\n\
                           let _ = \"crate::a::h\";\n\
                           crate::a::h();\n\
                       }\n\
                   }\n\
               }\n";
    let a = "mod c;\nmod d;\n\
             pub fn h() {}\n\
             #[cfg(test)]\n\
             mod tests {\n\
                 use crate::b::*;\n\
             }\n";
    let c = "use super::d::X;\npub struct Y;\n";
    let d = "pub struct X;\n";
    let modules = read_fixture(&[
        ("lib.rs", lib),
        ("a/mod.rs", a),
        ("a/c.rs", c),
        ("a/d.rs", d),
    ]);
    assert_eq!(module_cycle(&modules), None);
    let graph = import_graph(&modules);
    assert_eq!(graph[&module_path("b")], [module_path("b::inner")].into());
    assert_eq!(graph[&module_path("b::inner")], [module_path("a")].into());
    assert_eq!(graph[&module_path("a::c")], [module_path("a::d")].into());
    assert!(!graph.contains_key(&module_path("a::tests")));

    // `a` calls back into `b`, whose nested module calls `a`: a cycle at the crate's level.
    let a_back = a.replace(
        "pub fn h() {}",
        "pub fn h() {\n    let _ = r#\"x\"#;\n    super::b::f()\n}",
    );
    let modules = read_fixture(&[
        ("lib.rs", lib),
        ("a/mod.rs", &a_back),
        ("a/c.rs", c),
        ("a/d.rs", d),
    ]);
    assert_eq!(module_cycle(&modules).as_deref(), Some("crate: a → b → a"));

    // Two files in a sub-folder that import each other: a cycle one level down.
    let d_back = "pub struct X;\nfn f() {\n    let _ = super::c::Y;\n}\n";
    let modules = read_fixture(&[
        ("lib.rs", lib),
        ("a/mod.rs", a),
        ("a/c.rs", c),
        ("a/d.rs", d_back),
    ]);
    assert_eq!(module_cycle(&modules).as_deref(), Some("a: c → d → c"));
}

#[test]
fn comments_literals_and_lifetimes_hold_no_path() {
    let text = "/* crate::a /* nested */ super::b */ // self::c\n\
                let s = \"super::d \\\" crate::e\";\n\
                let r = r#\"crate::f \" super::g\"#;\n\
                let q = br##\"crate::h\"##;\n\
                let c = ['\"', '\\'', b'\\'', 'x'];\n\
                fn f<'a>(x: &'a u8) -> &'static u8 { x }\n\
                r#type crate::i";
    let idents: Vec<String> = tokens(text)
        .into_iter()
        .filter_map(|t| match t {
            Token::Ident(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(
        idents,
        [
            "let", "s", "let", "r", "let", "q", "let", "c", "fn", "f", "x", "u8", "u8", "x",
            "type", "crate", "i"
        ]
    );
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a", "d"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    let cycle = find_cycle(&graph).expect("a → b → c → a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    let mut acyclic = graph.clone();
    acyclic.get_mut("c").unwrap().remove("a");
    assert_eq!(find_cycle(&acyclic), None);
}

/// Crates allowed more than one test binary, with how many: each binary links burn and every
/// plugin it reaches (100–230 MB in a test build), so a crate's integration tests are modules
/// of one `tests/suite.rs` (docs/ci.md, "Disk"), except where a second binary is the point.
const SEVERAL_TEST_BINARIES: &[(&str, usize)] = &[
    // suite + cuda_smoke (scripts/gpu-check.sh builds it alone, in release).
    ("gpfn-cli", 2),
    // suite + the two repository checks (no burn) + third_party_family (registers plugins
    // that every other test in its binary would see).
    ("gpfn-tests", 4),
    // The worked example keeps the layout docs/writing-a-plugin.md shows a plugin author.
    ("gpfn-plugin-mmd", 3),
];

/// Whether `text` (Rust source) holds a test: `#[test]` outside comments.
fn has_test(text: &str) -> bool {
    text.lines()
        .any(|l| !l.trim_start().starts_with("//") && l.contains("#[test]"))
}

/// A target table's `test` key (Cargo's default: `true`).
fn tested(target: Option<&toml::Value>) -> bool {
    target
        .and_then(|t| t.get("test"))
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

/// What is wrong with the test targets of the crate in `dir` named `name`, one line each:
/// a library or binary whose unit-test harness is built without a test in it (or whose tests
/// are switched off), more test binaries than [`SEVERAL_TEST_BINARIES`] allows, and a file
/// of `tests/` that no test binary compiles (with `autotests = false`, Cargo would skip it
/// silently).
fn test_target_faults(name: &str, dir: &Path) -> Vec<String> {
    let m = manifest(dir);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut faults = Vec::new();

    // Binaries: the file at each `[[bin]]` path, or src/main.rs.
    let bins: Vec<&toml::Value> = m
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut bin_files = BTreeSet::new();
    for bin in &bins {
        let path = bin
            .get("path")
            .and_then(|p| p.as_str())
            .unwrap_or("src/main.rs");
        bin_files.insert(dir.join(path));
        if has_test(&read(&dir.join(path))) != tested(Some(bin)) {
            faults.push(format!(
                "{name}: binary {path} has {} unit tests but `test = {}`",
                if has_test(&read(&dir.join(path))) {
                    ""
                } else {
                    "no"
                },
                tested(Some(bin))
            ));
        }
    }
    // The library: every other file of src/.
    if dir.join("src/lib.rs").exists() {
        let mut todo = vec![dir.join("src")];
        let mut lib_tests = false;
        while let Some(path) = todo.pop() {
            if path.is_dir() {
                todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if path.extension().is_some_and(|e| e == "rs") && !bin_files.contains(&path) {
                lib_tests |= has_test(&read(&path));
            }
        }
        if lib_tests != tested(m.get("lib")) {
            faults.push(format!(
                "{name}: the library has {} unit tests but `[lib] test = {}`",
                if lib_tests { "" } else { "no" },
                tested(m.get("lib"))
            ));
        }
    }

    // Integration test binaries: the `[[test]]` targets, or what Cargo finds in tests/.
    let tests_dir = dir.join("tests");
    let top: Vec<PathBuf> = std::fs::read_dir(&tests_dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let auto = m["package"]
        .get("autotests")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let roots: Vec<PathBuf> = if auto {
        top.iter()
            .filter_map(|p| match p.extension() {
                Some(e) if e == "rs" => Some(p.clone()),
                _ if p.join("main.rs").exists() => Some(p.join("main.rs")),
                _ => None,
            })
            .collect()
    } else {
        m.get("test")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .map(|t| dir.join(t["path"].as_str().unwrap()))
            .collect()
    };
    let allowed = SEVERAL_TEST_BINARIES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(1, |(_, k)| *k);
    if roots.len() > allowed {
        faults.push(format!(
            "{name}: {} test binaries, {allowed} allowed (make the files modules of \
             tests/suite.rs)",
            roots.len()
        ));
    }
    // Every file or module folder at the top of tests/ is a root or a module a root names.
    let declared: BTreeSet<String> = roots
        .iter()
        .flat_map(|root| {
            read(root)
                .lines()
                .filter_map(|l| {
                    let l = l
                        .trim_start()
                        .strip_prefix("pub ")
                        .unwrap_or(l.trim_start());
                    l.strip_prefix("mod ")?
                        .strip_suffix(';')
                        .map(|m| m.trim().to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for p in &top {
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        let module = p.extension().is_some_and(|e| e == "rs") || p.join("mod.rs").exists();
        if module && !roots.contains(p) && !declared.contains(&stem) {
            faults.push(format!(
                "{name}: {} is in no test binary",
                p.strip_prefix(workspace()).unwrap_or(p).display()
            ));
        }
    }
    faults
}

#[test]
fn each_crate_builds_one_test_binary_and_no_empty_harness() {
    let faults: Vec<String> = members()
        .iter()
        .flat_map(|(name, dir)| test_target_faults(name, dir))
        .collect();
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[test]
fn the_test_target_checker_finds_each_fault() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::create_dir_all(d.join("tests/helpers")).unwrap();
    std::fs::write(
        d.join("Cargo.toml"),
        "[package]\nname = \"x\"\nautotests = false\n\n[[bin]]\nname = \"x\"\n\
         path = \"src/main.rs\"\n\n[[test]]\nname = \"a\"\npath = \"tests/a.rs\"\n\n\
         [[test]]\nname = \"b\"\npath = \"tests/b.rs\"\n",
    )
    .unwrap();
    std::fs::write(d.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(d.join("src/lib.rs"), "// #[test] in a comment\n").unwrap();
    std::fs::write(d.join("tests/a.rs"), "mod helpers;\n").unwrap();
    std::fs::write(d.join("tests/b.rs"), "").unwrap();
    std::fs::write(d.join("tests/forgotten.rs"), "#[test]\nfn f() {}\n").unwrap();
    std::fs::write(d.join("tests/helpers/mod.rs"), "").unwrap();
    let faults = test_target_faults("x", d);
    let faults: Vec<&str> = faults
        .iter()
        .map(|f| f.split_once(": ").unwrap().1)
        .collect();
    assert_eq!(faults.len(), 4, "{faults:#?}");
    assert!(faults[0].starts_with("binary src/main.rs has no unit tests"));
    assert!(faults[1].starts_with("the library has no unit tests"));
    assert!(faults[2].starts_with("2 test binaries, 1 allowed"));
    assert!(faults[3].ends_with("forgotten.rs is in no test binary"));
}
