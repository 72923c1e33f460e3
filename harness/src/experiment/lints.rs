//! Likely mistakes in a valid experiment file: what `validate`, `plan` and `run` warn about without
//! refusing the file.

use std::collections::BTreeMap;

use super::{Experiment, WORKERS};

/// The warnings of `experiment`, one line each.
pub(crate) fn warnings(experiment: &Experiment) -> Vec<String> {
    let mut out = Vec::new();
    ignored_workers(experiment, &mut out);
    restarted_cell_services(experiment, &mut out);
    undecidable_pairs(experiment, &mut out);
    unpaired_cells(experiment, &mut out);
    too_short_for_the_gate(experiment, &mut out);
    out
}

/// Cells of a paired comparison with no cell of the baseline's value among the cells of the same other axes:
/// nothing to compare them with.
fn unpaired_cells(experiment: &Experiment, out: &mut Vec<String>) {
    let Some(baseline) = &experiment.gate.baseline else { return };
    let key = |cell: &super::CellPlan| cell.pair_key(&baseline.pair_by);
    let based: Vec<Vec<String>> =
        experiment.cells.iter().filter(|c| c.value(&baseline.axis) == baseline.value).map(key).collect();
    let alone: Vec<String> = experiment
        .cells
        .iter()
        .filter(|c| c.value(&baseline.axis) != baseline.value && !based.contains(&key(c)))
        .map(|c| c.label(&experiment.columns))
        .collect();
    if let Some(first) = alone.first() {
        let others = match alone.len() {
            1 => String::new(),
            n => format!(" and {} more cells", n - 1),
        };
        out.push(format!(
            "{first}{others}: no cell of `{} = {}` has the same values of the other axes of the matrix, so \
             `[ci] baseline` compares them with nothing",
            baseline.axis, baseline.value
        ));
    }
}

/// Cells of waits alone whose runs, by their executor's model, are so short that the gate's floor of times
/// is a larger change than its threshold: only a change beyond the floor could count. Said for files with a
/// `[ci]` table; cells with work of their own are judged once their runs are measured.
fn too_short_for_the_gate(experiment: &Experiment, out: &mut Vec<String>) {
    let gate = &experiment.gate;
    let floor = if gate.baseline.is_some() { gate.paired_floor("run_s") } else { gate.floor("run_s") };
    let threshold = gate.threshold("run_s").increase;
    if !experiment.has_gate() || floor <= 0.0 || !gate.metrics.iter().any(|m| m == "run_s" || m == "throughput_per_s") {
        return;
    }
    let cores = crate::machine::logical_cpus();
    let short: Vec<(String, f64)> = experiment
        .cells
        .iter()
        .filter(|cell| cell.workload.arrival.is_none())
        .filter_map(|cell| {
            let waits = crate::ideal::Waits::of(&cell.workload);
            if waits.costs_cpu || waits.wait_s <= 0.0 {
                return None;
            }
            let model = cell.executor.model.as_ref();
            let overlap = crate::ideal::overlap(model, cell.workers, &cell.options, cell.workload.tasks, cores)?;
            let (ideal, _) = crate::ideal::ideal_s(cell.workload.tasks, waits, 0.0, overlap);
            (ideal > 0.0 && floor / ideal > threshold).then(|| (cell.label(&experiment.columns), ideal))
        })
        .collect();
    let Some((first, ideal)) = short.first() else { return };
    let others = match short.len() {
        1 => String::new(),
        n => format!(" and {} more cells", n - 1),
    };
    out.push(format!(
        "{first}{others}: runs of about {:.3} ms (their waits) are too short for the gate's threshold of run_s \
         (+{:.0}%) to count: a change of time counts only beyond the floor of {:.3} ms, +{:.0}% of it; give the \
         runs more work, lower `[ci] time_floor`, or compare paired (`[ci] baseline`), which has no floor of times",
        ideal * 1e3,
        threshold * 100.0,
        floor * 1e3,
        floor / ideal * 100.0
    ));
}

/// A paired comparison whose rounds are too few for any interval: it can only ever be inconclusive.
fn undecidable_pairs(experiment: &Experiment, out: &mut Vec<String>) {
    use crate::stats::sequential::{ALPHA, alpha_at, looks};
    if experiment.gate.baseline.is_none() {
        return;
    }
    let (min, max) = (experiment.rounds.min, experiment.rounds.max);
    let last = *looks(min, max).last().expect("at least one look");
    let alpha = alpha_at(last, min, max, ALPHA);
    // `n` differences give no interval below a confidence of 1 - 2^(1 - n).
    if 2.0 * 0.5f64.powi(last.min(64) as i32) > alpha {
        let way = if experiment.rounds.is_range() {
            "a larger `max`, such as `{ min = 6, max = 60 }`"
        } else {
            "at least 6 repetitions, or a range such as `{ min = 6, max = 60 }`"
        };
        out.push(format!(
            "`[ci] baseline` compares in {last} rounds, too few for any interval at {}% confidence: every \
             comparison will be inconclusive; use {way}",
            ((1.0 - alpha) * 1000.0).round() / 10.0
        ));
    }
}

/// A service of scope `cell` that more than one cell needs, in an order other than `sequential`: the cells'
/// runs alternate, so it is started again before nearly every run.
fn restarted_cell_services(experiment: &Experiment, out: &mut Vec<String>) {
    if experiment.order == super::Order::Sequential {
        return;
    }
    for (index, service) in experiment.services.iter().enumerate() {
        let cells = experiment.cells.iter().filter(|c| c.services.contains(&index)).count();
        if service.scope == super::Scope::Cell && cells > 1 {
            out.push(format!(
                "service `{}` has scope = \"cell\" and {cells} cells need it, whose runs alternate in the {} order:                  it is started again whenever the next run is of another cell, nearly every run;                  with `order = \"sequential\"` each cell's runs share one",
                service.name,
                match experiment.order {
                    super::Order::Random => "random",
                    _ => "interleaved",
                }
            ));
        }
    }
}

/// Cells that differ only in `workers`, of an executor whose declared model does not use `workers` (`sync`,
/// or `async` with one event-loop thread): two cells that measure the same thing.
fn ignored_workers(experiment: &Experiment, out: &mut Vec<String>) {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, cell) in experiment.cells.iter().enumerate() {
        let Some(model) = &cell.executor.model else { continue };
        if !cell.values.contains_key(WORKERS) || crate::ideal::uses_workers(model, &cell.options) {
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
