//! `arrival` of a workload checked for a cell (the grammar is [`crate::experiment::arrival`]).

use harness_sdk::protocol::{Arrival, Process};
use toml::Spanned;

use super::Resolver;
use crate::diagnostic::Diagnostic;
use crate::experiment::arrival::{PROCESSES, RATE_EXPECTED, RawArrival, parse_rate};
use crate::experiment::matrix::Cell;
use crate::experiment::units;

/// The resolved arrival of a workload and the task count it bounds the run with (`None`: the workload's
/// own `tasks` bounds it).
pub(super) struct Resolved {
    pub arrival: Arrival,
    pub tasks: Option<u64>,
}

impl Resolver<'_> {
    /// Checks `arrival` of workload `name` for `cell`. `has_tasks`: the workload sets `tasks` itself.
    pub(super) fn arrival(
        &self,
        name: &str,
        raw: &Spanned<RawArrival>,
        cell: &Cell,
        has_tasks: Option<&Spanned<toml::Value>>,
    ) -> Result<Resolved, Diagnostic> {
        let a = raw.get_ref();
        let here = |key: &str, value: &Spanned<toml::Value>, message: String| -> Diagnostic {
            let d = self.error(format!("workload `{name}`, `arrival`: `{key}` {message}"), Some(value.span()));
            match self.substitute(value, cell, name) {
                Ok(substituted) if substituted != *value.get_ref() => {
                    d.help(format!("after substituting this cell's values: {key} = {substituted}"))
                }
                _ => d,
            }
        };
        let string = |key: &str, value: &Spanned<toml::Value>, expected: &str| -> Result<String, Diagnostic> {
            match self.substitute(value, cell, name)? {
                toml::Value::String(s) => Ok(s),
                other => Err(here(key, value, format!("is {other}")).expected(expected.to_owned())),
            }
        };
        let count = |key: &str, value: &Spanned<toml::Value>, min: i64| -> Result<u64, Diagnostic> {
            match self.substitute(value, cell, name)? {
                toml::Value::Integer(n) if n >= min => Ok(n as u64),
                other => Err(here(key, value, format!("is {other}")).expected(format!("an integer, at least {min}"))),
            }
        };

        let Some(rate_value) = &a.rate else {
            return Err(self
                .error(format!("workload `{name}`, `arrival` has no `rate`"), Some(raw.span()))
                .expected(format!("`rate`: {RATE_EXPECTED}")));
        };
        let rate_text = string("rate", rate_value, RATE_EXPECTED)?;
        let rate_per_s = parse_rate(&rate_text)
            .map_err(|why| here("rate", rate_value, format!("is \"{rate_text}\": {why}")).expected(RATE_EXPECTED))?;

        let process = match &a.process {
            None => Process::Constant,
            Some(value) => {
                let expected = format!("one of {}", super::quote_list(&PROCESSES));
                match string("process", value, &expected)?.as_str() {
                    "constant" => Process::Constant,
                    "poisson" => Process::Poisson,
                    other => {
                        return Err(here("process", value, format!("is \"{other}\""))
                            .expected(expected)
                            .did_you_mean(other, PROCESSES));
                    }
                }
            }
        };
        let max_queue = a.max_queue.as_ref().map(|v| count("max_queue", v, 1)).transpose()?;

        let bounds = [has_tasks.is_some(), a.tasks.is_some(), a.duration.is_some()];
        if bounds.iter().filter(|b| **b).count() != 1 {
            return Err(self
                .error(
                    format!(
                        "workload `{name}`: an open workload is bounded by one of `duration` or `tasks` in `arrival`, \
                         or the workload's `tasks`"
                    ),
                    Some(raw.span()),
                )
                .expected("`arrival = { rate = \"500/s\", duration = \"3s\" }`, or `tasks = N` with a rate")
                .help(if bounds.iter().any(|b| *b) {
                    "give one bound, not several"
                } else {
                    "add `duration` or `tasks`"
                }));
        }
        let tasks = match (&a.tasks, &a.duration) {
            (Some(value), _) => Some(count("tasks", value, 0)?),
            (None, Some(value)) => {
                let text = string("duration", value, units::DURATION_EXPECTED)?;
                let duration = units::parse_duration(&text).map_err(|why| {
                    here("duration", value, format!("is \"{text}\": {why}")).expected(units::DURATION_EXPECTED)
                })?;
                let tasks = (duration.as_secs_f64() * rate_per_s).round() as u64;
                if tasks == 0 {
                    return Err(here("duration", value, format!("is {text}: at {rate_text} no task is due in it"))
                        .expected("a duration in which at least one task arrives"));
                }
                Some(tasks)
            }
            (None, None) => None,
        };
        Ok(Resolved { arrival: Arrival { rate_per_s, process, max_queue }, tasks })
    }
}
