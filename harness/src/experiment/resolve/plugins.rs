//! `[plugins]`, `[libraries]` and `[executors.NAME]`: libraries found and probed, executors' options checked.
use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::Resolver;
use crate::diagnostic::Diagnostic;
use crate::experiment::plan::StepLibrary;
use crate::experiment::raw::{self};
use crate::experiment::{quote_list, to_json};
use crate::plugin::{PluginInfo, probe};

impl Resolver<'_> {
    /// Probes each `[libraries]` entry (path relative to the experiment file) in a child process; with a
    /// registry of what a result folder recorded, nothing is probed, nor even looked at: reading a result
    /// folder runs no code of it, and a `call` step's function is taken as written.
    pub(super) fn add_libraries(
        &mut self,
        libraries: &IndexMap<Spanned<String>, Spanned<String>>,
    ) -> Result<(), Diagnostic> {
        for (name, path) in libraries {
            let name = name.get_ref().clone();
            if self.registry.is_recorded() {
                let path = absolute(self.relative_to_file(path.get_ref()));
                self.libraries.push(StepLibrary { name, path, functions: None });
                continue;
            }
            let resolved = self.library_file(
                path,
                ("step library", "step library", "it first (`cargo build --release` in its crate)"),
            )?;
            let functions = crate::plugin::probe_steps(&resolved).map_err(|message| {
                self.error(format!("step library `{name}` cannot be loaded"), Some(path.span())).help(message)
            })?;
            self.libraries.push(StepLibrary { name, path: absolute(resolved), functions: Some(functions) });
        }
        Ok(())
    }

    /// `path` as written in the file, relative to the experiment file's folder; a bare name beside a file
    /// given without its folder is `./NAME`, never a name for the system's library search (which `dlopen`
    /// does for a name without a `/`).
    fn relative_to_file(&self, path: &str) -> std::path::PathBuf {
        let joined = self.path.parent().unwrap_or(Path::new("")).join(path);
        if joined.as_os_str().as_encoded_bytes().contains(&b'/') { joined } else { Path::new(".").join(joined) }
    }

    /// A library file of `[plugins]` or `[libraries]`, relative to the experiment file: `what` it is, the
    /// `kind` of library, and how to build it, for the error when it does not exist.
    pub(super) fn library_file(
        &self,
        path: &Spanned<String>,
        (what, kind, build): (&str, &str, &str),
    ) -> Result<std::path::PathBuf, Diagnostic> {
        let resolved = self.relative_to_file(path.get_ref());
        // A plugin that is not a regular file is refused by the probe, which names the plugin.
        if what != "plugin" && resolved.exists() && !resolved.is_file() {
            return Err(self
                .error(format!("{what} file {} is not a regular file", resolved.display()), Some(path.span()))
                .expected(format!("a path to a {kind}, relative to the experiment file")));
        }
        if !resolved.exists() {
            return Err(self
                .error(format!("{what} file {} does not exist", resolved.display()), Some(path.span()))
                .expected(format!("a path to a {kind}, relative to the experiment file"))
                .help(format!("build {build}; the library is in its target folder")));
        }
        Ok(resolved)
    }

    /// Probes each `[plugins]` entry (path relative to the experiment file) and registers it by its key;
    /// with a registry of what a result folder recorded, the recorded executors stand for them.
    pub(super) fn add_plugins(
        &mut self,
        plugins: &IndexMap<Spanned<String>, Spanned<String>>,
    ) -> Result<(), Diagnostic> {
        if self.registry.is_recorded() {
            return Ok(());
        }
        for (name, path) in plugins {
            let resolved =
                self.library_file(path, ("plugin", "plugin library", "the plugin first (`cargo build` in its crate)"))?;
            let info = probe(std::slice::from_ref(&resolved)).pop().expect("one result per path");
            let info = info.map_err(|message| {
                self.error(format!("plugin `{}` cannot be loaded", name.get_ref()), Some(path.span())).help(message)
            })?;
            // In this experiment the plugin goes by its key, whatever the library calls itself.
            let mut info = info;
            info.name.clone_from(name.get_ref());
            self.registry.insert(name.get_ref().clone(), info);
        }
        Ok(())
    }

    pub(super) fn unknown_executor(&self, name: &str, span: Option<Range<usize>>) -> Diagnostic {
        let known: Vec<&str> = self.registry.names().collect();
        let mut d = self.error(format!("unknown executor `{name}`"), span).expected(if known.is_empty() {
            "an executor, but none was found".to_owned()
        } else {
            format!("one of {}", quote_list(&known))
        });
        d = d.did_you_mean(name, known.iter().copied());
        if d.help.is_none() {
            d = d.help("build the built-in executors with `cargo build --workspace`, or name a plugin in [plugins], --plugin-dir or HARNESS_PLUGIN_PATH");
        }
        d
    }

    /// Checks each `[executors.NAME]` table against that executor's options.
    pub(super) fn executor_defaults(
        &self,
        executors: &IndexMap<Spanned<String>, Spanned<raw::Table>>,
    ) -> Result<IndexMap<String, serde_json::Map<String, serde_json::Value>>, Diagnostic> {
        let mut defaults = IndexMap::new();
        for (name, table) in executors {
            let info = self
                .registry
                .get(name.get_ref())
                .ok_or_else(|| self.unknown_executor(name.get_ref(), Some(name.span())))?;
            let mut options = serde_json::Map::new();
            for (key, value) in table.get_ref() {
                let json = to_json(value.get_ref());
                self.check_option(info, key.get_ref(), &json, Some(key.span()), Some(value.span()))?;
                options.insert(key.get_ref().clone(), json);
            }
            defaults.insert(name.get_ref().clone(), options);
        }
        Ok(defaults)
    }

    pub(super) fn check_option(
        &self,
        info: &PluginInfo,
        key: &str,
        value: &serde_json::Value,
        key_span: Option<Range<usize>>,
        value_span: Option<Range<usize>>,
    ) -> Result<(), Diagnostic> {
        let Some(spec) = info.option(key) else {
            let names: Vec<&str> = info.options.iter().map(|o| o.name.as_str()).collect();
            return Err(self
                .error(format!("executor `{}` has no option `{key}`", info.name), key_span)
                .expected(if names.is_empty() {
                    "no options".to_owned()
                } else {
                    format!("one of {}", quote_list(&names))
                })
                .did_you_mean(key, names.iter().copied()));
        };
        spec.check(value).map_err(|expected| {
            let mut d = self
                .error(format!("option `{key}` of executor `{}` is {value}", info.name), value_span)
                .expected(expected);
            if let (harness_sdk::protocol::OptionKind::Choice { choices }, Some(text)) = (&spec.kind, value.as_str()) {
                d = d.did_you_mean(text, choices.iter().map(String::as_str));
            }
            d
        })
    }
}

/// `path` made absolute, or as it is when it cannot be.
fn absolute(path: std::path::PathBuf) -> std::path::PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}
