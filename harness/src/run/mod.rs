//! Running an experiment: every cell, warmup then measured repetitions, each run in a child process of
//! its own, each measured run appended to `runs.csv` as soon as it ends.

pub mod cgroup;
mod child;
mod services;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use harness_sdk::protocol::{RunRequest, Step};
use indicatif::{ProgressBar, ProgressStyle};

pub use child::{Memory, Outcome, Status, describe_exit, exec_main, last_lines, signal_name};
use services::Services;

use crate::experiment::{CellPlan, Experiment, Order};
use crate::results::ResultDir;

/// How to report progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A bar with ETA on a terminal, plain lines otherwise.
    Auto,
    Quiet,
}

/// What an experiment run produced.
#[derive(Debug)]
pub struct Summary {
    pub dir: PathBuf,
    pub measured: usize,
    /// Runs that did not end `ok`, warmups included.
    pub failed: usize,
    /// Warmup runs among `failed`: they have no row in runs.csv.
    pub failed_warmups: usize,
    /// Whether Ctrl-C or SIGTERM stopped the experiment before its end.
    pub interrupted: bool,
    /// Measured runs not done because of the interruption.
    pub remaining: usize,
}

/// One run of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub cell: usize,
    /// 1-based measured repetition, or `None` for a warmup run.
    pub repetition: Option<u32>,
}

/// One of `count` deterministic parts of an experiment's measured runs: `--shard K/N`, K from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.split_once('/').and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Shard { index, count }),
            _ => Err(format!("`{text}` is not a shard: expected K/N with 0 <= K < N, such as 0/4")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The shard of a Slurm array task, from `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`,
    /// `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_STEP` (arrays need not start at 0 nor count by 1).
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT")) else {
            return Ok(None);
        };
        let number = |name: &str, text: &str| {
            text.trim().parse::<u32>().map_err(|_| format!("{name} is `{text}`, not a whole number"))
        };
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let count = number("SLURM_ARRAY_TASK_COUNT", &count)?;
        let min = var("SLURM_ARRAY_TASK_MIN").map_or(Ok(0), |m| number("SLURM_ARRAY_TASK_MIN", &m))?;
        let step = var("SLURM_ARRAY_TASK_STEP").map_or(Ok(1), |s| number("SLURM_ARRAY_TASK_STEP", &s))?.max(1);
        // `--array=1-4` and `--array=0-6:2` number their tasks 1..4 and 0, 2, 4, 6: evenly spaced from MIN,
        // which maps onto 0..COUNT. A list such as `--array=0,3,7` does not, and needs --shard.
        let max = var("SLURM_ARRAY_TASK_MAX").map_or(Ok(None), |m| number("SLURM_ARRAY_TASK_MAX", &m).map(Some))?;
        let evenly = id >= min
            && (id - min) % step == 0
            && max.is_none_or(|max| {
                u64::from(max) == u64::from(min) + u64::from(step) * u64::from(count.saturating_sub(1))
            });
        if !evenly {
            return Err(format!(
                "the Slurm array (task {id} of {count}, from {min}{}) is not evenly numbered, so its tasks do not map onto shards",
                max.map(|m| format!(" to {m}")).unwrap_or_default()
            ));
        }
        let shard = format!("{}/{count}", (id - min) / step);
        shard.parse().map(Some).map_err(|e| format!("from the Slurm array variables: {e}"))
    }

    fn keeps(self, position: usize) -> bool {
        position % self.count as usize == self.index as usize
    }
}

