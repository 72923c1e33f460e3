//! The `run` command as a pipeline: open the result folder, start the runner, run the `setup` hook, every
//! slot of the schedule (appending its row) and the `cleanup` hook, then summarize, draw, export and gate. Each step is one module below;
//! this one only composes them, in the order a reader expects.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::Error;
use crate::experiment::{CellPlan, Experiment};
use crate::machine::{Load, LoadMeter};
use crate::report::Report;
use crate::results::{Environment, Folder, FolderLock, ResultDir, Runs, files};
use crate::run::{OnInterrupt, Outcome, Runner, Shard, Slot, Status};
use harness_sdk::protocol::Exec;

/// Where a run's results go, and which runs it does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options<'a> {
    /// Under which new result folders are made.
    pub out: &'a Path,
    pub progress: Progress,
    pub shard: Option<Shard>,
    /// An existing result folder to complete instead of making a new one.
    pub resume: Option<&'a Path>,
    /// How each run's process starts.
    pub spawn: crate::run::Spawn,
    /// For a range of repetitions: after a look's rounds, which cells a comparison still needs.
    pub decide: Option<Decide<'a>>,
}

/// What a range of repetitions asks after the rounds of each look: given the result folder and the rounds
/// so far, the labels of the cells whose comparisons are still undecided (the others stop there).
#[derive(Clone, Copy)]
pub(crate) struct Decide<'a>(pub &'a dyn Fn(&Path, u32) -> anyhow::Result<Vec<String>>);

impl std::fmt::Debug for Decide<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decide")
    }
}

/// Where a cell of a range of repetitions stopped.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Stopped {
    pub cell: String,
    /// The rounds it ran.
    pub rounds: u32,
    /// Whether its comparisons were decided then; else it reached `max`, or had none.
    pub decided: bool,
}

/// How to report progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// A bar with ETA on a terminal, plain lines otherwise.
    Auto,
    Quiet,
}

/// What an experiment run produced.
#[derive(Debug)]
pub(crate) struct Summary {
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
    /// The result folder's lock, held until the caller is done with it (exports, the gate's compare.md).
    pub lock: Option<FolderLock>,
    /// For a range of repetitions: where each cell stopped.
    pub stopped: Vec<Stopped>,
}

/// Runs `experiment` into a new result folder under `options.out`, or completes `options.resume`.
pub(crate) fn run(experiment: &Experiment, options: Options<'_>) -> anyhow::Result<Summary> {
    if let Some(refused) = refuse_for_a_search(experiment, &options) {
        return Err(refused.into());
    }
    let started = SystemTime::now();
    let load = LoadMeter::start();
    // A folder to resume is locked before anything is started: a second harness on it stops here.
    let resumed = options.resume.map(|dir| resume(dir, experiment, started)).transpose()?;
    let runner = Runner::start(experiment, options.spawn)?;
    let opened = match resumed {
        Some(opened) => opened,
        None => create(experiment, &options, &runner, started)?,
    };
    let dir = opened.results.path.clone();
    run_opened(experiment, &options, runner, opened, &load).map_err(|error| way_out(error, experiment, &dir))
}

/// Why `options` cannot run `experiment` when a cell of it searches for a rate: a search is neither
/// resumed nor sharded.
fn refuse_for_a_search(experiment: &Experiment, options: &Options<'_>) -> Option<crate::diagnostic::Diagnostic> {
    let cell = experiment.cells.iter().find(|c| c.search.is_some())?.label(&experiment.columns);
    let (what, help) = match (options.resume, options.shard) {
        (Some(dir), _) => (
            format!("cannot resume {}: cell {cell} searches for a rate, and a search is not resumed", dir.display()),
            "each probe of a search picks its rate from the verdicts of the probes before it, measured under the \
             machine's state of then: run the experiment again, without --resume",
        ),
        (None, Some(shard)) => (
            format!("cannot run shard {shard}: cell {cell} searches for a rate, and a search is not sharded"),
            "a search's probes are as many as it needs, and `harness merge` takes each cell's planned repetitions: \
             split the matrix into files instead, one per machine",
        ),
        (None, None) => return None,
    };
    Some(
        crate::diagnostic::Diagnostic::new(format!("{}: {what}", experiment.name)).in_file(&experiment.path).help(help),
    )
}

