//! Bencher Metric Format: benchmark name to measure to value with bounds.

use serde_json::{Value, json};

use super::{Exported, Exporter};

/// Bencher Metric Format: benchmark name to measure to value with bounds. `latency` is the median run time
/// in nanoseconds (bounds: the confidence interval), `throughput` tasks per second, `peak-memory` bytes.
pub(super) struct Bencher;

impl Exporter for Bencher {
    fn serialize(&self, result: &Exported) -> anyhow::Result<String> {
        let mut document = serde_json::Map::new();
        for cell in &result.cells {
            let mut measures = serde_json::Map::new();
            let mut add = |slug: &str, name: &str, scale: f64| {
                if let Some(s) = cell.metric(name) {
                    measures.insert(
                    slug.to_owned(),
                    json!({ "value": s.median * scale, "lower_value": s.ci_low * scale, "upper_value": s.ci_high * scale }),
                );
                }
            };
            add("latency", "run_s", 1e9);
            add("throughput", "throughput_per_s", 1.0);
            add("peak-memory", "peak_memory_bytes", 1.0);
            document.insert(format!("{}/{}", result.experiment, cell.label()), Value::Object(measures));
        }
        Ok(serde_json::to_string_pretty(&Value::Object(document))? + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_in_nanoseconds_with_the_interval_as_bounds() {
        let text = Bencher.serialize(&super::super::tests::exported()).unwrap();
        let document: Value = serde_json::from_str(&text).unwrap();
        let sync = &document["demo/executor=sync"];
        assert!((sync["latency"]["value"].as_f64().unwrap() - 11e6).abs() < 1e-3, "{text}");
        assert!(sync["latency"]["lower_value"].as_f64() <= sync["latency"]["value"].as_f64());
        assert!(sync["throughput"]["value"].as_f64().is_some() && sync["peak-memory"]["value"].as_f64().is_some());
    }
}
