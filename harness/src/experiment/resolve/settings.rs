//! The `[experiment]` table: its name, counts, timeout, seed, order, memory limit and hooks.

use std::path::Path;
use std::time::Duration;

use harness_sdk::protocol::Exec;
use toml::Spanned;

use super::{MAX_COUNT, MAX_NAME, Resolver};
use crate::diagnostic::Diagnostic;
use crate::experiment::matrix::Cell;
use crate::experiment::plan::Order;
use crate::experiment::raw::{RawExperiment, RawFile};
use crate::experiment::repetitions::{self, Repetitions};
use crate::experiment::steps::size;
use crate::experiment::substitute::substitute_value;
use crate::experiment::{quote_list, units};

/// The `[experiment]` table, checked.
pub(super) struct Settings {
    pub name: String,
    pub rounds: Repetitions,
    pub warmup: u32,
    pub timeout: Duration,
    pub seed: u64,
    pub order: Order,
    pub memory_limit: Option<u64>,
    pub setup: Option<Exec>,
    pub cleanup: Option<Exec>,
}

impl Resolver<'_> {
    /// Checks the `[experiment]` table of `file`.
    pub(super) fn settings(&self, file: &RawFile) -> Result<Settings, Diagnostic> {
        let experiment = file.experiment.get_ref();
        // In the order of the table's keys, so that the first mistake is the one reported.
        let name = self.experiment_name(experiment)?;
        let rounds = repetitions::parse(experiment.repetitions.as_ref())
            .map_err(|e| self.located(e.message, e.span, e.expected, e.help))?;
        let warmup = self.count(experiment.warmup.as_ref(), "warmup", 1, 0)?;
        let timeout = self.timeout(experiment.timeout.as_ref())?;
        let seed = match &experiment.seed {
            None => 0,
            Some(s) => u64::try_from(*s.get_ref())
                .map_err(|_| self.error("`seed` is negative", Some(s.span())).expected("an integer, zero or more"))?,
        };
        let order = self.order(experiment, rounds)?;
        let memory_limit = match &experiment.memory_limit {
            None => None,
            Some(limit) => Some(self.memory_limit(limit)?),
        };
        let setup = self.hook("setup", experiment.setup.as_ref(), &Cell::new(), None)?;
        let cleanup = self.hook("cleanup", experiment.cleanup.as_ref(), &Cell::new(), None)?;
        Ok(Settings { name, rounds, warmup, timeout, seed, order, memory_limit, setup, cleanup })
    }

    /// The experiment's name: it is a folder name.
    fn experiment_name(&self, experiment: &RawExperiment) -> Result<String, Diagnostic> {
        let name = experiment.name.get_ref().clone();
        if name.len() > MAX_NAME {
            return Err(self
                .error(
                    format!("experiment name of {} characters is too long for a folder name", name.len()),
                    Some(experiment.name.span()),
                )
                .expected(format!("at most {MAX_NAME} characters"))
                .help("the name is the folder <out>/<name>/; keep it short and put the rest in `description`"));
        }
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || name.starts_with('.')
        {
            return Err(self
                .error(format!("experiment name `{name}` cannot be a folder name"), Some(experiment.name.span()))
                .expected("letters, digits, `-`, `_` and `.`, not starting with `.`"));
        }
        Ok(name)
    }

    /// A count `key` (`default` when not written) from `min` to [`MAX_COUNT`].
    fn count(&self, field: Option<&Spanned<i64>>, key: &str, default: u32, min: i64) -> Result<u32, Diagnostic> {
        let Some(value) = field else { return Ok(default) };
        let n = *value.get_ref();
        if n < min || n > i64::from(MAX_COUNT) {
            let what = if min == 0 { "from 0" } else { "from 1" };
            return Err(self
                .error(format!("`{key}` is {n}"), Some(value.span()))
                .expected(format!("an integer {what} to {MAX_COUNT}")));
        }
        Ok(n as u32)
    }

    /// A run's timeout: 5 minutes unless the file says otherwise.
    fn timeout(&self, timeout: Option<&Spanned<String>>) -> Result<Duration, Diagnostic> {
        let Some(t) = timeout else { return Ok(Duration::from_secs(300)) };
        match units::parse_duration(t.get_ref()) {
            Ok(d) if !d.is_zero() => Ok(d),
            parsed => {
                let error = self
                    .error(format!("`timeout` is \"{}\"", t.get_ref()), Some(t.span()))
                    .expected(format!("{}, more than zero and at most 1 year", units::DURATION_EXPECTED));
                Err(match parsed {
                    Err(why) if why.contains("longest") => error.help(why),
                    _ => error,
                })
            }
        }
    }

    /// The order of runs; a range of repetitions runs in rounds, which `sequential` is not.
    fn order(&self, experiment: &RawExperiment, rounds: Repetitions) -> Result<Order, Diagnostic> {
        let order = match &experiment.order {
            None => Order::Interleaved,
            Some(o) => Order::parse(o.get_ref()).ok_or_else(|| {
                self.error(format!("`order` is \"{}\"", o.get_ref()), Some(o.span()))
                    .expected(format!("one of {}", quote_list(&Order::NAMES)))
                    .did_you_mean(o.get_ref(), Order::NAMES)
            })?,
        };
        if rounds.is_range() && order == Order::Sequential {
            let span = experiment.order.as_ref().map(Spanned::span);
            return Err(self
                .error("`order = \"sequential\"` runs every repetition of a cell before the next cell", span)
                .expected("`interleaved` or `random` with a range of `repetitions`")
                .help(
                    "a range of repetitions runs in rounds and stops after the round that decides every comparison",
                ));
        }
        Ok(order)
    }

    /// A hook (`setup`, `cleanup`, `prepare`, `conclude`) with the cell's values substituted, checked.
    pub(super) fn hook(
        &self,
        what: &str,
        value: Option<&Spanned<toml::Value>>,
        cell: &Cell,
        workload: Option<&str>,
    ) -> Result<Option<Exec>, Diagnostic> {
        let Some(value) = value else { return Ok(None) };
        crate::experiment::substitute::check_values(value.get_ref(), cell, true).map_err(|(message, instead)| {
            self.error(format!("`{what}`: {message}"), Some(value.span())).expected(instead)
        })?;
        let substituted = match workload {
            Some(name) => self.substitute(value, cell, name)?,
            None => substitute_value(value.get_ref(), cell).map_err(|unknown| {
                self.error(format!("`${{{unknown}}}` in `{what}` names nothing"), Some(value.span()))
                    .expected("no `${...}`: `[experiment]` hooks run once, outside every cell")
            })?,
        };
        let base = self.path.parent().unwrap_or(Path::new("."));
        crate::experiment::exec::parse(what, &substituted)
            .and_then(|exec| crate::experiment::exec::settle(what, exec, base, false))
            .map(Some)
            .map_err(|(message, expected)| {
                let place = workload.map(|w| format!("workload `{w}`, ")).unwrap_or_default();
                let d = self.error(format!("{place}{message}"), Some(value.span()));
                if let Some(expected) = expected { d.expected(expected) } else { d }
            })
    }

    pub(super) fn memory_limit(&self, limit: &Spanned<toml::Value>) -> Result<u64, Diagnostic> {
        // Below this not even the run's own process starts: most likely a forgotten unit.
        const LEAST: u64 = 1 << 20;
        let bytes = size("memory_limit", limit.get_ref()).map_err(|(message, expected)| {
            let d = self.error(message, Some(limit.span()));
            if let Some(expected) = expected { d.expected(expected) } else { d }
        })?;
        if bytes < LEAST {
            return Err(self
                .error(format!("`memory_limit` is {bytes} bytes, too little for a run to start"), Some(limit.span()))
                .expected("a size of at least 1MiB")
                .help("a number without a unit is bytes: write \"512MiB\" for 512 mebibytes"));
        }
        Ok(bytes)
    }
}
