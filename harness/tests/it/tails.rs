//! Tail latency over the cell: each run's histogram in `histograms/`, merged per cell into `summary.csv`'s
//! `cell_latency_*` columns, checked against a workload whose distribution is known and recomputed here from
//! the raw files by another method; folders without histograms still read, and `merge` keeps the shards'.

use std::collections::HashMap;
use std::path::Path;

use crate::support::{self, read_runs, run_inline};

/// A server that answers a GET of `/N` after a wait that depends on `N % 50`: 10 ms for 0 to 19, 30 ms for
/// 20 to 39, 60 ms for 40 to 47 and 100 ms for 48 and 49. Over two runs of tasks 0 to 49, the tasks ranked
/// 41 to 80 of 100 wait 30 ms, 81 to 96 60 ms and 97 to 100 100 ms: the p50, p90 and p99 fall inside a
/// group, not on its edge, so a task slowed by a busy machine does not move them to the next group.
const SLOW_SERVER: &str = r#"
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body go in two writes: without this, the second waits for a delayed ACK.
    disable_nagle_algorithm = True
    def do_GET(self):
        task = int(self.path.strip("/") or "0")
        n = task % 50
        time.sleep(0.010 if n < 20 else 0.030 if n < 40 else 0.060 if n < 48 else 0.100)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
"#;

/// The rows of `summary.csv` by (executor, metric).
fn summary(dir: &Path) -> HashMap<(String, String), HashMap<String, String>> {
    read_runs(&dir.join("summary.csv")).into_iter().map(|r| ((r["executor"].clone(), r["metric"].clone()), r)).collect()
}

/// The value at quantile `q` of the tasks in `pairs` (value, count): the smallest value whose cumulative
/// count reaches `ceil(q * n)`, computed from the tasks themselves, not through a histogram library.
fn nearest_rank(pairs: &[(u64, u64)], q: f64) -> u64 {
    let mut values: Vec<u64> = pairs.iter().flat_map(|&(v, n)| std::iter::repeat_n(v, n as usize)).collect();
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).max(1);
    values[rank - 1]
}

