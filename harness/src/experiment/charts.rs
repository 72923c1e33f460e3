//! `[[charts]]`: charts an experiment file asks for, besides the ones every result gets. Each is checked
//! against the experiment's columns and cells here, with the rest of the file, so a chart that names an
//! unknown column or matches no cell stops the experiment before it runs.

use std::ops::Range;

use indexmap::IndexMap;
use toml::Spanned;

use super::matrix::Cell;
use super::raw::RawChart;
use super::{quote_list, scalar};
use crate::diagnostic::Diagnostic;
use crate::metrics::Catalog;

/// How a chart draws its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Points joined by lines, with error bars.
    Line,
    /// Grouped bars, with error bars.
    Bar,
}

impl ChartKind {
    pub const NAMES: [&'static str; 2] = ["line", "bar"];

    fn parse(text: &str) -> Option<Self> {
        match text {
            "line" => Some(Self::Line),
            "bar" => Some(Self::Bar),
            _ => None,
        }
    }
}

/// A checked `[[charts]]` table: every name in it is a column of the results or a measure.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    pub title: Option<String>,
    pub x: String,
    pub y: String,
    pub series: Option<String>,
    pub facet: Option<String>,
    /// Column to the values a cell must have in it (any of them), as written in `runs.csv`.
    pub filter: IndexMap<String, Vec<String>>,
    /// `None`: lines over a numeric `x`, bars over any other.
    pub kind: Option<ChartKind>,
    /// `None`: logarithmic when x is numeric and its largest value is 16 times its smallest or more.
    pub log_x: Option<bool>,
    /// `None`: logarithmic when the values span more than two decades.
    pub log_y: Option<bool>,
}

impl ChartSpec {
    /// Whether `cell` passes the filter.
    pub fn keeps(&self, value: impl Fn(&str) -> String) -> bool {
        self.filter.iter().all(|(column, values)| values.contains(&value(column)))
    }
}

type Error<'a> = &'a dyn Fn(String, Option<Range<usize>>) -> Diagnostic;

/// Checks the `[[charts]]` tables against the experiment's `columns` and `cells`.
pub(super) fn check(
    raw: &[Spanned<RawChart>],
    columns: &[String],
    cells: &[&Cell],
    catalog: &Catalog,
    error: Error<'_>,
) -> Result<Vec<ChartSpec>, Diagnostic> {
    raw.iter().map(|chart| check_one(chart, columns, cells, catalog, error)).collect()
}

fn check_one(
    spanned: &Spanned<RawChart>,
    columns: &[String],
    cells: &[&Cell],
    catalog: &Catalog,
    error: Error<'_>,
) -> Result<ChartSpec, Diagnostic> {
    let chart = spanned.get_ref();
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let column = |key: &str, name: &Spanned<String>| -> Result<String, Diagnostic> {
        let text = name.get_ref();
        if columns.contains(text) {
            return Ok(text.clone());
        }
        Err(error(format!("chart `{key}` names unknown column `{text}`"), Some(name.span()))
            .expected(format!("one of the columns: {}", quote_list(&names)))
            .did_you_mean(text, names.iter().copied()))
    };
    let x = column("x", &chart.x)?;
    let series = chart.series.as_ref().map(|s| column("series", s)).transpose()?;
    let facet = chart.facet.as_ref().map(|f| column("facet", f)).transpose()?;
    let y = chart.y.get_ref();
    if catalog.chartable(y).is_none() {
        let measures = &*crate::metrics::CHARTABLE;
        return Err(error(format!("chart `y` is `{y}`, which is not a measure"), Some(chart.y.span()))
            .expected(format!("one of {}", quote_list(measures)))
            .did_you_mean(y, measures.iter().copied()));
    }
    let roles = [("x", Some(&chart.x)), ("series", chart.series.as_ref()), ("facet", chart.facet.as_ref())];
    for (i, (key, name)) in roles.iter().enumerate() {
        let Some(name) = name else { continue };
        if let Some((earlier, _)) = roles[..i].iter().find(|(_, n)| n.is_some_and(|n| n.get_ref() == name.get_ref())) {
            return Err(error(format!("chart `{key}` is `{}`, like `{earlier}`", name.get_ref()), Some(name.span()))
                .help(format!(
                    "`x`, `series` and `facet` need different columns; leave out `{key}` to draw one series"
                )));
        }
    }
    let kind = chart
        .kind
        .as_ref()
        .map(|k| {
            ChartKind::parse(k.get_ref()).ok_or_else(|| {
                error(format!("chart `kind` is `{}`", k.get_ref()), Some(k.span()))
                    .expected(format!("one of {}", quote_list(&ChartKind::NAMES)))
                    .did_you_mean(k.get_ref(), ChartKind::NAMES)
            })
        })
        .transpose()?;
    let value_of = |cell: &Cell, column: &str| cell.get(column).map(ToString::to_string).unwrap_or_default();
    let mut filter = IndexMap::new();
    for (key, value) in &chart.filter {
        let name = column("filter", key)?;
        let written: Vec<&toml::Value> = match value.get_ref() {
            toml::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut seen: indexmap::IndexSet<String> = indexmap::IndexSet::new();
        for cell in cells {
            let v = value_of(cell, &name);
            if !v.is_empty() {
                seen.insert(v);
            }
        }
        let mut values = Vec::new();
        for item in written {
            let text = scalar(item).map(|v| v.to_string()).ok_or_else(|| {
                error(format!("filter value of `{name}` is not a value or a list of values"), Some(value.span()))
                    .expected("a string, number or boolean, or a list of them")
            })?;
            if !seen.contains(&text) {
                let quoted: Vec<&str> = seen.iter().map(String::as_str).collect();
                return Err(error(format!("filter value `{text}` of `{name}` matches no cell"), Some(value.span()))
                    .expected(format!("one of the values of `{name}`: {}", quote_list(&quoted)))
                    .did_you_mean(&text, quoted.iter().copied()));
            }
            values.push(text);
        }
        filter.insert(name, values);
    }
    let spec = ChartSpec {
        title: chart.title.clone(),
        x,
        y: y.clone(),
        series,
        facet,
        filter,
        kind,
        log_x: chart.log_x,
        log_y: chart.log_y,
    };
    let kept: Vec<&&Cell> = cells.iter().filter(|c| spec.keeps(|column| value_of(c, column))).collect();
    if kept.is_empty() {
        return Err(error("the chart's filter matches no cell".to_owned(), Some(spanned.span())).help(
            "each filter value occurs in some cell, but no cell has all of them; `harness plan` shows the cells",
        ));
    }
    if spec.log_x == Some(true) {
        let positive = kept.iter().all(|c| value_of(c, &spec.x).parse::<f64>().is_ok_and(|v| v > 0.0));
        if !positive {
            return Err(error(
                format!("chart has `log_x = true`, but column `{}` does not hold positive numbers only", spec.x),
                Some(chart.x.span()),
            )
            .help("a logarithmic axis needs numbers above zero; remove `log_x` for this column"));
        }
    }
    Ok(spec)
}
