//! Running an experiment's runs: the schedule (warmups, repetitions, shards, what a resume still lacks), and
//! [`Runner`], which runs each slot in a child process of its own and classifies how it ended. Where the
//! results go is the caller's business ([`crate::pipeline`]).

pub(crate) mod agreement;
pub(crate) mod cgroup;
mod child;
mod count;
mod exec;
mod fork_server;
mod hooks;
pub(crate) mod libraries;
mod life;
pub(crate) mod probe;
mod reap;
pub(crate) mod rounds;
mod services;
mod signals;
mod wait;
mod watchdog;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use harness_sdk::protocol::{RunRequest, SharedLock, Step, Workload};

pub(crate) use child::{Outcome, Status};
pub(crate) use count::count_main;
pub(crate) use exec::exec_main;
pub(crate) use fork_server::fork_server_main;
pub(crate) use hooks::{HookContext, OnInterrupt, run_hook};
pub(crate) use services::loopback_main;
use services::{Managed, Services, Unavailable};
use watchdog::Guards;
pub(crate) use watchdog::watchdog_main;

use crate::experiment::{CellPlan, Experiment, Order};

/// One run of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub cell: usize,
    /// 1-based measured repetition, or `None` for a warmup run.
    pub repetition: Option<u32>,
}

/// One of `count` deterministic parts of an experiment's measured runs: `--shard K/N`, K from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Shard {
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
    pub(crate) fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
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
pub(crate) fn schedule(experiment: &Experiment, shard: Option<Shard>, done: &HashSet<(usize, u32)>) -> Vec<Slot> {
    if rounds::applies(experiment) {
        let mut slots = rounds::schedule(experiment, shard, done);
        slots.retain(|slot| runs_alone(experiment, *slot));
        return slots;
    }
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
    measured.retain(|slot| runs_alone(experiment, *slot));
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

/// Whether `slot` is run: a cell's search runs its probes in the place of its first repetition, and its
/// other repetitions are not run.
fn runs_alone(experiment: &Experiment, slot: Slot) -> bool {
    experiment.cells[slot.cell].search.is_none() || slot.repetition.is_none_or(|r| r == 1)
}

/// A Fisher-Yates shuffle driven by splitmix64, so the same seed gives the same order everywhere.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = crate::stats::Rng::new(seed);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// What runs an experiment's slots: the services its workloads need, where run cgroups go, and the
/// interrupt handling. Made once per experiment, before its first run; dropping it stops the services.
pub(crate) struct Runner {
    services: Services,
    /// The experiment's `[services]`.
    managed: Managed,
    /// Why the experiment must stop: a service it needs is gone or never got ready.
    fatal: Option<String>,
    accounting: cgroup::Accounting,
    /// Makes and removes the runs' cgroups off the path from one run to the next.
    cgroups: cgroup::Keeper,
    /// Connections dropped from full accept queues, per cell: each costs its client a second's retry.
    overflows: std::collections::BTreeMap<usize, u64>,
    /// The last speed anchor, and when it was taken: see [`ANCHOR_REUSE`].
    last_anchor: Option<(std::time::Instant, f64)>,
    /// How the runs of each executor library start their process.
    run_paths: std::collections::BTreeMap<PathBuf, fork_server::RunPath>,
    /// What the results should warn about the run paths: a fork server that stopped serving.
    path_warnings: Vec<String>,
    /// The step libraries as the experiment started with them.
    libraries: libraries::Libraries,
    /// Why the experiment must stop: a step library changed.
    changed: Option<String>,
    /// The checksums that `checksum = "must-agree"` holds the runs to.
    agreement: agreement::MustAgree,
    /// The process groups of the services and the hooks, killed by the watchdog if the harness dies.
    guards: std::sync::Arc<Guards>,
}

/// How the runs start their process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spawn {
    /// A copy of a fork server per executor library, where the library allows it; else `Exec`.
    ForkServer,
    /// `harness __exec` for every run.
    Exec,
}

