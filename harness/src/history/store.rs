//! The history file: an `SQLite` database of results. One transaction per result, so a result is in it
//! whole or not at all, whatever stops the harness; a busy timeout and the write-ahead log let several
//! harnesses append at once (each waits for the other's transaction), and readers never block them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::checkout::Checkout;
use super::record::{Measurement, Record};
use crate::metrics::Direction;

/// How long an append waits for another harness's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The version of the tables below, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    experiment TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    machine TEXT NOT NULL,
    machine_description TEXT NOT NULL,
    commit_id TEXT,
    branch TEXT,
    time TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
    result INTEGER NOT NULL REFERENCES results(id),
    cell TEXT NOT NULL,
    metric TEXT NOT NULL,
    higher_is_better INTEGER NOT NULL,
    threshold_increase REAL NOT NULL,
    threshold_decrease REAL NOT NULL,
    n INTEGER NOT NULL,
    median REAL,
    ci_low REAL,
    ci_high REAL,
    run_values TEXT NOT NULL,
    PRIMARY KEY (result, cell, metric)
);
CREATE INDEX IF NOT EXISTS results_by_experiment ON results (experiment, time);
";

/// An open history file.
pub(crate) struct Store {
    connection: Connection,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Added, with this many measurements.
    Added(usize),
    /// The same result was in the history already.
    Present,
}

/// `step` again while `SQLite` answers that the database is busy, for at most [`BUSY_TIMEOUT`].
fn retry_busy<T>(mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match step() {
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

impl Store {
    /// Opens the history at `path`, creating it (and its tables) when `create`.
    pub(crate) fn open(path: &Path, create: bool) -> anyhow::Result<Self> {
        if !create && !path.is_file() {
            anyhow::bail!("{} is not a history file: no such file", path.display());
        }
        let connection = Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let not_history = |e: rusqlite::Error| anyhow::anyhow!("{} is not a history file: {e}", path.display());
        // The write-ahead log: readers do not block the writer. Setting it takes the lock a moment, and
        // SQLite answers "busy" at once, without its busy handler, to a connection that sets it while
        // another makes the same new file: that is retried until the busy timeout.
        let _: String =
            retry_busy(|| connection.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))).map_err(not_history)?;
        let version: i64 =
            retry_busy(|| connection.query_row("PRAGMA user_version", [], |r| r.get(0))).map_err(not_history)?;
        if version > SCHEMA_VERSION {
            anyhow::bail!(
                "{} is a history of a newer harness (version {version} of its tables; this harness reads {SCHEMA_VERSION})",
                path.display()
            );
        }
        if version < SCHEMA_VERSION {
            if !create {
                anyhow::bail!("{} is not a history file: it has no tables of results", path.display());
            }
            // The write lock first (waiting for another harness making the same file at the same moment),
            // then the tables, unless that other harness made them meanwhile: a transaction that read first
            // and then wrote would fail at once, without waiting, once the other had written.
            retry_busy(|| connection.execute_batch("BEGIN IMMEDIATE"))?;
            let made = || -> anyhow::Result<()> {
                let made: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                if made < SCHEMA_VERSION {
                    connection.execute_batch(SCHEMA).map_err(not_history)?;
                    connection.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                }
                Ok(())
            };
            if let Err(e) = made() {
                let _ = connection.execute_batch("ROLLBACK");
                return Err(e);
            }
            connection.execute_batch("COMMIT")?;
        }
        Ok(Self { connection })
    }

    /// Appends `record` whole, in one transaction; a result already present is not added again.
    pub(crate) fn append(&mut self, record: &Record) -> anyhow::Result<Appended> {
        let transaction = self.connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let present: Option<i64> = transaction
            .query_row("SELECT id FROM results WHERE digest = ?1", [&record.digest], |r| r.get(0))
            .optional()?;
        if present.is_some() {
            return Ok(Appended::Present);
        }
        transaction.execute(
            "INSERT INTO results (experiment, file_hash, machine, machine_description, commit_id, branch, time, digest, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                record.experiment,
                record.file_hash,
                record.machine,
                record.machine_description,
                record.checkout.commit,
                record.checkout.branch,
                record.time,
                record.digest,
                record.source
            ],
        )?;
        let id = transaction.last_insert_rowid();
        {
            let mut insert = transaction.prepare(
                "INSERT INTO measurements (result, cell, metric, higher_is_better, threshold_increase, threshold_decrease,
                 n, median, ci_low, ci_high, run_values) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for m in &record.measurements {
                let stats = m.stats();
                insert.execute(params![
                    id,
                    m.cell,
                    m.metric,
                    m.direction == Direction::HigherIsBetter,
                    m.threshold.0,
                    m.threshold.1,
                    m.values.len() as i64,
                    stats.as_ref().map(|s| s.median),
                    stats.as_ref().map(|s| s.ci_low),
                    stats.as_ref().map(|s| s.ci_high),
                    serde_json::to_string(&m.values)?,
                ])?;
            }
        }
        transaction.commit()?;
        Ok(Appended::Added(record.measurements.len()))
    }

    /// Every result, oldest first (by time, then by the order they were added).
    pub(crate) fn records(&self) -> anyhow::Result<Vec<Record>> {
        let mut select = self.connection.prepare(
            "SELECT id, experiment, file_hash, machine, machine_description, commit_id, branch, time, digest, source
             FROM results ORDER BY time, id",
        )?;
        let mut records: Vec<(i64, Record)> = select
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    Record {
                        experiment: r.get(1)?,
                        file_hash: r.get(2)?,
                        machine: r.get(3)?,
                        machine_description: r.get(4)?,
                        checkout: Checkout { commit: r.get(5)?, branch: r.get(6)? },
                        time: r.get(7)?,
                        digest: r.get(8)?,
                        source: r.get(9)?,
                        measurements: Vec::new(),
                    },
                ))
            })?
            .collect::<Result<_, _>>()?;
        let mut select = self.connection.prepare(
            "SELECT cell, metric, higher_is_better, threshold_increase, threshold_decrease, run_values
             FROM measurements WHERE result = ?1 ORDER BY cell, metric",
        )?;
        for (id, record) in &mut records {
            record.measurements = select
                .query_map([*id], |r| {
                    let values: String = r.get(5)?;
                    Ok(Measurement {
                        cell: r.get(0)?,
                        metric: r.get(1)?,
                        direction: if r.get(2)? { Direction::HigherIsBetter } else { Direction::LowerIsBetter },
                        threshold: (r.get(3)?, r.get(4)?),
                        // A value that is not a finite number (a file written by another tool) is left out.
                        values: serde_json::from_str::<Vec<f64>>(&values)
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|v| v.is_finite())
                            .collect(),
                    })
                })?
                .collect::<Result<_, _>>()?;
        }
        Ok(records.into_iter().map(|(_, r)| r).collect())
    }
}
