//! What a history shows: a trend chart per series (the median of each commit's runs with its confidence
//! interval, the change points marked), a self-contained HTML page, a Markdown summary, and the table
//! `harness history check` prints.

use std::fmt::Write as _;

use super::series::{Change, Series};
use crate::fmt::{signed_percent, tick};
use crate::metrics::{Catalog, Dimension};
use crate::report::figure::{Axis, Figure, Kind, Mark, Panel, Point, Series as Line};
use crate::report::layout::slug;

/// The metric's dimension, for its unit: the harness's, or what a custom metric's name says.
fn dimension(series: &Series) -> Dimension {
    let mut catalog = Catalog::default();
    catalog.declare(&series.key.metric, series.direction);
    catalog.dimension(&series.key.metric).unwrap_or(Dimension::Count)
}

/// "`run_s` of executor=sync tasks=8 (quickstart)".
pub(crate) fn title(series: &Series) -> String {
    let cell = if series.key.cell.is_empty() { "the cell".to_owned() } else { series.key.cell.clone() };
    format!("{} of {cell} ({})", series.key.metric, series.key.experiment)
}

/// The file name of a series' chart, without `.svg`: unique among the series of one history.
pub(crate) fn file(series: &Series, index: usize) -> String {
    format!(
        "{:03}-{}",
        index + 1,
        slug(&format!("{}-{}-{}", series.key.experiment, series.key.cell, series.key.metric))
    )
}

/// The trend chart of `series`: its points, oldest first, and a line at each change point.
pub(crate) fn figure(series: &Series, index: usize) -> Figure {
    let dimension = dimension(series);
    let largest = series.points.iter().map(|p| p.stats.ci_high.abs().max(p.stats.median.abs())).fold(0.0, f64::max);
    let unit = crate::fmt::unit(dimension, largest);
    let points = series
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| Point {
            x: (i + 1) as f64,
            y: p.stats.median * unit.scale,
            low: p.stats.ci_low * unit.scale,
            high: p.stats.ci_high * unit.scale,
            n: p.stats.n,
        })
        .collect();
    let marks = series
        .changes
        .iter()
        .map(|c| Mark {
            label: format!("{} {}", series.points[c.index].label(), signed_percent(c.relative)),
            x: c.index as f64 + 0.5,
        })
        .collect();
    let first = series.points.first().map(super::series::Point::label).unwrap_or_default();
    let last = series.points.last().map(super::series::Point::label).unwrap_or_default();
    let mut notes = vec![format!(
        "Each point is the median of one commit's runs, with its 95% confidence interval; points 1 to {} run from \
         {first} to {last}. A red line is a change point (E-divisive means, 5% level), labelled with the first commit \
         of the new level and the change of the level.",
        series.points.len()
    )];
    notes.extend(series.machines.iter().map(|m| format!("Machine: {m}.")));
    Figure {
        file: file(series, index),
        title: title(series),
        subtitle: format!(
            "{} over {} commits; {}",
            series.key.metric,
            series.points.len(),
            match series.changes.len() {
                0 => "no change point".to_owned(),
                1 => "1 change point".to_owned(),
                n => format!("{n} change points"),
            }
        ),
        kind: Kind::Line,
        x: Axis { label: "commit, oldest first".to_owned(), log: false, categories: Vec::new() },
        y: Axis { label: format!("{} ({})", series.key.metric, unit.name), log: false, categories: Vec::new() },
        panels: vec![Panel {
            label: String::new(),
            series: vec![Line { name: "median and 95% interval".to_owned(), color: 0, points }],
            log_y: false,
            marks,
        }],
        grid_columns: None,
        rules: Vec::new(),
        notes,
    }
}

/// What a change was, in words: "+12.3% (+9.8% to +14.1%), worse".
fn judged(change: &Change) -> &'static str {
    if change.worse {
        "worse"
    } else if change.better {
        "better"
    } else {
        "within the threshold"
    }
}

/// The columns of a change: its series, where, the levels, the change and the confidence.
const CHANGE_COLUMNS: [&str; 8] =
    ["experiment", "cell", "metric", "at commit", "before", "after", "change (95% interval)", "confidence"];

/// A change of `series` as a row of [`CHANGE_COLUMNS`].
fn change_row(series: &Series, change: &Change) -> Vec<String> {
    let dimension = dimension(series);
    let level = |value: f64| crate::fmt::quantity(dimension, value, (value, value));
    vec![
        series.key.experiment.clone(),
        series.key.cell.clone(),
        series.key.metric.clone(),
        format!("{} (#{})", series.points[change.index].label(), change.index + 1),
        level(change.before),
        level(change.after),
        format!(
            "{} ({} to {})",
            signed_percent(change.relative),
            signed_percent(change.interval.0),
            signed_percent(change.interval.1)
        ),
        format!("{}%", tick((1.0 - change.p) * 100.0)),
    ]
}

