//! The modules of `harness/src` form layers, read from the code: every `crate::` path outside test modules
//! is an edge from the top-level module that writes it to the one it names. No module may import one of a
//! higher layer, and no modules may import each other in a circle. `ARCHITECTURE.md` draws the same layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support;

/// The layers, from the leaves up. A module may import its own layer and the ones below.
const LAYERS: &[&[&str]] = &[
    &["console", "diagnostic", "error", "fmt", "ideal", "machine", "metrics", "process", "search", "stats", "sys"],
    &["plugin"],
    &["experiment"],
    &["run"],
    &["results", "survey"],
    &["summary"],
    &["compare", "export", "history", "merge", "report", "schema"],
    &["cli", "pipeline"],
];

/// The crate's module graph: top-level module to the top-level modules it names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.to_owned()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = without_tests(&text);
        let names = edges.entry(module.clone()).or_default();
        for name in crate_paths(&code) {
            if name != module {
                names.insert(name);
            }
        }
    }
    edges
}

/// The text before the file's `#[cfg(test)]` test module, without line comments.
fn without_tests(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end].lines().map(|l| l.split_once("//").map_or(l, |(code, _)| code)).collect::<Vec<_>>().join("\n")
}

/// The top-level module names of every `crate::name` and `crate::{a, b::c}` in `code`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(inner.split(',').filter_map(|part| ident(part.trim())));
        } else if let Some(name) = ident(after) {
            names.push(name);
        }
        rest = after;
    }
    names
}

fn ident(text: &str) -> Option<String> {
    let name: String = text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase()).then_some(name)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The modules on a cycle or importing one: what is left after repeatedly removing the modules that import
/// nothing left (Kahn's algorithm). Empty when the graph is a DAG.
fn tangled(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut left: BTreeMap<&String, BTreeSet<&String>> =
        edges.iter().map(|(m, to)| (m, to.iter().filter(|t| edges.contains_key(*t)).collect())).collect();
    loop {
        let leaves: Vec<&String> = left.iter().filter(|(_, to)| to.is_empty()).map(|(m, _)| *m).collect();
        if leaves.is_empty() {
            return left.keys().map(|m| (*m).clone()).collect();
        }
        for leaf in &leaves {
            left.remove(leaf);
        }
        for to in left.values_mut() {
            to.retain(|t| !leaves.contains(t));
        }
    }
}

#[test]
fn modules_import_only_their_own_layer_and_those_below_without_cycles() {
    let edges = graph(&support::root().join("harness/src"));
    let listing: String = edges
        .iter()
        .map(|(m, to)| format!("{m} -> {}", to.iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect::<Vec<_>>()
        .join("\n");
    println!("{listing}");
    let mut problems = Vec::new();
    for (module, to) in &edges {
        let Some(layer) = layer_of(module) else {
            problems.push(format!("`{module}` is in no layer: add it to LAYERS and to ARCHITECTURE.md"));
            continue;
        };
        for target in to.iter().filter(|t| edges.contains_key(*t)) {
            if layer_of(target).is_some_and(|l| l > layer) {
                problems.push(format!("`{module}` imports `{target}`, a layer above it"));
            }
        }
    }
    let cycle = tangled(&edges);
    if !cycle.is_empty() {
        problems.push(format!("these modules are on an import cycle or import one: {cycle:?}"));
    }
    assert!(problems.is_empty(), "{}\n\nthe graph:\n{listing}", problems.join("\n"));
}

#[test]
fn the_reader_of_crate_paths_finds_groups_and_skips_tests() {
    let code = without_tests(
        "use crate::{fmt::table, model};\nlet x = crate::stats::Rng::new(1); // crate::cli\n#[cfg(test)]\nmod tests { use crate::run; }",
    );
    assert_eq!(crate_paths(&code), ["fmt", "model", "stats"]);
    let edges: BTreeMap<String, BTreeSet<String>> = [("a", &["b"][..]), ("b", &["a"]), ("c", &["a"])]
        .iter()
        .map(|(m, to)| ((*m).to_owned(), to.iter().map(|t| (*t).to_owned()).collect()))
        .collect();
    assert_eq!(tangled(&edges), ["a", "b", "c"].map(str::to_owned).into_iter().collect());
}
