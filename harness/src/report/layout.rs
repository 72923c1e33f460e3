//! Which column goes where: the x axis, the series, the panels of small multiples, one file per
//! combination; and building figures from cells once that is decided.
//!
//! The automatic choice: the series are the executors; x is the first numeric column that varies (bars
//! over the first other one when none is numeric); every other column that varies makes panels, or one
//! file per value when there would be more than [`MAX_PANELS`] panels. A column that only some cells have
//! (a key that `include` added) is drawn with the others and named in a note, unless that would put two
//! cells on one point.

use super::Report;
use super::figure::{Axis, Figure, Kind, Panel, Point, Rule, Series};
use super::measure::Measure;
use crate::experiment::EXECUTOR;
use crate::fmt::unit;

/// The most panels a figure has; more make one file per value of the first panel column.
pub(crate) const MAX_PANELS: usize = 12;
/// The most panels a row of a grid of two panel columns (see [`Figure::grid_columns`]).
const MAX_GRID_COLUMNS: usize = 4;

/// What each column does in a figure.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Roles {
    /// `None`: the categories of the x axis are the series.
    pub x: Option<String>,
    pub series: Option<String>,
    pub panels: Vec<String>,
    pub files: Vec<String>,
    /// Columns that only some cells have, drawn with the others and named in a note.
    pub hidden: Vec<String>,
    /// Columns that vary but were given no role: named in the series.
    pub extra: Vec<String>,
    pub kind: Option<Kind>,
    /// `None`: logarithmic over positive numbers whose largest is [`LOG_X_RATIO`] times the smallest.
    pub log_x: Option<bool>,
    pub log_y: Option<bool>,
}

/// Things in order of first appearance, each once, with the index of each: [`Order::index`] is constant
/// time, so that building a figure is linear in its cells.
#[derive(Debug)]
pub(crate) struct Order<K> {
    pub items: Vec<K>,
    index: std::collections::HashMap<K, usize>,
}

impl<K: Clone + Eq + std::hash::Hash> Order<K> {
    pub(crate) fn new() -> Self {
        Self { items: Vec::new(), index: std::collections::HashMap::new() }
    }

    /// The index of `item`, added at the end when new.
    pub(crate) fn index(&mut self, item: K) -> usize {
        let next = self.items.len();
        *self.index.entry(item.clone()).or_insert_with(|| {
            self.items.push(item);
            next
        })
    }

    /// The index of `item`, when it is there.
    pub(crate) fn get(&self, item: &K) -> Option<usize> {
        self.index.get(item).copied()
    }
}

/// The values of `column` among `cells`, each once, in order of appearance.
pub(crate) fn distinct<'r>(report: &'r Report, cells: &[usize], column: &str) -> Vec<&'r str> {
    let mut values = Order::new();
    for &cell in cells {
        values.index(report.value(cell, column));
    }
    values.items
}

/// The values of `column` among `cells` in the order panels and categories show them: ascending when every
/// one is a number, else in the order of the cells (the experiment file's).
fn value_order<'r>(report: &'r Report, cells: &[usize], column: &str) -> Order<&'r str> {
    let mut values = distinct(report, cells, column);
    if numeric(report, cells, column) {
        values.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse().unwrap_or(0.0)));
    }
    let mut order = Order::new();
    for value in values {
        order.index(value);
    }
    order
}

/// Each of `columns` with the order of its values among `cells` ([`value_order`]): what [`value_key`]
/// sorts cells and panels by.
pub(crate) fn value_orders<'c, 'r>(
    report: &'r Report,
    cells: &[usize],
    columns: &'c [String],
) -> Vec<(&'c String, Order<&'r str>)> {
    columns.iter().map(|column| (column, value_order(report, cells, column))).collect()
}

/// Where `cell` stands in `orders`: the place of its value of each column, the first column's first.
pub(crate) fn value_key(orders: &[(&String, Order<&str>)], report: &Report, cell: usize) -> Vec<Option<usize>> {
    orders.iter().map(|(column, order)| order.get(&report.value(cell, column))).collect()
}