/// The rows of the table of changes: one per change point of every series, the latest first in each.
pub(crate) fn changes_table(series: &[Series]) -> crate::report::Table {
    let mut header: Vec<String> = CHANGE_COLUMNS.map(str::to_owned).to_vec();
    header.push("verdict".to_owned());
    let rows = series
        .iter()
        .flat_map(|s| {
            s.changes.iter().rev().map(move |change| {
                let mut row = change_row(s, change);
                row.push(judged(change).to_owned());
                row
            })
        })
        .collect();
    crate::report::Table { header, rows }
}

/// One sentence a series: what its latest change was, or that it has none.
fn summary_line(series: &Series) -> String {
    let n = series.points.len();
    match series.changes.last() {
        None => format!("{}: {}, no change point", title(series), crate::report::figure::count(n, "commit")),
        Some(change) => format!(
            "{}: {}; latest change at {} (commit #{}), {} ({}), {} with {}% confidence",
            title(series),
            crate::report::figure::count(n, "commit"),
            series.points[change.index].label(),
            change.index + 1,
            signed_percent(change.relative),
            crate::fmt::quantity(dimension(series), change.after, (change.after, change.after)),
            judged(change),
            tick((1.0 - change.p) * 100.0)
        ),
    }
}

/// `history.md`: the changes, then each series' chart as an image next to it (`charts/NAME.svg`).
pub(crate) fn markdown(series: &[Series], figures: &[Figure]) -> String {
    let mut out = String::from("# Benchmark history\n\n");
    let regressions = series.iter().filter(|s| s.regression().is_some()).count();
    let _ = writeln!(
        out,
        "{} series; {} with a change point; {regressions} whose newest results are worse than the level before them.\n",
        series.len(),
        series.iter().filter(|s| !s.changes.is_empty()).count()
    );
    let table = changes_table(series);
    if table.rows.is_empty() {
        out.push_str("No series changed.\n\n");
    } else {
        out.push_str("## Changes\n\n");
        crate::report::markdown::table(&mut out, &table);
        out.push('\n');
    }
    out.push_str("## Series\n\n");
    for (s, figure) in series.iter().zip(figures) {
        let _ = writeln!(out, "- {}", crate::fmt::markdown_message(&summary_line(s)));
        let _ = writeln!(out, "\n  ![{}](charts/{}.svg)\n", crate::fmt::markdown(&figure.title), figure.file);
    }
    out
}

/// `index.html`: one self-contained page, the charts inline.
pub(crate) fn html(series: &[Series], charts: &[(Figure, String)]) -> String {
    use crate::report::html::{STYLE, code, table};
    use crate::report::svg::escape;
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Benchmark history</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>Benchmark history</h1>\n"
    );
    let changed = series.iter().filter(|s| !s.changes.is_empty()).count();
    let _ = writeln!(out, "<p>{} series, {changed} with a change point.</p>", series.len());
    let found = changes_table(series);
    if !found.rows.is_empty() {
        out.push_str("<h2 id=\"changes\">Changes</h2>\n");
        table(&mut out, &found);
    }
    out.push_str("<h2 id=\"series\">Series</h2>\n");
    for (s, (figure, svg)) in series.iter().zip(charts) {
        let svg = svg.trim_start_matches(|c| c != '<');
        let svg = svg.strip_prefix("<?xml").map_or(svg, |rest| &rest[rest.find("?>").map_or(0, |i| i + 2)..]);
        let _ = writeln!(
            out,
            "<figure id=\"{}\">\n{}\n<figcaption class=\"ci\">{}</figcaption>\n</figure>",
            escape(&figure.file),
            svg.trim(),
            code(&escape(&summary_line(s)))
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// What `harness history check` prints: each series whose newest results are worse than the level
/// before them, or that none is.
pub(crate) fn check(series: &[Series]) -> String {
    let worse: Vec<&Series> = series.iter().filter(|s| s.regression().is_some()).collect();
    let mut out = String::new();
    if worse.is_empty() {
        let _ = writeln!(
            out,
            "no change for the worse: {} series, {} with a change point, none of whose newest results are worse than before",
            series.len(),
            series.iter().filter(|s| !s.changes.is_empty()).count()
        );
        return out;
    }
    let mut header: Vec<String> = CHANGE_COLUMNS.map(str::to_owned).to_vec();
    (header[3], header[5]) = ("since commit".to_owned(), "now".to_owned());
    let mut rows = vec![header];
    rows.extend(worse.iter().map(|s| change_row(s, s.regression().expect("worse"))));
    let _ = writeln!(out, "{} of {} series changed for the worse:\n", worse.len(), series.len());
    out.push_str(&crate::fmt::table(&rows));
    out
}
