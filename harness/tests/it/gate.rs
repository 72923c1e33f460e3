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
    // Only changes over 50% and over 50 ms count. The slowdown below is 4,900%: 294 ms or more in both
    // cells, far beyond the thresholds widened (at most twice) for a machine busy with the other tests and
    // beyond the floor however late a busy machine wakes the 2 ms sleeps. Those runs take 6 to 10 ms: their
    // noise, even on a busy machine, is far below 50 ms.
    let ci = "\n[ci]\nthreshold = \"50%\"\ntime_floor = \"50ms\"\nmetrics = [\"run_s\", \"throughput_per_s\"]\n";
    let fast = experiment(tmp.path(), "fast.toml", "2ms", ci);
    let slow = experiment(tmp.path(), "slow.toml", "100ms", ci);
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
    // A threshold no noise passes: this test is about which folder `latest` names, not about a verdict.
    let (code, output, second) =
        run(&["--baseline", latest.to_str().unwrap(), "--threshold", "1000%"], &file, tmp.path());
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

/// The hand-made result folders of `tests/fixtures/gate/` (its README says what each holds).
fn fixture(name: &str) -> PathBuf {
    support::root().join("harness/tests/fixtures/gate").join(name)
}

/// `harness compare BASELINE CURRENT` with its outputs in `out`: the exit code, stdout, stderr, compare.json.
fn compare(baseline: &Path, current: &Path, out: &Path) -> (Option<i32>, String, String, serde_json::Value) {
    let output = support::harness().arg("compare").arg(baseline).arg(current).arg("--out").arg(out).output().unwrap();
    let json = std::fs::read(out.join("compare.json"))
        .map_or(serde_json::Value::Null, |bytes| serde_json::from_slice(&bytes).unwrap());
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        json,
    )
}

/// The change of one metric of the cell whose label contains `cell`, in compare.json.
fn change_of<'a>(json: &'a serde_json::Value, cell: &str, metric: &str) -> &'a serde_json::Value {
    json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"].as_str().unwrap().contains(cell) && c["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} of {cell} in {json:#}"))
}

/// The verdict and reason of one metric of the cell whose label contains `cell`.
fn verdict<'a>(json: &'a serde_json::Value, cell: &str, metric: &str) -> (&'a str, &'a str) {
    let change = change_of(json, cell, metric);
    (change["verdict"].as_str().unwrap(), change["reason"].as_str().unwrap())
}

#[test]
fn a_rerun_of_unchanged_code_passes_where_p_values_and_percentages_alone_cry_wolf() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr, json) = compare(&fixture("baseline"), &fixture("rerun"), tmp.path());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // Three metrics of four cells: run_s, throughput_per_s and peak_memory_bytes are gated by default.
    // Nothing regressed; what the comparison could not tell apart from its limit is inconclusive, and says
    // so, without failing the gate (`[ci] inconclusive = "pass"`, the default).
    assert!(stdout.contains("0 regressed, 0 improved, 8 unchanged, 4 inconclusive in 4 matching cells"), "{stdout}");
    assert!(stdout.contains("4 inconclusive: the interval reaches both within and beyond the limit"), "{stdout}");
    // Same experiment file, quiet machines: nothing to warn about.
    assert!(stderr.is_empty(), "{stderr}");
    let change = |cell: &str, metric: &str| change_of(&json, cell, metric).clone();

    // +36% on a 3 ms cell, significant: 1.1 ms at the median, but the interval reaches down to 0.75 ms,
    // under the 1 ms floor of times (+33%): inconclusive, with the runs that would decide it.
    let short = change("executor=async", "run_s");
    assert!(short["change"].as_f64().unwrap() > 0.3 && short["p_value"].as_f64().unwrap() < 0.01, "{short:#}");
    assert_eq!(verdict(&json, "executor=async", "run_s"), ("inconclusive", "straddles"));
    assert!(short["needed"].as_u64().unwrap() > 6, "{short:#}");
    // +12% of 2 MiB of peak memory, significant: wholly within the 1 MiB floor of memory.
    let memory = change("executor=multiprocess", "peak_memory_bytes");
    assert!(memory["change"].as_f64().unwrap() > 0.1 && memory["p_value"].as_f64().unwrap() < 0.05, "{memory:#}");
    assert_eq!(verdict(&json, "executor=multiprocess", "peak_memory_bytes"), ("unchanged", "within"));
    // The median +16%, past run_s's 10%, with p = 0.002; but the interval reaches within the threshold.
    let spread = change("executor=sync", "run_s");
    let (low, _) = (spread["change_ci"][0].as_f64().unwrap(), spread["change_ci"][1].as_f64().unwrap());
    assert!(spread["change"].as_f64().unwrap() > 0.1 && low < 0.1, "{spread:#}");
    assert_eq!(verdict(&json, "executor=sync", "run_s"), ("inconclusive", "straddles"));
    // run_s +7.3%, its interval wholly within its 10%; throughput -6.8%, past the default 5%, takes run_s's
    // verdict.
    let throughput = change("executor=threaded", "throughput_per_s");
    assert!(throughput["change"].as_f64().unwrap() < -0.05, "{throughput:#}");
    assert_eq!(throughput["judged_by"], "run_s");
    assert_eq!(verdict(&json, "executor=threaded", "throughput_per_s"), verdict(&json, "executor=threaded", "run_s"));
    assert_eq!(verdict(&json, "executor=threaded", "run_s"), ("unchanged", "within"));
    // Every change says what the comparison could have seen.
    let detectable = change("executor=threaded", "run_s")["detectable"].as_f64().unwrap();
    assert!(detectable > 0.1 && detectable < 0.2, "{detectable}");

    // Numbers with their units, as the reports show them.
    assert!(stdout.contains("3.01 ms") && stdout.contains("2.24 MiB") && stdout.contains("tasks/s"), "{stdout}");
    assert!(!stdout.contains("2348810.24"), "raw numbers in:\n{stdout}");
    assert!(stdout.contains("CI straddles +33.3%: about") && stdout.contains("detectable"), "{stdout}");
    // Inconclusive changes fail the gate where `[ci] inconclusive = "fail"`.
    let strict = copy_fixture("rerun", &tmp.path().join("strict"), Clone::clone, |_, r| r.clone());
    let source = std::fs::read_to_string(strict.join("experiment.toml")).unwrap();
    let source = source.replacen("[ci.thresholds]", "[ci]\ninconclusive = \"fail\"\n\n[ci.thresholds]", 1);
    assert!(source.contains("inconclusive = \"fail\""), "{source}");
    std::fs::write(strict.join("experiment.toml"), source).unwrap();
    let (code, stdout, stderr, _) = compare(&fixture("baseline"), &strict, &strict);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("they fail the gate"), "{stdout}");
}

