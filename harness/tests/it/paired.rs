//! The paired gate: two builds of a small program, made here with `cc`, as two values of one axis of an
//! experiment; `harness run` compares them round by round, `harness compare DIR` again on the folder, and a
//! range of repetitions stops once the comparison is decided.

use std::path::{Path, PathBuf};

use crate::support;

/// A program that spins `argv[1]` times `WORK` rounds of arithmetic, built into `dir/NAME/app`.
fn build(dir: &Path, name: &str, work: u32) {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    let source = dir.join("app.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char **argv) {\n\
         long n = atol(argv[1]) * WORK; volatile unsigned long x = 0;\n\
         for (long i = 0; i < n; i++) x += (unsigned long)i * 2654435761u;\n\
         printf(\"%lu\\n\", x); return 0; }\n",
    )
    .unwrap();
    support::cc(&[format!("-DWORK={work}")], &source, &dir.join(name).join("app"));
}

/// An experiment comparing `builds/head/app` with `builds/base/app`, both run with the same argument.
fn experiment(dir: &Path, repetitions: &str) -> PathBuf {
    let path = dir.join("builds.toml");
    std::fs::write(
        &path,
        format!(
            "[experiment]\nname = \"builds\"\nrepetitions = {repetitions}\nwarmup = 1\n\n\
             [workloads.app]\ntasks = 1\nsteps = [{{ exec = [\"builds/${{version}}/app\", \"2000000\"] }}]\n\n\
             [matrix]\nexecutor = [\"sync\"]\nversion = [\"base\", \"head\"]\n\n\
             [ci]\nbaseline = {{ version = \"base\" }}\nthreshold = \"50%\"\nmetrics = [\"run_s\"]\n"
        ),
    )
    .unwrap();
    path
}

fn run(file: &Path, out: &Path) -> (Option<i32>, String, PathBuf) {
    let output = support::harness().args(["run", "--quiet", "--out"]).arg(out).arg(file).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let dir = PathBuf::from(stdout.lines().last().unwrap_or_default());
    (output.status.code(), stdout + &String::from_utf8_lossy(&output.stderr), dir)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_slower_build_fails_the_paired_gate_and_an_identical_one_passes() {
    support::ensure_plugins_built();
    let tmp = tempfile::tempdir().unwrap();
    let builds = tmp.path().join("builds");
    build(&builds, "base", 1);
    // Twenty times the work: every round's ratio is far beyond the 50% threshold, however busy the machine.
    build(&builds, "head", 20);
    let file = experiment(tmp.path(), "8");
    let (code, output, dir) = run(&file, &tmp.path().join("results"));
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("REGRESSED"), "{output}");
    assert!(output.contains("executor=sync run_s: head is") && output.contains("slower than base (95%)"), "{output}");
    let compared = json(&dir.join("compare.json"));
    assert_eq!(compared["mode"]["kind"], "paired", "{compared:#}");
    assert_eq!(compared["mode"]["baseline"], "base");
    let change = &compared["changes"][0];
    assert_eq!((change["verdict"].as_str(), change["reason"].as_str()), (Some("regressed"), Some("beyond")));
    assert_eq!(change["cell"], "executor=sync version=head");
    assert_eq!(change["baseline_cell"], "executor=sync version=base");
    assert_eq!((change["baseline_n"].as_u64(), change["current_n"].as_u64()), (Some(8), Some(8)));
    assert!(change["change_ci"][0].as_f64().unwrap() > 0.5, "{change:#}");
    assert!(change["detectable"].as_f64().is_some(), "{change:#}");
    let markdown = std::fs::read_to_string(dir.join("compare.md")).unwrap();
    assert!(markdown.contains("paired: every value of `version` against `base`"), "{markdown}");

    // The same verdict from the finished folder.
    let again = support::harness().arg("compare").arg(&dir).args(["--out"]).arg(tmp.path()).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", String::from_utf8_lossy(&again.stderr));
    let recompared = json(&tmp.path().join("compare.json"));
    assert_eq!(recompared["changes"][0]["verdict"], "regressed");
    assert_eq!(recompared["changes"][0]["change_ci"], change["change_ci"]);

    // Each round ran both builds back to back, in either order.
    let rows = support::read_runs(&dir.join("runs.csv"));
    assert_eq!(rows.len(), 16);
    let firsts: Vec<&str> = rows.chunks(2).map(|pair| pair[0]["version"].as_str()).collect();
    assert!(rows.chunks(2).all(|pair| pair[0]["repetition"] == pair[1]["repetition"]));
    assert!(firsts.contains(&"base") && firsts.contains(&"head"), "the order is drawn per round: {firsts:?}");

    // The same source built twice: nothing regressed.
    build(&builds, "head", 1);
    let (code, output, _) = run(&file, &tmp.path().join("results"));
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("0 regressed"), "{output}");
}

