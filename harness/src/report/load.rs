//! Open workloads: the p50 and p99 response time (from the moment a task was due to its end) against the
//! offered rate, one line per executor, with the service time drawn for reference: the hockey stick of
//! each execution model. One chart per workload; panels for the percentiles and for every other column
//! that tells load groups apart (such as `workers`). The notes say where each group was expected to
//! saturate (its capacity by the model) and where it did ([`crate::summary::open`]).
//!
//! The same figures give the load table of the reports ([`load_table`]).

use super::figure::{Axis, Figure, Kind, Panel, Point, Rule, Series};
use super::layout::{executor_color, runs};
use super::measure::Dimension;
use super::{Chart, Report, Table};
use crate::experiment::EXECUTOR;
use crate::fmt::{tick, unit};
use crate::summary::open::SUSTAINABLE_FACTOR;

/// The file name of the load chart, before any per-workload suffix.
pub(crate) const FILE: &str = "load";

/// What the load table says, above it.
pub(crate) const TABLE_NOTE: &str = "Cells of open workloads, by load group (the cells that differ only in \
    the rate): the service time (the shortest median p50 service time of the group), the capacity its model \
    expects (tasks in flight over the service time, or cores over a task's CPU work), the highest rate up to \
    which the median p99 response time stays within 2x the service time, and the rate where it no longer does.";

const PERCENTILES: [(&str, &str); 2] = [("response_p50_s", "p50"), ("response_p99_s", "p99")];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Load;

/// The cells of open workloads, by the value of the `workload` column (empty when the experiment has one).
fn by_workload(report: &Report) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for cell in (0..report.cells.len()).filter(|&c| report.cells[c].summary.open.is_some()) {
        let workload = report.value(cell, "workload").to_owned();
        match groups.iter_mut().find(|(w, _)| *w == workload) {
            Some((_, cells)) => cells.push(cell),
            None => groups.push((workload, vec![cell])),
        }
    }
    groups
}

/// The columns that tell the load groups of `cells` apart, beside the executor: the same within each group,
/// different between some. The columns that vary within a group (the rate) are left out.
fn group_columns(report: &Report, cells: &[usize]) -> Vec<String> {
    let group = |c: usize| report.cells[c].summary.open.as_ref().map(|o| o.group);
    report
        .columns
        .iter()
        .filter(|column| column.as_str() != EXECUTOR && column.as_str() != "workload")
        .filter(|column| {
            let value = |c: usize| report.value(c, column);
            let constant_in_groups =
                cells.iter().all(|&a| cells.iter().all(|&b| group(a) != group(b) || value(a) == value(b)));
            let varies = cells.iter().any(|&a| value(a) != value(cells[0]));
            constant_in_groups && varies
        })
        .cloned()
        .collect()
}

/// "threaded workers=8": a load group as people read it.
fn group_label(report: &Report, cell: usize, columns: &[String]) -> String {
    let rest = report.label(cell, columns);
    let executor = &report.cells[cell].executor;
    if rest.is_empty() { executor.clone() } else { format!("{executor} {rest}") }
}

/// "800/s", "99.6/s": three significant digits, whole numbers from 100 on.
fn rate(rate: f64) -> String {
    if rate >= 100.0 { format!("{rate:.0}/s") } else { format!("{}/s", tick(rate)) }
}

impl Chart for Load {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        by_workload(report).into_iter().filter_map(|(workload, cells)| figure(report, &workload, &cells)).collect()
    }
}

