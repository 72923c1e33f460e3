//! The result folder of one experiment run: `<out>/<experiment>/<run-id>/` with `runs.csv`,
//! `experiment.toml` and `environment.json` (and, when the runs are done, `summary.csv` and any
//! `warnings.txt`: see [`crate::summary`]), and `<out>/<experiment>/latest` pointing at the newest.
//!
//! Rows of `runs.csv` are appended and flushed as each run finishes, so an interruption loses nothing
//! already measured. A result folder is never reused: a second run in the same second gets a suffix.

pub(crate) mod environment;
pub(crate) mod files;
pub(crate) mod histograms;
pub(crate) mod lock;
pub(crate) mod open;
pub(crate) mod resume;
pub(crate) mod runs;

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Seek as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::diagnostic::Diagnostic;
use crate::experiment::Experiment;
use crate::run::{Outcome, Slot, Status};

pub(crate) use environment::{Environment, file_hash};
pub(crate) use lock::FolderLock;
pub(crate) use open::{Folder, NotAResultFolder};
pub(crate) use runs::Runs;

/// An open result folder, locked for this harness (see [`lock`]) as long as it is open.
pub(crate) struct ResultDir {
    pub path: PathBuf,
    runs: csv::Writer<File>,
    lock: FolderLock,
}

/// The header of `runs.csv` for `experiment`: its columns, the catalog's and its custom metrics, its
/// services' columns, then `error`.
fn header(experiment: &Experiment) -> Vec<String> {
    let mut header = experiment.columns.clone();
    let custom = experiment.metrics.iter().map(|m| m.name.as_str());
    header.extend(crate::metrics::runs_columns_with(custom).map(str::to_owned));
    // The services' columns go after the custom metrics, before the last, `error`.
    let error = header.pop();
    header.extend(experiment.services.iter().flat_map(|s| crate::metrics::service_columns(&s.name)));
    header.extend(error);
    header
}

