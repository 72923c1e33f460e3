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

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sys::{self, pid_t};

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

/// How a service's CPU time is measured; `cpu_method` of the services of `environment.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuMethod {
    /// `usage_usec` of the `cpu.stat` of the service's cgroup v2.
    Cgroup2,
    /// `cpuacct.usage` of the service's cgroup of the v1 cpuacct hierarchy.
    Cgroup1,
    /// The user and system time of its processes in `/proc/PID/stat`, to the clock tick.
    Proc,
}

impl CpuMethod {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CpuMethod::Cgroup2 => "cgroup2",
            CpuMethod::Cgroup1 => "cgroup1",
            CpuMethod::Proc => "proc",
        }
    }
}

/// Where this experiment's run cgroups go, if anywhere.
#[derive(Debug, Clone)]
pub(crate) struct Accounting {
    parent: Option<(Version, PathBuf)>,
    pids: Pids,
    /// Where a service's CPU counter is.
    cpu: Pids,
    /// The `cgroup.procs` of the pids cgroup that runs share, where the pids limit has a v1 hierarchy of
    /// its own (see [`Keeper`]).
    shared_pids: Option<CString>,
    /// Why no cgroup is used, when none is.
    note: String,
}

impl Accounting {
    /// Finds where run cgroups can be made; see the module documentation for the order.
    pub(crate) fn detect() -> Self {
        let found = match std::env::var_os("HARNESS_CGROUP") {
            Some(value) if value == "off" => Err("HARNESS_CGROUP=off".to_owned()),
            Some(value) if !value.is_empty() => {
                let dir = PathBuf::from(value);
                version_of(&dir)
                    .and_then(|version| usable(version, &dir).map(|()| (version, dir.clone())))
                    .map_err(|e| format!("HARNESS_CGROUP={}: {e}", dir.display()))
            }
            _ => own_cgroups(),
        };
        match found {
            Ok((version, dir)) => {
                remove_stale(&dir);
                let pids = pids_controller(version, &dir);
                if let Pids::V1(pids_dir) = &pids {
                    remove_stale(pids_dir);
                }
                let cpu = cpu_counter(version, &dir);
                if let Pids::V1(cpu_dir) = &cpu {
                    remove_stale(cpu_dir);
                }
                Self { parent: Some((version, dir)), pids, cpu, shared_pids: None, note: String::new() }
            }
            Err(note) => Self { parent: None, pids: Pids::None, cpu: Pids::None, shared_pids: None, note },
        }
    }

    pub(crate) fn method(&self) -> Method {
        self.parent.as_ref().map_or(Method::Rusage, |(v, _)| v.method())
    }

    /// How the CPU time of a service is measured.
    pub(crate) fn service_cpu(&self) -> CpuMethod {
        match (&self.parent, &self.cpu) {
            (_, Pids::None) | (None, _) => CpuMethod::Proc,
            (Some((Version::V2, _)), _) => CpuMethod::Cgroup2,
            (Some((Version::V1, _)), _) => CpuMethod::Cgroup1,
        }
    }

    /// For `environment.json`.
    pub(crate) fn describe(&self) -> serde_json::Value {
        match &self.parent {
            Some((_, dir)) => serde_json::json!({
                "method": self.method(),
                "parent_cgroup": dir,
                "pids_limit": (self.pids != Pids::None).then_some(PIDS_LIMIT),
            }),
            None => serde_json::json!({ "method": self.method(), "why_not_cgroup": self.note }),
        }
    }

    /// Makes the cgroup of run number `label` (or of the service it names), with `limit` applied; `None`
    /// without cgroups.
    pub(crate) fn create(&self, label: impl std::fmt::Display, limit: Option<u64>) -> io::Result<Option<RunCgroup>> {
        let Some((version, parent)) = &self.parent else { return Ok(None) };
        let name = format!("{}{}-{label}", PREFIX, std::process::id());
        let mut cgroup = RunCgroup::create(*version, parent.join(&name), limit)?;
        match &self.pids {
            Pids::None => {}
            Pids::Same => std::fs::write(cgroup.dir.join("pids.max"), PIDS_LIMIT.to_string())?,
            Pids::V1(_) if self.shared_pids.is_some() => cgroup.also_joins.clone_from(&self.shared_pids),
            Pids::V1(pids_parent) => {
                let pids = RunCgroup::create(Version::V1, pids_parent.join(&name), None)?;
                std::fs::write(pids.dir.join("pids.max"), PIDS_LIMIT.to_string())?;
                cgroup.pids = Some(Box::new(pids));
            }
        }
        Ok(Some(cgroup))
    }

