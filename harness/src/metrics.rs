//! The metric catalog: every metric of `runs.csv`, and the measures derived from them, with its unit, its
//! name for people, which way is better, and where it takes part (statistics, the `[ci]` gate, exports,
//! charts). Every list of metrics in the harness is derived from this table, so they cannot drift apart.
//!
//! An experiment's own metrics (its custom metrics, declared in its file) are in its [`Catalog`], which the
//! experiment carries, and a result folder read back carries the one of its file: nothing here changes
//! once the program has started.
//!
//! Also the columns the harness writes around the axis columns of `runs.csv` and `summary.csv`, which an
//! axis may not be named after. A leaf: this module imports nothing of the crate.

use std::borrow::Cow;
use std::sync::LazyLock;

/// The dimension of a metric, which decides its unit on an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dimension {
    Seconds,
    Bytes,
    PerSecond,
    Count,
    /// A ratio shown as a percentage (efficiency).
    Percent,
    /// A ratio shown as a multiple (speedup).
    Times,
    /// Not a quantity: an identifier or a label (the checksum, how peak memory was measured).
    Label,
}

/// Whether a larger value is better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Direction {
    LowerIsBetter,
    HigherIsBetter,
}

/// One metric.
// A row of a table of flags, read by name: an enum per flag would say no more.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Metric {
    /// The column name (`run_s`), or for a derived measure `cpu_s`, `efficiency`, `speedup`.
    pub name: Cow<'static, str>,
    /// For people: "run time".
    pub label: Cow<'static, str>,
    pub dimension: Dimension,
    pub direction: Direction,
    /// A column of `runs.csv`; the others are derived from the columns and the model.
    pub column: bool,
    /// Gets statistics in `summary.csv` (the others are what a run did, checked, not measured).
    pub measured: bool,
    /// May be named in `[ci]`.
    pub gated: bool,
    /// Gated when `[ci]` does not say which metrics.
    pub gated_by_default: bool,
    /// Its place in the exports, which carry the metrics in this order.
    pub export: Option<u8>,
    /// Its spread makes a cell noisy.
    pub noise: bool,
    /// The metric whose verdict this one takes: the same measurement inverted.
    pub judged_by: Option<&'static str>,
    /// Measured for open workloads only ([`OPEN`]): blank for a closed one, and missing from result
    /// folders written before open workloads existed, which still read.
    pub open: bool,
}

/// A metric of `runs.csv` with the defaults of a measured, gateable metric of lower-is-better; the table
/// below says where a metric differs.
const fn measured(name: &'static str, label: &'static str, dimension: Dimension) -> Metric {
    Metric {
        name: Cow::Borrowed(name),
        label: Cow::Borrowed(label),
        dimension,
        direction: Direction::LowerIsBetter,
        column: true,
        measured: true,
        gated: true,
        gated_by_default: false,
        export: None,
        noise: false,
        judged_by: None,
        open: false,
    }
}

/// A metric of an open workload (tasks arriving at a rate), measured, not gated.
const fn open(name: &'static str, label: &'static str, dimension: Dimension) -> Metric {
    let mut metric = measured(name, label, dimension);
    (metric.gated, metric.open) = (false, true);
    metric
}

/// A column of `runs.csv` that records what a run did rather than a measurement.
const fn recorded(name: &'static str, label: &'static str, dimension: Dimension, gated: bool) -> Metric {
    let mut metric = measured(name, label, dimension);
    (metric.measured, metric.gated) = (false, gated);
    metric
}

/// A measure computed from the columns (and the model), shown in charts and reports.
const fn derived(name: &'static str, label: &'static str, dimension: Dimension) -> Metric {
    let mut metric = measured(name, label, dimension);
    (metric.column, metric.measured, metric.gated) = (false, false, false);
    metric
}

/// Where a metric of the table differs from its kind's defaults. (Methods rather than struct update:
/// a constant may not drop the rest of a value it updates.)
impl Metric {
    const fn export(mut self, place: u8) -> Self {
        self.export = Some(place);
        self
    }

    const fn gated_by_default(mut self) -> Self {
        self.gated_by_default = true;
        self
    }

