//! The load a cell drew: how many tasks its executor kept in flight (by the model it declares), and how
//! many connections its `net`, `http` and `redis` steps kept open. A connection is a task slot's by default
//! (one per worker of a blocking executor, one per task in flight of an event loop), so the two are the
//! same number unless a step opens one per request or shares one among every task in flight; then the
//! reports say so, and a chart that draws a pipelined cell beside a cell of one connection per slot does
//! not pass them off as the same load.

use harness_sdk::protocol::{Connect, Step, Workload};

use super::DeclaredCell;

/// The `summary.csv` columns of [`Slots`], on a cell's `run_s` row.
pub(crate) const COLUMNS: [&str; 2] = ["in_flight", "connections"];

/// The load of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    /// The most tasks in flight at once (the model's, at most the task count; a search's, that of its
    /// probes at its highest rate).
    pub in_flight: u64,
    /// The connections of its steps that connect, in order, each kind once: `None` when it has none.
    pub connections: Vec<(&'static str, Connect)>,
}

impl Slots {
    /// The load of `cell`; `None` when its executor declares no model or its workload is unknown.
    pub(crate) fn of(cell: &DeclaredCell) -> Option<Self> {
        let workload = cell.workload.as_ref()?;
        // A search's workload holds the tasks of its first probe, at its lowest rate; the later ones have more.
        let tasks = cell.search.as_ref().map_or(workload.tasks, |search| search.bound.tasks(search.highest));
        let overlap = crate::ideal::overlap(cell.model.as_ref(), cell.workers, &cell.options, tasks, u64::MAX)?;
        Some(Slots { in_flight: overlap.tasks_in_flight.min(tasks.max(1)), connections: connecting(workload) })
    }

    /// Whether its steps connect to a server: then its load is worth a reader's attention.
    pub(crate) fn connects(&self) -> bool {
        !self.connections.is_empty()
    }

    /// The connections as `summary.csv` writes them: a number (per server its steps go to), `per_request`,
    /// or `1 shared`; `kind=...` for each kind when its kinds differ; blank without such steps.
    pub(crate) fn connections_text(&self) -> String {
        let one = |connect: Connect| match connect {
            Connect::Reuse => self.in_flight.to_string(),
            Connect::PerRequest => "per_request".to_owned(),
            Connect::Shared => "1 shared".to_owned(),
        };
        match self.connections.as_slice() {
            [] => String::new(),
            [(_, first), rest @ ..] if rest.iter().all(|(_, c)| c == first) => one(*first),
            all => all.iter().map(|(kind, c)| format!("{kind}={}", one(*c))).collect::<Vec<_>>().join(";"),
        }
    }

    /// A few words for a reader: `16 in flight`, and `, 1 shared connection` or `, a connection per request`
    /// where the connections are not one per task slot.
    pub(crate) fn label(&self) -> String {
        let mut label = format!("{} in flight", self.in_flight);
        if self.connections.iter().any(|(_, c)| *c == Connect::Shared) {
            label.push_str(", 1 shared connection");
        } else if self.connections.iter().any(|(_, c)| *c == Connect::PerRequest) {
            label.push_str(", a connection per request");
        }
        label
    }
}

/// The steps of `workload` that connect to a server: each kind once, with its first step's `connect`.
fn connecting(workload: &Workload) -> Vec<(&'static str, Connect)> {
    let mut found: Vec<(&'static str, Connect)> = Vec::new();
    for step in &workload.steps {
        let connect = match step {
            Step::Net { connect, .. } | Step::Redis { connect, .. } => *connect,
            Step::Http(request) => request.connect,
            _ => continue,
        };
        if !found.iter().any(|(kind, _)| *kind == step.kind()) {
            found.push((step.kind(), connect));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_the_slots_unless_shared_or_per_request() {
        let slots = |connections| Slots { in_flight: 16, connections };
        assert_eq!(slots(vec![]).connections_text(), "");
        assert_eq!(slots(vec![("http", Connect::Reuse)]).connections_text(), "16");
        assert_eq!(slots(vec![("redis", Connect::Shared)]).connections_text(), "1 shared");
        assert_eq!(
            slots(vec![("http", Connect::Reuse), ("redis", Connect::Shared)]).connections_text(),
            "http=16;redis=1 shared"
        );
        assert_eq!(slots(vec![("redis", Connect::Shared)]).label(), "16 in flight, 1 shared connection");
        assert_eq!(slots(vec![("net", Connect::PerRequest)]).label(), "16 in flight, a connection per request");
        assert_eq!(slots(vec![("http", Connect::Reuse)]).label(), "16 in flight");
    }
}
