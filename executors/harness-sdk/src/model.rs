//! An executor's declaration of its execution model: how many tasks it keeps in flight and how many
//! cores its CPU work may use. The harness evaluates it for every cell to compute the cell's ideal time
//! and efficiency (`docs/measurement.md`); an executor that declares nothing gets neither.
//!
//! The declaration travels in the plugin's [`ExecutorInfo`](crate::protocol::ExecutorInfo) JSON. Each
//! number is a [`Quantity`]: one, the cell's `workers`, its task count, an integer option, the smallest
//! of several, or a choice on an option's value. The harness caps the CPU parallelism at the machine's
//! cores and makes both numbers at least 1.
//!
//! ```
//! use harness_sdk::model::{Model, Quantity};
//!
//! // A pool of `workers` threads: `workers` tasks in flight, each on its own thread.
//! let pool = Model { tasks_in_flight: Quantity::Workers, cpu_parallelism: Quantity::Workers };
//! // An event loop running at most `concurrency` tasks (all of them when unset), its CPU work on one
//! // thread unless `offload_cpu` is true.
//! let in_flight = Quantity::option("concurrency", Quantity::Tasks);
//! let event_loop = Model {
//!     tasks_in_flight: in_flight.clone(),
//!     cpu_parallelism: Quantity::when("offload_cpu", true, in_flight, Quantity::One),
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