/// An error once the result folder exists, with the way out: the runs measured so far are in the folder,
/// and `--resume` finishes it (its runs, summary, charts) once the cause is gone. Bad input found on the
/// way (a [`Diagnostic`](crate::diagnostic::Diagnostic)) says its own fix.
fn way_out(error: anyhow::Error, experiment: &Experiment, dir: &Path) -> anyhow::Error {
    if error.downcast_ref::<crate::diagnostic::Diagnostic>().is_some() {
        return error;
    }
    let first = if crate::results::disk_full(&error) {
        "free space on its device (it is full), then"
    } else {
        "once the cause is fixed,"
    };
    anyhow::anyhow!(
        "{error:#}\n  the runs measured so far are in {}; {first} finish the folder with\n  {} run {} --resume {}\n  \
         (it makes the runs the folder lacks: a run that failed keeps its row; run into a new folder to measure it \
         again)",
        dir.display(),
        crate::console::invoked_as(),
        experiment.path.display(),
        dir.display()
    )
}

/// The runs of `run` into the opened folder, then its summary and charts.
fn run_opened(
    experiment: &Experiment,
    options: &Options<'_>,
    mut runner: Runner,
    opened: Opened,
    load: &LoadMeter,
) -> anyhow::Result<Summary> {
    let Opened { mut results, done, mut environment } = opened;
    runner.log_services_to(results.path.join(files::LOGS).join("services"));
    if options.resume.is_some() {
        agree_with_earlier_runs(experiment, &results.path, &mut runner);
    }
    let slots = crate::run::schedule(experiment, options.shard, &done);
    // A search's first probe has a slot; the others it may run are counted in the most there can be.
    let searches = slots.iter().filter(|s| s.repetition == Some(1) && experiment.cells[s.cell].search.is_some());
    let most = slots.len() as u64 + searches.count() as u64 * (crate::search::MAX_PROBES as u64 - 1);
    let reporter = Reporter::new(options.progress, slots.len() as u64, most, &experiment.name);
    reporter.show_most();
    let mut summary = Summary {
        dir: results.path.clone(),
        measured: 0,
        failed: 0,
        failed_warmups: 0,
        interrupted: false,
        remaining: 0,
        lock: None,
        stopped: Vec::new(),
    };
    let logs = results.path.join(files::LOGS);
    let ran = match experiment
        .setup
        .as_ref()
        .map(|exec| hook(&runner, experiment, &logs, "setup", exec, OnInterrupt::Stop))
    {
        // Ctrl-C or SIGTERM during the setup: an interruption like any other, which `--resume` finishes.
        Some(Err(_)) if crate::run::interrupted_by().is_some() => {
            summary.interrupted = true;
            summary.remaining = slots.iter().filter(|s| s.repetition.is_some()).count();
            Ok(())
        }
        Some(Err(error)) => Err(error.context("the setup failed, so no run was started")),
        _ => run_slots(experiment, &slots, &mut runner, &mut results, &reporter, &mut summary, options.decide),
    };
    reporter.done(summary.interrupted);
    // `cleanup` runs whatever happened before: a failed setup, a failure, Ctrl-C.
    let cleaned =
        experiment.cleanup.as_ref().map(|exec| hook(&runner, experiment, &logs, "cleanup", exec, OnInterrupt::Finish));
    let cleanup_failed = match (ran, cleaned) {
        (Err(error), Some(Err(cleanup))) => {
            return Err(error.context(format!("and the cleanup failed too: {cleanup:#}")));
        }
        (Err(error), _) => return Err(error),
        // The runs are measured: a cleanup that failed is a warning of the results, not a lost result.
        (Ok(()), Some(Err(cleanup))) => Some(format!("the cleanup failed: {cleanup:#}")),
        (Ok(()), _) => None,
    };
    // A service the runs need that exited or never got ready stopped them, or a step library that changed.
    let fatal = runner.fatal().map(str::to_owned);
    let changed = runner.changed().map(str::to_owned);
    environment.extra.insert("run_process".to_owned(), serde_json::Value::Object(runner.run_paths(experiment)));
    let mut warnings = runner.finish(experiment);
    warnings.extend(cleanup_failed);
    if experiment.rounds.is_range() && !summary.interrupted {
        environment.extra.insert("rounds".to_owned(), rounds_record(experiment, &summary.stopped));
    }
    let load = load.finish();
    environment.machine_load =
        Some(serde_json::from_value(serde_json::to_value(&load).expect("serializable")).expect("a machine load"));
    let finished = environment.write(&results.path).context("cannot update environment.json").and_then(|()| {
        summarize_and_draw(experiment, &results.path, &environment, &load, &mut warnings, options.progress)
    });
    if let Err(error) = finished {
        // What stopped the runs is the first thing to fix (a service that filled the disk, say): it is not
        // hidden behind what failed after.
        return Err(match &fatal {
            Some(why) => error.context(format!(
                "{}: the experiment stopped: {why}\n  and then finishing the folder failed",
                experiment.name
            )),
            None => error,
        });
    }
    if let Some(why) = changed {
        return Err(library_changed(experiment, &results.path, &why, summary.remaining).into());
    }
    if let Some(error) = fatal {
        anyhow::bail!("{}: the experiment stopped: {error}", experiment.name);
    }
    summary.lock = Some(results.into_lock());
    Ok(summary)
}

