//! `report.md`: for reading on a code-hosting page. The charts are images next to it (`charts/*.svg`).

use std::fmt::Write as _;

use super::{Format, Rendered, Report, Table};
use crate::fmt::{markdown, markdown_message};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Markdown;

impl Format for Markdown {
    fn file_name(&self) -> &'static str {
        crate::results::files::REPORT_MD
    }

    fn render(&self, report: &Report, charts: &[Rendered]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", markdown(&report.name));
        if !report.description.is_empty() {
            let lines: Vec<String> = report.description.lines().map(markdown).collect();
            let _ = writeln!(out, "{}\n", lines.join("\n"));
        }
        let _ = writeln!(out, "{}\n", summary_line(report, markdown));
        if !report.notes.is_empty() {
            out.push_str("> **Note**\n");
            for note in &report.notes {
                let _ = writeln!(out, "> - {}", markdown_message(note));
            }
            out.push('\n');
        }
        out.push_str("## Charts\n\n");
        for chart in charts {
            let _ = writeln!(
                out,
                "### {}\n\n![{}]({})\n",
                markdown(&chart.figure.title),
                markdown(&chart.figure.title),
                chart.path
            );
        }
        out.push_str("## Results\n\n");
        out.push_str("Each value is the median of the cell's successful runs, with its 95% confidence interval in parentheses.\n\n");
        table(&mut out, &report.results());
        if let Some(load) = super::load::load_table(report) {
            let _ = writeln!(out, "\n## Load\n\n{}\n", super::load::TABLE_NOTE);
            table(&mut out, &load);
        }
        if !report.warnings.is_empty() {
            out.push_str("\n## Warnings\n\n");
            for warning in &report.warnings {
                let _ = writeln!(out, "- {}", markdown_message(warning));
            }
        }
        out.push_str("\n## Environment\n\n");
        table(&mut out, &report.environment_table());
        out
    }
}

/// "30 cells, 90 measured runs (2 failed); the same in every cell: ...". Shared by the formats, each of
/// which passes how its values are escaped.
pub(crate) fn summary_line(report: &Report, escape: fn(&str) -> String) -> String {
    let failed = if report.failed > 0 { format!(" ({} failed)", report.failed) } else { String::new() };
    let mut line = format!("{} cells, {} measured runs{failed}.", report.cells.len(), report.runs);
    let constants = report.constants();
    if !constants.is_empty() {
        let constants: Vec<String> = constants.iter().map(|c| escape(c)).collect();
        let _ = write!(line, " The same in every cell: {}.", constants.join(", "));
    }
    line.push_str(" Redraw with `harness report DIR`.");
    line
}

pub(crate) fn table(out: &mut String, table: &Table) {
    let row = |cells: &[String]| format!("| {} |\n", cells.iter().map(|c| markdown(c)).collect::<Vec<_>>().join(" | "));
    out.push_str(&row(&table.header));
    let _ = writeln!(out, "|{}", " --- |".repeat(table.header.len()));
    for r in &table.rows {
        out.push_str(&row(r));
    }
}