/// How long a speed anchor serves the runs that follow it. Taking one costs about as much as a short run
/// (16 MiB hashed, twice); the machine's speed changes over seconds. So a run takes a fresh anchor before
/// and after it only when the last is older than this: runs longer than this get their own pair, and
/// shorter runs share one anchor per this much time, which keeps its cost to a few percent of theirs.
const ANCHOR_REUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// The machine's speed anchor now: the `last` one when it is younger than [`ANCHOR_REUSE`], else a new one,
/// which becomes the last.
fn anchor(last: &mut Option<(std::time::Instant, f64)>) -> f64 {
    match *last {
        Some((taken, anchor)) if taken.elapsed() < ANCHOR_REUSE => anchor,
        _ => {
            let anchor = crate::machine::speed_anchor();
            *last = Some((std::time::Instant::now(), anchor));
            anchor
        }
    }
}

/// The folder of the run in progress, in the experiment's scratch folder: its request, response, log and
/// shared counter. One folder serves every run: creating and removing files for each run costs the file
/// system more than a short run costs (inodes to find and free). The request and response are written
/// over in place, the response with the token of its run (see [`exec`]); the log is emptied when a run
/// printed something.
const RUN_DIR: &str = "run";

/// Makes the run folder `dir` ready for the next run: there, with an empty log.
fn reset_run_dir(dir: &Path) -> std::io::Result<()> {
    let log = dir.join(child::OUTPUT);
    match std::fs::metadata(&log) {
        // An empty log is left as it is: most runs print nothing.
        Ok(m) if m.len() == 0 => return Ok(()),
        Ok(_) => {}
        Err(_) => match std::fs::create_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => other?,
        },
    }
    std::fs::File::options().create(true).write(true).truncate(true).open(log)?;
    Ok(())
}

/// One run of a slot, as it ended.
pub(crate) struct Ran {
    pub outcome: Outcome,
}

impl Ran {
    /// What the run printed, when it printed anything.
    pub(crate) fn output(&self) -> Option<&Path> {
        self.outcome.output.as_deref()
    }
}

impl Runner {
    /// Runs the experiment's hook `what` (`setup` or `cleanup`), appending what it prints to `log`.
    pub(crate) fn hook(
        &self,
        what: &str,
        exec: &harness_sdk::protocol::Exec,
        log: &Path,
        timeout: std::time::Duration,
        on_interrupt: OnInterrupt,
    ) -> Result<(), String> {
        run_hook(
            what,
            exec,
            HookContext { log, timeout, on_interrupt, scratch: self.services.scratch(), guards: &self.guards },
        )
    }

