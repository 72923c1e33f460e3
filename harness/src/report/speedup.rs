//! Speedup over a reference executor (`sync` unless the report says otherwise): the reference cell's
//! median run time over each other cell's. A cell's reference is the reference executor's cell with the
//! same values in every other column (see [`super::Report`]). The interval combines both cells' intervals
//! at their far ends, so it is wide rather than falsely narrow.

use super::figure::{Figure, Rule};
use super::layout::{self, Plot};
use super::measure::{self, SPEEDUP};
use super::{Chart, Report};

/// The file name of the speedup chart, before any per-file suffix.
pub(crate) const FILE: &str = "speedup";

#[derive(Debug, Clone, Copy)]
pub(crate) struct Speedup;

impl Chart for Speedup {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let measure = measure::find(SPEEDUP).expect("a measure");
        layout::auto_figures(report, &measure, true, |roles| Plot {
            file: FILE.to_owned(),
            title: super::metric::title(&format!("speedup over {}", report.reference), roles.x.as_deref()),
            measure: measure.clone(),
            y_label: format!("speedup over {}", report.reference),
            rules: vec![Rule { label: format!("as fast as {}", report.reference), y: 1.0 }],
            across: Vec::new(),
        })
    }
}