    /// The cgroup of the v1 pids hierarchy that every run joins, made once; `None` where the pids limit is
    /// in the run's own cgroup, or there is none.
    fn create_shared_pids(&self) -> Option<RunCgroup> {
        let (Some(_), Pids::V1(pids_parent)) = (&self.parent, &self.pids) else { return None };
        let name = format!("{}{}-runs", PREFIX, std::process::id());
        let pids = RunCgroup::create(Version::V1, pids_parent.join(name), None).ok()?;
        std::fs::write(pids.dir.join("pids.max"), PIDS_LIMIT.to_string()).ok()?;
        Some(pids)
    }

    /// Makes the cgroup of a service, named by `label`: a run's, with no limit, that counts its CPU time
    /// too; `None` without cgroups.
    pub(crate) fn create_service(&self, label: impl std::fmt::Display) -> io::Result<Option<RunCgroup>> {
        let Some(mut cgroup) = self.create(label, None)? else { return Ok(None) };
        if let Pids::V1(cpu_parent) = &self.cpu {
            let name = cgroup.dir.file_name().expect("a cgroup's folder has a name").to_owned();
            cgroup.cpuacct = Some(Box::new(RunCgroup::create(Version::V1, cpu_parent.join(name), None)?));
        }
        Ok(Some(cgroup))
    }
}

/// Where a service's cgroup counts its CPU time, next to its cgroup of `version` under `dir`.
fn cpu_counter(version: Version, dir: &Path) -> Pids {
    let counts = |parent: &Path| {
        let probe = parent.join(format!("{PREFIX}{}-probe-cpu", std::process::id()));
        let made = RunCgroup::create(version, probe, None);
        made.is_ok_and(|cgroup| cgroup.cpu_nanos().is_some())
    };
    match version {
        Version::V2 if counts(dir) => Pids::Same,
        Version::V2 => Pids::None,
        Version::V1 => {
            let memberships = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            match own_v1_cgroup("cpuacct", &memberships, &mounts) {
                // The memory and cpuacct controllers in one hierarchy.
                Some(cpuacct) if cpuacct == dir && counts(dir) => Pids::Same,
                Some(cpuacct) if cpuacct != dir && counts(&cpuacct) => Pids::V1(cpuacct),
                _ => Pids::None,
            }
        }
    }
}

/// Where runs get their pids limit, next to their cgroups of `version` under `dir`.
fn pids_controller(version: Version, dir: &Path) -> Pids {
    let trial = |parent: &Path| {
        let probe = parent.join(format!("{PREFIX}{}-probe-pids", std::process::id()));
        let made = RunCgroup::create(Version::V1, probe, None);
        made.is_ok_and(|cgroup| cgroup.dir.join("pids.max").exists())
    };
    match version {
        Version::V2 => {
            let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            if !controllers.split_whitespace().any(|c| c == "pids") {
                return Pids::None;
            }
            let subtree = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
            if !subtree.split_whitespace().any(|c| c == "pids") {
                let _ = std::fs::write(dir.join("cgroup.subtree_control"), "+pids");
            }
            if trial(dir) { Pids::Same } else { Pids::None }
        }
        Version::V1 => {
            let memberships = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            match own_v1_cgroup("pids", &memberships, &mounts) {
                Some(pids) if trial(&pids) => Pids::V1(pids),
                _ => Pids::None,
            }
        }
    }
}

const PREFIX: &str = "harness-";