/// Gives `checksum = "must-agree"` the `ok` runs a resumed folder holds: the runs still to come must agree
/// with them.
fn agree_with_earlier_runs(experiment: &Experiment, dir: &Path, runner: &mut Runner) {
    let Ok(runs) = Runs::read(&dir.join(files::RUNS)) else { return };
    let Some(column) = runs.position("checksum") else { return };
    for row in runs.rows.iter().filter(|row| row.ok()) {
        let checksum = row.record.get(column).and_then(|c| u64::from_str_radix(c, 16).ok());
        if let (Some(cell), Some(repetition), Some(checksum)) = (row.cell, row.repetition, checksum) {
            let cell = (cell as usize).wrapping_sub(1);
            runner.agreement().found(experiment, cell, repetition as u32, checksum);
        }
    }
}

/// The experiment stopped because a step library changed during it: bad input, since the experiment file
/// names a library that is no longer the one its runs measured; `remaining` measured runs are left.
fn library_changed(experiment: &Experiment, dir: &Path, why: &str, remaining: usize) -> crate::diagnostic::Diagnostic {
    crate::diagnostic::Diagnostic::new(format!(
        "{}: the experiment stopped: {why}; the runs of one cell would mix two builds. The runs so far are in {}, \
         {remaining} are left",
        experiment.name,
        dir.display()
    ))
    .in_file(&experiment.path)
    .help(format!(
        "put back the library the experiment started with and finish it with `harness run {} --resume {}`, or start a \
         new run to measure the new build",
        experiment.path.display(),
        dir.display()
    ))
}

/// What `environment.json` records of a range of repetitions: the range, and where each cell stopped.
fn rounds_record(experiment: &Experiment, stopped: &[Stopped]) -> serde_json::Value {
    serde_json::json!({
        "min": experiment.rounds.min,
        "max": experiment.rounds.max,
        "looks": crate::stats::sequential::looks(experiment.rounds.min, experiment.rounds.max),
        "stopped": stopped,
    })
}

/// For a range of repetitions: the looks still ahead, and the cells still running.
struct Looks<'a> {
    decide: Decide<'a>,
    ahead: Vec<u32>,
    active: Vec<bool>,
}

impl<'a> Looks<'a> {
    fn new(experiment: &Experiment, decide: Option<Decide<'a>>) -> Option<Self> {
        let rounds = experiment.rounds;
        if !rounds.is_range() {
            return None;
        }
        // Without a comparison, a range runs its `min` rounds: nothing is left to decide.
        let nothing: &dyn Fn(&Path, u32) -> anyhow::Result<Vec<String>> = &|_, _| Ok(Vec::new());
        Some(Self {
            decide: decide.unwrap_or(Decide(nothing)),
            ahead: crate::stats::sequential::looks(rounds.min, rounds.max),
            active: vec![true; experiment.cells.len()],
        })
    }

