//! The `[ci]` gate: what `harness compare` gates on and how much change is noise, and the check of the
//! `[ci]` table that sets it.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;
use toml::Spanned;

use super::quote_list;
use super::raw;
use super::steps::{duration, size};

pub(crate) use crate::metrics::{GATED_BY_DEFAULT as DEFAULT_METRICS, judged_by};

/// A change of a time smaller than this is never a regression nor an improvement, unless `[ci]` says.
pub(crate) const DEFAULT_TIME_FLOOR_S: f64 = 1e-3;
/// A change of memory smaller than this (256 pages of 4 KiB) is never a regression nor an improvement,
/// unless `[ci]` says.
pub(crate) const DEFAULT_MEMORY_FLOOR_BYTES: f64 = 1024.0 * 1024.0;

/// How much a metric may move before it counts: a fraction for each direction of change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Threshold {
    pub increase: f64,
    pub decrease: f64,
}

/// What to compare and how much change is noise.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gate {
    pub metrics: Vec<String>,
    pub default: f64,
    pub per_metric: BTreeMap<String, Threshold>,
    /// Seconds: a change of a time metric (`*_s`) smaller than this does not count.
    pub time_floor_s: f64,
    /// Bytes: a change of a memory metric (`*_bytes`) smaller than this does not count.
    pub memory_floor_bytes: f64,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            metrics: DEFAULT_METRICS.iter().map(|&m| m.to_owned()).collect(),
            default: 0.05,
            per_metric: BTreeMap::new(),
            time_floor_s: DEFAULT_TIME_FLOOR_S,
            memory_floor_bytes: DEFAULT_MEMORY_FLOOR_BYTES,
        }
    }
}

impl Gate {
    /// The default gate of an experiment with custom metrics: they are gated too, in the direction the
    /// file declared.
    pub(crate) fn with_custom(custom: &[String]) -> Self {
        let mut gate = Self::default();
        gate.metrics.extend(custom.iter().cloned());
        gate
    }

    pub(crate) fn threshold(&self, metric: &str) -> Threshold {
        self.per_metric.get(metric).copied().unwrap_or(Threshold { increase: self.default, decrease: self.default })
    }

    /// The absolute change, in the metric's unit, below which a change does not count.
    pub(crate) fn floor(&self, metric: &str) -> f64 {
        if metric.ends_with("_bytes") {
            self.memory_floor_bytes
        } else if metric.ends_with("_s") {
            self.time_floor_s
        } else {
            0.0
        }
    }
}

/// Parses "5%" into 0.05.
pub(crate) fn parse_percent(text: &str) -> Result<f64, String> {
    // The `%` is required: "0.05" could mean 5% or 0.05%.
    let Some(number) = text.trim().strip_suffix('%') else {
        return Err(format!("`{text}` is not a percentage such as \"5%\""));
    };
    match number.trim().parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p / 100.0),
        _ => Err(format!("`{text}` is not a percentage such as \"5%\"")),
    }
}

/// The metrics of runs.csv that `[ci]` may name.
fn gateable_metrics() -> impl Iterator<Item = &'static str> {
    crate::metrics::GATED.iter().copied()
}

/// A mistake in `[ci]`: its message, place, what was expected, and how to fix it.
pub(super) struct GateError {
    pub(super) message: String,
    pub(super) span: Range<usize>,
    pub(super) expected: String,
    pub(super) help: Option<String>,
}

impl GateError {
    fn new(message: String, span: Range<usize>, expected: String) -> Self {
        Self { message, span, expected, help: None }
    }
}