    /// Becomes the subreaper of the runs, finds where their cgroups go, catches Ctrl-C and prepares the
    /// services: the fixture files now, the `[services]` and the loopback server before the first run that
    /// needs each; and starts a fork server per executor library (see `spawn`).
    pub(crate) fn start(experiment: &Experiment, spawn: Spawn) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        child::become_subreaper();
        let accounting = cgroup::Accounting::detect();
        let interrupts = child::catch_interrupts();
        // The thread that makes and removes run cgroups keeps the signals blocked, so they reach this one.
        let cgroups = cgroup::Keeper::start(&accounting, experiment.memory_limit);
        drop(interrupts);
        let mut services = Services::start(experiment).context("cannot set up the experiment's services")?;
        // An interruption stops the writing, and then every run.
        services
            .write_fixtures(experiment.seed, || interrupted_by().is_some())
            .context("cannot write the experiment's fixture files")?;
        let guards = std::sync::Arc::new(Guards::default());
        let managed = Managed::new(
            experiment,
            services.scratch().join("services"),
            services.scratch().join("service-dirs"),
            guards.clone(),
        );
        let libraries =
            libraries::Libraries::hash(experiment).context("cannot read the experiment's step libraries")?;
        let run_paths = start_run_paths(experiment, spawn, services.scratch(), &cgroups);
        Ok(Self {
            services,
            managed,
            fatal: None,
            accounting,
            cgroups,
            overflows: std::collections::BTreeMap::new(),
            last_anchor: None,
            run_paths,
            path_warnings: Vec::new(),
            libraries,
            changed: None,
            agreement: agreement::MustAgree::default(),
            guards,
        })
    }

    /// The checksums of `checksum = "must-agree"`: `--resume` gives it the `ok` runs already measured.
    pub(crate) fn agreement(&mut self) -> &mut agreement::MustAgree {
        &mut self.agreement
    }

    /// The step libraries as the experiment started with them, for `environment.json`.
    pub(crate) fn libraries(&self) -> &libraries::Libraries {
        &self.libraries
    }

    /// Why the experiment must stop before its end, when a step library changed during it: the run that
    /// found it has no row, and what is left is for `--resume` once the library is back.
    pub(crate) fn changed(&self) -> Option<&str> {
        self.changed.as_deref()
    }

    /// How each executor's runs start their process, for `environment.json`: `{"path": "fork_server"}` or
    /// `{"path": "exec", "why": ...}`, by executor name.
    pub(crate) fn run_paths(&self, experiment: &Experiment) -> serde_json::Map<String, serde_json::Value> {
        let mut paths = serde_json::Map::new();
        for cell in &experiment.cells {
            if let Some(path) = self.run_paths.get(&cell.executor.path) {
                paths.entry(cell.executor.name.clone()).or_insert_with(|| path.describe());
            }
        }
        paths
    }

    /// Where the logs of the experiment's `[services]` go (the result folder's `logs/services`).
    pub(crate) fn log_services_to(&mut self, dir: PathBuf) {
        self.managed.log_to(dir);
    }

    /// Why the experiment must stop now, when a service its runs need exited or never got ready.
    pub(crate) fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Where run cgroups go, for `environment.json`.
    pub(crate) fn accounting(&self) -> &cgroup::Accounting {
        &self.accounting
    }

    /// Runs `slot`, the `index`th of the schedule, in a child process; `None` when Ctrl-C or SIGTERM
    /// stopped it, or a step library it calls changed ([`Runner::changed`]): not a measurement.
    pub(crate) fn run(&mut self, experiment: &Experiment, slot: Slot, index: usize) -> std::io::Result<Option<Ran>> {
        self.run_as(experiment, slot, &experiment.cells[slot.cell], index)
    }

    /// Runs `slot` as [`Runner::run`] does, its cell as `cell` says: the cell of the slot, or a probe of
    /// its search at a rate of its own ([`probe::at_rate`]).
    pub(crate) fn run_as(
        &mut self,
        experiment: &Experiment,
        slot: Slot,
        cell: &CellPlan,
        index: usize,
    ) -> std::io::Result<Option<Ran>> {
        if interrupted_by().is_some() {
            return Ok(None);
        }
        self.check_fork_server(&cell.executor.path, &cell.executor.name, true);
        let dir = self.services.scratch().join(RUN_DIR);
        reset_run_dir(&dir)?;
        self.collect_spares();
        let mut limits =
            child::Limits { timeout: experiment.timeout, memory: experiment.memory_limit, cgroups: &mut self.cgroups };
        let before = match self.managed.before_run(slot.cell, &cell.services, &self.accounting) {
            Ok(before) => before,
            Err(Unavailable::Interrupted) => return Ok(None),
            Err(Unavailable::Failed(message)) => {
                self.fatal = Some(message.clone());
                return Ok(Some(Ran { outcome: Outcome::not_started(message) }));
            }
        };
        let overflows_before = self.services.serves_net().then(services::listen_overflows).flatten();
        // Hooks write to the run's log, before and after what the run prints.
        let log = dir.join(child::OUTPUT);
        let scratch = self.services.scratch().to_owned();
        let guards = self.guards.clone();
        let context = HookContext {
            log: &log,
            timeout: experiment.timeout,
            on_interrupt: OnInterrupt::Stop,
            scratch: &scratch,
            guards: &guards,
        };
        let hook = |what, exec| run_hook(what, exec, context);
        let prepared = cell.prepare.as_ref().map(|exec| hook("prepare", exec)).transpose();
        let mut outcome = match &prepared {
            Ok(_) => {
                // The machine's speed right before and right after the run, with nothing of the run's own
                // running.
                let anchor_before = anchor(&mut self.last_anchor);
                let server = match self.run_paths.get_mut(&cell.executor.path) {
                    Some(fork_server::RunPath::ForkServer(server)) => Some(&mut **server),
                    _ => None,
                };
                // The libraries its steps call, checked before and after: a run during which one changed
                // may have loaded either build, and is no measurement.
                let mut outcome = match self.libraries.check(cell) {
                    Ok(()) => run_one(experiment, cell, &self.services, &dir, &mut limits, server, index),
                    Err(why) => Outcome::not_started(why),
                };
                if let Err(why) = self.libraries.check(cell) {
                    self.changed = Some(why);
                }
                self.check_fork_server(&cell.executor.path, &cell.executor.name, false);
                let anchor_after = anchor(&mut self.last_anchor);
                outcome.anchor_s = Some(f64::midpoint(anchor_before, anchor_after));
                outcome
            }
            Err(error) => Outcome::not_started(error.clone()),
        };
        self.collect_spares();
        let (usage, gone) = self.managed.after_run(&before);
        outcome.services = usage;
        if let Some(message) = gone {
            if outcome.status != Status::Interrupted {
                outcome.status = Status::Failed;
                outcome.error =
                    if outcome.error.is_empty() { message.clone() } else { format!("{message}; {}", outcome.error) };
            }
            self.fatal = Some(message);
        }
        // A hook that Ctrl-C stopped stops its run, which is then not a measurement.
        let stopped = |outcome: &mut Outcome| {
            if interrupted_by().is_some() {
                outcome.status = Status::Interrupted;
            }
        };
        if prepared.is_err() {
            stopped(&mut outcome);
        }
        // `conclude` follows every run its `prepare` began, failed or not, unless Ctrl-C stopped it.
        if prepared.is_ok() && outcome.status != Status::Interrupted {
            if let Some(Err(error)) = cell.conclude.as_ref().map(|exec| hook("conclude", exec)) {
                if outcome.status == Status::Ok {
                    outcome.status = Status::Failed;
                    outcome.error = error;
                    stopped(&mut outcome);
                }
            }
        }
        if let (Some(repetition), Some(report)) = (slot.repetition, &outcome.report) {
            if outcome.status == Status::Ok {
                if let Err(error) = self.agreement.check(experiment, slot.cell, repetition, report.checksum) {
                    outcome.status = Status::Failed;
                    outcome.error = error;
                }
            }
        }
        if log.metadata().is_ok_and(|m| m.len() > 0) {
            outcome.output = Some(log.clone());
        }
        // Read again only when read before: without a `net` server there is nothing to count.
        let overflows = overflows_before.and_then(|before| Some((before, services::listen_overflows()?)));
        if let Some((before, after)) = overflows {
            let dropped = after.saturating_sub(before);
            outcome.listen_overflows = Some(dropped);
            if dropped > 0 {
                *self.overflows.entry(slot.cell).or_insert(0) += dropped;
            }
        }
        let ran = Ran { outcome };
        Ok((ran.outcome.status != Status::Interrupted && self.changed.is_none()).then_some(ran))
    }

    /// Reads the pids of the spares the fork servers were asked for (see [`fork_server::ForkServer::collect`]):
    /// before whatever may reap orphans, such as stopping a service, which would take a spare whose pid is
    /// not known yet for one.
    fn collect_spares(&mut self) {
        for path in self.run_paths.values_mut() {
            if let fork_server::RunPath::ForkServer(server) = path {
                server.collect();
            }
        }
    }

    /// Replaces a fork server that stopped serving, or (when `file_too`) whose library file changed, by
    /// `__exec`, with a warning.
    fn check_fork_server(&mut self, library: &Path, executor: &str, file_too: bool) {
        let Some(path) = self.run_paths.get_mut(library) else { return };
        let fork_server::RunPath::ForkServer(server) = path else { return };
        let why = match server.broken() {
            Some(why) => format!("its fork server stopped serving ({why})"),
            None if file_too && server.library_changed() => "its library file changed during the experiment".to_owned(),
            None => return,
        };
        let why = format!("{why}, and its runs went on through `harness __exec`, which loads the file each run");
        self.path_warnings.push(format!("executor {executor}: {why}"));
        *path = fork_server::RunPath::Exec(why);
    }

    /// Stops the services; returns what the results should warn about them.
    pub(crate) fn finish(self, experiment: &Experiment) -> Vec<String> {
        let Self { services, mut managed, overflows, run_paths, path_warnings, agreement, .. } = self;
        drop(run_paths);
        managed.stop_all();
        let mut warnings = services.warnings.clone();
        warnings.extend(path_warnings);
        warnings.extend(agreement.failed);
        drop(services);
        warnings.extend(overflows.iter().map(|(&cell, dropped)| {
            format!(
                "{}: {dropped} connection(s) were dropped from a full accept queue during its runs (ListenOverflows), \
                 and each costs its client a second's retry: its net times are not to be trusted",
                experiment.cells[cell].label(&experiment.columns)
            )
        }));
        warnings
    }
}

