//! `harness merge DIR... --out DIR`: joins the result folders of an experiment's shards into one.
//!
//! Every shard must have run the same experiment file (same hash). The merged `runs.csv` holds each
//! planned run once, in the canonical order (repetition, then cell); runs no shard has are listed as
//! missing and runs two shards have as duplicated (the first is kept), never silently; a row of a cell or
//! repetition the experiment does not plan is left out, with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::results::{Environment, FolderLock, Runs, files};
use crate::results::{file_hash, histograms};

/// The most runs a merged experiment may plan (cells times repetitions, as `environment.json` says).
pub(crate) const MAX_PLANNED_RUNS: u64 = crate::experiment::MAX_RUNS;
/// How many missing runs a merge lists by name; the rest it counts.
const LISTED: usize = 100;

/// What a merge found.
#[derive(Debug)]
pub(crate) struct MergeReport {
    /// Distinct result folders merged.
    pub shards: usize,
    pub planned: usize,
    pub merged: usize,
    /// How many planned runs no shard has.
    pub missing_count: u64,
    /// (cell, repetition), 1-based, of the first of them.
    pub missing: Vec<(u64, u64)>,
    /// (cell, repetition) of runs more than one shard has, with the number of copies.
    pub duplicated: Vec<((u64, u64), usize)>,
    /// The merged folder's lock, held while its summary and reports are written.
    pub _lock: FolderLock,
    /// (cell, repetition) of rows that are not runs of the plan (a cell or repetition past the experiment's),
    /// left out of the merge.
    pub outside: Vec<(u64, u64)>,
    /// What to say of shards whose last row was cut short (and left out).
    pub cut: Vec<String>,
}

struct Shard {
    dir: PathBuf,
    source: String,
    environment: Environment,
    runs: Runs,
}

fn read_shard(dir: &Path) -> anyhow::Result<Shard> {
    let source = crate::results::open::experiment_source(dir)?;
    let environment =
        Environment::read(dir).with_context(|| format!("cannot read {}/{}", dir.display(), files::ENVIRONMENT))?;
    let runs = Runs::read(&dir.join(files::RUNS))
        .with_context(|| format!("{}/{} is malformed", dir.display(), files::RUNS))?;
    Ok(Shard { dir: dir.to_owned(), source, environment, runs })
}

/// Merges the result folders `dirs` into the new folder `out`.
pub(crate) fn merge(dirs: &[PathBuf], out: &Path) -> anyhow::Result<MergeReport> {
    // The same folder twice (`latest` next to the folder it points at, as a glob finds them) is one shard.
    let mut unique: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let canonical = std::fs::canonicalize(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if !unique.contains(&canonical) {
            unique.push(canonical);
        }
    }
    let shards = unique.iter().map(|d| read_shard(d)).collect::<anyhow::Result<Vec<_>>>()?;
    let first = shards.first().context("nothing to merge")?;
    let hash = file_hash(&first.source);
    for shard in &shards[1..] {
        if file_hash(&shard.source) != hash {
            bail!(
                "{} ran another experiment file than {} ({} against {}); only shards of one file merge",
                shard.dir.display(),
                first.dir.display(),
                file_hash(&shard.source),
                hash
            );
        }
        if shard.runs.header != first.runs.header {
            bail!("{} has other runs.csv columns than {}", shard.dir.display(), first.dir.display());
        }
    }
    let planned_cells = first.environment.experiment.cells.context("environment.json lacks experiment.cells")?;
    let repetitions =
        first.environment.experiment.repetitions.context("environment.json lacks experiment.repetitions")?;

    let planned = planned_cells.checked_mul(repetitions).filter(|&n| n <= MAX_PLANNED_RUNS).with_context(|| {
        format!(
            "{}/{} plans {planned_cells} cells x {repetitions} repetitions, more than the {MAX_PLANNED_RUNS} runs \
             a merge takes",
            first.dir.display(),
            files::ENVIRONMENT
        )
    })?;

    // Each run's rows with the folder of the shard each comes from, for its histogram.
    let mut runs: BTreeMap<(u64, u64), Vec<(&Path, &csv::StringRecord)>> = BTreeMap::new();
    let mut outside = Vec::new();
    for shard in &shards {
        for row in &shard.runs.rows {
            let (Some(cell), Some(repetition)) = (row.cell, row.repetition) else {
                bail!("{}/runs.csv has a row without cell and repetition", shard.dir.display());
            };
            if !(1..=planned_cells).contains(&cell) || !(1..=repetitions).contains(&repetition) {
                outside.push((cell, repetition));
                continue;
            }
            runs.entry((repetition, cell)).or_default().push((&shard.dir, &row.record));
        }
    }
    let mut missing_count = 0;
    let mut missing = Vec::new();
    for key in (1..=repetitions).flat_map(|r| (1..=planned_cells).map(move |c| (r, c))) {
        if !runs.contains_key(&key) {
            missing_count += 1;
            if missing.len() < LISTED {
                missing.push((key.1, key.0));
            }
        }
    }
    let duplicated: Vec<((u64, u64), usize)> =
        runs.iter().filter(|(_, rows)| rows.len() > 1).map(|(&(r, c), rows)| ((c, r), rows.len())).collect();

    let holds_more_than_a_lock = || -> std::io::Result<bool> {
        Ok(out.exists() && std::fs::read_dir(out)?.filter_map(Result::ok).any(|e| e.file_name() != files::LOCK))
    };
    if holds_more_than_a_lock()? {
        bail!("{} exists and is not empty; merge writes a new result folder", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    // Locked, then checked again, so that two merges into one folder cannot both find it empty.
    let lock = FolderLock::acquire(out).map_err(|e| e.diagnostic())?;
    if holds_more_than_a_lock()? {
        bail!("{} exists and is not empty; merge writes a new result folder", out.display());
    }
    std::fs::write(out.join(files::EXPERIMENT), &first.source)?;
    let mut environment = first.environment.clone();
    environment.shard = None;
    let merged_from = shards
        .iter()
        .map(|s| {
            let e = &s.environment;
            json!({ "dir": s.dir, "shard": e.shard, "started": e.started, "hostname": e.hostname })
        })
        .collect();
    environment.extra.insert("merged_from".to_owned(), merged_from);
    environment.write(out)?;
    let mut writer = csv::Writer::from_path(out.join(files::RUNS))?;
    writer.write_record(&first.runs.header)?;
    for (&(repetition, cell), rows) in &runs {
        let (dir, record) = rows[0];
        // The histograms of the row kept, from the same shard: a shard written before them has none.
        for kind in [histograms::Kind::Service, histograms::Kind::Response] {
            let from = histograms::path(dir, kind, cell, repetition);
            if let Some(pairs) = histograms::read(&from).with_context(|| format!("cannot read {}", from.display()))? {
                histograms::write(out, kind, cell, repetition, &pairs)?;
            }
        }
        writer.write_record(record)?;
    }
    writer.flush()?;
    Ok(MergeReport {
        shards: shards.len(),
        planned: planned as usize,
        merged: runs.len(),
        missing_count,
        missing,
        duplicated,
        _lock: lock,
        outside,
        cut: shards.iter().filter_map(|s| s.runs.cut_warning()).collect(),
    })
}