    /// Before a run of round `round`: looks at the last look before it that was not looked at yet, and stops
    /// the cells it decided. Whether `cell` still runs.
    fn runs(
        &mut self,
        experiment: &Experiment,
        dir: &Path,
        cell: usize,
        round: u32,
        summary: &mut Summary,
    ) -> anyhow::Result<bool> {
        let due: Vec<u32> = self.ahead.iter().copied().filter(|&look| look < round).collect();
        if let Some(&look) = due.last() {
            self.ahead.retain(|&l| l >= round);
            let undecided = (self.decide.0)(dir, look)?;
            for (index, plan) in experiment.cells.iter().enumerate() {
                let label = plan.label(&experiment.columns);
                if self.active[index] && !undecided.contains(&label) {
                    self.active[index] = false;
                    summary.stopped.push(Stopped { cell: label, rounds: look, decided: true });
                }
            }
        }
        Ok(self.active[cell])
    }

    /// After the last run: the cells that ran to the end.
    fn finish(self, experiment: &Experiment, summary: &mut Summary) {
        for (index, active) in self.active.into_iter().enumerate() {
            if active {
                let cell = experiment.cells[index].label(&experiment.columns);
                summary.stopped.push(Stopped { cell, rounds: experiment.rounds.max, decided: false });
            }
        }
    }
}

/// Runs every slot of the schedule and records it; stops early, and says so in `summary`, when Ctrl-C or
/// SIGTERM stopped a run; stops early too when a service the runs need is gone ([`Runner::fatal`]). With a
/// range of repetitions, a cell stops after the look that decided its comparisons.
fn run_slots(
    experiment: &Experiment,
    slots: &[Slot],
    runner: &mut Runner,
    results: &mut ResultDir,
    reporter: &Reporter,
    summary: &mut Summary,
    decide: Option<Decide<'_>>,
) -> anyhow::Result<()> {
    let mut looks = Looks::new(experiment, decide);
    // The probes of the searches so far: each run's index in the schedule is its own.
    let mut probes = 0;
    for (index, &slot) in slots.iter().enumerate() {
        if let (Some(looks), Some(round)) = (looks.as_mut(), slot.repetition) {
            if !looks.runs(experiment, &results.path, slot.cell, round, summary)? {
                reporter.skipped();
                continue;
            }
        }
        let searched = match (&experiment.cells[slot.cell].search, slot.repetition) {
            (Some(search), Some(_)) => {
                let mut search = Searching { search, slot, index: slots.len() + probes, probes: Vec::new() };
                let done = run_search(experiment, &mut search, runner, results, reporter, summary)?;
                probes += search.probes.len();
                done
            }
            _ => match runner.run(experiment, slot, index)? {
                Some(ran) => {
                    record(results, experiment, slot, index, &ran, None, summary)?;
                    reporter.finished(experiment, &experiment.cells[slot.cell], slot, &ran.outcome);
                    true
                }
                None => false,
            },
        };
        if !searched {
            summary.interrupted = runner.changed().is_none();
            summary.remaining = slots[index..].iter().filter(|s| s.repetition.is_some()).count();
            break;
        }
        if runner.fatal().is_some() {
            break;
        }
    }
    let stopped = summary.interrupted || runner.fatal().is_some() || runner.changed().is_some();
    if let Some(looks) = looks.filter(|_| !stopped) {
        looks.finish(experiment, summary);
    }
    Ok(())
}

/// A cell's search in progress: its slot (its first repetition), the index its first probe runs as, and
/// its probes so far.
struct Searching<'a> {
    search: &'a crate::search::Search,
    slot: Slot,
    index: usize,
    probes: Vec<crate::search::Probe>,
}