/// The runs of an experiment in the order they execute: the measured runs of `shard` (all when `None`)
/// not in `done` (cell index, repetition), each cell's warmups first.
pub fn schedule(experiment: &Experiment, shard: Option<Shard>, done: &HashSet<(usize, u32)>) -> Vec<Slot> {
    let cells = experiment.cells.len();
    // The canonical order decides the shards, whatever order the runs then execute in.
    let mut measured: Vec<Slot> = (1..=experiment.repetitions)
        .flat_map(|r| (0..cells).map(move |cell| Slot { cell, repetition: Some(r) }))
        .enumerate()
        .filter(|(position, _)| shard.is_none_or(|s| s.keeps(*position)))
        .map(|(_, slot)| slot)
        .filter(|slot| !done.contains(&(slot.cell, slot.repetition.unwrap_or_default())))
        .collect();
    match experiment.order {
        Order::Interleaved => {}
        Order::Sequential => measured.sort_by_key(|s| (s.cell, s.repetition)),
        Order::Random => shuffle(&mut measured, experiment.seed),
    }
    let mut active: Vec<usize> = measured.iter().map(|s| s.cell).collect();
    active.sort_unstable();
    active.dedup();
    let warmup = |cell| (0..experiment.warmup).map(move |_| Slot { cell, repetition: None });
    if experiment.order == Order::Sequential {
        // Each cell's warmup directly before its measured runs.
        return active
            .iter()
            .flat_map(|&cell| warmup(cell).chain(measured.iter().copied().filter(move |s| s.cell == cell)))
            .collect();
    }
    let mut slots: Vec<Slot> =
        (0..experiment.warmup).flat_map(|_| active.iter().map(|&cell| Slot { cell, repetition: None })).collect();
    slots.extend(measured);
    slots
}

/// A Fisher-Yates shuffle driven by splitmix64, so the same seed gives the same order everywhere.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = crate::stats::Rng::new(seed);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Where a run's results go, and which runs it does.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Under which new result folders are made.
    pub out: &'a Path,
    pub progress: Progress,
    pub shard: Option<Shard>,
    /// An existing result folder to complete instead of making a new one.
    pub resume: Option<&'a Path>,
}

/// The signal that interrupted the harness, if one did.
pub fn interrupted_by() -> Option<i32> {
    child::interrupted()
}

