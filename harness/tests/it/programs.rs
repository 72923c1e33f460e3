//! Programs as steps (`exec`), hooks and custom metrics, with real programs (coreutils, `sh`).

use std::collections::HashMap;
use std::path::Path;

use crate::support::{self, harness, processes_marked, read_runs, run_inline, unique_marker, write_inline};

fn by_executor(rows: &[HashMap<String, String>]) -> HashMap<String, &HashMap<String, String>> {
    rows.iter().map(|r| (r["executor"].clone(), r)).collect()
}

#[test]
fn every_executor_gets_the_same_checksum_from_the_same_programs() {
    let (dir, _) = write_inline("placeholder", "");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for task in 0..6u8 {
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> (task % 7)) as u8).collect();
        std::fs::write(dir.path().join(format!("data/input-{task}.bin")), bytes).unwrap();
    }
    let text = r#"
[experiment]
name = "programs"
repetitions = 1
warmup = 0

[workloads.files]
tasks = 6
steps = [
    { exec = ["gzip", "-c", "-${level}", "data/input-${task}.bin"] },
    { exec = { command = ["sha256sum"], stdin = "data/input-${task}.bin" } },
    { exec = { command = "echo task=$HARNESS_TASK; exit 3", ok = [3], output = "ignore" } },
]

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workers = [3]
level = [1, 9]
"#;
    let file = dir.path().join("programs.toml");
    std::fs::write(&file, text).unwrap();
    let out = harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = read_runs(&dir.path().join("results/programs/latest/runs.csv"));
    assert_eq!(rows.len(), 8);
    for level in ["1", "9"] {
        let checksums: Vec<&str> =
            rows.iter().filter(|r| r["level"] == level).map(|r| r["checksum"].as_str()).collect();
        assert_eq!(checksums.len(), 4);
        assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
        assert!(checksums.iter().all(|c| *c == checksums[0]), "level {level}: {checksums:?}");
    }
    // The level changes gzip's output, so the checksum.
    let one = rows.iter().find(|r| r["level"] == "1").unwrap();
    let nine = rows.iter().find(|r| r["level"] == "9").unwrap();
    assert_ne!(one["checksum"], nine["checksum"]);
}

/// Runs one program under every executor; returns each executor's row.
fn run_failing(name: &str, exec: &str) -> (tempfile::TempDir, Vec<HashMap<String, String>>) {
    let text = format!(
        r#"
[experiment]
name = "{name}"
repetitions = 1
warmup = 0

[workloads.w]
tasks = 3
steps = [{{ exec = {exec} }}]

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workers = [2]
"#
    );
    run_with_failures(name, &text)
}

/// Runs the experiment file `text`, some of whose runs fail (so `harness run` exits 1); returns its rows.
fn run_with_failures(name: &str, text: &str) -> (tempfile::TempDir, Vec<HashMap<String, String>>) {
    let (dir, file) = write_inline(name, text);
    let out = harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = read_runs(&dir.path().join(format!("results/{name}/latest/runs.csv")));
    (dir, rows)
}

