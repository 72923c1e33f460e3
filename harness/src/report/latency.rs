//! Latency percentiles (p50, p90, p99, max) as grouped bars, one group per percentile and one bar per
//! executor; every other column that varies makes panels.

use super::figure::{Figure, Kind};
use super::layout::{self, Plot};
use super::measure::{self, PERCENTILES};
use super::{Chart, Report};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency;

impl Chart for Latency {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let cells: Vec<usize> = (0..report.cells.len())
            .filter(|&c| PERCENTILES.iter().any(|(m, _)| report.estimate(c, m).is_some()))
            .collect();
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
            file: "latency".to_owned(),
            title: "Task latency percentiles (service time: from a task's first step to its end)".to_owned(),
            measure: measure::find("latency_p50_s").expect("a measure"),
            y_label: "task latency".to_owned(),
            rules: Vec::new(),
            across: PERCENTILES.to_vec(),
        };
        layout::build(report, &cells, &roles, &plot)
    }
}
