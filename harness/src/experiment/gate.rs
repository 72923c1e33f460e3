//! The `[ci]` gate: what `harness compare` gates on and how much change is noise, and the check of the
//! `[ci]` table that sets it.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;
use toml::Spanned;

use super::quote_list;
use super::raw;
use super::steps::{duration, size};

use crate::metrics::{Catalog, Dimension};
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
    /// Whether `[ci] time_floor` was written: a paired comparison has no floor of times unless it was.
    pub time_floor_set: bool,
    /// `[ci] baseline`: the axis whose values are compared within one result folder, and the value every
    /// other is judged against.
    pub baseline: Option<Baseline>,
    /// What an inconclusive comparison does to the exit code.
    pub inconclusive: Inconclusive,
    /// The metrics it judges: their dimension (which floor) and direction.
    pub catalog: Catalog,
    /// `[ci] history`: the history file each finished result is appended to, as written (relative to the
    /// experiment file's folder).
    pub history: Option<String>,
}

/// `[ci] baseline = { AXIS = VALUE }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Baseline {
    pub axis: String,
    /// The value as the results write it.
    pub value: String,
    /// The other axes of `[matrix]`: cells with the same values of these form a pair (keys that `include`
    /// adds, such as each version's own sizes or paths, may differ within it).
    pub pair_by: Vec<String>,
}

/// The axes of a `[matrix]` table: its keys but `include` and `exclude`.
pub(super) fn matrix_axes<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    keys.filter(|k| !["include", "exclude"].contains(k)).map(str::to_owned).collect()
}

/// What an inconclusive comparison (its interval straddles the threshold) does to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Inconclusive {
    /// Exit 0; the table, `compare.md` and a warning say which comparisons could not be decided.
    Pass,
    /// Exit 1, as a regression.
    Fail,
}

impl Inconclusive {
    pub(crate) const NAMES: [&'static str; 2] = ["pass", "fail"];
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            metrics: DEFAULT_METRICS.iter().map(|&m| m.to_owned()).collect(),
            default: 0.05,
            per_metric: BTreeMap::new(),
            time_floor_s: DEFAULT_TIME_FLOOR_S,
            memory_floor_bytes: DEFAULT_MEMORY_FLOOR_BYTES,
            time_floor_set: false,
            baseline: None,
            inconclusive: Inconclusive::Pass,
            catalog: Catalog::default(),
            history: None,
        }
    }
}

impl Gate {
    /// The default gate of an experiment with custom metrics: they are gated too, in the direction the
    /// file declared.
    pub(crate) fn with_custom(catalog: &Catalog) -> Self {
        let mut gate = Self { catalog: catalog.clone(), ..Self::default() };
        gate.metrics.extend(catalog.custom_names().map(str::to_owned));
        gate
    }

    pub(crate) fn threshold(&self, metric: &str) -> Threshold {
        self.per_metric.get(metric).copied().unwrap_or(Threshold { increase: self.default, decrease: self.default })
    }

    /// The absolute change, in the metric's unit, below which a change does not count: the floor of its
    /// dimension, if it has one.
    pub(crate) fn floor(&self, metric: &str) -> f64 {
        match self.catalog.dimension(metric) {
            Some(Dimension::Bytes) => self.memory_floor_bytes,
            Some(Dimension::Seconds) => self.time_floor_s,
            _ => 0.0,
        }
    }

