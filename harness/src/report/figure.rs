//! A chart as data: panels of series of points with their intervals, axis labels, reference lines and
//! notes. The chart kinds make figures; [`super::svg`] draws them; [`Figure::describe`] prints what a
//! figure shows, for review and for tests.

use std::fmt::Write as _;

use crate::fmt::tick;

/// How points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Line,
    Bar,
}

/// One point: a median and its 95% confidence interval, already in the unit of the axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// A number on a numeric axis, or the index of a category.
    pub x: f64,
    pub y: f64,
    pub low: f64,
    pub high: f64,
    pub n: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// Index into the palette: the same executor has the same colour in every chart.
    pub color: usize,
    pub points: Vec<Point>,
}

/// One panel of a grid of small multiples; a figure of one panel has an empty label.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub label: String,
    pub series: Vec<Series>,
    /// Whether this panel's y axis is logarithmic.
    pub log_y: bool,
    /// Vertical lines across the panel: where a series changed.
    pub marks: Vec<Mark>,
}

/// A vertical line at `x`, labelled at its top.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub label: String,
    pub x: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    /// For y: whether every panel is logarithmic (see [`Panel::log_y`]).
    pub log: bool,
    /// The categories of a categorical axis, in order; empty for a numeric one.
    pub categories: Vec<String>,
}

/// A horizontal line across every panel: the ideal, or "no speedup".
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub label: String,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The file name without `.svg`.
    pub file: String,
    pub title: String,
    pub subtitle: String,
    pub kind: Kind,
    pub x: Axis,
    pub y: Axis,
    pub panels: Vec<Panel>,
    /// Panels a row: when the panels are every pair of two panel columns' values, the values of the column
    /// with more of them if a row holds them, else of the other (a row each value of the column not across);
    /// `None` leaves it to the drawing.
    pub grid_columns: Option<usize>,
    pub rules: Vec<Rule>,
    /// Sentences below the chart.
    pub notes: Vec<String>,
}

impl Figure {
    /// The series of every panel, each name once, in order of appearance: the legend.
    pub(crate) fn legend(&self) -> Vec<(&str, usize)> {
        let mut entries: Vec<(&str, usize)> = Vec::new();
        for series in self.panels.iter().flat_map(|p| &p.series) {
            if !entries.iter().any(|(name, _)| *name == series.name) {
                entries.push((&series.name, series.color));
            }
        }
        entries
    }

    /// What the figure shows, one fact a line: its title, axes, panels with their series and point
    /// counts, rules and notes. A change in what a chart shows is a change in this text.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "chart {}.svg: {}", self.file, self.title);
        let _ = writeln!(out, "  subtitle: {}", self.subtitle);
        let kind = match self.kind {
            Kind::Line => "line",
            Kind::Bar => "bar",
        };
        let axis = |a: &Axis| {
            let scale = if a.log { ", log scale" } else { "" };
            if a.categories.is_empty() {
                format!("{}{scale}", a.label)
            } else {
                format!("{}{scale}, categories {}", a.label, a.categories.join(" | "))
            }
        };
        let _ = writeln!(out, "  {kind}; x: {}; y: {}", axis(&self.x), axis(&self.y));
        for panel in &self.panels {
            let series: Vec<String> =
                panel.series.iter().map(|s| format!("{} ({})", s.name, count(s.points.len(), "point"))).collect();
            let label = if panel.label.is_empty() { "panel" } else { panel.label.as_str() };
            let log = if panel.log_y && !self.y.log { " (log y)" } else { "" };
            let _ = writeln!(out, "  {label}{log}: {}", series.join(", "));
            for mark in &panel.marks {
                let _ = writeln!(out, "    mark: {} at {}", mark.label, tick(mark.x));
            }
        }
        for rule in &self.rules {
            let _ = writeln!(out, "  rule: {} at {}", rule.label, tick(rule.y));
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }
}

/// "1 point", "3 points".
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Says in the subtitles of `figures` (of the report `name`) what their marks are, in the place of the
/// median of runs and its confidence interval that a chart's subtitle says by default:
/// `what(mark, whisker)`, given the words the subtitle has for them ("bar" and "whisker", or "point" and
/// "error bar").
pub(crate) fn say_what_marks_are(figures: &mut [Figure], name: &str, what: impl Fn(&str, &str) -> String) {
    for figure in figures {
        let Some((said, rest)) = figure.subtitle.split_once(" the 95% confidence interval") else { continue };
        let words = said
            .split_once("each ")
            .and_then(|(_, s)| s.split_once(" is the median of "))
            .and_then(|(mark, s)| s.split_once(", its ").map(|(_, whisker)| (mark.to_owned(), whisker.to_owned())));
        if let Some((mark, whisker)) = words {
            figure.subtitle = format!("{name}: {}{rest}", what(&mark, &whisker));
        }
    }
}
