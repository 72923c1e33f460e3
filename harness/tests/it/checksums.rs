//! Checksums compared: within a cell and across executors, a warning where deterministic steps disagree, a
//! failed run where the workload says they must agree, nothing for steps whose value may change.

use std::collections::HashMap;

use crate::support::{self, harness, read_runs, write_inline};

/// Runs `text` (experiment `name`) and expects exit code `code`; returns the result folder's rows, its
/// warnings.txt (empty when there is none) and its report.md.
fn run(name: &str, text: &str, code: i32) -> (Vec<HashMap<String, String>>, String, String) {
    let (dir, file) = write_inline(name, text);
    let out = harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
    let result = dir.path().join(format!("results/{name}/latest"));
    let warnings = std::fs::read_to_string(result.join("warnings.txt")).unwrap_or_default();
    let report = std::fs::read_to_string(result.join("report.md")).unwrap();
    (read_runs(&result.join("runs.csv")), warnings, report)
}

/// The lines of `warnings` about checksums.
fn disagreements(warnings: &str) -> Vec<&str> {
    warnings.lines().filter(|l| l.contains("checksum")).collect()
}

#[test]
fn executors_that_agree_pass_and_a_function_that_returns_its_pid_is_named_with_its_values() {
    let library = support::built_library("steps_faulty");
    let text = format!(
        r#"
[experiment]
name = "agree"
repetitions = 3
warmup = 0

[libraries]
faulty = "{}"

[workloads.same]
tasks = 20
steps = [
    {{ compute = "64KiB" }},
    {{ read_file = {{ size = "4KiB", files = 3 }} }},
    {{ net = {{ request = 16, response = 64 }} }},
    {{ shared = {{}} }},
    {{ alloc = "64KiB" }},
    {{ sleep = "100us" }},
]

[workloads.pid]
tasks = 4
steps = [{{ call = {{ function = "faulty::pid" }} }}]

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workload = ["same", "pid"]
workers = [2]
"#,
        library.display()
    );
    let (rows, warnings, report) = run("agree", &text, 0);
    let same: Vec<_> = rows.iter().filter(|r| r["workload"] == "same").collect();
    assert_eq!(same.len(), 12);
    assert!(same.iter().all(|r| r["status"] == "ok" && r["checksum"] == same[0]["checksum"]), "{same:?}");
    // One warning, for `pid` only: every run of it is a process of its own, so its checksums differ within
    // each cell and across the executors.
    let found = disagreements(&warnings);
    assert_eq!(found.len(), 1, "{warnings}");
    let warning = found[0];
    assert!(warning.contains("the checksums of workload `pid` disagree"), "{warning}");
    // Twelve runs, twelve values: four named, each with the run that reported it, and the rest counted.
    let pid: Vec<_> = rows.iter().filter(|r| r["workload"] == "pid").collect();
    let named: Vec<_> = pid.iter().filter(|r| warning.contains(&format!("{} from ", r["checksum"]))).collect();
    assert_eq!(named.len(), 4, "{warning}");
    for row in named {
        let cell = format!("executor={} workload=pid workers=2 (repetition {})", row["executor"], row["repetition"]);
        assert!(warning.contains(&format!("{} from {cell}", row["checksum"])), "{cell}: {warning}");
    }
    assert!(warning.ends_with(", and 8 more checksums"), "{warning}");
    assert!(rows.iter().all(|r| r["status"] == "ok"), "a warning changes no status");
    assert!(report.contains("the checksums of workload `pid` disagree"), "{report}");
}

#[test]
fn must_agree_fails_the_runs_that_differ_and_unknown_steps_are_left_alone() {
    let experiment = |name: &str, checksum: &str| {
        format!(
            r#"
[experiment]
name = "{name}"
repetitions = 3
warmup = 0

[workloads.w]
tasks = 1
steps = [{{ exec = "echo $$" }}]
{checksum}

[matrix]
executor = ["sync"]
"#
        )
    };
    // A program's output is not known to be the same on every run: not compared, unless the file says so.
    for checksum in ["", r#"checksum = "warn""#, r#"checksum = "ignore""#] {
        let (rows, warnings, _) = run("pids", &experiment("pids", checksum), 0);
        assert_eq!(rows.len(), 3);
        assert_ne!(rows[0]["checksum"], rows[1]["checksum"], "the shell's pid is printed");
        assert!(disagreements(&warnings).is_empty(), "{checksum}: {warnings}");
    }
    let (rows, warnings, _) = run("vouched", &experiment("vouched", r#"checksum = "must-agree""#), 1);
    let first = &rows.iter().find(|r| r["repetition"] == "1").unwrap()["checksum"];
    for row in &rows {
        if row["repetition"] == "1" {
            assert_eq!(row["status"], "ok");
            continue;
        }
        assert_eq!(row["status"], "failed", "{row:?}");
        let said = format!("differs from {first}, that of executor=sync repetition 1, which ran the same workload");
        assert!(row["error"].starts_with("checksum ") && row["error"].contains(&said), "{}", row["error"]);
        assert!(!row["error"].starts_with(&format!("checksum {first}")), "{}", row["error"]);
    }
    let found = disagreements(&warnings);
    assert_eq!(found.len(), 2, "{warnings}");
    assert!(found.iter().all(|w| w.contains("must-agree")), "{warnings}");
}

/// `--resume` holds the runs it adds to the `ok` runs already in the folder: a program that prints
/// something else now fails there, though it is the first run of this harness.
#[test]
fn resume_holds_the_runs_it_adds_to_the_ones_in_the_folder() {
    let (dir, file) = write_inline(
        "resumed",
        r#"
[experiment]
name = "resumed"
repetitions = 3
warmup = 0

[workloads.w]
tasks = 2
steps = [{ exec = ["cat", "value.txt"] }]
checksum = "must-agree"

[matrix]
executor = ["sync"]
"#,
    );
    std::fs::write(dir.path().join("value.txt"), "before\n").unwrap();
    let out = dir.path().join("results");
    let ran = harness().args(["run", "--quiet", "--out"]).arg(&out).arg(&file).output().unwrap();
    assert_eq!(ran.status.code(), Some(0), "{}", String::from_utf8_lossy(&ran.stderr));
    let result = std::fs::canonicalize(out.join("resumed/latest")).unwrap();
    // The last run as if the harness had been killed before it: its row is not there.
    let runs = result.join("runs.csv");
    let text = std::fs::read_to_string(&runs).unwrap();
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&runs, kept.join("\n") + "\n").unwrap();

    std::fs::write(dir.path().join("value.txt"), "after\n").unwrap();
    let resumed = harness().args(["run", "--quiet", "--resume"]).arg(&result).arg(&file).output().unwrap();
    assert_eq!(resumed.status.code(), Some(1), "{}", String::from_utf8_lossy(&resumed.stderr));
    let rows = read_runs(&runs);
    assert_eq!(rows.len(), 3);
    let last = rows.iter().find(|r| r["repetition"] == "3").unwrap();
    assert_eq!(last["status"], "failed", "{last:?}");
    let first = &rows.iter().find(|r| r["repetition"] == "1").unwrap()["checksum"];
    assert!(last["error"].contains(&format!("differs from {first}, that of executor=sync repetition 1")), "{last:?}");
}
