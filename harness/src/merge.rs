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

use crate::results::file_hash;
use crate::results::{Environment, Runs, files};

/// What a merge found.
#[derive(Debug)]
pub(crate) struct MergeReport {
    /// Distinct result folders merged.
    pub shards: usize,
    pub planned: usize,
    pub merged: usize,
    /// (cell, repetition), 1-based, of runs no shard has.
    pub missing: Vec<(u64, u64)>,
    /// (cell, repetition) of runs more than one shard has, with the number of copies.
    pub duplicated: Vec<((u64, u64), usize)>,
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

    let planned = planned_cells.saturating_mul(repetitions);
    if planned > crate::experiment::MAX_RUNS {
        bail!(
            "{}/environment.json plans {planned_cells} cells x {repetitions} repetitions, more than the {} runs an \
             experiment may have",
            first.dir.display(),
            crate::experiment::MAX_RUNS
        );
    }

    let mut runs: BTreeMap<(u64, u64), Vec<&csv::StringRecord>> = BTreeMap::new();
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
            runs.entry((repetition, cell)).or_default().push(&row.record);
        }
    }
    let missing: Vec<(u64, u64)> = (1..=repetitions)
        .flat_map(|r| (1..=planned_cells).map(move |c| (r, c)))
        .filter(|key| !runs.contains_key(key))
        .map(|(r, c)| (c, r))
        .collect();
    let duplicated: Vec<((u64, u64), usize)> =
        runs.iter().filter(|(_, rows)| rows.len() > 1).map(|(&(r, c), rows)| ((c, r), rows.len())).collect();

    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty; merge writes a new result folder", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
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
    for rows in runs.values() {
        writer.write_record(rows[0])?;
    }
    writer.flush()?;
    Ok(MergeReport {
        shards: shards.len(),
        planned: planned as usize,
        merged: runs.len(),
        missing,
        duplicated,
        outside,
        cut: shards.iter().filter_map(|s| s.runs.cut_warning()).collect(),
    })
}
