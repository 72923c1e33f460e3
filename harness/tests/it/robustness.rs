//! Input that once made the harness panic, hang or lose data: closed output streams, huge matrices and
//! counts, damaged result folders.

use std::fmt::Write as _;
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
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills `fds` with two new descriptors, each owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned by nothing else.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
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
        writeln!(text, "{name} = [{}]", values.join(", ")).unwrap();
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

/// A finished result folder of `TINY` (4 runs of 2 cells), copied out of `latest` so that it can be damaged.
fn result_folder() -> (tempfile::TempDir, PathBuf) {
    let (dir, file) = support::write_inline("tiny", TINY);
    let out = support::harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("results")).arg(&file).output();
    assert_eq!(out.unwrap().status.code(), Some(0));
    let latest = std::fs::canonicalize(dir.path().join("results/tiny/latest")).unwrap();
    (dir, latest)
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["runs.csv", "experiment.toml", "environment.json"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

fn output(args: &[&Path]) -> (Option<i32>, String) {
    let out = support::harness().args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_result_folder_that_cannot_be_read_is_bad_input_for_every_command() {
    let (dir, good) = result_folder();
    let bad = dir.path().join("bad");
    copy_folder(&good, &bad);
    std::fs::write(bad.join("runs.csv"), "not,a,runs,file\n1,2,3,4\n").unwrap();
    let m = dir.path().join("m.json");
    for args in [
        vec![Path::new("report"), &bad],
        vec![Path::new("compare"), &good, &bad],
        vec![Path::new("export"), &bad, Path::new("--export-json"), &m],
        vec![Path::new("merge"), &bad, Path::new("--out"), &dir.path().join("merged")],
    ] {
        let (code, stderr) = output(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("has no `cell` column"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_last_row_cut_short_is_left_out_with_a_warning_that_suggests_resume() {
    let (dir, good) = result_folder();
    let cut = dir.path().join("cut");
    copy_folder(&good, &cut);
    // What `kill -9` during an append leaves: a row without its end, here with every field still there.
    let text = std::fs::read_to_string(good.join("runs.csv")).unwrap();
    std::fs::write(cut.join("runs.csv"), &text[..text.len() - 3]).unwrap();
    let m = dir.path().join("m.json");
    let merged = dir.path().join("merged");
    for (args, expected) in [
        (vec![Path::new("report"), &cut], 0),
        (vec![Path::new("compare"), &good, &cut], 0),
        (vec![Path::new("export"), &cut, Path::new("--export-json"), &m], 0),
        // The cut run is missing from the merge.
        (vec![Path::new("merge"), &cut, Path::new("--out"), &merged], 1),
    ] {
        let (code, stderr) = output(&args);
        assert_eq!(code, Some(expected), "{args:?}: {stderr}");
        assert!(stderr.contains("line 5 is a row cut short"), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("--resume {}", cut.display())), "{args:?}: {stderr}");
    }
    assert_eq!(support::read_runs(&merged.join("runs.csv")).len(), 3);
}

#[test]
fn a_median_that_is_not_finite_is_refused_not_called_unchanged() {
    let (dir, good) = result_folder();
    for bad_value in ["NaN", "inf"] {
        let bad = dir.path().join(bad_value);
        copy_folder(&good, &bad);
        let mut reader = csv::Reader::from_path(good.join("runs.csv")).unwrap();
        let header = reader.headers().unwrap().clone();
        let run_s = header.iter().position(|h| h == "run_s").unwrap();
        let mut writer = csv::Writer::from_path(bad.join("runs.csv")).unwrap();
        writer.write_record(&header).unwrap();
        for record in reader.records() {
            let record: Vec<String> = record
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, v)| if i == run_s { bad_value.to_owned() } else { v.to_owned() })
                .collect();
            writer.write_record(&record).unwrap();
        }
        writer.flush().unwrap();
        let (code, stderr) = output(&[Path::new("compare"), &good, &bad]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(&format!("`run_s` is {bad_value}, not a finite number")), "{stderr}");
    }
}

#[test]
fn merge_leaves_out_rows_of_runs_the_experiment_does_not_plan() {
    let (dir, good) = result_folder();
    let extra = dir.path().join("extra");
    copy_folder(&good, &extra);
    let mut reader = csv::Reader::from_path(good.join("runs.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let cell = header.iter().position(|h| h == "cell").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut writer = csv::Writer::from_path(extra.join("runs.csv")).unwrap();
    writer.write_record(&header).unwrap();
    for row in &rows {
        writer.write_record(row).unwrap();
    }
    let stray: Vec<String> =
        rows[0].iter().enumerate().map(|(i, v)| if i == cell { "13".to_owned() } else { v.to_owned() }).collect();
    writer.write_record(&stray).unwrap();
    writer.flush().unwrap();
    let merged = dir.path().join("merged");
    let (code, stderr) = output(&[Path::new("merge"), &extra, Path::new("--out"), &merged]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("merged 1 shards: 4 of 4 planned runs"), "{stderr}");
    assert!(
        stderr.contains("left out 1 rows of runs the experiment does not plan (cell/repetition): 13/1"),
        "{stderr}"
    );
    assert_eq!(support::read_runs(&merged.join("runs.csv")).len(), 4);
}

/// The `validate` command on damaged copies of the example files: it exits 0 or 2, never panics, and an
/// error names its place. `experiment::fuzz` does the same in-process over many more files.
#[test]
fn validate_on_damaged_example_files_exits_0_or_2_with_a_place() {
    type Damage = fn(&[u8]) -> Vec<u8>;
    let damages: [(&str, Damage); 5] = [
        ("windows line endings", |b| String::from_utf8_lossy(b).replace('\n', "\r\n").into_bytes()),
        ("cut in half", |b| b[..b.len() / 2].to_vec()),
        ("a byte that is not UTF-8 in the middle", |b| [&b[..b.len() / 2], &[0xff], &b[b.len() / 2..]].concat()),
        ("a line break in every string", |b| String::from_utf8_lossy(b).replace("\"s", "\"\\ns").into_bytes()),
        ("the last line 5000 times longer", |b| {
            let text = String::from_utf8_lossy(b);
            let last = text.trim_end().lines().last().unwrap_or_default().to_owned();
            format!("{}{}\n", text, last.repeat(5000)).into_bytes()
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    for file in support::experiment_files() {
        let bytes = std::fs::read(&file).unwrap();
        for (what, damage) in &damages {
            let path = dir.path().join("damaged.toml");
            std::fs::write(&path, damage(&bytes)).unwrap();
            let out = support::harness().current_dir(dir.path()).args(["validate", "damaged.toml"]).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let name = file.file_name().unwrap().to_string_lossy();
            match out.status.code() {
                Some(0) => {}
                Some(2) => assert!(stderr.contains("--> damaged.toml:"), "{name}, {what}: no place in\n{stderr}"),
                other => panic!("{name}, {what}: exit {other:?}\n{stderr}"),
            }
        }
    }
}

/// A small file system of its own (tmpfs), unmounted when dropped; `None` where mounting is not allowed.
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { _dir: dir, path })
    }

    /// [`SmallDisk::mount`], or `None` after saying why the test is skipped.
    fn mount_or_say(size: &str) -> Option<Self> {
        let disk = Self::mount(size);
        if disk.is_none() {
            eprintln!("skipped: mounting a small tmpfs needs root (CAP_SYS_ADMIN); the test runs as root in CI");
        }
        disk
    }

    /// Fills what is left of it with `name`.
    fn fill(&self, name: &str) {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("head -c 64M /dev/zero > '{}' 2>/dev/null", self.path.join(name).display()))
            .status()
            .unwrap();
        assert!(!status.success(), "the disk did not fill");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A full disk when the folder is made leaves no half-written folder, and says to free space or write
/// elsewhere; a disk that fills during the runs keeps what was measured, and the error says how `--resume`
/// finishes the folder, which it does once there is space.
#[test]
fn a_full_disk_leaves_no_empty_files_and_every_error_names_the_way_out() {
    let Some(disk) = SmallDisk::mount_or_say("1M") else { return };
    let filler = disk.path.join("filler");
    let text = format!(
        r#"
[experiment]
name = "full"
repetitions = 3
warmup = 0

[workloads.w]
tasks = 1
steps = [{{ exec = ["sh", "-c", "head -c 64M /dev/zero > '{}' 2>/dev/null; true"] }}]

[matrix]
executor = ["sync"]
workload = ["w"]
"#,
        filler.display()
    );
    let (_keep, file) = support::write_inline("full", &text);
    let results = disk.path.join("results");
    let run = |resume: Option<&Path>| {
        let mut command = support::harness();
        command.args(["run", "--quiet"]).arg(&file);
        match resume {
            Some(dir) => command.arg("--resume").arg(dir),
            None => command.arg("--out").arg(&results),
        };
        let out = command.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    disk.fill("before");
    let (code, stderr) = run(None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the device is full: free space on it, or write the results elsewhere with --out DIR"));
    let left: Vec<_> = walk(&results);
    assert!(left.iter().all(|p| p.is_dir()), "a full disk left files behind: {left:?}");
    std::fs::remove_file(disk.path.join("before")).unwrap();

    // The first run fills the disk: the rows fit in runs.csv's page, environment.json does not.
    let (code, stderr) = run(None);
    let dir = results.join("full/latest");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let hint = "free space on its device (it is full), then finish the folder with\n  ";
    assert!(stderr.contains(hint), "{stderr}");
    let command = format!("run {} --resume ", file.display());
    assert!(stderr.contains(&command), "{stderr}");
    let rows = support::read_runs(&dir.join("runs.csv"));
    assert!(!rows.is_empty(), "the measured runs are kept");
    std::fs::remove_file(&filler).unwrap();
    let (code, stderr) = run(Some(&dir));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(support::read_runs(&dir.join("runs.csv")).len(), 3);
    assert!(dir.join("summary.csv").is_file() && dir.join("report.md").is_file());
}

/// A service that fills the disk and exits stops the experiment; the folder then cannot be finished
/// (environment.json does not fit), and the error says both, what stopped the runs first.
#[test]
fn a_service_that_fills_the_disk_and_exits_is_named_before_the_full_disk() {
    let Some(disk) = SmallDisk::mount_or_say("1M") else { return };
    let filler = disk.path.join("filler");
    let text = format!(
        r#"
[experiment]
name = "filled"
repetitions = 1
warmup = 0

[services.hog]
command = ["sh", "-c", "sleep 0.3; head -c 64M /dev/zero > '{}' 2>/dev/null; echo filled; exit 3"]
ready = {{ log = "never printed" }}
ready_timeout = "20s"

[workloads.w]
tasks = 1
steps = [{{ sleep = "1ms" }}]

[matrix]
executor = ["sync"]
"#,
        filler.display()
    );
    let (_keep, file) = support::write_inline("filled", &text);
    let out = support::harness().args(["run", "--quiet", "--out"]).arg(disk.path.join("results")).arg(&file).output();
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let stopped = stderr.find("the experiment stopped: service `hog` exited with code 3 before it was ready");
    let full = stderr.find("No space left on device");
    assert!(stopped.is_some() && full.is_some() && stopped < full, "{stderr}");
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

/// The commands that read result folders take time linear in the rows: a result of 20,000 cells, made from
/// the row of a real run, is reported, exported and merged well within the liveness deadline (each took
/// minutes when the time grew with the square of the cells). Charts of that many cells are left out, with a
/// note.
#[test]
fn every_reader_of_results_finishes_on_twenty_thousand_cells() {
    let dir = tempfile::tempdir().unwrap();
    let small = matrix_file(&[1, 1]).replace("name = \"matrix\"\n", "name = \"matrix\"\nrepetitions = 1\nwarmup = 0\n");
    let file = dir.path().join("matrix.toml");
    std::fs::write(&file, &small).unwrap();
    let out = support::harness().args(["run", "--quiet", "--out"]).arg(dir.path().join("out")).arg(&file).output();
    assert_eq!(out.unwrap().status.code(), Some(0));
    let result = dir.path().join("big");
    copy_folder(&dir.path().join("out/matrix/latest"), &result);
    // The same experiment with 100 x 200 cells, and a row for each, as the harness would write it.
    let values = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let big = small
        .replace("a = [0]", &format!("a = [{}]", values(100)))
        .replace("b = [0]", &format!("b = [{}]", values(200)));
    std::fs::write(result.join("experiment.toml"), &big).unwrap();
    let environment = result.join("environment.json");
    let mut recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(&environment).unwrap()).unwrap();
    recorded["experiment"]["cells"] = 20_000.into();
    std::fs::write(&environment, recorded.to_string()).unwrap();
    let mut reader = csv::Reader::from_path(result.join("runs.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (a, b, cell) = (column("a"), column("b"), column("cell"));
    let mut writer = csv::Writer::from_path(result.join("runs.csv")).unwrap();
    writer.write_record(&header).unwrap();
    for i in 0..20_000usize {
        let mut record: Vec<String> = row.iter().map(str::to_owned).collect();
        (record[a], record[b], record[cell]) = ((i / 200).to_string(), (i % 200).to_string(), (i + 1).to_string());
        writer.write_record(&record).unwrap();
    }
    writer.flush().unwrap();

    let merged = dir.path().join("merged");
    let json = dir.path().join("export.json");
    let commands: [Vec<&std::ffi::OsStr>; 3] = [
        vec!["report".as_ref(), result.as_os_str()],
        vec!["export".as_ref(), result.as_os_str(), "--export-json".as_ref(), json.as_os_str()],
        vec!["merge".as_ref(), result.as_os_str(), "--out".as_ref(), merged.as_os_str()],
    ];
    for args in commands {
        let child = support::harness().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = support::output_within(child, &format!("harness {}", args[0].to_string_lossy()));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let report = std::fs::read_to_string(result.join("report.md")).unwrap();
    assert!(report.contains("20000 cells, 20000 measured runs"), "{}", &report[..report.len().min(2000)]);
    assert!(report.contains("is not drawn: it would have 20000 points"), "{}", &report[..report.len().min(2000)]);
    let exported: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(exported["cells"].as_array().unwrap().len(), 20_000);
    assert_eq!(support::read_runs(&merged.join("runs.csv")).len(), 20_000);
}