/// The version of the cgroup file system `dir` is on, for a cgroup named by `HARNESS_CGROUP`.
fn version_of(dir: &Path) -> Result<Version, String> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
    match sys::file_system_type(dir).map_err(|e| e.to_string())? {
        CGROUP2_SUPER_MAGIC => Ok(Version::V2),
        CGROUP_SUPER_MAGIC if dir.join("memory.limit_in_bytes").exists() => Ok(Version::V1),
        CGROUP_SUPER_MAGIC => Err("a cgroup v1 folder outside the memory hierarchy".to_owned()),
        _ => Err("not a cgroup folder".to_owned()),
    }
}

/// The harness's own cgroup, v2 first, when run cgroups can be made under it.
fn own_cgroups() -> Result<(Version, PathBuf), String> {
    let memberships = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut notes = Vec::new();
    for version in [Version::V2, Version::V1] {
        let name = version.method().as_str();
        match own_cgroup(version, &memberships, &mounts) {
            None => notes.push(format!("{name}: no memory controller mounted for this process")),
            Some(dir) => match usable(version, &dir) {
                Ok(()) => return Ok((version, dir)),
                Err(e) => notes.push(format!("{name}: {}: {e}", dir.display())),
            },
        }
    }
    Err(notes.join("; "))
}

/// The folder of this process's cgroup of `version` (the memory hierarchy for v1), from the text of
/// `/proc/self/cgroup` and `/proc/self/mountinfo`.
fn own_cgroup(version: Version, memberships: &str, mounts: &str) -> Option<PathBuf> {
    match version {
        Version::V2 => own_cgroup_of(None, memberships, mounts),
        Version::V1 => own_v1_cgroup("memory", memberships, mounts),
    }
}

/// The folder of this process's cgroup in the v1 hierarchy of `controller`.
fn own_v1_cgroup(controller: &str, memberships: &str, mounts: &str) -> Option<PathBuf> {
    own_cgroup_of(Some(controller), memberships, mounts)
}

/// The folder of this process's cgroup: of v2 when `controller` is `None`, else of the v1 hierarchy of
/// `controller`.
fn own_cgroup_of(controller: Option<&str>, memberships: &str, mounts: &str) -> Option<PathBuf> {
    let path = memberships.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let wanted = match controller {
            None => id == "0" && controllers.is_empty(),
            Some(wanted) => controllers.split(',').any(|c| c == wanted),
        };
        wanted.then_some(path)
    })?;
    mounts.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let (root, mount_point) = (*fields.get(3)?, *fields.get(4)?);
        let mut after = after.split(' ');
        let (fs_type, _source, options) = (after.next()?, after.next()?, after.next().unwrap_or_default());
        let wanted = match controller {
            None => fs_type == "cgroup2",
            Some(wanted) => fs_type == "cgroup" && options.split(',').any(|o| o == wanted),
        };
        if !wanted {
            return None;
        }
        // A mount of a subtree (in a container) shows the cgroup path relative to its root.
        let relative = path.strip_prefix(root).unwrap_or(path).trim_start_matches('/');
        Some(Path::new(&unescape(mount_point)).join(relative))
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal =
            bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let Some(digits) = octal {
            out.push(digits.iter().fold(0u8, |n, d| n.wrapping_mul(8) + (d - b'0')));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether run cgroups with a memory controller can be made under `dir`: tries one.
fn usable(version: Version, dir: &Path) -> Result<(), String> {
    if version == Version::V2 {
        let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).map_err(|e| e.to_string())?;
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err("the memory controller is not enabled for this cgroup".to_owned());
        }
        let subtree = std::fs::read_to_string(dir.join("cgroup.subtree_control")).map_err(|e| e.to_string())?;
        if !subtree.split_whitespace().any(|c| c == "memory") {
            std::fs::write(dir.join("cgroup.subtree_control"), "+memory")
                .map_err(|e| format!("cannot enable the memory controller for child cgroups: {e}"))?;
        }
    }
    let trial = dir.join(format!("{PREFIX}{}-probe", std::process::id()));
    let cgroup = RunCgroup::create(version, trial, None).map_err(|e| format!("cannot make a child cgroup: {e}"))?;
    if !cgroup.dir.join(version.files().peak).exists() {
        return Err(format!("a child cgroup has no {}", version.files().peak));
    }
    Ok(())
}

