//! A Markdown table of medians with their confidence intervals, one row per cell.

use std::fmt::Write as _;

use super::{Exported, Exporter};
use crate::fmt::{markdown, short};
use crate::metrics::EXPORTED;

/// The Markdown export.
pub(super) struct Markdown;

impl Exporter for Markdown {
    fn serialize(&self, result: &Exported) -> anyhow::Result<String> {
        let mut text = format!(
            "## {}\n\nMedians of the ok runs, with 95% confidence intervals of the median.\n\n",
            markdown(&result.experiment)
        );
        text.push_str("| cell | runs | ");
        text.push_str(&EXPORTED.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" | "));
        text.push_str(" |\n| --- | ---: |");
        text.push_str(&" ---: |".repeat(EXPORTED.len()));
        text.push('\n');
        for cell in &result.cells {
            let _ = write!(
                text,
                "| {} | {}{} |",
                markdown(&cell.label()),
                cell.ok,
                if cell.failed > 0 { format!(" ({} failed)", cell.failed) } else { String::new() }
            );
            for name in EXPORTED.iter() {
                match cell.metric(name) {
                    Some(s) => {
                        let _ = write!(text, " {} [{}, {}] |", short(s.median), short(s.ci_low), short(s.ci_high));
                    }
                    None => text.push_str(" |"),
                }
            }
            text.push('\n');
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_cell_with_its_runs_and_intervals() {
        let text = Markdown.serialize(&super::super::tests::exported()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "## demo");
        let header = lines.iter().position(|l| l.starts_with("| cell | runs |")).unwrap();
        assert!(lines[header + 1].starts_with("| --- | ---: |"));
        assert!(lines[header + 2].starts_with("| executor=sync | 3 | 0.011 ["), "{text}");
        assert!(lines[header + 3].starts_with("| executor=threaded | 2 (1 failed) |"), "{text}");
    }
}
