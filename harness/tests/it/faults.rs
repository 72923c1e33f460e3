//! Plugins that fail in every way a plugin can: each fault ends its own run with its status and a
//! readable error, the other runs of the experiment complete and are on disk, the exit code is 1, and no
//! process of any run is left behind. The faults come from `tests/plugins/plugin-faulty`.

use std::path::Path;

use crate::support;

/// A temporary folder with `libfaulty.so` and an empty `pids/` for the plugin's pid files.
fn faulty_sandbox() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    std::fs::copy(support::built_library("plugin_faulty"), dir.path().join("libfaulty.so")).unwrap();
    (dir, pids)
}

/// Every fault once, a multiprocess run that outlasts its timeout, and a healthy run last.
fn faults_experiment(dir: &Path) -> String {
    format!(
        r#"[experiment]
name = "faults"
repetitions = 1
warmup = 0
timeout = "2s"
memory_limit = "64MiB"

[workloads.w]
tasks = 4
steps = [{{ compute = "1KiB" }}]

[workloads.slow]
tasks = 6
steps = [{{ sleep = "1h" }}]

[matrix]
executor = ["faulty"]
workload = ["w"]
fault = ["none", "error", "panic", "abort", "segfault", "exit", "hang", "allocate", "fork_hang", "orphan"]
include = [
    {{ executor = "multiprocess", workers = 3, workload = "slow" }},
    {{ executor = "sync", workload = "w" }},
]

[plugins]
faulty = "{}"
"#,
        dir.join("libfaulty.so").display()
    )
}

/// Runs the fault experiment with `HARNESS_CGROUP` set to `cgroup` (or unset) and checks every row.
fn every_fault_is_contained(cgroup: Option<&str>, marker_name: &str) {
    let (dir, pids) = faulty_sandbox();
    std::fs::write(dir.path().join("faults.toml"), faults_experiment(dir.path())).unwrap();
    let marker = support::unique_marker(marker_name);

    let mut command = support::harness();
    command
        .current_dir(dir.path())
        .args(["run", "--quiet", "faults.toml"])
        .env("FAULTY_PID_DIR", &pids)
        .env("HARNESS_TEST_MARKER", &marker)
        // A backtrace of the panic reads the plugin's debug information, which may not fit the data limit.
        .env_remove("RUST_BACKTRACE")
        .env_remove("HARNESS_CGROUP");
    if let Some(value) = cgroup {
        command.env("HARNESS_CGROUP", value);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("faults: 9 runs failed"), "{stderr}");

    let result = dir.path().join("results/faults/latest");
    let rows = support::read_runs(&result.join("runs.csv"));
    let expected: &[(&str, &str, &str)] = &[
        ("none", "ok", ""),
        ("error", "failed", "the faulty plugin failed on purpose"),
        ("panic", "panicked", "executor panicked: the faulty plugin panicked on purpose"),
        ("abort", "crashed", "the run was killed by signal 6 (SIGABRT)"),
        ("segfault", "crashed", "the run was killed by signal 11 (SIGSEGV)"),
        ("exit", "crashed", "the run exited with code 3"),
        ("hang", "timeout", "run exceeded the timeout of 2s"),
        ("allocate", "out_of_memory", "the run went past its memory limit of 64MiB"),
        ("fork_hang", "timeout", "run exceeded the timeout of 2s"),
        ("orphan", "ok", ""),
    ];
    assert_eq!(rows.len(), expected.len() + 2, "{rows:#?}");
    for (row, (fault, status, error)) in rows.iter().zip(expected) {
        assert_eq!((row["executor"].as_str(), row["fault"].as_str()), ("faulty", *fault));
        assert_eq!(row["status"], *status, "{row:?}");
        if error.is_empty() {
            assert_eq!(row["error"], "", "{row:?}");
        } else {
            assert!(row["error"].starts_with(error), "{fault}: {}", row["error"]);
        }
    }
    let multiprocess = &rows[expected.len()];
    assert_eq!((multiprocess["executor"].as_str(), multiprocess["status"].as_str()), ("multiprocess", "timeout"));
    let last = &rows[expected.len() + 1];
    assert_eq!((last["executor"].as_str(), last["status"].as_str()), ("sync", "ok"), "{last:?}");
    assert_eq!(last["tasks"], "4");

    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(result.join("environment.json")).unwrap()).unwrap();
    let method = env["peak_memory"]["method"].as_str().unwrap().to_owned();
    if cgroup == Some("off") {
        assert_eq!(method, "rusage");
    }
    for row in &rows {
        assert_eq!(row["peak_memory_method"], method, "{row:?}");
        assert!(row["peak_memory_bytes"].parse::<u64>().unwrap() > 0, "{row:?}");
    }

    // The processes that left the run's process group and session, and every other process of every run.
    let noted: Vec<String> =
        std::fs::read_dir(&pids).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for what in ["fork_hang-child-", "orphan-child-", "fork_hang-"] {
        assert!(noted.iter().any(|n| n.starts_with(what)), "no {what}: {noted:?}");
    }
    for name in &noted {
        let pid: i32 = name.rsplit('-').next().unwrap().parse().unwrap();
        let survivor = support::processes_marked(&marker).contains(&pid);
        assert!(!survivor, "{name} outlived its run");
    }
    assert_eq!(support::processes_marked(&marker), Vec::<i32>::new(), "processes outlived the experiment");
}