/// The signal that interrupted the harness, if one did.
pub(crate) fn interrupted_by() -> Option<i32> {
    child::interrupted()
}

/// Whether the harness was interrupted twice: what was measured is still summarized, but nothing that can
/// be done later (the charts and reports) is.
pub(crate) fn hurried() -> bool {
    signals::hurried()
}

/// Starts a fork server for each executor library of `experiment`, when `spawn` asks for them; a library
/// whose server cannot serve gets the reason instead.
fn start_run_paths(
    experiment: &Experiment,
    spawn: Spawn,
    scratch: &Path,
    cgroups: &cgroup::Keeper,
) -> std::collections::BTreeMap<PathBuf, fork_server::RunPath> {
    let mut paths = std::collections::BTreeMap::new();
    for cell in &experiment.cells {
        let library = &cell.executor.path;
        if paths.contains_key(library) {
            continue;
        }
        let path = match spawn {
            Spawn::Exec => fork_server::RunPath::Exec("--spawn exec".to_owned()),
            Spawn::ForkServer => {
                let log = scratch.join(format!("fork-server-{}.log", paths.len()));
                match fork_server::ForkServer::start(library, scratch, &log, cgroups.shared_procs()) {
                    Ok(server) => fork_server::RunPath::ForkServer(Box::new(server)),
                    Err(why) => fork_server::RunPath::Exec(why),
                }
            }
        };
        paths.insert(library.clone(), path);
    }
    paths
}

