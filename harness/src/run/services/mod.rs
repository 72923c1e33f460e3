//! What the harness sets up outside the process under test: fixture files for `read_file` and the counter
//! file for `shared`, each as long as the experiment's run; the experiment's own `[services]` and the
//! loopback server of `net` steps, a service among them ([`managed`], [`loopback`]).

mod loopback;
mod managed;
mod ready;

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use harness_sdk::protocol::{Resources, Step};
use harness_sdk::workload::{fixture_file_name, fixture_file_stream};

pub(crate) use loopback::loopback_main;
pub(crate) use managed::ServiceUsage;
pub(super) use managed::{Managed, Unavailable};

use crate::experiment::Experiment;
use crate::sys;

/// Scratch folders are `<temp>/harness-XXXXXX`, with the pid of the harness that made them in `owner.pid`.
const SCRATCH_PREFIX: &str = "harness-";
const OWNER: &str = "owner.pid";

/// Removes the scratch folders of harnesses that died without cleaning up (`kill -9`): those whose owner is
/// no longer alive. A folder without an owner file, or whose owner lives, is left alone.
fn remove_abandoned_scratch() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let named = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(SCRATCH_PREFIX));
        let Some(pid) = named
            .then(|| std::fs::read_to_string(path.join(OWNER)).ok())
            .flatten()
            .and_then(|t| t.trim().parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if sys::is_gone(pid) {
            super::reap::kill_left_behind(&path);
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// What one experiment's runs share besides its services: the scratch folder, the fixture files and the
/// address of the loopback server. Dropping it removes the scratch folder.
pub(super) struct Services {
    scratch: tempfile::TempDir,
    files_dir: Option<PathBuf>,
    /// The fixture files to write, (size, count): see [`Services::write_fixtures`].
    fixtures: BTreeSet<(u64, u32)>,
    /// The loopback server's, when a step goes to it (it is started with the experiment's services).
    net_addr: Option<SocketAddr>,
    /// What the experiment's results should say about the services: a queue smaller than it asked for.
    pub warnings: Vec<String>,
}

impl Services {
    /// Makes the scratch folder, and finds what `experiment`'s workloads need, before any run starts. The
    /// fixture files come after, from [`Services::write_fixtures`].
    pub(super) fn start(experiment: &Experiment) -> io::Result<Self> {
        remove_abandoned_scratch();
        let scratch = tempfile::Builder::new().prefix(SCRATCH_PREFIX).tempdir()?;
        std::fs::write(scratch.path().join(OWNER), std::process::id().to_string())?;
        let steps = experiment.cells.iter().flat_map(|c| c.workload.steps.iter());
        let fixtures = steps.filter_map(Step::fixtures).collect();
        let mut warnings = Vec::new();
        let loopback = experiment.services.iter().find_map(|s| Some((s.port, s.loopback?)));
        if let Some(connections) = loopback.map(|(_, bounds)| bounds.connections) {
            if let Some(cap) = somaxconn().filter(|&cap| cap < connections) {
                warnings.push(format!(
                    "a run can open {connections} connections at once but the system caps accept queues at {cap} \
                     (net.core.somaxconn): raise it with `sysctl -w net.core.somaxconn={connections}`, or watch \
                     the listen_overflows column"
                ));
            }
        }
        Ok(Services {
            files_dir: None,
            fixtures,
            net_addr: loopback.map(|(port, _)| SocketAddr::from(([127, 0, 0, 1], port))),
            scratch,
            warnings,
        })
    }

    /// Writes the fixture files of `read_file` steps, each in pieces (never whole in memory), and stops as
    /// soon as the harness is interrupted: then the runs do not start either. Called where Ctrl-C and
    /// SIGTERM reach this thread.
    pub(super) fn write_fixtures(&mut self, seed: u64, interrupted: impl Fn() -> bool) -> io::Result<()> {
        use std::io::Write as _;
        const PIECE: usize = 1 << 20;
        if self.fixtures.is_empty() {
            return Ok(());
        }
        let dir = self.scratch.path().join("files");
        std::fs::create_dir_all(&dir)?;
        self.files_dir = Some(dir.clone());
        let mut piece = vec![0u8; PIECE];
        for &(size, files) in &self.fixtures {
            for index in 0..files {
                let path = dir.join(fixture_file_name(size, index));
                if path.exists() {
                    continue;
                }
                let mut file = std::fs::File::create(&path)?;
                let mut content = fixture_file_stream(seed, size, index);
                let mut left = size;
                while left > 0 {
                    if interrupted() {
                        return Ok(());
                    }
                    let n = left.min(PIECE as u64) as usize;
                    content.fill(&mut piece[..n]);
                    file.write_all(&piece[..n])?;
                    left -= n as u64;
                }
                if interrupted() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The resources of the `index`th run of the schedule, whose folder is `run_dir`; `shared_file` is
    /// fresh (zero) for each run whose steps use it (`shared`).
    pub(super) fn resources(&self, run_dir: &Path, index: usize, shared: bool) -> io::Result<Resources> {
        let shared_file = run_dir.join("shared.counter");
        if shared {
            // Written over in place: the folder serves every run.
            let counter = std::fs::File::options().create(true).write(true).truncate(false).open(&shared_file)?;
            std::os::unix::fs::FileExt::write_all_at(&counter, &0u64.to_le_bytes(), 0)?;
        }
        Ok(Resources {
            files_dir: self.files_dir.clone(),
            net_addr: self.net_addr.map(|a| a.to_string()),
            shared_file: Some(shared_file),
            // Unique to this harness and run, so runs sharing a Redis server never share a counter.
            shared_key: Some(format!("harness:{}:run-{index}", std::process::id())),
        })
    }

    /// A folder for temporary files of this experiment.
    pub(super) fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Whether the loopback server serves the experiment: then [`listen_overflows`] is worth reading around
    /// each run.
    pub(super) fn serves_net(&self) -> bool {
        self.net_addr.is_some()
    }
}

/// The system-wide count of connections dropped because a listen queue was full (`ListenOverflows` in
/// `/proc/net/netstat`), or `None` where the kernel does not say.
pub(super) fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// The accept queue the kernel allows at most (`net.core.somaxconn`).
pub(super) fn somaxconn() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflows_are_read_from_the_kernel() {
        // Every Linux kernel this runs on counts them; the value itself is the whole system's.
        assert!(listen_overflows().is_some());
        assert!(somaxconn().is_some_and(|n| n > 0));
    }
}