#[test]
fn a_failing_program_a_missing_one_and_a_signal_fail_their_runs_with_what_happened() {
    let (_dir, rows) = run_failing("fails", r#""echo 'cannot frobnicate' >&2; exit 3""#);
    for (executor, row) in by_executor(&rows) {
        assert_eq!(row["status"], "failed", "{executor}");
        let error = &row["error"];
        assert!(
            error.contains(
                "`sh -c 'echo 'cannot frobnicate' >&2; exit 3'` exited with code 3 (ok: 0): cannot frobnicate"
            ),
            "{executor}: {error}"
        );
    }

    // A program whose name holds `${task}` is looked for only when it runs.
    let (_dir, rows) = run_failing("missing", r#"["no-such-program-${task}", "--help"]"#);
    for (executor, row) in by_executor(&rows) {
        assert_eq!(row["status"], "failed", "{executor}");
        let error = &row["error"];
        assert!(error.contains(": cannot start `no-such-program-"), "{executor}: {error}");
        assert!(error.ends_with("`: No such file or directory (os error 2)"), "{executor}: {error}");
    }

    let (dir, rows) = run_failing("signal", r#""echo dying >&2; kill -USR1 $$""#);
    for (executor, row) in by_executor(&rows) {
        assert_eq!(row["status"], "failed", "{executor}");
        assert!(row["error"].contains("was killed by signal 10 (SIGUSR1): dying"), "{executor}: {}", row["error"]);
    }
    // What the programs wrote to stderr is in the runs' logs.
    let logs = dir.path().join("results/signal/latest/logs");
    let log = std::fs::read_to_string(logs.join("cell-1-rep-1.log")).unwrap();
    assert!(log.contains("dying"), "{log}");
}

#[test]
fn a_process_a_program_leaves_behind_is_gone_after_the_run() {
    let marker = unique_marker("exec-leftover");
    let text = format!(
        r#"
[experiment]
name = "leftover"
repetitions = 1
warmup = 0

[workloads.w]
tasks = 2
steps = [{{ exec = {{ command = "sleep 300 & echo started", env = {{ HARNESS_TEST_MARKER = "{marker}" }} }} }}]

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workers = [2]
"#
    );
    let (_dir, _, rows, _) = run_inline("leftover", &text);
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    // The sleeps started, and the harness killed them with their runs.
    assert!(processes_marked(&marker).is_empty(), "left behind: {:?}", support::marked(&marker));
}

/// Nanoseconds since the epoch that `date` wrote to `path`.
fn stamp(path: &Path) -> u128 {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().parse().unwrap()
}

#[test]
fn the_event_loop_on_one_thread_keeps_several_programs_running_at_once() {
    let (dir, file) = write_inline("overlap", "");
    let text = r#"
[experiment]
name = "overlap"
repetitions = 1
warmup = 0

[workloads.w]
tasks = 4
steps = [{ exec = "date +%s%N > start-${executor}-${task}; sleep 0.5; date +%s%N > end-${executor}-${task}" }]

[matrix]
executor = ["async", "sync"]
flavor = ["current_thread"]
"#;
    std::fs::write(&file, text).unwrap();
    let out = harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let times = |executor: &str, what: &str| -> Vec<u128> {
        (0..4).map(|t| stamp(&dir.path().join(format!("{what}-{executor}-{t}")))).collect()
    };
    // Every program of the async run started before any ended: all four ran at once on one thread.
    let (starts, ends) = (times("async", "start"), times("async", "end"));
    assert!(starts.iter().max() < ends.iter().min(), "starts {starts:?}, ends {ends:?}");
    // The blocking baseline runs them one after another, which the same check tells apart.
    let (starts, ends) = (times("sync", "start"), times("sync", "end"));
    assert!(starts.iter().max() > ends.iter().min(), "starts {starts:?}, ends {ends:?}");
}

#[test]
fn hooks_run_in_order_around_each_run_and_stay_out_of_its_times() {
    let text = r#"
[experiment]
name = "hooks"
repetitions = 2
warmup = 1
setup = "echo setup >> order.txt"
cleanup = "echo cleanup >> order.txt"

[workloads.w]
tasks = 2
prepare = "echo prepare ${level} >> order.txt; date +%s%N > prepare-start; sleep 1; date +%s%N > prepare-end"
conclude = ["sh", "-c", "echo conclude >> order.txt"]
steps = [{ exec = "echo task $HARNESS_TASK >> order.txt" }]

[matrix]
executor = ["sync"]
level = [1]
"#;
    let (dir, result, rows, _) = run_inline("hooks", text);
    let order = std::fs::read_to_string(dir.path().join("order.txt")).unwrap();
    let run = "prepare 1\ntask 0\ntask 1\nconclude\n";
    assert_eq!(order, format!("setup\n{run}{run}{run}cleanup\n"));
    // The prepare of the last run slept a second by its own clock; the run took less, so it was not in it.
    let prepare_s = (stamp(&dir.path().join("prepare-end")) - stamp(&dir.path().join("prepare-start"))) as f64 / 1e9;
    for row in &rows {
        let (run_s, wall_s): (f64, f64) = (row["run_s"].parse().unwrap(), row["wall_s"].parse().unwrap());
        assert!(run_s <= wall_s && wall_s < prepare_s, "run_s {run_s}, wall_s {wall_s}, prepare {prepare_s}");
    }
    let logs = result.join("logs");
    assert!(
        std::fs::read_to_string(logs.join("setup.log")).unwrap().contains("[setup] sh -c 'echo setup >> order.txt'")
    );
    assert!(std::fs::read_to_string(logs.join("cell-1-rep-1.log")).unwrap().contains("[conclude] sh -c"));
}

/// Runs an experiment whose `setup` is the shell command `setup` and whose one run touches `ran`, with a
/// `cleanup` that touches `cleaned`, expecting exit code 1; returns its folder and what it printed on
/// standard error.
fn run_with_setup(name: &str, setup: &str) -> (tempfile::TempDir, String) {
    let text = format!(
        "[experiment]\nname = \"{name}\"\nsetup = {setup:?}\ncleanup = \"touch cleaned\"\n\n[workloads.w]\ntasks = 1\n\
         steps = [{{ exec = \"touch ran\" }}]\n\n[matrix]\nexecutor = [\"sync\"]\n"
    );
    let (dir, file) = write_inline(name, &text);
    let out = harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}", &stderr[..stderr.len().min(2000)]);
    assert!(stderr.contains("the setup failed, so no run was started"), "{stderr}");
    (dir, stderr)
}

#[test]
fn a_failing_setup_stops_the_experiment_and_cleanup_still_runs() {
    let (dir, stderr) = run_with_setup("setup-fails", "echo 'no database here' >&2; exit 4");
    assert!(stderr.contains("exited with code 4: no database here"), "{stderr}");
    assert!(!dir.path().join("ran").exists());
    assert!(dir.path().join("cleaned").exists());
}

#[test]
fn a_hook_that_prints_a_flood_and_fails_is_told_by_the_end_of_its_last_line() {
    let (_dir, stderr) =
        run_with_setup("setup-floods", r"head -c 67108864 /dev/zero | tr '\0' x; echo ' and the end'; exit 3");
    assert!(stderr.len() < 16 * 1024, "the message holds the flood: {} bytes", stderr.len());
    // Only the end of the log was read, and the last line is cut to its end.
    assert!(stderr.contains("exited with code 3: ["), "{stderr}");
    assert!(stderr.contains(" characters left out] ...xxx"), "{stderr}");
    assert!(stderr.contains("xxx and the end"), "{stderr}");
}

#[test]
fn control_sequences_a_program_or_a_hook_prints_reach_neither_the_console_nor_runs_csv() {
    let (dir, file) = write_inline(
        "controls",
        r#"
[experiment]
name = "controls"
repetitions = 1
warmup = 0

[workloads.program]
tasks = 1
steps = [{ exec = "printf '\\033]0;pwned\\007\\033[2J' >&2; exit 1" }]

[workloads.hook]
tasks = 1
prepare = "printf '\\033]0;pwned\\007\\033[2J'; exit 2"
steps = [{ compute = "1KiB" }]

[matrix]
executor = ["sync"]
workload = ["program", "hook"]
"#,
    );
    // Not on a terminal: a progress line per run, with the error of each that failed.
    let out = harness().args(["run", "--out"]).arg(dir.path().join("results")).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let escaped = r"\u{1b}]0;pwned\u{7}\u{1b}[2J";
    assert_eq!(stderr.matches(escaped).count(), 2, "both failures are told, escaped: {stderr}");
    assert!(!out.stderr.iter().chain(&out.stdout).any(|&b| b == 0x1b || b == 0x07), "{stderr}");
    let runs = std::fs::read(dir.path().join("results/controls/latest/runs.csv")).unwrap();
    assert!(!runs.iter().any(|&b| b == 0x1b || b == 0x07), "{}", String::from_utf8_lossy(&runs));
    assert_eq!(String::from_utf8_lossy(&runs).matches(escaped).count(), 2);
}

#[test]
fn a_failing_prepare_or_conclude_fails_its_run() {
    let text = r#"
[experiment]
name = "hook-fails"
repetitions = 1
warmup = 0

[workloads.early]
tasks = 1
prepare = "exit 1"
steps = [{ exec = "touch ran-early" }]

[workloads.late]
tasks = 1
conclude = ["false"]
steps = [{ exec = "true" }]

[matrix]
executor = ["sync"]
workload = ["early", "late"]
"#;
    let (dir, rows) = run_with_failures("hook-fails", text);
    let row = |w: &str| rows.iter().find(|r| r["workload"] == w).unwrap();
    assert_eq!(row("early")["status"], "failed");
    assert!(
        row("early")["error"].contains("`prepare` (`sh -c 'exit 1'`) exited with code 1"),
        "{}",
        row("early")["error"]
    );
    assert!(!dir.path().join("ran-early").exists());
    assert_eq!(row("late")["status"], "failed");
    assert!(row("late")["error"].contains("`conclude` (`false`) exited with code 1"), "{}", row("late")["error"]);
}

fn metrics_experiment(name: &str) -> String {
    format!(
        r#"
[experiment]
name = "{name}"
repetitions = 5
warmup = 0

[workloads.w]
tasks = 4
steps = [{{ exec = "cat value.txt; echo \"cost: $(cat value.txt) per ${{task}}\" >&2" }}]
metrics.ratio = {{ regex = '(?m)^([0-9.]+)$', from = "stdout", aggregate = "mean", better = "higher" }}
metrics.cost = {{ regex = 'cost: ([0-9.]+)', from = "stderr", aggregate = "sum", better = "lower" }}

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workers = [2]
"#
    )
}

#[test]
fn custom_metrics_reach_runs_summary_charts_and_compare() {
    let (dir, file) = write_inline("custom", &metrics_experiment("custom"));
    let run = |value: &str, out: &str| {
        std::fs::write(dir.path().join("value.txt"), format!("{value}\n")).unwrap();
        let result = harness().args(["run", "--quiet", "--out"]).arg(dir.path().join(out)).arg(&file).output().unwrap();
        assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
        dir.path().join(out).join("custom/latest")
    };
    let baseline = run("2", "before");
    let rows = read_runs(&baseline.join("runs.csv"));
    assert_eq!(rows.len(), 20);
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(row["ratio"], "2.000000000", "{row:?}");
        // Summed over the four tasks.
        assert_eq!(row["cost"], "8.000000000", "{row:?}");
    }
    let summary = std::fs::read_to_string(baseline.join("summary.csv")).unwrap();
    let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for metric in ["ratio", "cost"] {
        let lines: Vec<Vec<&str>> = summary
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[column("metric")] == metric)
            .collect();
        assert_eq!(lines.len(), 4, "{metric}: {summary}");
        assert!(lines.iter().all(|f| f[column("n")] == "5"), "{metric}: {summary}");
    }
    assert!(baseline.join("charts/ratio.svg").exists() && baseline.join("charts/cost.svg").exists());

    // Twice the value: more ratio is better, more cost is worse.
    let current = run("4", "after");
    let compare = harness().arg("compare").arg(&baseline).arg(&current).output().unwrap();
    let text = String::from_utf8_lossy(&compare.stdout);
    assert_eq!(compare.status.code(), Some(1), "{text}\n{}", String::from_utf8_lossy(&compare.stderr));
    let verdicts: Vec<&str> = text.lines().filter(|l| l.contains(" ratio ") || l.contains(" cost ")).collect();
    assert_eq!(verdicts.len(), 8, "{text}");
    assert!(verdicts.iter().filter(|l| l.contains(" ratio ")).all(|l| l.contains("improved")), "{text}");
    assert!(verdicts.iter().filter(|l| l.contains(" cost ")).all(|l| l.contains("REGRESSED")), "{text}");
}

