//! Shared helpers: paths, the harness command, and making sure the plugins are built.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("harness/ is in the workspace").to_owned()
}

/// The folder of the harness binary under test, where the built-in executors are.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_harness")).parent().unwrap().to_owned()
}

/// Builds every workspace member once per test binary: the executor plugins are cdylibs, which
/// `cargo test` does not build.
pub fn ensure_plugins_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = Command::new(cargo);
        command.args(["build", "--workspace", "--quiet"]).current_dir(root());
        if bin_dir().ends_with("release") {
            command.arg("--release");
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "cargo build --workspace failed");
    });
}

/// The harness binary, with the plugins built and no plugin path from the environment.
pub fn harness() -> Command {
    ensure_plugins_built();
    let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
    command.env_remove("HARNESS_PLUGIN_PATH");
    command
}

/// A built test or example plugin in the build folder.
pub fn built_library(stem: &str) -> PathBuf {
    ensure_plugins_built();
    let path = bin_dir().join(format!("lib{stem}.so"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A temporary folder with `plugins/notalib.so` (text), `plugins/libwrong_abi.so` (a plugin of another
/// ABI version) and `plugins/libno_entry.so` (a library without the entry point), for the bad-input
/// fixtures.
pub fn sandbox_with_fixture_plugins() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("notalib.so"), "this is not a shared library\n").unwrap();
    std::fs::copy(built_library("plugin_wrong_abi"), plugins.join("libwrong_abi.so")).unwrap();
    std::fs::copy(built_library("plugin_no_entry"), plugins.join("libno_entry.so")).unwrap();
    dir
}

/// The rows of a `runs.csv`, as column name to value.
pub fn read_runs(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect())
        .collect()
}

/// A value for the `HARNESS_TEST_MARKER` environment variable that no other test uses: every process the
/// harness starts inherits it, so [`processes_marked`] finds any that outlived a run.
pub fn unique_marker(test: &str) -> String {
    format!("{test}-{}-{:?}", std::process::id(), std::time::SystemTime::now())
}

/// The processes alive whose environment holds `HARNESS_TEST_MARKER=marker`.
pub fn processes_marked(marker: &str) -> Vec<i32> {
    let needle = format!("HARNESS_TEST_MARKER={marker}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}
