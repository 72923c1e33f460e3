//! The experiment's `[services]`: programs started before the first run that needs them, ready when their
//! probe succeeds, measured around each run, and stopped after the last run of their scope (SIGTERM, then
//! SIGKILL after a grace period), whatever ends the experiment.
//!
//! Each service runs as a child of the harness in a process group of its own, with `PR_SET_PDEATHSIG` (it
//! dies with the harness, even on `kill -9`) and, where the harness makes cgroups, a cgroup of its own
//! (whatever it starts is killed with it). The run reaper spares it ([`super::super::reap::spare`]). Its
//! standard output and error go to `logs/services/NAME.log` (`NAME-K.log` for the Kth start of a service
//! of scope `cell` or `run`). Each start gets a fresh folder of its own in the scratch folder (`${dir}`),
//! where the service's `files` are written before its command starts; a copy of them is kept beside the log
//! (`logs/services/NAME.files/`), since the scratch folder is removed at the end and a service's own errors
//! name the files it read.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::super::cgroup::{Accounting, PeakMeter, RunCgroup};
use super::super::reap::{children_of, reap_orphans, spare, unspare};
use super::super::signals::interrupted;
use super::super::watchdog::Guards;
use crate::experiment::{Experiment, Scope, Service, place};
use crate::fmt::format_duration;
use crate::process::describe_exit;

use super::ready::{Watch, tail};
use crate::sys::{self, ChildSetup, pid_t};

/// How long a service has to exit after SIGTERM before it gets SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// When a service's exit came, in its message, unless it was not ready yet.
const DURING: &str = "during the experiment";
/// How often readiness and exits are checked.
const POLL: Duration = Duration::from_millis(10);

/// What a service spent during one run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceUsage {
    pub name: String,
    /// User and system CPU time of its processes: its cgroup's counter, or `/proc` (see
    /// [`Accounting::service_cpu`]).
    pub cpu_s: f64,
    /// The most memory its cgroup used at once during the run, page cache included; where it has no cgroup
    /// whose peak can be reset, the sum of its processes' peak resident sets.
    pub peak_bytes: u64,
}

/// Why the services a run needs are not there.
pub(in crate::run) enum Unavailable {
    /// Ctrl-C or SIGTERM came while one was getting ready.
    Interrupted,
    /// One could not start, exited, or never got ready: the message says which and why.
    Failed(String),
}

/// One started service.
struct Instance {
    pid: pid_t,
    cgroup: Option<RunCgroup>,
    /// Its cgroup's peak memory, reset before each run, where the kernel allows that.
    peak: Option<PeakMeter>,
    log: PathBuf,
    /// Where the copy of its `files` is kept, when it has any: see [`files_kept`].
    files: Option<PathBuf>,
    /// The cell it was started for.
    cell: usize,
}

impl Instance {
    /// Its processes: those of its cgroup, or where it has none, those of its process group. Read around
    /// every run, so the cgroup's list is worth having: the group's is a walk through all of `/proc`.
    fn processes(&self) -> Vec<pid_t> {
        match self.cgroup.as_ref().map(RunCgroup::processes) {
            Some(pids) if !pids.is_empty() => pids,
            _ => tree(self.pid),
        }
    }

    /// The CPU time it has spent, in nanoseconds: its cgroup's counter, or where it has none, the sum over
    /// `processes` (its processes now) of their `/proc` times, to the clock tick.
    fn cpu_nanos(&self, processes: &[pid_t]) -> u64 {
        self.cgroup.as_ref().and_then(RunCgroup::cpu_nanos).unwrap_or_else(|| {
            let per_second = sys::clock_ticks();
            processes.iter().map(|&p| cpu_nanos(p, per_second)).sum()
        })
    }
}

/// The services of one experiment, each started at most once at a time.
pub(in crate::run) struct Managed {
    services: Vec<Service>,
    running: Vec<Option<Instance>>,
    /// How many times each was started: numbers the logs of scopes `cell` and `run`.
    starts: Vec<u32>,
    logs: PathBuf,
    /// Where each start's own folder is made (`${dir}`).
    dirs: PathBuf,
    /// Has the services' process groups killed if the harness dies without stopping them.
    guards: std::sync::Arc<Guards>,
}

/// Each service's process-tree counters before a run.
pub(in crate::run) struct Before {
    /// Each needed service and the CPU time of its processes, in nanoseconds.
    nanos: Vec<(usize, u64)>,
}

