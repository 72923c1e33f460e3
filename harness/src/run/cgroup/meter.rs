//! The services' meters: a service's CPU time from its cgroup's counter, and its peak memory over spans of
//! the caller's choosing.

use std::io;
use std::path::Path;

use super::detect::{Accounting, own_v1_cgroup};
use super::group::RunCgroup;
use super::{PREFIX, Pids, Version, flat_key};
use crate::sys;

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

impl Accounting {
    /// How the CPU time of a service is measured.
    pub(crate) fn service_cpu(&self) -> CpuMethod {
        match (&self.parent, &self.cpu) {
            (_, Pids::None) | (None, _) => CpuMethod::Proc,
            (Some((Version::V2, _)), _) => CpuMethod::Cgroup2,
            (Some((Version::V1, _)), _) => CpuMethod::Cgroup1,
        }
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
pub(super) fn cpu_counter(version: Version, dir: &Path) -> Pids {
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

impl RunCgroup {
    /// A reader of the cgroup's peak memory over spans of time of the caller's choosing, for a service that
    /// outlives runs; `None` where the peak cannot be reset.
    pub(crate) fn peak_meter(&self) -> Option<PeakMeter> {
        let file = std::fs::File::options().read(true).write(true).open(self.dir.join(self.version.files().peak));
        let mut meter = PeakMeter(file.ok()?);
        meter.reset().then_some(meter)
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

#[cfg(test)]
mod tests {
    use super::*;

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
