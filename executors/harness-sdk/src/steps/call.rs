//! `call`: calls a function of a step library ([`crate::steplib`]) with the step's argument, `${task}` and
//! `${worker}` substituted. CPU work like `compute`: on tokio, on the runtime thread or on its blocking
//! pool. The metrics the function recorded go into the task's reports. Yields what the function returned.

use std::io;

use super::{Cost, Work};
use crate::protocol::Call;
use crate::workload::Prepared;

/// The numbers a task reported for custom metrics: (index of the metric, number).
type Reports = Vec<(usize, f64)>;

impl Prepared {
    /// Calls a step library's function for task `task`; adds the metrics it recorded to `reports`.
    pub(crate) fn call(&self, call: &Call, task: u64, reports: &mut Reports) -> io::Result<u64> {
        let library = crate::steplib::Loaded::open(&call.library)?;
        let arg = crate::exec::expand(&call.arg, task, crate::worker::index());
        let mut recorded = Vec::new();
        let value = library.call(call.function, &call.name, task, self.seed, &arg, &mut recorded)?;
        for (name, number) in recorded {
            let index = self.metrics.recorded(&name).ok_or_else(|| {
                io::Error::other(format!(
                    "task {task}: `{}` recorded metric `{name}`, which the workload does not declare with from = \"call\"",
                    call.name
                ))
            })?;
            reports.push((index, number));
        }
        Ok(value)
    }
}

/// The `call` step of task `task` on tokio's blocking pool: what the function returned, and the metrics it
/// recorded. Not an `async fn`: every task's future holds only the handle.
#[cfg(feature = "tokio")]
pub(super) fn offloaded(
    workload: &std::sync::Arc<crate::nonblocking::AsyncWorkload>,
    call: &Call,
    task: u64,
) -> tokio::task::JoinHandle<io::Result<(u64, Reports)>> {
    let (this, call) = (std::sync::Arc::clone(workload), call.clone());
    tokio::task::spawn_blocking(move || {
        let mut recorded = Vec::new();
        this.prepared().call(&call, task, &mut recorded).map(|value| (value, recorded))
    })
}

/// CPU work in the task's process, like `compute`.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Cpu };

/// A function's value must be the same under every executor (docs/writing-a-step-library.md), unless its
/// argument holds the worker's number, which depends on how tasks were shared.
pub(super) fn deterministic(call: &Call) -> bool {
    !call.arg.contains("${worker}")
}

/// `call LIBRARY::FUNCTION(ARG)`.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, call: &Call) -> std::fmt::Result {
    write!(f, "call {}({})", call.name, call.arg)
}