#[test]
fn a_declared_metric_that_no_task_reported_fails_the_run() {
    // The program's folder is the experiment file's, where `value.txt` does not exist: nothing is printed.
    let (_dir, rows) = run_with_failures("unreported", &metrics_experiment("unreported"));
    assert_eq!(rows.len(), 20);
    for row in &rows {
        assert_eq!(row["status"], "failed");
        assert!(
            row["error"].contains(
                "no task reported metric `ratio`: its regex '(?m)^([0-9.]+)$' matched nothing in the programs' stdout"
            ),
            "{}",
            row["error"]
        );
        assert_eq!(row["ratio"], "");
    }
}

/// A metric whose number is not finite fails its run under every executor with the metric, the task and
/// the number, whether a program printed it, a library recorded it or the sum of finite numbers passed the
/// largest one: not a malformed report.
#[test]
fn a_metric_that_is_not_finite_names_the_metric_the_task_and_the_number() {
    let printing = |name: &str, printed: &str, aggregate: &str| {
        format!(
            r#"
[experiment]
name = "{name}"
repetitions = 1
warmup = 0

[workloads.w]
tasks = 4
steps = [{{ exec = "echo 'ratio: {printed}'" }}]
metrics.ratio = {{ regex = 'ratio: (\S+)', from = "stdout", aggregate = "{aggregate}", better = "higher" }}

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workers = [2]
"#
        )
    };
    for printed in ["NaN", "inf", "-inf", "1e400"] {
        let (_dir, rows) = run_with_failures("not-finite", &printing("not-finite", printed, "mean"));
        for (executor, row) in by_executor(&rows) {
            assert_eq!(row["status"], "failed", "{executor}");
            let error = &row["error"];
            let said = |task: u64| format!("task {task}: metric `ratio` got `{printed}`, which is not a finite number");
            assert!((0..4).any(|task| error.contains(&said(task))), "{executor}: {error}");
            assert!(!error.contains("malformed"), "{executor}: {error}");
        }
    }
    // Each number is finite, two added up are not: a worker stops at the second of its tasks.
    let (_dir, rows) = run_with_failures("sum-past", &printing("sum-past", "1e308", "sum"));
    for (executor, row) in by_executor(&rows) {
        assert_eq!(row["status"], "failed", "{executor}");
        assert!(
            row["error"].contains("metric `ratio`: the sum of the 2 numbers tasks reported (up to 1e308"),
            "{executor}: {}",
            row["error"]
        );
    }
    let metric = r#"metrics.value = { from = "call", aggregate = "mean", better = "lower" }"#;
    for recorded in ["NaN", "inf", "1e400"] {
        let (_dir, rows) =
            run_with_failures("call-not-finite", &calling("call-not-finite", "measures", recorded, metric));
        for (executor, row) in by_executor(&rows) {
            assert_eq!(row["status"], "failed", "{executor}");
            let error = &row["error"];
            assert!(error.contains("`faulty::measures` failed: metric `value` got `"), "{executor}: {error}");
            assert!(error.contains("which is not a finite number"), "{executor}: {error}");
        }
    }
}

