//! Result folders as input: where the harness writes (never through a symbolic link it did not make), and
//! what reading one does (regular files only, bounded, and no code of the folder is ever run).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use crate::support::{self, write_inline};

const TINY: &str = "[experiment]\nname = \"tiny\"\nrepetitions = 2\nwarmup = 0\n\n[workloads.w]\ntasks = 2\n\
                    steps = [{ compute = \"1KiB\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n";

#[test]
fn a_symbolic_link_where_the_harness_would_make_the_experiment_folder_is_refused() {
    let (dir, file) = write_inline("tiny", TINY);
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("tiny")).unwrap();
    let run = support::harness().args(["run", "--quiet", "--out"]).arg(&out).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{} is a symbolic link (to {})", out.join("tiny").display(), elsewhere.display())),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing was written where the link points");
}

/// A finished result folder of the tiny experiment.
fn result_folder(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("tiny.toml");
    std::fs::write(&file, TINY).unwrap();
    let run = support::harness().args(["run", "--quiet", "--out"]).arg(dir.join("out")).arg(&file).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    std::path::PathBuf::from(String::from_utf8_lossy(&run.stdout).trim())
}

/// Runs `harness ARGS` with `env`, failing when it hangs.
fn harness_within(args: &[&std::ffi::OsStr], env: &[(&str, &std::ffi::OsStr)]) -> std::process::Output {
    let mut command = support::harness();
    command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    support::output_within(command.spawn().unwrap(), &format!("harness {args:?}"))
}

#[test]
fn reading_a_result_folder_loads_no_library_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let result = result_folder(dir.path());
    support::c_library("constructor", &result);
    // A folder from elsewhere whose experiment file names a library that runs code when loaded, as a
    // plugin and as a step library.
    let experiment = result.join("experiment.toml");
    let text = std::fs::read_to_string(&experiment).unwrap();
    let steps_only = format!("[libraries]\nevil = \"libconstructor.so\"\n\n{text}");
    std::fs::write(&experiment, format!("[plugins]\nevil = \"libconstructor.so\"\n\n{steps_only}")).unwrap();
    let mark = dir.path().join("loaded");
    let env = [("FIXTURE_CONSTRUCTOR", OsStr::new("mark")), ("FIXTURE_MARK", mark.as_os_str())];
    let merged = dir.path().join("merged");
    let json = dir.path().join("export.json");
    let r = result.as_os_str();
    let commands: [&[&OsStr]; 4] = [
        &[OsStr::new("report"), r],
        &[OsStr::new("export"), r, OsStr::new("--export-json"), json.as_os_str()],
        &[OsStr::new("compare"), r, r],
        &[OsStr::new("merge"), r, OsStr::new("--out"), merged.as_os_str()],
    ];
    for args in commands {
        let out = harness_within(args, &env);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!mark.exists(), "harness {args:?} loaded the library");
    }
    // The report still has the model's ideal time: it came from environment.json.
    let report = std::fs::read_to_string(result.join("report.md")).unwrap();
    assert!(!report.contains("could not be loaded"), "{report}");
    // The library does run code when loaded, as a plugin and as a step library: what the commands above
    // did not do.
    let steps = dir.path().join("steps.toml");
    std::fs::write(&steps, steps_only).unwrap();
    std::fs::copy(result.join("libconstructor.so"), dir.path().join("libconstructor.so")).unwrap();
    for file in [&experiment, &steps] {
        let validate = harness_within(&[OsStr::new("validate"), file.as_os_str()], &env);
        assert_eq!(validate.status.code(), Some(2), "{}", String::from_utf8_lossy(&validate.stderr));
        assert!(mark.exists(), "loading the library leaves the mark");
        std::fs::remove_file(&mark).unwrap();
    }
}

