//! Efficiency: the ideal run time of the model ([`crate::ideal`]) over the measured median run time,
//! with the ideal drawn as a line at 100%. The interval is the ideal over the run time's interval.

use super::figure::{Figure, Rule};
use super::layout::{self, Plot};
use super::measure::{self, EFFICIENCY};
use super::{Chart, Report};

/// The file name of the efficiency chart, before any per-file suffix.
pub(crate) const FILE: &str = "efficiency";

#[derive(Debug, Clone, Copy)]
pub(crate) struct Efficiency;

impl Chart for Efficiency {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let measure = measure::find(EFFICIENCY).expect("a measure");
        layout::auto_figures(report, &measure, true, |roles| Plot {
            file: FILE.to_owned(),
            title: super::metric::title("efficiency against the ideal time", roles.x.as_deref()),
            measure: measure.clone(),
            y_label: "efficiency".to_owned(),
            rules: vec![Rule { label: "ideal".to_owned(), y: 1.0 }],
            across: Vec::new(),
        })
    }
}