#[test]
fn cleanup_runs_after_ctrl_c() {
    let (dir, file) = write_inline(
        "interrupted",
        r#"
[experiment]
name = "interrupted"
repetitions = 50
warmup = 0
cleanup = "sleep 0.2; touch cleaned"

[workloads.w]
tasks = 1
steps = [{ exec = "touch started; sleep 0.5" }]

[matrix]
executor = ["sync"]
"#,
    );
    let child = harness()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("results"))
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::wait_until("a run started", || dir.path().join("started").exists());
    // SAFETY: signalling a process of this test, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    // Ctrl-C did not stop the cleanup, which outlasts the run the signal ended.
    assert!(dir.path().join("cleaned").exists());
    assert!(
        std::fs::read_to_string(dir.path().join("results/interrupted/latest/logs/cleanup.log"))
            .unwrap()
            .contains("[cleanup]")
    );
}

/// An experiment calling `function` of the test step library `steps-faulty` under every executor.
fn calling(name: &str, function: &str, arg: &str, metrics: &str) -> String {
    let library = support::built_library("steps_faulty");
    format!(
        r#"
[experiment]
name = "{name}"
repetitions = 1
warmup = 0

[libraries]
faulty = "{}"

[workloads.w]
tasks = 40
steps = [{{ call = {{ function = "faulty::{function}", arg = "{arg}" }} }}]
{metrics}

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workers = [2]
"#,
        library.display()
    )
}

