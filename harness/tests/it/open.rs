//! Open workloads: tasks that arrive at a rate (`arrival`). Every executor keeps the same schedule, never
//! starts a task before it is due, and counts the tasks a full queue drops without running them; runs.csv,
//! summary.csv, the load chart and the reports carry what was measured.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::support;

const EXECUTORS: [&str; 4] = ["sync", "threaded", "async", "multiprocess"];

/// One line of the task trace of an open workload: (task, start ns, end ns, due ns).
type Traced = (u64, u64, u64, u64);

pub(crate) fn read_open_trace(path: &Path) -> Vec<Traced> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let n: Vec<u64> = line.split(' ').map(|w| w.parse().unwrap()).collect();
            assert_eq!(n.len(), 6, "a task of an open workload is traced with its due time: {line}");
            (n[2], n[3], n[4], n[5])
        })
        .collect()
}

/// Checks that no traced task started before it was due; returns each task's due time after task 0's.
pub(crate) fn checked_schedule(executor: &str, traced: &[Traced]) -> BTreeMap<u64, u64> {
    for &(task, start, end, due) in traced {
        assert!(start >= due, "{executor}: task {task} started {} ns before it was due", due - start);
        assert!(end >= start, "{executor}: task {task}");
    }
    let zero = traced.iter().find(|t| t.0 == 0).unwrap_or_else(|| panic!("{executor}: task 0 was not traced")).3;
    traced.iter().map(|&(task, _, _, due)| (task, due - zero)).collect()
}

/// Runs `text`, written as `dir/NAME.toml`, with a task trace and results in `dir/results`; returns its rows
/// of runs.csv and the trace.
pub(crate) fn run_traced(dir: &Path, name: &str, text: &str) -> (Vec<HashMap<String, String>>, Vec<Traced>) {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let trace = dir.join(format!("{name}.trace"));
    let run = support::harness()
        .args(["run", "--quiet", "--out"])
        .arg(dir.join("results"))
        .arg(&file)
        .env("HARNESS_TASK_TRACE", &trace)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&run.stderr));
    let rows = support::read_runs(&dir.join("results").join(name).join("latest/runs.csv"));
    (rows, read_open_trace(&trace))
}

fn poisson(executor: &str, seed: u64) -> String {
    format!(
        "[experiment]\nname = \"{executor}-{seed}\"\nrepetitions = 1\nwarmup = 0\nseed = {seed}\n\n\
         [workloads.api]\nsteps = [{{ sleep = \"1ms\" }}, {{ compute = \"1KiB\" }}]\n\
         arrival = {{ rate = \"${{rate}}\", tasks = 60, process = \"poisson\" }}\n\n\
         [matrix]\nexecutor = [\"{executor}\"]\nworkers = [2]\nrate = [\"24000/min\"]\n"
    )
}

#[test]
fn every_executor_keeps_the_same_schedule_and_never_starts_a_task_before_it_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut schedules = Vec::new();
    for executor in EXECUTORS {
        let (rows, traced) = run_traced(dir.path(), &format!("{executor}-7"), &poisson(executor, 7));
        let schedule = checked_schedule(executor, &traced);
        assert_eq!(schedule.keys().copied().collect::<Vec<_>>(), (0..60).collect::<Vec<_>>(), "{executor}");
        let row = &rows[0];
        assert_eq!((row["status"].as_str(), row["tasks"].as_str()), ("ok", "60"), "{executor}: {row:?}");
        assert_eq!(row["offered_per_s"], "400.000", "{executor}: 24000/min is 400/s");
        assert_eq!(row["dropped"], "0", "{executor}");
        for column in ["achieved_per_s", "late", "last_start_lag_s", "response_p50_s", "response_p99_s"] {
            assert!(row[column].parse::<f64>().is_ok(), "{executor}: {column} in {row:?}");
        }
        // From the moment a task was due to its end includes its service time.
        let number = |column: &str| row[column].parse::<f64>().unwrap();
        assert!(number("response_max_s") >= number("latency_max_s") * 0.999, "{executor}: {row:?}");
        schedules.push((executor, schedule));
    }
    for (executor, schedule) in &schedules[1..] {
        assert_eq!(schedule, &schedules[0].1, "{executor} kept another schedule than {}", schedules[0].0);
    }
    // Another seed, another Poisson schedule.
    let (_, traced) = run_traced(dir.path(), "sync-8", &poisson("sync", 8));
    assert_ne!(checked_schedule("sync", &traced), schedules[0].1);
}

