//! The names of what a result folder holds: `<out>/<experiment>/<run-id>/`, with `<out>/<experiment>/latest`
//! pointing at the newest.

/// One row per measured run, appended and flushed as each run ends.
pub(crate) const RUNS: &str = "runs.csv";
/// The statistics of each cell and metric, computed from [`RUNS`].
pub(crate) const SUMMARY: &str = "summary.csv";
/// Where and how the results were measured.
pub(crate) const ENVIRONMENT: &str = "environment.json";
/// A copy of the experiment file as it was run.
pub(crate) const EXPERIMENT: &str = "experiment.toml";
/// What the summary found worth a warning, one per line; absent when nothing is.
pub(crate) const WARNINGS: &str = "warnings.txt";
/// What each run printed.
pub(crate) const LOGS: &str = "logs";
/// Each measured run's latency histogram ([`super::histograms`]).
pub(crate) const HISTOGRAMS: &str = "histograms";
/// The charts, one SVG file each.
pub(crate) const CHARTS: &str = "charts";
/// The reports.
pub(crate) const REPORT_MD: &str = "report.md";
pub(crate) const REPORT_HTML: &str = "report.html";
/// What `harness compare` (or `run --baseline`) found.
pub(crate) const COMPARE_MD: &str = "compare.md";
pub(crate) const COMPARE_JSON: &str = "compare.json";
/// The lock of a folder a harness writes into: who holds it (see [`super::lock`]).
pub(crate) const LOCK: &str = "harness.lock";
/// The link, next to the run folders of an experiment, to the newest of them.
pub(crate) const LATEST: &str = "latest";
