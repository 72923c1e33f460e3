//! One measure (run time, throughput, p99 latency, CPU time, peak memory) against the first numeric
//! column, one series per executor: lines over numbers, grouped bars over categories.

use super::figure::Figure;
use super::layout::{self, Plot};
use super::measure::Measure;
use super::{Chart, Report};

#[derive(Debug, Clone)]
pub(crate) struct Metric {
    pub measure: Measure,
}

impl Chart for Metric {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let measure = &self.measure;
        layout::auto_figures(report, measure, false, |roles| Plot {
            file: measure.name.clone().into_owned(),
            title: title(&measure.label, roles.x.as_deref()),
            measure: measure.clone(),
            y_label: measure.label.clone().into_owned(),
            rules: Vec::new(),
            across: Vec::new(),
        })
    }
}

/// "Run time by workers": the measure's label, capitalised unless its first word is a name such as
/// `p99`, and the x column.
pub(crate) fn title(label: &str, x: Option<&str>) -> String {
    let first_word = label.split(' ').next().unwrap_or_default();
    let label = if first_word.chars().any(|c| c.is_ascii_digit()) {
        label.to_owned()
    } else {
        let mut chars = label.chars();
        let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
        format!("{first}{}", chars.as_str())
    };
    match x {
        Some(x) => format!("{label} by {x}"),
        None => label,
    }
}

#[cfg(test)]
mod tests {
    use super::title;

    #[test]
    fn titles_name_the_measure_and_the_x_column() {
        assert_eq!(title("run time", Some("workers")), "Run time by workers");
        assert_eq!(title("p99 latency", Some("workers")), "p99 latency by workers");
        assert_eq!(title("efficiency", None), "Efficiency");
    }
}