impl Managed {
    /// The experiment's services, none started; their logs go to `logs` until [`Managed::log_to`], their
    /// folders into `dirs`.
    pub(in crate::run) fn new(
        experiment: &Experiment,
        logs: PathBuf,
        dirs: PathBuf,
        guards: std::sync::Arc<Guards>,
    ) -> Self {
        let count = experiment.services.len();
        Self {
            services: experiment.services.clone(),
            running: (0..count).map(|_| None).collect(),
            starts: vec![0; count],
            logs,
            dirs,
            guards,
        }
    }

    /// Where the services' logs go: the result folder's `logs/services`.
    pub(in crate::run) fn log_to(&mut self, logs: PathBuf) {
        self.logs = logs;
    }

    /// Makes ready the services that a run of cell `cell` needs (`needed`, in the order they start):
    /// stops those of scope `cell` started for another cell, starts what is not running, and resets the
    /// counters that [`Managed::after_run`] reads.
    pub(in crate::run) fn before_run(
        &mut self,
        cell: usize,
        needed: &[usize],
        accounting: &Accounting,
    ) -> Result<Before, Unavailable> {
        for i in 0..self.services.len() {
            let stale =
                self.running[i].as_ref().is_some_and(|r| self.services[i].scope == Scope::Cell && r.cell != cell);
            if stale {
                self.stop(i);
            }
        }
        for &i in needed {
            if let Some(message) = self.exited(i) {
                return Err(Unavailable::Failed(message));
            }
            if self.running[i].is_none() {
                self.start(i, cell, accounting)?;
            }
        }
        let mut nanos = Vec::with_capacity(needed.len());
        for &i in needed {
            let Some(instance) = &mut self.running[i] else { continue };
            let pids = instance.processes();
            // Resets the peak (of the cgroup, or each process's peak resident set, VmHWM), so that the peak
            // read after the run is the run's.
            if !instance.peak.as_mut().is_some_and(PeakMeter::reset) {
                instance.peak = None;
                for &pid in &pids {
                    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
                }
            }
            nanos.push((i, instance.cpu_nanos(&pids)));
        }
        Ok(Before { nanos })
    }

    /// What each needed service spent since [`Managed::before_run`], and the message of one that exited
    /// meanwhile; then stops the services of scope `run`.
    pub(in crate::run) fn after_run(&mut self, before: &Before) -> (Vec<ServiceUsage>, Option<String>) {
        let mut usage = Vec::with_capacity(before.nanos.len());
        let mut failure = None;
        for &(i, nanos) in &before.nanos {
            if let Some(message) = self.exited(i) {
                failure.get_or_insert(message);
                continue;
            }
            let Some(instance) = &mut self.running[i] else { continue };
            let pids = instance.processes();
            let now = instance.cpu_nanos(&pids);
            let peak_bytes = match instance.peak.as_mut().and_then(PeakMeter::read) {
                Some(peak) => peak,
                None => pids.iter().map(|&p| peak_resident(p)).sum(),
            };
            usage.push(ServiceUsage {
                name: self.services[i].name.clone(),
                cpu_s: now.saturating_sub(nanos) as f64 / 1e9,
                peak_bytes,
            });
        }
        for i in 0..self.services.len() {
            if self.services[i].scope == Scope::Run {
                self.stop(i);
            }
        }
        (usage, failure)
    }

