//! Where run cgroups go, decided once per experiment: the version and the folder, the pids controller, and
//! the run cgroups a killed harness left behind.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

use super::group::RunCgroup;
use super::meter::cpu_counter;
use super::{Method, PIDS_LIMIT, PREFIX, Pids, Version};
use crate::sys::{self, pid_t};

/// Where this experiment's run cgroups go, if anywhere.
#[derive(Debug, Clone)]
pub(crate) struct Accounting {
    pub(super) parent: Option<(Version, PathBuf)>,
    pids: Pids,
    /// Where a service's CPU counter is.
    pub(super) cpu: Pids,
    /// The `cgroup.procs` of the pids cgroup that runs share, where the pids limit has a v1 hierarchy of
    /// its own (see [`Keeper`]).
    pub(super) shared_pids: Option<CString>,
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
    pub(super) fn create_shared_pids(&self) -> Option<RunCgroup> {
        let (Some(_), Pids::V1(pids_parent)) = (&self.parent, &self.pids) else { return None };
        let name = format!("{}{}-runs", PREFIX, std::process::id());
        let pids = RunCgroup::create(Version::V1, pids_parent.join(name), None).ok()?;
        std::fs::write(pids.dir.join("pids.max"), PIDS_LIMIT.to_string()).ok()?;
        Some(pids)
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
pub(super) fn own_v1_cgroup(controller: &str, memberships: &str, mounts: &str) -> Option<PathBuf> {
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
}