#[test]
fn a_function_that_fails_or_panics_fails_its_run_and_nothing_else() {
    let (_dir, rows) = run_with_failures("call-fails", &calling("call-fails", "fails", "no input for ${task}", ""));
    for (executor, row) in by_executor(&rows) {
        assert_eq!(row["status"], "failed", "{executor}");
        assert!(row["error"].contains("`faulty::fails` failed: no input for "), "{executor}: {}", row["error"]);
    }
    let (_dir, rows) = run_with_failures("call-panics", &calling("call-panics", "panics", "boom", ""));
    for (executor, row) in by_executor(&rows) {
        // Caught inside the library: the run fails like any task, it does not crash.
        assert_eq!(row["status"], "failed", "{executor}");
        assert!(row["error"].contains("`faulty::panics` panicked: boom"), "{executor}: {}", row["error"]);
    }
    let (_dir, rows) = run_with_failures("call-undeclared", &calling("call-undeclared", "records", "depth", ""));
    for (executor, row) in by_executor(&rows) {
        assert_eq!(row["status"], "failed", "{executor}");
        assert!(
            row["error"].contains("recorded metric `depth`, which the workload does not declare"),
            "{executor}: {}",
            row["error"]
        );
    }
}

#[test]
fn each_worker_keeps_its_own_state_and_functions_record_metrics() {
    let metric = r#"metrics.calls = { from = "call", aggregate = "sum", better = "lower" }"#;
    let (_dir, _, rows, _) = run_inline("call-state", &calling("call-state", "counts", "", metric));
    let calls = |executor: &str| -> f64 { by_executor(&rows)[executor]["calls"].parse().unwrap() };
    // One worker counts 1 to 40: the sum is 820. Several workers each count their own tasks from 1, so the
    // sum is smaller; how much depends on how the tasks were shared.
    assert_eq!(by_executor(&rows)["sync"]["calls"], "820.000000000");
    for executor in ["threaded", "multiprocess"] {
        assert!(calls(executor) < 820.0 && calls(executor) >= 420.0, "{executor}: {}", calls(executor));
    }
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["checksum"] == rows[0]["checksum"]), "{rows:?}");
}