#[test]
fn every_fault_is_contained_with_the_best_accounting_available() {
    every_fault_is_contained(None, "faults-auto");
}

#[test]
fn every_fault_is_contained_without_cgroups() {
    every_fault_is_contained(Some("off"), "faults-rusage");
}

/// A plugin file replaced while an experiment runs (a rebuild, say) is checked again by the next run
/// that loads it: a library of another ABI, one without the entry point, and a file that is not a
/// library each fail their run with a message, and the experiment goes on.
#[test]
fn a_plugin_replaced_during_an_experiment_fails_its_runs_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    let faulty = support::built_library("plugin_faulty");
    for name in ["gate", "wrong_abi", "no_entry", "not_a_library"] {
        std::fs::copy(&faulty, lib.join(format!("lib{name}.so"))).unwrap();
    }
    std::fs::write(
        dir.path().join("swap.toml"),
        r#"[experiment]
name = "swap"
repetitions = 1
warmup = 0

[workloads.w]
tasks = 2
steps = [{ compute = "1KiB" }]

[matrix]
executor = ["gate", "wrong_abi", "no_entry", "not_a_library", "sync"]

[executors.gate]
fault = "gate"

[plugins]
gate = "lib/libgate.so"
wrong_abi = "lib/libwrong_abi.so"
no_entry = "lib/libno_entry.so"
not_a_library = "lib/libnot_a_library.so"
"#,
    )
    .unwrap();
    let gate = dir.path().join("gate");
    let marker = support::unique_marker("swap");
    let mut child = support::harness()
        .current_dir(dir.path())
        .args(["run", "--quiet", "swap.toml"])
        .env("FAULTY_GATE", &gate)
        .env("HARNESS_TEST_MARKER", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first run holds the experiment until the files are replaced.
    while !gate.with_extension("waiting").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the harness ended before the first run started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let replace = |name: &str, from: &Path| {
        let temporary = lib.join("incoming");
        std::fs::copy(from, &temporary).unwrap();
        std::fs::rename(&temporary, lib.join(name)).unwrap();
    };
    replace("libwrong_abi.so", &support::built_library("plugin_wrong_abi"));
    replace("libno_entry.so", &support::built_library("plugin_no_entry"));
    let text = dir.path().join("text");
    std::fs::write(&text, "this is not a shared library\n").unwrap();
    replace("libnot_a_library.so", &text);
    std::fs::write(&gate, "").unwrap();

    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = support::read_runs(&dir.path().join("results/swap/latest/runs.csv"));
    let cell = |executor: &str| rows.iter().find(|r| r["executor"] == executor).unwrap();
    assert_eq!(cell("gate")["status"], "ok");
    assert_eq!(cell("sync")["status"], "ok");
    let expectations = [
        ("wrong_abi", "was built for plugin ABI version 999, but this harness speaks ABI version 1"),
        ("no_entry", "is not a harness plugin: it has no `harness_executor_entry` entry point"),
        ("not_a_library", "is not a loadable library"),
    ];
    for (executor, message) in expectations {
        let row = cell(executor);
        assert_eq!(row["status"], "failed", "{row:?}");
        assert!(row["error"].contains(message), "{executor}: {}", row["error"]);
    }
    assert_eq!(support::processes_marked(&marker), Vec::<i32>::new());
}

