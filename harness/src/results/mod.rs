//! The result folder of one experiment run: `<out>/<experiment>/<run-id>/` with `runs.csv`,
//! `experiment.toml` and `environment.json` (and, when the runs are done, `summary.csv` and any
//! `warnings.txt`: see [`crate::summary`]), and `<out>/<experiment>/latest` pointing at the newest.
//!
//! Rows of `runs.csv` are appended and flushed as each run finishes, so an interruption loses nothing
//! already measured. A result folder is never reused: a second run in the same second gets a suffix.

pub(crate) mod environment;
pub(crate) mod files;
pub(crate) mod open;
pub(crate) mod resume;
pub(crate) mod runs;

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::experiment::Experiment;
use crate::run::{Outcome, Slot, Status};

pub(crate) use environment::{Environment, file_hash};
pub(crate) use open::{Folder, NotAResultFolder};
pub(crate) use runs::Runs;

/// An open result folder.
pub(crate) struct ResultDir {
    pub path: PathBuf,
    runs: csv::Writer<File>,
}

impl ResultDir {
    /// Creates `<out>/<name>/<run-id>/`, writes `experiment.toml` and `environment.json`, starts
    /// `runs.csv` with its header and points `latest` at the new folder.
    pub(crate) fn create(
        out: &Path,
        experiment: &Experiment,
        started: SystemTime,
        environment: &Environment,
    ) -> io::Result<Self> {
        let parent = out.join(&experiment.name);
        std::fs::create_dir_all(&parent)?;
        let stamp = humantime::format_rfc3339_seconds(started).to_string().replace(':', "-");
        let mut path = parent.join(&stamp);
        let mut n = 1;
        // create_dir (not _all) fails when the folder exists, so no earlier result is ever reused.
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    n += 1;
                    path = parent.join(format!("{stamp}.{n}"));
                }
                Err(e) => return Err(e),
            }
        }
        std::fs::write(path.join(files::EXPERIMENT), experiment.source.as_bytes())?;
        environment.write(&path)?;
        let mut runs = csv::Writer::from_path(path.join(files::RUNS))?;
        let mut header = experiment.columns.clone();
        header.extend(crate::metrics::runs_columns().map(str::to_owned));
        // The experiment's own metric columns go before the last, `error`.
        let error = header.pop();
        header.extend(experiment.services.iter().flat_map(|s| crate::metrics::service_columns(&s.name)));
        header.extend(error);
        runs.write_record(&header)?;
        runs.flush()?;
        point_latest(&parent, &path)?;
        Ok(Self { path, runs })
    }

    /// Reopens the result folder `path` to add the runs it lacks. Returns it with the runs already there,
    /// as (cell index, repetition). A last row cut short by an interruption is dropped.
    pub(crate) fn resume(path: &Path) -> io::Result<(Self, HashSet<(usize, u32)>)> {
        let runs_path = path.join(files::RUNS);
        let mut text = std::fs::read(&runs_path)?;
        if let Some(end) = text.iter().rposition(|&b| b == b'\n') {
            if end + 1 != text.len() {
                text.truncate(end + 1);
                std::fs::write(&runs_path, &text)?;
            }
        }
        let mut done = HashSet::new();
        for row in Runs::parse(&text, &runs_path)?.rows {
            if let (Some(c), Some(r)) = (row.cell, row.repetition) {
                done.insert(((c as usize).saturating_sub(1), r as u32));
            }
        }
        let file = std::fs::OpenOptions::new().append(true).open(&runs_path)?;
        let runs = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        Ok((Self { path: path.to_owned(), runs }, done))
    }

    /// Appends one measured run of cell `index` and flushes it to disk.
    pub(crate) fn append(
        &mut self,
        experiment: &Experiment,
        index: usize,
        repetition: u32,
        outcome: &Outcome,
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
        for service in &experiment.services {
            match outcome.services.iter().find(|u| u.name == service.name) {
                Some(u) if outcome.status == Status::Ok => record.extend([f(u.cpu_s), u.peak_bytes.to_string()]),
                _ => record.extend([blank(), blank()]),
            }
        }
        record.push(outcome.error.replace('\n', " | "));
        self.runs.write_record(&record)?;
        self.runs.flush()
    }
}

impl ResultDir {
    /// Keeps what run `index` of the schedule (of `slot`) printed, under `logs/`. A resumed run counts its
    /// schedule from 0 again, so an earlier log is never overwritten: the name gets a number.
    pub(crate) fn keep_log(&self, slot: Slot, index: usize, log: &Path) -> io::Result<()> {
        let logs = self.path.join(files::LOGS);
        std::fs::create_dir_all(&logs)?;
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
        std::fs::copy(log, name).map(drop)
    }
}

/// Writes `warnings.txt`, one warning a line, when there is something to warn about.
pub(crate) fn write_warnings(dir: &Path, warnings: &[String]) -> io::Result<()> {
    if warnings.is_empty() {
        return Ok(());
    }
    std::fs::write(dir.join(files::WARNINGS), warnings.join("\n") + "\n")
}

/// The warnings of `warnings.txt`, `None` when the folder has none.
pub(crate) fn read_warnings(dir: &Path) -> Option<Vec<String>> {
    std::fs::read_to_string(dir.join(files::WARNINGS)).ok().map(|t| t.lines().map(str::to_owned).collect())
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
