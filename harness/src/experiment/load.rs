//! Reading an experiment file: the text, the TOML parse, and TOML's errors turned into diagnostics.

use std::path::Path;
use std::sync::Arc;

use super::charts;
use super::matrix::Cell;
use super::plan::{Experiment, Outline};
use super::quote_list;
use super::raw::RawFile;
use super::resolve::Resolver;
use crate::diagnostic::Diagnostic;
use crate::plugin::Registry;

/// Reads, parses and checks an experiment file. `registry` holds the executors found on the search path;
/// the file's `[plugins]` are added to it.
pub(crate) fn load(path: &Path, registry: &mut Registry) -> Result<Experiment, Diagnostic> {
    let source = read_source(path)?;
    let file: RawFile = toml::from_str(&source).map_err(|e| toml_error(&e, path, &source))?;
    Resolver { path, source: &source, registry, libraries: Vec::new(), ports: Vec::new() }.resolve(&file)
}
/// Reads an experiment file as far as it can be read without loading any executor: the matrix and the
/// `[[charts]]` are checked, the executors, workloads and options are not.
pub(crate) fn outline(path: &Path) -> Result<Outline, Diagnostic> {
    let source = read_source(path)?;
    let file: RawFile = toml::from_str(&source).map_err(|e| toml_error(&e, path, &source))?;
    let mut registry = Registry::default();
    let resolver =
        Resolver { path, source: &source, registry: &mut registry, libraries: Vec::new(), ports: Vec::new() };
    let catalog = super::resolve::custom::catalog(&resolver.custom_metrics(&file)?);
    let (cells, _, columns) = resolver.expand(&file)?;
    let values: Vec<&Cell> = cells.iter().collect();
    let charts = charts::check(&file.charts, &columns, &values, &catalog, &|m, span| resolver.error(m, span))?;
    let experiment = file.experiment.get_ref();
    Ok(Outline {
        name: experiment.name.get_ref().clone(),
        description: experiment.description.clone(),
        seed: experiment.seed.as_ref().and_then(|s| u64::try_from(*s.get_ref()).ok()).unwrap_or(0),
        columns,
        cells,
        charts,
        catalog,
    })
}

/// The most of an experiment file, or of a file it names (a service's template), the harness reads.
pub(crate) const MAX_INPUT_BYTES: u64 = 16 << 20;

/// The text of an experiment file. Bytes that are not UTF-8 are an error at their place. A FIFO or a device
/// is refused without waiting on it, as is a file longer than [`MAX_INPUT_BYTES`].
fn read_source(path: &Path) -> Result<Arc<str>, Diagnostic> {
    let bytes = crate::sys::read_regular(path, MAX_INPUT_BYTES).map_err(|e| {
        Diagnostic::new(format!("cannot read experiment file {}: {e}", path.display()))
            .help("check the path; experiment files live in `experiments/` by convention")
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Arc::from(text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            // The text is shown with the bad bytes replaced by U+FFFD; the valid prefix keeps its offsets.
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
            let rest = String::from_utf8_lossy(&e.as_bytes()[at..]);
            let source: Arc<str> = Arc::from(prefix + &rest);
            let byte = e.as_bytes()[at];
            Err(Diagnostic::new(format!("the file is not UTF-8 text: byte 0x{byte:02x} at offset {at}"))
                .at(path, &source, Some(at..at + '\u{fffd}'.len_utf8()))
                .expected("UTF-8 text, as TOML requires")
                .help("save the file as UTF-8 (a file in Latin-1 or UTF-16 must be converted)"))
        }
    }
}

/// Turns a TOML or serde error into a diagnostic, with "did you mean" for unknown keys.
fn toml_error(error: &toml::de::Error, path: &Path, source: &Arc<str>) -> Diagnostic {
    let message = error.message().trim().to_owned();
    // TOML gives every error a place but one: nesting past its recursion limit, placed here where the
    // nesting gets deep. Anything else without a place is placed at the start of the file.
    let span = error.span().or_else(|| {
        let at = deep_nesting(source).unwrap_or(0);
        Some(at..at + 1)
    });
    let mut diagnostic = Diagnostic::new(first_line(&message)).at(path, source, span);
    if message.starts_with("recursion limit") || message.contains("max recursion depth") {
        "arrays or tables are nested too deeply".clone_into(&mut diagnostic.message);
        return diagnostic
            .expected("arrays and tables nested a few levels deep at most")
            .help("an experiment file needs at most three levels: `steps = [{ net = { ... } }]`");
    }
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
    } else if message.starts_with("invalid length ") && message.contains(", expected struct ") {
        // serde reads a list where a table is expected element by element, and says so in its own terms.
        let (table, key) = error.span().map_or((None, ""), |span| place_of(source, span.start));
        "wrong type: found a list".clone_into(&mut diagnostic.message);
        let header = table.map_or_else(|| key.to_owned(), |t| format!("{t}.{key}"));
        diagnostic = diagnostic.expected("a table").help(if key.is_empty() {
            "write a table: `{ key = value }`, or a `[table]` header".to_owned()
        } else {
            format!("write a table: `{key} = {{ ... }}`, or a `[{header}]` header with its keys below it")
        });
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
        let found = match found {
            "map" => "a table",
            "sequence" => "a list",
            other => other,
        };
        diagnostic.message = format!("wrong type: found {found}");
        diagnostic = diagnostic.expected(expected);
        if expected == "a list" {
            let (table, key) = error.span().map_or((None, ""), |span| place_of(source, span.start));
            diagnostic = diagnostic.help(match (table, key) {
                (Some("matrix"), key) if !key.is_empty() => {
                    format!(
                        "axis values are lists, even of one value: `{key} = [{found_value}]`",
                        found_value = value_text(found)
                    )
                }
                (_, "steps") => "steps are a list of inline tables: `steps = [{ sleep = \"1ms\" }]`".to_owned(),
                (Some("ci"), "metrics") => "`metrics` is a list of metric names: `metrics = [\"run_s\"]`".to_owned(),
                (_, key) if !key.is_empty() => format!("write the value in brackets, even one: `{key} = [...]`"),
                _ => "write the value in brackets: `[...]`".to_owned(),
            });
        }
    } else if error.span().is_some() {
        diagnostic = diagnostic.help("the file is not valid TOML (https://toml.io/en/v1.0.0)");
    }
    diagnostic
}

/// Where brackets and braces first nest 32 deep, ignoring those in strings and comments: where TOML's
/// recursion limit was reached.
fn deep_nesting(source: &str) -> Option<usize> {
    let (mut depth, mut quote, mut comment) = (0usize, None, false);
    for (i, c) in source.char_indices() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some(q), _) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth >= 32 {
                    return Some(i);
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The table (`[NAME]`, as the closest header above says) and the key of the line at `offset`.
fn place_of(source: &str, offset: usize) -> (Option<&str>, &str) {
    let before = source.get(..offset).unwrap_or(source);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or_default();
    let key = line.split_once('=').map_or("", |(k, _)| k.trim());
    let table = before[..line_start].lines().rev().find_map(|l| {
        let l = l.trim();
        let name = l.strip_prefix('[')?.strip_suffix(']')?.trim();
        (!name.starts_with('[') && !name.contains(',') && !name.contains('"')).then_some(name)
    });
    (table, key)
}

/// The value a TOML type error found, as it was written: "integer `4`" gives `4`, "string \"a\"" `"a"`.
fn value_text(found: &str) -> &str {
    let value = found.split_once(' ').map_or("", |(_, v)| v.trim_matches('`'));
    if value.is_empty() || value.len() > 40 { "..." } else { value }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
