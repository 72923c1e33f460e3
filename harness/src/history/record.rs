//! One result read for the history: per cell and metric, the values of its runs that ended ok, and what
//! the result is keyed by (experiment, its file, the machine, the commit and branch, the time).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use super::checkout::Checkout;
use crate::metrics::{Direction, judged_by};
use crate::results::{Environment, Folder, Runs, files};
use crate::stats::Stats;

/// The key under which the environment records the checkout of a run.
pub(crate) const CHECKOUT_KEY: &str = "checkout";

/// A result, as the history keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub experiment: String,
    /// The hash of the experiment file it ran: a changed file is another series.
    pub file_hash: String,
    /// The machine's fingerprint ([`fingerprint`]) and, for people, what it stands for.
    pub machine: String,
    pub machine_description: String,
    pub checkout: Checkout,
    /// When the run started, RFC 3339.
    pub time: String,
    /// What makes a result the same when it is added twice: a hash of its `runs.csv` and its start.
    pub digest: String,
    /// The folder it was read from.
    pub source: String,
    pub measurements: Vec<Measurement>,
}

/// One metric of one cell of a result.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    /// The cell, by its axis values: `executor=sync tasks=8`.
    pub cell: String,
    pub metric: String,
    pub direction: Direction,
    /// The increase and the decrease that `[ci]` counts as a change of this metric.
    pub threshold: (f64, f64),
    /// The value of each run that ended ok.
    pub values: Vec<f64>,
}

impl Measurement {
    /// The median of its runs and its confidence interval.
    pub(crate) fn stats(&self) -> Option<Stats> {
        Stats::of(&self.values, 0)
    }
}

/// The machine a result was measured on, as a short fingerprint and its description: the CPU model, the
/// logical CPUs, the memory and the kernel's architecture. Not the host name, which a CI service's fresh
/// machines change on every job, nor the kernel's version, which updates change under equal hardware.
pub(crate) fn fingerprint(environment: &Environment) -> (String, String) {
    let extra = &environment.extra;
    let cpu = environment.cpu.as_ref();
    let model = cpu.and_then(|c| c.extra.get("model")).and_then(|m| m.as_str()).unwrap_or("unknown CPU");
    let cpus = environment.logical_cpus().map_or_else(|| "?".to_owned(), |n| n.to_string());
    let memory = extra.get("memory_bytes").and_then(serde_json::Value::as_u64);
    // Rounded to the GiB: the kernel's own reservations move the last few MiB between boots.
    let memory =
        memory.map_or_else(|| "?".to_owned(), |b| format!("{} GiB", (b as f64 / f64::from(1u32 << 30)).round()));
    let arch = extra.get("os").and_then(|o| o.get("machine")).and_then(|m| m.as_str()).unwrap_or("?");
    let description = format!("{model}, {cpus} logical CPUs, {memory}, {arch}");
    let hash = xxhash_rust::xxh3::xxh3_64(description.as_bytes());
    (format!("{hash:016x}")[..12].to_owned(), description)
}

/// The result folder `dir` as a record of its gated metrics; `flags` over the checkout the folder
/// recorded.
pub(crate) fn read(dir: &Path, flags: &Checkout) -> anyhow::Result<Record> {
    let folder = Folder::open(dir).map_err(|e| anyhow::Error::new(e.diagnostic()))?;
    let environment = &folder.environment;
    let source = crate::results::open::experiment_source(dir).map_err(|e| anyhow::Error::new(e.diagnostic()))?;
    let gate = crate::experiment::gate_of_source(&source)
        .map_err(|e| anyhow::anyhow!("the [ci] table of {}/{}: {e}", dir.display(), files::EXPERIMENT))?;
    let runs_path = folder.runs_file();
    let runs = Runs::read(&runs_path).with_context(|| format!("cannot read {}", runs_path.display()))?;
    refuse_partial(dir, environment, &runs)?;
    // A metric judged by another (throughput by run time) is the same measurement: the other is kept.
    let mut metrics: Vec<&str> = Vec::new();
    for metric in &gate.metrics {
        let kept = judged_by(metric).unwrap_or(metric);
        if !metrics.contains(&kept) {
            metrics.push(kept);
        }
    }
    let mut cells: BTreeMap<(String, &str), Vec<f64>> = BTreeMap::new();
    for row in runs.rows.iter().filter(|r| r.ok()) {
        let cell = row.label(&runs.axes);
        for metric in &metrics {
            if let Some(value) = row.metric(metric).filter(|v| v.is_finite()) {
                cells.entry((cell.clone(), metric)).or_default().push(value);
            }
        }
    }
    let measurements = cells
        .into_iter()
        .map(|((cell, metric), values)| {
            let threshold = gate.threshold(metric);
            Measurement {
                cell,
                metric: metric.to_owned(),
                direction: gate.catalog.direction(metric),
                threshold: (threshold.increase, threshold.decrease),
                values,
            }
        })
        .collect();
    let recorded: Checkout =
        environment.extra.get(CHECKOUT_KEY).and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
    let time = environment.started.clone().unwrap_or_else(|| modified(&runs_path));
    let runs_bytes = crate::results::open::read_regular(&runs_path, crate::results::open::MAX_RUNS_BYTES)?;
    let digest = xxhash_rust::xxh3::xxh3_64(&[runs_bytes.as_slice(), time.as_bytes()].concat());
    let (machine, machine_description) = fingerprint(environment);
    Ok(Record {
        experiment: environment.experiment.name.clone().unwrap_or_else(|| "unnamed".to_owned()),
        file_hash: environment.experiment.file_hash.clone().unwrap_or_else(|| crate::results::file_hash(&source)),
        machine,
        machine_description,
        checkout: flags.clone().or(|| recorded),
        time,
        digest: format!("{digest:016x}"),
        source: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()).display().to_string(),
        measurements,
    })
}

/// Refuses a result that lacks planned runs (an interrupted run): its level would be judged on part of its
/// runs, and once resumed it would be another result. A shard, and a range of repetitions that stopped
/// early, plan what they ran.
fn refuse_partial(dir: &Path, environment: &Environment, runs: &Runs) -> anyhow::Result<()> {
    let shard = environment.extra.get("shard").is_some_and(|s| !s.is_null());
    let range = environment.extra.get("rounds").is_some_and(|r| !r.is_null());
    let (Some(cells), Some(repetitions)) = (environment.experiment.cells, environment.experiment.repetitions) else {
        return Ok(());
    };
    if shard || range {
        return Ok(());
    }
    let done: std::collections::HashSet<(u64, u64)> =
        runs.rows.iter().filter_map(|row| Some((row.cell?, row.repetition?))).collect();
    let planned = cells.saturating_mul(repetitions);
    if (done.len() as u64) < planned {
        return Err(anyhow::Error::new(
            crate::diagnostic::Diagnostic::new(format!(
                "{} is partial: {} of its {planned} planned runs are in runs.csv",
                dir.display(),
                done.len()
            ))
            .expected("a finished result, merged shards or one shard")
            .help("finish it with `harness run FILE --resume DIR`, then add it"),
        ));
    }
    Ok(())
}

/// When `path` was last written, RFC 3339; the epoch when that cannot be read.
fn modified(path: &Path) -> String {
    let time = std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
    humantime::format_rfc3339_seconds(time).to_string()
}
