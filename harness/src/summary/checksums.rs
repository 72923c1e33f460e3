//! The checksums that disagree where they must agree, read from `runs.csv`: within each group of cells that
//! run the same workload ([`CellPlan::checksum_group`](crate::experiment::CellPlan::checksum_group)), every
//! `ok` run must report the same checksum, whatever its cell's executor and workers.

use std::collections::BTreeMap;

use super::DeclaredCell;
use crate::results::Runs;

/// The checksums a group of cells reported: for each, the cells (by label) and their repetitions.
type Reported<'a> = BTreeMap<&'a str, BTreeMap<String, Vec<u64>>>;

/// How many checksums of a group, and cells of a checksum, a warning names before it counts the rest.
const NAMED: usize = 4;

/// A warning for each group of cells whose `ok` runs reported more than one checksum: the workload, and
/// each checksum with the cells and repetitions that reported it, the most frequent first.
pub(crate) fn disagreements(runs: &Runs, cells: &[DeclaredCell]) -> Vec<String> {
    let Some(column) = runs.position("checksum") else { return Vec::new() };
    // By group: its workload's name, and what its cells reported.
    let mut groups: BTreeMap<&str, (String, Reported<'_>)> = BTreeMap::new();
    for row in runs.rows.iter().filter(|row| row.ok()) {
        let Some(cell) = row.cell.and_then(|c| cells.get((c as usize).checked_sub(1)?)) else { continue };
        let (Some(group), Some(checksum)) = (cell.checksum_group.as_deref(), row.record.get(column)) else { continue };
        let workload = cell.workload.as_ref().map_or_else(String::new, |w| w.name.clone());
        let (_, checksums) = groups.entry(group).or_insert_with(|| (workload, BTreeMap::new()));
        let repetitions = checksums.entry(checksum).or_default().entry(row.label(&runs.axes)).or_default();
        repetitions.extend(row.repetition);
    }
    groups
        .into_values()
        .filter(|(_, checksums)| checksums.len() > 1)
        .map(|(workload, checksums)| {
            let mut checksums: Vec<_> = checksums.into_iter().collect();
            let runs_of = |cells: &BTreeMap<String, Vec<u64>>| cells.values().map(Vec::len).sum::<usize>();
            checksums.sort_by_key(|(_, cells)| std::cmp::Reverse(runs_of(cells)));
            let values: Vec<String> = checksums
                .iter()
                .take(NAMED)
                .map(|(checksum, cells)| {
                    let named: Vec<String> = cells
                        .iter()
                        .take(NAMED)
                        .map(|(label, repetitions)| {
                            let list: Vec<String> = repetitions.iter().map(u64::to_string).collect();
                            let word = if list.len() == 1 { "repetition" } else { "repetitions" };
                            format!("{label} ({word} {})", list.join(", "))
                        })
                        .collect();
                    format!("{checksum} from {}{}", named.join(", "), more(cells.len(), "cells"))
                })
                .collect();
            format!(
                "the checksums of workload `{workload}` disagree where its runs must agree (the same steps, tasks and \
                 seed under every executor): {}{}",
                values.join("; "),
                more(checksums.len(), "checksums")
            )
        })
        .collect()
}

/// ", and N more WHAT" past the ones named.
fn more(count: usize, what: &str) -> String {
    if count > NAMED { format!(", and {} more {what}", count - NAMED) } else { String::new() }
}