    const fn noise(mut self) -> Self {
        self.noise = true;
        self
    }

    const fn higher_is_better(mut self) -> Self {
        self.direction = Direction::HigherIsBetter;
        self
    }

    const fn judged_by(mut self, by: &'static str) -> Self {
        self.judged_by = Some(by);
        self
    }

    const fn not_measured(mut self) -> Self {
        self.measured = false;
        self
    }
}

/// CPU time: user plus system.
pub(crate) const CPU: &str = "cpu_s";
/// The machine's speed anchor around a run: the time of a fixed piece of work (`machine::speed_anchor`).
pub(crate) const ANCHOR: &str = "anchor_s";
/// The ideal time over the median run time.
pub(crate) const EFFICIENCY: &str = "efficiency";
/// The reference executor's median run time over a cell's.
pub(crate) const SPEEDUP: &str = "speedup";
/// An open workload's rate of arrivals, tasks per second.
pub(crate) const OFFERED: &str = "offered_per_s";
/// Tasks completed over the run's span, per second.
pub(crate) const ACHIEVED: &str = "achieved_per_s";
/// The rate a search found: the highest rate within its objective (`summary.csv`'s `rate_found_per_s`).
pub(crate) const RATE_FOUND: &str = "rate_found_per_s";
/// A probe's verdict in a rate search (`pass`, `fail`, `not_offered`); blank for other runs.
pub(crate) const PROBE: &str = "probe";
/// The 99th percentile of the response time, from due to end.
pub(crate) const RESPONSE_P99: &str = "response_p99_s";

use Dimension::{Bytes, Count, Label, PerSecond, Percent, Seconds, Times};

/// Every metric, in the order of the columns of `runs.csv` (the derived measures where they read best).
pub(crate) const CATALOG: &[Metric] = &[
    measured("wall_s", "wall time", Seconds).export(4),
    measured("setup_s", "setup time", Seconds),
    measured("run_s", "run time", Seconds).gated_by_default().export(0).noise(),
    recorded("tasks", "tasks", Count, false),
    measured("throughput_per_s", "throughput", PerSecond)
        .higher_is_better()
        .gated_by_default()
        .export(1)
        .judged_by("run_s"),
    recorded("checksum", "checksum", Label, false),
    recorded("shared_count", "shared counter", Count, false),
    measured("shared_lost", "lost increments", Count),
    measured("latency_mean_s", "mean latency", Seconds),
    measured("latency_p50_s", "p50 latency", Seconds),
    measured("latency_p90_s", "p90 latency", Seconds),
    measured("latency_p99_s", "p99 latency", Seconds).export(2),
    measured("latency_max_s", "max latency", Seconds),
    measured("user_cpu_s", "user CPU time", Seconds),
    measured("system_cpu_s", "system CPU time", Seconds),
    derived(CPU, "CPU time", Seconds),
    measured("peak_memory_bytes", "peak memory", Bytes).gated_by_default().export(3),
    recorded("peak_memory_method", "peak memory method", Label, false),
    measured("voluntary_context_switches", "voluntary context switches", Count),
    measured("involuntary_context_switches", "involuntary context switches", Count),
    recorded("listen_overflows", "listen queue overflows", Count, true),
    recorded(ANCHOR, "speed anchor", Seconds, false),
    open(OFFERED, "offered rate", PerSecond).not_measured(),
    open(ACHIEVED, "achieved rate", PerSecond).higher_is_better(),
    open("dropped", "dropped tasks", Count),
    open("late", "late tasks", Count),
    open("last_start_lag_s", "lag of the last start", Seconds),
    open("response_mean_s", "mean response time", Seconds),
    open("response_p50_s", "p50 response time", Seconds),
    open("response_p90_s", "p90 response time", Seconds),
    open(RESPONSE_P99, "p99 response time", Seconds),
    open("response_max_s", "max response time", Seconds),
    open(PROBE, "probe verdict", Label).not_measured(),
    derived(EFFICIENCY, "efficiency", Percent).higher_is_better(),
    derived(SPEEDUP, "speedup", Times).higher_is_better(),
    derived(RATE_FOUND, "highest rate within the objective", PerSecond).higher_is_better(),
];

