//! The history of results: `harness run --history`, `[ci] history` and `harness history add` append result
//! folders to an `SQLite` file; `history report` draws its series and change points; `history check` fails
//! when the newest results of a series are worse than before. The histories are built from result folders
//! generated from one real run: its files copied, with the commit, the time, the machine and the run times
//! of each generated commit written in.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

/// The CI variables a test's harness must not see: they would name the commit of the test's own job.
const CI_VARIABLES: &[&str] = &[
    "GITHUB_SHA",
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "BUILDKITE_COMMIT",
    "CIRCLE_SHA1",
    "TRAVIS_COMMIT",
    "BITBUCKET_COMMIT",
    "GIT_COMMIT",
];

fn harness() -> Command {
    let mut command = support::harness();
    for name in CI_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// A real result folder of a small experiment (two cells, five runs each), to copy from.
fn template(dir: &Path) -> PathBuf {
    let file = dir.join("trend.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"trend\"\nrepetitions = 5\nwarmup = 0\n\n\
         [workloads.w]\ntasks = 2\nsteps = [{ sleep = \"${d}\" }]\n\n\
         [matrix]\nexecutor = [\"sync\"]\nworkload = [\"w\"]\nd = [\"1ms\", \"2ms\"]\n\n\
         [ci]\nthreshold = \"10%\"\nmetrics = [\"run_s\"]\n",
    )
    .unwrap();
    let output = harness().args(["run", "--quiet", "--out"]).arg(dir.join("template")).arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8_lossy(&output.stdout).lines().last().unwrap())
}

/// A generated commit: its name, the factor on its run times, and the machine's CPU model.
struct Commit<'a> {
    name: String,
    factor: f64,
    cpu: &'a str,
}

