//! The highest rate within an objective (`arrival = { rate = "search", ... }`): a real experiment whose
//! workload has a known capacity (a 5 ms `sleep` on one worker serves at most 200 tasks a second), run
//! through the CLI. What is asserted cannot depend on timing: the probes are in runs.csv with their rates
//! and verdicts, the rate found lies inside the reported bracket, its pass side passed and its fail side
//! did not, the rate found is below what one worker can physically serve within the objective, and the
//! summary, the rate chart (or the note of a cell that found none) and `compare` carry it.

use std::collections::HashMap;

use crate::support;

/// One worker and a 5 ms sleep: at 400 tasks/s or more the 0.5 s of arrivals hold at least 200 tasks
/// needing 1 s of sleeps, so the 99th percentile task waits far beyond the 100 ms objective.
const SEARCH: &str = r#"
[experiment]
name = "search"
repetitions = 3
warmup = 0

[workloads.wait]
steps = [{ sleep = "5ms" }]
arrival = { rate = "search", duration = "0.5s", objective = { p99 = "100ms" }, search = { lowest = "4/s", highest = "2000/s", precision = "25%", confirm = 1 } }

[matrix]
executor = ["sync", "threaded"]
workers = [1]
"#;

/// No rate of 400/s or more can pass (see [`SEARCH`]).
const PHYSICAL_LIMIT: f64 = 400.0;

fn number(row: &HashMap<String, String>, column: &str) -> Option<f64> {
    row.get(column).and_then(|v| v.parse().ok())
}