/// Runs the probes of a cell's search ([`crate::search`]), each recorded as a run of its own: its
/// repetition is its number, `offered_per_s` its rate and `probe` its verdict. `false` when Ctrl-C or
/// SIGTERM stopped a probe, or a step library changed.
fn run_search(
    experiment: &Experiment,
    searching: &mut Searching<'_>,
    runner: &mut Runner,
    results: &mut ResultDir,
    reporter: &Reporter,
    summary: &mut Summary,
) -> anyhow::Result<bool> {
    let cell = &experiment.cells[searching.slot.cell];
    while let Some(rate) = crate::search::next(searching.search, &searching.probes) {
        let number = searching.probes.len() as u32 + 1;
        let slot = Slot { repetition: Some(number), ..searching.slot };
        let probe = crate::run::probe::at_rate(cell, searching.search, rate);
        let index = searching.index + searching.probes.len();
        let Some(ran) = runner.run_as(experiment, slot, &probe, index)? else { return Ok(false) };
        let verdict = crate::run::probe::verdict(&probe, searching.search, experiment.seed, &ran.outcome);
        let probe = crate::search::Probe { rate, verdict };
        record(results, experiment, slot, index, &ran, Some(probe), summary)?;
        searching.probes.push(probe);
        let fatal = runner.fatal().is_some();
        // The line of a search's last probe no longer counts the probes it did not need.
        if fatal || crate::search::next(searching.search, &searching.probes).is_none() {
            reporter.searched(searching.probes.len());
        }
        reporter.probed(experiment, cell, slot, &ran.outcome, probe);
        if fatal {
            break;
        }
    }
    Ok(true)
}

/// Runs the experiment's hook `what` (`setup` or `cleanup`) into `logs/WHAT.log`.
fn hook(
    runner: &Runner,
    experiment: &Experiment,
    logs: &Path,
    what: &str,
    exec: &Exec,
    on_interrupt: OnInterrupt,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(logs).context("cannot make the logs folder")?;
    let log = logs.join(format!("{what}.log"));
    runner
        .hook(what, exec, &log, experiment.timeout, on_interrupt)
        .map_err(|error| anyhow::anyhow!("{}: {error} (its output is in {})", experiment.name, log.display()))
}

/// A result folder open for the runs: the runs it already has (cell index, repetition), and its
/// `environment.json`.
struct Opened {
    results: ResultDir,
    done: HashSet<(usize, u32)>,
    environment: Environment,
}

/// Reopens the result folder `dir` to resume it, locked.
fn resume(dir: &Path, experiment: &Experiment, started: SystemTime) -> anyhow::Result<Opened> {
    let (results, done) = ResultDir::resume(dir, experiment)
        .with_context(|| format!("cannot resume the result folder {}", dir.display()))?;
    let environment = crate::survey::record_resume(dir, started).context("cannot update environment.json")?;
    Ok(Opened { results, done, environment })
}

/// Creates the result folder under `options.out`, locked.
fn create(
    experiment: &Experiment,
    options: &Options<'_>,
    runner: &Runner,
    started: SystemTime,
) -> anyhow::Result<Opened> {
    let environment =
        crate::survey::collect(experiment, started, options.shard, runner.accounting(), runner.libraries());
    let results = ResultDir::create(options.out, experiment, started, &environment).map_err(|error| {
        let hint = if crate::results::disk_full(&error) {
            " (the device is full: free space on it, or write the results elsewhere with --out DIR)"
        } else {
            ""
        };
        error.context(format!("cannot create a result folder under {}{hint}", options.out.display()))
    })?;
    Ok(Opened { results, done: HashSet::new(), environment })
}

/// Keeps a run's log, appends its row when it was measured, and counts it.
fn record(
    results: &mut ResultDir,
    experiment: &Experiment,
    slot: Slot,
    index: usize,
    ran: &crate::run::Ran,
    probe: Option<crate::search::Probe>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if let Some(log) = ran.output() {
        results.keep_log(slot, index, log).context("cannot keep the run's log")?;
    }
    if let Some(repetition) = slot.repetition {
        results.append(experiment, slot.cell, repetition, &ran.outcome, probe).context("cannot append to runs.csv")?;
        summary.measured += 1;
    }
    if ran.outcome.status != Status::Ok {
        summary.failed += 1;
        summary.failed_warmups += usize::from(slot.repetition.is_none());
    }
    Ok(())
}