/// What programs print and what servers answer is hashed as it arrives, not held: a program printing
/// 512 MiB on each stream and a 512 MiB HTTP body leave the run's peak memory far below them, under a
/// blocking executor and the event loop alike, and the checksums agree.
#[test]
fn a_run_holds_neither_what_its_programs_print_nor_the_bodies_it_fetches() {
    let loopback = "http://127.0.0.1:${services.loopback.port}";
    let text = format!(
        r#"
[experiment]
name = "big_outputs"
repetitions = 1
warmup = 0

[workloads.printing]
tasks = 1
steps = [{{ exec = ["sh", "-c", "head -c 512M /dev/zero; head -c 512M /dev/zero >&2"] }}]

[workloads.fetching]
tasks = 1
steps = [{{ http = {{ url = "{loopback}/wait/0s/bytes/512MiB" }} }}]

[matrix]
executor = ["sync", "async"]
workload = ["printing", "fetching"]
"#
    );
    let (_dir, _result, rows, _) = run_inline("big_outputs", &text);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let peak: u64 = row["peak_memory_bytes"].parse().unwrap();
        assert!(peak < 128 << 20, "{} {} peaked at {peak} bytes", row["executor"], row["workload"]);
    }
    for workload in ["printing", "fetching"] {
        let sums: Vec<&str> =
            rows.iter().filter(|r| r["workload"] == workload).map(|r| r["checksum"].as_str()).collect();
        assert_eq!(sums[0], sums[1], "{workload}: the executors disagree");
    }
}