/// `SIGINT` (Ctrl-C) or `SIGTERM` during a run: the harness kills the run's whole tree, keeps the rows
/// measured so far (the interrupted run gets none, so that `--resume` runs it again), writes the summary,
/// runs nothing more, and exits with 130. Without cgroups, so the process that left the run's group and
/// session can only be found as an orphan of the harness.
#[test]
fn an_interrupted_experiment_kills_its_run_and_keeps_what_it_measured() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let (dir, pids) = faulty_sandbox();
        std::fs::write(
            dir.path().join("stop.toml"),
            r#"[experiment]
name = "stop"
repetitions = 1
warmup = 0
timeout = "5m"

[workloads.w]
tasks = 2
steps = [{ compute = "1KiB" }]

[matrix]
executor = ["sync", "faulty", "threaded"]

[executors.faulty]
fault = "fork_hang"

[plugins]
faulty = "libfaulty.so"
"#,
        )
        .unwrap();
        let marker = support::unique_marker("interrupt");
        let mut child = support::harness()
            .current_dir(dir.path())
            .args(["run", "--quiet", "stop.toml"])
            .env("FAULTY_PID_DIR", &pids)
            .env("HARNESS_TEST_MARKER", &marker)
            .env("HARNESS_CGROUP", "off")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The run hangs once its escaped process has noted its pid.
        let escaped = || {
            std::fs::read_dir(&pids)
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().starts_with("fork_hang-child-"))
        };
        while !escaped() {
            assert!(child.try_wait().unwrap().is_none(), "the harness ended before the run hung");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: signalling the harness this test started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        let name = if signal == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
        assert!(stderr.contains(&format!("stop: interrupted by {name}: 1 measured runs are in")), "{stderr}");
        assert!(stderr.contains("2 are left") && stderr.contains("--resume"), "{stderr}");
        // The hint names the harness the way it was started, so it can be pasted as it is.
        let hint = format!("  {} run stop.toml --resume ", env!("CARGO_BIN_EXE_harness"));
        assert!(stderr.contains(&hint), "{stderr}");

        let result = dir.path().join("results/stop/latest");
        let rows = support::read_runs(&result.join("runs.csv"));
        assert_eq!(rows.len(), 1, "neither the interrupted run nor the next one has a row: {rows:?}");
        assert_eq!((rows[0]["executor"].as_str(), rows[0]["status"].as_str()), ("sync", "ok"));
        assert!(result.join("summary.csv").exists());
        assert_eq!(support::processes_marked(&marker), Vec::<i32>::new(), "processes outlived the harness");
    }
}

