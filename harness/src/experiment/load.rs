//! Reading an experiment file: the text, the TOML parse, and TOML's errors turned into diagnostics.

use std::path::Path;
use std::sync::Arc;

use super::charts;
use super::matrix::Cell;
use super::model::{Experiment, Outline};
use super::quote_list;
use super::raw::RawFile;
use super::resolve::Resolver;
use crate::diagnostic::Diagnostic;
use crate::plugin::Registry;

/// Reads, parses and checks an experiment file. `registry` holds the executors found on the search path;
/// the file's `[plugins]` are added to it.
pub(crate) fn load(path: &Path, registry: &mut Registry) -> Result<Experiment, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(format!("cannot read experiment file {}: {e}", path.display()))
            .help("check the path; experiment files live in `experiments/` by convention")
    })?;
    let source: Arc<str> = Arc::from(text);
    let file: RawFile = toml::from_str(&source).map_err(|e| toml_error(&e, path, &source))?;
    Resolver { path, source: &source, registry, ports: Vec::new() }.resolve(&file)
}
/// Reads an experiment file as far as it can be read without loading any executor: the matrix and the
/// `[[charts]]` are checked, the executors, workloads and options are not.
pub(crate) fn outline(path: &Path) -> Result<Outline, Diagnostic> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(format!("cannot read experiment file {}: {e}", path.display())))?;
    let source: Arc<str> = Arc::from(text);
    let file: RawFile = toml::from_str(&source).map_err(|e| toml_error(&e, path, &source))?;
    let mut registry = Registry::default();
    let resolver = Resolver { path, source: &source, registry: &mut registry, ports: Vec::new() };
    let (cells, _, columns) = resolver.expand(&file)?;
    let values: Vec<&Cell> = cells.iter().collect();
    let charts = charts::check(&file.charts, &columns, &values, &|m, span| resolver.error(m, span))?;
    let experiment = file.experiment.get_ref();
    Ok(Outline {
        name: experiment.name.get_ref().clone(),
        description: experiment.description.clone(),
        seed: experiment.seed.as_ref().and_then(|s| u64::try_from(*s.get_ref()).ok()).unwrap_or(0),
        columns,
        cells,
        charts,
    })
}

/// Turns a TOML or serde error into a diagnostic, with "did you mean" for unknown keys.
fn toml_error(error: &toml::de::Error, path: &Path, source: &Arc<str>) -> Diagnostic {
    let message = error.message().trim().to_owned();
    let mut diagnostic = Diagnostic::new(first_line(&message)).at(path, source, error.span());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        diagnostic.message = format!("unknown key `{field}`");
        if !candidates.is_empty() {
            diagnostic = diagnostic.expected(format!("one of {}", quote_list(&candidates)));
        }
        diagnostic = diagnostic.did_you_mean(field, candidates.iter().copied());
    } else if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
        diagnostic.message = format!("missing key `{field}`");
        diagnostic =
            diagnostic.help(format!("add `{field} = ...` to this table; docs/experiment-format.md lists every key"));
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "another type"));
        let expected = match expected {
            "i64" | "u64" | "u32" | "i32" => "an integer",
            "a sequence" => "a list",
            "a string" => "a string",
            "a map" => "a table",
            other if other.starts_with("struct") => "a table",
            other => other,
        };
        diagnostic.message = format!("wrong type: found {found}");
        diagnostic = diagnostic.expected(expected);
        if expected == "a list" {
            diagnostic = diagnostic.help("axis values are lists, even of one value: `workers = [4]`");
        }
    } else if error.span().is_some() {
        diagnostic = diagnostic.help("the file is not valid TOML (https://toml.io/en/v1.0.0)");
    }
    diagnostic
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