/// Runs `experiment` into a new result folder under `options.out`, or completes `options.resume`.
pub fn run(experiment: &Experiment, options: Options<'_>) -> anyhow::Result<Summary> {
    use anyhow::Context as _;
    let started = SystemTime::now();
    let load = crate::environment::LoadMeter::start();
    child::become_subreaper();
    let accounting = cgroup::Accounting::detect();
    let interrupts = child::catch_interrupts();
    let mut services = Services::start(experiment).context("cannot set up the experiment's fixtures and services")?;
    // The services' threads keep the signals blocked, so they reach this thread and wake its waits.
    drop(interrupts);
    let (mut results, done, mut environment) = if let Some(dir) = options.resume {
        let (results, done) =
            ResultDir::resume(dir).with_context(|| format!("cannot resume the result folder {}", dir.display()))?;
        let environment = crate::environment::record_resume(dir, started).context("cannot update environment.json")?;
        (results, done, environment)
    } else {
        let environment = crate::environment::collect(experiment, started, options.shard, &accounting);
        let results = ResultDir::create(options.out, experiment, started, &environment)
            .with_context(|| format!("cannot create a result folder under {}", options.out.display()))?;
        (results, HashSet::new(), environment)
    };
    let slots = schedule(experiment, options.shard, &done);
    let reporter = Reporter::new(options.progress, slots.len() as u64, &experiment.name);
    let mut summary = Summary {
        dir: results.path.clone(),
        measured: 0,
        failed: 0,
        failed_warmups: 0,
        interrupted: false,
        remaining: 0,
    };

    // Connections dropped from full accept queues, per cell: each costs its client a second's retry.
    let mut overflows = std::collections::BTreeMap::new();
    for (index, slot) in slots.iter().enumerate() {
        if interrupted_by().is_some() {
            summary.interrupted = true;
            summary.remaining = slots[index..].iter().filter(|s| s.repetition.is_some()).count();
            break;
        }
        let cell = &experiment.cells[slot.cell];
        let run_dir = services.scratch().join(format!("run-{index}"));
        std::fs::create_dir(&run_dir)?;
        let limits = child::Limits {
            timeout: experiment.timeout,
            memory: experiment.memory_limit,
            accounting: &accounting,
            index,
        };
        let overflows_before = services.serves_net().then(services::listen_overflows).flatten();
        let mut outcome = run_one(experiment, cell, &services, &run_dir, &limits);
        if let (Some(before), Some(after)) = (overflows_before, services::listen_overflows()) {
            let dropped = after.saturating_sub(before);
            outcome.listen_overflows = Some(dropped);
            if dropped > 0 {
                *overflows.entry(slot.cell).or_insert(0) += dropped;
            }
        }
        if outcome.status == Status::Interrupted {
            // Not a measurement: no row, so that a resume runs it again.
            let _ = std::fs::remove_dir_all(&run_dir);
            summary.interrupted = true;
            summary.remaining = slots[index..].iter().filter(|s| s.repetition.is_some()).count();
            break;
        }
        if let Some(log) = &outcome.output {
            let logs = results.path.join("logs");
            std::fs::create_dir_all(&logs)?;
            let stem = match slot.repetition {
                Some(r) => format!("cell-{}-rep-{r}", slot.cell + 1),
                None => format!("cell-{}-warmup-{index}", slot.cell + 1),
            };
            // A resumed run counts its schedule from 0 again: never overwrite an earlier log.
            let mut name = logs.join(format!("{stem}.log"));
            let mut n = 1;
            while name.exists() {
                n += 1;
                name = logs.join(format!("{stem}.{n}.log"));
            }
            std::fs::copy(log, name)?;
        }
        let _ = std::fs::remove_dir_all(&run_dir);
        if let Some(repetition) = slot.repetition {
            results.append(experiment, slot.cell, repetition, &outcome).context("cannot append to runs.csv")?;
            summary.measured += 1;
        }
        if outcome.status != Status::Ok {
            summary.failed += 1;
            summary.failed_warmups += usize::from(slot.repetition.is_none());
        }
        reporter.finished(experiment, cell, *slot, &outcome);
    }
    reporter.done();
    let service_warnings = std::mem::take(&mut services.warnings);
    drop(services);

    let load = load.finish();
    environment["machine_load"] = serde_json::to_value(&load).expect("serializable");
    crate::results::write_environment(&results.path, &environment).context("cannot update environment.json")?;
    let runs = crate::summary::read_runs(&results.path.join("runs.csv"), &experiment.columns)
        .context("cannot read runs.csv back")?;
    let cells = crate::summary::CellModel::of(experiment);
    let summaries = crate::summary::summarize(&runs, &cells, experiment.seed, load.logical_cpus);
    crate::summary::write(&results.path.join("summary.csv"), &experiment.columns, &summaries)
        .context("cannot write summary.csv")?;
    let mut warnings = crate::summary::warnings(&experiment.columns, &summaries);
    warnings.extend(load.warnings());
    warnings.extend(service_warnings);
    warnings.extend(overflows.iter().map(|(&cell, dropped)| {
        format!(
            "{}: {dropped} connection(s) were dropped from a full accept queue during its runs (ListenOverflows), \
             and each costs its client a second's retry: its net times are not to be trusted",
            experiment.cells[cell].label(&experiment.columns)
        )
    }));
    if !warnings.is_empty() {
        std::fs::write(results.path.join("warnings.txt"), warnings.join("\n") + "\n")
            .context("cannot write warnings.txt")?;
        if options.progress != Progress::Quiet {
            for warning in &warnings {
                eprintln!("warning: {}: {warning}", experiment.name);
            }
        }
    }
    // Charts and reports come last: drawing them cannot lose a result, and a failure is only a warning.
    let report = crate::report::Report::new(crate::report::Sources {
        name: &experiment.name,
        description: &experiment.description,
        seed: experiment.seed,
        columns: &experiment.columns,
        cells: &cells,
        summaries: &summaries,
        runs: &runs,
        charts: &experiment.charts,
        environment: &environment,
        warnings: &warnings,
    });
    match crate::report::write(&results.path, &report) {
        Ok(written) => {
            for problem in written.problems {
                eprintln!("warning: {}: {problem}", experiment.name);
            }
        }
        Err(e) => eprintln!("warning: {}: cannot write the charts and reports: {e}", experiment.name),
    }
    Ok(summary)
}

fn run_one(
    experiment: &Experiment,
    cell: &CellPlan,
    services: &Services,
    run_dir: &Path,
    limits: &child::Limits,
) -> Outcome {
    let resources = match services.resources(run_dir) {
        Ok(r) => r,
        Err(e) => return Outcome::not_started(format!("cannot prepare the run's resources: {e}")),
    };
    let request = RunRequest {
        workers: cell.workers,
        options: cell.options.clone(),
        seed: experiment.seed,
        workload: cell.workload.clone(),
        resources,
    };
    let mut outcome = child::execute(&cell.executor.path, &request, limits, run_dir);
    if let Some(error) = outcome.report.as_ref().and_then(|r| check_report(cell, r)) {
        outcome.status = Status::Failed;
        outcome.error = error;
    }
    outcome
}

