//! One measure (run time, throughput, p99 latency, CPU time, peak memory) against the first numeric
//! column, one series per executor: lines over numbers, grouped bars over categories.

use super::figure::Figure;
use super::layout::{self, Plot};
use super::measure::Measure;
use super::{Chart, Report};

#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub measure: Measure,
}

impl Chart for Metric {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let cells: Vec<usize> = (0..report.cells.len()).collect();
        let roles = layout::auto(report, &cells, &[]);
        let plot = Plot {
            file: self.measure.name.to_owned(),
            title: title(self.measure.label, roles.x.as_deref()),
            measure: self.measure,
            y_label: self.measure.label.to_owned(),
            rules: Vec::new(),
            across: Vec::new(),
        };
        layout::build(report, &cells, &roles, &plot)
    }
}

/// "Run time by workers": the measure's label, capitalised, and the x column.
pub fn title(label: &str, x: Option<&str>) -> String {
    let mut chars = label.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    let label = format!("{first}{}", chars.as_str());
    match x {
        Some(x) => format!("{label} by {x}"),
        None => label,
    }
}
