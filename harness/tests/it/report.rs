//! Charts and reports: `harness report` on result folders made by hand (`tests/fixtures/report/`), and
//! the charts and reports that `harness run` leaves.
//!
//! What each chart shows is snapshotted from the `<desc>` the harness writes into every SVG (title, axes,
//! panels, series and their point counts, rules, notes), so a change in what a chart shows is a change in
//! a snapshot, visible in review.

use std::path::{Path, PathBuf};

use crate::support;

/// Copies the fixture result folder `name` into a temporary folder.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(support::root().join("harness/tests/fixtures/report").join(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    (temp, dir)
}

fn report(dir: &Path) -> std::process::Output {
    support::harness().arg("report").arg(dir).output().unwrap()
}

/// The SVG files of `dir/charts`, sorted by name.
fn charts(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("charts")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.iter().all(|f| f.extension().is_some_and(|e| e == "svg")), "{files:?}");
    files
}

/// Parses every chart as XML and returns its `<desc>`, checking the document on the way: an `svg` root with
/// a size, a title, text in a generic font family, nothing loaded from elsewhere.
fn describe(files: &[PathBuf]) -> String {
    let mut out = String::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg", "{}", file.display());
        for size in ["width", "height"] {
            assert!(root.attribute(size).and_then(|w| w.parse::<u32>().ok()).is_some_and(|w| w > 100), "{size}");
        }
        let child = |name: &str| root.children().find(|n| n.has_tag_name(name)).and_then(|n| n.text());
        assert!(child("title").is_some_and(|t| !t.is_empty()), "{}: no title", file.display());
        let texts: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("text")).collect();
        assert!(texts.len() > 5, "{}: too little text", file.display());
        assert!(texts.iter().all(|t| t.attribute("font-family") == Some("sans-serif")), "{}", file.display());
        assert!(!doc.descendants().any(|n| n.has_tag_name("image") || n.attribute("href").is_some()), "external");
        out.push_str(child("desc").unwrap_or_else(|| panic!("{}: no desc", file.display())));
        out.push('\n');
    }
    out
}

#[test]
fn report_draws_every_chart_kind_from_a_result_folder() {
    let (_temp, dir) = fixture("lines");
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), dir.join("report.md").display().to_string());
    let files = charts(&dir);
    let names: Vec<String> = files.iter().map(|f| f.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "chart-1-waits-run-time-per-executor",
            "chart-2-efficiency-by-workers",
            "cpu_s",
            "efficiency",
            "latency",
            "latency_p99_s",
            "peak_memory_bytes",
            "run_s",
            "speedup",
            "throughput_per_s"
        ]
    );
    insta::assert_snapshot!(describe(&files));

    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for name in &names {
        assert!(markdown.contains(&format!("](charts/{name}.svg)")), "report.md lacks {name}");
    }
    // The table: one row per cell, medians with intervals, efficiency and speedup.
    assert!(markdown.contains("| executor | workload | workers | runs | failed | run time |"), "{markdown}");
    assert!(markdown.contains("| threaded | io | 4 | 3 | 0 | 28.5 ms ("), "{markdown}");
    assert!(markdown.contains("## Environment") && markdown.contains("Example CPU, 2 logical CPUs"), "{markdown}");

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg ").count(), names.len(), "every chart inline");
    assert!(!html.contains("src=") && !html.contains("<link"), "report.html loads nothing");
}

#[test]
fn a_report_without_the_executors_or_all_runs_says_what_it_cannot_show() {
    let (_temp, dir) = fixture("bars");
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let files = charts(&dir);
    insta::assert_snapshot!(describe(&files));
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for expected in [
        "the experiment's executors could not be loaded (unknown executor `mine`)",
        "the result is partial: 6 of 8 measured runs are in runs.csv",
        "no efficiency chart",
        "4 cells, 6 measured runs (1 failed)",
    ] {
        assert!(markdown.contains(expected), "report.md lacks {expected:?}:\n{markdown}");
    }
}

