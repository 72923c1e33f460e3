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
pub mod error;
pub mod experiment;
pub mod export;
pub mod fmt;
pub mod machine;
pub mod merge;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod plugin;
pub mod process;
pub mod report;
pub mod results;
pub mod run;
pub mod schema;
pub mod stats;
pub mod summary;