/// Removes run cgroups left by a harness that was killed (its pid is gone), with anything still in them.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|n| n.split('-').next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<pid_t>() else { continue };
        if sys::is_gone(pid) {
            let version = if entry.path().join("memory.peak").exists() { Version::V2 } else { Version::V1 };
            drop(RunCgroup::of(version, entry.path(), CString::default()));
        }
    }
}

/// The cgroup of one run at a time. Dropping it kills everything still in it and removes it.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    version: Version,
    dir: PathBuf,
    procs: CString,
    /// The run's cgroup of the v1 pids hierarchy, when the limit of processes is there.
    pids: Option<Box<RunCgroup>>,
    /// A service's cgroup of the v1 cpuacct hierarchy, where its CPU time is counted.
    cpuacct: Option<Box<RunCgroup>>,
    /// The files read after each run, opened when the cgroup was made.
    open: OpenFiles,
    /// The `cgroup.procs` of a cgroup the run's process joins too, which other runs share.
    also_joins: Option<CString>,
    removed: bool,
}

/// A cgroup's files that the harness reads after a run, kept open: opening one walks its whole path, which
/// costs more than reading it.
#[derive(Debug, Default)]
struct OpenFiles {
    /// Open for writing too where the kernel allows it: a write resets the peak (with cgroup v2 for the
    /// reads through this descriptor only), which a cgroup made ready for another run needs.
    peak: Option<std::fs::File>,
    usage: Option<std::fs::File>,
    events: Option<std::fs::File>,
    procs: Option<std::fs::File>,
}

/// What the cgroup file at `path` says now: read again from the start through `open` when the file is
/// open there, else opened and read.
fn read_now(open: Option<&std::fs::File>, path: impl FnOnce() -> PathBuf) -> Option<String> {
    use std::io::Seek as _;
    let Some(mut file) = open else { return sys::read_small(path()).ok() };
    file.seek(io::SeekFrom::Start(0)).ok()?;
    sys::read_rest(file).ok()
}

impl RunCgroup {
    /// The cgroup at `dir`, as it is: nothing of it open, no other cgroup with it.
    fn of(version: Version, dir: PathBuf, procs: CString) -> Self {
        Self {
            version,
            dir,
            procs,
            pids: None,
            cpuacct: None,
            open: OpenFiles::default(),
            also_joins: None,
            removed: false,
        }
    }

