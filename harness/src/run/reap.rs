//! Nothing a run starts outlives it: killing a run's process group, and killing and reaping the processes
//! of a run that outlived their parent and were reparented to the harness, its child subreaper.

use std::sync::Mutex;

use super::sys::{self, pid_t};

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
        children.retain(|pid| !spared.contains(pid));
        if children.is_empty() {
            return;
        }
        for pid in children {
            let _ = sys::kill(pid, libc::SIGKILL);
            sys::reap(pid);
        }
    }
}

fn children_of_this_process() -> Vec<pid_t> {
    let parse = |text: &str| text.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<pid_t>>();
    let mut children = Vec::new();
    if let Ok(threads) = std::fs::read_dir("/proc/self/task") {
        for thread in threads.flatten() {
            match std::fs::read_to_string(thread.path().join("children")) {
                Ok(text) => children.extend(parse(&text)),
                // Kernels without CONFIG_PROC_CHILDREN: find them by their parent.
                Err(_) => return children_by_scan(),
            }
        }
    }
    children
}

fn children_by_scan() -> Vec<pid_t> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<pid_t>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The command name may hold spaces and parentheses; the fields after its last `)` do not.
            let fields = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
            fields.split_whitespace().nth(1) == Some(me.as_str())
        })
        .collect()
}
