//! The ideal-time model: how long a cell's run would take if its execution model did what it promises
//! perfectly, overlapping waits up to its concurrency and spreading CPU work over the cores it may use.
//! `efficiency` in `summary.csv` is this ideal over the measured median `run_s`.
//!
//! Per task, a workload has a wait time `W` (its `sleep`s, `net` delays and `shared` holds), of which `H` is
//! spent holding the shared lock, and a CPU cost `C` (everything else). `C` is measured, not guessed: the
//! `sync` cell of the same workload runs every task in turn, so its median `run_s` is `tasks x (W + C)`;
//! a workload of sleeps alone has `C = 0`. An executor has up to `k` tasks in flight and runs CPU work on
//! up to `p` cores. Three lower bounds, and the ideal is the tightest:
//!
//! ```text
//! ideal = max( tasks x C / p,               CPU work spread over p cores
//!              ceil(tasks / k) x (W + C),    k tasks at a time, each W + C long
//!              tasks x H )                   the lock, held by one task at a time
//! ```
//!
//! For waits alone this is `ceil(tasks / k) x W`; for CPU work alone, `tasks x C / min(workers, cores)`
//! (up to rounding to whole tasks). `docs/measurement.md` states it for readers of results.
//!
//! An open workload (tasks arriving at a rate) gets a capacity instead, the rate above which its queue
//! grows: [`capacity_per_s`].

use harness_sdk::model::{Model, Quantity};
use harness_sdk::protocol::Workload;
use harness_sdk::steps::{Wait, Work};

/// How much an executor overlaps: tasks in flight, and cores its CPU work may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overlap {
    pub tasks_in_flight: u64,
    pub cpu_parallelism: u64,
}

/// The overlap of one cell, from the model its executor declares; `None` when it declares none.
/// CPU parallelism is capped at the machine's `cores`, and both numbers are at least 1.
pub(crate) fn overlap(
    model: Option<&Model>,
    workers: u32,
    options: &serde_json::Map<String, serde_json::Value>,
    tasks: u64,
    cores: u64,
) -> Option<Overlap> {
    let model = model?;
    let cell = Cell { workers: u64::from(workers.max(1)), tasks, options };
    Some(Overlap {
        tasks_in_flight: cell.evaluate(&model.tasks_in_flight),
        cpu_parallelism: cell.evaluate(&model.cpu_parallelism).min(cores.max(1)),
    })
}

/// Whether a cell runs its tasks one after another on one core: one task in flight, CPU work on one core.
/// Such a cell's run time is `tasks x (W + C)`, which is where the model takes a workload's CPU cost from,
/// and its executor is what speedup is measured against.
pub(crate) fn is_sequential(
    model: Option<&Model>,
    workers: u32,
    options: &serde_json::Map<String, serde_json::Value>,
    tasks: u64,
) -> bool {
    overlap(model, workers, options, tasks, u64::MAX) == Some(Overlap { tasks_in_flight: 1, cpu_parallelism: 1 })
}

/// Whether the model of a cell with `options` depends on `workers` at all: when it does not, cells that
/// differ only in `workers` measure the same thing.
pub(crate) fn uses_workers(model: &Model, options: &serde_json::Map<String, serde_json::Value>) -> bool {
    fn refers(quantity: &Quantity, options: &serde_json::Map<String, serde_json::Value>) -> bool {
        match quantity {
            Quantity::One | Quantity::Tasks => false,
            Quantity::Workers => true,
            Quantity::Option { name, unset } => {
                options.get(name).is_none_or(serde_json::Value::is_null) && refers(unset, options)
            }
            Quantity::Min(quantities) => quantities.iter().any(|q| refers(q, options)),
            Quantity::When { option, is, then, otherwise } => {
                refers(if options.get(option) == Some(is) { then } else { otherwise }, options)
            }
        }
    }
    refers(&model.tasks_in_flight, options) || refers(&model.cpu_parallelism, options)
}

