//! The command line on the experiment files in `experiments/`.

use crate::support;

#[test]
fn every_experiment_file_validates() {
    let files = support::experiment_files();
    assert!(!files.is_empty());
    let out = support::harness().arg("validate").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.contains(": ok, ")).count(), files.len(), "{stdout}");
}

#[test]
fn plan_shows_the_expanded_quickstart_matrix() {
    let out =
        support::harness().current_dir(support::root()).args(["plan", "experiments/quickstart.toml"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn the_quickstart_runs_and_writes_a_complete_result_folder() {
    let out = tempfile::tempdir().unwrap();
    let run = support::harness()
        .current_dir(support::root())
        .args(["run", "experiments/quickstart.toml", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    // Not a terminal: plain progress lines, one per run.
    assert!(stderr.contains("[1/180]") && stderr.contains("[180/180]"), "{stderr}");

    let dir = std::fs::canonicalize(out.path().join("quickstart/latest")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        out.path().join("quickstart").join(dir.file_name().unwrap()).display().to_string()
    );
    let source = std::fs::read_to_string(support::root().join("experiments/quickstart.toml")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("experiment.toml")).unwrap(), source);

    let env: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("environment.json")).unwrap()).unwrap();
    for key in ["harness", "started", "os", "cpu", "memory_bytes", "hostname", "experiment"] {
        assert!(!env[key].is_null(), "environment.json lacks {key}: {env}");
    }
    assert_eq!(env["experiment"]["seed"], 7);
    assert!(env["harness"]["rustc"].as_str().unwrap().starts_with("rustc "));
    assert!(env["os"]["kernel"].as_str().is_some_and(|k| !k.is_empty()));

    let rows = support::read_runs(&dir.join("runs.csv"));
    assert_eq!(rows.len(), 30 * 5, "30 cells x 5 repetitions; warmups are not written");
    let header = std::fs::read_to_string(dir.join("runs.csv")).unwrap().lines().next().unwrap().to_owned();
    assert!(header.starts_with("executor,workload,workers,latency,flavor,cell,repetition,status,wall_s,"), "{header}");
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(row["tasks"], "100");
        let run_s: f64 = row["run_s"].parse().unwrap();
        let wall_s: f64 = row["wall_s"].parse().unwrap();
        let throughput: f64 = row["throughput_per_s"].parse().unwrap();
        assert!(run_s > 0.0 && wall_s >= run_s, "{row:?}");
        assert!((throughput * run_s - 100.0).abs() < 0.01, "{row:?}");
        assert!(["cgroup2", "cgroup1", "rusage"].contains(&row["peak_memory_method"].as_str()), "{row:?}");
    }
    check_summary(&dir, &rows);
    // The charts, with the one the file asks for in [[charts]], and the reports.
    for file in [
        "charts/run_s.svg",
        "charts/speedup.svg",
        "charts/chart-1-cpu-work-run-time-by-workers.svg",
        "report.md",
        "report.html",
    ] {
        assert!(dir.join(file).is_file(), "no {file}");
    }
}

/// `summary.csv` has a row per cell and metric, agrees with `runs.csv`, and models every built-in cell.
fn check_summary(dir: &std::path::Path, runs: &[std::collections::HashMap<String, String>]) {
    let summary = support::read_runs(&dir.join("summary.csv"));
    assert_eq!(summary.len(), 30 * 15, "30 cells x 15 metrics");
    let axes = ["executor", "workload", "workers", "latency", "flavor"];
    let run_s_rows: Vec<_> = summary.iter().filter(|r| r["metric"] == "run_s").collect();
    assert_eq!(run_s_rows.len(), 30);
    for row in run_s_rows {
        let mut times: Vec<f64> = runs
            .iter()
            .filter(|r| axes.iter().all(|a| r[*a] == row[*a]))
            .map(|r| r["run_s"].parse().unwrap())
            .collect();
        times.sort_by(f64::total_cmp);
        assert_eq!(times.len(), 5);
        let number = |column: &str| -> f64 { row[column].parse().unwrap_or_else(|_| panic!("{column}: {row:?}")) };
        assert_eq!(row["n"], "5");
        assert!((number("median") - times[2]).abs() < 1e-9, "{row:?}");
        assert!((number("min") - times[0]).abs() < 1e-9 && (number("max") - times[4]).abs() < 1e-9);
        assert!(number("ci95_low") <= number("median") && number("median") <= number("ci95_high"), "{row:?}");
        assert!(number("ideal_s") > 0.0 && number("efficiency") > 0.0, "{row:?}");
        assert!(["cpu", "waits"].contains(&row["model"].as_str()), "{row:?}");
        assert!((number("throughput_per_s") - 100.0 / number("median")).abs() < 0.01, "{row:?}");
    }
}

#[test]
fn a_second_run_never_overwrites_the_first() {
    let out = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let run = support::harness().args(["run", "--quiet", "--out"]).arg(out.path()).arg(&file).output().unwrap();
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        dirs.push(String::from_utf8_lossy(&run.stdout).trim().to_owned());
    }
    assert_ne!(dirs[0], dirs[1]);
    for dir in &dirs {
        assert_eq!(support::read_runs(&std::path::Path::new(dir).join("runs.csv")).len(), 2);
    }
    let latest = std::fs::read_link(out.path().join("tiny/latest")).unwrap();
    assert_eq!(out.path().join("tiny").join(latest).display().to_string(), dirs[1]);
}