/// Whether every one of `cells` has a number in `column`.
pub(crate) fn numeric(report: &Report, cells: &[usize], column: &str) -> bool {
    cells.iter().all(|&c| report.value(c, column).parse::<f64>().is_ok_and(f64::is_finite))
}

/// The columns whose value differs among `cells`, in column order.
pub(crate) fn varying(report: &Report, cells: &[usize]) -> Vec<String> {
    report.columns.iter().filter(|c| distinct(report, cells, c).len() > 1).cloned().collect()
}

/// The automatic roles for `cells`, leaving out the columns in `skip`.
pub(crate) fn auto(report: &Report, cells: &[usize], skip: &[&str]) -> Roles {
    let vary: Vec<String> = varying(report, cells).into_iter().filter(|c| !skip.contains(&c.as_str())).collect();
    let mut series = vary.iter().find(|c| *c == EXECUTOR).cloned();
    let free = |taken: &[&Option<String>], c: &String| taken.iter().all(|t| t.as_ref() != Some(c));
    let x = vary
        .iter()
        .find(|c| free(&[&series], c) && numeric(report, cells, c))
        .or_else(|| vary.iter().find(|c| free(&[&series], c)))
        .cloned();
    if series.is_none() {
        series = vary.iter().find(|c| free(&[&x], c)).cloned();
    }
    let mut rest: Vec<String> = vary.iter().filter(|c| free(&[&x, &series], c)).cloned().collect();
    let sparse = |column: &String| cells.iter().any(|&c| report.value(c, column).is_empty());
    let mut hidden = Vec::new();
    for column in rest.clone() {
        let others: Vec<&String> = x.iter().chain(&series).chain(rest.iter().filter(|c| **c != column)).collect();
        if sparse(&column) && !collides(report, cells, &others) {
            hidden.push(column.clone());
            rest.retain(|c| *c != column);
        }
    }
    // A column only some cells have makes no panels (those would split like cells apart): it goes into
    // the series names.
    let (mut rest, extra): (Vec<String>, Vec<String>) = rest.into_iter().partition(|c| !sparse(c));
    let mut files = Vec::new();
    let panels = auto_panels(report, cells, &mut rest, &mut files);
    Roles { x, series, panels, files, hidden, extra, ..Roles::default() }
}

/// The panel columns of `columns`: while they would make more than [`MAX_PANELS`] panels, the first of
/// them moves to `files`.
pub(crate) fn auto_panels(
    report: &Report,
    cells: &[usize],
    columns: &mut Vec<String>,
    files: &mut Vec<String>,
) -> Vec<String> {
    while columns.len() > 1 && combinations(report, cells, columns) > MAX_PANELS {
        files.push(columns.remove(0));
    }
    std::mem::take(columns)
}

/// Whether two of `cells` have the same values in `columns`.
pub(crate) fn collides(report: &Report, cells: &[usize], columns: &[&String]) -> bool {
    let mut seen = std::collections::HashSet::new();
    !cells.iter().all(|&c| seen.insert(columns.iter().map(|col| report.value(c, col)).collect::<Vec<_>>()))
}

fn combinations(report: &Report, cells: &[usize], columns: &[String]) -> usize {
    cells.iter().map(|&cell| report.label(cell, columns)).collect::<std::collections::HashSet<_>>().len()
}

/// Added to a palette index: the same colour, one shade lighter.
pub(crate) const SHADE: usize = 100;

/// The executors of the harness, in the order of their colours.
pub(crate) const BUILT_IN_EXECUTORS: [&str; 4] = ["sync", "threaded", "async", "multiprocess"];

