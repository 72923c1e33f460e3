//! `arrival` of a workload checked for a cell (the grammar is [`crate::experiment::arrival`]).

use harness_sdk::protocol::{Arrival, Process};
use toml::Spanned;

use super::Resolver;
use crate::diagnostic::Diagnostic;
use crate::experiment::arrival::{self as grammar, PROCESSES, RATE_EXPECTED, RawArrival, parse_rate};
use crate::experiment::matrix::Cell;
use crate::experiment::units;
use crate::search::{Bound, PERCENTILES, Search};

/// The resolved arrival of a workload and the task count it bounds the run with (`None`: the workload's
/// own `tasks` bounds it).
pub(super) struct Resolved {
    pub arrival: Arrival,
    pub tasks: Option<u64>,
    /// `rate = "search"`: the search the cell runs; `arrival` then holds its lowest rate.
    pub search: Option<Search>,
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
        let searched = rate_text.trim() == grammar::SEARCH;
        // A rate that is neither a rate nor `search` is the mistake to name first: `"serch"` is a typo, not a
        // fixed rate given with an `objective`.
        let fixed = if searched {
            None
        } else {
            Some(parse_rate(&rate_text).map_err(|why| {
                here("rate", rate_value, format!("is \"{rate_text}\": {why}"))
                    .expected(format!("{RATE_EXPECTED}, or \"{}\"", grammar::SEARCH))
                    .did_you_mean(rate_text.trim(), [grammar::SEARCH])
            })?)
        };
        if !searched {
            let stray = [
                ("objective", a.objective.as_ref().map(Spanned::span)),
                ("search", a.search.as_ref().map(Spanned::span)),
            ];
            if let Some((key, span)) = stray.into_iter().find_map(|(k, s)| s.map(|s| (k, s))) {
                return Err(self
                    .error(format!("workload `{name}`, `arrival`: `{key}` is given with a fixed `rate`"), Some(span))
                    .expected(format!("`rate = \"{}\"` with `{key}`", grammar::SEARCH))
                    .help(format!(
                        "`objective` and `search` ask for the highest rate within the objective: write `rate = \"{}\"`, or drop `{key}` to run at {rate_text}",
                        grammar::SEARCH
                    )));
            }
        }
        let search = if searched { Some(self.search(name, raw, cell)?) } else { None };
        // A search starts at its lowest rate; otherwise the rate is the fixed one read above.
        let rate_per_s = search.as_ref().map_or_else(|| fixed.expect("a fixed rate when not searched"), |s| s.lowest);

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
        // What every "too many tasks" error says, whichever bound gave them.
        let too_many_tasks = |d: Diagnostic| {
            d.expected(format!("at most {} tasks a run", grammar::MAX_OPEN_TASKS)).help(
                "a run keeps the arrival time of each of its tasks: shorten it, or lower the rate, and let `repetitions` add runs",
            )
        };
        let too_many = |key: &str, value: &Spanned<toml::Value>, why: String| {
            too_many_tasks(here(
                key,
                value,
                format!("{why}, more than the {} tasks a run of an open workload holds", grammar::MAX_OPEN_TASKS),
            ))
        };
        let mut bound = None;
        let tasks = match (&a.tasks, &a.duration) {
            (Some(value), _) => {
                let tasks = count("tasks", value, 0)?;
                if tasks > grammar::MAX_OPEN_TASKS {
                    return Err(too_many("tasks", value, format!("is {tasks}")));
                }
                Some(tasks)
            }
            (None, Some(value)) => {
                let text = string("duration", value, units::DURATION_EXPECTED)?;
                let duration = units::parse_duration(&text).map_err(|why| {
                    here("duration", value, format!("is \"{text}\": {why}")).expected(units::DURATION_EXPECTED)
                })?;
                if search.is_some() {
                    // Each probe has the tasks due in the duration at its own rate, at least one.
                    bound = Some(Bound::Duration(duration.as_secs_f64()));
                }
                let tasks = (duration.as_secs_f64() * rate_per_s).round() as u64;
                // A search's last probes run at up to its highest rate.
                let most = search.as_ref().map_or(tasks, |s| (duration.as_secs_f64() * s.highest).round() as u64);
                if most > grammar::MAX_OPEN_TASKS {
                    let rate =
                        search.as_ref().map_or(rate_text.clone(), |s| format!("{}/s", crate::fmt::number(s.highest)));
                    let too_many = too_many("duration", value, format!("is {text}: at {rate} that is {most} tasks"));
                    return Err(if search.is_some() {
                        too_many.help("a search's probes at its highest rate have the most tasks: lower `search.highest`, or shorten `duration`")
                    } else {
                        too_many
                    });
                }
                if tasks == 0 && search.is_none() {
                    return Err(here("duration", value, format!("is {text}: at {rate_text} no task is due in it"))
                        .expected("a duration in which at least one task arrives"));
                }
                Some(tasks.max(1))
            }
            (None, None) => {
                // The workload's own `tasks` bounds the run (the caller checks it is a count).
                if let Some(value) = has_tasks {
                    if let toml::Value::Integer(n) = self.substitute(value, cell, name)? {
                        if u64::try_from(n).is_ok_and(|n| n > grammar::MAX_OPEN_TASKS) {
                            return Err(too_many_tasks(self.error(
                                format!(
                                    "workload `{name}`: `tasks` is {n}, more than the {} tasks a run of an open workload holds",
                                    grammar::MAX_OPEN_TASKS
                                ),
                                Some(value.span()),
                            )));
                        }
                    }
                }
                None
            }
        };
        // Without a bound of its own, the workload's `tasks` bounds every probe: the caller sets it.
        let search = search
            .map(|search| Search { bound: bound.or(tasks.map(Bound::Tasks)).unwrap_or(Bound::Tasks(0)), ..search });
        Ok(Resolved { arrival: Arrival { rate_per_s, process, max_queue }, tasks, search })
    }
}