#[test]
fn tasks_a_full_queue_drops_are_counted_and_never_run() {
    // Fifty tasks all due within half a millisecond, one worker busy for 5 ms with each task it runs, and
    // room for one in the queue: the first task runs, and by the time the worker comes back every task
    // has arrived, one found room and the others found it full. Which one found room depends on how
    // long the first took to start (async polls its task a moment after it is due, and the tasks due
    // meanwhile find it ahead of them), not how many.
    let dir = tempfile::tempdir().unwrap();
    for executor in EXECUTORS {
        let text = format!(
            "[experiment]\nname = \"drop-{executor}\"\nrepetitions = 1\nwarmup = 0\n\n\
             [workloads.burst]\ntasks = 50\nsteps = [{{ sleep = \"5ms\" }}, {{ shared = {{}} }}]\n\
             arrival = {{ rate = \"100000/s\", max_queue = 1 }}\n\n\
             [matrix]\nexecutor = [\"{executor}\"]\nworkers = [1]\n\n\
             [executors.async]\nconcurrency = 1\n"
        );
        let (rows, traced) = run_traced(dir.path(), &format!("drop-{executor}"), &text);
        let row = &rows[0];
        assert_eq!(row["status"], "ok", "{executor}: {row:?}");
        let count = |column: &str| row[column].parse::<u64>().unwrap_or_else(|_| panic!("{column}: {row:?}"));
        let (ran, dropped) = (count("tasks"), count("dropped"));
        assert_eq!(ran + dropped, 50, "{executor}: {row:?}");
        assert_eq!(ran, 2, "{executor}: {row:?}");
        // The shared counter and the trace count the tasks that ran: the dropped ones never did.
        assert_eq!(count("shared_count"), ran, "{executor}");
        let schedule = checked_schedule(executor, &traced);
        assert_eq!(schedule.len() as u64, ran, "{executor}: only the tasks that ran are traced");
        assert!(schedule.contains_key(&0), "{executor}: the first task always runs");
    }
}

#[test]
fn a_load_experiment_has_a_summary_a_chart_and_a_load_table() {
    let text = "[experiment]\nname = \"load\"\nrepetitions = 2\nwarmup = 0\n\n\
                [workloads.api]\nsteps = [{ sleep = \"2ms\" }]\n\
                arrival = { rate = \"${rate}\", duration = \"100ms\" }\n\n\
                [workloads.closed]\ntasks = 4\nsteps = [{ sleep = \"1ms\" }]\n\n\
                [matrix]\nexecutor = [\"sync\", \"threaded\"]\nworkers = [4]\nworkload = [\"api\", \"closed\"]\n\
                rate = [\"50/s\", \"100/s\"]\n";
    let (_out, dir, rows, _) = support::run_inline("load", text);
    // `rate` means nothing to the closed workload: it runs once per executor.
    assert_eq!(rows.len(), 2 * (2 * 2 + 2));
    for row in &rows {
        let open = row["workload"] == "api";
        assert_eq!(row["offered_per_s"].is_empty(), !open, "{row:?}");
        assert_eq!(row["response_p99_s"].is_empty(), !open, "{row:?}");
        if open {
            let tasks = if row["rate"] == "50/s" { "5" } else { "10" };
            assert_eq!(row["tasks"], tasks, "a duration of 100 ms at the rate: {row:?}");
        }
    }
    let summary = support::read_runs(&dir.join("summary.csv"));
    let run_s: Vec<_> = summary.iter().filter(|r| r["metric"] == "run_s").collect();
    for row in &run_s {
        let open = row["workload"] == "api";
        assert_eq!(!row["capacity_per_s"].is_empty(), open, "{row:?}");
        if open {
            let capacity: f64 = row["capacity_per_s"].parse().unwrap();
            // Tasks in flight over a service time of at least 2 ms.
            let in_flight = if row["executor"] == "sync" { 1.0 } else { 4.0 };
            assert!(capacity > 0.0 && capacity <= in_flight / 0.002, "{row:?}");
        }
    }
    assert!(summary.iter().any(|r| r["metric"] == "response_p99_s" && r["workload"] == "api" && r["n"] == "2"));
    let chart = std::fs::read_to_string(dir.join("charts/load--api.svg")).unwrap();
    assert!(chart.contains("offered rate") && chart.contains("service time"), "{chart}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let table: Vec<&str> = report.lines().skip_while(|l| *l != "## Load").filter(|l| l.starts_with("| api")).collect();
    assert_eq!(table.len(), 2, "one row per executor: {report}");
    assert!(table[0].contains("| sync |") && table[1].contains("| threaded |"), "{table:?}");
}

/// The load chart's panels go in the order of their columns' values, as the other charts' do: the worker
/// counts ascending, though the file lists them the other way.
#[test]
fn the_load_chart_orders_its_panels_by_value() {
    let text = "[experiment]\nname = \"load_order\"\nrepetitions = 1\nwarmup = 0\n\n\
                [workloads.api]\nsteps = [{ sleep = \"1ms\" }]\n\
                arrival = { rate = \"${rate}\", duration = \"50ms\" }\n\n\
                [matrix]\nexecutor = [\"threaded\"]\nworkers = [8, 2]\nrate = [\"50/s\", \"100/s\"]\n";
    let (_out, dir, _, _) = support::run_inline("load_order", text);
    let chart = std::fs::read_to_string(dir.join("charts/load.svg")).unwrap();
    let at = |label: &str| chart.find(label).unwrap_or_else(|| panic!("no panel {label}: {chart}"));
    assert!(at("p50, workers=2") < at("p50, workers=8"), "{chart}");
    assert!(at("p99, workers=2") < at("p99, workers=8"), "{chart}");
}