impl ResultDir {
    /// Creates `<out>/<name>/<run-id>/`, locks it, writes `experiment.toml` and `environment.json`, starts
    /// `runs.csv` with its header and points `latest` at the new folder. `<out>/<name>` must not be a
    /// symbolic link: nothing is ever written outside `out`.
    pub(crate) fn create(
        out: &Path,
        experiment: &Experiment,
        started: SystemTime,
        environment: &Environment,
    ) -> anyhow::Result<Self> {
        let parent = out.join(&experiment.name);
        refuse_symlink(&parent)?;
        std::fs::create_dir_all(&parent)?;
        // Made by another process between the check and the creation: checked again.
        refuse_symlink(&parent)?;
        let stamp = humantime::format_rfc3339_seconds(started).to_string().replace(':', "-");
        let mut path = parent.join(&stamp);
        let mut n = 1;
        // create_dir (not _all) fails when the folder exists (or a link of that name does), so no earlier
        // result is ever reused and no link is followed.
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    n += 1;
                    path = parent.join(format!("{stamp}.{n}"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let lock = FolderLock::acquire(&path).map_err(|e| e.diagnostic())?;
        let written = (|| -> anyhow::Result<csv::Writer<std::fs::File>> {
            std::fs::write(path.join(files::EXPERIMENT), experiment.source.as_bytes())?;
            environment.write(&path)?;
            let mut runs = csv::Writer::from_path(path.join(files::RUNS))?;
            runs.write_record(header(experiment))?;
            runs.flush()?;
            point_latest(&parent, &path)?;
            Ok(runs)
        })();
        let runs = match written {
            Ok(runs) => runs,
            Err(error) => {
                // Nothing is measured yet: a folder half written (a full disk leaves an empty
                // experiment.toml) is no result, and `latest` never pointed at it.
                drop(lock);
                let _ = std::fs::remove_dir_all(&path);
                return Err(error);
            }
        };
        Ok(Self { path, runs, lock })
    }

    /// Reopens the result folder `path` to add the runs it lacks, once it holds its lock. Returns it with
    /// the runs already there, as (cell index, repetition). A last row cut short by an interruption is
    /// dropped in place (the file is cut after its last whole line, never written again).
    pub(crate) fn resume(path: &Path, experiment: &Experiment) -> anyhow::Result<(Self, HashSet<(usize, u32)>)> {
        let lock = FolderLock::acquire(path).map_err(|e| e.diagnostic())?;
        let runs_path = path.join(files::RUNS);
        if std::fs::symlink_metadata(&runs_path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Diagnostic::new(format!("{} is a symbolic link", runs_path.display()))
                .expected("a result folder whose runs.csv is a file of its own")
                .help("the harness appends only to a runs.csv in the folder, never through a link out of it")
                .into());
        }
        let mut file = open::regular_file(&runs_path, true)?;
        let text = open::read_bounded(&mut file, &runs_path, open::MAX_RUNS_BYTES)?;
        // Up to the last whole line; a file without one is left as it is, for the parser to refuse.
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(text.len(), |end| end + 1);
        if whole != text.len() {
            file.set_len(whole as u64)?;
            file.sync_all()?;
        }
        // Rows are appended as this harness writes them: the columns must be the ones it would write.
        let written = csv::Reader::from_reader(&text[..whole]).headers().map(|h| h.iter().map(str::to_owned).collect());
        if written.is_ok_and(|written: Vec<String>| written != header(experiment)) {
            return Err(Diagnostic::new(format!(
                "{} has other columns than this harness writes for {}",
                runs_path.display(),
                experiment.path.display()
            ))
            .help("it was written by another version of the harness: start a new run instead")
            .into());
        }
        let mut done = HashSet::new();
        let mut twice: Vec<(u64, u64)> = Vec::new();
        for row in Runs::parse(&text[..whole], &runs_path)?.rows {
            if let (Some(c), Some(r)) = (row.cell, row.repetition) {
                if !done.insert(((c as usize).saturating_sub(1), r as u32)) {
                    twice.push((c, r));
                }
            }
        }
        // The harness appends each run once: a run there twice is a damaged folder, refused as `merge` does.
        if let Some((cell, repetition)) = twice.first() {
            let rows = match twice.len() {
                1 => "a row of a run".to_owned(),
                n => format!("{n} rows of runs"),
            };
            return Err(Diagnostic::new(format!(
                "{} has {rows} it already has, the first of cell {cell}, repetition {repetition}",
                runs_path.display()
            ))
            .expected("one row per cell and repetition, as the harness writes them")
            .help("the folder is damaged: start a new run, or keep the first row of each run by hand")
            .into());
        }
        file.seek(io::SeekFrom::End(0))?;
        let runs = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        Ok((Self { path: path.to_owned(), runs, lock }, done))
    }

    /// Closes `runs.csv`, keeping the folder locked as long as the returned lock lives.
    pub(crate) fn into_lock(self) -> FolderLock {
        self.lock
    }

    /// Appends one measured run of cell `index` and flushes it to disk.
    pub(crate) fn append(
        &mut self,
        experiment: &Experiment,
        index: usize,
        repetition: u32,
        outcome: &Outcome,
        probe: Option<crate::search::Probe>,
    ) -> io::Result<()> {
        let cell = &experiment.cells[index];
        let mut record: Vec<String> = experiment.columns.iter().map(|c| cell.value(c)).collect();
        record.push((index + 1).to_string());
        record.push(repetition.to_string());
        record.push(outcome.status.as_str().to_owned());
        let f = |x: f64| format!("{x:.9}");
        let blank = || String::new();
        let u = &outcome.usage;
        record.push(f(outcome.wall.as_secs_f64()));
        match (&outcome.report, outcome.status) {
            (Some(r), Status::Ok) => {
                let throughput = if r.run_s > 0.0 { r.tasks as f64 / r.run_s } else { 0.0 };
                record.extend([
                    f(r.setup_s),
                    f(r.run_s),
                    r.tasks.to_string(),
                    format!("{throughput:.3}"),
                    format!("{:016x}", r.checksum),
                    r.shared_count.map(|c| c.to_string()).unwrap_or_default(),
                    outcome.shared_lost.map(|c| c.to_string()).unwrap_or_default(),
                    f(r.latency.mean_s),
                    f(r.latency.p50_s),
                    f(r.latency.p90_s),
                    f(r.latency.p99_s),
                    f(r.latency.max_s),
                ]);
            }
            _ => record.extend(std::iter::repeat_with(blank).take(12)),
        }
        record.extend([
            f(u.user_cpu_s),
            f(u.system_cpu_s),
            outcome.memory.peak_bytes.to_string(),
            outcome.memory.method.as_str().to_owned(),
            u.voluntary_switches.to_string(),
            u.involuntary_switches.to_string(),
            outcome.listen_overflows.map(|n| n.to_string()).unwrap_or_default(),
            outcome.anchor_s.map(f).unwrap_or_default(),
        ]);
        record.extend(open_columns(&experiment.cells[index].workload, outcome, probe));
        // Custom metrics: the aggregate of what the run's tasks reported, blank for a run that failed or
        // whose workload does not declare the metric.
        for metric in &experiment.metrics {
            let reported = outcome
                .report
                .as_ref()
                .filter(|_| outcome.status == Status::Ok)
                .and_then(|r| r.metrics.get(&metric.name));
            record.push(reported.map(|r| f(metric.aggregate.of(r))).unwrap_or_default());
        }
        for service in &experiment.services {
            match outcome.services.iter().find(|u| u.name == service.name) {
                Some(u) if outcome.status == Status::Ok => record.extend([f(u.cpu_s), u.peak_bytes.to_string()]),
                _ => record.extend([blank(), blank()]),
            }
        }
        // What programs printed, kept as text: no reader of runs.csv gets a terminal's control sequence.
        record.push(crate::console::escape_controls(&outcome.error.replace('\n', " | ")).into_owned());
        self.runs.write_record(&record)?;
        self.runs.flush()?;
        // After the row: a run whose histogram cannot be written (a full disk) is still measured, and its
        // cell's percentiles over the cell say how many runs they merge.
        if let Some(r) = outcome.report.as_ref().filter(|_| outcome.status == Status::Ok) {
            let (cell, repetition) = (index as u64 + 1, u64::from(repetition));
            let kinds = [
                (histograms::Kind::Service, &r.latency_histogram, "latency"),
                (histograms::Kind::Response, &r.response_histogram, "response-time"),
            ];
            for (kind, pairs, what) in kinds.into_iter().filter(|(_, pairs, _)| !pairs.is_empty()) {
                if let Err(e) = histograms::write(&self.path, kind, cell, repetition, pairs) {
                    crate::console::errln!(
                        "warning: cannot write the {what} histogram of cell {cell}, repetition {repetition}: {e}"
                    );
                }
            }
        }
        Ok(())
    }
}

/// The columns of an open workload ([`crate::metrics::OPEN`]): the offered rate for every run of one (a
/// probe's own rate, and its verdict last), the measures for a run that ended ok; blank for a closed
/// workload.
fn open_columns(
    workload: &harness_sdk::protocol::Workload,
    outcome: &Outcome,
    probe: Option<crate::search::Probe>,
) -> Vec<String> {
    let mut record = vec![String::new(); crate::metrics::OPEN.len()];
    let Some(arrival) = &workload.arrival else { return record };
    let f = |x: f64| format!("{x:.9}");
    record[0] = format!("{:.3}", probe.map_or(arrival.rate_per_s, |p| p.rate));
    if let (Some(probe), Some(last)) = (probe, record.last_mut()) {
        probe.verdict.as_str().clone_into(last);
    }
    if let (Some(r), Status::Ok) = (&outcome.report, outcome.status) {
        if let Some(open) = &r.open {
            let achieved = if r.run_s > 0.0 { r.tasks as f64 / r.run_s } else { 0.0 };
            let response = &open.response;
            let measured = [
                format!("{achieved:.3}"),
                open.dropped.to_string(),
                open.late.to_string(),
                f(open.last_start_lag_s),
                f(response.mean_s),
                f(response.p50_s),
                f(response.p90_s),
                f(response.p99_s),
                f(response.max_s),
            ];
            for (slot, value) in record[1..].iter_mut().zip(measured) {
                *slot = value;
            }
        }
    }
    record
}

impl ResultDir {
    /// Keeps what run `index` of the schedule (of `slot`) printed, under `logs/`. A resumed run counts its
    /// schedule from 0 again, so an earlier log is never overwritten: the name gets a number.
    pub(crate) fn keep_log(&self, slot: Slot, index: usize, log: &Path) -> io::Result<()> {
        let logs = subfolder(&self.path, files::LOGS)?;
        let stem = match slot.repetition {
            Some(r) => format!("cell-{}-rep-{r}", slot.cell + 1),
            None => format!("cell-{}-warmup-{index}", slot.cell + 1),
        };
        let mut name = logs.join(format!("{stem}.log"));
        let mut n = 1;
        while name.exists() {
            n += 1;
            name = logs.join(format!("{stem}.{n}.log"));
        }
        io::copy(&mut File::open(log)?, &mut create_replacing(&name)?).map(drop)
    }
}

/// Creates the file `path` afresh for writing, replacing whatever is there without following it: a symbolic
/// link in a result folder (one downloaded from elsewhere, say) is replaced, never written through.
pub(crate) fn create_replacing(path: &Path) -> io::Result<File> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, format!("{} is a folder", path.display())));
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// Writes `bytes` into a fresh file `path`, as [`create_replacing`] makes it.
pub(crate) fn write_replacing(path: &Path, bytes: &[u8]) -> io::Result<()> {
    io::Write::write_all(&mut create_replacing(path)?, bytes)
}

