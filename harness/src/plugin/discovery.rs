//! Where plugins come from: `--plugin-dir`, `HARNESS_PLUGIN_PATH`, and the folder of the `harness`
//! executable (where `cargo build --workspace` puts the built-in executors). Earlier places win when two
//! libraries have the same executor name; an experiment's `[plugins]` table wins over all of them.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::{PluginInfo, probe};

/// The environment variable holding extra plugin folders, separated by `:`.
pub(super) const PLUGIN_PATH_VAR: &str = "HARNESS_PLUGIN_PATH";

/// Prefix of the file names of built-in executors next to the executable.
const BUILTIN_PREFIX: &str = "libexecutor_";

/// The folders searched for plugins, in order of precedence.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchPath {
    dirs: Vec<PathBuf>,
    builtin: Option<PathBuf>,
}

impl SearchPath {
    /// `--plugin-dir` folders first, then `HARNESS_PLUGIN_PATH`, then the executable's folder.
    pub(crate) fn new(plugin_dirs: &[PathBuf]) -> Self {
        let mut dirs = plugin_dirs.to_vec();
        if let Some(value) = std::env::var_os(PLUGIN_PATH_VAR) {
            dirs.extend(std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()));
        }
        let builtin = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
        Self { dirs, builtin }
    }

    /// Every candidate library, in order of precedence.
    fn libraries(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for dir in &self.dirs {
            found.extend(libraries_in(dir, ""));
        }
        if let Some(dir) = &self.builtin {
            found.extend(libraries_in(dir, BUILTIN_PREFIX));
        }
        found
    }
}

fn libraries_in(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let is_library = Path::new(name).extension().is_some_and(|e| e == "so" || e == "dylib");
            is_library && name.starts_with(prefix) && p.is_file()
        })
        .collect();
    paths.sort();
    paths
}

/// The executors available to an experiment, by name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Registry {
    executors: IndexMap<String, PluginInfo>,
    /// Libraries found in plugin folders that could not be used, with the reason.
    pub problems: Vec<String>,
    /// Made of what a result folder recorded: an experiment's `[plugins]` are not probed but taken from it.
    recorded: bool,
}

impl Registry {
    /// Probes every library on the search path.
    pub(crate) fn discover(search: &SearchPath) -> Self {
        let libraries = search.libraries();
        let mut registry = Registry::default();
        for (path, result) in libraries.iter().zip(probe(&libraries)) {
            match result {
                Ok(info) => {
                    registry.executors.entry(info.name.clone()).or_insert(info);
                }
                Err(message) => registry.problems.push(format!("skipped {}: {message}", path.display())),
            }
        }
        registry
    }

    /// The executors a result folder recorded, by name; nothing is probed, and an experiment loaded with
    /// it does not probe its `[plugins]` either: reading a result folder runs no code of it.
    pub(crate) fn recorded(executors: impl IntoIterator<Item = PluginInfo>) -> Self {
        let executors = executors.into_iter().map(|info| (info.name.clone(), info)).collect();
        Registry { executors, problems: Vec::new(), recorded: true }
    }

    /// Whether this is a [`Registry::recorded`] one.
    pub(crate) fn is_recorded(&self) -> bool {
        self.recorded
    }

    /// Adds (or replaces) an executor under `name`.
    pub(crate) fn insert(&mut self, name: String, info: PluginInfo) {
        self.executors.insert(name, info);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&PluginInfo> {
        self.executors.get(name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.executors.keys().map(String::as_str)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &PluginInfo)> {
        self.executors.iter().map(|(k, v)| (k.as_str(), v))
    }
}