#[test]
fn a_range_of_repetitions_stops_once_the_comparison_is_decided() {
    support::ensure_plugins_built();
    let tmp = tempfile::tempdir().unwrap();
    let builds = tmp.path().join("builds");
    build(&builds, "base", 1);
    build(&builds, "head", 20);
    let file = experiment(tmp.path(), "{ min = 5, max = 30 }");
    let (code, output, dir) = run(&file, &tmp.path().join("results"));
    assert_eq!(code, Some(1), "{output}");
    let environment = json(&dir.join("environment.json"));
    let rounds = &environment["rounds"];
    assert_eq!((rounds["min"].as_u64(), rounds["max"].as_u64()), (Some(5), Some(30)), "{rounds:#}");
    let stopped = rounds["stopped"].as_array().unwrap();
    assert_eq!(stopped.len(), 2, "{rounds:#}");
    // Both cells of the pair stopped together, decided, at a look before the last round.
    let first_look = rounds["looks"][0].as_u64().unwrap();
    for cell in stopped {
        assert_eq!(cell["decided"], true, "{rounds:#}");
        assert!(cell["rounds"].as_u64().unwrap() < 30, "{rounds:#}");
        assert!(cell["rounds"].as_u64().unwrap() >= first_look, "{rounds:#}");
    }
    let rows = support::read_runs(&dir.join("runs.csv"));
    assert_eq!(rows.len() as u64, 2 * stopped[0]["rounds"].as_u64().unwrap());
    // The interval is that of the look it stopped at, whose confidence is above 95%.
    let compared = json(&dir.join("compare.json"));
    assert!(compared["changes"][0]["confidence"].as_f64().unwrap() > 0.95, "{compared:#}");
    assert_eq!(compared["changes"][0]["verdict"], "regressed");
}

#[test]
fn a_paired_comparison_needs_its_axis_and_refuses_a_second_baseline() {
    support::ensure_plugins_built();
    let tmp = tempfile::tempdir().unwrap();
    let builds = tmp.path().join("builds");
    build(&builds, "base", 1);
    build(&builds, "head", 1);
    let file = experiment(tmp.path(), "6");
    let (code, output, dir) = run(&file, &tmp.path().join("results"));
    assert_eq!(code, Some(0), "{output}");
    // --baseline asks for a comparison of two folders, which a paired experiment does not mix with its own.
    let output = support::harness()
        .args(["run", "--quiet", "--out"])
        .arg(tmp.path().join("results"))
        .arg(&file)
        .arg("--baseline")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("compares its own versions"));
    // A folder of an experiment without `[ci] baseline` cannot be compared alone.
    let plain = tmp.path().join("plain.toml");
    std::fs::write(
        &plain,
        "[experiment]\nname = \"plain\"\nrepetitions = 2\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
         steps = [{ sleep = \"1ms\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n",
    )
    .unwrap();
    let (code, output, plain_dir) = run(&plain, &tmp.path().join("results"));
    assert_eq!(code, Some(0), "{output}");
    let alone = support::harness().arg("compare").arg(&plain_dir).output().unwrap();
    assert_eq!(alone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&alone.stderr).contains("has no `[ci] baseline`"));
}

#[test]
fn plan_warns_of_cells_too_short_for_the_gate_and_of_pairs_with_too_few_rounds() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("short.toml");
    let write = |ci: &str, repetitions: &str| {
        std::fs::write(
            &file,
            format!(
                "[experiment]\nname = \"short\"\nrepetitions = {repetitions}\n\n[workloads.w]\ntasks = 3\n\
                 steps = [{{ sleep = \"1ms\" }}]\n\n[matrix]\nexecutor = [\"sync\"]\nversion = [\"a\", \"b\"]\n\n{ci}"
            ),
        )
        .unwrap();
    };
    let plan = || {
        let output = support::harness().arg("plan").arg(&file).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Two folders: 3 ms of waits, a floor of 1 ms, a threshold of 10%.
    write("[ci]\nthreshold = \"10%\"\nbaseline = { version = \"a\" }\ntime_floor = \"1ms\"\n", "6");
    let warned = plan();
    assert!(warned.contains("runs of about 3.000 ms (their waits) are too short"), "{warned}");
    assert!(warned.contains("+33% of it"), "{warned}");
    // Paired without a floor of times: nothing to say of the floor; but 5 rounds can decide nothing.
    write("[ci]\nbaseline = { version = \"a\" }\n", "5");
    let warned = plan();
    assert!(!warned.contains("too short"), "{warned}");
    assert!(warned.contains("compares in 5 rounds, too few for any interval at 95% confidence"), "{warned}");
    write("[ci]\nbaseline = { version = \"a\" }\n", "{ min = 5, max = 60 }");
    assert!(!plan().contains("too few"));
    // A version whose cell has no baseline partner: compared with nothing.
    write(
        "exclude = [{ version = \"b\" }]\ninclude = [{ version = \"b\", executor = \"threaded\" }]\n\n\
         [ci]\nbaseline = { version = \"a\" }\n",
        "6",
    );
    let warned = plan();
    assert!(warned.contains("executor=threaded version=b: no cell of `version = a`"), "{warned}");
}
