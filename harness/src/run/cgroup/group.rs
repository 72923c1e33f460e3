//! One cgroup: made with its limits, the files read after each run kept open, its counters, the kill of
//! what is in it, made ready for another run, and removed.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Method, Version, flat_key};
use crate::sys::{self, pid_t};

/// The cgroup of one run at a time. Dropping it kills everything still in it and removes it.
#[derive(Debug)]
pub(crate) struct RunCgroup {
    pub(super) version: Version,
    pub(super) dir: PathBuf,
    pub(super) procs: CString,
    /// The run's cgroup of the v1 pids hierarchy, when the limit of processes is there.
    pub(super) pids: Option<Box<RunCgroup>>,
    /// A service's cgroup of the v1 cpuacct hierarchy, where its CPU time is counted.
    pub(super) cpuacct: Option<Box<RunCgroup>>,
    /// The files read after each run, opened when the cgroup was made.
    open: OpenFiles,
    /// The `cgroup.procs` of a cgroup the run's process joins too, which other runs share.
    pub(super) also_joins: Option<CString>,
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
    pub(super) fn of(version: Version, dir: PathBuf, procs: CString) -> Self {
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

    pub(super) fn create(version: Version, dir: PathBuf, limit: Option<u64>) -> io::Result<Self> {
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

    /// The most memory the cgroup's processes used at once, page cache included.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        read_now(self.open.peak.as_ref(), || self.dir.join(self.version.files().peak))?.trim().parse().ok()
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
    pub(super) fn recycle(self, limit: Option<u64>) -> Option<Self> {
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

/// Removes `cgroup`, or says that it could not.
pub(super) fn remove_or_warn(cgroup: RunCgroup) {
    if let Err(e) = cgroup.remove(|| {}) {
        crate::console::errln!("warning: cannot remove the cgroup of a run, a process of it may be stuck: {e}");
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove_inner(&|| {});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
