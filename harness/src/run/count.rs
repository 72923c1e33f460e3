//! `harness __count -- PROGRAM ARGS...`: runs a program under Valgrind's cachegrind (and every program it
//! starts, `--trace-children=yes`), then prints on standard error the instructions it executed and the
//! cache misses of cachegrind's simulation, summed over its processes, one line each (see
//! [`crate::experiment::instructions`]); exits with the program's exit status. The program's standard
//! input, output and error are its own; Valgrind's messages are left out (`-q`) but for its errors.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;

use super::reap::SCRATCH_VAR;
use crate::experiment::instructions::{COUNTS, PACKAGE, line};

/// The body of `harness __count`; returns the exit code.
pub(crate) fn count_main(argv: &[OsString]) -> i32 {
    match count(argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("harness __count: {e}");
            // As a shell does for a program it cannot start.
            127
        }
    }
}

fn count(argv: &[OsString]) -> std::io::Result<i32> {
    if argv.is_empty() {
        return Err(std::io::Error::other("no program to run"));
    }
    let parent = std::env::var_os(SCRATCH_VAR).map_or_else(std::env::temp_dir, Into::into);
    let files =
        tempfile::Builder::new().prefix("harness-count-").tempdir_in(&parent).or_else(|_| tempfile::tempdir())?;
    let status = std::process::Command::new("valgrind")
        .args(["--tool=cachegrind", "--cache-sim=yes", "--trace-children=yes", "-q"])
        .arg(format!("--cachegrind-out-file={}/cachegrind.out.%p", files.path().display()))
        .args(argv)
        .status()
        .map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot start valgrind: {e} (install the package `{PACKAGE}`)"))
        })?;
    let totals = totals(files.path())?;
    for (metric, events) in COUNTS {
        let value: u64 = events.iter().map(|e| totals.get(*e).copied().unwrap_or(0)).sum();
        eprintln!("{}", line(metric, value));
    }
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// The sums of each event over the cachegrind files in `dir`: their `events:` line names the columns of
/// their `summary:` line.
fn totals(dir: &Path) -> std::io::Result<BTreeMap<String, u64>> {
    let mut totals = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::split_whitespace);
        let (Some(events), Some(summary)) = (field("events:"), field("summary:")) else { continue };
        for (event, value) in events.zip(summary) {
            *totals.entry(event.to_owned()).or_insert(0) += value.parse::<u64>().unwrap_or(0);
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_of_every_process_are_summed_by_event() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, summary: &str| {
            std::fs::write(
                dir.path().join(name),
                format!("desc: I1 cache: ...\ncmd: prog\nevents: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\nfl=x.c\n1 2 3\n{summary}\n"),
            )
            .unwrap();
        };
        file("cachegrind.out.1", "summary: 1000 1 2 300 4 5 200 6 7");
        file("cachegrind.out.2", "summary: 500 0 0 100 1 1 50 1 1");
        let totals = totals(dir.path()).unwrap();
        assert_eq!(totals["Ir"], 1500);
        assert_eq!(totals["D1mr"] + totals["D1mw"], 12);
        assert_eq!(totals["ILmr"] + totals["DLmr"] + totals["DLmw"], 16);
    }
}