/// A step library replaced during an experiment stops it before a second build is measured: the run during
/// which it changed has no row, the error names the library and says how to finish; `--resume` refuses the
/// new build and finishes with the one the folder started with. A file written again with the same bytes
/// is the same library.
#[test]
fn a_step_library_replaced_during_an_experiment_stops_it_and_resume_wants_the_first_build() {
    let dir = tempfile::tempdir().unwrap();
    let first = support::c_library_as("build", &["BUILD=1"], &dir.path().join("libbuild1.so"));
    support::c_library_as("build", &["BUILD=2"], &dir.path().join("libbuild2.so"));
    let library = dir.path().join("libbuild.so");
    std::fs::copy(&first, &library).unwrap();
    // Run 1 touches the library, run 3 replaces it (a new file renamed over it, as a build does) after its
    // task called the first build.
    std::fs::write(
        dir.path().join("swap.sh"),
        "n=$(cat count 2>/dev/null || echo 0)\necho $((n + 1)) > count\n\
         if [ \"$n\" = 0 ]; then touch libbuild.so; fi\n\
         if [ \"$n\" = 2 ]; then cp libbuild2.so next.so && mv next.so libbuild.so; fi\n",
    )
    .unwrap();
    let file = dir.path().join("replaced.toml");
    std::fs::write(
        &file,
        r#"
[experiment]
name = "replaced"
repetitions = 6
warmup = 0

[libraries]
build = "libbuild.so"

[workloads.w]
tasks = 1
steps = [{ call = { function = "build::build" } }, { exec = ["sh", "swap.sh"] }]

[matrix]
executor = ["sync"]
"#,
    )
    .unwrap();
    let out = dir.path().join("results");
    let ran = harness().args(["run", "--quiet", "--out"]).arg(&out).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("step library `build` ("), "{stderr}");
    assert!(stderr.contains("changed during the experiment"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let result = std::fs::canonicalize(out.join("replaced/latest")).unwrap();
    let rows = read_runs(&result.join("runs.csv"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let environment = std::fs::read_to_string(result.join("environment.json")).unwrap();
    assert!(environment.contains("\"libraries\"") && environment.contains("xxh3-128:"), "{environment}");

    let resume = || harness().args(["run", "--quiet", "--resume"]).arg(&result).arg(&file).output().unwrap();
    let refused = resume();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("step library `build` ("), "{stderr}");
    assert!(stderr.contains("changed since"), "{stderr}");
    assert_eq!(read_runs(&result.join("runs.csv")).len(), 2);

    let back = dir.path().join("back.so");
    std::fs::copy(&first, &back).unwrap();
    std::fs::rename(&back, &library).unwrap();
    let resumed = resume();
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let rows = read_runs(&result.join("runs.csv"));
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["checksum"] == rows[0]["checksum"]), "{rows:?}");
}