/// A wait of a cell shorter than its executor keeps precise ([`harness_sdk::model::WaitPrecision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImpreciseWait {
    /// The step: `sleep` or `shared` (its lock's hold).
    pub step: &'static str,
    /// The shortest such wait of the workload, in nanoseconds.
    pub wait_ns: u64,
    /// The shortest wait the executor keeps precise with `waiting` tasks waiting at once, in nanoseconds.
    pub precise_ns: u64,
    pub waiting: u64,
}

/// The waits of `workload` shorter than `model` declares it keeps precise, the shortest of each step kind:
/// a `sleep` with every task in flight waiting at once, a `shared` hold with one (the lock's holder).
/// Empty when the model states no precision. `net` delays are the loopback server's waits, not the
/// executor's.
pub(crate) fn imprecise_waits(
    model: Option<&Model>,
    workers: u32,
    options: &serde_json::Map<String, serde_json::Value>,
    workload: &Workload,
) -> Vec<ImpreciseWait> {
    let Some((model, precision)) = model.and_then(|m| Some((m, m.waits?))) else {
        return Vec::new();
    };
    let cell = Cell { workers: u64::from(workers.max(1)), tasks: workload.tasks, options };
    let mut in_flight = cell.evaluate(&model.tasks_in_flight).min(workload.tasks.max(1));
    if let Some(arrival) = &workload.arrival {
        // Tasks arriving at a rate overlap as many as arrive during one task's waits (Little's law), however
        // many the run has.
        let overlapping = (arrival.rate_per_s * Waits::of(workload).wait_s).ceil().max(1.0) as u64;
        in_flight = in_flight.min(overlapping);
    }
    let mut found: Vec<ImpreciseWait> = Vec::new();
    for step in &workload.steps {
        let (wait_ns, waiting) = match step.cost().wait {
            Some(Wait::Idle { nanos }) => (nanos, in_flight),
            // The lock's holder.
            Some(Wait::Hold { nanos, .. }) => (nanos, 1),
            Some(Wait::Server { .. }) | None => continue,
        };
        let name = step.kind();
        let precise_ns = precision.shortest_with(waiting);
        // A wait of zero is no wait.
        if wait_ns == 0 || wait_ns >= precise_ns {
            continue;
        }
        match found.iter_mut().find(|f| f.step == name) {
            Some(f) if f.wait_ns <= wait_ns => {}
            Some(f) => f.wait_ns = wait_ns,
            None => found.push(ImpreciseWait { step: name, wait_ns, precise_ns, waiting }),
        }
    }
    found
}

/// What a [`Quantity`] can refer to.
struct Cell<'a> {
    workers: u64,
    tasks: u64,
    options: &'a serde_json::Map<String, serde_json::Value>,
}

impl Cell<'_> {
    fn evaluate(&self, quantity: &Quantity) -> u64 {
        let value = match quantity {
            Quantity::One => 1,
            Quantity::Workers => self.workers,
            Quantity::Tasks => self.tasks,
            Quantity::Option { name, unset } => match self.options.get(name).and_then(serde_json::Value::as_u64) {
                Some(value) => value,
                None => self.evaluate(unset),
            },
            Quantity::Min(quantities) => quantities.iter().map(|q| self.evaluate(q)).min().unwrap_or(1),
            Quantity::When { option, is, then, otherwise } => {
                self.evaluate(if self.options.get(option) == Some(is) { then } else { otherwise })
            }
        };
        value.max(1)
    }
}

/// The waits of one task, in seconds, from its steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Waits {
    /// `W`: every wait of the task.
    pub wait_s: f64,
    /// `H`: the part of `W` spent holding the shared lock.
    pub hold_s: f64,
    /// Whether any step costs CPU (anything but `sleep`), so `C` must be measured.
    pub costs_cpu: bool,
}