/// The harness's metric called `name`: a column of `runs.csv` (of the catalog or of a [`FAMILIES`] member)
/// or a derived measure; an experiment's custom metrics are its [`Catalog`]'s.
pub(crate) fn get(name: &str) -> Option<Metric> {
    builtin(name).cloned().or_else(|| member(name))
}

/// The metric of [`CATALOG`] called `name`.
fn builtin(name: &str) -> Option<&'static Metric> {
    CATALOG.iter().find(|m| m.name == name)
}

/// The metrics of one experiment: the harness's, and the custom metrics its file declares. The experiment
/// carries it, and so does a result folder read back, from the file it ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Catalog {
    /// The custom metrics, in the order the file declares them.
    custom: Vec<Metric>,
    /// Where each custom metric is in `custom`, by name: a result folder may have many.
    by_name: std::collections::BTreeMap<String, usize>,
}

impl Catalog {
    /// Adds a custom metric of an experiment file: a column of `runs.csv` after the harness's metrics,
    /// measured (statistics in `summary.csv`, a chart) and gated, in the direction the file declared. A
    /// name is declared once; a later declaration of it changes nothing.
    ///
    /// Its dimension follows its name as the catalog's do: `*_per_s` is a rate, `*_s` seconds, `*_bytes`
    /// bytes, anything else a count. This is the one place a unit is read from a name: everything else
    /// asks the catalog.
    pub(crate) fn declare(&mut self, name: &str, direction: Direction) {
        if self.custom(name).is_some() {
            return;
        }
        let dimension = if name.ends_with("_per_s") {
            PerSecond
        } else if name.ends_with("_s") {
            Seconds
        } else if name.ends_with("_bytes") {
            Bytes
        } else {
            Count
        };
        let mut metric = measured("", "", dimension).gated_by_default();
        (metric.name, metric.label, metric.direction) =
            (Cow::Owned(name.to_owned()), Cow::Owned(name.replace('_', " ")), direction);
        self.by_name.insert(name.to_owned(), self.custom.len());
        self.custom.push(metric);
    }

    /// The names of the custom metrics, in the order the file declares them.
    pub(crate) fn custom_names(&self) -> impl Iterator<Item = &str> {
        self.custom.iter().map(|m| &*m.name)
    }

    /// The custom metric called `name`, when the experiment's file declared one.
    pub(crate) fn custom(&self, name: &str) -> Option<&Metric> {
        self.by_name.get(name).map(|&i| &self.custom[i])
    }

    /// The metric called `name`: the harness's, or a custom metric of the experiment.
    pub(crate) fn get(&self, name: &str) -> Option<Metric> {
        builtin(name).or_else(|| self.custom(name)).cloned().or_else(|| member(name))
    }

    /// The dimension of the metric called `name`, when there is one.
    pub(crate) fn dimension(&self, name: &str) -> Option<Dimension> {
        self.get(name).map(|m| m.dimension)
    }

    /// The direction of a metric; lower is better for a name the catalog does not know.
    pub(crate) fn direction(&self, metric: &str) -> Direction {
        self.get(metric).map_or(Direction::LowerIsBetter, |m| m.direction)
    }

    /// The metric or derived measure called `name`, if a chart or a report table can show it.
    pub(crate) fn chartable(&self, name: &str) -> Option<Metric> {
        self.get(name).filter(|m| m.measured || !m.column)
    }
}

/// Metric columns an experiment names: one per service (`service_NAME_cpu_s`, ...). A member is measured
/// (it gets statistics and can be charted) and gated when `[ci]` names it (never by default), and is
/// written after the catalog's columns.
struct Family {
    prefix: &'static str,
    suffix: &'static str,
    /// "CPU time" becomes "CPU time of service NAME".
    label: &'static str,
    of: &'static str,
    dimension: Dimension,
}

const FAMILIES: &[Family] = &[
    Family { prefix: "service_", suffix: "_cpu_s", label: "CPU time", of: "service", dimension: Seconds },
    Family { prefix: "service_", suffix: "_peak_memory_bytes", label: "peak memory", of: "service", dimension: Bytes },
];

