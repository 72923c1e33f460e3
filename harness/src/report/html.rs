//! `report.html`: one self-contained file that opens offline in a browser, with the charts inline.

use std::fmt::Write as _;

use super::svg::escape;
use super::{Format, Rendered, Report, Table};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Html;

pub(crate) const STYLE: &str = "body{font-family:sans-serif;max-width:1320px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto}\
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}\
th{background:#f5f5f5}td{font-variant-numeric:tabular-nums}.note{background:#fff8e1;padding:.5em 1em;border-left:4px solid #f2b705}\
.warning{color:#8a4b00}.ci{color:#666;font-size:.85em}td{white-space:nowrap}";

impl Format for Html {
    fn file_name(&self) -> &'static str {
        crate::results::files::REPORT_HTML
    }

    fn render(&self, report: &Report, charts: &[Rendered]) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&report.name),
            escape(&report.name)
        );
        if !report.description.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", escape(&report.description));
        }
        let _ = writeln!(out, "<p>{}</p>", code(&escape(&super::markdown::summary_line(report, str::to_owned))));
        if !report.notes.is_empty() {
            out.push_str("<div class=\"note\"><ul>\n");
            for note in &report.notes {
                let _ = writeln!(out, "<li>{}</li>", code(&escape(note)));
            }
            out.push_str("</ul></div>\n");
        }
        out.push_str("<h2 id=\"charts\">Charts</h2>\n");
        for chart in charts {
            let svg = chart.svg.trim_start_matches(|c| c != '<');
            let svg = svg.strip_prefix("<?xml").map_or(svg, |rest| &rest[rest.find("?>").map_or(0, |i| i + 2)..]);
            let _ = writeln!(out, "<figure id=\"{}\">\n{}\n</figure>", escape(&chart.figure.file), svg.trim());
        }
        out.push_str("<h2 id=\"results\">Results</h2>\n<p>Each value is the median of the cell's successful runs, with its 95% confidence interval below it.</p>\n");
        table(&mut out, &report.results());
        if let Some(load) = super::load::load_table(report) {
            let _ = writeln!(out, "<h2 id=\"load\">Load</h2>\n<p>{}</p>", escape(super::load::TABLE_NOTE));
            table(&mut out, &load);
        }
        if !report.warnings.is_empty() {
            out.push_str("<h2 id=\"warnings\">Warnings</h2>\n<ul class=\"warning\">\n");
            for warning in &report.warnings {
                let _ = writeln!(out, "<li>{}</li>", escape(warning));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("<h2 id=\"environment\">Environment</h2>\n");
        table(&mut out, &report.environment_table());
        out.push_str("</body>\n</html>\n");
        out
    }
}

/// Text in backticks as `<code>`.
pub(crate) fn code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

pub(crate) fn table(out: &mut String, table: &Table) {
    out.push_str("<table>\n<thead><tr>");
    for h in &table.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            // "12 ms (11 to 13)": the interval on a line of its own, smaller.
            match cell.strip_suffix(')').and_then(|c| c.split_once(" (")) {
                Some((value, interval)) => {
                    let _ = write!(out, "<td>{}<br><span class=\"ci\">{}</span></td>", escape(value), escape(interval));
                }
                None => {
                    let _ = write!(out, "<td>{}</td>", code(&escape(cell)));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}
