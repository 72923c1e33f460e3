//! Latency percentiles (p50, p90, p99, max) as grouped bars, one group per percentile and one bar per
//! executor; every other column that varies makes panels. Two charts: the median over the runs of each
//! run's percentile, and, when the folder has histograms, the percentile over every task of the cell.

use super::figure::{Figure, Kind};
use super::layout::{self, Plot};
use super::measure::{self, OVER_CELL_PERCENTILES, PERCENTILES};
use super::{Chart, Report};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency;

impl Chart for Latency {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let mut figures = chart(
            report,
            "latency",
            "Task latency percentiles (service time: from a task's first step to its end)",
            PERCENTILES,
        );
        let mut over_cell = chart(
            report,
            "latency-over-cell",
            "Task latency percentiles over every task of the cell (the runs' histograms merged)",
            OVER_CELL_PERCENTILES,
        );
        // One number per cell, not a median of runs: the subtitle says so, and that it has no interval.
        super::figure::say_what_marks_are(&mut over_cell, &report.name, |mark, _| {
            format!("each {mark} is one percentile over every task of the cell's runs (no interval)")
        });
        figures.extend(over_cell);
        figures
    }
}

/// The chart `file` of the percentiles `across`, for the cells that have them.
fn chart(report: &Report, file: &str, title: &str, across: &[(&'static str, &'static str)]) -> Vec<Figure> {
    let cells: Vec<usize> =
        (0..report.cells.len()).filter(|&c| across.iter().any(|(m, _)| report.estimate(c, m).is_some())).collect();
    if cells.is_empty() {
        return Vec::new();
    }
    let mut roles = layout::auto(report, &cells, &[]);
    // The x axis is the percentiles: the column it would have had becomes panels.
    if let Some(x) = roles.x.take().filter(|x| Some(x) != roles.series.as_ref()) {
        roles.panels.insert(0, x);
    }
    let mut panels = std::mem::take(&mut roles.panels);
    roles.panels = layout::auto_panels(report, &cells, &mut panels, &mut roles.files);
    roles.kind = Some(Kind::Bar);
    let plot = Plot {
        file: file.to_owned(),
        title: title.to_owned(),
        measure: measure::find("latency_p50_s").expect("a measure"),
        y_label: "task latency".to_owned(),
        rules: Vec::new(),
        across: across.to_vec(),
    };
    layout::build(report, &cells, &roles, &plot)
}