/// What stands for the name of a service in a family's pattern: `service_*_cpu_s`.
const ANY: &str = "*";

impl Family {
    /// The column of this family for `name`.
    fn column(&self, name: &str) -> String {
        format!("{}{name}{}", self.prefix, self.suffix)
    }

    /// The name of the service (or other owner) whose column `column` is, when it is one of this family's.
    fn owner<'a>(&self, column: &'a str) -> Option<&'a str> {
        column.strip_prefix(self.prefix)?.strip_suffix(self.suffix).filter(|m| !m.is_empty())
    }
}

/// The family of the column `name`, with the name of its service.
fn family(name: &str) -> Option<(&'static Family, &str)> {
    FAMILIES.iter().find_map(|f| f.owner(name).filter(|&m| m != ANY).map(|m| (f, m)))
}

/// The columns of `runs.csv` for service `name`: its CPU time and peak memory during each run.
pub(crate) fn service_columns(name: &str) -> [String; 2] {
    [0, 1].map(|i| FAMILIES[i].column(name))
}

/// The names `[ci]` knows for a family's column of every service: `service_*_cpu_s`, ...
pub(crate) fn family_patterns() -> impl Iterator<Item = String> {
    FAMILIES.iter().map(|f| f.column(ANY))
}

/// The columns the family pattern `pattern` (`service_*_cpu_s`) stands for among the services `services`;
/// `None` when `pattern` is no family's pattern.
pub(crate) fn family_columns(pattern: &str, services: &[String]) -> Option<Vec<String>> {
    let family = FAMILIES.iter().find(|f| f.owner(pattern) == Some(ANY))?;
    Some(services.iter().map(|s| family.column(s)).collect())
}

/// The service whose column `name` is, when `name` has the form of a service's column
/// (`service_NAME_cpu_s`), whether or not the experiment has that service.
pub(crate) fn service_of(name: &str) -> Option<&str> {
    family(name).map(|(_, service)| service)
}

/// The metric of a column that a [`Family`] names.
fn member(name: &str) -> Option<Metric> {
    let (family, middle) = family(name)?;
    Some(Metric {
        name: Cow::Owned(name.to_owned()),
        label: Cow::Owned(format!("{} of {} {middle}", family.label, family.of)),
        ..measured("", "", family.dimension)
    })
}

/// Whether `name` is a column of a [`Family`]: an experiment's own metric column.
pub(crate) fn is_member(name: &str) -> bool {
    family(name).is_some()
}

/// Measured columns newer than some result folders: a `runs.csv` without one reads as if it were blank.
pub(crate) const ADDED_LATER: &[&str] = &["shared_lost"];

/// The metric columns of `runs.csv`, after the axis columns, `cell`, `repetition` and `status`.
pub(crate) static COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| names(|m| m.column));

/// The metrics of open workloads, in the order of the columns of `runs.csv` (after the others).
pub(crate) static OPEN: LazyLock<Vec<&'static str>> = LazyLock::new(|| names(|m| m.open));

/// The metrics of `runs.csv` that get statistics, in the order of its columns.
pub(crate) static MEASURED: LazyLock<Vec<&'static str>> = LazyLock::new(|| names(|m| m.measured));

/// The metrics `[ci]` may name.
pub(crate) static GATED: LazyLock<Vec<&'static str>> = LazyLock::new(|| names(|m| m.gated));

/// The metrics gated when `[ci]` does not say.
pub(crate) static GATED_BY_DEFAULT: LazyLock<Vec<&'static str>> = LazyLock::new(|| names(|m| m.gated_by_default));

/// The metrics whose spread makes a cell noisy.
pub(crate) static NOISE: LazyLock<Vec<&'static str>> = LazyLock::new(|| names(|m| m.noise));

/// What a chart or a report table can show: the measured metrics and the derived measures.
pub(crate) static CHARTABLE: LazyLock<Vec<&'static str>> = LazyLock::new(|| names(|m| m.measured || !m.column));

