//! The executor of `docs/writing-an-executor.md`, built as its own crate outside the workspace and run
//! through its experiment file, exactly as the page tells a reader to.

use std::process::Command;

use crate::support;

#[test]
fn the_documented_example_is_the_tested_example() {
    for (doc, example) in [("writing-an-executor.md", "thread-per-task"), ("writing-a-step-library.md", "step-library")]
    {
        let root = support::root();
        let page = std::fs::read_to_string(root.join("docs").join(doc)).unwrap();
        for file in ["Cargo.toml", "src/lib.rs", "experiment.toml"] {
            let text = std::fs::read_to_string(root.join("docs/examples").join(example).join(file)).unwrap();
            assert!(page.contains(&text), "docs/{doc} does not show {file} as it is");
        }
    }
}

/// Copies the crate `docs/examples/NAME` outside the workspace and builds it as the page says
/// (`cargo build --release`), leaving `lib<STEM>.so` in the copy's `target/release/`; returns the folder of
/// the copy and the copy.
fn build_example(name: &str, stem: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let root = support::root();
    let example = root.join("docs/examples").join(name);
    let crate_dir = tempfile::tempdir().unwrap();
    let copy = crate_dir.path().join(name);
    for file in ["Cargo.toml", "src/lib.rs", "experiment.toml"] {
        let target = copy.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let mut text = std::fs::read_to_string(example.join(file)).unwrap();
        if file == "Cargo.toml" {
            // The same path dependency, made absolute because the copy lives elsewhere.
            let sdk = root.join("executors/harness-sdk");
            text = text.replace("\"../../../executors/harness-sdk\"", &format!("{:?}", sdk.display().to_string()));
        }
        std::fs::write(target, text).unwrap();
    }
    // Pin the dependencies the workspace already resolved, so the build needs nothing new.
    std::fs::copy(root.join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // A target folder kept between test runs, so only the first build compiles the dependencies.
    let target_dir = support::bin_dir().parent().unwrap().join("out-of-tree");
    let build = Command::new(cargo)
        .args(["build", "--release", "--quiet"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    // Where the experiment file expects it after `cargo build --release` in the crate.
    let library = copy.join(format!("target/release/lib{stem}.so"));
    std::fs::create_dir_all(library.parent().unwrap()).unwrap();
    std::fs::copy(target_dir.join(format!("release/lib{stem}.so")), &library).unwrap();
    (crate_dir, copy)
}

#[test]
fn an_executor_built_outside_the_workspace_runs_an_experiment() {
    let (_crate_dir, copy) = build_example("thread-per-task", "thread_per_task");
    let library = copy.join("target/release/libthread_per_task.so");
    let list = support::harness().arg("list").arg("--plugin-dir").arg(library.parent().unwrap()).output().unwrap();
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(listing.contains("thread_per_task") && listing.contains("stack_kib"), "{listing}");

    let out = tempfile::tempdir().unwrap();
    let run = support::harness()
        .args(["run", "--quiet", "--out"])
        .arg(out.path())
        .arg(copy.join("experiment.toml"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let rows = support::read_runs(&out.path().join("thread-per-task/latest/runs.csv"));
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["tasks"] == "200" && r["shared_count"] == "200"));
    let ours: Vec<_> = rows.iter().filter(|r| r["executor"] == "thread_per_task").collect();
    assert_eq!(ours.len(), 3);
    assert!(rows.iter().all(|r| r["checksum"] == rows[0]["checksum"]));

    // The executor declares its model, so its cell has an ideal time and an efficiency like the built-ins.
    let summary = support::read_runs(&out.path().join("thread-per-task/latest/summary.csv"));
    let run_s: Vec<_> = summary.iter().filter(|r| r["metric"] == "run_s").collect();
    assert_eq!(run_s.len(), 3);
    for row in run_s {
        let number = |column: &str| -> f64 { row[column].parse().unwrap_or_else(|_| panic!("{column}: {row:?}")) };
        assert!(number("ideal_s") > 0.0 && number("efficiency") > 0.0, "{row:?}");
        assert!(["cpu", "waits", "lock"].contains(&row["model"].as_str()), "{row:?}");
    }

    // An open workload needs no code of the executor's own: its threads wait in `run_measured` until their
    // task is due, on the schedule every built-in keeps.
    let open = "[experiment]\nname = \"open\"\nrepetitions = 1\nwarmup = 0\n\n\
                [workloads.api]\nsteps = [{ sleep = \"2ms\" }]\n\
                arrival = { rate = \"500/s\", tasks = 40, process = \"poisson\" }\n\n\
                [matrix]\nexecutor = [\"EXECUTOR\"]\n\n\
                [plugins]\nthread_per_task = \"target/release/libthread_per_task.so\"\n";
    let mut schedules = Vec::new();
    for executor in ["thread_per_task", "sync"] {
        let name = format!("open-{executor}");
        let text = open.replace("EXECUTOR", executor).replace("\"open\"", &format!("\"{name}\""));
        // In the crate's folder, where the [plugins] path leads.
        let (rows, traced) = crate::open::run_traced(&copy, &name, &text);
        assert_eq!((rows[0]["tasks"].as_str(), rows[0]["offered_per_s"].as_str()), ("40", "500.000"), "{rows:?}");
        schedules.push(crate::open::checked_schedule(executor, &traced));
    }
    assert_eq!(schedules[0].len(), 40);
    assert_eq!(schedules[0], schedules[1], "thread_per_task kept another schedule than sync");
}

#[test]
fn a_step_library_built_outside_the_workspace_runs_under_every_executor() {
    let (_crate_dir, copy) = build_example("step-library", "step_library");
    let file = copy.join("experiment.toml");
    let list = support::harness().arg("list").arg(&file).output().unwrap();
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success() && listing.contains("functions: sort, parse_sum"), "{listing}");

    let out = tempfile::tempdir().unwrap();
    let run = support::harness().args(["run", "--quiet", "--out"]).arg(out.path()).arg(&file).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let rows = support::read_runs(&out.path().join("step-library/latest/runs.csv"));
    assert_eq!(rows.len(), 24);
    for workload in ["sort", "parse"] {
        let mine: Vec<_> = rows.iter().filter(|r| r["workload"] == workload).collect();
        let executors: std::collections::BTreeSet<&str> = mine.iter().map(|r| r["executor"].as_str()).collect();
        assert_eq!(executors.len(), 4, "{workload}");
        assert!(
            mine.iter().all(|r| r["status"] == "ok" && r["checksum"] == mine[0]["checksum"]),
            "{workload}: {mine:?}"
        );
    }
    // What the function recorded through its context, averaged over the run's tasks.
    for row in rows.iter().filter(|r| r["workload"] == "sort") {
        let fraction: f64 = row["median_fraction"].parse().unwrap();
        assert!(fraction > 0.4 && fraction < 0.6, "{row:?}");
    }

    // An unknown function is bad input that names the library's functions.
    let text = std::fs::read_to_string(&file).unwrap().replace("mine::sort\"", "mine::sortt\"");
    std::fs::write(&file, text).unwrap();
    let validate = support::harness().arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&validate.stderr);
    assert_eq!(validate.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("library `mine` has no function `sortt` (did you mean `mine::sort`?)"), "{stderr}");
    assert!(stderr.contains("one of the functions it exports: `sort`, `parse_sum`"), "{stderr}");
}