/// Makes `path` a FIFO.
fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_fifo_or_a_device_in_a_result_folder_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let good = result_folder(dir.path());
    for (file, make) in [
        ("runs.csv", "fifo"),
        ("runs.csv", "/dev/zero"),
        ("environment.json", "fifo"),
        ("environment.json", "/dev/zero"),
        ("experiment.toml", "fifo"),
    ] {
        let bad = dir.path().join(format!("bad-{}-{}", file, make.replace('/', "")));
        std::fs::create_dir(&bad).unwrap();
        for name in ["runs.csv", "environment.json", "experiment.toml"] {
            std::fs::copy(good.join(name), bad.join(name)).unwrap();
        }
        std::fs::remove_file(bad.join(file)).unwrap();
        if make == "fifo" {
            mkfifo(&bad.join(file));
        } else {
            std::os::unix::fs::symlink(make, bad.join(file)).unwrap();
        }
        let merged = dir.path().join(format!("merged-{file}-{}", make.replace('/', "")));
        let json = dir.path().join("export.json");
        let (b, g) = (bad.as_os_str(), good.as_os_str());
        let commands: [&[&OsStr]; 5] = [
            &[OsStr::new("report"), b],
            &[OsStr::new("export"), b, OsStr::new("--export-json"), json.as_os_str()],
            &[OsStr::new("compare"), g, b],
            &[OsStr::new("compare"), b, g],
            &[OsStr::new("merge"), b, OsStr::new("--out"), merged.as_os_str()],
        ];
        for args in commands {
            let out = harness_within(args, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{file} as {make}, {args:?}: {stderr}");
            assert!(stderr.contains(&format!("its {file} is not a regular file")), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn merge_refuses_an_environment_that_plans_more_runs_than_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    let result = result_folder(dir.path());
    let path = result.join("environment.json");
    let mut environment: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    environment["experiment"]["repetitions"] = serde_json::json!(100_000_000_000u64);
    std::fs::write(&path, environment.to_string()).unwrap();
    let merged = dir.path().join("merged");
    let out = harness_within(&[OsStr::new("merge"), result.as_os_str(), OsStr::new("--out"), merged.as_os_str()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("plans 1 cells x 100000000000 repetitions, more than the 10000000 runs a merge takes"),
        "{stderr}"
    );
}

#[test]
fn merge_into_a_folder_that_is_not_empty_is_refused_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let result = result_folder(dir.path());
    let out = dir.path().join("busy");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let merge = harness_within(&[OsStr::new("merge"), result.as_os_str(), OsStr::new("--out"), out.as_os_str()], &[]);
    let stderr = String::from_utf8_lossy(&merge.stderr);
    assert_eq!(merge.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exists and is not empty"), "{stderr}");
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["notes.txt"]);
}

#[test]
fn redrawing_a_folder_never_writes_through_its_symbolic_links() {
    let dir = tempfile::tempdir().unwrap();
    let result = result_folder(dir.path());
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious.md"), "mine").unwrap();
    std::fs::write(outside.join("precious.svg"), "mine").unwrap();
    // Files the report writes, as links to files elsewhere: replaced, the files they point at untouched.
    for name in ["report.md", "report.html", "compare.md"] {
        std::fs::remove_file(result.join(name)).ok();
        std::os::unix::fs::symlink(outside.join("precious.md"), result.join(name)).unwrap();
    }
    let r = result.as_os_str();
    for args in [&[OsStr::new("report"), r][..], &[OsStr::new("compare"), r, r]] {
        let out = harness_within(args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(std::fs::read_to_string(outside.join("precious.md")).unwrap(), "mine");
    assert!(!std::fs::symlink_metadata(result.join("report.md")).unwrap().file_type().is_symlink());
    // `charts` as a link to a folder elsewhere: refused, and the SVG files there are not removed.
    std::fs::remove_dir_all(result.join("charts")).unwrap();
    std::os::unix::fs::symlink(&outside, result.join("charts")).unwrap();
    let out = harness_within(&[OsStr::new("report"), r], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("charts is not a folder (a symbolic link?)"), "{stderr}");
    assert_eq!(std::fs::read_to_string(outside.join("precious.svg")).unwrap(), "mine");
}

/// An experiment file, or a service's template, that is a FIFO or a device is refused at once, with exit 2,
/// neither waiting for a writer nor reading `/dev/zero` for ever.
#[test]
fn an_experiment_file_or_a_template_that_is_a_fifo_or_a_device_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    mkfifo(&fifo);
    for file in [fifo.as_os_str(), OsStr::new("/dev/zero")] {
        let out = harness_within(&[OsStr::new("validate"), file], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file:?}: {stderr}");
        assert!(stderr.contains("is not a regular file"), "{file:?}: {stderr}");
    }
    mkfifo(&dir.path().join("site.conf.in"));
    for template in ["site.conf.in", "/dev/zero"] {
        let text = format!(
            "[experiment]\nname = \"templates\"\nrepetitions = 1\nwarmup = 0\n\n\
             [services.web]\ncommand = [\"sleep\", \"100\"]\nfiles = {{ \"site.conf\" = {{ template = \"{template}\" }} }}\n\n\
             [workloads.w]\ntasks = 1\nsteps = [{{ sleep = \"1ms\" }}]\n\n[matrix]\nexecutor = [\"sync\"]\n"
        );
        let file = dir.path().join("templates.toml");
        std::fs::write(&file, text).unwrap();
        let out = harness_within(&[OsStr::new("validate"), file.as_os_str()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{template}: {stderr}");
        assert!(stderr.contains(&format!("cannot read the template \"{template}\"")), "{template}: {stderr}");
        assert!(stderr.contains("is not a regular file"), "{template}: {stderr}");
        assert!(stderr.contains("templates.toml:8:25"), "the place in the experiment file: {stderr}");
    }
}
