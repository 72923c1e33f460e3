//! The harness: a declarative experiment runner with plugin executors.
//!
//! The pipeline, one module each:
//!
//! 1. [`experiment`] reads a TOML file into a checked [`experiment::Experiment`]: matrix expanded,
//!    `${axis}` substituted, units parsed, executors resolved to plugins and their options checked.
//! 2. [`plugin`] finds executor libraries and talks to them through the C ABI of `harness-sdk`, only ever
//!    from child processes.
//! 3. [`run`] schedules warmup and measured runs, runs each in a child process, and classifies how it
//!    ended.
//! 4. [`results`] writes the result folder; [`environment`] describes the machine.
//! 5. [`summary`] reads `runs.csv` back and writes `summary.csv`: [`stats`] per cell and metric, and the
//!    ideal time of [`model`].
//! 6. [`report`] draws `charts/*.svg` and writes `report.md` and `report.html` from those statistics.
//!
//! [`cli`] ties them together; `main.rs` only calls [`cli::main`].

pub mod cli;
pub mod compare;
pub mod diagnostic;
pub mod environment;
pub mod experiment;
pub mod export;
pub mod merge;
pub mod model;
pub mod plugin;
pub mod report;
pub mod results;
pub mod run;
pub mod schema;
pub mod stats;
pub mod summary;

use experiment::units::format_duration;
use harness_sdk::protocol::{Connect, Step};
use std::time::Duration;

/// A step as an experiment file would write it: `sleep 10ms`, `compute 256KiB`.
pub fn describe_step(step: &Step) -> String {
    let d = |nanos: u64| format_duration(Duration::from_nanos(nanos));
    match *step {
        Step::Compute { bytes } => format!("compute {}", format_size(bytes)),
        Step::Sleep { nanos } => format!("sleep {}", d(nanos)),
        Step::ReadFile { size, files } => format!("read_file {} x{files}", format_size(size)),
        Step::Net { request, response, delay_nanos, connect } => {
            let per = if connect == Connect::PerRequest { " per_request" } else { "" };
            format!("net {}/{} delay {}{per}", format_size(request), format_size(response), d(delay_nanos))
        }
        Step::Shared { hold_nanos } => format!("shared hold {}", d(hold_nanos)),
        Step::Alloc { bytes } => format!("alloc {}", format_size(bytes)),
    }
}

/// `512B`, `64KiB`, `3MiB`; sizes that are not a whole number of a unit stay in bytes.
pub fn format_size(bytes: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale && bytes % scale == 0 {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}
