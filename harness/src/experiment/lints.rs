//! Likely mistakes in a valid experiment file: what `validate`, `plan` and `run` warn about without
//! refusing the file.

use std::collections::BTreeMap;

use super::{Experiment, WORKERS};

/// The warnings of `experiment`, one line each.
pub(crate) fn warnings(experiment: &Experiment) -> Vec<String> {
    let mut out = Vec::new();
    ignored_workers(experiment, &mut out);
    out
}

/// Cells that differ only in `workers`, of an executor whose declared model does not use `workers` (`sync`,
/// or `async` with one event-loop thread): two cells that measure the same thing.
fn ignored_workers(experiment: &Experiment, out: &mut Vec<String>) {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, cell) in experiment.cells.iter().enumerate() {
        let Some(model) = &cell.executor.model else { continue };
        if !cell.values.contains_key(WORKERS) || crate::model::uses_workers(model, &cell.options) {
            continue;
        }
        let others: Vec<String> = experiment
            .columns
            .iter()
            .filter(|c| c.as_str() != WORKERS)
            .map(|c| format!("{c}={}", cell.value(c)))
            .collect();
        let key = format!("{}\u{1f}{}", cell.executor.name, others.join("\u{1f}"));
        groups.entry(key).or_default().push(index);
    }
    for cells in groups.values().filter(|cells| cells.len() > 1) {
        let first = &experiment.cells[cells[0]];
        let numbers: Vec<String> = cells.iter().map(|i| (i + 1).to_string()).collect();
        let workers: Vec<String> = cells.iter().map(|&i| experiment.cells[i].value(WORKERS)).collect();
        out.push(format!(
            "cells {} differ only in workers ({}), which `{}` does not use with these options: they measure the \
             same thing; keep one of them with `exclude`",
            numbers.join(", "),
            workers.join(", "),
            first.executor.name
        ));
    }
}