/// The `latency_ns,tasks` lines of a histogram file.
fn pairs_of(path: &Path) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("latency_ns,tasks"));
    lines
        .map(|l| {
            let (v, n) = l.split_once(',').unwrap();
            (v.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

fn seconds(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column].parse().unwrap_or_else(|_| panic!("{column} is {:?}", row[column]))
}

#[test]
fn percentiles_over_the_cell_match_the_known_waits_and_a_recomputation_from_the_raw_histograms() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slow.py"), SLOW_SERVER).unwrap();
    let text = format!(
        "[experiment]\nname = \"tails\"\nrepetitions = 2\nwarmup = 0\n\n\
         [services.slow]\ncommand = [\"python3\", \"{}\", \"${{port}}\"]\n\n\
         [workloads.w]\ntasks = 50\nsteps = [{{ http = {{ url = \"http://127.0.0.1:${{services.slow.port}}/${{task}}\" }} }}]\n\n\
         [matrix]\nexecutor = [\"sync\"]\n",
        dir.path().join("slow.py").display()
    );
    let (_out, results, rows, _) = run_inline("tails", &text);
    assert_eq!(rows.len(), 2);
    let row = &summary(&results)[&("sync".to_owned(), "run_s".to_owned())];
    assert_eq!(row["cell_latency_tasks"], "100");
    // The tasks ranked 50, 90 and 99 of 100 wait at least 30, 60 and 100 ms: no percentile is shorter than its
    // task's wait (how much longer depends on the machine, so no upper bound is asserted), and they rise.
    let ms = |x: f64| x * 1e3;
    let mut before = 0.0;
    for (column, wait_ms) in [("cell_latency_p50_s", 30.0), ("cell_latency_p90_s", 60.0), ("cell_latency_p99_s", 100.0)]
    {
        let measured = ms(seconds(row, column));
        assert!(measured >= wait_ms, "{column}: {measured} ms, shorter than the wait of {wait_ms} ms");
        assert!(measured >= before, "{column}: {measured} ms, below the percentile before it ({before} ms)");
        before = measured;
    }
    // Recomputed from the raw files by the nearest rank over every task, independent of the harness's
    // merging: the same numbers to the nanosecond.
    let mut all = Vec::new();
    for repetition in 1..=2 {
        let pairs = pairs_of(&results.join(format!("histograms/cell-1-rep-{repetition}.csv")));
        // Each run's own file gives that run's percentiles of runs.csv.
        let run = rows.iter().find(|r| r["repetition"] == repetition.to_string()).unwrap();
        let p50 = nearest_rank(&pairs, 0.5) as f64 / 1e9;
        assert!(
            (p50 - seconds(run, "latency_p50_s")).abs() < 1e-9,
            "rep {repetition}: {p50} against {}",
            run["latency_p50_s"]
        );
        all.extend(pairs);
    }
    assert_eq!(all.iter().map(|(_, n)| n).sum::<u64>(), 100);
    for (column, q) in [("cell_latency_p50_s", 0.5), ("cell_latency_p90_s", 0.9), ("cell_latency_p99_s", 0.99)] {
        let expected = nearest_rank(&all, q) as f64 / 1e9;
        assert!((seconds(row, column) - expected).abs() < 1e-9, "{column}: {} against {expected}", row[column]);
    }
    let max = all.iter().map(|(v, _)| *v).max().unwrap() as f64 / 1e9;
    assert!(
        (seconds(row, "cell_latency_max_s") - max).abs() <= max * 1e-3,
        "{} against {max}",
        row["cell_latency_max_s"]
    );
    // The report draws them apart from the per-run percentiles.
    assert!(results.join("charts/latency-over-cell.svg").exists());
}

const QUICK: &str = "[experiment]\nname = \"quick\"\nrepetitions = 2\nwarmup = 0\n\n\
    [workloads.w]\ntasks = 20\nsteps = [{ sleep = \"200us\" }]\n\n\
    [matrix]\nexecutor = [\"sync\", \"threaded\"]\n";

#[test]
fn a_folder_without_histograms_reads_with_a_note_and_without_the_columns() {
    let (_out, results, _rows, _) = run_inline("quick", QUICK);
    std::fs::remove_dir_all(results.join("histograms")).unwrap();
    std::fs::remove_file(results.join("summary.csv")).unwrap();
    let output = support::harness().arg("report").arg(&results).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report = std::fs::read_to_string(results.join("report.md")).unwrap();
    assert!(report.contains("no latency histograms"), "{report}");
    let json = results.join("export.json");
    let exported = support::harness().arg("export").arg(&results).arg("--export-json").arg(&json).output().unwrap();
    assert_eq!(exported.status.code(), Some(0), "{}", String::from_utf8_lossy(&exported.stderr));
    assert!(std::fs::read_to_string(&json).unwrap().contains("run_s"));
}

#[test]
fn merge_keeps_the_histograms_of_the_shards() {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("quick.toml");
    std::fs::write(&file, QUICK).unwrap();
    let mut shards = Vec::new();
    for shard in ["0/2", "1/2"] {
        let to = out.path().join(format!("shard-{}", &shard[..1]));
        let status = support::harness()
            .args(["run", "--quiet", "--shard", shard, "--out"])
            .arg(&to)
            .arg(&file)
            .output()
            .unwrap()
            .status;
        assert!(status.success());
        shards.push(to.join("quick/latest"));
    }
    let merged = out.path().join("merged");
    let status = support::harness().arg("merge").args(&shards).arg("--out").arg(&merged).output().unwrap().status;
    assert!(status.success());
    let rows = read_runs(&merged.join("runs.csv"));
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let path = merged.join(format!("histograms/cell-{}-rep-{}.csv", row["cell"], row["repetition"]));
        assert_eq!(pairs_of(&path).iter().map(|(_, n)| n).sum::<u64>(), 20, "{}", path.display());
    }
    let summary = summary(&merged);
    for executor in ["sync", "threaded"] {
        assert_eq!(summary[&(executor.to_owned(), "run_s".to_owned())]["cell_latency_tasks"], "40", "{executor}");
    }
}