fn run_one(
    experiment: &Experiment,
    cell: &CellPlan,
    services: &Services,
    run_dir: &Path,
    limits: &mut child::Limits,
    server: Option<&mut fork_server::ForkServer>,
    index: usize,
) -> Outcome {
    let shared = cell.workload.steps.iter().any(|s| s.shared_lock().is_some());
    let resources = match services.resources(run_dir, index, shared) {
        Ok(r) => r,
        Err(e) => return Outcome::not_started(format!("cannot prepare the run's resources: {e}")),
    };
    let request = RunRequest {
        workers: cell.workers,
        options: serde_json::Map::clone(&cell.options),
        seed: experiment.seed,
        workload: Workload::clone(&cell.workload),
        resources,
    };
    let mut outcome = child::execute(&cell.executor.path, &request, limits, run_dir, server);
    match outcome.report.as_ref().map(|r| check_report(cell, r)) {
        Some(Err(error)) => {
            outcome.status = Status::Failed;
            outcome.error = error;
        }
        Some(Ok(lost)) => outcome.shared_lost = lost,
        None => {}
    }
    outcome
}

/// The times a report gives must be times: finite, not negative, and latency percentiles in order.
fn check_numbers(report: &harness_sdk::protocol::RunReport) -> Option<String> {
    let l = &report.latency;
    let times = [
        ("setup_s", report.setup_s),
        ("run_s", report.run_s),
        ("latency mean_s", l.mean_s),
        ("latency p50_s", l.p50_s),
        ("latency p90_s", l.p90_s),
        ("latency p99_s", l.p99_s),
        ("latency max_s", l.max_s),
    ];
    if let Some((name, value)) = times.iter().find(|(_, v)| !v.is_finite() || *v < 0.0) {
        return Some(format!("the executor reported {name} = {value}, which is not a time (finite, zero or more)"));
    }
    let ordered = [("p50_s", l.p50_s), ("p90_s", l.p90_s), ("p99_s", l.p99_s), ("max_s", l.max_s)];
    if let Some(pair) = ordered.windows(2).find(|w| w[0].1 > w[1].1) {
        return Some(format!(
            "the executor reported latency {} = {} above {} = {}: percentiles must not decrease",
            pair[0].0, pair[0].1, pair[1].0, pair[1].1
        ));
    }
    if l.mean_s > l.max_s {
        return Some(format!("the executor reported latency mean_s = {} above max_s = {}", l.mean_s, l.max_s));
    }
    None
}