#[test]
fn quiet_prints_only_the_result_folder() {
    let out = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let run = support::harness().args(["run", "--quiet", "--out"]).arg(out.path()).arg(&file).output().unwrap();
    assert_eq!(run.status.code(), Some(0));
    assert!(run.stderr.is_empty(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(String::from_utf8_lossy(&run.stdout).lines().count(), 1);
}

#[test]
fn schema_is_json_schema_covering_the_format_and_the_executor_options() {
    let out = support::harness().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let experiment = &schema["properties"]["experiment"]["properties"];
    for key in
        ["name", "description", "repetitions", "warmup", "timeout", "seed", "order", "memory_limit", "setup", "cleanup"]
    {
        assert!(experiment.get(key).is_some(), "schema lacks experiment.{key}");
    }
    let workload = &schema["properties"]["workloads"]["additionalProperties"]["properties"];
    for key in ["tasks", "steps", "prepare", "conclude", "metrics"] {
        assert!(workload.get(key).is_some(), "schema lacks workloads.NAME.{key}");
    }
    let kinds: Vec<&str> = workload["steps"]["items"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["required"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()))
        .collect();
    for kind in ["exec", "call", "http", "redis"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let metric = &workload["metrics"]["additionalProperties"]["properties"];
    for key in ["regex", "from", "aggregate", "better"] {
        assert!(metric.get(key).is_some(), "schema lacks a metric's {key}");
    }
    for table in ["experiment", "workloads", "matrix", "executors", "plugins", "libraries", "charts", "ci", "services"]
    {
        assert!(schema["properties"].get(table).is_some(), "schema lacks [{table}]");
    }
    let ci = &schema["properties"]["ci"]["properties"];
    for key in ["threshold", "metrics", "thresholds", "time_floor", "memory_floor"] {
        assert!(ci.get(key).is_some(), "schema lacks ci.{key}");
    }
    let arrival = &schema["properties"]["workloads"]["additionalProperties"]["properties"]["arrival"]["properties"];
    for key in ["rate", "duration", "tasks", "process", "max_queue"] {
        assert!(arrival.get(key).is_some(), "schema lacks workloads.NAME.arrival.{key}");
    }
    let flavor = &schema["properties"]["executors"]["properties"]["async"]["properties"]["flavor"];
    assert_eq!(flavor["enum"], serde_json::json!(["current_thread", "multi_thread"]));
    let service = &schema["properties"]["services"]["additionalProperties"]["properties"];
    for key in ["command", "env", "cwd", "ready", "ready_timeout", "scope"] {
        assert!(service.get(key).is_some(), "schema lacks services.NAME.{key}");
    }
    let steps = schema["properties"]["workloads"]["additionalProperties"]["properties"]["steps"]["items"]["oneOf"]
        .as_array()
        .unwrap();
    let kinds: Vec<&str> = steps.iter().filter_map(|s| s["required"][0].as_str()).collect();
    assert!(kinds.contains(&"redis") && kinds.contains(&"http"), "{kinds:?}");
    let shared = steps.iter().find(|s| s["required"][0] == "shared").unwrap();
    for key in ["hold", "store", "url", "lock"] {
        assert!(shared["properties"]["shared"]["properties"].get(key).is_some(), "schema lacks shared.{key}");
    }
}

#[test]
fn every_command_has_help() {
    for command in ["run", "report", "merge", "validate", "plan", "list", "schema"] {
        let out = support::harness().args([command, "--help"]).output().unwrap();
        assert!(out.status.success(), "{command} --help");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: harness"), "{command}");
    }
}

/// Every environment variable the harness reads is in the long help of `harness` and of `harness run`.
#[test]
fn the_help_names_every_environment_switch() {
    for args in [&["--help"][..], &["run", "--help"]] {
        let out = support::harness().args(args).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for name in ["HARNESS_PLUGIN_PATH", "HARNESS_CGROUP", "HARNESS_TASK_TRACE", "SLURM_ARRAY_TASK_ID"] {
            assert!(help.contains(name), "{args:?} does not name {name}:\n{help}");
        }
    }
}

#[test]
fn values_that_mean_nothing_to_a_cell_neither_multiply_nor_label_it() {
    let (_dir, file) = support::write_inline(
        "pools",
        r#"
        [experiment]
        name = "pools"
        [workloads.io]
        tasks = 4
        steps = [{ sleep = "${latency}" }]
        [workloads.cpu]
        tasks = 4
        steps = [{ compute = "1KiB" }]
        [matrix]
        executor = ["sync", "threaded"]
        workload = ["io", "cpu"]
        pool = ["rayon", "std"]
        latency = ["1ms", "2ms"]
        "#,
    );
    let out = support::harness().arg("plan").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<&str>> =
        stdout.lines().skip_while(|l| !l.starts_with('#')).skip(1).map(|l| l.split_whitespace().collect()).collect();
    // sync: io at two latencies and cpu once; threaded: the same for each pool.
    assert_eq!(rows.len(), 3 + 6, "{stdout}");
    let sync: Vec<_> = rows.iter().filter(|r| r[1] == "sync").collect();
    assert_eq!(sync.len(), 3, "{stdout}");
    assert!(sync.iter().all(|r| !r.contains(&"rayon") && !r.contains(&"std")), "{stdout}");
    let cpu: Vec<_> = rows.iter().filter(|r| r[2] == "cpu").collect();
    assert!(cpu.iter().all(|r| !r.contains(&"1ms") && !r.contains(&"2ms")), "{stdout}");
}

#[test]
fn cells_that_differ_only_in_workers_an_executor_ignores_are_a_warning() {
    let (_dir, file) = support::write_inline(
        "workers",
        r#"
        [experiment]
        name = "workers"
        [workloads.w]
        tasks = 4
        steps = [{ sleep = "1ms" }]
        [matrix]
        executor = ["sync", "threaded", "async"]
        workers = [1, 4]
        flavor = ["current_thread", "multi_thread"]
        "#,
    );
    let out = support::harness().arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
    // sync ignores workers, and so does async with one event-loop thread; threaded and async with
    // multi_thread use them.
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(warnings.iter().any(|w| w.contains("cells 1, 2 differ only in workers (1, 4), which `sync`")), "{stderr}");
    assert!(warnings.iter().any(|w| w.contains("which `async` does not use")), "{stderr}");

    let quick = support::harness()
        .current_dir(support::root())
        .args(["validate", "experiments/quickstart.toml"])
        .output()
        .unwrap();
    assert!(quick.status.success() && quick.stderr.is_empty(), "{}", String::from_utf8_lossy(&quick.stderr));
}