#[test]
fn a_run_that_floods_its_output_then_crashes_gets_a_short_error_from_the_end_of_its_log() {
    let (dir, _pids) = faulty_sandbox();
    let text = format!(
        "[experiment]\nname = \"flood\"\nrepetitions = 1\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
         steps = [{{ compute = \"1KiB\" }}]\n\n[matrix]\nexecutor = [\"faulty\"]\nfault = [\"flood\"]\n\n\
         [plugins]\nfaulty = \"{}\"\n",
        dir.path().join("libfaulty.so").display()
    );
    std::fs::write(dir.path().join("flood.toml"), text).unwrap();
    let out = support::harness()
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(dir.path().join("flood.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let rows = support::read_runs(&dir.path().join("out/flood/latest/runs.csv"));
    let error = &rows[0]["error"];
    assert_eq!(rows[0]["status"], "crashed");
    // 8 MiB were printed; the error holds the end of them only.
    assert!(error.chars().count() < 2100, "{} characters", error.chars().count());
    assert!(error.contains("characters left out] ...") && error.ends_with("the last words of the flood"), "{error}");
    assert!(error.starts_with("the run was killed by signal 6 (SIGABRT)"), "{}", &error[..100]);
    assert!(stderr.len() < 10_000, "the console got {} bytes", stderr.len());
    // The whole log is kept in the result folder.
    let log = dir.path().join("out/flood/latest/logs/cell-1-rep-1.log");
    assert!(std::fs::metadata(log).unwrap().len() > 8 << 20);
}

/// An experiment of one run per `fault` value, with the faulty plugin from `dir`.
fn one_run_each(dir: &Path, faults: &[&str]) -> String {
    let values: Vec<String> = faults.iter().map(|f| format!("\"{f}\"")).collect();
    format!(
        r#"[experiment]
name = "reports"
repetitions = 1
warmup = 0

[workloads.w]
tasks = 4
steps = [{{ compute = "1KiB" }}]

[matrix]
executor = ["faulty"]
fault = [{}]

[plugins]
faulty = "{}"
"#,
        values.join(", "),
        dir.join("libfaulty.so").display()
    )
}

#[test]
fn a_report_whose_numbers_are_not_times_fails_its_run() {
    let (dir, _pids) = faulty_sandbox();
    let faults = ["negative_run_s", "negative_setup_s", "bad_percentiles", "none"];
    std::fs::write(dir.path().join("reports.toml"), one_run_each(dir.path(), &faults)).unwrap();
    let out = support::harness().current_dir(dir.path()).args(["run", "--quiet", "reports.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = support::read_runs(&dir.path().join("results/reports/latest/runs.csv"));
    let expected = [
        ("failed", "the executor reported run_s = -1, which is not a time (finite, zero or more)"),
        ("failed", "the executor reported setup_s = -1, which is not a time (finite, zero or more)"),
        ("failed", "the executor reported latency p90_s = "),
        ("ok", ""),
    ];
    assert_eq!(rows.len(), expected.len());
    for (row, (status, error)) in rows.iter().zip(expected) {
        assert_eq!(row["status"], status, "{row:?}");
        assert!(row["error"].starts_with(error), "{}: {}", row["fault"], row["error"]);
        // A failed run records no times of the executor's.
        if status == "failed" {
            assert_eq!(row["run_s"], "", "{row:?}");
        }
    }
}

#[test]
fn a_plugin_that_declares_a_bad_option_is_refused_when_loaded() {
    let (dir, _pids) = faulty_sandbox();
    std::fs::write(dir.path().join("reports.toml"), one_run_each(dir.path(), &["none"])).unwrap();
    for (declared, why) in [
        ("reserved", "option `workers` has a name the harness reserves"),
        ("service_column", "option `service_api_cpu_s` has a name the harness reserves"),
        ("default_type", "the default of option `depth` is \"deep\", where the option takes an integer >= 1"),
        ("default_choice", "the default of option `mode` is \"c\", where the option takes one of \"a\", \"b\""),
    ] {
        let validate = support::harness()
            .current_dir(dir.path())
            .env("FAULTY_OPTIONS", declared)
            .args(["validate", "reports.toml"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&validate.stderr);
        assert_eq!(validate.status.code(), Some(2), "{declared}: {stderr}");
        assert!(stderr.contains("error: plugin `faulty` cannot be loaded\n  --> reports.toml:15:10"), "{stderr}");
        assert!(stderr.contains(&format!("libfaulty.so declares an invalid option: {why}")), "{declared}: {stderr}");
        // On the search path, the library is skipped with the same reason.
        let list = support::harness()
            .env("FAULTY_OPTIONS", declared)
            .arg("--plugin-dir")
            .arg(dir.path())
            .arg("list")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&list.stdout);
        assert!(stdout.contains("warning: skipped ") && stdout.contains(why), "{declared}: {stdout}");
    }
}

#[test]
fn a_multiprocess_worker_that_dies_is_named_with_how_it_died() {
    support::ensure_plugins_built();
    // The task's program kills the worker process that runs it (its parent), with SIGABRT: one task, so
    // that no program can start after its worker is gone, when its parent would be another process.
    let (_dir, file) = support::write_inline(
        "worker_dies",
        "[experiment]\nname = \"worker_dies\"\nrepetitions = 1\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
         steps = [{ exec = \"[ \\\"$(cat /proc/$PPID/comm)\\\" = harness-run ] && kill -ABRT $PPID; sleep 5\" }]\n\n\
         [matrix]\nexecutor = [\"multiprocess\"]\nworkers = [2]\n",
    );
    let out = file.parent().unwrap().join("out");
    let output = support::harness().args(["run", "--quiet", "--out"]).arg(&out).arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let rows = support::read_runs(&out.join("worker_dies/latest/runs.csv"));
    let error = &rows[0]["error"];
    assert!(error.contains("was killed by signal 6 (SIGABRT)"), "{error}");
    assert!(!error.contains("Connection reset by peer"), "{error}");
}

/// An allocation larger than the machine, under a limit: out of memory, with or without cgroups, and the
/// same words for the same cause.
#[test]
fn an_allocation_past_the_limit_is_out_of_memory_with_or_without_cgroups() {
    let text = r#"
[experiment]
name = "huge"
repetitions = 1
warmup = 0
memory_limit = "1GiB"

[workloads.w]
tasks = 1
steps = [{ compute = "64GiB" }]

[matrix]
executor = ["sync"]
workload = ["w"]
"#;
    let (dir, file) = support::write_inline("huge", text);
    let mut seen = Vec::new();
    for cgroup in [None, Some("off")] {
        let mut command = support::harness();
        command.args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file);
        command.env_remove("HARNESS_CGROUP");
        if let Some(value) = cgroup {
            command.env("HARNESS_CGROUP", value);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        let rows = support::read_runs(&dir.path().join("results/huge/latest/runs.csv"));
        assert_eq!(rows[0]["status"], "out_of_memory", "{cgroup:?}: {:?}", rows[0]);
        assert!(rows[0]["error"].contains("(an allocation of 64GiB failed)"), "{cgroup:?}: {}", rows[0]["error"]);
        seen.push(rows[0]["peak_memory_method"].clone());
    }
    assert_eq!(seen[1], "rusage");
}