    fn create(version: Version, dir: PathBuf, limit: Option<u64>) -> io::Result<Self> {
        std::fs::create_dir(&dir)?;
        let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes()).map_err(io::Error::other)?;
        // From here on, Drop removes the folder if setting a limit fails.
        let mut cgroup = Self::of(version, dir, procs);
        let open = |name: &str| std::fs::File::open(cgroup.dir.join(name)).ok();
        let peak = cgroup.dir.join(version.files().peak);
        cgroup.open = OpenFiles {
            peak: std::fs::File::options()
                .read(true)
                .write(true)
                .open(&peak)
                .ok()
                .or_else(|| open(version.files().peak)),
            usage: open(version.files().usage),
            events: open(version.files().events),
            procs: open("cgroup.procs"),
        };
        if let Some(limit) = limit {
            let files = version.files();
            std::fs::write(cgroup.dir.join(files.limit), limit.to_string())?;
            let swap = match version {
                Version::V2 => "0".to_owned(),
                Version::V1 => limit.to_string(),
            };
            // Absent when swap is not accounted, and then there is nothing to forbid.
            let _ = std::fs::write(cgroup.dir.join(files.swap_limit), swap);
        }
        Ok(cgroup)
    }

    /// How a run's process isolates itself, in `cgroup` when it has one, else with the data limit `memory`.
    pub(in crate::run) fn setup_of_run(cgroup: Option<&RunCgroup>, memory: Option<u64>) -> crate::sys::ChildSetup {
        crate::sys::ChildSetup {
            cgroup_procs: cgroup.map(RunCgroup::procs_paths).unwrap_or_default(),
            data_limit: if cgroup.is_none() { memory } else { None },
        }
    }

    /// The `cgroup.procs` files: a child writes `0` to each between `fork` and `exec` to join the cgroup
    /// (and those of the pids and cpuacct hierarchies, with v1).
    pub(crate) fn procs_paths(&self) -> Vec<CString> {
        let others = [&self.pids, &self.cpuacct].into_iter().flatten().map(|c| c.procs.clone());
        std::iter::once(self.procs.clone()).chain(others).chain(self.also_joins.clone()).collect()
    }

    pub(crate) fn method(&self) -> Method {
        self.version.method()
    }

    /// A reader of the cgroup's peak memory over spans of time of the caller's choosing, for a service that
    /// outlives runs; `None` where the peak cannot be reset.
    pub(crate) fn peak_meter(&self) -> Option<PeakMeter> {
        let file = std::fs::File::options().read(true).write(true).open(self.dir.join(self.version.files().peak));
        let mut meter = PeakMeter(file.ok()?);
        meter.reset().then_some(meter)
    }

    /// The most memory the cgroup's processes used at once, page cache included.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        read_now(self.open.peak.as_ref(), || self.dir.join(self.version.files().peak))?.trim().parse().ok()
    }

    /// The CPU time (user and system) the cgroup's processes have spent, those that exited included, in
    /// nanoseconds; `None` where the cgroup counts none.
    pub(crate) fn cpu_nanos(&self) -> Option<u64> {
        let read = |file: &str| sys::read_small(self.dir.join(file)).ok();
        match (&self.cpuacct, self.version) {
            (Some(cpuacct), _) => cpuacct.cpu_nanos(),
            (None, Version::V2) => usage_nanos_v2(&read("cpu.stat")?),
            (None, Version::V1) => read("cpuacct.usage")?.trim().parse().ok(),
        }
    }

    /// How many processes the kernel's OOM killer ended in this cgroup.
    pub(crate) fn oom_kills(&self) -> u64 {
        let text =
            read_now(self.open.events.as_ref(), || self.dir.join(self.version.files().events)).unwrap_or_default();
        flat_key(&text, "oom_kill").unwrap_or(0)
    }

    /// Sends `SIGKILL` to every process in the cgroup, once.
    pub(crate) fn kill_all(&self) {
        if self.version == Version::V2 && std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for pid in self.pids() {
            // Gone already is fine.
            let _ = sys::kill(pid, libc::SIGKILL);
        }
    }

    /// The processes in the cgroup now.
    pub(crate) fn processes(&self) -> Vec<pid_t> {
        self.pids()
    }

    fn pids(&self) -> Vec<pid_t> {
        let text = read_now(self.open.procs.as_ref(), || self.dir.join("cgroup.procs")).unwrap_or_default();
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }

    /// Kills what is left, lets `reap` collect the dead, and removes the cgroup; gives up after a second.
    pub(crate) fn remove(mut self, reap: impl Fn()) -> io::Result<()> {
        self.remove_inner(&reap)
    }

    fn remove_inner(&mut self, reap: &dyn Fn()) -> io::Result<()> {
        self.removed = true;
        for mut other in [self.pids.take(), self.cpuacct.take()].into_iter().flatten() {
            other.remove_inner(reap)?;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            self.kill_all();
            reap();
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                // Busy while killed processes are still exiting.
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => return Err(e),
            }
        }
    }
}

impl RunCgroup {
    /// This cgroup, made ready for another run, or `None` when it cannot be (it is removed then): a run's
    /// cgroup is used again when nothing of the earlier run is in it any more, no process was killed for
    /// want of memory in it, what the earlier runs left charged to it (page cache, kernel objects, the
    /// kernel's per-CPU reserve of charges) is at most [`reuse_limit`], and its peak could be reset to
    /// that. The caller killed and reaped what was in it.
    fn recycle(self, limit: Option<u64>) -> Option<Self> {
        let ready = self.pids().is_empty()
            && self.pids.as_ref().is_none_or(|pids| pids.pids().is_empty())
            && self.oom_kills() == 0
            && self.usage_bytes().is_some_and(|usage| usage <= reuse_limit(limit))
            && self.reset_peak();
        if ready {
            return Some(self);
        }
        remove_or_warn(self);
        None
    }