#[test]
fn report_redraws_the_same_charts() {
    let (_temp, dir) = fixture("lines");
    assert!(report(&dir).status.success());
    let first: Vec<String> = charts(&dir).iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    std::fs::write(dir.join("charts/stale.svg"), "<svg/>").unwrap();
    assert!(report(&dir).status.success());
    let second: Vec<String> = charts(&dir).iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert_eq!(first, second, "the same files, byte for byte, and no stale chart");
}

#[test]
fn report_of_a_folder_that_is_not_a_result_is_bad_input() {
    let temp = tempfile::tempdir().unwrap();
    let out = report(temp.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a result folder: it needs runs.csv and experiment.toml"), "{stderr}");
}

#[test]
fn run_leaves_charts_and_reports() {
    let out = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let run = support::harness().args(["run", "--quiet", "--out"]).arg(out.path()).arg(&file).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let dir = out.path().join("tiny/latest");
    let files = charts(&dir);
    assert!(files.iter().any(|f| f.ends_with("run_s.svg")), "{files:?}");
    describe(&files);
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(markdown.starts_with("# tiny\n") && markdown.contains("![Run time"), "{markdown}");
    assert!(dir.join("report.html").is_file());
}

#[test]
fn speedup_can_be_measured_against_another_executor() {
    let (_temp, dir) = fixture("lines");
    let out = support::harness().args(["report", "--reference", "threaded"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let description = describe(&[dir.join("charts/speedup.svg")]);
    assert!(description.contains("chart speedup.svg: Speedup over threaded by workers"), "{description}");
    assert!(description.contains("workload=io: sync (1 point), async (2 points)"), "{description}");
    assert!(description.contains("rule: as fast as threaded at 1"), "{description}");
}

#[test]
fn a_reference_executor_that_is_not_there_is_bad_input() {
    let (_temp, dir) = fixture("lines");
    let out = support::harness().args(["report", "--reference", "threadd"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `threaded`?"), "{stderr}");
}

#[test]
fn numbers_that_cannot_be_right_are_warnings() {
    // The cell with four workers was edited to run faster than its ideal and its tasks faster than their
    // wait; the cell with two is as measured.
    let (_temp, dir) = fixture("impossible");
    let out = report(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let warnings: Vec<&str> = markdown.lines().filter(|l| l.starts_with("- executor=")).collect();
    let about = |workers: &str, what: &str| {
        warnings.iter().any(|w| w.contains(&format!("workers={workers} ")) && w.contains(what))
    };
    assert!(about("4", "efficiency is 150%: the runs took less than the ideal time (30ms)"), "{markdown}");
    assert!(about("4", "the median task took 1ms, less than the 10ms its steps wait"), "{markdown}");
    assert!(!about("2", "efficiency is") && !about("2", "ended early"), "{markdown}");
}

#[test]
fn markdown_outputs_show_values_as_text_and_csv_keeps_them_as_written() {
    let (_temp, dir, rows, _) = support::run_inline(
        "inert",
        r#"
[experiment]
name = "inert"
description = "<script>alert(1)</script> and [a link](javascript:alert(2))"
repetitions = 1
warmup = 0

[workloads.w]
tasks = 1
steps = [{ exec = ["true", "${label}"] }]

[matrix]
executor = ["sync"]
workload = ["w"]
label = ["=1+2", "<img src=x onerror=alert(3)>"]
"#,
    );
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str()).collect();
    assert_eq!(labels, ["=1+2", "<img src=x onerror=alert(3)>"], "runs.csv keeps the values as written");
    let export = dir.join("export.md");
    let out = support::harness().arg("export").arg(&dir).arg("--export-markdown").arg(&export).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for file in [dir.join("report.md"), export] {
        let text = std::fs::read_to_string(&file).unwrap();
        for raw in ["<script>", "<img", "[a link]"] {
            assert!(!text.contains(raw), "{} quotes {raw} raw:\n{text}", file.display());
        }
        assert!(text.contains("&lt;img src=x onerror=alert(3)&gt;"), "{}:\n{text}", file.display());
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("&lt;script&gt;alert(1)&lt;/script&gt; and \\[a link\\](javascript:alert(2))"), "{report}");
}