/// The palette index of an executor: the built-in ones always have the same colour, others follow in
/// the order they appear in the experiment.
pub(crate) fn executor_color(report: &Report, executor: &str) -> usize {
    if let Some(i) = BUILT_IN_EXECUTORS.iter().position(|b| *b == executor) {
        return i;
    }
    let others = report.other_executors();
    BUILT_IN_EXECUTORS.len() + others.iter().position(|o| *o == executor).unwrap_or(others.len())
}

/// What one chart shows, for [`build`].
#[derive(Debug, Clone)]
pub(crate) struct Plot {
    /// The file name without `.svg`, before any per-file suffix.
    pub file: String,
    pub title: String,
    pub measure: Measure,
    /// The y axis label, before its unit.
    pub y_label: String,
    /// Horizontal lines, in the measure's own values.
    pub rules: Vec<Rule>,
    /// When not empty, the x axis has these measures (name, label) as its categories, and every cell
    /// has a point for each; `measure` then only sets the unit. `roles.x` must be `None`.
    pub across: Vec<(&'static str, &'static str)>,
}

/// The figures of one measure with the automatic roles: over every cell, or over only the cells that have
/// the measure when `measured_only` (speedup and efficiency, which most cells may lack). `plot` is given
/// the roles, to name the chart after its x column.
pub(crate) fn auto_figures(
    report: &Report,
    measure: &Measure,
    measured_only: bool,
    plot: impl FnOnce(&Roles) -> Plot,
) -> Vec<Figure> {
    let cells: Vec<usize> =
        (0..report.cells.len()).filter(|&c| !measured_only || report.estimate(c, &measure.name).is_some()).collect();
    if cells.is_empty() {
        return Vec::new();
    }
    let roles = auto(report, &cells, &[]);
    build(report, &cells, &roles, &plot(&roles))
}

/// Builds the figures of `plot` over `cells` with `roles`: one per combination of `roles.files`.
pub(crate) fn build(report: &Report, cells: &[usize], roles: &Roles, plot: &Plot) -> Vec<Figure> {
    let mut labels = Order::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &cell in cells {
        let index = labels.index(report.label(cell, &roles.files));
        if index == groups.len() {
            groups.push(Vec::new());
        }
        groups[index].push(cell);
    }
    labels
        .items
        .iter()
        .zip(&groups)
        .filter_map(|(label, members)| figure(report, members, roles, plot, label))
        .collect()
}

