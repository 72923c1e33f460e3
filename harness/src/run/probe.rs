//! A probe of a rate search ([`crate::search`]): the cell at the probe's rate, and the verdict of its run.

use harness_sdk::arrival::Schedule;

use super::{Outcome, Status};
use crate::experiment::CellPlan;
use crate::search::{Measured, Search, Verdict};

/// `cell` offered at `rate`: its arrival at that rate, with the task count the search's bound gives it.
pub(crate) fn at_rate(cell: &CellPlan, search: &Search, rate: f64) -> CellPlan {
    let mut probe = cell.clone();
    let workload = std::sync::Arc::make_mut(&mut probe.workload);
    if let Some(arrival) = workload.arrival.as_mut() {
        arrival.rate_per_s = rate;
    }
    workload.tasks = search.bound.tasks(rate);
    probe
}

/// The verdict of a probe's run, `probe` the cell as it ran ([`at_rate`]): a run that did not end `ok`
/// fails; else its response times against the objective, and whether its rate was offered.
pub(crate) fn verdict(probe: &CellPlan, search: &Search, seed: u64, outcome: &Outcome) -> Verdict {
    let (Status::Ok, Some(report)) = (outcome.status, &outcome.report) else { return Verdict::Fail };
    let (Some(open), Some(arrival)) = (&report.open, &probe.workload.arrival) else { return Verdict::Fail };
    let tasks = probe.workload.tasks;
    // When the last task was due: the same schedule the executor drew, from the same seed.
    let last_due_s = match tasks {
        0 => 0.0,
        n => Schedule::new(arrival, n, seed).offset_ns(n - 1) as f64 / 1e9,
    };
    let r = &open.response;
    crate::search::verdict(&Measured {
        response: [r.mean_s, r.p50_s, r.p90_s, r.p99_s, r.max_s],
        tasks,
        dropped: open.dropped,
        last_start_lag_s: open.last_start_lag_s,
        last_due_s,
        objective: &search.objective,
    })
}
