//! `histograms/cell-K-rep-R.csv`: the latency (service time) of every task of a measured run, as the
//! non-empty buckets of its HDR histogram (3 significant digits), `latency_ns,tasks` per line in increasing
//! order; for an open workload, `cell-K-rep-R-response.csv` beside it, its response times (from the moment
//! each task was due, queueing included) in the same form. The runs of a cell merge into one histogram of
//! each ([`of_cell`]): percentiles over every task of the cell, where `runs.csv` has each run's own.
//!
//! A folder written before the histograms has none: its cells have no percentiles over the cell, and its
//! readers say so rather than fail.

use std::io::{self, BufRead as _, Write as _};
use std::path::{Path, PathBuf};

use harness_sdk::latency::Latency;
use harness_sdk::protocol::LatencySummary;

use super::files;

/// A histogram file holds no more lines than this: an HDR histogram of 3 significant digits over 64-bit
/// nanoseconds has fewer buckets.
const MAX_LINES: usize = 1 << 20;

const HEADER: &str = "latency_ns,tasks";

/// What a histogram holds of each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Service time: from the start of its first step to its end.
    Service,
    /// An open workload's response time: from when it was due to its end.
    Response,
}

/// The histogram file of `kind` of repetition `repetition` of cell `cell` (both 1-based, as in `runs.csv`).
pub(crate) fn path(folder: &Path, kind: Kind, cell: u64, repetition: u64) -> PathBuf {
    let suffix = match kind {
        Kind::Service => "",
        Kind::Response => "-response",
    };
    folder.join(files::HISTOGRAMS).join(format!("cell-{cell}-rep-{repetition}{suffix}.csv"))
}

/// Writes a histogram of a run, `pairs` as [`Latency::to_pairs`] gives them; a file that cannot be written
/// whole is removed.
pub(crate) fn write(folder: &Path, kind: Kind, cell: u64, repetition: u64, pairs: &[(u64, u64)]) -> io::Result<()> {
    let path = path(folder, kind, cell, repetition);
    std::fs::create_dir_all(path.parent().expect("in a folder"))?;
    let written = (|| {
        let mut out = io::BufWriter::new(super::create_replacing(&path)?);
        writeln!(out, "{HEADER}")?;
        for (nanos, tasks) in pairs {
            writeln!(out, "{nanos},{tasks}")?;
        }
        out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    written
}

/// The pairs of a histogram file; `None` when there is none.
pub(crate) fn read(path: &Path) -> io::Result<Option<Vec<(u64, u64)>>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |line: usize, why: &str| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}:{line}: {why}", path.display()))
    };
    let mut pairs = Vec::new();
    for (i, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if i == 0 {
            if line != HEADER {
                return Err(bad(1, &format!("the header is not `{HEADER}`")));
            }
            continue;
        }
        if i > MAX_LINES {
            return Err(bad(i + 1, &format!("more than {MAX_LINES} buckets")));
        }
        let pair = line.split_once(',').and_then(|(v, n)| Some((v.parse().ok()?, n.parse().ok()?)));
        pairs.push(pair.ok_or_else(|| bad(i + 1, "expected `NANOSECONDS,TASKS`"))?);
    }
    Ok(Some(pairs))
}

/// Percentiles over every task of a cell: its runs' histograms merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellLatency {
    /// The runs whose histograms were merged.
    pub runs: usize,
    /// The tasks they hold.
    pub tasks: u64,
    pub latency: LatencySummary,
}

/// The histograms of `kind` of `repetitions` of cell `cell` merged; `None` when none of them has one (a
/// folder written before the histograms, runs that recorded no task, a closed workload's response times).
pub(crate) fn of_cell(folder: &Path, kind: Kind, cell: u64, repetitions: &[u64]) -> io::Result<Option<CellLatency>> {
    let mut merged = Latency::default();
    let mut runs = 0;
    for &repetition in repetitions {
        if let Some(pairs) = read(&path(folder, kind, cell, repetition))? {
            merged.merge(&Latency::from_pairs(&pairs));
            runs += 1;
        }
    }
    Ok((runs > 0 && !merged.is_empty()).then(|| CellLatency { runs, tasks: merged.len(), latency: merged.summary() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_reads_back_as_written_and_runs_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Latency::default();
        let mut b = Latency::default();
        for i in 1..=100u64 {
            a.record(std::time::Duration::from_micros(i));
            b.record(std::time::Duration::from_micros(1000 + i));
        }
        write(dir.path(), Kind::Service, 3, 1, &a.to_pairs()).unwrap();
        write(dir.path(), Kind::Service, 3, 2, &b.to_pairs()).unwrap();
        assert_eq!(read(&path(dir.path(), Kind::Service, 3, 1)).unwrap(), Some(a.to_pairs()));
        assert_eq!(read(&path(dir.path(), Kind::Service, 3, 9)).unwrap(), None);
        let cell = of_cell(dir.path(), Kind::Service, 3, &[1, 2, 9]).unwrap().unwrap();
        assert_eq!((cell.runs, cell.tasks), (2, 200));
        // Half the tasks took at most 100 us, the other half at least 1 ms.
        assert!(cell.latency.p50_s <= 100.1e-6, "{:?}", cell.latency);
        assert!(cell.latency.p90_s >= 1e-3, "{:?}", cell.latency);
        assert_eq!(of_cell(dir.path(), Kind::Service, 4, &[1]).unwrap(), None);
        // Response times go to a file of their own, merged apart.
        assert_eq!(of_cell(dir.path(), Kind::Response, 3, &[1, 2]).unwrap(), None);
        write(dir.path(), Kind::Response, 3, 2, &b.to_pairs()).unwrap();
        let response = of_cell(dir.path(), Kind::Response, 3, &[1, 2]).unwrap().unwrap();
        assert_eq!((response.runs, response.tasks), (1, 100));
        assert!(path(dir.path(), Kind::Response, 3, 2).ends_with("histograms/cell-3-rep-2-response.csv"));
        std::fs::write(path(dir.path(), Kind::Service, 3, 1), "latency_ns,tasks\n12,x\n").unwrap();
        assert!(read(&path(dir.path(), Kind::Service, 3, 1)).unwrap_err().to_string().contains(":2: expected"));
    }
}