    /// The floor of a paired comparison: the same, but for times only when `[ci] time_floor` says. Both
    /// sides of a pair run on the machine as it is in that round, so no drift between two result folders
    /// needs the floor; the memory floor stays, since a process's peak varies by the kernel's per-CPU charge.
    pub(crate) fn paired_floor(&self, metric: &str) -> f64 {
        if self.catalog.dimension(metric) == Some(Dimension::Seconds) && !self.time_floor_set {
            0.0
        } else {
            self.floor(metric)
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

/// The names `[ci]` may give a metric: the harness's gated metrics, the experiment's custom metrics, its
/// services' columns, and the family patterns (`service_*_cpu_s`) that stand for a column of every service.
struct Names<'a> {
    known: Vec<String>,
    services: &'a [String],
}

impl<'a> Names<'a> {
    fn new(custom: &[String], services: &'a [String]) -> Self {
        let mut known: Vec<String> = gateable_metrics().map(str::to_owned).collect();
        known.extend(custom.iter().cloned());
        known.extend(services.iter().flat_map(|s| crate::metrics::service_columns(s)));
        if !services.is_empty() {
            known.extend(crate::metrics::family_patterns());
        }
        Self { known, services }
    }

    /// The metrics `name` stands for: itself, or for a family pattern the column of every service. Whether
    /// it came from a pattern is the second value.
    fn resolve(&self, name: &Spanned<String>) -> Result<(Vec<String>, bool), GateError> {
        let text = name.get_ref();
        let known: Vec<&str> = self.known.iter().map(String::as_str).collect();
        if known.contains(&text.as_str()) {
            let columns = crate::metrics::family_columns(text, self.services);
            let pattern = columns.is_some();
            return Ok((columns.unwrap_or_else(|| vec![text.clone()]), pattern));
        }
        let hint = crate::diagnostic::closest(text, known.iter().copied())
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        let expected = format!("one of {}", quote_list(&known));
        let service = crate::metrics::service_of(text);
        let pattern = crate::metrics::family_columns(text, &[]).is_some();
        if service.is_none() && !pattern {
            return Err(GateError::new(format!("`[ci]` names unknown metric `{text}`{hint}"), name.span(), expected));
        }
        // A pattern is known when the experiment has services: here it has none, or the service is named.
        let (message, help) = match service {
            None => (
                format!("`[ci]` names `{text}`, a column of every service, but the experiment has no [services]"),
                "a service has its columns in runs.csv for each [services.NAME] table".to_owned(),
            ),
            // The built-in server is no table of the file: a step that goes to it starts it.
            Some(service) if service == super::services::LOOPBACK && !self.services.iter().any(|s| s == service) => (
                format!(
                    "`[ci]` names `{text}`, a column of the built-in server `{service}`, but no step of the experiment goes to it"
                ),
                format!(
                    "a `net` step, or an `http` step to ${{services.{service}.port}}, starts it; add one, or gate another metric"
                ),
            ),
            Some(service) if self.services.is_empty() => (
                format!("`[ci]` names `{text}`, a column of service `{service}`, but the experiment has no [services]"),
                format!("add a [services.{service}] table, or gate another metric"),
            ),
            Some(service) => {
                let names: Vec<&str> = self.services.iter().map(String::as_str).collect();
                (
                    format!(
                        "`[ci]` names `{text}`, a column of service `{service}`, which the experiment does not have{hint}"
                    ),
                    format!("its services are {}", quote_list(&names)),
                )
            }
        };
        Err(GateError { message, span: name.span(), expected, help: Some(help) })
    }
}

/// Checks `[ci]`; `catalog` has the experiment's custom metrics and `services` are the names of its
/// services, whose metrics and columns it may name too.
pub(super) fn gate(ci: &Spanned<raw::RawCi>, catalog: &Catalog, services: &[String]) -> Result<Gate, GateError> {
    let custom: Vec<String> = catalog.custom_names().map(str::to_owned).collect();
    let custom = custom.as_slice();
    let percent = |text: &str, span: Range<usize>| {
        parse_percent(text).map_err(|why| GateError::new(why, span, "a percentage such as \"5%\"".to_owned()))
    };
    let names = Names::new(custom, services);
    let ci = ci.get_ref();
    let mut gate = Gate::with_custom(catalog);
    if let Some(t) = &ci.threshold {
        gate.default = percent(t.get_ref(), t.span())?;
    }
    if let Some(metrics) = &ci.metrics {
        gate.metrics.clear();
        for name in metrics {
            for metric in names.resolve(name)?.0 {
                if !gate.metrics.contains(&metric) {
                    gate.metrics.push(metric);
                }
            }
        }
    }
    if let Some(floor) = &ci.time_floor {
        let nanos = duration("time_floor", floor.get_ref())
            .map_err(|(message, expected)| GateError::new(message, floor.span(), expected.unwrap_or_default()))?;
        gate.time_floor_s = nanos as f64 / 1e9;
        gate.time_floor_set = true;
    }
    if let Some(floor) = &ci.memory_floor {
        let bytes = size("memory_floor", floor.get_ref())
            .map_err(|(message, expected)| GateError::new(message, floor.span(), expected.unwrap_or_default()))?;
        gate.memory_floor_bytes = bytes as f64;
    }
    if let Some(baseline) = &ci.baseline {
        gate.baseline = Some(self::baseline(baseline)?);
    }
    if let Some(history) = &ci.history {
        if history.get_ref().trim().is_empty() {
            return Err(GateError {
                message: "`history` is empty".to_owned(),
                span: history.span(),
                expected: "the path of a history file, such as \"bench-history.sqlite\"".to_owned(),
                help: Some(
                    "the path is relative to the experiment file's folder; leave the key out to keep no history"
                        .to_owned(),
                ),
            });
        }
        gate.history = Some(history.get_ref().clone());
    }
    if let Some(choice) = &ci.inconclusive {
        gate.inconclusive = match choice.get_ref().as_str() {
            "pass" => Inconclusive::Pass,
            "fail" => Inconclusive::Fail,
            other => {
                return Err(GateError {
                    message: format!("`inconclusive` is \"{other}\""),
                    span: choice.span(),
                    expected: format!("one of {}", quote_list(&Inconclusive::NAMES)),
                    help: crate::diagnostic::closest(other, Inconclusive::NAMES)
                        .map(|c| format!("did you mean `{c}`?")),
                });
            }
        };
    }
    for (name, threshold) in &ci.thresholds {
        let (metrics, pattern) = names.resolve(name)?;
        let metric_name = name.get_ref().clone();
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
        // A service's own threshold wins over its family's, wherever each is written.
        for metric in metrics {
            if pattern {
                gate.per_metric.entry(metric).or_insert(value);
            } else {
                gate.per_metric.insert(metric, value);
            }
        }
    }
    Ok(gate)
}

/// `baseline = { AXIS = VALUE }`: one axis and one of its values, a scalar.
fn baseline(table: &Spanned<indexmap::IndexMap<Spanned<String>, Spanned<toml::Value>>>) -> Result<Baseline, GateError> {
    let expected = "one axis and the value every other value of it is judged against, such as `{ version = \"base\" }`";
    let mut entries = table.get_ref().iter();
    let (Some((axis, value)), None) = (entries.next(), entries.next()) else {
        return Err(GateError {
            message: format!("`baseline` names {} axes", table.get_ref().len()),
            span: table.span(),
            expected: expected.to_owned(),
            help: Some("a paired comparison varies one axis: its values are the versions compared".to_owned()),
        });
    };
    let Some(scalar) = super::scalar(value.get_ref()) else {
        return Err(GateError::new(
            format!("the baseline value of `{}` is {}", axis.get_ref(), value.get_ref()),
            value.span(),
            "a string, number or boolean: one value of the axis".to_owned(),
        ));
    };
    Ok(Baseline { axis: axis.get_ref().clone(), value: scalar.to_string(), pair_by: Vec::new() })
}

/// Checks `[ci] baseline` against the experiment's cells: its axis is one of `columns`, its value one the
/// axis takes, and the axis takes another value to compare with it.
pub(super) fn check_baseline(
    baseline: &Baseline,
    ci: &Spanned<raw::RawCi>,
    columns: &[String],
    cells: &[&super::matrix::Cell],
    error: &dyn Fn(String, Option<Range<usize>>) -> crate::diagnostic::Diagnostic,
) -> Result<(), crate::diagnostic::Diagnostic> {
    let table = ci.get_ref().baseline.as_ref().map(Spanned::get_ref);
    let (key_span, value_span, written) = table
        .and_then(|t| t.iter().next())
        .map_or((None, None, String::new()), |(k, v)| (Some(k.span()), Some(v.span()), v.get_ref().to_string()));
    let axis = baseline.axis.as_str();
    if !columns.iter().any(|c| c == axis) {
        let candidates: Vec<&str> = columns.iter().map(String::as_str).collect();
        return Err(error(format!("`[ci] baseline` names axis `{axis}`, which the matrix does not have"), key_span)
            .expected(format!("an axis of [matrix]: {}", quote_list(&candidates)))
            .did_you_mean(axis, candidates.iter().copied()));
    }
    let mut values: Vec<String> = Vec::new();
    for cell in cells {
        if let Some(value) = cell.get(axis).map(ToString::to_string) {
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    let listed: Vec<&str> = values.iter().map(String::as_str).collect();
    if !values.contains(&baseline.value) {
        return Err(error(
            format!("`[ci] baseline` is `{axis} = {written}`, a value axis `{axis}` does not take"),
            value_span,
        )
        .expected(format!("one of {}", quote_list(&listed)))
        .did_you_mean(&baseline.value, listed.iter().copied()));
    }
    if values.len() < 2 {
        return Err(error(
            format!("axis `{axis}` has no value but the baseline `{}`: there is nothing to compare", baseline.value),
            key_span,
        )
        .expected(format!(
            "an axis with the baseline and at least one other value, such as `{axis} = [\"{}\", \"head\"]`",
            baseline.value
        ))
        .help("every other value of the axis is compared with the baseline, in the same rounds"));
    }
    Ok(())
}

/// The `[ci]` gate of an experiment file's text, as kept in a result folder.
pub(crate) fn gate_of_source(source: &str) -> Result<Gate, String> {
    let file: raw::CiOnly = toml::from_str(source).map_err(|e| e.message().to_owned())?;
    let catalog = super::resolve::custom::read_back(&file.workloads);
    let mut services: Vec<String> = file.services.keys().cloned().collect();
    // The loopback server is a service without a table, first among them.
    if file.workloads.values().any(raw::MetricsOnly::uses_loopback) {
        services.insert(0, super::services::LOOPBACK.to_owned());
    }
    let mut gate = match &file.ci {
        Some(ci) => gate(ci, &catalog, &services).map_err(|e| e.message)?,
        None => Gate::with_custom(&catalog),
    };
    if let Some(baseline) = &mut gate.baseline {
        let axes = matrix_axes(file.matrix.keys().map(String::as_str));
        baseline.pair_by = axes.into_iter().filter(|a| *a != baseline.axis).collect();
    }
    Ok(gate)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &str = "[services.api]\ncommand = [\"api\"]\n[services.db]\ncommand = [\"db\"]\n";

    #[test]
    fn the_loopback_servers_columns_may_be_gated_when_a_step_goes_to_it() {
        let ci = "[ci]\nmetrics = [\"service_loopback_cpu_s\"]\n";
        let net = "[workloads.w]\nsteps = [{ net = { request = \"1KiB\" } }]\n";
        let http = "[workloads.w]\nsteps = [{ http = { url = \"http://127.0.0.1:${services.loopback.port}/wait/1ms/bytes/1KiB\" } }]\n";
        for steps in [net, http] {
            let gate = gate_of_source(&format!("{steps}{ci}")).unwrap();
            assert_eq!(gate.metrics, ["service_loopback_cpu_s"]);
        }
        let none = "[workloads.w]\nsteps = [{ sleep = \"1ms\" }]\n";
        assert!(gate_of_source(&format!("{none}{ci}")).is_err());
    }

    #[test]
    fn a_services_columns_are_gated_when_named_and_a_pattern_names_every_service() {
        let gate = gate_of_source(&format!(
            "{SERVICES}[ci]\nmetrics = [\"run_s\", \"service_*_cpu_s\", \"service_db_cpu_s\", \
             \"service_api_peak_memory_bytes\"]\n[ci.thresholds]\nservice_api_cpu_s = \"50%\"\n\
             \"service_*_cpu_s\" = \"20%\"\n\"service_*_peak_memory_bytes\" = {{ increase = \"30%\" }}\n"
        ))
        .unwrap();
        // Each once, in the order written.
        assert_eq!(gate.metrics, ["run_s", "service_api_cpu_s", "service_db_cpu_s", "service_api_peak_memory_bytes"]);
        // A service's own threshold wins over its family's, whichever is written first.
        assert_eq!(gate.threshold("service_api_cpu_s"), Threshold { increase: 0.5, decrease: 0.5 });
        assert_eq!(gate.threshold("service_db_cpu_s"), Threshold { increase: 0.2, decrease: 0.2 });
        assert_eq!(gate.threshold("service_db_peak_memory_bytes"), Threshold { increase: 0.3, decrease: 0.05 });
        assert_eq!(gate.threshold("run_s"), Threshold { increase: 0.05, decrease: 0.05 });
    }

    #[test]
    fn services_are_not_gated_by_default() {
        let gate = gate_of_source(SERVICES).unwrap();
        assert_eq!(gate.metrics, ["run_s", "throughput_per_s", "peak_memory_bytes"]);
        let gate = gate_of_source(&format!("{SERVICES}[ci]\nthreshold = \"7%\"\n")).unwrap();
        assert_eq!(gate.metrics, Gate::default().metrics);
    }

    #[test]
    fn a_column_of_a_service_the_file_does_not_have_is_refused() {
        let refused = |ci: &str| gate_of_source(&format!("{SERVICES}[ci]\n{ci}\n")).unwrap_err();
        let message = refused("metrics = [\"service_apu_cpu_s\"]");
        assert!(message.contains("a column of service `apu`, which the experiment does not have"), "{message}");
        assert!(message.contains("did you mean `service_api_cpu_s`?"), "{message}");
        assert!(refused("thresholds.service_x_peak_memory_bytes = \"5%\"").contains("service `x`"));
        let none = gate_of_source("[ci]\nmetrics = [\"service_*_cpu_s\"]\n").unwrap_err();
        assert!(none.contains("a column of every service, but the experiment has no [services]"), "{none}");
        let none = gate_of_source("[ci]\nmetrics = [\"service_api_cpu_s\"]\n").unwrap_err();
        assert!(none.contains("a column of service `api`, but the experiment has no [services]"), "{none}");
        // `shared_lost` is gated when named.
        assert_eq!(gate_of_source("[ci]\nmetrics = [\"shared_lost\"]\n").unwrap().metrics, ["shared_lost"]);
    }
}