    fn start(&mut self, i: usize, cell: usize, accounting: &Accounting) -> Result<(), Unavailable> {
        let service = self.services[i].clone();
        self.starts[i] += 1;
        let stem = match service.scope {
            Scope::Experiment => service.name.clone(),
            Scope::Cell | Scope::Run => format!("{}-{}", service.name, self.starts[i]),
        };
        let log = self.logs.join(format!("{stem}.log"));
        let failed = |what: String| Unavailable::Failed(format!("cannot start service `{}`: {what}", service.name));
        std::fs::create_dir_all(&self.logs).map_err(|e| failed(format!("{}: {e}", self.logs.display())))?;
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| failed(format!("{}: {e}", log.display())))?;
        let cgroup = accounting
            .create_service(format_args!("{}{}-{}", super::super::reap::SERVICE_CGROUP, service.name, self.starts[i]))
            .map_err(|e| failed(format!("cannot make its cgroup: {e}")))?;
        let dir = self.dirs.join(&stem);
        write_files(&service, &dir, &dir).map_err(failed)?;
        let files = (!service.files.is_empty()).then(|| self.logs.join(format!("{stem}.files")));
        // The copy is for the user to read; a service runs without it, and a copy cut short (a full disk)
        // is not left to mislead.
        let files = files.filter(|kept| {
            let written = write_files(&service, &dir, kept).is_ok();
            if !written {
                let _ = std::fs::remove_dir_all(kept);
            }
            written
        });
        let mut command = Command::new(place(&service.command.program, &dir));
        command
            .args(service.command.args.iter().map(|a| place(a, &dir)))
            .envs(service.command.env.iter().map(|(k, v)| (k, place(v, &dir))))
            .current_dir(&service.command.cwd)
            .stdin(Stdio::null())
            .stdout(output.try_clone().map_err(|e| failed(e.to_string()))?)
            .stderr(output);
        let procs = cgroup.as_ref().map(RunCgroup::procs_paths).unwrap_or_default();
        sys::isolate_child(&mut command, ChildSetup { cgroup_procs: procs, data_limit: None });
        let child = command.spawn().map_err(|e| failed(format!("`{}`: {e}", service.command.program)))?;
        let pid = child.id() as pid_t;
        // Reaped below or in `stop`, not through std.
        drop(child);
        spare(pid);
        // The processes the service starts die with the harness too, whatever kills it.
        self.guards.guard(pid);
        let peak = cgroup.as_ref().and_then(RunCgroup::peak_meter);
        let kept = files_kept(files.as_deref());
        self.running[i] = Some(Instance { pid, cgroup, peak, log: log.clone(), files, cell });
        let deadline = Instant::now() + service.ready_timeout;
        let mut watch = Watch::new(&log);
        loop {
            if let Some(message) = self.exited(i) {
                return Err(Unavailable::Failed(message.replacen(DURING, "before it was ready", 1)));
            }
            if watch.ready(&service.ready, &|| tree(pid)) {
                return Ok(());
            }
            if interrupted().is_some() {
                self.stop(i);
                return Err(Unavailable::Interrupted);
            }
            if Instant::now() >= deadline {
                let squatter = watch.squatter.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
                let message = format!(
                    "service `{}` was not ready after {}: its probe {} did not succeed{squatter}; its log is {}{}{kept}",
                    service.name,
                    format_duration(service.ready_timeout),
                    service.ready,
                    log.display(),
                    tail(&log)
                );
                self.stop(i);
                return Err(Unavailable::Failed(message));
            }
            std::thread::sleep(POLL);
        }
    }

    /// When service `i` was started and has exited since: reaps it and says how it ended.
    fn exited(&mut self, i: usize) -> Option<String> {
        let instance = self.running[i].as_ref()?;
        if !sys::has_exited(instance.pid).unwrap_or(true) {
            return None;
        }
        let instance = self.running[i].take().expect("running");
        let status = sys::wait4(instance.pid).map(|(status, _)| status);
        let how = status.as_ref().map_or_else(|e| format!("ended ({e})"), |status| describe_exit(*status));
        // A server that puts itself in the background exits 0 at once: the harness would lose track of it.
        let daemon = if status.is_ok_and(|s| s.success()) {
            "; a service must stay in the foreground: run it with its option for that (nginx `-g 'daemon off;'`, \
             `redis-server --daemonize no`)"
        } else {
            ""
        };
        let message = format!(
            "service `{}` {how} {DURING}{daemon}; its log is {}{}{}",
            self.services[i].name,
            instance.log.display(),
            tail(&instance.log),
            files_kept(instance.files.as_deref())
        );
        self.finish(instance);
        Some(message)
    }

    /// Stops service `i` if it runs: SIGTERM to its process group, SIGKILL after the grace period.
    fn stop(&mut self, i: usize) {
        let Some(instance) = self.running[i].take() else { return };
        let _ = sys::kill(-instance.pid, libc::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while !sys::has_exited(instance.pid).unwrap_or(true) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let _ = sys::kill(-instance.pid, libc::SIGKILL);
        sys::reap(instance.pid);
        self.finish(instance);
    }

    /// Kills what is left of a service that ended or was stopped ([`finish`]); the watchdog forgets its
    /// group.
    fn finish(&mut self, instance: Instance) {
        let pid = instance.pid;
        finish(instance);
        self.guards.release(pid);
    }

    /// Stops every service, in the reverse order of the file.
    pub(in crate::run) fn stop_all(&mut self) {
        for i in (0..self.services.len()).rev() {
            self.stop(i);
        }
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Makes `into` and writes `service`'s `files` there, as given to the start whose folder is `dir` (`${dir}`
/// in them is `dir`): into `dir` itself for the service, and into the log folder for the user.
fn write_files(service: &Service, dir: &Path, into: &Path) -> Result<(), String> {
    std::fs::create_dir_all(into).map_err(|e| format!("{}: {e}", into.display()))?;
    for file in &service.files {
        // The name is relative and has no `..` (checked with the file): the path stays inside `into`.
        let path = into.join(&file.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, place(&file.content, dir)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// What an error about a service adds when it was given `files`: where the copy of them is, since the paths
/// in the service's own messages are in the scratch folder, removed at the end.
fn files_kept(kept: Option<&Path>) -> String {
    kept.map(|kept| {
        format!(
            "; the files it was given are kept in {} (it read them from the scratch folder, removed at the end)",
            kept.display()
        )
    })
    .unwrap_or_default()
}

/// After a service's leader was reaped: kills what is left of its group and cgroup.
fn finish(instance: Instance) {
    let _ = sys::kill(-instance.pid, libc::SIGKILL);
    unspare(instance.pid);
    match instance.cgroup {
        Some(cgroup) => {
            if let Err(e) = cgroup.remove(reap_orphans) {
                crate::console::errln!(
                    "warning: cannot remove the cgroup of a service, a process of it may be stuck: {e}"
                );
            }
        }
        None => reap_orphans(),
    }
}

/// The processes of the group `leader` leads: its descendants in the group, and those of the harness's
/// children (orphans of the service it adopted as their subreaper); or, where the kernel lists no
/// children, every process of `/proc` in the group.
fn tree(leader: pid_t) -> Vec<pid_t> {
    let in_group = |pid: pid_t| stat_fields(pid).get(2).and_then(|g| g.parse::<pid_t>().ok()) == Some(leader);
    let listed = |pid: &str| children_of(pid);
    let Some(adopted) = listed("self") else { return scan(leader, &in_group) };
    let mut found = Vec::new();
    let mut todo: Vec<pid_t> = std::iter::once(leader).chain(adopted.into_iter().filter(|&p| p != leader)).collect();
    // A process appears once: the children files form a tree.
    while let Some(pid) = todo.pop() {
        if !in_group(pid) {
            continue;
        }
        found.push(pid);
        match listed(&pid.to_string()) {
            Some(children) => todo.extend(children),
            None => return scan(leader, &in_group),
        }
    }
    found
}

/// Every process of `/proc` in the group of `leader`.
fn scan(leader: pid_t, in_group: &dyn Fn(pid_t) -> bool) -> Vec<pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![leader] };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<pid_t>().ok())
        .filter(|&pid| in_group(pid))
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name: the state is the first.
fn stat_fields(pid: pid_t) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces and parentheses; the fields after its last `)` do not.
    stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
}

/// The CPU time of a process in nanoseconds: user and system time of all its threads, those that exited
/// included, and of the children it reaped (`utime`, `stime`, `cutime`, `cstime`: to the clock tick).
fn cpu_nanos(pid: pid_t, ticks_per_second: u64) -> u64 {
    let fields = stat_fields(pid);
    // Fields 14 to 17 of stat(5), 11 to 14 after the command name.
    let ticks: u64 = (11..=14).filter_map(|i| fields.get(i)?.parse::<u64>().ok()).sum();
    ticks * 1_000_000_000 / ticks_per_second.max(1)
}

/// The peak resident set of a process since its last reset (`VmHWM`), in bytes.
fn peak_resident(pid: pid_t) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_counters() {
        let me = std::process::id() as pid_t;
        assert!(peak_resident(me) > 0);
        let before = cpu_nanos(me, 100);
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(100) {
            std::hint::black_box(0);
        }
        assert!(cpu_nanos(me, 100) > before, "spinning costs CPU time");
        // The group of the test process is led by someone; its own stat parses whatever the group.
        assert!(stat_fields(me).len() > 14);
    }

    #[test]
    fn a_group_is_found_by_its_descendants_as_by_a_walk_through_proc() {
        use std::os::unix::process::CommandExt as _;
        let mut child =
            Command::new("sh").args(["-c", "sleep 30 & sleep 30 & exec sleep 30"]).process_group(0).spawn().unwrap();
        let leader = child.id() as pid_t;
        let in_group = |pid: pid_t| stat_fields(pid).get(2).and_then(|g| g.parse::<pid_t>().ok()) == Some(leader);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Until the shell has started both and become the third.
        while scan(leader, &in_group).len() < 3 && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let (mut found, mut walked) = (tree(leader), scan(leader, &in_group));
        let _ = sys::kill(-leader, libc::SIGKILL);
        let _ = child.wait();
        found.sort_unstable();
        walked.sort_unstable();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found, walked);
    }
}
