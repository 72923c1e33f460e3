//! `[matrix]` into cells: axes, `exclude` and `include` read with the place of every value, the reserved
//! column names, and the cells that would be pooled in the results.

use std::collections::HashMap;
use std::ops::Range;

use super::Resolver;
use crate::diagnostic::Diagnostic;
use crate::experiment::matrix::{self, Cell, Pattern, Value, ValueKey};
use crate::experiment::raw::RawFile;
use crate::experiment::{quote_list, scalar};

/// The most cells the product of the axes may have, counted before `exclude`: beyond it the file is refused
/// before anything is expanded. A run is a process of its own: a million cells are days of runs.
pub(crate) const MAX_CELLS: u64 = 1_000_000;

/// The most checks of a product cell against an `include` entry (cells of the product times entries).
pub(crate) const MAX_INCLUDE_CHECKS: u64 = 10_000_000;

/// Where each axis value of the matrix was written, to point errors at it: the first place of each key and
/// of each value of a key.
#[derive(Default)]
pub(in crate::experiment) struct Places {
    values: HashMap<(String, ValueKey), Range<usize>>,
    keys: HashMap<String, Range<usize>>,
    pub(super) matrix: Option<Range<usize>>,
}

impl Places {
    pub(super) fn of(&self, key: &str, value: Option<&Value>) -> Option<Range<usize>> {
        match value {
            Some(value) => self.values.get(&(key.to_owned(), value.key())),
            None => self.keys.get(key),
        }
        .cloned()
        .or_else(|| self.matrix.clone())
    }

    pub(super) fn add(&mut self, key: &str, value: &Value, span: Range<usize>) {
        self.keys.entry(key.to_owned()).or_insert_with(|| span.clone());
        self.values.entry((key.to_owned(), value.key())).or_insert(span);
    }
}

/// A cell as the results tell it apart: its values as text, by key. Two cells with the same text are one.
pub(super) fn identity(cell: &Cell) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = cell.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    pairs.sort_unstable();
    pairs
}

/// The cells seen so far, told apart by [`identity`]. Each is kept as a hash of its identity and its index;
/// the identity itself is kept only for a cell whose hash an earlier, different cell already has. A million
/// cells cost a few megabytes, not a copy of every value as text.
#[derive(Default)]
pub(super) struct Seen {
    by_hash: HashMap<u64, usize>,
    collided: HashMap<Vec<(String, String)>, usize>,
}

impl Seen {
    /// The index of an earlier cell with the same identity as `cell`, or `None` after recording `cell` as
    /// `index`; `earlier` gives the cell of an index recorded before.
    pub(super) fn earlier<'c>(
        &mut self,
        cell: &Cell,
        index: usize,
        earlier: impl Fn(usize) -> &'c Cell,
    ) -> Option<usize> {
        let hash = self.hash(cell);
        match self.by_hash.get(&hash) {
            Some(&j) if identity(earlier(j)) == identity(cell) => return Some(j),
            Some(_) => {}
            None => {
                self.by_hash.insert(hash, index);
                return None;
            }
        }
        let id = identity(cell);
        if let Some(&j) = self.collided.get(&id) {
            return Some(j);
        }
        self.collided.insert(id, index);
        None
    }

    /// A hash of [`identity`]`(cell)`, made without writing the cell's values out: its keys in order, each
    /// key and value fed to the hasher as text, with a byte that text never holds after each.
    fn hash(&self, cell: &Cell) -> u64 {
        use std::fmt::Write as _;
        use std::hash::{BuildHasher, Hasher};
        struct Feed<'h, H>(&'h mut H);
        impl<H: Hasher> std::fmt::Write for Feed<'_, H> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0.write(s.as_bytes());
                Ok(())
            }
        }
        let mut pairs: Vec<(&str, &Value)> = cell.iter().map(|(k, v)| (&**k, v)).collect();
        pairs.sort_unstable_by_key(|(k, _)| *k);
        let mut hasher = self.collided.hasher().build_hasher();
        for (key, value) in pairs {
            hasher.write(key.as_bytes());
            hasher.write_u8(0xff);
            write!(Feed(&mut hasher), "{value}").expect("a hasher takes any text");
            hasher.write_u8(0xff);
        }
        hasher.finish()
    }
}

