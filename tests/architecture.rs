//! The workspace's shape is the one docs/architecture.md draws:
//!
//! * the crate graph (each crate's gpfn `[dependencies]`) equals the `crate-graph` block there;
//! * a divergence plugin reaches no gpfn crate above `gpfn-core` other than `gpfn-ot`,
//!   `gpfn-kernels` and other divergence plugins, and no plotting, image, config-file or
//!   command-line crate, directly or through those;
//! * inside every crate, the top-level modules import each other (`crate::…` outside test
//!   modules) without a cycle.
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

/// The top-level modules of the crate whose sources are in `src`, each with the top-level
/// modules it names through `crate::` outside `#[cfg(test)]` code and comments.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let edges = graph.entry(module.clone()).or_default();
        for line in code.lines() {
            let line = line.split("//").next().unwrap();
            for (i, _) in line.match_indices("crate::") {
                if i > 0 && line.as_bytes()[i - 1] == b'$' {
                    continue;
                }
                let rest = &line[i + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap()
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap())
                        .collect(),
                    None => vec![
                        rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .next()
                            .unwrap(),
                    ],
                };
                for n in names {
                    if !n.is_empty()
                        && n.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        && n != module
                    {
                        edges.insert(n.to_string());
                    }
                }
            }
        }
    }
    graph
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
        let graph = module_graph(&src);
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{name}: modules import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 15,
        "only {checked} crates with a src/ folder were found"
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
