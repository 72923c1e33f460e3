//! The CI gate: `harness compare`, `harness run --baseline`, the `[ci]` table, and the exports.

use std::path::{Path, PathBuf};

use crate::support;

/// An experiment whose tasks each sleep `sleep`; the cells are the same whatever the sleep.
fn experiment(dir: &Path, name: &str, sleep: &str, ci: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[experiment]\nname = \"gate\"\nrepetitions = 6\nwarmup = 0\n\n[workloads.w]\ntasks = 5\nsteps = [{{ sleep = \"{sleep}\" }}]\n\n\
             [matrix]\nexecutor = [\"sync\", \"threaded\"]\nworkers = [2]\n{ci}"
        ),
    )
    .unwrap();
    path
}

fn run(args: &[&str], file: &Path, out: &Path) -> (Option<i32>, String, PathBuf) {
    let output = support::harness().args(["run", "--quiet", "--out"]).arg(out).arg(file).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let dir = PathBuf::from(stdout.lines().last().unwrap_or_default());
    (output.status.code(), stdout + &String::from_utf8_lossy(&output.stderr), dir)
}

#[test]
fn a_real_slowdown_fails_the_gate_and_noise_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    // Only changes over 50% count: the slowdown below is 200%, and run-to-run noise of 2 ms sleeps is
    // far below 50%.
    let ci = "\n[ci]\nthreshold = \"50%\"\nmetrics = [\"run_s\", \"throughput_per_s\"]\n";
    let fast = experiment(tmp.path(), "fast.toml", "2ms", ci);
    let slow = experiment(tmp.path(), "slow.toml", "6ms", ci);
    let (code, output, baseline) = run(&[], &fast, tmp.path());
    assert_eq!(code, Some(0), "{output}");

    let (code, output, same) = run(&["--baseline", baseline.to_str().unwrap()], &fast, tmp.path());
    assert_eq!(code, Some(0), "noise failed the gate:\n{output}");
    assert!(output.contains("0 regressed"), "{output}");
    assert!(same.join("compare.md").exists() && same.join("compare.json").exists());

    let (code, output, slower) = run(&["--baseline", baseline.to_str().unwrap()], &slow, tmp.path());
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("REGRESSED"), "{output}");
    let markdown = std::fs::read_to_string(slower.join("compare.md")).unwrap();
    assert!(markdown.starts_with("## Benchmark comparison") && markdown.contains("**regressed**"), "{markdown}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(slower.join("compare.json")).unwrap()).unwrap();
    let regressed: Vec<&serde_json::Value> =
        json["changes"].as_array().unwrap().iter().filter(|c| c["verdict"] == "regressed").collect();
    // Run time up and throughput down, in both cells.
    assert_eq!(regressed.len(), 4, "{json:#}");
    assert!(regressed.iter().all(|c| c["p_value"].as_f64().unwrap() < 0.05));

    // The same verdict from the standalone command, the other way round: an improvement.
    let compare = support::harness()
        .arg("compare")
        .arg(&slower)
        .arg(&baseline)
        .arg("--out")
        .arg(tmp.path().join("c"))
        .output()
        .unwrap();
    assert_eq!(compare.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&compare.stdout).contains("4 improved"));
}

#[test]
fn cells_on_one_side_only_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let two = experiment(tmp.path(), "two.toml", "1ms", "");
    let (_, _, baseline) = run(&[], &two, tmp.path());
    let one = tmp.path().join("one.toml");
    std::fs::write(
        &one,
        std::fs::read_to_string(&two).unwrap().replace("[\"sync\", \"threaded\"]", "[\"sync\", \"async\"]"),
    )
    .unwrap();
    let (_, output, _) = run(&["--baseline", baseline.to_str().unwrap(), "--threshold", "50%"], &one, tmp.path());
    assert!(output.contains("only in the baseline: executor=threaded workers=2"), "{output}");
    assert!(output.contains("only in the current: executor=async workers=2"), "{output}");
}

