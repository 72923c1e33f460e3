//! The `[[charts]]` of an experiment file: the columns for `x`, `series` and `facet` as written, the
//! cells its `filter` keeps. A column that still varies but has no role is named in the series, so no two
//! cells are ever drawn as one point.

use super::figure::{Figure, Kind, Rule};
use super::layout::{self, Plot, Roles};
use super::measure;
use super::{Chart, Report};
use crate::experiment::{ChartKind, ChartSpec, EXECUTOR};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Custom<'a> {
    pub spec: &'a ChartSpec,
    /// Its place among the `[[charts]]`, from 0.
    pub index: usize,
}

impl Chart for Custom<'_> {
    fn figures(&self, report: &Report) -> Vec<Figure> {
        let spec = self.spec;
        let cells: Vec<usize> =
            (0..report.cells.len()).filter(|&c| spec.keeps(|column| report.value(c, column).to_owned())).collect();
        let Some(measure) = report.catalog.chartable(&spec.y) else { return Vec::new() };
        let named: Vec<&String> =
            [Some(&spec.x), spec.series.as_ref(), spec.facet.as_ref()].into_iter().flatten().collect();
        let mut extra: Vec<String> =
            layout::varying(report, &cells).into_iter().filter(|c| !named.contains(&c)).collect();
        // As in the automatic charts: a column only some cells have is noted, not a series of its own,
        // when no two cells would then be drawn as one point.
        let mut hidden = Vec::new();
        for column in extra.clone() {
            let sparse = cells.iter().any(|&c| report.value(c, &column).is_empty());
            let others: Vec<&String> = named.iter().copied().chain(extra.iter().filter(|c| **c != column)).collect();
            if sparse && !layout::collides(report, &cells, &others) {
                extra.retain(|c| *c != column);
                hidden.push(column);
            }
        }
        // Bars over the executors take their colours.
        let series = spec.series.clone().or_else(|| (spec.x == EXECUTOR).then(|| spec.x.clone()));
        let roles = Roles {
            x: Some(spec.x.clone()),
            series,
            panels: spec.facet.iter().cloned().collect(),
            extra,
            hidden,
            kind: spec.kind.map(|k| match k {
                ChartKind::Line => Kind::Line,
                ChartKind::Bar => Kind::Bar,
            }),
            log_x: spec.log_x,
            log_y: spec.log_y,
            ..Roles::default()
        };
        let title = spec.title.clone().unwrap_or_else(|| super::metric::title(&measure.label, Some(&spec.x)));
        let plot = Plot {
            file: format!("chart-{}-{}", self.index + 1, short(&layout::slug(&title).to_lowercase())),
            title,
            y_label: measure.label.clone().into_owned(),
            rules: match &*measure.name {
                measure::EFFICIENCY => vec![Rule { label: "ideal".to_owned(), y: 1.0 }],
                measure::SPEEDUP => vec![Rule { label: format!("as fast as {}", report.reference), y: 1.0 }],
                _ => Vec::new(),
            },
            measure,
            across: Vec::new(),
        };
        layout::build(report, &cells, &roles, &plot)
    }
}

/// At most 48 characters of a file name part, cut at a `-`.
fn short(slug: &str) -> &str {
    if slug.len() <= 48 {
        return slug;
    }
    let cut = slug[..48].rfind('-').unwrap_or(48);
    &slug[..cut]
}
