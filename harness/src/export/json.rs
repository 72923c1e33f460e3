//! Every cell with its axes and, per exported metric, the statistics of its ok runs.

use serde_json::{Value, json};

use super::{Exported, Exporter};

/// The JSON export.
pub(super) struct Json;

impl Exporter for Json {
    fn serialize(&self, result: &Exported) -> anyhow::Result<String> {
        let cells: Vec<Value> = result
        .cells
        .iter()
        .map(|cell| {
            let metrics: serde_json::Map<String, Value> = cell
                .metrics
                .iter()
                .map(|(name, s)| {
                    let stats = json!({
                        "n": s.n, "median": s.median, "mean": s.mean, "stddev": s.stddev, "cv": s.cv,
                        "min": s.min, "max": s.max, "ci95_low": s.ci_low, "ci95_high": s.ci_high,
                    });
                    ((*name).to_owned(), stats)
                })
                .collect();
            let axes: serde_json::Map<String, Value> =
                cell.axes.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            json!({ "name": cell.label(), "axes": axes, "runs_ok": cell.ok, "runs_failed": cell.failed, "metrics": metrics })
        })
        .collect();
        let document = json!({ "experiment": result.experiment, "result": result.result, "cells": cells });
        Ok(serde_json::to_string_pretty(&document)? + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_has_its_axes_runs_and_statistics() {
        let text = Json.serialize(&super::super::tests::exported()).unwrap();
        let document: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(document["experiment"], "demo");
        let cells = document["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0]["name"], "executor=sync");
        assert_eq!(cells[1]["runs_failed"], 1);
        let run_s = &cells[0]["metrics"]["run_s"];
        assert_eq!((run_s["n"].as_u64(), run_s["median"].as_f64()), (Some(3), Some(0.011)));
        assert!(run_s["ci95_low"].as_f64().unwrap() <= 0.011 && 0.011 <= run_s["ci95_high"].as_f64().unwrap());
    }
}