#[test]
fn compare_shows_the_percentiles_over_the_cell_and_names_a_side_without_histograms() {
    let (_a, baseline, _, _) = run_inline("quick", QUICK);
    let (_b, current, _, _) = run_inline("quick", QUICK);
    let output = support::harness().arg("compare").arg(&baseline).arg(&current).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("p99 over the cell"), "{stdout}");
    // The baseline's own p99 over its cell, as its summary says, is the left side of the row.
    let p99 = seconds(&summary(&baseline)[&("sync".to_owned(), "run_s".to_owned())], "cell_latency_p99_s");
    let table = &stdout[stdout.find("p99 over the cell").unwrap()..];
    let row = table.lines().find(|l| l.starts_with("executor=sync ")).unwrap_or_else(|| panic!("{stdout}"));
    // `cell  p50 -> p50 (change)  p99 -> p99 (change)`: the fifth and sixth words from the end of the p50's.
    let words: Vec<&str> = row.split_whitespace().collect();
    let arrows: Vec<usize> = words.iter().enumerate().filter(|(_, w)| **w == "->").map(|(i, _)| i).collect();
    let (number, unit) = (words[arrows[1] - 2], words[arrows[1] - 1]);
    let shown = number.parse::<f64>().unwrap()
        * match unit {
            "µs" => 1e-6,
            "ms" => 1e-3,
            other => panic!("{other} in {row}"),
        };
    assert!((shown - p99).abs() <= p99 * 0.01, "{row}: the baseline's p99 over the cell is {p99} s");
    std::fs::remove_dir_all(baseline.join("histograms")).unwrap();
    let output = support::harness().arg("compare").arg(&baseline).arg(&current).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has no latency histograms"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("p99 over the cell"));
}

/// An open workload's response times (from when each task was due, queueing included) get histograms and
/// percentiles over the cell of their own, recomputed here from the raw files; a closed workload has none.
#[test]
fn an_open_workloads_response_times_are_merged_over_the_cell_too() {
    let text = "[experiment]\nname = \"open_tails\"\nrepetitions = 2\nwarmup = 0\n\n\
        [workloads.open]\nsteps = [{ sleep = \"2ms\" }]\narrival = { rate = \"800/s\", duration = \"0.25s\" }\n\n\
        [workloads.closed]\ntasks = 20\nsteps = [{ sleep = \"200us\" }]\n\n\
        [matrix]\nexecutor = [\"threaded\"]\nworkers = [1]\nworkload = [\"open\", \"closed\"]\n";
    let (_out, results, rows, _) = run_inline("open_tails", text);
    let summary = read_runs(&results.join("summary.csv"));
    let cell =
        |workload: &str| summary.iter().find(|r| r["workload"] == workload && r["metric"] == "run_s").unwrap().clone();
    let (open, closed) = (cell("open"), cell("closed"));
    let cell_of = |workload: &str| rows.iter().find(|r| r["workload"] == workload).unwrap()["cell"].clone();
    let mut all = Vec::new();
    for repetition in 1..=2 {
        let file = results.join(format!("histograms/cell-{}-rep-{repetition}-response.csv", cell_of("open")));
        let pairs = pairs_of(&file);
        let run = rows.iter().find(|r| r["workload"] == "open" && r["repetition"] == repetition.to_string()).unwrap();
        let p50 = nearest_rank(&pairs, 0.5) as f64 / 1e9;
        assert!((p50 - seconds(run, "response_p50_s")).abs() < 1e-9, "rep {repetition}: {p50} against {run:?}");
        all.extend(pairs);
    }
    assert_eq!(open["cell_response_tasks"], all.iter().map(|(_, n)| n).sum::<u64>().to_string(), "{open:?}");
    for (column, q) in [("cell_response_p50_s", 0.5), ("cell_response_p90_s", 0.9), ("cell_response_p99_s", 0.99)] {
        let expected = nearest_rank(&all, q) as f64 / 1e9;
        assert!((seconds(&open, column) - expected).abs() < 1e-9, "{column}: {} against {expected}", open[column]);
    }
    // Waiting in the queue included: never shorter than the service time over the same tasks.
    assert!(seconds(&open, "cell_response_p99_s") >= seconds(&open, "cell_latency_p99_s"), "{open:?}");
    for column in ["cell_response_tasks", "cell_response_p99_s"] {
        assert_eq!(closed[column], "", "a closed workload has no response times: {closed:?}");
    }
    assert!(!results.join(format!("histograms/cell-{}-rep-1-response.csv", cell_of("closed"))).exists());
    // `compare` shows them beside the service times, for the open cell alone.
    let out = support::harness().arg("compare").arg(&results).arg(&results).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("(response time)").count(), 1, "{text}");
    assert!(text.contains("workload=open (response time)"), "{text}");
}