/// Writes `summary.csv` and `warnings.txt` from `runs.csv` read back from disk, then the charts and
/// reports. Drawing comes last: it cannot lose a result, and a failure is only a warning.
fn summarize_and_draw(
    experiment: &Experiment,
    dir: &Path,
    environment: &Environment,
    load: &Load,
    warnings: &mut Vec<String>,
    progress: Progress,
) -> anyhow::Result<()> {
    let written = Runs::read(&dir.join(files::RUNS)).context("cannot read runs.csv back")?;
    let runs = crate::summary::runs_of(&written, &experiment.columns).context("cannot read runs.csv back")?;
    let cells = crate::summary::DeclaredCell::of(experiment);
    let mut summaries = crate::summary::summarize(&runs, &cells, experiment.seed, load.logical_cpus);
    crate::summary::over_cells(dir, &runs, &mut summaries).context("cannot read the latency histograms back")?;
    crate::summary::write(&dir.join(files::SUMMARY), &experiment.columns, &summaries)
        .context("cannot write summary.csv")?;
    let mut all = crate::summary::warnings(&experiment.columns, &summaries);
    if experiment.has_gate() {
        let paired = experiment.gate.baseline.is_some();
        all.extend(crate::summary::too_short_for_the_gate(&experiment.gate, paired, &experiment.columns, &summaries));
    }
    all.extend(crate::summary::disagreements(&written, &cells));
    all.extend(load.warnings());
    all.extend(crate::summary::speed_warning(&written));
    all.append(warnings);
    *warnings = all;
    crate::results::write_warnings(dir, warnings).context("cannot write warnings.txt")?;
    if progress != Progress::Quiet {
        for warning in warnings.iter() {
            crate::console::errln!("warning: {}: {warning}", experiment.name);
        }
    }
    if crate::run::hurried() {
        eprintln!(
            "warning: {}: interrupted twice, so the charts and reports are not drawn; draw them with `harness report {}`",
            experiment.name,
            dir.display()
        );
        return Ok(());
    }
    let report = crate::report::Report::new(crate::report::Sources {
        name: &experiment.name,
        description: &experiment.description,
        columns: &experiment.columns,
        cells: &cells,
        summaries: &summaries,
        runs: &runs,
        charts: &experiment.charts,
        environment: &environment.to_value(),
        warnings,
        catalog: &experiment.catalog,
    });
    match crate::report::write(dir, &report) {
        Ok(written) => {
            for problem in written.problems {
                crate::console::errln!("warning: {}: {problem}", experiment.name);
            }
        }
        Err(e) => crate::console::errln!("warning: {}: cannot write the charts and reports: {e}", experiment.name),
    }
    Ok(())
}

/// Reads the result folder `dir` back into a report: `runs.csv` and `experiment.toml`, and `environment.json`
/// and `warnings.txt` when they are there. What the report needs of the executors (their models) comes
/// from `environment.json`: no library is loaded. Without it the cells get statistics but no ideal time,
/// efficiency or throughput, and the report says so.
pub fn read_report(dir: &Path) -> Result<Report, Error> {
    let folder = Folder::open(dir)?;
    Ok(Report::of_folder(&crate::summary::of_folder(&folder)?))
}

/// Writes `summary.csv`, and `warnings.txt` when there is something to warn about, for a result folder that
/// has none: one `harness merge` made.
pub(crate) fn write_summary(dir: &Path) -> Result<(), Error> {
    let folder = Folder::open(dir)?;
    let summarized = crate::summary::of_folder(&folder)?;
    crate::summary::write(&dir.join(files::SUMMARY), &summarized.columns, &summarized.summaries)
        .context("cannot write summary.csv")?;
    // The folder has no warnings.txt: these are the statistics' warnings, and the checksums that disagree.
    crate::results::write_warnings(dir, &summarized.warnings).context("cannot write warnings.txt")?;
    Ok(())
}

/// Progress: a bar on a terminal, a line per run otherwise, nothing with `--quiet`.
struct Reporter {
    bar: Option<ProgressBar>,
    plain: bool,
    total: std::cell::Cell<u64>,
    /// The most runs there can be: `total` and the probes that the searches not yet ended may still add.
    most: std::cell::Cell<u64>,
    done: std::cell::Cell<u64>,
    start: Instant,
}