impl Waits {
    pub(crate) fn of(workload: &Workload) -> Self {
        let mut waits = Self { wait_s: 0.0, hold_s: 0.0, costs_cpu: false };
        let s = |nanos: u64| nanos as f64 / 1e9;
        for step in &workload.steps {
            let cost = step.cost();
            if let Some(wait) = cost.wait {
                waits.wait_s += s(wait.nanos());
                // Without a lock, holds overlap: they serialize nothing.
                if let Wait::Hold { nanos, serializes: true } = wait {
                    waits.hold_s += s(nanos);
                }
            }
            // Whatever else a step does (a program, a round trip) is measured, not declared: what the `sync`
            // cell took per task.
            if cost.work != Work::None {
                waits.costs_cpu = true;
            }
        }
        waits
    }

    /// `C` from the median `run_s` of the workload's `sync` cell, and no more than the CPU time (user plus
    /// system) its process spent, when known.
    pub(crate) fn cpu_per_task_s(&self, tasks: u64, sync_run_s: f64, sync_cpu_s: Option<f64>) -> f64 {
        if tasks == 0 {
            return 0.0;
        }
        let n = tasks as f64;
        let from_run = (sync_run_s / n - self.wait_s).max(0.0);
        sync_cpu_s.map_or(from_run, |cpu| from_run.min(cpu / n))
    }
}

/// Which bound the ideal time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Cpu,
    Waits,
    Lock,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Cpu => "cpu",
            Bound::Waits => "waits",
            Bound::Lock => "lock",
        }
    }
}

/// The ideal run time in seconds, and which bound set it.
pub(crate) fn ideal_s(tasks: u64, waits: Waits, cpu_per_task_s: f64, overlap: Overlap) -> (f64, Bound) {
    let n = tasks as f64;
    let cpu = n * cpu_per_task_s / overlap.cpu_parallelism.max(1) as f64;
    let rounds = tasks.div_ceil(overlap.tasks_in_flight.max(1)) as f64;
    let chains = rounds * (waits.wait_s + cpu_per_task_s);
    let lock = n * waits.hold_s;
    // Ties go to the first: a pure CPU workload on one core is "cpu", not "waits".
    [(cpu, Bound::Cpu), (chains, Bound::Waits), (lock, Bound::Lock)]
        .into_iter()
        .fold((0.0, Bound::Cpu), |best, next| if next.0 > best.0 { next } else { best })
}

