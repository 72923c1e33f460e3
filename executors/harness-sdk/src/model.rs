//! An executor's declaration of its execution model: how many tasks it keeps in flight and how many
//! cores its CPU work may use. The harness evaluates it for every cell to compute the cell's ideal time
//! and efficiency (`docs/measurement.md`); an executor that declares nothing gets neither.
//!
//! The declaration travels in the plugin's [`ExecutorInfo`](crate::protocol::ExecutorInfo) JSON. Each
//! number is a [`Quantity`]: one, the cell's `workers`, its task count, an integer option, the smallest
//! of several, or a choice on an option's value. The harness caps the CPU parallelism at the machine's
//! cores and makes both numbers at least 1.
//!
//! An executor may also state how precisely it keeps the waits a workload asks for ([`WaitPrecision`]):
//! the harness then warns on every cell that asks for a wait shorter than that, since the cell's times
//! measure the executor's imprecision as much as the workload.
//!
//! ```
//! use harness_sdk::model::{Model, Quantity, WaitPrecision};
//!
//! // A pool of `workers` threads: `workers` tasks in flight, each on its own thread.
//! let pool = Model { tasks_in_flight: Quantity::Workers, cpu_parallelism: Quantity::Workers, waits: None };
//! // An event loop running at most `concurrency` tasks (all of them when unset), its CPU work on one
//! // thread unless `offload_cpu` is true.
//! let in_flight = Quantity::option("concurrency", Quantity::Tasks);
//! let event_loop = Model {
//!     tasks_in_flight: in_flight.clone(),
//!     cpu_parallelism: Quantity::when("offload_cpu", true, in_flight, Quantity::One),
//!     // Waits of 60 us or more are precise when one task waits; 0.5 us more for each further one.
//!     waits: Some(WaitPrecision { shortest_ns: 60_000, per_waiting_task_ns: 500 }),
//! };
//! # let _ = (pool, event_loop);
//! ```

use serde::{Deserialize, Serialize};

/// How an executor overlaps tasks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    /// The most tasks the executor has started and not finished at any moment.
    pub tasks_in_flight: Quantity,
    /// The most cores the tasks' CPU work may use at once (capped by the harness at the machine's cores).
    pub cpu_parallelism: Quantity,
    /// How precisely the executor keeps waits; `None` states nothing (and the harness warns on nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits: Option<WaitPrecision>,
}

/// The shortest wait (a `sleep`, the hold of the `shared` step's lock) an executor keeps *precise*: its
/// median lasts at most [`WaitPrecision::TOLERANCE`] more than asked. It grows with the tasks that wait at
/// the same moment when the executor ends their waits one after another (an event loop wakes its tasks in
/// turn): with `n` tasks waiting at once, the shortest precise wait is
/// `shortest_ns + (n - 1) x per_waiting_task_ns`. The harness counts every task in flight as waiting at
/// once for a `sleep`, and one task for a lock's hold (the lock lets one task hold it at a time).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct WaitPrecision {
    /// The shortest precise wait when one task waits at a time, in nanoseconds.
    pub shortest_ns: u64,
    /// What each further task waiting at the same moment adds to it, in nanoseconds.
    #[serde(default)]
    pub per_waiting_task_ns: u64,
}

impl WaitPrecision {
    /// How much longer than asked a precise wait may last: 20%.
    pub const TOLERANCE: f64 = 0.2;

    /// The shortest precise wait when `waiting` tasks (at least one) wait at the same moment, in nanoseconds.
    pub fn shortest_with(&self, waiting: u64) -> u64 {
        self.shortest_ns.saturating_add(waiting.saturating_sub(1).saturating_mul(self.per_waiting_task_ns))
    }
}

/// A number the harness works out for each cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// 1.
    One,
    /// The cell's `workers`.
    Workers,
    /// The cell's task count.
    Tasks,
    /// The value of the integer option `name`, or `unset` when the cell leaves it unset (`null`).
    Option { name: String, unset: Box<Quantity> },
    /// The smallest of these (1 when the list is empty).
    Min(Vec<Quantity>),
    /// `then` when option `option` has the value `is`, `otherwise` when it has another or none.
    When { option: String, is: serde_json::Value, then: Box<Quantity>, otherwise: Box<Quantity> },
}

impl Quantity {
    /// The integer option `name`, or `unset` when it is unset.
    pub fn option(name: &str, unset: Quantity) -> Self {
        Self::Option { name: name.to_owned(), unset: Box::new(unset) }
    }

    /// The smallest of `quantities`.
    pub fn min(quantities: impl IntoIterator<Item = Quantity>) -> Self {
        Self::Min(quantities.into_iter().collect())
    }

    /// `then` when option `option` equals `is`, `otherwise` else.
    pub fn when(option: &str, is: impl Into<serde_json::Value>, then: Quantity, otherwise: Quantity) -> Self {
        Self::When { option: option.to_owned(), is: is.into(), then: Box::new(then), otherwise: Box::new(otherwise) }
    }
}