/// What the harness checks of every report: its numbers, all tasks ran (or, in an open workload, were
/// dropped), every custom metric got a number, and the shared counter lost no increment, unless its steps
/// take no lock: then the increments lost are the result (`Ok(Some(lost))`).
fn check_report(cell: &CellPlan, report: &harness_sdk::protocol::RunReport) -> Result<Option<u64>, String> {
    if let Some(why) = check_numbers(report) {
        return Err(why);
    }
    let tasks = cell.workload.tasks;
    let dropped = report.open.map_or(0, |o| o.dropped);
    if cell.workload.arrival.is_none() && report.open.is_some() {
        return Err("the executor reported an open workload's measures for a closed workload".to_owned());
    }
    if report.tasks + dropped != tasks {
        let dropped = if dropped > 0 { format!(" and {dropped} dropped") } else { String::new() };
        return Err(format!("the executor reported {} tasks{dropped}, the workload has {tasks}", report.tasks));
    }
    if let Some(metric) = cell.workload.metrics.iter().find(|m| !report.metrics.contains_key(&m.name)) {
        let from = match metric.from {
            harness_sdk::protocol::Stream::Stdout => "stdout",
            harness_sdk::protocol::Stream::Stderr => "stderr",
            harness_sdk::protocol::Stream::Call => {
                return Err(format!(
                    "no task reported metric `{}`: no `call` step's function recorded it",
                    metric.name
                ));
            }
        };
        return Err(format!(
            "no task reported metric `{}`: its regex '{}' matched nothing in the programs' {from}",
            metric.name, metric.regex
        ));
    }
    let shared: Vec<SharedLock> = cell.workload.steps.iter().filter_map(Step::shared_lock).collect();
    let per_task = shared.len() as u64;
    let unlocked = shared.contains(&SharedLock::None);
    if per_task > 0 {
        let expected = report.tasks * per_task;
        match report.shared_count {
            Some(count) if unlocked && count <= expected => return Ok(Some(expected - count)),
            Some(count) if count == expected => {}
            Some(count) => {
                return Err(format!(
                    "the shared counter is {count} after {expected} increments: {} were lost (a missing lock, or tasks \
                     in forked processes counting in memory: such an executor needs SharedMode::File)",
                    expected.abs_diff(count)
                ));
            }
            None => return Err("the executor did not report the shared counter".to_owned()),
        }
    }
    Ok(None)
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