impl Resolver<'_> {
    /// Expands `[matrix]` into cells.
    pub(in crate::experiment) fn expand(&self, file: &RawFile) -> Result<(Vec<Cell>, Places, Vec<String>), Diagnostic> {
        let mut places = Places::default();
        let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
        let mut exclude_entries: Vec<(&toml::Table, Range<usize>)> = Vec::new();
        let mut include: Vec<Cell> = Vec::new();
        let mut include_spans: Vec<Range<usize>> = Vec::new();
        let Some(matrix) = &file.matrix else {
            return Err(self
                .error("the experiment has no [matrix]", Some(file.experiment.span()))
                .help("add a [matrix] table with at least `executor = [\"sync\"]`"));
        };
        places.matrix = Some(matrix.span());
        let own = OwnColumns::of(file);
        for (key, values) in matrix.get_ref() {
            let name = key.get_ref().as_str();
            match name {
                "exclude" | "include" => {
                    for entry in values.get_ref() {
                        let table = entry.get_ref().as_table().ok_or_else(|| {
                            self.error(format!("an `{name}` entry is not a table"), Some(entry.span()))
                                .expected("an inline table such as `{ executor = \"sync\", workers = 1 }`")
                        })?;
                        if name == "exclude" {
                            // Checked once every axis is known, wherever `exclude` stands in the table.
                            exclude_entries.push((table, entry.span()));
                        } else {
                            let mut cell = Cell::new();
                            for (k, v) in table {
                                let v = scalar(v).ok_or_else(|| {
                                    self.error(
                                        format!("`include` value of `{k}` is not a single value"),
                                        Some(entry.span()),
                                    )
                                    .expected("a string, number or boolean")
                                })?;
                                self.check_column_name(k, entry.span(), &own)?;
                                self.check_text(&format!("`include` key `{}`", k.escape_debug()), k, entry.span())?;
                                if let Value::String(text) = &v {
                                    self.check_text(
                                        &format!("`include` value of `{}`", k.escape_debug()),
                                        text,
                                        entry.span(),
                                    )?;
                                }
                                places.add(k, &v, entry.span());
                                cell.insert(k.as_str().into(), v);
                            }
                            include.push(cell);
                            include_spans.push(entry.span());
                        }
                    }
                }
                _ => {
                    self.check_column_name(name, key.span(), &own)?;
                    self.check_text("axis name", name, key.span())?;
                    let mut list = Vec::new();
                    for v in values.get_ref() {
                        let value = scalar(v.get_ref()).ok_or_else(|| {
                            self.error(format!("a value of axis `{name}` is not a single value"), Some(v.span()))
                                .expected("a string, number or boolean")
                        })?;
                        if let Value::String(text) = &value {
                            self.check_text(&format!("a value of axis `{name}`"), text, v.span())?;
                        }
                        places.add(name, &value, v.span());
                        list.push(value);
                    }
                    axes.push((name.to_owned(), list));
                }
            }
        }
        let exclude: Vec<Pattern> = exclude_entries
            .into_iter()
            .map(|(table, span)| self.pattern(table, &axes, span))
            .collect::<Result<_, _>>()?;
        self.check_size(&axes, include.len(), matrix.span())?;
        let cells = matrix::expand(&axes, &exclude, &include);
        if cells.is_empty() {
            let (why, help) = if axes.is_empty() {
                ("it has no axes and no `include` entries", "add an axis such as `executor = [\"sync\"]`")
            } else if axes.iter().any(|(_, v)| v.is_empty()) {
                ("an axis has no values", "give every axis at least one value")
            } else {
                (
                    "`exclude` removed every cell",
                    "check the `exclude` entries against the axes; `harness plan` shows the cells",
                )
            };
            return Err(self.error(format!("the matrix is empty: {why}"), Some(matrix.span())).help(help));
        }
        // Results identify a cell by its values: two cells with the same values would be pooled.
        let mut seen = Seen::default();
        for (i, cell) in cells.iter().enumerate() {
            if let Some(j) = seen.earlier(cell, i, |j| &cells[j]) {
                return Err(self
                    .error(
                        format!("cells {} and {} are the same: {}", j + 1, i + 1, describe(cell)),
                        places.matrix.clone(),
                    )
                    .help("remove the repeated values or `include` entries; `harness plan` lists the cells"));
            }
        }
        let mut columns: Vec<String> = axes.iter().map(|(n, _)| n.clone()).collect();
        for cell in &cells {
            for key in cell.keys() {
                if !columns.iter().any(|c| **c == **key) {
                    columns.push(key.to_string());
                }
            }
        }
        Ok((cells, places, columns))
    }

    /// Refuses a matrix too large to run before expanding it: its size is computed, not counted.
    pub(super) fn check_size(
        &self,
        axes: &[(String, Vec<Value>)],
        include: usize,
        span: Range<usize>,
    ) -> Result<(), Diagnostic> {
        let lengths: Vec<u64> = axes.iter().map(|(_, v)| v.len() as u64).collect();
        let product = if lengths.is_empty() { 0 } else { lengths.iter().fold(1u64, |p, &n| p.saturating_mul(n)) };
        let shown: Vec<String> = lengths.iter().map(u64::to_string).collect();
        if product > MAX_CELLS {
            let size =
                if product == u64::MAX { "more than 18446744073709551614".to_owned() } else { product.to_string() };
            return Err(self
                .error(
                    format!("the matrix has {size} cells ({}), more than {MAX_CELLS}", shown.join(" x ")),
                    Some(span),
                )
                .expected(format!("at most {MAX_CELLS} cells in the product of the axes, before `exclude`"))
                .help("split the experiment into several files, or give the axes fewer values"));
        }
        let checks = product.saturating_mul(include as u64);
        if checks > MAX_INCLUDE_CHECKS {
            return Err(self
                .error(
                    format!("the matrix's {product} cells times its {include} `include` entries make {checks} checks, more than {MAX_INCLUDE_CHECKS}"),
                    Some(span),
                )
                .expected(format!("at most {MAX_INCLUDE_CHECKS} cells of the product times `include` entries"))
                .help("add the values as axes instead of `include` entries, or split the experiment into several files"));
        }
        Ok(())
    }

    /// Axis names and values are cells of `harness plan`'s table and of `runs.csv`: a control character
    /// (a line break, a tab, an escape sequence) would break their rows or the terminal.
    pub(super) fn check_text(&self, what: &str, text: &str, span: Range<usize>) -> Result<(), Diagnostic> {
        match text.chars().find(|c| c.is_control()) {
            None => Ok(()),
            Some(c) => Err(self
                .error(
                    format!("{what} \"{}\" holds a control character, U+{:04X}", text.escape_debug(), u32::from(c)),
                    Some(span),
                )
                .expected("text without control characters (line breaks, tabs, escape sequences)")
                .help("remove the escape (`\\n`, `\\t`, `\\u001b`...) from the string")),
        }
    }

    /// Axis names become columns of `runs.csv`, next to the columns the harness writes and those the
    /// experiment adds (`own`).
    fn check_column_name(&self, name: &str, span: Range<usize>, own: &OwnColumns<'_>) -> Result<(), Diagnostic> {
        // Axis columns lead runs.csv and summary.csv, beside the columns the harness writes.
        if crate::experiment::exec::RUNTIME_VARIABLES.contains(&name) {
            return Err(self
                .error(format!("axis `{name}` has the name of a variable a run sets in each task"), Some(span))
                .expected(format!("another name: `${{{name}}}` is the {name}'s index in `exec` steps"))
                .help(format!("rename it, for example `{name}_axis`, and refer to it as `${{{name}_axis}}`")));
        }
        let reserved = crate::metrics::reserved_columns();
        if reserved.contains(&name) {
            return Err(self
                .error(
                    format!("axis `{name}` has the name of a column the harness writes to runs.csv or summary.csv"),
                    Some(span),
                )
                .expected(format!("another name; taken: {}", quote_list(&reserved)))
                .help(format!("rename it, for example `{name}_axis`, and refer to it as `${{{name}_axis}}`")));
        }
        let rename = || format!("rename the axis, for example `{name}_axis`, and refer to it as `${{{name}_axis}}`");
        if let Some(service) = crate::metrics::service_of(name) {
            // runs.csv's reader takes every column of this form for a service's, so the form is taken whether
            // or not the service exists.
            let message = match crate::metrics::get(name).filter(|_| own.services.contains(&service)) {
                Some(metric) => {
                    format!(
                        "axis `{name}` has the name of a column the harness writes to runs.csv: the {}",
                        metric.label
                    )
                }
                None => format!(
                    "axis `{name}` is named like the column the harness writes to runs.csv for a service `{service}`"
                ),
            };
            return Err(self
                .error(message, Some(span))
                .expected(format!(
                    "another name: runs.csv has the columns {} for every service NAME",
                    quote_list(&crate::metrics::service_columns("NAME").each_ref().map(String::as_str))
                ))
                .help(rename()));
        }
        if own.metrics.contains(&name) {
            return Err(self
                .error(
                    format!("axis `{name}` has the name of the custom metric `{name}`, a column of runs.csv"),
                    Some(span),
                )
                .expected("a name that no custom metric of the file has: both are columns of runs.csv")
                .help(format!("{}, or rename the metric", rename())));
        }
        Ok(())
    }

    /// An `exclude` entry: every key must be an axis; a list matches any of its values.
    pub(super) fn pattern(
        &self,
        table: &toml::Table,
        axes: &[(String, Vec<Value>)],
        span: Range<usize>,
    ) -> Result<Pattern, Diagnostic> {
        let mut pattern = Pattern::new();
        for (key, value) in table {
            if !axes.iter().any(|(n, _)| n == key) {
                let names: Vec<&str> = axes.iter().map(|(n, _)| n.as_str()).collect();
                return Err(self
                    .error(format!("`exclude` names unknown axis `{key}`"), Some(span))
                    .expected(if names.is_empty() {
                        "an axis of [matrix], but it has none (`include` entries are not axes)".to_owned()
                    } else {
                        format!("one of the axes: {}", quote_list(&names))
                    })
                    .did_you_mean(key, names.iter().copied()));
            }
            let values = match value {
                toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
                other => scalar(other).map(|v| vec![v]),
            };
            let values = values.ok_or_else(|| {
                self.error(format!("`exclude` value of `{key}` is not a value or a list of values"), Some(span.clone()))
            })?;
            pattern.insert(key.clone(), values);
        }
        Ok(pattern)
    }
}