fn figure(report: &Report, cells: &[usize], roles: &Roles, plot: &Plot, group: &str) -> Option<Figure> {
    let numbers = roles.x.as_ref().is_some_and(|x| numeric(report, cells, x));
    let kind = roles.kind.unwrap_or(if numbers && plot.across.is_empty() { Kind::Line } else { Kind::Bar });
    // Bars stand on categories, even over numbers.
    let numeric_x = numbers && kind == Kind::Line && plot.across.is_empty();
    let categories: Vec<String> = match (&roles.x, numeric_x) {
        _ if !plot.across.is_empty() => plot.across.iter().map(|(_, label)| (*label).to_owned()).collect(),
        (_, true) => Vec::new(),
        (Some(x), false) => value_order(report, cells, x).items.into_iter().map(shown).collect(),
        (None, _) => {
            let mut names = Order::new();
            for &cell in cells {
                names.index(series_name(report, cell, roles));
            }
            names.items
        }
    };
    let mut category_index = Order::new();
    for category in &categories {
        category_index.index(category.as_str());
    }
    // Each series once, with its executor's colour, in order of appearance, and how many series of its
    // executor came before it.
    let mut names: Order<String> = Order::new();
    let mut series_of: Vec<(usize, usize)> = Vec::new();
    let mut per_executor: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for &cell in cells {
        let index = names.index(series_name(report, cell, roles));
        if index == series_of.len() {
            let executor = report.cells[cell].executor.as_str();
            let before = per_executor.entry(executor).or_insert(0);
            series_of.push((executor_color(report, executor), *before));
            *before += 1;
        }
    }
    let mut panels: Vec<Panel> = Vec::new();
    // Panels go in the order of their columns' values (the first column's slowest), each column's
    // values as `value_order` gives them, whatever the order of the cells.
    let panel_orders = value_orders(report, cells, &roles.panels);
    let mut panel_keys: Vec<Vec<Option<usize>>> = Vec::new();
    let mut panel_index: Order<String> = Order::new();
    let mut series_index: Vec<std::collections::HashMap<String, usize>> = Vec::new();
    let mut missing = 0;
    let mut counts: Vec<usize> = Vec::new();
    for &cell in cells {
        let measures: Vec<&str> = if plot.across.is_empty() {
            vec![&*plot.measure.name]
        } else {
            plot.across.iter().map(|(m, _)| *m).collect()
        };
        let estimates: Vec<(usize, super::Estimate)> =
            measures.iter().enumerate().filter_map(|(i, m)| Some((i, report.estimate(cell, m)?))).collect();
        if estimates.is_empty() {
            missing += 1;
            continue;
        }
        let name = series_name(report, cell, roles);
        let x = match &roles.x {
            _ if !plot.across.is_empty() => None,
            Some(x) if numeric_x => Some(report.value(cell, x).parse().expect("checked numeric")),
            Some(x) => Some(category_index.get(&shown(report.value(cell, x)).as_str()).expect("a category") as f64),
            None => Some(category_index.get(&name.as_str()).expect("a category") as f64),
        };
        let by_executor = roles.series.as_deref() == Some(EXECUTOR)
            || (roles.series.is_none() && roles.extra.iter().map(String::as_str).eq([EXECUTOR]));
        let position = names.get(&name).unwrap_or(0);
        let color = if by_executor {
            // A second series of one executor (other options) gets a lighter shade of its colour.
            let (executor_color, variant) = series_of[position];
            executor_color + SHADE * variant
        } else {
            position
        };
        let points: Vec<Point> = estimates
            .iter()
            .map(|(i, e)| {
                counts.push(e.n);
                Point { x: x.unwrap_or(*i as f64), y: e.value, low: e.low, high: e.high, n: e.n }
            })
            .collect();
        let label = report.label(cell, &roles.panels);
        let index = panel_index.index(label.clone());
        if index == panels.len() {
            panels.push(Panel { label, series: Vec::new(), log_y: false, marks: Vec::new() });
            series_index.push(std::collections::HashMap::new());
            panel_keys.push(value_key(&panel_orders, report, cell));
        }
        let panel = &mut panels[index];
        let next = panel.series.len();
        let at = *series_index[index].entry(name.clone()).or_insert(next);
        if at == next {
            panel.series.push(Series { name, color, points });
        } else {
            panel.series[at].points.extend(points);
        }
    }
    if panels.is_empty() {
        return None;
    }
    // Two panel columns whose every pair of values has a panel make a grid: across, the one with more values
    // when a row holds them all, else the other; a row each value of the one not across (a row for each
    // workload, across the worker counts, say).
    let mut grid_columns = None;
    if let [(_, first), (_, second)] = panel_orders.as_slice() {
        let (a, b) = (first.items.len(), second.items.len());
        let fits = |n: usize| (2..=MAX_GRID_COLUMNS).contains(&n);
        // Whether the first column goes across: the keys sort by the row's value first.
        let first_across = if a * b != panels.len() {
            None
        } else if fits(a.max(b)) {
            Some(a > b)
        } else if fits(a.min(b)) {
            Some(a < b)
        } else {
            None
        };
        if let Some(first_across) = first_across {
            grid_columns = Some(if first_across { a } else { b });
            if first_across {
                for key in &mut panel_keys {
                    key.reverse();
                }
            }
        }
    }
    let mut keyed: Vec<(Vec<Option<usize>>, Panel)> = panel_keys.into_iter().zip(panels).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut panels: Vec<Panel> = keyed.into_iter().map(|(_, panel)| panel).collect();
    let largest =
        panels.iter().flat_map(|p| &p.series).flat_map(|s| &s.points).map(|p| p.high.abs()).fold(0.0, f64::max);
    let unit = unit(plot.measure.dimension, largest);
    for panel in &mut panels {
        let (mut lowest, mut highest) = (f64::INFINITY, 0.0f64);
        // The legend lists the series in one order everywhere.
        panel.series.sort_by_key(|s| s.color);
        for series in &mut panel.series {
            series.points.sort_by(|a, b| a.x.total_cmp(&b.x));
            for p in &mut series.points {
                (p.y, p.low, p.high) = (p.y * unit.scale, p.low * unit.scale, p.high * unit.scale);
                lowest = lowest.min(p.low.min(p.y));
                highest = highest.max(p.high.max(p.y));
            }
        }
        // Each panel has its own range, so each decides: two decades or more make it logarithmic.
        panel.log_y = roles.log_y.unwrap_or(highest / lowest > 100.0) && lowest > 0.0;
    }
    let log_y = panels.iter().all(|p| p.log_y);
    let x_label = if plot.across.is_empty() {
        roles.x.clone().or_else(|| roles.series.clone()).unwrap_or_default()
    } else {
        "percentile".to_owned()
    };
    let title = if group.is_empty() { plot.title.clone() } else { format!("{}, {group}", plot.title) };
    let file = if group.is_empty() { plot.file.clone() } else { format!("{}--{}", plot.file, slug(group)) };
    let mut notes = Vec::new();
    for column in &roles.hidden {
        let with: Vec<usize> = cells.iter().copied().filter(|&c| !report.value(c, column).is_empty()).collect();
        let values: Vec<&str> = distinct(report, &with, column);
        let common: Vec<String> = report
            .columns
            .iter()
            .filter(|c| *c != column && distinct(report, &with, c).len() == 1 && distinct(report, cells, c).len() > 1)
            .map(|c| format!("{c}={}", report.value(with[0], c)))
            .collect();
        let which = if common.is_empty() { String::new() } else { format!(" with {}", common.join(", ")) };
        notes.push(format!(
            "{column}={} in {}{which}, drawn with the others",
            values.join(" or "),
            super::figure::count(with.len(), "cell"),
        ));
    }
    if missing > 0 {
        notes.push(format!("{missing} of {} cells have no {} (failed or not run)", cells.len(), plot.measure.label));
    }
    let constants: Vec<String> = report
        .columns
        .iter()
        .filter(|c| !roles.files.contains(c) && distinct(report, cells, c).len() == 1)
        .filter_map(|c| {
            let v = report.value(cells[0], c);
            (!v.is_empty()).then(|| format!("{c}={v}"))
        })
        .collect();
    let (mark, whisker) = match kind {
        Kind::Line => ("point", "error bar"),
        Kind::Bar => ("bar", "whisker"),
    };
    let mut subtitle = format!(
        "{}: each {mark} is the median of {}, its {whisker} the 95% confidence interval",
        report.name,
        runs(&counts)
    );
    if !constants.is_empty() {
        subtitle.push_str("; ");
        subtitle.push_str(&constants.join(", "));
    }
    if let Some(load) = load_note(report, cells, roles) {
        subtitle.push_str("; ");
        subtitle.push_str(&load);
    }
    let y_label = if unit.name == "count" { plot.y_label.clone() } else { format!("{} ({})", plot.y_label, unit.name) };
    let lines = plot.rules.iter().map(|r| Rule { label: r.label.clone(), y: r.y * unit.scale }).collect();
    Some(Figure {
        file,
        title,
        subtitle,
        kind,
        x: Axis { label: x_label, log: numeric_x && log_x(report, cells, roles), categories },
        y: Axis { label: y_label, log: log_y, categories: Vec::new() },
        panels,
        grid_columns,
        rules: lines,
        notes,
    })
}

