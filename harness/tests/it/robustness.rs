//! Input that once made the harness panic, hang or lose data: closed output streams, huge matrices and
//! counts, damaged result folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support;

const TINY: &str = r#"
[experiment]
name = "tiny"
repetitions = 2
warmup = 0

[workloads.cpu]
tasks = "${count}"
steps = [{ compute = "1KiB" }]

[matrix]
executor = ["sync"]
count = [1, 2, 3]
exclude = [{ count = 3 }]

[[charts]]
x = "count"
y = "run_s"
"#;

/// A pipe whose reading end is already closed: every write to it fails with `EPIPE`.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// Runs `command` with its standard output and standard error closed; returns its exit code.
fn exit_code_with_closed_output(mut command: Command) -> Option<i32> {
    let status = command.stdout(closed_pipe()).stderr(closed_pipe()).status().unwrap();
    status.code()
}

#[test]
fn a_closed_stdout_or_stderr_is_a_quiet_exit_for_every_command() {
    let (dir, file) = support::write_inline("tiny", TINY);
    let out = dir.path().join("results");
    let with = |args: &[&str]| {
        let mut command = support::harness();
        command.args(args);
        command
    };
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    // `run` measures and writes everything, whoever reads its console.
    let mut run = with(&["run", "--out", &path(&out)]);
    run.arg(&file);
    assert_eq!(exit_code_with_closed_output(run), Some(0), "run");
    let result: PathBuf = out.join("tiny/latest");
    assert_eq!(support::read_runs(&result.join("runs.csv")).len(), 4);
    assert!(result.join("summary.csv").exists() && result.join("report.md").exists());

    let cases: Vec<(Vec<String>, i32)> = vec![
        (vec!["plan".into(), path(&file)], 0),
        (vec!["validate".into(), path(&file)], 0),
        (vec!["list".into()], 0),
        (vec!["schema".into()], 0),
        (vec!["report".into(), path(&result)], 0),
        (vec!["compare".into(), path(&result), path(&result), "--out".into(), path(&dir.path().join("cmp"))], 0),
        (vec!["export".into(), path(&result), "--export-markdown".into(), path(&dir.path().join("m.md"))], 0),
        (vec!["validate".into(), path(&dir.path().join("missing.toml"))], 2),
        (vec!["--help".into()], 0),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(exit_code_with_closed_output(with(&args)), Some(expected), "{args:?}");
    }
    assert!(dir.path().join("m.md").exists());
}

/// An experiment file with one axis per length given, each of integers from 0.
fn matrix_file(lengths: &[usize]) -> String {
    let names = ["a", "b", "c", "d", "e", "f"];
    let mut text = String::from(
        "[experiment]\nname = \"matrix\"\n\n[workloads.w]\ntasks = 1\nsteps = [{ compute = \"1KiB\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n",
    );
    let mut uses = Vec::new();
    for (name, &n) in names.iter().zip(lengths) {
        let values: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        text.push_str(&format!("{name} = [{}]\n", values.join(", ")));
        uses.push(format!("{{ sleep = \"${{{name}}}us\" }}"));
    }
    text.replace("[{ compute = \"1KiB\" }]", &format!("[{}]", uses.join(", ")))
}

#[test]
fn a_matrix_of_ten_billion_cells_is_refused_with_its_size_before_it_is_expanded() {
    let (_dir, file) = support::write_inline("matrix", &matrix_file(&[100_000, 100_000]));
    let out = support::harness().arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the matrix has 10000000000 cells (1 x 100000 x 100000), more than 1000000"), "{stderr}");
}

#[test]
fn a_matrix_of_eight_thousand_cells_validates_and_plans() {
    let (_dir, file) = support::write_inline("matrix", &matrix_file(&[80, 100]));
    let out = support::harness().arg("validate").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok, 8000 cells, 48000 runs"), "{stdout}");
    let plan = support::harness().arg("plan").arg(&file).output().unwrap();
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&plan.stdout).lines().filter(|l| l.contains("sleep")).count(), 8000);
}