#[test]
fn a_one_and_a_half_times_slower_workload_fails_and_the_changed_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr, json) = compare(&fixture("baseline"), &fixture("slower"), tmp.path());
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    for cell in ["executor=sync", "executor=threaded", "executor=multiprocess"] {
        assert_eq!(verdict(&json, cell, "run_s"), ("regressed", "beyond"), "{cell}");
        assert_eq!(verdict(&json, cell, "throughput_per_s"), ("regressed", "beyond"), "{cell}");
    }
    // The io workload did not change.
    assert_eq!(verdict(&json, "executor=async", "run_s").0, "unchanged");
    assert!(stdout.contains("6 regressed"), "{stdout}");
    assert!(stderr.contains("warning: the experiment files differ"), "{stderr}");
    let markdown = std::fs::read_to_string(tmp.path().join("compare.md")).unwrap();
    assert!(markdown.contains("**Warning:** the experiment files differ"), "{markdown}");
    assert!(markdown.contains("| **regressed** | CI beyond +10% |"), "{markdown}");
}

#[test]
fn a_busy_machine_widens_the_thresholds_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr, json) = compare(&fixture("baseline"), &fixture("busy"), tmp.path().join("a").as_path());
    // +30% of one CPU-bound cell while other processes took 35% of the machine: within what the load
    // explains.
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(verdict(&json, "executor=threaded", "run_s"), ("unchanged", "within"));
    assert!((json["machine_load"]["widened_for"].as_f64().unwrap() - 0.35).abs() < 1e-9, "{json:#}");
    assert!(stderr.contains("the current ran on a busy machine: other processes used 35%"), "{stderr}");
    assert!(stderr.contains("run_s's +10% / -5% become +69.2% / -38.2%"), "{stderr}");
    assert_eq!(change_of(&json, "executor=threaded", "run_s")["cpu_bound"].as_f64(), Some(1.0));

    // The same +30% in a cell that waits (its runs 1% on a CPU): someone else's CPU use does not slow a
    // wait, so its threshold is not widened, and it regresses on the busy machine.
    let waits = waiting("busy", &tmp.path().join("waits"));
    let waits_baseline = waiting("baseline", &tmp.path().join("waits-baseline"));
    let (code, stdout, stderr, json) = compare(&waits_baseline, &waits, &waits);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(verdict(&json, "executor=threaded", "run_s"), ("regressed", "beyond"));
    assert!(stdout.contains("CPU-bound 1%"), "{stdout}");

    // The same runs on a quiet machine: the same +30% is a regression.
    let quiet = tmp.path().join("quiet");
    std::fs::create_dir(&quiet).unwrap();
    for file in ["runs.csv", "experiment.toml", "environment.json"] {
        std::fs::copy(fixture("busy").join(file), quiet.join(file)).unwrap();
    }
    let environment = std::fs::read_to_string(quiet.join("environment.json")).unwrap();
    assert!(environment.contains("\"others_cpu_share\": 0.35"));
    std::fs::write(quiet.join("environment.json"), environment.replace("0.35", "0.02")).unwrap();
    let (code, stdout, stderr, json) = compare(&fixture("baseline"), &quiet, &quiet);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(verdict(&json, "executor=threaded", "run_s"), ("regressed", "beyond"));
    assert!(!stderr.contains("busy"), "{stderr}");
}

