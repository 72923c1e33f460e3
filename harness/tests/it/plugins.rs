//! Finding plugins: built-in, `--plugin-dir`, `HARNESS_PLUGIN_PATH`, `[plugins]`, and refusing bad ones.

use crate::support;

#[test]
fn list_shows_the_four_built_in_executors_with_version_abi_file_and_options() {
    let out = support::harness().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["sync", "threaded", "async", "multiprocess"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        assert!(line.contains(&format!("libexecutor_{name}.so")), "{line}");
        assert!(line.contains(" 1 "), "ABI version missing: {line}");
    }
    assert!(text.contains("flavor = one of \"current_thread\", \"multi_thread\""), "{text}");
}

#[test]
fn plugin_dir_and_environment_take_precedence_in_that_order() {
    let flag_dir = tempfile::tempdir().unwrap();
    let env_dir = tempfile::tempdir().unwrap();
    // A copy of the sync executor under another file name still calls itself `sync`.
    std::fs::copy(support::built_library("executor_sync"), flag_dir.path().join("libflagged.so")).unwrap();
    std::fs::copy(support::built_library("executor_sync"), env_dir.path().join("libfromenv.so")).unwrap();
    let sync_file = |out: &std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().find(|l| l.starts_with("sync ")).unwrap().to_owned()
    };

    let env_only = support::harness().arg("list").env("HARNESS_PLUGIN_PATH", env_dir.path()).output().unwrap();
    assert!(sync_file(&env_only).contains("libfromenv.so"));

    let both = support::harness()
        .arg("list")
        .arg("--plugin-dir")
        .arg(flag_dir.path())
        .env("HARNESS_PLUGIN_PATH", env_dir.path())
        .output()
        .unwrap();
    assert!(sync_file(&both).contains("libflagged.so"));
}

#[test]
fn a_broken_library_in_a_plugin_dir_is_reported_and_skipped() {
    let dir = support::sandbox_with_fixture_plugins();
    let out = support::harness().arg("list").arg("--plugin-dir").arg(dir.path().join("plugins")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("warning: skipped") && text.contains("notalib.so"), "{text}");
    assert!(text.contains("was built for plugin ABI version 999, but this harness speaks ABI version 1"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("sync ")), "built-ins still listed: {text}");
}

#[test]
fn a_plugin_from_the_experiment_file_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::copy(support::built_library("executor_threaded"), dir.path().join("lib/libpool.so")).unwrap();
    std::fs::write(
        dir.path().join("exp.toml"),
        "[experiment]\nname = \"aliased\"\nrepetitions = 1\nwarmup = 0\n\n[workloads.w]\ntasks = 5\nsteps = [{ sleep = \"1ms\" }]\n\n[matrix]\nexecutor = [\"pool\"]\nworkers = [2]\n\n[plugins]\npool = \"lib/libpool.so\"\n",
    )
    .unwrap();
    let out = support::harness().current_dir(dir.path()).args(["run", "--quiet", "exp.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = support::read_runs(&dir.path().join("results/aliased/latest/runs.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["executor"], "pool");
    assert_eq!(rows[0]["status"], "ok");
}

/// A plugin folder holding `libconstructor.so` (a library whose constructor misbehaves as
/// `FIXTURE_CONSTRUCTOR` says) and `libfifo.so`, a FIFO.
fn hostile_plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::c_library("constructor", dir.path());
    let fifo = std::ffi::CString::new(dir.path().join("libfifo.so").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    dir
}

#[test]
fn a_library_whose_constructor_blocks_is_killed_with_what_it_started_and_the_others_are_listed() {
    let dir = hostile_plugin_dir();
    let marker = support::unique_marker(module_path!());
    let child = support::harness()
        .arg("list")
        .arg("--plugin-dir")
        .arg(dir.path())
        .env("FIXTURE_CONSTRUCTOR", "fork")
        .env("FIXTURE_MARK", dir.path().join("forked"))
        .env("HARNESS_TEST_MARKER", &marker)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = support::output_within(child, "harness list with a blocking plugin");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("libconstructor.so: loading libconstructor.so did not end within 10s"),
        "the blocking library is named: {text}"
    );
    for name in ["sync", "threaded", "async", "multiprocess"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{name} "))), "{name} still listed: {text}");
    }
    assert!(!text.contains("libfifo.so"), "a FIFO is no library to list: {text}");
    // The library's constructor forked a process that sleeps for ever: it went with the probe's group.
    assert!(dir.path().join("forked").exists(), "the constructor ran");
    support::wait_until("nothing the probe started is left", || support::marked(&marker).is_empty());
}

#[test]
fn a_probe_dies_with_a_harness_killed_while_it_blocks() {
    let dir = hostile_plugin_dir();
    support::kill_while_a_constructor_blocks(
        &[std::ffi::OsStr::new("list"), std::ffi::OsStr::new("--plugin-dir"), dir.path().as_os_str()],
        &dir.path().join("loading"),
    );
}

#[test]
fn a_fifo_named_in_plugins_is_refused_without_opening_it() {
    let dir = hostile_plugin_dir();
    let file = dir.path().join("fifo.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"fifo\"\nrepetitions = 1\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
         steps = [{ compute = \"1KiB\" }]\n\n[matrix]\nexecutor = [\"mine\"]\n\n[plugins]\nmine = \"libfifo.so\"\n",
    )
    .unwrap();
    let child = support::harness()
        .arg("validate")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = support::output_within(child, "harness validate with a FIFO as plugin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("plugin `mine` cannot be loaded"), "{stderr}");
    assert!(stderr.contains("libfifo.so is not a regular file"), "{stderr}");
}