fn figure(report: &Report, workload: &str, cells: &[usize]) -> Option<Figure> {
    let columns = group_columns(report, cells);
    // Panels in the order of their columns' values, as in the other charts.
    let orders = super::layout::value_orders(report, cells, &columns);
    let mut cells = cells.to_vec();
    cells.sort_by_cached_key(|&c| super::layout::value_key(&orders, report, c));
    let cells = cells.as_slice();
    // Executors are series; the other columns that tell groups apart make panels, with the percentiles.
    let panel_of = |cell: usize, percentile: &str| {
        let rest = report.label(cell, &columns);
        if rest.is_empty() { percentile.to_owned() } else { format!("{percentile}, {rest}") }
    };
    let mut panels: Vec<Panel> = Vec::new();
    let mut counts = Vec::new();
    let mut largest = 0.0f64;
    for (metric, percentile) in PERCENTILES {
        for &cell in cells {
            let open = report.cells[cell].summary.open.as_ref().expect("an open cell");
            let Some(estimate) = report.estimate(cell, metric) else { continue };
            counts.push(estimate.n);
            largest = largest.max(estimate.high);
            let label = panel_of(cell, percentile);
            let index = panels.iter().position(|p| p.label == label).unwrap_or_else(|| {
                panels.push(Panel { label, series: Vec::new(), log_y: true, marks: Vec::new() });
                panels.len() - 1
            });
            let executor = &report.cells[cell].executor;
            let point = Point {
                x: open.offered_per_s,
                y: estimate.value,
                low: estimate.low,
                high: estimate.high,
                n: estimate.n,
            };
            let panel = &mut panels[index];
            match panel.series.iter_mut().find(|s| s.name == *executor) {
                Some(series) => series.points.push(point),
                None => panel.series.push(Series {
                    name: executor.clone(),
                    color: executor_color(report, executor),
                    points: vec![point],
                }),
            }
        }
    }
    if panels.is_empty() {
        return None;
    }
    let service =
        cells.iter().filter_map(|&c| report.cells[c].summary.open.as_ref()?.service_s).fold(f64::INFINITY, f64::min);
    let unit = unit(Dimension::Seconds, largest.max(if service.is_finite() { service } else { 0.0 }));
    let mut positive = true;
    for panel in &mut panels {
        panel.series.sort_by_key(|s| s.color);
        for series in &mut panel.series {
            series.points.sort_by(|a, b| a.x.total_cmp(&b.x));
            for p in &mut series.points {
                (p.y, p.low, p.high) = (p.y * unit.scale, p.low * unit.scale, p.high * unit.scale);
                positive &= p.low > 0.0 && p.y > 0.0;
            }
        }
    }
    for panel in &mut panels {
        panel.log_y = positive;
    }
    let rules = if service.is_finite() {
        vec![Rule { label: format!("service time, {}", fmt_seconds(service)), y: service * unit.scale }]
    } else {
        Vec::new()
    };
    let mut notes = Vec::new();
    let mut seen = Vec::new();
    for &cell in cells {
        let open = report.cells[cell].summary.open.as_ref().expect("an open cell");
        if seen.contains(&open.group) {
            continue;
        }
        seen.push(open.group);
        notes.push(saturation(&group_label(report, cell, &columns), open));
    }
    let title = if workload.is_empty() {
        "Response time against offered rate (from the moment a task was due to its end)".to_owned()
    } else {
        format!("Response time against offered rate, workload {workload}")
    };
    let file = if workload.is_empty() { FILE.to_owned() } else { format!("{FILE}--{workload}") };
    let rates: Vec<f64> =
        cells.iter().filter_map(|&c| Some(report.cells[c].summary.open.as_ref()?.offered_per_s)).collect();
    let (low, high) = rates.iter().fold((f64::INFINITY, 0.0f64), |(l, h), r| (l.min(*r), h.max(*r)));
    Some(Figure {
        file,
        title,
        subtitle: format!(
            "{}: each point is the median of {}, its error bar the 95% confidence interval; the line is the \
             shortest service time (first step to end)",
            report.name,
            runs(&counts)
        ),
        kind: Kind::Line,
        x: Axis {
            label: "offered rate (tasks/s)".to_owned(),
            log: low > 0.0 && high / low >= 4.0,
            categories: Vec::new(),
        },
        y: Axis { label: format!("response time ({})", unit.name), log: positive, categories: Vec::new() },
        panels,
        grid_columns: None,
        rules,
        notes,
    })
}

/// "10.0 ms": three significant digits in the unit that suits.
fn fmt_seconds(seconds: f64) -> String {
    let unit = unit(Dimension::Seconds, seconds);
    format!("{} {}", tick(seconds * unit.scale), unit.name)
}

/// "threaded workers=8: expected to saturate at 798/s (its model); sustained 500/s, saturated at 1000/s".
fn saturation(label: &str, open: &crate::summary::open::OpenSummary) -> String {
    let expected = open.capacity_per_s.map_or_else(
        || "no capacity by a model".to_owned(),
        |c| format!("expected to saturate at {} (its model)", rate(c)),
    );
    let measured = match (open.sustainable_per_s, open.saturated_per_s) {
        (Some(s), Some(t)) => format!("sustained {}, saturated at {}", rate(s), rate(t)),
        (Some(s), None) => format!("sustained every rate, up to {}", rate(s)),
        (None, Some(t)) => format!("saturated already at {}", rate(t)),
        (None, None) => "no rate measured".to_owned(),
    };
    format!("{label}: {expected}; {measured} (p99 within {SUSTAINABLE_FACTOR}x the service time)")
}

/// The load table of the reports: one row per load group, `None` when the result has no open workload.
pub(crate) fn load_table(report: &Report) -> Option<Table> {
    let mut rows = Vec::new();
    for (workload, cells) in by_workload(report) {
        let columns = group_columns(report, &cells);
        let mut seen = Vec::new();
        for &cell in &cells {
            let open = report.cells[cell].summary.open.as_ref().expect("an open cell");
            if seen.contains(&open.group) {
                continue;
            }
            seen.push(open.group);
            rows.push(vec![
                workload.clone(),
                group_label(report, cell, &columns),
                open.service_s.map(fmt_seconds).unwrap_or_default(),
                open.capacity_per_s.map(rate).unwrap_or_default(),
                open.sustainable_per_s.map_or_else(|| "none".to_owned(), rate),
                open.saturated_per_s.map_or_else(|| "not reached".to_owned(), rate),
            ]);
        }
    }
    if rows.is_empty() {
        return None;
    }
    let header = ["workload", "cells", "service time", "capacity (model)", "sustainable rate", "saturated at"];
    Some(Table { header: header.map(str::to_owned).to_vec(), rows })
}