#[test]
fn a_search_records_its_probes_and_reports_the_rate_found_inside_its_bracket() {
    let (out, dir, rows, _) = support::run_inline("search", SEARCH);
    let summary = support::read_runs(&dir.join("summary.csv"));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let mut found_any = false;
    for executor in ["sync", "threaded"] {
        let probes: Vec<&HashMap<String, String>> = rows.iter().filter(|r| r["executor"] == executor).collect();
        assert!(!probes.is_empty(), "{executor}: no probe in runs.csv");
        // Every run of the cell is a probe: numbered in order, with its rate and its verdict.
        for (i, row) in probes.iter().enumerate() {
            assert_eq!(row["repetition"], (i + 1).to_string(), "{executor}: {row:?}");
            assert!(["pass", "fail", "not_offered"].contains(&row["probe"].as_str()), "{executor}: {row:?}");
            let rate = number(row, "offered_per_s").unwrap();
            assert!((4.0..=2000.0).contains(&rate), "{executor}: a probe outside the bounds: {row:?}");
            // A probe's tasks are those due in its 0.5 s at its rate.
            assert_eq!(row["tasks"], ((rate * 0.5).round().max(1.0) as u64).to_string(), "{executor}: {row:?}");
        }
        // The first probe is the lowest rate; the search doubles from it while it passes.
        assert_eq!(probes[0]["offered_per_s"], "4.000", "{executor}");
        let cell = summary
            .iter()
            .find(|r| r["executor"] == executor && r["metric"] == "run_s")
            .unwrap_or_else(|| panic!("{executor}: no run_s row in summary.csv"));
        assert_eq!(cell["rate_probes"], probes.len().to_string(), "{executor}: {cell:?}");
        let found = number(cell, "rate_found_per_s");
        let failed = number(cell, "rate_failed_per_s");
        let at = |rate: f64| probes.iter().filter(move |r| number(r, "offered_per_s") == Some(rate));
        // The fail side: a probe at it did not pass, and nothing was found at or above it.
        let failed = failed.unwrap_or_else(|| panic!("{executor}: 2000/s cannot pass, so some rate failed: {cell:?}"));
        assert!(at(failed).any(|r| r["probe"] != "pass"), "{executor}: nothing failed at {failed}/s");
        if let Some(found) = found {
            found_any = true;
            assert!(found < failed, "{executor}: the rate found is not below the one that failed: {cell:?}");
            assert!(found < PHYSICAL_LIMIT, "{executor}: {found}/s cannot be within the objective");
            // The pass side: every probe at it passed, the first and its confirmation.
            assert!(at(found).all(|r| r["probe"] == "pass"), "{executor}: a probe at {found}/s did not pass");
            assert_eq!(at(found).count().to_string(), cell["rate_found_runs"], "{executor}: {cell:?}");
            assert_eq!(at(found).count(), 2, "{executor}: the rate found is probed once more (confirm = 1)");
            // No rate between the two sides was probed: the bracket is the search's last word.
            assert!(
                !probes.iter().filter_map(|r| number(r, "offered_per_s")).any(|r| r > found && r < failed),
                "{executor}: a probe inside the bracket"
            );
            // The statistics of the cell are those of its runs at the rate found, its throughput too (those
            // runs ran the found rate's tasks, not the lowest rate's).
            assert_eq!(cell["n"], "2", "{executor}: {cell:?}");
            let throughput = summary
                .iter()
                .find(|r| r["executor"] == executor && r["metric"] == "throughput_per_s")
                .unwrap_or_else(|| panic!("{executor}: no throughput_per_s row in summary.csv"));
            let (cell_rate, median) =
                (number(cell, "throughput_per_s").unwrap(), number(throughput, "median").unwrap());
            assert!((cell_rate - median).abs() < 0.001, "{executor}: {cell_rate} against {median}");
        } else {
            assert_eq!(cell["rate_failed_per_s"], "4.000", "{executor}: nothing found, so the lowest rate failed");
            assert!(report.contains(&format!("executor={executor}")) && report.contains("found no rate"), "{report}");
        }
    }
    // A search's probes are not a sweep of fixed rates: no load group, no sustainable rate, no load chart.
    for cell in summary.iter().filter(|r| r["metric"] == "run_s") {
        assert_eq!((cell["capacity_per_s"].as_str(), cell["sustainable_per_s"].as_str()), ("", ""), "{cell:?}");
        assert_eq!(cell["model"], "a rate search: its rate found, not an ideal time", "{cell:?}");
    }
    let charts: Vec<String> = std::fs::read_dir(dir.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!charts.iter().any(|c| c.starts_with("load")), "{charts:?}");
    assert!(!report.contains("saturated"), "{report}");
    let chart = dir.join("charts/rate.svg");
    assert_eq!(chart.exists(), found_any, "the rate chart is drawn when a cell found a rate");
    if found_any {
        let svg = std::fs::read_to_string(&chart).unwrap();
        assert!(svg.contains("Highest rate with p99 within 100ms"), "{svg}");
    }

    // `compare` shows the rates found beside its verdicts, not judged.
    let compared = support::harness().arg("compare").arg(&dir).arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&compared.stdout);
    assert!(text.contains("Highest rate within the objective (higher is better)"), "{text}");
    for executor in ["sync", "threaded"] {
        let row = |l: &&str| l.starts_with(&format!("executor={executor} ")) && l.contains("failed at");
        assert!(text.lines().any(|l| row(&l)), "{text}");
    }

    // A search is not resumed: the run says why, exit 2, and appends nothing.
    let file = out.path().join("search.toml");
    let resumed = support::harness().args(["run", "--quiet", "--resume"]).arg(&dir).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a search is not resumed"), "{stderr}");
    assert_eq!(support::read_runs(&dir.join("runs.csv")).len(), rows.len());

    // Nor sharded: `merge` takes each cell's planned repetitions, and a search has as many probes as it needs.
    let sharded = support::harness()
        .args(["run", "--quiet", "--shard", "0/2", "--out"])
        .arg(out.path())
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&sharded.stderr);
    assert_eq!(sharded.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a search is not sharded"), "{stderr}");
}