/// Checks `[ci]`; `custom` are the experiment's custom metrics, which it may name too.
pub(super) fn gate(ci: &Spanned<raw::RawCi>, custom: &[String]) -> Result<Gate, GateError> {
    let percent = |text: &str, span: Range<usize>| {
        parse_percent(text).map_err(|why| GateError::new(why, span, "a percentage such as \"5%\"".to_owned()))
    };
    let mut known: Vec<&str> = gateable_metrics().collect();
    known.extend(custom.iter().map(String::as_str));
    let metric = |name: &Spanned<String>| {
        if known.contains(&name.get_ref().as_str()) {
            Ok(name.get_ref().clone())
        } else {
            let hint = crate::diagnostic::closest(name.get_ref(), known.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err(GateError::new(
                format!("`[ci]` names unknown metric `{}`{hint}", name.get_ref()),
                name.span(),
                format!("one of {}", quote_list(&known)),
            ))
        }
    };
    let ci = ci.get_ref();
    let mut gate = Gate::with_custom(custom);
    if let Some(t) = &ci.threshold {
        gate.default = percent(t.get_ref(), t.span())?;
    }
    if let Some(metrics) = &ci.metrics {
        gate.metrics = metrics.iter().map(metric).collect::<Result<_, _>>()?;
    }
    if let Some(floor) = &ci.time_floor {
        let nanos = duration("time_floor", floor.get_ref())
            .map_err(|(message, expected)| GateError::new(message, floor.span(), expected.unwrap_or_default()))?;
        gate.time_floor_s = nanos as f64 / 1e9;
    }
    if let Some(floor) = &ci.memory_floor {
        let bytes = size("memory_floor", floor.get_ref())
            .map_err(|(message, expected)| GateError::new(message, floor.span(), expected.unwrap_or_default()))?;
        gate.memory_floor_bytes = bytes as f64;
    }
    for (name, threshold) in &ci.thresholds {
        let metric_name = metric(name)?;
        if let Some(by) = judged_by(&metric_name) {
            return Err(GateError {
                message: format!("`[ci.thresholds]` sets `{metric_name}`, which is judged by `{by}`"),
                span: name.span(),
                expected: format!("a threshold of a metric other than `{metric_name}`"),
                help: Some(format!(
                    "`{metric_name}` is tasks / `{by}`, the same measurement inverted: one threshold governs both; \
                     set it on `{by}` (a slowdown of 10% is a throughput loss of 9.1%)"
                )),
            });
        }
        let span = threshold.span();
        let expected = || "a percentage such as \"5%\", or `{ increase = \"10%\", decrease = \"2%\" }`".to_owned();
        let value = match threshold.get_ref() {
            toml::Value::String(t) => {
                let p = percent(t, span)?;
                Threshold { increase: p, decrease: p }
            }
            toml::Value::Table(table) => {
                const DIRECTIONS: [&str; 2] = ["increase", "decrease"];
                if let Some(key) = table.keys().find(|k| !DIRECTIONS.contains(&k.as_str())) {
                    let hint = crate::diagnostic::closest(key, DIRECTIONS).map_or_else(
                        || "a threshold has `increase` and `decrease`".to_owned(),
                        |c| format!("did you mean `{c}`?"),
                    );
                    return Err(GateError {
                        message: format!("the threshold of `{metric_name}` has unknown key `{key}`"),
                        span,
                        expected: "`increase`, `decrease`, or both".to_owned(),
                        help: Some(hint),
                    });
                }
                let direction = |key: &str| match table.get(key) {
                    None => Ok(gate.default),
                    Some(toml::Value::String(t)) => percent(t, span.clone()),
                    Some(other) => Err(GateError::new(
                        format!("`{key}` of the threshold of `{metric_name}` is {other}"),
                        span.clone(),
                        "a percentage such as \"5%\"".to_owned(),
                    )),
                };
                Threshold { increase: direction("increase")?, decrease: direction("decrease")? }
            }
            other => {
                return Err(GateError::new(format!("the threshold of `{metric_name}` is {other}"), span, expected()));
            }
        };
        gate.per_metric.insert(metric_name, value);
    }
    Ok(gate)
}

/// The `[ci]` gate of an experiment file's text, as kept in a result folder.
pub(crate) fn gate_of_source(source: &str) -> Result<Gate, String> {
    let file: raw::CiOnly = toml::from_str(source).map_err(|e| e.message().to_owned())?;
    let custom = super::custom::declare_read_back(&file.workloads);
    match &file.ci {
        Some(ci) => gate(ci, &custom).map_err(|e| e.message),
        None => Ok(Gate::with_custom(&custom)),
    }
}
