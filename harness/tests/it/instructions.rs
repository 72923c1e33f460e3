//! Instruction counts: `instructions = true` runs a workload's programs under Valgrind's cachegrind. Two
//! builds of a small C program made here, one with a block of 100,000 `nop` instructions more, run as two
//! versions of a paired experiment: the counts differ by that much per program, are the same in every run
//! and under every executor, fail the paired gate, and go into the history like the other metrics.

use std::path::Path;
use std::process::Command;

use crate::support;

/// The extra instructions of the head build.
const EXTRA: u64 = 100_000;

fn valgrind_installed() -> bool {
    Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Builds `dir/base/app` and `dir/head/app`, the second with `EXTRA` more `nop`s.
fn build(dir: &Path) {
    let source = dir.join("app.c");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\nint main(void) {{\n#ifdef EXTRA\n__asm__ volatile(\".rept {EXTRA}\\n nop\\n .endr\");\n#endif\n\
             volatile unsigned long x = 0;\nfor (long i = 0; i < 100000; i++) x += i;\nprintf(\"%lu\\n\", x);\nreturn 0;\n}}\n"
        ),
    )
    .unwrap();
    for (name, flags) in [("base", Vec::new()), ("head", vec!["-DEXTRA".to_owned()])] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        support::cc(&flags, &source, &dir.join(name).join("app"));
    }
}

const EXPERIMENT: &str = "[experiment]\nname = \"counted\"\nrepetitions = 6\nwarmup = 0\n\n\
    [workloads.app]\ntasks = 2\nsteps = [{ exec = [\"./${version}/app\"] }]\ninstructions = true\n\n\
    [matrix]\nexecutor = [\"sync\", \"threaded\"]\nworkload = [\"app\"]\nversion = [\"base\", \"head\"]\n\n\
    [ci]\nbaseline = { version = \"base\" }\nmetrics = [\"instructions\"]\nthresholds = { instructions = \"0.5%\" }\n";

#[test]
fn a_build_with_more_instructions_counts_that_many_more_and_fails_the_gate() {
    if !valgrind_installed() {
        eprintln!("skipped: valgrind is not installed (`apt-get install valgrind`)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let file = dir.path().join("counted.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let history = dir.path().join("history.sqlite");
    let output = support::harness()
        .args(["run", "--quiet", "--commit", "c1", "--history"])
        .arg(&history)
        .arg("--out")
        .arg(dir.path().join("results"))
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The head build's 1.6% more instructions are beyond the threshold of 0.5%, in 6 rounds.
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("REGRESSED"), "{stdout}");

    let dir_out = Path::new(stdout.lines().last().unwrap());
    let rows = support::read_runs(&dir_out.join("runs.csv"));
    let count =
        |row: &std::collections::HashMap<String, String>, metric: &str| row[metric].parse::<f64>().unwrap() as u64;
    let of = |version: &str, executor: &str| -> Vec<u64> {
        rows.iter()
            .filter(|r| r["version"] == version && r["executor"] == executor && r["status"] == "ok")
            .map(|r| count(r, "instructions"))
            .collect()
    };
    for executor in ["sync", "threaded"] {
        let (base, head) = (of("base", executor), of("head", executor));
        assert_eq!(base.len(), 6, "{rows:?}");
        // A count does not move from run to run.
        assert!(base.iter().all(|&c| c == base[0]) && head.iter().all(|&c| c == head[0]), "{base:?} {head:?}");
        // Two tasks, each one program with EXTRA more instructions; the builds differ in nothing else the
        // program executes, but for a few instructions of the loader.
        let difference = head[0] - base[0];
        assert!(difference.abs_diff(2 * EXTRA) <= 2 * EXTRA / 100, "{difference} more instructions, not {}", 2 * EXTRA);
        eprintln!("{executor}: base {} instructions, head {} ({difference} more)", base[0], head[0]);
    }
    // The work is the same whatever the executor runs it with.
    assert_eq!(of("base", "sync")[0], of("base", "threaded")[0]);
    for metric in ["d1_misses", "ll_misses"] {
        assert!(rows.iter().all(|r| count(r, metric) > 0), "{metric}");
    }

    let db = rusqlite::Connection::open(&history).unwrap();
    let counted: i64 = db
        .query_row("SELECT count(*) FROM measurements WHERE metric = 'instructions' AND n = 6", [], |r| r.get(0))
        .unwrap();
    assert_eq!(counted, 4, "one series of instructions a cell");
}

#[test]
fn without_valgrind_a_counting_experiment_is_refused_naming_the_package() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let file = dir.path().join("counted.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let empty = dir.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let output = support::harness().arg("validate").arg(&file).env("PATH", &empty).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("counts instructions, and Valgrind is not installed"), "{stderr}");
    assert!(stderr.contains("install the package `valgrind`"), "{stderr}");
    assert!(stderr.contains("counted.toml:9:"), "the place of `instructions = true`: {stderr}");
}