    /// The memory charged to the cgroup now, in bytes.
    fn usage_bytes(&self) -> Option<u64> {
        read_now(self.open.usage.as_ref(), || self.dir.join(self.version.files().usage))?.trim().parse().ok()
    }

    /// Resets the peak that [`RunCgroup::peak_bytes`] reads to the memory in use now; `false` when the
    /// kernel refused, or the peak file is not open for writing.
    fn reset_peak(&self) -> bool {
        use std::io::Write as _;
        self.open.peak.as_ref().is_some_and(|mut file| file.write_all(b"0\n").is_ok())
    }
}

/// The most memory that earlier runs may leave charged to a cgroup that is used again: 1 MiB, and at most
/// 1/64 of the run's memory limit, so that what is left takes little of the limit.
fn reuse_limit(limit: Option<u64>) -> u64 {
    const MAX: u64 = 1 << 20;
    limit.map_or(MAX, |limit| MAX.min(limit / 64))
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove_inner(&|| {});
        }
    }
}

/// Makes, readies and removes the cgroups of runs on a thread of its own, off the path from one run to the
/// next: making and removing a cgroup costs the kernel about as much as a short run. Once a run is over,
/// its cgroup is made ready for another run ([`RunCgroup::recycle`]) or removed; a run takes a ready one
/// where there is one, else the one made ahead while the run before ran. The caller has killed what was in
/// a cgroup it hands back, and reaped it ([`RunCgroup::kill_all`], the orphans), so nothing of the run
/// executes any more: what is left is the folder, removed once the last killed process has exited.
/// Dropping the keeper waits until every cgroup it made or was given is removed.
#[derive(Debug)]
pub(crate) struct Keeper {
    accounting: Accounting,
    /// The memory limit of every run's cgroup.
    limit: Option<u64>,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    made: std::sync::mpsc::Receiver<io::Result<Option<RunCgroup>>>,
    /// Whether the next cgroup is being made ahead.
    ahead: bool,
    /// Cgroups of runs that are over, ready for another run.
    ready: std::sync::Arc<std::sync::Mutex<Vec<RunCgroup>>>,
    /// How many cgroups were taken.
    taken: usize,
    /// The pids cgroup that every run joins, where the pids limit has a v1 hierarchy of its own: one for
    /// all runs rather than one made and removed per run, since its count is back to 0 between runs.
    /// The fork servers join it when they start, so that their copies are born in it.
    shared_pids: Option<RunCgroup>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
enum Job {
    Make(usize),
    /// Make ready for another run, or remove.
    Recycle(RunCgroup),
}

impl Keeper {
    /// Starts the thread, for run cgroups with `limit`. Start it where the signals the runner waits for are
    /// blocked, so that they reach the runner's thread.
    pub(crate) fn start(accounting: &Accounting, limit: Option<u64>) -> Self {
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        let (made_sender, made) = std::sync::mpsc::channel();
        let shared_pids = accounting.create_shared_pids();
        let mut accounting = accounting.clone();
        accounting.shared_pids = shared_pids.as_ref().map(|c| c.procs.clone());
        let maker = accounting.clone();
        let ready = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let readied = std::sync::Arc::clone(&ready);
        let thread = std::thread::Builder::new().name("cgroup-keeper".to_owned()).spawn(move || {
            for job in receiver {
                match job {
                    Job::Make(index) => {
                        let _ = made_sender.send(maker.create(index, limit));
                    }
                    // No reaping here: the harness's children at this point are the next run's.
                    Job::Recycle(cgroup) => {
                        if let Some(cgroup) = cgroup.recycle(limit) {
                            lock(&readied).push(cgroup);
                        }
                    }
                }
            }
        });
        let (jobs, thread) = match thread {
            Ok(thread) => (Some(jobs), Some(thread)),
            // Without the thread, each cgroup is made and removed where it is asked for.
            Err(_) => (None, None),
        };
        Self { accounting, limit, jobs, made, ahead: false, ready, taken: 0, shared_pids, thread }
    }