/// What the harness checks of every report: all tasks ran, and the shared counter lost no increment.
fn check_report(cell: &CellPlan, report: &harness_sdk::protocol::RunReport) -> Option<String> {
    let tasks = cell.workload.tasks;
    if report.tasks != tasks {
        return Some(format!("the executor reported {} tasks, the workload has {tasks}", report.tasks));
    }
    let per_task = cell.workload.steps.iter().filter(|s| matches!(s, Step::Shared { .. })).count() as u64;
    if per_task > 0 {
        let expected = tasks * per_task;
        match report.shared_count {
            Some(count) if count == expected => {}
            Some(count) => {
                return Some(format!(
                    "the shared counter is {count} after {expected} increments: {} were lost (a missing lock, or tasks \
                     in forked processes counting in memory: such an executor needs SharedMode::File)",
                    expected.abs_diff(count)
                ));
            }
            None => return Some("the executor did not report the shared counter".to_owned()),
        }
    }
    None
}

/// Progress: a bar on a terminal, a line per run otherwise, nothing with `--quiet`.
struct Reporter {
    bar: Option<ProgressBar>,
    plain: bool,
    total: u64,
    done: std::cell::Cell<u64>,
    start: Instant,
}

impl Reporter {
    fn new(progress: Progress, total: u64, name: &str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (progress == Progress::Auto && terminal).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:30}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar
        });
        Self {
            bar,
            plain: progress == Progress::Auto && !terminal,
            total,
            done: std::cell::Cell::new(0),
            start: Instant::now(),
        }
    }

    fn finished(&self, experiment: &Experiment, cell: &CellPlan, slot: Slot, outcome: &Outcome) {
        self.done.set(self.done.get() + 1);
        let label: Vec<String> = experiment
            .columns
            .iter()
            .filter(|c| cell.values.contains_key(*c))
            .map(|c| format!("{c}={}", cell.value(c)))
            .collect();
        let what = match slot.repetition {
            Some(r) => format!("rep {r}"),
            None => "warmup".to_owned(),
        };
        let result = match (&outcome.report, outcome.status) {
            (Some(r), Status::Ok) => format!("ok, run {:.4}s", r.run_s),
            _ => format!("{}: {}", outcome.status.as_str(), outcome.error),
        };
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if outcome.status != Status::Ok {
                bar.println(format!("{} {what}: {result}", label.join(" ")));
            }
        } else if self.plain {
            eprintln!("[{}/{}] {} {what}: {result}", self.done.get(), self.total, label.join(" "));
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.bar.is_some() || self.plain {
            eprintln!("finished {} runs in {:.1}s", self.done.get(), self.start.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    fn slurm(vars: &[(&str, &str)]) -> Result<Option<Shard>, String> {
        Shard::from_slurm(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn slurm_arrays_map_onto_shards_when_evenly_numbered() {
        let task = |id, count, min, max, step| {
            slurm(&[
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_COUNT", count),
                ("SLURM_ARRAY_TASK_MIN", min),
                ("SLURM_ARRAY_TASK_MAX", max),
                ("SLURM_ARRAY_TASK_STEP", step),
            ])
        };
        assert_eq!(slurm(&[]), Ok(None));
        assert_eq!(task("2", "4", "0", "3", "1"), Ok(Some(Shard { index: 2, count: 4 })));
        assert_eq!(task("3", "4", "1", "4", "1"), Ok(Some(Shard { index: 2, count: 4 })));
        assert_eq!(task("4", "4", "0", "6", "2"), Ok(Some(Shard { index: 2, count: 4 })));
        // `--array=0,3,7`: three tasks that are not evenly numbered.
        assert!(task("7", "3", "0", "7", "1").unwrap_err().contains("not evenly numbered"));
        assert!(slurm(&[("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "2")]).is_err());
    }

    #[test]
    fn shards_parse() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }
}
