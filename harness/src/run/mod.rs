//! Running an experiment: every cell, warmup then measured repetitions, each run in a child process of
//! its own, each measured run appended to `runs.csv` as soon as it ends.

pub mod cgroup;
mod child;
mod services;

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
    pub failed: usize,
    /// The signal that stopped the experiment before its last run, if one did.
    pub interrupted: Option<i32>,
}

/// One run of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub cell: usize,
    /// 1-based measured repetition, or `None` for a warmup run.
    pub repetition: Option<u32>,
}

/// The runs of an experiment, in the order they execute.
pub fn schedule(experiment: &Experiment) -> Vec<Slot> {
    let cells = experiment.cells.len();
    let warmups = (0..experiment.warmup).flat_map(|_| (0..cells).map(|cell| Slot { cell, repetition: None }));
    let mut measured: Vec<Slot> = match experiment.order {
        Order::Interleaved | Order::Random => (1..=experiment.repetitions)
            .flat_map(|r| (0..cells).map(move |cell| Slot { cell, repetition: Some(r) }))
            .collect(),
        Order::Sequential => (0..cells)
            .flat_map(|cell| (1..=experiment.repetitions).map(move |r| Slot { cell, repetition: Some(r) }))
            .collect(),
    };
    if experiment.order == Order::Random {
        shuffle(&mut measured, experiment.seed);
    }
    let mut slots: Vec<Slot> = warmups.collect();
    if experiment.order == Order::Sequential {
        // Each cell's warmup directly before its measured runs.
        slots.clear();
        for cell in 0..cells {
            slots.extend((0..experiment.warmup).map(|_| Slot { cell, repetition: None }));
            slots.extend(measured.iter().filter(|s| s.cell == cell));
        }
        return slots;
    }
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

/// Runs every slot of `experiment`, writing results under `out`.
pub fn run(experiment: &Experiment, out: &Path, progress: Progress) -> anyhow::Result<Summary> {
    use anyhow::Context as _;
    let started = SystemTime::now();
    let load = crate::environment::LoadMeter::start();
    child::become_subreaper();
    let accounting = cgroup::Accounting::detect();
    let mut environment = crate::environment::collect(experiment, started, &accounting);
    let interrupts = child::catch_interrupts();
    let services = Services::start(experiment).context("cannot set up the experiment's fixtures and services")?;
    // The services' threads keep the signals blocked, so they reach this thread and wake its waits.
    drop(interrupts);
    let mut results = ResultDir::create(out, experiment, started, &environment)
        .with_context(|| format!("cannot create a result folder under {}", out.display()))?;
    let slots = schedule(experiment);
    let reporter = Reporter::new(progress, slots.len() as u64, &experiment.name);
    let mut summary = Summary { dir: results.path.clone(), measured: 0, failed: 0, interrupted: None };

    for (index, slot) in slots.iter().enumerate() {
        let cell = &experiment.cells[slot.cell];
        let run_dir = services.scratch().join(format!("run-{index}"));
        std::fs::create_dir(&run_dir)?;
        let limits = child::Limits {
            timeout: experiment.timeout,
            memory: experiment.memory_limit,
            accounting: &accounting,
            index,
        };
        let outcome = run_one(experiment, cell, &services, &run_dir, &limits);
        if let Some(log) = &outcome.output {
            let logs = results.path.join("logs");
            std::fs::create_dir_all(&logs)?;
            let name = match slot.repetition {
                Some(r) => format!("cell-{}-rep-{r}.log", slot.cell + 1),
                None => format!("cell-{}-warmup-{index}.log", slot.cell + 1),
            };
            std::fs::copy(log, logs.join(name))?;
        }
        let _ = std::fs::remove_dir_all(&run_dir);
        if let Some(repetition) = slot.repetition {
            results.append(experiment, cell, repetition, &outcome).context("cannot append to runs.csv")?;
            summary.measured += 1;
        }
        if outcome.status != Status::Ok {
            summary.failed += 1;
        }
        reporter.finished(experiment, cell, *slot, &outcome);
        if let Some(signal) = child::interrupted() {
            summary.interrupted = Some(signal);
            break;
        }
    }
    reporter.done();
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
    if !warnings.is_empty() {
        std::fs::write(results.path.join("warnings.txt"), warnings.join("\n") + "\n")
            .context("cannot write warnings.txt")?;
        if progress != Progress::Quiet {
            for warning in &warnings {
                eprintln!("warning: {}: {warning}", experiment.name);
            }
        }
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
                    "the shared counter is {count} after {expected} increments: {} were lost (a missing lock?)",
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