    /// A cgroup for the next run (`None` without cgroups): one that an earlier run used, made ready again,
    /// where there is one, else a new one; and, when no other is ready, the one after it made ahead. The
    /// cgroups are numbered in the order they are made.
    pub(crate) fn take(&mut self) -> io::Result<Option<RunCgroup>> {
        // The lock is never held while waiting for the thread, which takes it to add a cgroup.
        let ready = self.ready().pop();
        let cgroup = match ready {
            Some(cgroup) => Ok(Some(cgroup)),
            None if std::mem::take(&mut self.ahead) => {
                self.made.recv().unwrap_or_else(|_| self.accounting.create(self.taken, self.limit))
            }
            None => {
                self.taken += 1;
                self.accounting.create(self.taken, self.limit)
            }
        };
        if !self.ahead && self.accounting.parent.is_some() && self.ready().is_empty() {
            if let Some(jobs) = &self.jobs {
                self.taken += 1;
                if jobs.send(Job::Make(self.taken)).is_ok() {
                    self.ahead = true;
                }
            }
        }
        cgroup
    }

    /// The cgroups ready for another run.
    fn ready(&self) -> std::sync::MutexGuard<'_, Vec<RunCgroup>> {
        lock(&self.ready)
    }

    /// The `cgroup.procs` of the cgroups every run joins besides its own (see [`Keeper::shared_pids`]).
    pub(crate) fn shared_procs(&self) -> Vec<CString> {
        self.shared_pids.iter().map(|c| c.procs.clone()).collect()
    }

    /// Makes the cgroup of a run that is over ready for another run, or removes it; the caller killed and
    /// reaped its processes.
    pub(crate) fn give_back(&self, cgroup: RunCgroup) {
        let cgroup = match &self.jobs {
            Some(jobs) => match jobs.send(Job::Recycle(cgroup)) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(Job::Recycle(cgroup))) => cgroup,
                Err(_) => unreachable!("a cgroup to recycle was sent"),
            },
            None => cgroup,
        };
        if let Some(cgroup) = cgroup.recycle(self.limit) {
            self.ready().push(cgroup);
        }
    }
}

/// The list of cgroups ready for another run, locked; a panic while it was locked left it whole.
fn lock(ready: &std::sync::Mutex<Vec<RunCgroup>>) -> std::sync::MutexGuard<'_, Vec<RunCgroup>> {
    ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn remove_or_warn(cgroup: RunCgroup) {
    if let Err(e) = cgroup.remove(|| {}) {
        crate::console::errln!("warning: cannot remove the cgroup of a run, a process of it may be stuck: {e}");
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // The cgroup made ahead for a run that did not come.
        if std::mem::take(&mut self.ahead) {
            if let Ok(Ok(Some(cgroup))) = self.made.recv() {
                remove_or_warn(cgroup);
            }
        }
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let ready = std::mem::take(&mut *self.ready());
        ready.into_iter().for_each(remove_or_warn);
        if let Some(shared) = self.shared_pids.take() {
            remove_or_warn(shared);
        }
    }
}

/// The CPU time in `cpu.stat` of a cgroup v2, in nanoseconds.
fn usage_nanos_v2(text: &str) -> Option<u64> {
    flat_key(text, "usage_usec")?.checked_mul(1000)
}

/// The peak-memory file of a cgroup, open: a write resets the peak to the memory in use now (with cgroup v1
/// for every reader of `memory.max_usage_in_bytes`; with v2, since Linux 6.12, for the reads of
/// `memory.peak` through the same descriptor, which is why it stays open).
#[derive(Debug)]
pub(crate) struct PeakMeter(std::fs::File);

impl PeakMeter {
    /// Starts a new span: the peak read next is the most used from now on. `false` when the kernel refused.
    pub(crate) fn reset(&mut self) -> bool {
        use std::io::Write as _;
        self.0.write_all(b"0\n").is_ok()
    }