/// Writes a result folder of `commit` from `template` into `dir/NUMBER`: run times of `base_s` (by cell)
/// times the factor, with a spread of ±2% that is the same in every commit.
fn generate(template: &Path, dir: &Path, number: usize, commit: &Commit) -> PathBuf {
    let out = dir.join(format!("{number:03}"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(template.join("experiment.toml"), out.join("experiment.toml")).unwrap();
    let mut environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(template.join("environment.json")).unwrap()).unwrap();
    environment["started"] = format!("2026-01-01T{:02}:{:02}:00Z", number / 60, number % 60).into();
    environment["checkout"] = serde_json::json!({ "commit": commit.name, "branch": "main" });
    environment["cpu"]["model"] = commit.cpu.into();
    std::fs::write(out.join("environment.json"), serde_json::to_vec_pretty(&environment).unwrap()).unwrap();
    let mut reader = csv::Reader::from_path(template.join("runs.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (run_s, d, repetition) = (column("run_s"), column("d"), column("repetition"));
    let mut writer = csv::Writer::from_path(out.join("runs.csv")).unwrap();
    writer.write_record(&header).unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        let base = if &row[d] == "1ms" { 0.001 } else { 0.002 };
        // A spread from the repetition and the commit's number: the same for every history.
        let wobble = (((row[repetition].parse::<usize>().unwrap() * 7 + number * 13) % 9) as f64 - 4.0) / 200.0;
        let value = format!("{:.9}", base * commit.factor * (1.0 + wobble));
        let fields: Vec<&str> =
            row.iter().enumerate().map(|(i, f)| if i == run_s { value.as_str() } else { f }).collect();
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
    out
}

/// Folders of 20 commits `c01`..`c20`, whose run times are multiplied by `factor(number)` from 1.
fn twenty(template: &Path, dir: &Path, factor: impl Fn(usize) -> f64) -> Vec<PathBuf> {
    (1..=20)
        .map(|n| generate(template, dir, n, &Commit { name: format!("c{n:02}"), factor: factor(n), cpu: "Test CPU" }))
        .collect()
}

fn history(args: &[&str], path: &Path, rest: &[&Path]) -> (Option<i32>, String, String) {
    let mut command = harness();
    command.arg("history").args(args).arg(path).args(rest);
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn add(path: &Path, dirs: &[PathBuf]) {
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let (code, stdout, stderr) = history(&["add"], path, &dirs);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

/// How many results and measurements the history at `path` holds.
fn counts(path: &Path) -> (i64, i64) {
    let db = rusqlite::Connection::open(path).unwrap();
    let count = |table: &str| db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap();
    (count("results"), count("measurements"))
}

#[test]
fn a_slowdown_at_commit_13_is_found_there_and_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let history_file = dir.path().join("history.sqlite");
    add(&history_file, &twenty(&template, &dir.path().join("folders"), |n| if n >= 13 { 1.3 } else { 1.0 }));
    assert_eq!(counts(&history_file), (20, 40));

    let (code, stdout, stderr) = history(&["check"], &history_file, &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("2 of 2 series changed for the worse"), "{stdout}");
    assert!(stdout.contains("c13 (#13)") && stdout.contains("run_s") && stdout.contains("d=1ms"), "{stdout}");
    assert!(stdout.contains("+30.0%"), "{stdout}");

    let out = dir.path().join("report");
    let (code, stdout, stderr) = history(&["report", "--out", out.to_str().unwrap()], &history_file, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "one inline chart a series");
    assert!(!html.contains("src=\""), "self-contained");
    let markdown = std::fs::read_to_string(out.join("history.md")).unwrap();
    assert!(markdown.contains("| c13 (#13) |") && markdown.contains("worse"), "{markdown}");
    let charts: Vec<PathBuf> = std::fs::read_dir(out.join("charts")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(charts.len(), 2);
    for chart in charts {
        let svg = std::fs::read_to_string(&chart).unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();
        let desc = document.descendants().find(|n| n.has_tag_name("desc")).unwrap().text().unwrap().to_owned();
        assert!(desc.contains("(20 points)") && desc.contains("mark: c13 +30.0% at 12.5"), "{desc}");
    }
}

#[test]
fn an_improvement_passes_the_check_and_noise_has_no_change_point() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let faster = dir.path().join("faster.sqlite");
    add(&faster, &twenty(&template, &dir.path().join("faster"), |n| if n >= 8 { 0.7 } else { 1.0 }));
    let (code, stdout, _) = history(&["check"], &faster, &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("no change for the worse: 2 series, 2 with a change point"), "{stdout}");
    let out = dir.path().join("report");
    history(&["report", "--out", out.to_str().unwrap()], &faster, &[]);
    let markdown = std::fs::read_to_string(out.join("history.md")).unwrap();
    assert!(
        markdown.contains("| c08 (#8) |") && markdown.contains("-30.0%") && markdown.contains("better"),
        "{markdown}"
    );

    let flat = dir.path().join("flat.sqlite");
    add(&flat, &twenty(&template, &dir.path().join("flat"), |_| 1.0));
    let (code, stdout, _) = history(&["check"], &flat, &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("2 series, 0 with a change point"), "{stdout}");
}

#[test]
fn another_machine_is_another_series_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    // The same commits' results from a machine twice as slow from commit 11 on: no change of either machine.
    let folders: Vec<PathBuf> = (1..=20)
        .map(|n| {
            let (factor, cpu) = if n >= 11 { (2.0, "Slow CPU") } else { (1.0, "Test CPU") };
            generate(&template, &dir.path().join("folders"), n, &Commit { name: format!("c{n:02}"), factor, cpu })
        })
        .collect();
    let history_file = dir.path().join("history.sqlite");
    add(&history_file, &folders);
    let (code, stdout, _) = history(&["check"], &history_file, &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("4 series, 0 with a change point"), "{stdout}");
    let (code, stdout, _) = history(&["check", "--across-machines"], &history_file, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("c11 (#11)"), "{stdout}");
}

#[test]
fn a_result_added_twice_is_kept_once_and_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let history_file = dir.path().join("history.sqlite");
    add(&history_file, std::slice::from_ref(&template));
    let (code, stdout, _) = history(&["add"], &history_file, &[&template]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("already in the history"), "{stdout}");
    assert_eq!(counts(&history_file), (1, 2));

    // Not a result folder: nothing is added, not even the good folder before it.
    let (code, _, stderr) = history(&["add"], &history_file, &[&template, dir.path()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not a result folder"), "{stderr}");
    assert_eq!(counts(&history_file), (1, 2));

    let missing = dir.path().join("missing.sqlite");
    let (code, _, stderr) = history(&["check"], &missing, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no such file") && stderr.contains("harness history add"), "{stderr}");
    assert!(!missing.exists(), "a check makes no history");

    let not_history = dir.path().join("trend.toml");
    let (code, _, stderr) = history(&["report"], &not_history, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not a history file"), "{stderr}");

    let (code, _, stderr) = history(&["check", "--experiment", "other"], &history_file, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("results of `trend`"), "{stderr}");
}

#[test]
fn two_adds_at_once_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let history_file = dir.path().join("history.sqlite");
    let first = twenty(&template, &dir.path().join("a"), |_| 1.0);
    let second: Vec<PathBuf> = (21..=40)
        .map(|n| {
            generate(
                &template,
                &dir.path().join("b"),
                n,
                &Commit { name: format!("c{n}"), factor: 1.0, cpu: "Test CPU" },
            )
        })
        .collect();
    let start = |dirs: &[PathBuf]| harness().args(["history", "add"]).arg(&history_file).args(dirs).output();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start(&first).unwrap());
        let b = s.spawn(|| start(&second).unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(b.status.code(), Some(0), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(counts(&history_file), (40, 80));
}

#[test]
fn a_killed_add_leaves_each_result_whole_or_absent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wide.toml");
    // Many cells, so that a result is many rows of one transaction.
    std::fs::write(
        &file,
        "[experiment]\nname = \"wide\"\nrepetitions = 1\nwarmup = 0\n\n\
         [workloads.w]\ntasks = 1\nsteps = [{ sleep = \"${d}\" }, { sleep = \"${i}us\" }]\n\n\
         [matrix]\nexecutor = [\"sync\"]\nworkload = [\"w\"]\nd = [\"1us\", \"2us\", \"3us\", \"4us\", \"5us\", \"6us\", \"7us\", \"8us\", \"9us\", \"10us\"]\n\
         i = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]\n\n\
         [ci]\nmetrics = [\"run_s\", \"peak_memory_bytes\", \"wall_s\", \"user_cpu_s\"]\n",
    )
    .unwrap();
    let output =
        harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let template = PathBuf::from(String::from_utf8_lossy(&output.stdout).lines().last().unwrap());
    let per_result = 200 * 4;
    let folders: Vec<PathBuf> = (0..30)
        .map(|n| {
            let out = dir.path().join(format!("copy{n}"));
            std::fs::create_dir_all(&out).unwrap();
            for name in ["runs.csv", "experiment.toml"] {
                std::fs::copy(template.join(name), out.join(name)).unwrap();
            }
            let mut environment: serde_json::Value =
                serde_json::from_slice(&std::fs::read(template.join("environment.json")).unwrap()).unwrap();
            environment["started"] = format!("2026-01-01T00:00:{n:02}Z").into();
            std::fs::write(out.join("environment.json"), serde_json::to_vec(&environment).unwrap()).unwrap();
            out
        })
        .collect();
    let history_file = dir.path().join("history.sqlite");
    let mut kills = 0;
    for delay_ms in [20, 60, 120, 200, 300, 450, 600] {
        let mut child = harness()
            .args(["history", "add"])
            .arg(&history_file)
            .args(&folders)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            // SIGKILL: no handler, no clean-up.
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        if history_file.exists() {
            let db = rusqlite::Connection::open(&history_file).unwrap();
            let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
            assert_eq!(check, "ok");
            // Killed before its tables were made: nothing to look at yet.
            let tables: i64 =
                db.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'results'", [], |r| r.get(0)).unwrap();
            if tables == 0 {
                continue;
            }
            let mut partial = db
                .prepare("SELECT r.id, count(m.cell) FROM results r LEFT JOIN measurements m ON m.result = r.id GROUP BY r.id")
                .unwrap();
            let sizes: Vec<i64> = partial.query_map([], |r| r.get(1)).unwrap().map(Result::unwrap).collect();
            assert!(
                sizes.iter().all(|&n| n == per_result),
                "a result in part after a kill at {delay_ms} ms: {sizes:?}"
            );
        }
    }
    // Whatever was killed, one more add completes the history.
    add(&history_file, &folders);
    assert_eq!(counts(&history_file), (30, 30 * per_result));
    eprintln!("{kills} of 7 adds were killed before they ended");
}

#[test]
fn run_appends_with_the_commit_of_the_flag_the_ci_or_the_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let file = repo.join("small.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"small\"\nrepetitions = 2\nwarmup = 0\n\n\
         [workloads.w]\ntasks = 1\nsteps = [{ sleep = \"1ms\" }]\n\n\
         [matrix]\nexecutor = [\"sync\"]\nworkload = [\"w\"]\n\n\
         [ci]\nhistory = \"../bench.sqlite\"\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["init", "-q", "-b", "trunk"]);
    git(&["add", "small.toml"]);
    git(&["commit", "-q", "-m", "one"]);
    let head =
        String::from_utf8(Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&repo).output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
    let out = dir.path().join("results");
    let run = |command: &mut Command, flags: &[&std::ffi::OsStr]| {
        let output = command.args(["run", "--quiet", "--out"]).arg(&out).args(flags).arg(&file).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        PathBuf::from(String::from_utf8_lossy(&output.stdout).lines().last().unwrap())
    };
    // From the checkout, through `[ci] history`.
    let folder = run(&mut harness(), &[]);
    // From the CI's variables, which come before the checkout.
    run(harness().env("GITHUB_SHA", "from-ci").env("GITHUB_REF_NAME", "ci-branch"), &[]);
    // From the flags, before both, and into another history.
    let other = dir.path().join("other.sqlite");
    run(
        harness().env("GITHUB_SHA", "from-ci"),
        &["--history".as_ref(), other.as_os_str(), "--commit".as_ref(), "from-flag".as_ref()],
    );

    let environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("environment.json")).unwrap()).unwrap();
    assert_eq!(environment["checkout"], serde_json::json!({ "commit": head, "branch": "trunk" }));
    let commits = |path: &Path| -> Vec<(Option<String>, Option<String>)> {
        let db = rusqlite::Connection::open(path).unwrap();
        let mut select = db.prepare("SELECT commit_id, branch FROM results ORDER BY id").unwrap();
        select.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(
        commits(&dir.path().join("bench.sqlite")),
        [(Some(head.clone()), Some("trunk".to_owned())), (Some("from-ci".to_owned()), Some("ci-branch".to_owned()))]
    );
    assert_eq!(commits(&other), [(Some("from-flag".to_owned()), Some("trunk".to_owned()))]);
}

#[test]
fn a_merged_folder_of_shards_is_one_result() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sharded.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"sharded\"\nrepetitions = 2\nwarmup = 0\n\n\
         [workloads.w]\ntasks = 1\nsteps = [{ sleep = \"${d}\" }]\n\n\
         [matrix]\nexecutor = [\"sync\"]\nworkload = [\"w\"]\nd = [\"1ms\", \"2ms\", \"3ms\", \"4ms\"]\n",
    )
    .unwrap();
    let shards: Vec<PathBuf> = (0..2)
        .map(|k| {
            let output = harness()
                .args(["run", "--quiet", "--shard", &format!("{k}/2"), "--commit", "c1", "--out"])
                .arg(dir.path().join(format!("shard{k}")))
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
            PathBuf::from(String::from_utf8_lossy(&output.stdout).lines().last().unwrap())
        })
        .collect();
    let merged = dir.path().join("merged");
    let output = harness().arg("merge").args(&shards).arg("--out").arg(&merged).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let history_file = dir.path().join("history.sqlite");
    add(&history_file, &[merged]);
    // Four cells, each with the default metrics kept: run_s (for throughput too) and peak_memory_bytes.
    assert_eq!(counts(&history_file), (1, 8));
    let db = rusqlite::Connection::open(&history_file).unwrap();
    let (commit, runs): (String, i64) = db
        .query_row("SELECT commit_id, (SELECT sum(n) FROM measurements WHERE metric = 'run_s') FROM results", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((commit.as_str(), runs), ("c1", 8), "the commit the shards noted, and every run of both");
}

/// A history that cannot take the result is refused before anything is measured; a partial result (an
/// interrupted run) is refused with the way to finish it; a report drawn again keeps only its own charts.
#[test]
fn a_bad_history_is_refused_before_the_runs_and_a_partial_result_is_not_added() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let file = dir.path().join("trend.toml");
    let not_history = dir.path().join("notes.txt");
    std::fs::write(&not_history, "not a history").unwrap();
    let out = harness()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("refused"))
        .arg("--history")
        .arg(&not_history)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot use") && stderr.contains("help: give another path"), "{stderr}");
    assert!(!dir.path().join("refused").exists(), "a run was measured before the history was checked");

    // The template without its last run, as an interrupted run leaves it.
    let partial = dir.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    for entry in std::fs::read_dir(&template).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, partial.join(path.file_name().unwrap())).unwrap();
        }
    }
    let runs = std::fs::read_to_string(partial.join("runs.csv")).unwrap();
    let kept: Vec<&str> = runs.lines().collect();
    std::fs::write(partial.join("runs.csv"), kept[..kept.len() - 1].join("\n") + "\n").unwrap();
    let path = dir.path().join("history.sqlite");
    let (code, _, stderr) = history(&["add"], &path, &[&partial]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is partial: 9 of its 10 planned runs") && stderr.contains("--resume"), "{stderr}");

    add(&path, &twenty(&template, &dir.path().join("commits"), |_| 1.0));
    let out = dir.path().join("report");
    std::fs::create_dir_all(out.join("charts")).unwrap();
    std::fs::write(out.join("charts/999-an-earlier-series.svg"), "<svg/>").unwrap();
    let (code, _, stderr) = history(&["report", "--out", out.to_str().unwrap()], &path, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let charts: Vec<String> =
        std::fs::read_dir(out.join("charts")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(charts.len(), 2, "{charts:?}");
}