/// The metrics the exports carry, in their order.
pub(crate) static EXPORTED: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut exported: Vec<&Metric> = CATALOG.iter().filter(|m| m.export.is_some()).collect();
    exported.sort_by_key(|m| m.export);
    exported.into_iter().map(|m| &*m.name).collect()
});

fn names(keep: impl Fn(&Metric) -> bool) -> Vec<&'static str> {
    CATALOG.iter().filter(|m| keep(m)).map(|m| &*m.name).collect()
}

/// The harness's metric or derived measure called `name`, if a chart or a report table can show it.
pub(crate) fn chartable(name: &str) -> Option<Metric> {
    Catalog::default().chartable(name)
}

/// The metric whose verdict `metric` takes: `throughput_per_s` is tasks / `run_s`, the same measurement
/// inverted, so one threshold governs both and their verdicts never disagree.
pub(crate) fn judged_by(metric: &str) -> Option<&'static str> {
    builtin(metric).and_then(|m| m.judged_by)
}

/// The columns of `runs.csv` that say which run a row is, before the metric columns.
pub(crate) const RUN_KEY: &[&str] = &["cell", "repetition", "status"];

/// The last column of `runs.csv`: why a run failed.
pub(crate) const ERROR: &str = "error";

/// The columns of `runs.csv` the harness writes after the axis columns, in order.
pub(crate) fn runs_columns() -> impl Iterator<Item = &'static str> + Clone {
    runs_columns_with(std::iter::empty())
}

/// The columns of `runs.csv` after the axis columns, with an experiment's custom metrics after the
/// harness's and before `error`.
pub(crate) fn runs_columns_with<'a>(
    custom: impl Iterator<Item = &'a str> + Clone,
) -> impl Iterator<Item = &'a str> + Clone {
    RUN_KEY.iter().copied().chain(COLUMNS.iter().copied()).chain(custom).chain([ERROR])
}

/// The columns of `summary.csv` after the axis columns.
pub(crate) const SUMMARY_COLUMNS: &[&str] = &[
    "metric",
    "n",
    "failed",
    "mean",
    "median",
    "stddev",
    "cv",
    "min",
    "max",
    "ci95_low",
    "ci95_high",
    "outliers",
    "outlier_repetitions",
    "throughput_per_s",
    "ideal_s",
    "efficiency",
    "model",
    "in_flight",
    "connections",
    "capacity_per_s",
    "sustainable_per_s",
    "rate_found_per_s",
    "rate_failed_per_s",
    "rate_probes",
    "rate_found_runs",
    "cell_latency_tasks",
    "cell_latency_p50_s",
    "cell_latency_p90_s",
    "cell_latency_p99_s",
    "cell_latency_max_s",
    "cell_response_tasks",
    "cell_response_p50_s",
    "cell_response_p90_s",
    "cell_response_p99_s",
    "cell_response_max_s",
    "warning",
];