/// Whether `error` comes from a full device (or a full quota): its way out is to free space.
pub(crate) fn disk_full(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io = cause.downcast_ref::<io::Error>().or_else(|| {
            cause.downcast_ref::<csv::Error>().and_then(|e| match e.kind() {
                csv::ErrorKind::Io(io) => Some(io),
                _ => None,
            })
        });
        io.and_then(io::Error::raw_os_error).is_some_and(|code| code == libc::ENOSPC || code == libc::EDQUOT)
    })
}

/// The folder `name` in the result folder `dir`, made when absent; a symbolic link there is refused.
pub(crate) fn subfolder(dir: &Path, name: &str) -> io::Result<PathBuf> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is not a folder (a symbolic link?): the harness writes only into folders of its own",
                path.display()
            ),
        )),
        Err(_) => std::fs::create_dir(&path).map(|()| path),
    }
}

/// Refuses `path` when it is a symbolic link: bad input.
fn refuse_symlink(path: &Path) -> Result<(), crate::diagnostic::Diagnostic> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
            Err(crate::diagnostic::Diagnostic::new(format!(
                "{} is a symbolic link (to {target}): the harness writes only inside --out",
                path.display()
            ))
            .help("remove the link, or pass the folder it points to as --out"))
        }
        _ => Ok(()),
    }
}

/// Writes `warnings.txt`, one warning a line, when there is something to warn about.
pub(crate) fn write_warnings(dir: &Path, warnings: &[String]) -> io::Result<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    write_replacing(&dir.join(files::WARNINGS), (warnings.join("\n") + "\n").as_bytes())
}

/// The warnings of `warnings.txt`, `None` when the folder has none.
pub(crate) fn read_warnings(dir: &Path) -> Option<Vec<String>> {
    let bytes = open::read_regular(&dir.join(files::WARNINGS), open::MAX_SMALL_FILE_BYTES).ok()?;
    Some(String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect())
}

/// Points `<parent>/latest` at `target` by replacing the link atomically.
fn point_latest(parent: &Path, target: &Path) -> io::Result<()> {
    let name = target.file_name().expect("a run folder has a name");
    // Unique across the machines of a shared file system, where shards may have the same pid.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let temporary = parent.join(format!(".latest-{}-{}-{nanos}", host.trim(), std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    std::os::unix::fs::symlink(name, &temporary)?;
    std::fs::rename(&temporary, parent.join(files::LATEST))
}