/// Numbers spread this much (1 to 16 workers, say) are placed on a logarithmic x axis by default, where
/// doublings are evenly spaced.
pub(crate) const LOG_X_RATIO: f64 = 16.0;

fn log_x(report: &Report, cells: &[usize], roles: &Roles) -> bool {
    let Some(x) = &roles.x else { return false };
    let values: Vec<f64> = cells.iter().filter_map(|&c| report.value(c, x).parse().ok()).collect();
    let (low, high) = values.iter().fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(*v), h.max(*v)));
    let positive = low > 0.0;
    roles.log_x.unwrap_or(positive && high / low >= LOG_X_RATIO) && positive
}

/// "3 runs", or "2 to 3 runs" when cells had different numbers of successful runs.
pub(crate) fn runs(counts: &[usize]) -> String {
    let (low, high) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
    let noun = if high == 1 { "run" } else { "runs" };
    if low == high { format!("{high} {noun}") } else { format!("{low} to {high} {noun}") }
}

/// The series a cell belongs to: its value in the series column, and in the columns without a role.
/// Most series and loads a chart's subtitle names one by one; past them it sends the reader to the table.
const LOAD_NOTE_MOST: usize = 12;

/// The load the chart's cells drew on the servers their steps go to ([`crate::summary::slots`]): one label
/// when they all drew the same, else each series' own, so that a cell of one shared connection is never read
/// as one of a connection per task; `None` when no cell connects to a server or declares a model.
pub(crate) fn load_note(report: &Report, cells: &[usize], roles: &Roles) -> Option<String> {
    let slots = |c: usize| report.cells[c].summary.slots.as_ref();
    // Cells that connect to no server drew no load but the tasks the model keeps in flight, which their
    // axes say already.
    if !cells.iter().any(|&c| slots(c).is_some_and(crate::summary::slots::Slots::connects)) {
        return None;
    }
    let label = |c: usize| slots(c).map(crate::summary::slots::Slots::label);
    let mut labels = Order::new();
    let mut by_series: Vec<(String, Vec<String>)> = Vec::new();
    for &cell in cells {
        let Some(load) = label(cell) else { continue };
        labels.index(load.clone());
        let series = series_name(report, cell, roles);
        match by_series.iter_mut().find(|(s, _)| *s == series) {
            Some((_, loads)) if loads.contains(&load) => {}
            Some((_, loads)) => loads.push(load),
            None => by_series.push((series, vec![load])),
        }
    }
    match labels.items.as_slice() {
        [] => None,
        [one] => Some(format!("load: {one}")),
        _ if by_series.iter().map(|(_, l)| l.len()).sum::<usize>() > LOAD_NOTE_MOST => {
            Some("the load of each cell (tasks in flight, connections) is in the results table".to_owned())
        }
        _ => {
            let each: Vec<String> =
                by_series.iter().map(|(series, loads)| format!("{series} {}", loads.join(" / "))).collect();
            Some(format!("load: {}", each.join("; ")))
        }
    }
}