#[test]
fn folders_without_a_cell_in_common_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr, _) = compare(&fixture("baseline"), &fixture("unrelated"), tmp.path());
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("there is nothing to compare"), "{stderr}");
    assert!(stderr.contains("the current's first is `executor=sync workload=cpu workers=4`"), "{stderr}");
    assert!(!tmp.path().join("compare.json").exists(), "a comparison of nothing was written");
}

/// A copy of the fixture `name` in `into`, its `runs.csv` rewritten: the header by `header`, each row by
/// `row` (given the fixture's header too).
fn copy_fixture(
    name: &str,
    into: &Path,
    header: impl Fn(&csv::StringRecord) -> csv::StringRecord,
    row: impl Fn(&csv::StringRecord, &csv::StringRecord) -> csv::StringRecord,
) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    for file in ["experiment.toml", "environment.json"] {
        std::fs::copy(fixture(name).join(file), into.join(file)).unwrap();
    }
    let mut reader = csv::Reader::from_path(fixture(name).join("runs.csv")).unwrap();
    let original = reader.headers().unwrap().clone();
    let mut writer = csv::Writer::from_path(into.join("runs.csv")).unwrap();
    writer.write_record(&header(&original)).unwrap();
    for record in reader.records() {
        writer.write_record(&row(&original, &record.unwrap())).unwrap();
    }
    writer.flush().unwrap();
    into.to_owned()
}

/// A copy of the fixture `name` in `into` whose runs wait: each spent 0.5% of its run time on a CPU, in
/// user and in system time each.
fn waiting(name: &str, into: &Path) -> PathBuf {
    copy_fixture(name, into, Clone::clone, |header, record| {
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (run, user, system) = (at("run_s"), at("user_cpu_s"), at("system_cpu_s"));
        let run_s: f64 = record[run].parse().unwrap();
        let little = format!("{:.6}", run_s * 0.005);
        record.iter().enumerate().map(|(i, v)| if i == user || i == system { little.as_str() } else { v }).collect()
    })
}

/// A copy of the fixture `name` in `into` whose runs carry a speed anchor: `anchor(workload)` seconds.
fn with_anchors(name: &str, into: &Path, anchor: impl Fn(&str) -> f64) -> PathBuf {
    // Before the last column, `error`.
    let insert = |record: &csv::StringRecord, value: &str| {
        let mut out: Vec<&str> = record.iter().collect();
        out.insert(out.len() - 1, value);
        csv::StringRecord::from(out)
    };
    copy_fixture(
        name,
        into,
        |header| insert(header, "anchor_s"),
        |header, record| {
            let workload = header.iter().position(|h| h == "workload").unwrap();
            insert(record, &format!("{:.9}", anchor(&record[workload])))
        },
    )
}

#[test]
fn a_time_that_the_speed_anchor_explains_passes_and_one_it_does_not_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let baseline = with_anchors("baseline", &tmp.path().join("baseline"), |_| 1e-3);
    // The CPU cells 1.5x slower, and the machine 1.5x slower around each of their runs, as the anchor
    // measured next to each run says: the machine, not the code.
    let machine =
        with_anchors("slower", &tmp.path().join("machine"), |workload| if workload == "cpu" { 1.5e-3 } else { 1e-3 });
    let (code, stdout, stderr, json) = compare(&baseline, &machine, &tmp.path().join("a"));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for cell in ["executor=sync", "executor=threaded", "executor=multiprocess"] {
        assert_eq!(verdict(&json, cell, "run_s"), ("unchanged", "machine_speed"), "{cell}");
        assert_eq!(verdict(&json, cell, "throughput_per_s"), ("unchanged", "machine_speed"), "{cell}");
    }
    assert!(stdout.contains("relative to the speed anchor, which moved +50.0%"), "{stdout}");
    assert!(stdout.contains("the machine's speed changed"), "{stdout}");
    assert!(stderr.contains("the machine was") && stderr.contains("slower during the current runs"), "{stderr}");
    assert!(json["machine_speed"].as_f64().unwrap() > 0.05, "{json:#}");

    // The same times with the machine as fast as for the baseline: slower code.
    let code_slower = with_anchors("slower", &tmp.path().join("code"), |_| 1e-3);
    let (code, stdout, stderr, json) = compare(&baseline, &code_slower, &tmp.path().join("b"));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    for cell in ["executor=sync", "executor=threaded", "executor=multiprocess"] {
        assert_eq!(verdict(&json, cell, "run_s"), ("regressed", "beyond"), "{cell}");
    }
    assert!(!stderr.contains("the machine was"), "{stderr}");
}

