//! The built-in executors on real workloads: every step kind, in child processes, against the real
//! loopback server and fixture files. Whatever the model, the same workload gives the same task count,
//! checksum and shared counter.

use std::collections::BTreeMap;

use crate::support;

#[test]
fn every_executor_agrees_on_every_step_kind() {
    let out = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/every_step.toml");
    let result = support::harness().args(["run", "--quiet", "--out"]).arg(out.path()).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(0), "{stderr}");

    let rows = support::read_runs(&out.path().join("every-step/latest/runs.csv"));
    // 4 executors x 2 worker counts x 3 task counts, minus sync with 3 workers: 21 cells, 2 repetitions.
    assert_eq!(rows.len(), 21 * 2);
    let mut checksums: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(row["tasks"], row["tasks"]);
        let tasks: u64 = row["tasks"].parse().unwrap();
        assert_eq!(row["shared_count"], tasks.to_string(), "the counter lost increments: {row:?}");
        checksums.entry(row["tasks"].clone()).or_default().push((row["executor"].clone(), row["checksum"].clone()));
    }
    for (tasks, seen) in &checksums {
        let first = &seen[0].1;
        assert!(seen.iter().all(|(_, c)| c == first), "checksums differ for {tasks} tasks: {seen:?}");
    }
    // Different task counts give different checksums: the checksum is not a constant.
    let distinct: std::collections::BTreeSet<_> = checksums.values().map(|v| v[0].1.clone()).collect();
    assert_eq!(distinct.len(), 3);
}

#[test]
fn options_from_include_reach_the_executor() {
    let file = support::root().join("harness/tests/fixtures/good/every_step.toml");
    let plan = support::harness().arg("plan").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success());
    let async_multi =
        text.lines().filter(|l| l.contains("flavor=multi_thread") && l.contains("offload_cpu=true")).count();
    assert_eq!(async_multi, 3, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("batch=7")).count(), 3, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("concurrency=2")).count(), 3, "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("pool=std")).count(), 3, "{text}");
}