fn series_name(report: &Report, cell: usize, roles: &Roles) -> String {
    let mut parts: Vec<String> = roles.series.iter().map(|s| shown(report.value(cell, s))).collect();
    let extra = report.label(cell, &roles.extra);
    if !extra.is_empty() {
        parts.push(extra);
    }
    if parts.is_empty() { "all cells".to_owned() } else { parts.join(", ") }
}

/// A value as shown on a chart: an empty one as "(none)".
fn shown(value: &str) -> String {
    if value.is_empty() { "(none)".to_owned() } else { value.to_owned() }
}

/// A file name part: letters, digits, `.`, `_` and `-`.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || "._".contains(c) {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MEASURED;
    use crate::report::Sources;
    use crate::summary::{self, DeclaredCell, Run};

    /// A report of cells with these values in `columns`, each measured once.
    fn report(columns: &[&str], cells: &[&[&str]]) -> Report {
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        let models: Vec<DeclaredCell> = cells
            .iter()
            .map(|values| DeclaredCell {
                key: values.iter().map(|v| (*v).to_owned()).collect(),
                executor: values[columns.iter().position(|c| c == "executor").unwrap()].to_owned(),
                workers: 1,
                options: std::sync::Arc::default(),
                model: None,
                workload: None,
                checksum_group: None,
                search: None,
            })
            .collect();
        let runs: Vec<Run> = models
            .iter()
            .map(|m| Run {
                cell: None,
                key: m.key.clone(),
                repetition: 1,
                ok: true,
                names: summary::measured(&[]),
                metrics: vec![Some(1.0); MEASURED.len()],
                probe: None,
            })
            .collect();
        let summaries = summary::summarize(&runs, &models, 1, 2);
        Report::new(Sources {
            name: "t",
            description: "",
            columns: &columns,
            cells: &models,
            summaries: &summaries,
            runs: &runs,
            charts: &[],
            environment: &serde_json::Value::Null,
            warnings: &[],
            catalog: &crate::metrics::Catalog::default(),
        })
    }

    fn run_time() -> Plot {
        Plot {
            file: "run_s".to_owned(),
            title: "Run time".to_owned(),
            measure: crate::report::measure::find("run_s").unwrap(),
            y_label: "run time".to_owned(),
            rules: Vec::new(),
            across: Vec::new(),
        }
    }

    #[test]
    fn executors_are_series_the_first_number_is_x_and_the_rest_panels() {
        let r = report(
            &["executor", "workload", "workers"],
            &[&["sync", "io", "1"], &["threaded", "io", "1"], &["threaded", "io", "4"], &["threaded", "cpu", "4"]],
        );
        let roles = auto(&r, &[0, 1, 2, 3], &[]);
        assert_eq!(roles.series.as_deref(), Some("executor"));
        assert_eq!(roles.x.as_deref(), Some("workers"));
        assert_eq!(roles.panels, ["workload"]);
        assert!(roles.hidden.is_empty() && roles.extra.is_empty() && roles.files.is_empty());
    }

    #[test]
    fn widely_spread_numbers_make_a_logarithmic_x_axis() {
        let spread = |workers: &[&str]| {
            let cells: Vec<Vec<&str>> = workers.iter().map(|w| vec!["threaded", *w]).collect();
            let slices: Vec<&[&str]> = cells.iter().map(Vec::as_slice).collect();
            let r = report(&["executor", "workers"], &slices);
            let all: Vec<usize> = (0..cells.len()).collect();
            build(&r, &all, &auto(&r, &all, &[]), &run_time()).remove(0).x.log
        };
        assert!(!spread(&["1", "2", "8"]));
        assert!(spread(&["1", "4", "16", "64"]));
    }

    #[test]
    fn columns_only_some_cells_have_are_noted_or_named_in_the_series() {
        // As in experiments/models.toml: every cell listed by `include`.
        let r = report(
            &["workload", "executor", "flavor", "workers"],
            &[
                &["cpu", "sync", "", ""],
                &["cpu", "async", "current_thread", ""],
                &["cpu", "async", "multi_thread", "2"],
                &["cpu", "threaded", "", "2"],
                &["io", "sync", "", ""],
            ],
        );
        let roles = auto(&r, &[0, 1, 2, 3, 4], &[]);
        assert_eq!(roles.x.as_deref(), Some("workload"), "no numeric column every cell has");
        assert_eq!(roles.hidden, ["flavor"]);
        assert_eq!(roles.extra, ["workers"], "two async cells would fall on one point without it");
        assert!(roles.panels.is_empty());
        let plot = run_time();
        let figure = build(&r, &[0, 1, 2, 3, 4], &roles, &plot).remove(0);
        let legend: Vec<(&str, usize)> = figure.legend();
        // In the order of the executors' colours, a second `async` series a shade lighter.
        assert_eq!(legend, [("sync", 0), ("threaded, workers=2", 1), ("async", 2), ("async, workers=2", 2 + SHADE)]);
    }

    #[test]
    fn two_panel_columns_make_a_grid_in_the_order_of_their_values() {
        // The cells in an order of their own, as a matrix with `include` or a resumed run may give them.
        let order = [("8", "io"), ("1", "cpu"), ("2", "io"), ("1", "io"), ("8", "cpu"), ("2", "cpu")];
        let cells: Vec<[&str; 4]> = order.iter().map(|&(workers, workload)| ["sync", workers, workload, "1"]).collect();
        let slices: Vec<&[&str]> = cells.iter().map(<[&str; 4]>::as_slice).collect();
        let r = report(&["executor", "workers", "workload", "size"], &slices);
        let all: Vec<usize> = (0..cells.len()).collect();
        let roles = Roles {
            series: Some("executor".to_owned()),
            panels: vec!["workers".to_owned(), "workload".to_owned()],
            ..Roles::default()
        };
        let figure = build(&r, &all, &roles, &run_time()).remove(0);
        let labels: Vec<&str> = figure.panels.iter().map(|p| p.label.as_str()).collect();
        // A row a workload (two values) across the worker counts (three, ascending as numbers).
        assert_eq!(
            labels,
            [
                "workers=1, workload=io",
                "workers=2, workload=io",
                "workers=8, workload=io",
                "workers=1, workload=cpu",
                "workers=2, workload=cpu",
                "workers=8, workload=cpu"
            ]
        );
        assert_eq!(figure.grid_columns, Some(3));
        // Five values and two: two across, a row each of the five.
        let five: Vec<[&str; 4]> = ["100", "20", "5", "1000", "50"]
            .iter()
            .flat_map(|&a| ["io", "cpu"].map(|workload| ["sync", a, workload, "1"]))
            .collect();
        let slices5: Vec<&[&str]> = five.iter().map(<[&str; 4]>::as_slice).collect();
        let r5 = report(&["executor", "workers", "workload", "size"], &slices5);
        let all5: Vec<usize> = (0..five.len()).collect();
        let figure5 = build(&r5, &all5, &roles, &run_time()).remove(0);
        assert_eq!(figure5.grid_columns, Some(2));
        let labels: Vec<&str> = figure5.panels.iter().take(4).map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "workers=5, workload=io",
                "workers=5, workload=cpu",
                "workers=20, workload=io",
                "workers=20, workload=cpu"
            ]
        );
        // Without every pair of values, the drawing chooses.
        let figure = build(&r, &all[..5], &roles, &run_time()).remove(0);
        assert_eq!(figure.grid_columns, None);
    }

    #[test]
    fn too_many_panels_make_one_file_per_value() {
        let mut cells: Vec<Vec<String>> = Vec::new();
        for executor in ["sync", "threaded"] {
            for b in 0..4 {
                for c in 0..4 {
                    for a in [1, 2] {
                        cells.push(vec![executor.to_owned(), a.to_string(), format!("b{b}"), format!("c{c}")]);
                    }
                }
            }
        }
        let refs: Vec<Vec<&str>> = cells.iter().map(|c| c.iter().map(String::as_str).collect()).collect();
        let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
        let r = report(&["executor", "a", "b", "c"], &slices);
        let all: Vec<usize> = (0..cells.len()).collect();
        let roles = auto(&r, &all, &[]);
        assert_eq!((roles.x.as_deref(), roles.series.as_deref()), (Some("a"), Some("executor")));
        // 16 panels would be too many for one chart: one file per value of `b`, four panels each.
        assert_eq!((roles.files.as_slice(), roles.panels.as_slice()), (&["b".to_owned()][..], &["c".to_owned()][..]));
        let plot = run_time();
        let figures = build(&r, &all, &roles, &plot);
        let files: Vec<&str> = figures.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(files, ["run_s--b-b0", "run_s--b-b1", "run_s--b-b2", "run_s--b-b3"]);
        assert!(figures.iter().all(|f| f.panels.len() == 4 && f.title.starts_with("Run time, b=b")));
    }
}