/// A copy of the fixture `name` in `into` with `column` of every run multiplied by `factor`.
fn scaled(name: &str, into: &Path, column: &str, factor: f64) -> PathBuf {
    copy_fixture(name, into, Clone::clone, |header, record| {
        let at = header.iter().position(|h| h == column).unwrap();
        let value: f64 = record[at].parse().unwrap();
        let text = format!("{:.6}", value * factor);
        record.iter().enumerate().map(|(i, v)| if i == at { text.as_str() } else { v }).collect()
    })
}

#[test]
fn a_service_that_spends_twice_the_cpu_fails_the_gate_while_the_client_side_is_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    // The experiment's [ci] gates service_api_cpu_s and service_api_peak_memory_bytes with run_s and
    // throughput_per_s, and sets 20% for the CPU time of every service (`service_*_cpu_s`).
    let (code, stdout, stderr, json) = compare(&fixture("services-baseline"), &fixture("services-rerun"), tmp.path());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("0 regressed, 0 improved, 8 unchanged, 0 inconclusive in 2 matching cells"), "{stdout}");
    assert!(stdout.contains("service_api_cpu_s") && stdout.contains("120 ms"), "{stdout}");

    // The same runs, the service spending twice the CPU time in each.
    let busier = scaled("services-rerun", &tmp.path().join("busier"), "service_api_cpu_s", 2.0);
    let (code, stdout, stderr, json_busier) = compare(&fixture("services-baseline"), &busier, &busier);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("2 regressed, 0 improved, 6 unchanged, 0 inconclusive"), "{stdout}");
    for cell in ["executor=threaded", "executor=async"] {
        assert_eq!(verdict(&json_busier, cell, "service_api_cpu_s"), ("regressed", "beyond"), "{cell}");
        // The client side and the service's memory: as in the rerun.
        for metric in ["run_s", "throughput_per_s", "service_api_peak_memory_bytes"] {
            assert_eq!(verdict(&json_busier, cell, metric), verdict(&json, cell, metric), "{cell} {metric}");
            assert_eq!(verdict(&json_busier, cell, metric).0, "unchanged", "{cell} {metric}");
        }
    }
    let change = change_of(&json_busier, "executor=threaded", "service_api_cpu_s");
    // Lower is better, the threshold of the family pattern, the floor of times, and the speed anchors used.
    assert_eq!(change["direction"], "lower_is_better", "{change:#}");
    assert_eq!(change["threshold"]["increase"], 0.2, "{change:#}");
    assert_eq!(change["floor"], 0.001, "{change:#}");
    assert!(change["anchored_change"].as_f64().unwrap() > 0.5, "{change:#}");
    let memory = change_of(&json_busier, "executor=threaded", "service_api_peak_memory_bytes");
    assert_eq!(memory["floor"], 1024.0 * 1024.0);
}

#[test]
fn run_with_a_baseline_compares_the_services_columns_that_ci_names() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("served.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"served\"\nrepetitions = 2\nwarmup = 0\n\n\
         [services.idle]\ncommand = [\"sh\", \"-c\", \"echo ready; exec sleep 600\"]\nready = { log = \"ready\" }\n\n\
         [workloads.w]\ntasks = 2\nsteps = [{ sleep = \"1ms\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n\n\
         [ci]\nmetrics = [\"run_s\", \"service_*_cpu_s\", \"service_idle_peak_memory_bytes\"]\n\
         [ci.thresholds]\n\"service_*_cpu_s\" = \"30%\"\n",
    )
    .unwrap();
    let (code, output, baseline) = run(&[], &file, tmp.path());
    assert_eq!(code, Some(0), "{output}");
    let (code, output, current) = run(&["--baseline", baseline.to_str().unwrap()], &file, tmp.path());
    // Two runs a side can never be significant: whatever the times, nothing regressed.
    assert_eq!(code, Some(0), "{output}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(current.join("compare.json")).unwrap()).unwrap();
    let metrics: Vec<&str> =
        json["changes"].as_array().unwrap().iter().map(|c| c["metric"].as_str().unwrap()).collect();
    assert_eq!(metrics.len(), 3, "{json:#}");
    for metric in ["run_s", "service_idle_cpu_s", "service_idle_peak_memory_bytes"] {
        assert!(metrics.contains(&metric), "{metric} in {json:#}");
    }
    let cpu = change_of(&json, "executor=sync", "service_idle_cpu_s");
    assert_eq!((cpu["threshold"]["increase"].as_f64(), cpu["baseline_n"].as_u64()), (Some(0.3), Some(2)), "{cpu:#}");
}
