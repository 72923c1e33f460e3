//! `read_file`: reads one of `files` fixture files of `size` bytes, which the harness wrote into
//! [`Resources::files_dir`](crate::protocol::Resources) (task `task` reads file `task % files`). Without
//! blocking, through `tokio::fs`, a read on tokio's blocking pool. Yields the hash of the file's bytes.

use std::io;
use std::path::{Path, PathBuf};

use super::{Cost, Work};
use crate::checksum::hash_bytes;
use crate::fixtures::fixture_file_name;
use crate::protocol::{RunRequest, Step};
use crate::units::format_size;
use crate::workload::Prepared;

/// The folder of the fixture files, for the run.
#[derive(Debug)]
pub(super) struct Run {
    dir: Option<PathBuf>,
}

impl Run {
    pub(super) fn new(request: &RunRequest) -> io::Result<Self> {
        let dir = request.resources.files_dir.clone();
        if dir.is_none() && request.workload.steps.iter().any(|s| matches!(s, Step::ReadFile { .. })) {
            return Err(super::missing("read_file", "files_dir"));
        }
        Ok(Self { dir })
    }
}

impl Prepared {
    /// The path of the fixture file task `task` reads in a `read_file` step.
    pub fn fixture_path(&self, task: u64, size: u64, files: u32) -> PathBuf {
        let index = (task % u64::from(files.max(1))) as u32;
        self.state.read_file.dir.as_deref().unwrap_or(Path::new(".")).join(fixture_file_name(size, index))
    }
}

/// The `read_file` step of task `task`, blocking the calling thread.
pub(super) fn blocking(prepared: &Prepared, task: u64, size: u64, files: u32) -> io::Result<u64> {
    let path = prepared.fixture_path(task, size, files);
    Ok(hash_bytes(&std::fs::read(&path).map_err(|e| reading_error(&path, &e))?))
}

/// The `read_file` step of task `task` as a future.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(prepared: &Prepared, task: u64, size: u64, files: u32) -> io::Result<u64> {
    let path = prepared.fixture_path(task, size, files);
    Ok(hash_bytes(&tokio::fs::read(&path).await.map_err(|e| reading_error(&path, &e))?))
}

fn reading_error(path: &Path, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))
}

/// CPU work: the read of a file the page cache holds.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Cpu };
/// The fixture files are made from the seed: the same bytes on every run.
pub(super) const DETERMINISTIC: bool = true;

/// `read_file 64KiB x8`.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, size: u64, files: u32) -> std::fmt::Result {
    write!(f, "read_file {} x{files}", format_size(size))
}

impl Step {
    /// The fixture files the step reads, (size, count): the harness writes them before the first run.
    pub fn fixtures(&self) -> Option<(u64, u32)> {
        match *self {
            Step::ReadFile { size, files } => Some((size, files)),
            _ => None,
        }
    }
}
