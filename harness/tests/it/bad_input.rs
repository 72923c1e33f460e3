//! Every file in `tests/fixtures/bad/` is an experiment with one mistake. `harness validate` and
//! `harness run` must both refuse it with exit code 2, print exactly the message in the matching
//! `.stderr` file, and write nothing. Adding a case is adding two files; `HARNESS_BLESS=1` rewrites the
//! expected messages (review the diff).

use std::path::Path;

use crate::support;

fn check_case(toml: &Path) -> Result<(), String> {
    let name = toml.file_name().unwrap().to_str().unwrap();
    let dir = support::sandbox_with_fixture_plugins();
    std::fs::copy(toml, dir.path().join(name)).unwrap();
    // The files a case reads beside it (a service's template) are named after it: `NAME.toml`, `NAME.conf.in`.
    let stem = toml.file_stem().unwrap().to_str().unwrap();
    for entry in std::fs::read_dir(toml.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        let other = path.file_name().unwrap().to_str().unwrap();
        let extension = other.strip_prefix(stem).and_then(|rest| rest.strip_prefix('.'));
        if extension.is_some_and(|e| e != "toml" && e != "stderr") {
            std::fs::copy(&path, dir.path().join(other)).unwrap();
        }
    }
    let expected_path = toml.with_extension("stderr");

    let validate = support::harness().current_dir(dir.path()).args(["validate", name]).output().unwrap();
    let stderr = String::from_utf8_lossy(&validate.stderr).into_owned();
    if std::env::var_os("HARNESS_BLESS").is_some() {
        std::fs::write(&expected_path, &stderr).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path)
        .map_err(|_| format!("{name}: no {} (run with HARNESS_BLESS=1 to create it)", expected_path.display()))?;
    if validate.status.code() != Some(2) {
        return Err(format!("{name}: validate exited with {:?}, expected 2\n{stderr}", validate.status.code()));
    }
    if stderr != expected {
        return Err(format!("{name}: message differs\n--- expected\n{expected}\n--- actual\n{stderr}"));
    }

    let run = support::harness().current_dir(dir.path()).args(["run", "--out", "results", name]).output().unwrap();
    if run.status.code() != Some(2) || String::from_utf8_lossy(&run.stderr) != expected {
        return Err(format!(
            "{name}: `run` did not fail like `validate`: {:?}\n{}",
            run.status.code(),
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    if dir.path().join("results").exists() {
        return Err(format!("{name}: `run` wrote results for a bad file"));
    }
    Ok(())
}

#[test]
fn every_bad_fixture_gets_its_message_and_exit_code_2() {
    support::ensure_plugins_built();
    let fixtures = support::root().join("harness/tests/fixtures/bad");
    let mut cases: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the fixtures are missing");
    let failures: Vec<String> = cases.iter().filter_map(|c| check_case(c).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn every_message_names_the_file_and_says_what_was_expected_or_how_to_fix_it() {
    let fixtures = support::root().join("harness/tests/fixtures/bad");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "stderr") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let toml = path.with_extension("toml");
        let name = toml.file_name().unwrap().to_str().unwrap();
        assert!(text.starts_with("error: "), "{}: {text}", path.display());
        assert!(text.contains(&format!("--> {name}:")), "{}: no file:line:column in\n{text}", path.display());
        assert!(text.contains("= expected: ") || text.contains("= help: "), "{}: no hint in\n{text}", path.display());
    }
}

#[test]
fn a_missing_experiment_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::harness().current_dir(dir.path()).args(["validate", "nope.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read experiment file nope.toml"));
}

#[test]
fn a_usage_error_exits_with_2() {
    let out = support::harness().args(["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = support::harness().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
