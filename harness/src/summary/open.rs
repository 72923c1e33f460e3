//! Open workloads in `summary.csv`: for each cell of a workload whose tasks arrive at a rate, its offered
//! rate and its *load group* (the cells that differ only in the rate), and for each group:
//!
//! - its service time: the smallest median p50 service time (`latency_p50_s`) of its cells, the task's
//!   length when it does not share the executor with a queue of others;
//! - its capacity by the model ([`crate::ideal::capacity_per_s`]): tasks in flight over that service
//!   time, or cores over the CPU work of a task, whichever is lower: where it is expected to saturate;
//! - its sustainable rate: the highest offered rate up to which, at every rate of the group, the median
//!   p99 response time stays within [`SUSTAINABLE_FACTOR`] times the service time; and the rate above it,
//!   where the group saturated.

use harness_sdk::protocol::Workload;

use super::{CellSummary, DeclaredCell};
use crate::ideal::{self, Waits};

/// The p99 response time of a sustainable rate is at most this many service times.
pub(crate) const SUSTAINABLE_FACTOR: f64 = 2.0;

/// What `summary.csv` says of one cell of an open workload.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSummary {
    /// The rate tasks arrived at, per second.
    pub offered_per_s: f64,
    /// The cell's load group: the index of its first cell.
    pub group: usize,
    /// The group's service time, in seconds.
    pub service_s: Option<f64>,
    /// The group's capacity by the model, tasks per second.
    pub capacity_per_s: Option<f64>,
    /// The group's sustainable rate, `None` when not even its lowest rate is.
    pub sustainable_per_s: Option<f64>,
    /// The lowest rate of the group that is not sustainable, `None` when every one is.
    pub saturated_per_s: Option<f64>,
}

/// What makes cells one load group: all but the rate and the task count it bounds.
fn group_key(cell: &DeclaredCell) -> Option<(String, u32, String, Workload)> {
    let mut workload = cell.workload.as_deref().cloned()?;
    let arrival = workload.arrival.as_mut()?;
    arrival.rate_per_s = 0.0;
    workload.tasks = 0;
    Some((cell.executor.clone(), cell.workers, serde_json::to_string(&*cell.options).unwrap_or_default(), workload))
}

/// Fills [`CellSummary::open`] for every cell of an open workload offered at the rate it declares. A cell
/// that searched for a rate is not one: its runs are probes at rates of its search's choosing, and what it
/// found is its [`CellSummary::search`].
pub(super) fn summarize(cells: &[DeclaredCell], summaries: &mut [CellSummary], cores: u64) {
    let keys: Vec<_> = cells
        .iter()
        .zip(summaries.iter())
        .map(|(cell, summary)| group_key(cell).filter(|_| summary.search.is_none()))
        .collect();
    for (first, key) in keys.iter().enumerate() {
        let Some(key) = key else { continue };
        if keys[..first].iter().any(|k| k.as_ref() == Some(key)) {
            continue;
        }
        let mut members: Vec<usize> = (first..cells.len()).filter(|&i| keys[i].as_ref() == Some(key)).collect();
        let rate = |i: usize| cells[i].workload.as_ref().and_then(|w| w.arrival).map_or(0.0, |a| a.rate_per_s);
        members.sort_by(|a, b| rate(*a).total_cmp(&rate(*b)));
        let median = |i: usize, metric: &str| summaries[i].metric(metric).map(|s| s.median);
        let service_s =
            members.iter().filter_map(|&i| median(i, "latency_p50_s")).filter(|s| *s > 0.0).reduce(f64::min);

        // The CPU work of a task: what a task took beyond its waits, and no more than the CPU time (user
        // plus system) its cell's process spent per task completed, at the group's least.
        let workload = cells[first].workload.as_ref().expect("an open workload");
        let wait_s = Waits::of(workload).wait_s;
        let cpu_per_task = members
            .iter()
            .filter_map(|&i| {
                let cpu = median(i, "user_cpu_s")? + median(i, "system_cpu_s")?;
                let done = cells[i].workload.as_ref()?.tasks as f64 - median(i, "dropped").unwrap_or(0.0);
                (done > 0.0).then(|| cpu / done)
            })
            .reduce(f64::min);
        let capacity_per_s = service_s.and_then(|s| {
            let cell = &cells[first];
            let overlap = ideal::overlap(cell.model.as_ref(), cell.workers, &cell.options, workload.tasks, cores)?;
            let beyond_waits = (s - wait_s).max(0.0);
            ideal::capacity_per_s(overlap, s, cpu_per_task.map_or(beyond_waits, |c| c.min(beyond_waits)))
        });

        let mut sustainable_per_s = None;
        let mut saturated_per_s = None;
        for &i in &members {
            let within = service_s
                .zip(median(i, "response_p99_s"))
                .is_some_and(|(service, p99)| p99 <= SUSTAINABLE_FACTOR * service);
            if !within {
                saturated_per_s = Some(rate(i));
                break;
            }
            sustainable_per_s = Some(rate(i));
        }
        for &i in &members {
            summaries[i].open = Some(OpenSummary {
                offered_per_s: rate(i),
                group: first,
                service_s,
                capacity_per_s,
                sustainable_per_s,
                saturated_per_s,
            });
        }
    }
}