/// A search cell's load is that of its probes at their highest rate, not of its first probe (here one task
/// at 2/s): four workers keep four tasks in flight, as an event loop of four does.
#[test]
fn a_search_cell_is_labelled_with_the_load_of_its_probes_not_of_its_first() {
    let text = r#"
[experiment]
name = "search_load"
repetitions = 1
warmup = 0

[workloads.wait]
steps = [{ sleep = "1ms" }]
arrival = { rate = "search", duration = "0.5s", objective = { p99 = "1s" }, search = { lowest = "2/s", highest = "16/s", precision = "50%", confirm = 0 } }

[matrix]
executor = ["threaded", "async"]
workers = [4]

[executors.async]
concurrency = 4
"#;
    let (_out, dir, rows, _) = support::run_inline("search_load", text);
    assert_eq!(rows.iter().find(|r| r["repetition"] == "1").map(|r| r["tasks"].as_str()), Some("1"), "{rows:?}");
    let summary = support::read_runs(&dir.join("summary.csv"));
    for executor in ["threaded", "async"] {
        let cell = summary.iter().find(|r| r["executor"] == executor && r["metric"] == "run_s").unwrap();
        assert_eq!(cell["in_flight"], "4", "{executor}: {cell:?}");
    }
}

/// The progress lines of a searching run say the most runs there can be while a search may still add probes
/// (100 a search at most), and that bound shrinks to the count once each search has ended.
#[test]
fn progress_counts_the_probes_a_search_may_still_add() {
    let text = r#"
[experiment]
name = "search_progress"
repetitions = 1
warmup = 0

[workloads.wait]
steps = [{ sleep = "1ms" }]
arrival = { rate = "search", duration = "0.2s", objective = { p99 = "1s" }, search = { lowest = "2/s", highest = "16/s", precision = "50%", confirm = 0 } }

[matrix]
executor = ["sync", "threaded"]
"#;
    let (out, file) = support::write_inline("search_progress", text);
    let ran = support::harness().args(["run", "--out"]).arg(out.path().join("results")).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "{stderr}");
    let rows = support::read_runs(&out.path().join("results/search_progress/latest/runs.csv"));
    // `[done/total]` or `[done/total, up to most]`, a line a probe.
    let counters: Vec<(usize, usize, Option<usize>)> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.split_once(']').map(|(c, _)| c.to_owned()))
        .map(|c| {
            let (counts, most) = c.split_once(", up to ").map_or((c.as_str(), None), |(a, m)| (a, Some(m)));
            let (done, total) = counts.split_once('/').unwrap();
            (done.parse().unwrap(), total.parse().unwrap(), most.map(|m| m.parse().unwrap()))
        })
        .collect();
    assert_eq!(counters.len(), rows.len(), "{stderr}");
    assert_eq!(counters[0], (1, 2, Some(200)), "two searches, each with one slot and 99 more probes at most");
    let n = rows.len();
    assert_eq!(counters[n - 1], (n, n, None), "{stderr}");
    let mut bound = usize::MAX;
    for (i, &(done, total, most)) in counters.iter().enumerate() {
        assert_eq!(done, i + 1, "{stderr}");
        assert!(total >= done && total <= n, "{stderr}");
        let most = most.unwrap_or(total);
        assert!(most >= n && most <= bound, "the bound only shrinks and never below the runs made: {stderr}");
        bound = most;
    }
}

/// A search whose lowest rate already misses the objective found nothing: a warning says so, with what to
/// change (a 1 ms sleep cannot end within 100 us).
#[test]
fn a_search_that_found_no_rate_is_a_warning() {
    let text = r#"
[experiment]
name = "search_none"
repetitions = 1
warmup = 0

[workloads.wait]
steps = [{ sleep = "1ms" }]
arrival = { rate = "search", duration = "0.2s", objective = { p99 = "100us" }, search = { lowest = "10/s", highest = "40/s" } }

[matrix]
executor = ["sync"]
"#;
    let (_out, dir, _, _) = support::run_inline("search_none", text);
    let warnings = std::fs::read_to_string(dir.join("warnings.txt")).unwrap();
    assert!(
        warnings.contains(
            "executor=sync: its search found no rate within the objective: the lowest it probed, 10/s, did not pass"
        ),
        "{warnings}"
    );
}
