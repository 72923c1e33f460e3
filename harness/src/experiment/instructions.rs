//! Instruction counts: a workload with `instructions = true` runs each of its `exec` steps' programs under
//! Valgrind's cachegrind, through `harness __count` (see `run/count.rs`), which prints the counts on the
//! program's standard error when it ends. They are read as metrics of the workload, summed over its tasks:
//! `instructions` executed, and the first-level data cache's misses and the last-level cache's misses of
//! cachegrind's simulation. A count depends on the program and its input only, not on how busy the machine
//! is: no widening, no speed anchor, and a threshold of its own.

use harness_sdk::protocol::{Exec, MetricSource, Step, Stream};

use crate::metrics::Direction;

/// The harness's child mode that runs a program under cachegrind and prints its counts.
pub(crate) const COUNT_MODE: &str = "__count";

/// The package to install for Valgrind, in the words of the error that asks for it.
pub(crate) const PACKAGE: &str = "valgrind";

/// The counts `harness __count` prints: the metric, and the cachegrind events it sums.
pub(crate) const COUNTS: &[(&str, &[&str])] =
    &[("instructions", &["Ir"]), ("d1_misses", &["D1mr", "D1mw"]), ("ll_misses", &["ILmr", "DLmr", "DLmw"])];

/// The line `harness __count` prints for a count: `harness-count: instructions=1234`.
pub(crate) fn line(metric: &str, value: u64) -> String {
    format!("harness-count: {metric}={value}")
}

/// The metrics a workload with `instructions = true` reads, all summed over its tasks and lower is better.
pub(crate) fn sources() -> Vec<MetricSource> {
    COUNTS
        .iter()
        .map(|(metric, _)| MetricSource {
            name: (*metric).to_owned(),
            regex: format!("(?m)^harness-count: {metric}=([0-9]+)$"),
            from: Stream::Stderr,
        })
        .collect()
}

/// The direction of the counts.
pub(crate) const DIRECTION: Direction = Direction::LowerIsBetter;

/// Whether `valgrind` is a program on the `PATH`.
pub(crate) fn valgrind_installed() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let file = dir.join("valgrind");
            std::fs::metadata(&file)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
    })
}

/// `step` run through `harness __count` when it is a program; any other step as it is.
pub(crate) fn counted(step: Step, harness: &str) -> Step {
    match step {
        Step::Exec(exec) => {
            let argv =
                [harness.to_owned(), COUNT_MODE.to_owned(), "--".to_owned()].into_iter().chain(exec.argv).collect();
            Step::Exec(Exec { argv, ..exec })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_count_is_read_from_its_line() {
        for (source, (metric, _)) in sources().iter().zip(COUNTS) {
            let regex = regex::Regex::new(&source.regex).unwrap();
            let text = format!("some output\n{}\n{}\n", line("other", 1), line(metric, 123_456));
            let found: Vec<&str> = regex.captures_iter(&text).map(|c| c.get(1).unwrap().as_str()).collect();
            assert_eq!(found, ["123456"], "{metric}");
        }
    }
}
