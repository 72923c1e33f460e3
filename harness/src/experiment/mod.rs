//! Experiment files: from TOML text to a checked [`Experiment`] whose matrix is expanded into cells.
//!
//! The split follows ripgrep's low/high arguments: [`raw`] is the file as written (serde types with
//! places), [`Experiment`] is what the rest of the harness uses. Nothing past [`load`] sees a raw string:
//! durations are nanoseconds, sizes are bytes, `${axis}` references are substituted, executor names are
//! resolved to plugins and their options checked.

pub(crate) mod arrival;
pub(crate) mod charts;
mod command;
mod exec;
#[cfg(test)]
mod fuzz;
pub(crate) mod gate;
pub(crate) mod instructions;
pub(crate) mod lints;
mod load;
pub(crate) mod matrix;
mod plan;
mod raw;
pub(crate) mod repetitions;
mod resolve;
mod services;
mod steps;
mod substitute;
pub(crate) mod units;

use matrix::Value;

pub(crate) use charts::{ChartKind, ChartSpec};
pub(crate) use gate::gate_of_source;
pub(crate) use load::{load, outline};
pub(crate) use plan::{Agreement, CellPlan, EXECUTOR, Experiment, Order, WORKERS};
pub(crate) use resolve::{MAX_COUNT, MAX_NAME, MAX_RUNS, MAX_WORKERS};
pub(crate) use services::{LoopbackBounds, Probe, Scope, Service, loopback_path, place};
pub(crate) use steps::MAX_FIXTURE_FILES;
#[cfg(test)]
pub(crate) use steps::{KINDS, parse_step};

fn quote_list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// Converts a TOML scalar into an axis value.
fn scalar(value: &toml::Value) -> Option<Value> {
    Some(match value {
        toml::Value::String(s) => Value::String(s.as_str().into()),
        toml::Value::Integer(i) => Value::Integer(*i),
        toml::Value::Float(x) => Value::Float(*x),
        toml::Value::Boolean(b) => Value::Bool(*b),
        _ => return None,
    })
}

fn to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