impl Reporter {
    fn new(progress: Progress, total: u64, most: u64, name: &str) -> Self {
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
            total: std::cell::Cell::new(total),
            most: std::cell::Cell::new(most),
            done: std::cell::Cell::new(0),
            start: Instant::now(),
        }
    }

    fn finished(&self, experiment: &Experiment, cell: &CellPlan, slot: Slot, outcome: &Outcome) {
        self.report(experiment, cell, slot, outcome, None);
    }

    /// A probe of a search: one more run than the schedule counted, but for the first.
    fn probed(
        &self,
        experiment: &Experiment,
        cell: &CellPlan,
        slot: Slot,
        outcome: &Outcome,
        probe: crate::search::Probe,
    ) {
        if slot.repetition != Some(1) {
            self.total.set(self.total.get() + 1);
            if let Some(bar) = &self.bar {
                bar.inc_length(1);
            }
        }
        self.show_most();
        self.report(experiment, cell, slot, outcome, Some(probe));
    }

    /// A search ended after `probes` probes: the ones it did not need leave the most there can be.
    fn searched(&self, probes: usize) {
        let unused = crate::search::MAX_PROBES.saturating_sub(probes.max(1)) as u64;
        self.most.set(self.most.get().saturating_sub(unused).max(self.total.get()));
    }

    /// On the bar, the most runs there can be while it is more than the bar's length: at the start, and with
    /// each probe (after [`Reporter::searched`] for a search's last).
    fn show_most(&self) {
        if let Some(bar) = &self.bar {
            let (total, most) = (self.total.get(), self.most.get());
            bar.set_message(if most > total { format!("(up to {most} runs)") } else { String::new() });
        }
    }

    /// `[done/total]`, and while a search may still add probes, the most there can be.
    fn counter(&self) -> String {
        let (done, total, most) = (self.done.get(), self.total.get(), self.most.get());
        if most > total { format!("[{done}/{total}, up to {most}]") } else { format!("[{done}/{total}]") }
    }

    fn report(
        &self,
        experiment: &Experiment,
        cell: &CellPlan,
        slot: Slot,
        outcome: &Outcome,
        probe: Option<crate::search::Probe>,
    ) {
        self.done.set(self.done.get() + 1);
        let label: Vec<String> = experiment
            .columns
            .iter()
            .filter(|c| cell.values.contains_key(c.as_str()))
            .map(|c| format!("{c}={}", cell.value(c)))
            .collect();
        let what = match (slot.repetition, probe) {
            (Some(r), Some(p)) => format!("probe {r} at {}/s", crate::fmt::number(p.rate)),
            (Some(r), None) => format!("rep {r}"),
            (None, _) => "warmup".to_owned(),
        };
        let result = match (&outcome.report, outcome.status) {
            (Some(r), Status::Ok) => format!("ok, run {:.4}s", r.run_s),
            _ => format!("{}: {}", outcome.status.as_str(), outcome.error),
        };
        let result = match probe {
            Some(p) => format!("{result}, {}", p.verdict.as_str()),
            None => result,
        };
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if outcome.status != Status::Ok {
                bar.println(crate::console::escape_controls(&format!("{} {what}: {result}", label.join(" "))));
            }
        } else if self.plain {
            crate::console::errln!("{} {} {what}: {result}", self.counter(), label.join(" "));
        }
    }

    /// A run a range of repetitions no longer needs: it leaves the total.
    fn skipped(&self) {
        if let Some(bar) = &self.bar {
            bar.set_length(bar.length().unwrap_or(self.total.get()).saturating_sub(1));
        }
    }

    fn done(&self, interrupted: bool) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.bar.is_some() || self.plain {
            let (done, elapsed) = (self.done.get(), self.start.elapsed().as_secs_f64());
            if interrupted {
                crate::console::errln!("stopped after {done} of {} runs, in {elapsed:.1}s", self.total.get());
            } else {
                crate::console::errln!("finished {done} runs in {elapsed:.1}s");
            }
        }
    }
}
