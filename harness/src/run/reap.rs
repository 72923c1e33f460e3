//! Nothing a run starts outlives it: killing a run's process group, and killing and reaping the processes
//! of a run that outlived their parent and were reparented to the harness, its child subreaper.
//!
//! A harness killed with `kill -9` cannot do any of that, and without a cgroup a process its run detached
//! (`setsid`) would live on. So each run leaves a trail in the experiment's scratch folder: the run's child
//! is recorded there (pid and start time, from `/proc/PID/stat`), and every process of the run inherits
//! [`SCRATCH_VAR`] naming the folder. The next harness that finds the folder abandoned kills both
//! ([`kill_left_behind`]) before it removes the folder.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use crate::sys::{self, pid_t};

/// In the environment of every process of a run: the scratch folder of the harness that started it.
pub(super) const SCRATCH_VAR: &str = "HARNESS_SCRATCH";
/// In the scratch folder: one line per run's child, `PID START_TIME`.
const STARTED: &str = "started";

/// When process `pid` started, in clock ticks after boot (field 22 of `/proc/PID/stat`): with the pid, it
/// names one process, whatever pids are reused later.
pub(super) fn start_time(pid: pid_t) -> Option<u64> {
    let stat = sys::read_small(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields after its last `)` do not. The first of
    // them is field 3.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Records that the run's child `pid` was started, at `started` ([`start_time`], read now when `None`), in
/// the scratch folder `scratch`.
pub(super) fn record_started(scratch: &Path, pid: pid_t, started: Option<u64>) {
    /// The trail file, open, and the folder it is in.
    static TRAIL: Mutex<Option<(std::path::PathBuf, std::fs::File)>> = Mutex::new(None);
    let Some(started) = started.or_else(|| start_time(pid)) else { return };
    let mut trail = TRAIL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if trail.as_ref().is_none_or(|(folder, _)| folder != scratch) {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(scratch.join(STARTED));
        // Best effort: what is not recorded is still found by its environment.
        let Ok(file) = file else { return };
        *trail = Some((scratch.to_owned(), file));
    }
    if let Some((_, file)) = trail.as_mut() {
        let _ = file.write_all(format!("{pid} {started}\n").as_bytes());
    }
}

/// Kills what the runs of the harness that owned the abandoned scratch folder `scratch` left behind: the
/// recorded children still alive (the same pid and start time) with their process groups, and every
/// process whose environment names the folder.
pub(super) fn kill_left_behind(scratch: &Path) {
    let recorded = std::fs::read_to_string(scratch.join(STARTED)).unwrap_or_default();
    for line in recorded.lines() {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(pid)), Some(Ok(started))) = (fields.next(), fields.next()) else { continue };
        let pid = pid as pid_t;
        if pid > 1 && start_time(pid) == Some(started) {
            let _ = sys::kill(-pid, libc::SIGKILL);
            let _ = sys::kill(pid, libc::SIGKILL);
        }
    }
    let mut needle = format!("{SCRATCH_VAR}=").into_bytes();
    needle.extend_from_slice(scratch.as_os_str().as_encoded_bytes());
    for pid in sys::pids_with_env(&needle) {
        let _ = sys::kill(pid, libc::SIGKILL);
    }
}

/// The processes [`reap_orphans`] leaves alone: the experiment's services, children of the harness that
/// outlive runs on purpose.
static SPARED: Mutex<Vec<pid_t>> = Mutex::new(Vec::new());

/// Keeps [`reap_orphans`] off `pid` until [`unspare`].
pub(super) fn spare(pid: pid_t) {
    SPARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(pid);
}

/// Lets [`reap_orphans`] take `pid` again.
pub(super) fn unspare(pid: pid_t) {
    SPARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|&p| p != pid);
}

/// Kills the process group of a run's child (the group it made with `setpgid`). Gone already is fine.
pub(super) fn kill_group(pid: pid_t) {
    let _ = sys::kill(-pid, libc::SIGKILL);
}

/// Makes the harness the reaper of every process its runs leave behind: a run's process that outlives its
/// parent (one that left the run's process group, say) becomes a child of the harness instead of init,
/// where [`reap_orphans`] finds it.
pub(super) fn become_subreaper() {
    sys::set_child_subreaper();
}

/// Kills and reaps every child of the harness but the services. Called between runs, when the run's own
/// child has been reaped: anything left is a process of that run that outlived its parent.
pub(super) fn reap_orphans() {
    loop {
        let mut children = children_of_this_process();
        let spared = SPARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        children.retain(|pid| !spared.contains(pid) && !belongs_to_service(*pid, &spared));
        if children.is_empty() {
            return;
        }
        for pid in children {
            let _ = sys::kill(pid, libc::SIGKILL);
            sys::reap(pid);
        }
    }
}

/// Whether the harness's child `pid` is a process of a running service, which belongs to the service until
/// it is stopped: in the process group of a spared leader (a helper the service forked twice), or in a
/// service's cgroup (one that also left the group, with `setsid`). A run's orphans are in neither.
fn belongs_to_service(pid: pid_t, leaders: &[pid_t]) -> bool {
    if leaders.is_empty() {
        return false;
    }
    // The process group: the fifth field of `stat`, the third after the command in parentheses.
    let stat = sys::read_small(format!("/proc/{pid}/stat")).unwrap_or_default();
    let group = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<pid_t>().ok());
    if group.is_some_and(|g| leaders.contains(&g)) {
        return true;
    }
    // This harness's cgroups are named `harness-PID-LABEL`; a service's label begins with `service-`.
    let service = format!("{}{}-{SERVICE_CGROUP}", super::cgroup::PREFIX, std::process::id());
    sys::read_small(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|c| c.lines().any(|l| l.rsplit('/').next().is_some_and(|leaf| leaf.starts_with(&service))))
}

/// How the name of a service's cgroup begins.
pub(super) const SERVICE_CGROUP: &str = "service-";

fn children_of_this_process() -> Vec<pid_t> {
    // An orphan goes to the harness's first thread that is alive, its main thread (the kernel's
    // `find_alive_thread`), which also starts every process the harness starts: its `children` file is
    // the one to read, not every thread's.
    let me = std::process::id();
    match sys::read_small(format!("/proc/self/task/{me}/children")) {
        Ok(text) => pids_in(&text),
        // The main thread ended (it never does before the harness), or a kernel without
        // CONFIG_PROC_CHILDREN: look at every thread, or find them by their parent.
        Err(_) => children_of("self").unwrap_or_else(|| children_by_scan(&me.to_string())),
    }
}

/// The pids in a `children` file: numbers separated by spaces.
fn pids_in(text: &str) -> Vec<pid_t> {
    text.split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

/// The children of process `pid` (a number, or `self`), from its threads' `children` files; `None` where
/// the kernel has none (without `CONFIG_PROC_CHILDREN`) and the process exists.
pub(super) fn children_of(pid: &str) -> Option<Vec<pid_t>> {
    let mut children = Vec::new();
    // A process that is gone has no children.
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Some(children) };
    for thread in threads.flatten() {
        match sys::read_small(thread.path().join("children")) {
            Ok(text) => children.extend(pids_in(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && thread.path().exists() => return None,
            // The thread ended meanwhile.
            Err(_) => {}
        }
    }
    Some(children)
}

fn children_by_scan(me: &str) -> Vec<pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<pid_t>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The command name may hold spaces and parentheses; the fields after its last `)` do not.
            let fields = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
            fields.split_whitespace().nth(1) == Some(me)
        })
        .collect()
}