/// The column names an axis may not take: those the harness writes to `runs.csv` or `summary.csv`, whatever
/// the experiment. Nor may it take the name of a column the experiment adds: a custom metric's, or one of
/// a [`Family`]'s ([`is_member`], whether or not the experiment has that service: `runs.csv`'s reader
/// takes any such column for a service's).
pub(crate) fn reserved_columns() -> Vec<&'static str> {
    let mut reserved: Vec<&str> = runs_columns().collect();
    for column in SUMMARY_COLUMNS {
        if !reserved.contains(column) {
            reserved.push(column);
        }
    }
    reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    // The lists as they were written by hand before there was a catalog: what the harness writes and
    // reads must not change with it.
    const OLD_METRIC_COLUMNS: &[&str] = &[
        "wall_s",
        "setup_s",
        "run_s",
        "tasks",
        "throughput_per_s",
        "checksum",
        "shared_count",
        "shared_lost",
        "latency_mean_s",
        "latency_p50_s",
        "latency_p90_s",
        "latency_p99_s",
        "latency_max_s",
        "user_cpu_s",
        "system_cpu_s",
        "peak_memory_bytes",
        "peak_memory_method",
        "voluntary_context_switches",
        "involuntary_context_switches",
        "listen_overflows",
        "anchor_s",
    ];
    const OLD_NOT_MEASURED: &[&str] =
        &["tasks", "checksum", "shared_count", "peak_memory_method", "listen_overflows", "anchor_s"];
    // `shared_lost` was not gated then; it is now, when `[ci]` names it.
    const OLD_NOT_GATED: &[&str] = &["tasks", "checksum", "shared_count", "peak_memory_method", "anchor_s"];
    const OLD_CHART_MEASURES: &[(&str, &str, Dimension)] = &[
        ("wall_s", "wall time", Seconds),
        ("setup_s", "setup time", Seconds),
        ("run_s", "run time", Seconds),
        ("throughput_per_s", "throughput", PerSecond),
        ("shared_lost", "lost increments", Count),
        ("latency_mean_s", "mean latency", Seconds),
        ("latency_p50_s", "p50 latency", Seconds),
        ("latency_p90_s", "p90 latency", Seconds),
        ("latency_p99_s", "p99 latency", Seconds),
        ("latency_max_s", "max latency", Seconds),
        ("user_cpu_s", "user CPU time", Seconds),
        ("system_cpu_s", "system CPU time", Seconds),
        ("cpu_s", "CPU time", Seconds),
        ("peak_memory_bytes", "peak memory", Bytes),
        ("voluntary_context_switches", "voluntary context switches", Count),
        ("involuntary_context_switches", "involuntary context switches", Count),
        ("efficiency", "efficiency", Percent),
        ("speedup", "speedup", Times),
    ];

    /// The columns of open workloads, which came after the catalog: they follow the old ones.
    const OPEN_COLUMNS: &[&str] = &[
        "offered_per_s",
        "achieved_per_s",
        "dropped",
        "late",
        "last_start_lag_s",
        "response_mean_s",
        "response_p50_s",
        "response_p90_s",
        "response_p99_s",
        "response_max_s",
        "probe",
    ];

    fn closed(names: &[&'static str]) -> Vec<&'static str> {
        names.iter().copied().filter(|n| !OPEN.contains(n)).collect()
    }

    #[test]
    fn the_columns_of_runs_csv_are_as_before_then_those_of_open_workloads() {
        assert_eq!(*OPEN, OPEN_COLUMNS);
        let mut columns = OLD_METRIC_COLUMNS.to_vec();
        columns.extend(OPEN_COLUMNS);
        assert_eq!(*COLUMNS, columns);
        let mut harness = vec!["cell", "repetition", "status"];
        harness.extend(columns);
        harness.push("error");
        assert_eq!(runs_columns().collect::<Vec<_>>(), harness);
    }

    #[test]
    fn the_derived_lists_agree_with_the_old_ones() {
        let without = |skip: &[&str]| OLD_METRIC_COLUMNS.iter().copied().filter(|c| !skip.contains(c)).collect();
        let measured: Vec<&str> = without(OLD_NOT_MEASURED);
        assert_eq!(closed(&MEASURED), measured);
        let gated: Vec<&str> = without(OLD_NOT_GATED);
        assert_eq!(*GATED, gated);
        assert_eq!(*GATED_BY_DEFAULT, ["run_s", "throughput_per_s", "peak_memory_bytes"]);
        assert_eq!(*EXPORTED, ["run_s", "throughput_per_s", "latency_p99_s", "peak_memory_bytes", "wall_s"]);
        assert_eq!(*NOISE, ["run_s"]);
        // The rate a search found came after the catalog, with the open workloads.
        let chartable: Vec<(&str, &str, Dimension)> = closed(&CHARTABLE)
            .iter()
            .filter(|n| **n != RATE_FOUND)
            .map(|n| builtin(n).unwrap())
            .map(|m| (&*m.name, &*m.label, m.dimension))
            .collect();
        assert_eq!(chartable, OLD_CHART_MEASURES);
    }

    #[test]
    fn only_throughput_is_higher_is_better_among_the_columns_and_it_is_judged_by_run_s() {
        // The old rule: a metric whose name starts with `throughput` is higher-is-better.
        for name in closed(&COLUMNS) {
            let old = if name.starts_with("throughput") { Direction::HigherIsBetter } else { Direction::LowerIsBetter };
            assert_eq!(Catalog::default().direction(name), old, "{name}");
        }
        assert_eq!(judged_by("throughput_per_s"), Some("run_s"));
        assert!(COLUMNS.iter().filter(|m| **m != "throughput_per_s").all(|m| judged_by(m).is_none()));
        assert_eq!(Catalog::default().direction(ACHIEVED), Direction::HigherIsBetter);
    }

    #[test]
    fn every_list_names_metrics_of_the_catalog_and_the_gated_ones_are_columns() {
        for name in GATED.iter().chain(EXPORTED.iter()).chain(GATED_BY_DEFAULT.iter()) {
            assert!(get(name).is_some_and(|m| m.column), "{name}");
        }
        for name in GATED_BY_DEFAULT.iter() {
            assert!(GATED.contains(name), "{name}");
        }
        for metric in CATALOG {
            assert!(metric.judged_by.is_none_or(|by| GATED.contains(&by)), "{}", metric.name);
        }
    }

    #[test]
    fn family_members_are_measured_columns_of_their_own() {
        let [cpu, memory] = service_columns("api");
        assert_eq!((cpu.as_str(), memory.as_str()), ("service_api_cpu_s", "service_api_peak_memory_bytes"));
        let metric = get(&cpu).unwrap();
        assert_eq!(
            (&*metric.label, metric.dimension, metric.measured, metric.gated),
            ("CPU time of service api", Seconds, true, true)
        );
        assert!(!metric.gated_by_default && metric.direction == Direction::LowerIsBetter);
        assert_eq!(get(&memory).unwrap().dimension, Bytes);
        assert!(chartable(&cpu).is_some() && is_member(&memory));
        assert!(get("service__cpu_s").is_none() && !is_member("service_cpu_s") && !is_member("run_s"));
        assert_eq!(service_of("service_my-db_peak_memory_bytes"), Some("my-db"));
        // Found like custom metrics, but not one of them.
        let catalog = Catalog::default();
        assert!(catalog.custom(&cpu).is_none() && catalog.get(&cpu).is_some());
    }

    #[test]
    fn a_custom_metric_is_its_experiments_and_declared_once() {
        let mut catalog = Catalog::default();
        catalog.declare("ratio", Direction::HigherIsBetter);
        catalog.declare("ratio", Direction::LowerIsBetter);
        let ratio = catalog.get("ratio").unwrap();
        assert_eq!((&*ratio.label, ratio.dimension, ratio.gated_by_default), ("ratio", Count, true));
        assert_eq!(catalog.direction("ratio"), Direction::HigherIsBetter);
        assert!(get("ratio").is_none() && Catalog::default().get("ratio").is_none(), "no other catalog has it");
        for (name, dimension) in [("wait_s", Seconds), ("rss_bytes", Bytes), ("hits_per_s", PerSecond)] {
            catalog.declare(name, Direction::LowerIsBetter);
            assert_eq!(catalog.dimension(name), Some(dimension), "{name}");
        }
        assert_eq!(catalog.get("queue_len").map(|m| m.label), None);
    }

    #[test]
    fn a_family_pattern_stands_for_the_column_of_every_service() {
        assert_eq!(family_patterns().collect::<Vec<_>>(), ["service_*_cpu_s", "service_*_peak_memory_bytes"]);
        let services = ["api".to_owned(), "redis".to_owned()];
        assert_eq!(family_columns("service_*_cpu_s", &services).unwrap(), ["service_api_cpu_s", "service_redis_cpu_s"]);
        assert_eq!(family_columns("service_*_peak_memory_bytes", &[]).unwrap(), Vec::<String>::new());
        assert!(
            family_columns("service_api_cpu_s", &services).is_none() && family_columns("run_s", &services).is_none()
        );
        // A pattern is not a column.
        assert!(!is_member("service_*_cpu_s") && get("service_*_cpu_s").is_none());
    }

    #[test]
    fn reserved_columns_cover_both_files_once() {
        let reserved = reserved_columns();
        for column in runs_columns().chain(SUMMARY_COLUMNS.iter().copied()) {
            assert_eq!(reserved.iter().filter(|c| **c == column).count(), 1, "{column}");
        }
    }
}