/// The first value each axis takes in `matrix` (from the axis list, else from an `include` entry).
fn first_values(matrix: &toml::Table) -> toml::Table {
    let mut values = toml::Table::new();
    for (key, value) in matrix {
        match (key.as_str(), value) {
            ("exclude", _) => {}
            ("include", toml::Value::Array(entries)) => {
                for entry in entries.iter().filter_map(toml::Value::as_table) {
                    for (k, v) in entry {
                        values.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            (_, toml::Value::Array(items)) if !items.is_empty() => {
                values.insert(key.clone(), items[0].clone());
            }
            _ => {}
        }
    }
    values
}

/// Whether `nginx` is on the PATH: `experiments/nginx.toml` needs it.
pub(crate) fn has_nginx() -> bool {
    std::process::Command::new("sh").args(["-c", "command -v nginx"]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn every_workload_in_experiments_gives_the_same_checksum_under_every_executor() {
    for file in support::experiment_files() {
        if file.ends_with("nginx.toml") && !has_nginx() {
            eprintln!("skipped {}: nginx is not installed (`apt-get install nginx-light`)", file.display());
            continue;
        }
        let original: toml::Table = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        // The same workloads, at most 50 tasks each, under all four executors with 3 workers.
        let mut workloads = original["workloads"].as_table().unwrap().clone();
        for (_, workload) in &mut workloads {
            let workload = workload.as_table_mut().unwrap();
            if let Some(arrival) = workload.get_mut("arrival").and_then(toml::Value::as_table_mut) {
                // An open workload: 50 tasks at its rate, none dropped (a drop changes the checksum).
                arrival.remove("duration");
                arrival.remove("max_queue");
                // A search runs its cell at many rates: the workload is the same at any one of them.
                if arrival.get("rate").and_then(toml::Value::as_str) == Some("search") {
                    arrival.remove("objective");
                    arrival.remove("search");
                    arrival.insert("rate".into(), toml::Value::String("500/s".into()));
                }
                arrival.insert("tasks".into(), toml::Value::Integer(50));
                continue;
            }
            let tasks = &mut workload["tasks"];
            *tasks = toml::Value::Integer(tasks.as_integer().unwrap_or(50).min(50));
        }
        let mut matrix = toml::Table::new();
        let executors = ["sync", "threaded", "async", "multiprocess"].map(|e| toml::Value::String(e.into()));
        matrix.insert("executor".into(), toml::Value::Array(executors.to_vec()));
        matrix.insert(
            "workload".into(),
            toml::Value::Array(workloads.keys().map(|k| toml::Value::String(k.clone())).collect()),
        );
        matrix.insert("workers".into(), toml::Value::Array(vec![toml::Value::Integer(3)]));
        for (axis, value) in first_values(original["matrix"].as_table().unwrap()) {
            let referenced = workloads.values().any(|w| toml::to_string(w).unwrap().contains(&format!("${{{axis}}}")));
            if referenced && !matrix.contains_key(&axis) {
                matrix.insert(axis, toml::Value::Array(vec![value]));
            }
        }
        let mut experiment = toml::Table::new();
        experiment.insert(
            "experiment".into(),
            toml::Value::Table(toml::from_str("name = \"agree\"\nrepetitions = 1\nwarmup = 0\nseed = 3").unwrap()),
        );
        experiment.insert("workloads".into(), toml::Value::Table(workloads));
        if let Some(services) = original.get("services").and_then(toml::Value::as_table) {
            // The services run where they would beside the original file.
            let mut services = services.clone();
            for (_, service) in &mut services {
                let Some(service) = service.as_table_mut() else { continue };
                let cwd = service.get("cwd").and_then(toml::Value::as_str).unwrap_or(".");
                let cwd = file.parent().unwrap().join(cwd);
                service.insert("cwd".into(), toml::Value::String(cwd.display().to_string()));
                // So do their templates, relative to the original file.
                let files = service.get_mut("files").and_then(toml::Value::as_table_mut).into_iter().flatten();
                for (_, written) in files {
                    let Some(template) = written.get_mut("template") else { continue };
                    let path = file.parent().unwrap().join(template.as_str().unwrap());
                    *template = toml::Value::String(path.display().to_string());
                }
            }
            experiment.insert("services".into(), toml::Value::Table(services));
        }
        experiment.insert("matrix".into(), toml::Value::Table(matrix));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agree.toml");
        std::fs::write(&path, toml::to_string(&experiment).unwrap()).unwrap();
        let run = support::harness().args(["run", "--quiet", "--out"]).arg(dir.path()).arg(&path).output().unwrap();
        assert_eq!(run.status.code(), Some(0), "{}: {}", file.display(), String::from_utf8_lossy(&run.stderr));
        let rows = support::read_runs(&dir.path().join("agree/latest/runs.csv"));
        let mut by_workload: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
        for row in rows {
            by_workload.entry(row["workload"].clone()).or_default().push((
                row["executor"].clone(),
                row["tasks"].clone(),
                row["checksum"].clone(),
            ));
        }
        for (workload, seen) in by_workload {
            assert_eq!(seen.len(), 4, "{}: {workload}: {seen:?}", file.display());
            assert!(
                seen.iter().all(|(_, tasks, checksum)| (tasks, checksum) == (&seen[0].1, &seen[0].2)),
                "{}: workload `{workload}` differs between executors: {seen:?}",
                file.display()
            );
        }
    }
}

/// One line of the SDK's task trace: (process, thread, task, start ns, end ns).
type Traced = (u64, u64, u64, u64, u64);

fn read_trace(path: &std::path::Path) -> Vec<Traced> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let n: Vec<u64> = line.split(' ').map(|w| w.parse().unwrap()).collect();
            assert_eq!(n.len(), 5, "{line}");
            (n[0], n[1], n[2], n[3], n[4])
        })
        .collect()
}

/// Whether `reported` seconds is the HDR histogram's record of `nanos` (3 significant digits).
fn same_latency(reported: f64, nanos: u64) -> bool {
    let expected = nanos as f64 / 1e9;
    (reported - expected).abs() <= expected * 2e-3 + 2e-9
}

/// Latency is service time, from a task's first step to its end, in every executor. The SDK traces every
/// task's start and end when `HARNESS_TASK_TRACE` names a file; each executor's reported latency must be
/// that of the traced service times. On this workload the event loop runs the tasks one after another,
/// so a latency counted from the run's start (when async admits every task) would be far longer.
#[test]
fn every_executor_reports_service_time_as_latency() {
    let dir = tempfile::tempdir().unwrap();
    for executor in ["sync", "threaded", "async", "multiprocess"] {
        let file = dir.path().join(format!("{executor}.toml"));
        let experiment = format!(
            "[experiment]\nname = \"{executor}\"\nrepetitions = 1\nwarmup = 0\n\n\
             [workloads.cpu]\ntasks = 40\nsteps = [{{ compute = \"256KiB\" }}]\n\n\
             [matrix]\nexecutor = [\"{executor}\"]\nworkers = [2]\n"
        );
        std::fs::write(&file, experiment).unwrap();
        let trace = dir.path().join(format!("{executor}.trace"));
        let run = support::harness()
            .args(["run", "--quiet", "--out"])
            .arg(dir.path())
            .arg(&file)
            .env("HARNESS_TASK_TRACE", &trace)
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0), "{executor}: {}", String::from_utf8_lossy(&run.stderr));
        let rows = support::read_runs(&dir.path().join(executor).join("latest/runs.csv"));
        assert_eq!(rows.len(), 1);
        let row = &rows[0];

        let traced = read_trace(&trace);
        let mut tasks: Vec<u64> = traced.iter().map(|t| t.2).collect();
        tasks.sort_unstable();
        assert_eq!(tasks, (0..40).collect::<Vec<_>>(), "{executor}: every task traced once");
        let mut service: Vec<u64> = traced.iter().map(|t| t.4 - t.3).collect();
        service.sort_unstable();
        let reported = |column: &str| -> f64 { row[column].parse().unwrap() };
        // The histogram's median is the 20th of 40 values; its maximum, the largest.
        assert!(same_latency(reported("latency_p50_s"), service[19]), "{executor}: p50 {row:?} {service:?}");
        assert!(same_latency(reported("latency_max_s"), service[39]), "{executor}: max {row:?} {service:?}");

        if executor == "async" {
            // One event-loop thread: the tasks ran one after another, so from the first start to the last
            // end is at least the sum of all service times, more than any one of them.
            let span = traced.iter().map(|t| t.4).max().unwrap() - traced.iter().map(|t| t.3).min().unwrap();
            assert!(span >= service.iter().sum::<u64>(), "{executor}: tasks overlapped on one thread");
            assert!(!same_latency(reported("latency_max_s"), span), "{executor}: latency counted from admission");
        }
    }
}