/// The open case: the highest rate (tasks per second) a cell can serve, by its model. Up to `k` tasks are
/// in flight, each taking its service time `s` (measured); their CPU work, `C` per task, runs on up to `p`
/// cores. So at most `k / s` tasks finish per second, and `p / C`:
///
/// ```text
/// capacity = min( k / s,  p / C )
/// ```
pub(crate) fn capacity_per_s(overlap: Overlap, service_s: f64, cpu_per_task_s: f64) -> Option<f64> {
    if service_s <= 0.0 {
        return None;
    }
    let chains = overlap.tasks_in_flight.max(1) as f64 / service_s;
    let cpu = if cpu_per_task_s > 0.0 { overlap.cpu_parallelism.max(1) as f64 / cpu_per_task_s } else { f64::INFINITY };
    Some(chains.min(cpu))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_sdk::protocol::{SharedLock, SharedStore, Step};

    #[test]
    fn capacity_is_tasks_in_flight_over_service_time_or_cores_over_cpu() {
        let overlap = |k, p| Overlap { tasks_in_flight: k, cpu_parallelism: p };
        // 8 threads, 10 ms a task of which 0.1 ms CPU on 2 cores: 800/s, the waits bound it.
        let eight = capacity_per_s(overlap(8, 2), 0.010, 0.000_1).unwrap();
        assert!((eight - 800.0).abs() < 1e-9, "{eight}");
        // An event loop with 10,000 in flight on one core: 10,000 / 0.1 ms of CPU.
        let event_loop = capacity_per_s(overlap(1_000_000, 1), 0.010, 0.000_1).unwrap();
        assert!((event_loop - 10_000.0).abs() < 1e-6, "{event_loop}");
        assert_eq!(capacity_per_s(overlap(1, 1), 0.0, 0.0), None);
    }

    fn workload(steps: Vec<Step>, tasks: u64) -> Workload {
        Workload { name: "w".to_owned(), tasks, steps, arrival: None, metrics: Vec::new() }
    }

    fn options(pairs: &[(&str, serde_json::Value)]) -> serde_json::Map<String, serde_json::Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    /// The models the built-in executors declare, as the harness reads them from their info JSON.
    fn declared(executor: &str) -> Option<Model> {
        let json = match executor {
            "sync" => r#"{"tasks_in_flight": "one", "cpu_parallelism": "one"}"#,
            "threaded" | "multiprocess" => r#"{"tasks_in_flight": "workers", "cpu_parallelism": "workers"}"#,
            "async" => {
                r#"{"tasks_in_flight": {"option": {"name": "concurrency", "unset": "tasks"}},
                    "cpu_parallelism": {"when": {"option": "offload_cpu", "is": true,
                        "then": {"option": {"name": "concurrency", "unset": "tasks"}},
                        "otherwise": {"when": {"option": "flavor", "is": "multi_thread",
                            "then": "workers", "otherwise": "one"}}}}}"#
            }
            _ => return None,
        };
        Some(serde_json::from_str(json).unwrap())
    }

    fn overlap(
        executor: &str,
        workers: u32,
        options: &serde_json::Map<String, serde_json::Value>,
        tasks: u64,
        cores: u64,
    ) -> Option<Overlap> {
        super::overlap(declared(executor).as_ref(), workers, options, tasks, cores)
    }

    #[test]
    fn waits_shorter_than_the_declared_precision_are_found_by_concurrency() {
        let mut model = declared("async").unwrap();
        let steps = vec![
            Step::Sleep { nanos: 30_000 },
            Step::Sleep { nanos: 20_000 },
            Step::Shared { hold_nanos: 20_000, store: SharedStore::Executor, lock: SharedLock::Exclusive },
            Step::Net { request: 0, response: 0, delay_nanos: 1, connect: harness_sdk::protocol::Connect::Reuse },
        ];
        let none = options(&[]);
        assert_eq!(imprecise_waits(Some(&model), 4, &none, &workload(steps.clone(), 10)), vec![]);
        model.waits = Some(harness_sdk::model::WaitPrecision { shortest_ns: 25_000, per_waiting_task_ns: 1_000 });
        // Ten tasks in flight sleep at once: 25 us + 9 x 1 us; the hold has one holder: 25 us.
        let sleep = ImpreciseWait { step: "sleep", wait_ns: 20_000, precise_ns: 34_000, waiting: 10 };
        let hold = ImpreciseWait { step: "shared", wait_ns: 20_000, precise_ns: 25_000, waiting: 1 };
        assert_eq!(imprecise_waits(Some(&model), 4, &none, &workload(steps.clone(), 10)), vec![sleep, hold]);
        // One task in flight: the sleeps of 30 us are precise, those of 20 us are not.
        let one = options(&[("concurrency", 1.into())]);
        let sleep = ImpreciseWait { step: "sleep", wait_ns: 20_000, precise_ns: 25_000, waiting: 1 };
        assert_eq!(imprecise_waits(Some(&model), 4, &one, &workload(steps.clone(), 10)), vec![sleep, hold]);
        let long = vec![Step::Sleep { nanos: 1_000_000 }, Step::Sleep { nanos: 0 }];
        assert_eq!(imprecise_waits(Some(&model), 4, &none, &workload(long, 200)), vec![]);
        assert_eq!(imprecise_waits(None, 4, &none, &workload(steps, 10)), vec![]);
    }

    #[test]
    fn the_async_declaration_follows_its_options() {
        let offload = options(&[("offload_cpu", true.into()), ("concurrency", 3.into())]);
        assert_eq!(overlap("async", 8, &offload, 100, 2), Some(Overlap { tasks_in_flight: 3, cpu_parallelism: 2 }));
        let one = options(&[("offload_cpu", true.into()), ("concurrency", 1.into())]);
        assert_eq!(overlap("async", 8, &one, 100, 4), Some(Overlap { tasks_in_flight: 1, cpu_parallelism: 1 }));
        let multi = options(&[("flavor", "multi_thread".into()), ("offload_cpu", false.into())]);
        assert_eq!(overlap("async", 3, &multi, 100, 8), Some(Overlap { tasks_in_flight: 100, cpu_parallelism: 3 }));
        let min = Model {
            tasks_in_flight: Quantity::min([Quantity::Workers, Quantity::Tasks]),
            cpu_parallelism: Quantity::min([]),
            waits: None,
        };
        assert_eq!(
            super::overlap(Some(&min), 8, &multi, 5, 8),
            Some(Overlap { tasks_in_flight: 5, cpu_parallelism: 1 })
        );
    }

    #[test]
    fn waits_overlap_up_to_the_concurrency() {
        let w = workload(vec![Step::Sleep { nanos: 1_000_000 }], 100);
        let waits = Waits::of(&w);
        assert!(!waits.costs_cpu);
        let none = options(&[]);
        let ideal = |executor: &str, workers| {
            let o = overlap(executor, workers, &none, 100, 2).unwrap();
            ideal_s(100, waits, 0.0, o)
        };
        let close = |(a, bound): (f64, Bound), b: f64| bound == Bound::Waits && (a - b).abs() < 1e-12;
        assert!(close(ideal("sync", 8), 0.1));
        assert!(close(ideal("threaded", 8), 0.013));
        assert!(close(ideal("async", 1), 0.001));
        let capped = overlap("async", 1, &options(&[("concurrency", 30.into())]), 100, 2).unwrap();
        assert!(close(ideal_s(100, waits, 0.0, capped), 0.004));
    }

    #[test]
    fn cpu_work_spreads_over_the_cores_the_model_may_use() {
        let w = workload(vec![Step::Compute { bytes: 1 << 18 }], 100);
        let waits = Waits::of(&w);
        assert!(waits.costs_cpu);
        let c = waits.cpu_per_task_s(100, 0.2, None);
        assert!((c - 0.002).abs() < 1e-15);
        // The process's CPU time bounds it: time a round trip spends outside the process is not CPU work.
        assert!((waits.cpu_per_task_s(100, 0.2, Some(0.1)) - 0.001).abs() < 1e-15);
        assert!((waits.cpu_per_task_s(100, 0.2, Some(0.3)) - 0.002).abs() < 1e-15);
        let none = options(&[]);
        let ideal = |executor: &str, workers, opts: &serde_json::Map<_, _>| {
            ideal_s(100, waits, c, overlap(executor, workers, opts, 100, 2).unwrap())
        };
        assert_eq!(ideal("threaded", 8, &none).1, Bound::Cpu);
        assert!((ideal("threaded", 8, &none).0 - 0.1).abs() < 1e-12);
        assert!((ideal("multiprocess", 1, &none).0 - 0.2).abs() < 1e-12);
        // One event-loop thread runs all the CPU work.
        assert!((ideal("async", 8, &none).0 - 0.2).abs() < 1e-12);
        let multi = options(&[("flavor", "multi_thread".into())]);
        assert!((ideal("async", 8, &multi).0 - 0.1).abs() < 1e-12);
        assert_eq!(overlap("mine", 1, &none, 100, 2), None);
    }

    #[test]
    fn a_held_lock_serialises() {
        let w = workload(
            vec![Step::Shared { hold_nanos: 1_000_000, store: SharedStore::Executor, lock: SharedLock::Exclusive }],
            50,
        );
        let waits = Waits::of(&w);
        let o = overlap("threaded", 8, &options(&[]), 50, 2).unwrap();
        let (ideal, bound) = ideal_s(50, waits, 0.0, o);
        assert_eq!(bound, Bound::Lock);
        assert!((ideal - 0.05).abs() < 1e-12);
    }
}