/// The names of the columns of `runs.csv` an experiment file adds: its custom metrics', and its services'
/// (whose columns are named after them).
struct OwnColumns<'a> {
    metrics: Vec<&'a str>,
    services: Vec<&'a str>,
}

impl<'a> OwnColumns<'a> {
    pub(super) fn of(file: &'a RawFile) -> Self {
        let metrics = file.workloads.values().flat_map(|w| w.get_ref().metrics.keys()).map(|k| k.get_ref().as_str());
        Self { metrics: metrics.collect(), services: file.services.keys().map(|k| k.get_ref().as_str()).collect() }
    }
}

pub(super) fn describe(cell: &Cell) -> String {
    if cell.is_empty() {
        return "{}".to_owned();
    }
    let pairs: Vec<String> = cell.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(pairs: &[(&str, i64)]) -> Cell {
        pairs.iter().map(|(k, v)| ((*k).into(), Value::Integer(*v))).collect()
    }

    #[test]
    fn a_cell_is_a_copy_of_an_earlier_one_with_the_same_values_in_any_order() {
        let cells = [cell(&[("a", 1), ("b", 2)]), cell(&[("a", 1), ("b", 3)]), cell(&[("b", 2), ("a", 1)])];
        let mut seen = Seen::default();
        let found: Vec<Option<usize>> =
            cells.iter().enumerate().map(|(i, c)| seen.earlier(c, i, |j| &cells[j])).collect();
        assert_eq!(found, [None, None, Some(0)]);
    }

    #[test]
    fn cells_whose_hashes_collide_are_told_apart_by_their_values() {
        let cells = [cell(&[("a", 1)]), cell(&[("a", 2)]), cell(&[("a", 2)])];
        let mut seen = Seen::default();
        assert_eq!(seen.earlier(&cells[0], 0, |j| &cells[j]), None);
        // Make the second cell's hash the first's, as a collision would.
        let hash = seen.hash(&cells[1]);
        seen.by_hash.insert(hash, 0);
        assert_eq!(seen.earlier(&cells[1], 1, |j| &cells[j]), None, "a different cell under the same hash is new");
        assert_eq!(seen.earlier(&cells[2], 2, |j| &cells[j]), Some(1), "and its copy is found among the collided");
    }
}
