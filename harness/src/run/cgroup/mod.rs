//! A control group per run: the peak memory of the run's whole process tree, the memory limit, and a way
//! to kill every process a run started, including one that left the run's process group.
//!
//! Where run cgroups are made is decided once per experiment ([`Accounting::detect`]):
//!
//! 1. `HARNESS_CGROUP=off` uses no cgroup; `HARNESS_CGROUP=DIR` makes them under `DIR`, a cgroup of either
//!    version that the harness may write (for v2, its memory controller must be enabled or enableable for
//!    its children, which needs `DIR` to hold no process).
//! 2. cgroup v2: under the harness's own cgroup, when its children can have the memory controller.
//! 3. cgroup v1: under the harness's own cgroup of the memory hierarchy.
//! 4. Otherwise none: peak memory is `wait4`'s `ru_maxrss` and the limit is `RLIMIT_DATA` (see `child.rs`).
//!
//! A run's cgroup holds no process of another run, but may have served an earlier one: once a run is over
//! and nothing of it is left, its cgroup is used again when the earlier runs left at most 1 MiB charged to
//! it and its peak could be reset ([`RunCgroup::recycle`]), which saves a `mkdir` and an `rmdir` (and the
//! kernel's deferred freeing) per run; else it is removed and a new one made ([`Keeper`]).
//!
//! v1 and v2 differ only in file names, kept in [`Files`]. A run's child joins its cgroup between `fork` and
//! `exec` (see [`RunCgroup::procs_paths`]), so no code of the run ever executes outside it.
//!
//! Where the pids controller is available (in the same cgroup with v2, in the pids hierarchy beside the
//! memory one with v1), a run also gets a limit of [`PIDS_LIMIT`] processes and threads, so that a run
//! that forks without end fails its own run instead of the machine.
//!
//! A service's cgroup also counts its CPU time to the microsecond or nanosecond ([`RunCgroup::cpu_nanos`]):
//! `cpu.stat`'s `usage_usec` with v2 (in every cgroup, no controller needed), `cpuacct.usage` of a cgroup
//! of its own in the cpuacct hierarchy beside the memory one with v1. A run's own CPU time comes from
//! `wait4`, so runs get no such cgroup.
//!
//! One file per job: `detect.rs` finds where run cgroups go ([`Accounting`]); `group.rs` is one cgroup
//! ([`RunCgroup`]); `keeper.rs` the thread that makes and recycles them ([`Keeper`]); `meter.rs` the
//! services' meters, CPU time and peak memory ([`PeakMeter`]).

mod detect;
mod group;
mod keeper;
mod meter;

use std::path::PathBuf;

pub(crate) use detect::Accounting;
pub(crate) use group::RunCgroup;
pub(crate) use keeper::Keeper;
pub(crate) use meter::PeakMeter;

/// How a run's peak memory was measured; a column of `runs.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Method {
    /// `memory.peak` of a cgroup v2 holding the run's processes.
    Cgroup2,
    /// `memory.max_usage_in_bytes` of a cgroup v1 holding the run's processes.
    Cgroup1,
    /// `ru_maxrss` from `wait4`: the largest single process, not the tree.
    Rusage,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Cgroup2 => "cgroup2",
            Method::Cgroup1 => "cgroup1",
            Method::Rusage => "rusage",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The files that differ between the versions.
struct Files {
    limit: &'static str,
    /// Set too, so that a run at its limit is killed rather than swapped out.
    swap_limit: &'static str,
    peak: &'static str,
    /// The memory in use now.
    usage: &'static str,
    /// A flat-keyed file with an `oom_kill` count.
    events: &'static str,
}

impl Version {
    fn files(self) -> Files {
        match self {
            Version::V2 => Files {
                limit: "memory.max",
                swap_limit: "memory.swap.max",
                peak: "memory.peak",
                usage: "memory.current",
                events: "memory.events",
            },
            Version::V1 => Files {
                limit: "memory.limit_in_bytes",
                swap_limit: "memory.memsw.limit_in_bytes",
                peak: "memory.max_usage_in_bytes",
                usage: "memory.usage_in_bytes",
                events: "memory.oom_control",
            },
        }
    }

    fn method(self) -> Method {
        match self {
            Version::V1 => Method::Cgroup1,
            Version::V2 => Method::Cgroup2,
        }
    }
}

/// The most processes and threads (together) one run may have at once, where a pids controller is there.
pub(crate) const PIDS_LIMIT: u64 = 32_768;

/// Where the pids limit of a run goes, or the CPU counter of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pids {
    /// No such controller: no limit, no counter.
    None,
    /// In the run's own cgroup (v2, or a v1 hierarchy that has both controllers).
    Same,
    /// In a cgroup of its own under this folder of the v1 hierarchy of that controller.
    V1(PathBuf),
}

pub(in crate::run) const PREFIX: &str = "harness-";

/// The value of `key` in a flat-keyed cgroup file ("key value" per line).
fn flat_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files_are_read() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(flat_key(v1, "oom_kill"), Some(2));
        assert_eq!(flat_key(v2, "oom_kill"), Some(1));
        assert_eq!(flat_key(v2, "absent"), None);
    }
}