#[test]
fn exports_are_written_in_each_format() {
    let tmp = tempfile::tempdir().unwrap();
    let file = experiment(tmp.path(), "e.toml", "1ms", "");
    let path = |name: &str| tmp.path().join(name);
    let (code, output, _) = run(
        &[
            "--export-json",
            path("e.json").to_str().unwrap(),
            "--export-markdown",
            path("e.md").to_str().unwrap(),
            "--export-bmf",
            path("e.bmf.json").to_str().unwrap(),
            "--export-github-benchmark",
            path("e.gh.json").to_str().unwrap(),
        ],
        &file,
        tmp.path(),
    );
    assert_eq!(code, Some(0), "{output}");
    let read = |name: &str| serde_json::from_slice::<serde_json::Value>(&std::fs::read(path(name)).unwrap()).unwrap();

    let json = read("e.json");
    assert_eq!(json["cells"].as_array().unwrap().len(), 2);
    assert_eq!(json["cells"][0]["metrics"]["run_s"]["n"], 6);
    // The same statistics as summary.csv, bootstrap interval included.
    let result = PathBuf::from(output.lines().find(|l| l.contains("gate/")).unwrap().trim());
    let summary = support::read_runs(&result.join("summary.csv"));
    let row = summary.iter().find(|r| r["executor"] == "sync" && r["metric"] == "run_s").unwrap();
    let exported = &json["cells"].as_array().unwrap().iter().find(|c| c["axes"]["executor"] == "sync").unwrap()["metrics"]
        ["run_s"];
    for (column, key) in [("median", "median"), ("ci95_low", "ci95_low"), ("ci95_high", "ci95_high")] {
        let expected: f64 = row[column].parse().unwrap();
        assert!(
            (exported[key].as_f64().unwrap() - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{column}: {exported} vs {row:?}"
        );
    }

    let bmf = read("e.bmf.json");
    let sync = &bmf["gate/executor=sync workers=2"];
    let latency = &sync["latency"];
    assert!(latency["lower_value"].as_f64().unwrap() <= latency["value"].as_f64().unwrap());
    assert!(latency["value"].as_f64().unwrap() <= latency["upper_value"].as_f64().unwrap());
    assert!(sync["throughput"]["value"].as_f64().unwrap() > 0.0);

    let github = read("e.gh.json");
    let entries = github.as_array().unwrap();
    assert!(entries.iter().any(|e| e["name"] == "gate executor=threaded workers=2 run_s" && e["unit"] == "s"));
    assert!(entries.iter().all(|e| e["value"].is_number()));

    let markdown = std::fs::read_to_string(path("e.md")).unwrap();
    assert!(markdown.contains("| executor=sync workers=2 | 6 |"), "{markdown}");

    // `harness export` writes the same from the result folder alone.
    let dir = PathBuf::from(output.lines().find(|l| l.contains("gate/")).unwrap().trim());
    let again =
        support::harness().arg("export").arg(&dir).arg("--export-json").arg(path("again.json")).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(read("again.json"), json);
}

#[test]
fn baseline_latest_means_the_previous_result_and_a_missing_baseline_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let file = experiment(tmp.path(), "g.toml", "1ms", "");
    let (_, _, first) = run(&[], &file, tmp.path());
    let latest = tmp.path().join("gate/latest");
    let (code, output, second) =
        run(&["--baseline", latest.to_str().unwrap(), "--threshold", "50%"], &file, tmp.path());
    assert_eq!(code, Some(0), "{output}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(second.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["baseline"].as_str().unwrap(), std::fs::canonicalize(&first).unwrap().to_str().unwrap());

    let (code, output, _) = run(&["--baseline", tmp.path().join("nothing").to_str().unwrap()], &file, tmp.path());
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("is not a result folder"), "{output}");
    // Refused before running: still only the two result folders.
    assert_eq!(std::fs::read_dir(tmp.path().join("gate")).unwrap().count(), 3);
}

#[test]
fn a_cell_whose_runs_all_failed_fails_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let good = experiment(tmp.path(), "good.toml", "1ms", "");
    let (_, _, baseline) = run(&[], &good, tmp.path());
    // The same cells, every run of which times out.
    let broken = tmp.path().join("broken.toml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace("warmup = 0", "warmup = 0\ntimeout = \"1ms\"")
            .replace("\"1ms\" }", "\"1s\" }"),
    )
    .unwrap();
    let (code, output, _) = run(&["--baseline", baseline.to_str().unwrap()], &broken, tmp.path());
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("REGRESSED: every current run failed: executor=sync workers=2"), "{output}");
}