    /// The most memory used since the last [`PeakMeter::reset`], in bytes.
    pub(crate) fn read(&mut self) -> Option<u64> {
        use std::io::{Read as _, Seek as _};
        let mut text = String::new();
        self.0.seek(io::SeekFrom::Start(0)).ok()?;
        (&self.0).take(64).read_to_string(&mut text).ok()?;
        text.trim().parse().ok()
    }
}

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

    const MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn the_own_cgroup_of_each_version_is_found() {
        let memberships = "5:devices:/\n4:memory:/jobs/a1\n0::/user.slice/x.scope\n";
        assert_eq!(own_cgroup(Version::V1, memberships, MOUNTS), Some(PathBuf::from("/sys/fs/cgroup/memory/jobs/a1")));
        assert_eq!(
            own_cgroup(Version::V2, memberships, MOUNTS),
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice/x.scope"))
        );
        assert_eq!(own_cgroup(Version::V1, "0::/\n", MOUNTS), None);
    }

    #[test]
    fn a_subtree_mount_and_escaped_mount_points_are_handled() {
        let mounts = "50 40 0:40 /ctr /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(own_cgroup(Version::V2, "0::/ctr/run\n", mounts), Some(PathBuf::from("/sys/fs/my cgroup/run")));
    }

    #[test]
    fn flat_keyed_files_are_read() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(flat_key(v1, "oom_kill"), Some(2));
        assert_eq!(flat_key(v2, "oom_kill"), Some(1));
        assert_eq!(flat_key(v2, "absent"), None);
    }

    /// The file protocol of both versions on a plain folder standing in for a cgroup (a real v2 memory
    /// controller may not exist where the tests run): limits written, peak and OOM kills read back.
    #[test]
    fn limits_are_written_and_counters_read_in_each_version() {
        for version in [Version::V1, Version::V2] {
            let parent = tempfile::tempdir().unwrap();
            let dir = parent.path().join("run");
            let files = version.files();
            let cgroup = RunCgroup::create(version, dir.clone(), Some(64 << 20)).unwrap();
            assert_eq!(std::fs::read_to_string(dir.join(files.limit)).unwrap(), "67108864");
            let swap = std::fs::read_to_string(dir.join(files.swap_limit)).unwrap();
            assert_eq!(swap, if version == Version::V2 { "0" } else { "67108864" });
            std::fs::write(dir.join(files.peak), "12345\n").unwrap();
            std::fs::write(dir.join(files.events), "oom 1\noom_kill 3\n").unwrap();
            assert_eq!(cgroup.peak_bytes(), Some(12345));
            assert_eq!(cgroup.oom_kills(), 3);
            assert!(cgroup.procs_paths()[0].to_str().unwrap().ends_with("run/cgroup.procs"));
            // A plain folder with files in it cannot be removed like a cgroup; clean up by hand.
            std::mem::forget(cgroup);
        }
    }

    /// A service's CPU counter on plain folders standing in for cgroups: `cpu.stat` of v2 in microseconds,
    /// `cpuacct.usage` of v1 in nanoseconds, in the cgroup itself or in its cgroup of the cpuacct hierarchy.
    #[test]
    fn the_cpu_counter_of_each_version_is_read_in_nanoseconds() {
        let cpu_stat = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 0\n";
        assert_eq!(usage_nanos_v2(cpu_stat), Some(1_234_567_000));
        assert_eq!(usage_nanos_v2("user_usec 5\n"), None);
        let parent = tempfile::tempdir().unwrap();
        let v2 = RunCgroup::create(Version::V2, parent.path().join("v2"), None).unwrap();
        assert_eq!(v2.cpu_nanos(), None, "no counter, no figure");
        std::fs::write(v2.dir.join("cpu.stat"), cpu_stat).unwrap();
        assert_eq!(v2.cpu_nanos(), Some(1_234_567_000));
        let mut v1 = RunCgroup::create(Version::V1, parent.path().join("memory"), None).unwrap();
        assert_eq!(v1.cpu_nanos(), None);
        let cpuacct = RunCgroup::create(Version::V1, parent.path().join("cpuacct"), None).unwrap();
        std::fs::write(cpuacct.dir.join("cpuacct.usage"), "987654321\n").unwrap();
        v1.cpuacct = Some(Box::new(cpuacct));
        assert_eq!(v1.cpu_nanos(), Some(987_654_321));
        let procs = v1.procs_paths();
        assert_eq!(procs.len(), 2, "the service's process joins both");
        assert!(procs[1].to_str().unwrap().ends_with("cpuacct/cgroup.procs"));
        std::mem::forget(v1);
        std::mem::forget(v2);
    }
}
