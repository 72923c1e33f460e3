//! The harness: a declarative experiment runner with plugin executors.
//!
//! The pipeline, one module each:
//!
//! 1. `experiment` reads a TOML file into a checked `experiment::Experiment`: matrix expanded,
//!    `${axis}` substituted, units parsed, executors resolved to plugins and their options checked.
//! 2. `plugin` finds executor libraries and talks to them through the C ABI of `harness-sdk`, only ever
//!    from child processes.
//! 3. `run` schedules warmup and measured runs, runs each in a child process, and classifies how it
//!    ended.
//! 4. `results` writes the result folder; `survey` describes the machine in `environment.json`.
//! 5. `summary` reads `runs.csv` back and writes `summary.csv`: `stats` per cell and metric, and the
//!    ideal time of `ideal`.
//! 6. `report` draws `charts/*.svg` and writes `report.md` and `report.html` from those statistics.
//!
//! [`cli`] and `pipeline` tie them together; `main.rs` only calls [`cli::main`].
//!
//! The library's API is what the binary and the examples use: [`cli::main`], [`read_report`] (with its
//! [`Error`]), and the [`Report`]'s [`Figure`]s and [`render_chart`].
//! Every other module is private and its items `pub(crate)`; the `unreachable_pub` lint keeps it so.
//!
//! No `unsafe` outside `sys`, the system calls as safe functions, and `plugin::library`, the plugins' C ABI.

#![deny(unsafe_code)]

pub mod cli;
mod compare;
mod console;
mod diagnostic;
mod error;
mod experiment;
mod export;
mod fmt;
mod history;
mod ideal;
mod machine;
mod merge;
mod metrics;
mod pipeline;
mod plugin;
mod process;
mod report;
mod results;
mod run;
mod schema;
mod search;
mod stats;
mod summary;
mod survey;
#[allow(unsafe_code)]
mod sys;

pub use error::Error;
pub use pipeline::read_report;
pub use report::Report;
pub use report::figure::Figure;
pub use report::svg::render as render_chart;
