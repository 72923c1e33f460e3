//! github-action-benchmark's `customSmallerIsBetter` JSON.

use serde_json::json;

use super::{Exported, Exporter};
use crate::fmt::short;

/// github-action-benchmark's `customSmallerIsBetter`: one entry per cell and smaller-is-better metric.
pub(super) struct GithubBenchmark;

impl Exporter for GithubBenchmark {
    fn serialize(&self, result: &Exported) -> anyhow::Result<String> {
        let mut entries = Vec::new();
        for cell in &result.cells {
            for (name, unit) in [("run_s", "s"), ("latency_p99_s", "s"), ("peak_memory_bytes", "bytes")] {
                if let Some(s) = cell.metric(name) {
                    entries.push(json!({
                        "name": format!("{} {} {name}", result.experiment, cell.label()),
                        "unit": unit,
                        "value": s.median,
                        "range": format!("± {}", short((s.ci_high - s.ci_low) / 2.0)),
                        "extra": format!("median of {} runs; 95% CI [{}, {}]", s.n, short(s.ci_low), short(s.ci_high)),
                    }));
                }
            }
        }
        Ok(serde_json::to_string_pretty(&entries)? + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn one_entry_per_cell_and_smaller_is_better_metric() {
        let text = GithubBenchmark.serialize(&super::super::tests::exported()).unwrap();
        let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(entries.len(), 2 * 3);
        assert_eq!(entries[0]["name"], "demo executor=sync run_s");
        assert_eq!(entries[0]["unit"], "s");
        assert_eq!(entries[0]["value"], 0.011);
        assert!(entries[0]["range"].as_str().unwrap().starts_with("± "));
        assert_eq!(entries[2]["unit"], "bytes");
    }
}
