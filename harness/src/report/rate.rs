//! The highest rate within the objective: for each cell that searched for it (`rate = "search"`), the
//! rate found, higher is better, with the bracket of the search as its interval: from the rate found up to
//! the lowest rate that failed ([`crate::search`]). A cell that found no rate has no bar.

use super::figure::Figure;
use super::layout::{self, Plot};
use super::measure::{self, RATE_FOUND};
use super::{Chart, Report};

/// The file name of the rate chart, before any per-file suffix.
pub(crate) const FILE: &str = "rate";

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rate;

impl Chart for Rate {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let measure = measure::find(RATE_FOUND).expect("a measure");
        // The objective, when every search has the same one.
        let what = match &report.objective {
            Some(objective) => format!("highest rate with {objective} (higher is better)"),
            None => "highest rate within the objective (higher is better)".to_owned(),
        };
        let mut figures = layout::auto_figures(report, &measure, true, |roles| Plot {
            file: FILE.to_owned(),
            title: super::metric::title(&what, roles.x.as_deref()),
            measure: measure.clone(),
            y_label: "rate found".to_owned(),
            rules: Vec::new(),
            across: Vec::new(),
        });
        super::figure::say_what_marks_are(&mut figures, &report.name, |mark, whisker| {
            format!("each {mark} is the rate a cell's search found, its {whisker} up to the lowest rate that failed")
        });
        figures
    }
}