impl Resolver<'_> {
    /// The search of `rate = "search"` in `arrival` of workload `name`: its objective and its `search`
    /// table, with the defaults. Its bound is left for the caller.
    fn search(&self, name: &str, raw: &Spanned<RawArrival>, cell: &Cell) -> Result<Search, Diagnostic> {
        let a = raw.get_ref();
        let at = |key: &str| format!("workload `{name}`, `arrival`: `{key}`");
        let example = format!("`objective = {{ p99 = \"10ms\" }}`: one or more of {}", super::quote_list(&PERCENTILES));
        let Some(objective) = &a.objective else {
            return Err(self
                .error(format!("workload `{name}`, `arrival` searches for a rate but has no `objective`"), Some(raw.span()))
                .expected(example)
                .help("the search finds the highest rate whose response times keep within the objective: say which percentile, within what"));
        };
        let mut bounds = Vec::new();
        for (k, value) in objective.get_ref().bounds().into_iter().enumerate() {
            let Some(value) = value else { continue };
            let key = format!("objective.{}", PERCENTILES[k]);
            let text = match self.substitute(value, cell, name)? {
                toml::Value::String(s) => s,
                other => {
                    return Err(self
                        .error(format!("{} is {other}", at(&key)), Some(value.span()))
                        .expected(units::DURATION_EXPECTED));
                }
            };
            let bound = units::parse_duration(&text).map_err(|why| {
                self.error(format!("{} is \"{text}\": {why}", at(&key)), Some(value.span()))
                    .expected(units::DURATION_EXPECTED)
            })?;
            bounds.push((k, bound.as_secs_f64()));
        }
        if bounds.is_empty() {
            return Err(self
                .error(format!("{} is empty", at("objective")), Some(objective.span()))
                .expected(example)
                .help("name at least one percentile of the response time and its bound"));
        }
        let mut search = Search {
            objective: bounds,
            lowest: grammar::DEFAULT_LOWEST,
            highest: grammar::DEFAULT_HIGHEST,
            precision: grammar::DEFAULT_PRECISION,
            confirm: grammar::DEFAULT_CONFIRM,
            bound: Bound::Tasks(0),
        };
        let Some(table) = &a.search else { return Ok(search) };
        let t = table.get_ref();
        let text = |key: &str, value: &Spanned<toml::Value>, expected: &str| -> Result<String, Diagnostic> {
            match self.substitute(value, cell, name)? {
                toml::Value::String(s) => Ok(s),
                other => {
                    Err(self.error(format!("{} is {other}", at(key)), Some(value.span())).expected(expected.to_owned()))
                }
            }
        };
        let rate = |key: &str, value: &Spanned<toml::Value>| -> Result<f64, Diagnostic> {
            let written = text(key, value, RATE_EXPECTED)?;
            let rate = parse_rate(&written).map_err(|why| {
                self.error(format!("{} is \"{written}\": {why}", at(key)), Some(value.span())).expected(RATE_EXPECTED)
            })?;
            if rate < grammar::MIN_LOWEST {
                return Err(self
                    .error(
                        format!("{} is \"{written}\", below the lowest rate a search probes", at(key)),
                        Some(value.span()),
                    )
                    .expected(format!("a rate of at least {}/s (1/min)", grammar::MIN_LOWEST)));
            }
            Ok(rate)
        };
        if let Some(value) = &t.lowest {
            search.lowest = rate("search.lowest", value)?;
        }
        if let Some(value) = &t.highest {
            search.highest = rate("search.highest", value)?;
        }
        if search.lowest >= search.highest {
            let span = t.highest.as_ref().or(t.lowest.as_ref()).map_or(table.span(), Spanned::span);
            return Err(self
                .error(
                    format!(
                        "{}: `lowest` ({}/s) is not below `highest` ({}/s)",
                        at("search"),
                        crate::fmt::number(search.lowest),
                        crate::fmt::number(search.highest)
                    ),
                    Some(span),
                )
                .expected("`lowest` below `highest`, such as `search = { lowest = \"10/s\", highest = \"10000/s\" }`")
                .help("the search starts at `lowest` and doubles up to `highest`: swap them"));
        }
        if search.highest / search.lowest > grammar::MAX_SPAN {
            return Err(self
                .error(format!("{}: `highest` is more than 2^30 times `lowest`", at("search")), Some(table.span()))
                .expected("bounds at most 2^30 apart (thirty doublings)")
                .help("raise `lowest` or lower `highest`"));
        }
        if let Some(value) = &t.precision {
            let expected = format!("a percentage of at least {}%, such as \"5%\"", grammar::MIN_PRECISION * 100.0);
            let written = text("search.precision", value, &expected)?;
            search.precision = match crate::experiment::gate::parse_percent(&written) {
                Ok(p) if p >= grammar::MIN_PRECISION => p,
                Ok(_) => {
                    return Err(self
                        .error(
                            format!("{} is \"{written}\", finer than a search resolves", at("search.precision")),
                            Some(value.span()),
                        )
                        .expected(expected)
                        .help("the search stops once the lowest rate that failed is within this share above the rate found; \"5%\" is the default"));
                }
                Err(why) => {
                    return Err(self
                        .error(format!("{}: {why}", at("search.precision")), Some(value.span()))
                        .expected(expected));
                }
            };
        }
        if let Some(value) = &t.confirm {
            search.confirm = match self.substitute(value, cell, name)? {
                toml::Value::Integer(n) if (0..=grammar::MAX_CONFIRM).contains(&n) => n as u32,
                other => {
                    return Err(self
                        .error(format!("{} is {other}", at("search.confirm")), Some(value.span()))
                        .expected(format!("an integer from 0 to {}", grammar::MAX_CONFIRM)));
                }
            };
        }
        Ok(search)
    }
}
