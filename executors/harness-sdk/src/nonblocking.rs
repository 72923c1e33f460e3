//! The workload's steps done without blocking, on a tokio runtime (cargo feature `tokio`).
//!
//! An executor built on an event loop prepares an [`AsyncWorkload`] once per run and spawns one future
//! per task, [`AsyncWorkload::run_measured`]; how many run at once, on which threads, is the executor's
//! model. The steps themselves, and what they fold into the checksum, are the SDK's (see
//! [`crate::steps`]), the same as the blocking ones.

use std::io;
use std::sync::Arc;

use crate::protocol::RunRequest;
use crate::trace;
use crate::workload::{Collector, Prepared, SharedMode, Tally};

/// A workload ready to run on a tokio runtime: the [`Prepared`] workload, and what its steps keep on tokio
/// for the run (the `shared` counter's tokio lock, the connections).
#[derive(Debug)]
pub struct AsyncWorkload {
    prepared: Prepared,
    state: crate::steps::AsyncState,
    pub(crate) offload_cpu: bool,
}

impl AsyncWorkload {
    /// Prepares `request`'s workload. With `offload_cpu`, CPU steps (`compute`, `alloc`) run on tokio's
    /// blocking pool instead of the runtime thread that polls the task.
    pub fn new(request: &RunRequest, offload_cpu: bool) -> io::Result<Self> {
        Ok(Self {
            prepared: Prepared::new(request, SharedMode::Memory)?,
            state: crate::steps::AsyncState::new(),
            offload_cpu,
        })
    }

    /// The prepared workload: task count, steps, seed.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    pub(crate) fn state(&self) -> &crate::steps::AsyncState {
        &self.state
    }

    /// Runs task `task` and records its checksum and latency (service time: from the start of its first
    /// step to the end of its last, so time queued before it was first polled does not count) into
    /// `collector`, or its error. Returns whether it succeeded.
    ///
    /// In an open workload it first takes the task from the schedule ([`crate::arrival`]): a dropped task is
    /// counted and not run (and succeeds); otherwise it waits, on the runtime's precise timer, until the
    /// task is due, and records its response time too. A spawner that waits for each task to be due before
    /// it spawns it ([`AsyncWorkload::until_due`]) keeps no more tasks alive than are in flight.
    pub async fn run_measured(self: &Arc<Self>, task: u64, collector: &Collector) -> bool {
        let mut due = None;
        if let Some(schedule) = &self.prepared.schedule {
            if !schedule.take(task) {
                collector.merge(&Tally { dropped: 1, ..Tally::default() });
                return true;
            }
            due = Some(schedule.until_due(task).await);
        }
        let start = trace::now_ns();
        let mut reports = Vec::new();
        match self.run_task_reporting(task, &mut reports).await {
            Ok(checksum) => {
                let end = trace::now_ns();
                match due {
                    None => collector.record(checksum, trace::service_time(start, end)),
                    Some(due) => {
                        let mut tally = Tally::default();
                        tally.record(checksum, trace::service_time(start, end));
                        tally.record_open(task, due, start, end);
                        collector.merge(&tally);
                    }
                }
                collector.report(&self.prepared.metrics, task, &reports);
                trace::task(task, due, start, end);
                true
            }
            Err(e) => {
                collector.fail(e);
                false
            }
        }
    }

    /// Waits until task `task` of an open workload is due (at once for a closed one): a spawner calls it
    /// before it spawns the task.
    pub async fn until_due(&self, task: u64) {
        if let Some(schedule) = &self.prepared.schedule {
            schedule.until_due(task).await;
        }
    }

    /// The `shared` counter's value, `None` when no step uses it. Call it outside the runtime.
    pub fn shared_count(&self) -> io::Result<Option<u64>> {
        self.prepared.shared_count()
    }

    /// Closes the idle connections: call it before the runtime that drives them goes.
    pub fn close_connections(&self) {
        self.state.close_connections();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Resources, Workload};

    /// Every task's future is moved into its task's allocation when it is spawned, and lives until the task
    /// ends: a step kind whose future sits inline in it makes every task of every workload pay for that
    /// size, in copies and in memory, whatever steps the workload has. The rarer, larger steps are boxed
    /// (`run_task_reporting`); this keeps them so.
    #[test]
    fn a_tasks_future_stays_small_whatever_step_kinds_the_sdk_has() {
        let workload = Workload { name: "w".into(), tasks: 1, steps: Vec::new(), arrival: None, metrics: Vec::new() };
        let request = RunRequest {
            workers: 1,
            options: serde_json::Map::new(),
            seed: 1,
            workload,
            resources: Resources::default(),
        };
        let workload = Arc::new(AsyncWorkload::new(&request, false).expect("an empty workload"));
        let collector = Collector::new();
        let future = workload.run_measured(0, &collector);
        let bytes = std::mem::size_of_val(&future);
        assert!(bytes <= 512, "the future of a task takes {bytes} bytes");
    }
}
