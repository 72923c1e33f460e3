//! A cell's workload: `${axis}` substituted, its steps parsed and checked.
use std::ops::Range;
use std::path::Path;

use harness_sdk::protocol::{SharedStore, Step, Stream, Workload};
use toml::Spanned;

use super::Resolver;
use crate::diagnostic::Diagnostic;
use crate::experiment::matrix::{Cell, Value};
use crate::experiment::raw::RawWorkload;
use crate::experiment::steps::{self, Numbers, parse_step};
use crate::experiment::substitute::substitute_value;
use crate::experiment::{quote_list, services};
use crate::search::{Bound, Search};

impl Resolver<'_> {
    /// The steps of workload `name`, which counts instructions (`instructions = true` at `key`): each
    /// program run through `harness __count`, under Valgrind.
    fn counted(&self, name: &str, steps: Vec<Step>, key: Range<usize>) -> Result<Vec<Step>, Diagnostic> {
        use crate::experiment::instructions::{PACKAGE, counted, valgrind_installed};
        if !steps.iter().any(|s| matches!(s, Step::Exec(_))) {
            return Err(self
                .error(format!("workload `{name}` counts instructions but has no `exec` step"), Some(key))
                .expected("an `exec` step: the programs are what Valgrind counts")
                .help("instructions are counted for the programs of `exec` steps only; drop `instructions = true`"));
        }
        if !valgrind_installed() {
            return Err(self
                .error(format!("workload `{name}` counts instructions, and Valgrind is not installed"), Some(key))
                .expected("the program `valgrind` on the PATH")
                .help(format!(
                    "install the package `{PACKAGE}` (`apt-get install {PACKAGE}`, `dnf install {PACKAGE}`), or drop `instructions = true`"
                )));
        }
        let harness = std::env::current_exe().map_err(|e| {
            self.error(format!("workload `{name}`: cannot find the harness's own program: {e}"), Some(key.clone()))
        })?;
        let harness = harness.to_string_lossy();
        Ok(steps.into_iter().map(|step| counted(step, &harness)).collect())
    }

    /// `cell`'s values and the ports of the file's services (`${services.NAME.port}`), which a workload's
    /// steps and hooks may name.
    pub(super) fn with_ports(&self, cell: &Cell) -> Cell {
        let mut cell = cell.clone();
        for (service, port) in &self.ports {
            cell.insert(services::port_reference(service).into(), Value::Integer(i64::from(*port)));
        }
        cell
    }

    /// Substitutes the cell's values into a workload and parses its steps.
    /// With the search of `rate = "search"`, when the workload asks for one.
    pub(super) fn workload(
        &self,
        name: &str,
        raw: &Spanned<RawWorkload>,
        cell: &Cell,
    ) -> Result<(Workload, Option<Search>), Diagnostic> {
        let w = raw.get_ref();
        let cell = &self.with_ports(cell);
        let context = |what: &str| format!("workload `{name}`, {what}");
        let stray = [("objective", w.objective.as_ref()), ("search", w.search.as_ref())];
        if let Some((key, value)) = stray.into_iter().find_map(|(k, v)| v.map(|v| (k, v))) {
            let (message, help) = match &w.arrival {
                None => (
                    format!("workload `{name}` is closed (it has no `arrival`), so it has no rate to search for"),
                    "a search offers tasks at rates: make the workload open with `arrival = { rate = \"search\", duration = \"1s\", objective = { p99 = \"10ms\" } }`",
                ),
                Some(_) => (
                    format!("workload `{name}`: `{key}` is a key of its `arrival`, not of the workload"),
                    "move it into `arrival`, beside `rate = \"search\"`",
                ),
            };
            return Err(self
                .error(message, Some(value.span()))
                .expected(format!("`{key}` inside `arrival = {{ rate = \"search\", ... }}`"))
                .help(help));
        }
        let open = match &w.arrival {
            Some(arrival) => Some(self.arrival(name, arrival, cell, w.tasks.as_ref())?),
            None => None,
        };
        let tasks = match (&w.tasks, open.as_ref().and_then(|o| o.tasks)) {
            (_, Some(tasks)) => tasks,
            (Some(raw_tasks), None) => match self.substitute(raw_tasks, cell, name)? {
                toml::Value::Integer(n) if n >= 0 => n as u64,
                toml::Value::String(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().expect("checked"),
                other => {
                    return Err(self
                        .error(format!("workload `{name}`: `tasks` is {other}"), Some(raw_tasks.span()))
                        .expected("an integer, zero or more"));
                }
            },
            (None, None) => {
                return Err(self
                    .error(format!("workload `{name}` has no `tasks`"), Some(raw.span()))
                    .expected("`tasks = N`, or an `arrival` with a `rate` and a `duration`"));
            }
        };
        let mut steps = Vec::with_capacity(w.steps.get_ref().len());
        let base = self.path.parent().unwrap_or(Path::new("."));
        for (i, step) in w.steps.get_ref().iter().enumerate() {
            let value = self.substitute(step, cell, name)?;
            let parsed = parse_step(&value)
                .and_then(|s| crate::experiment::exec::settle_step(s, base, &self.libraries))
                .map_err(|(message, expected)| {
                    let mut d =
                        self.error(format!("{}: {message}", context(&format!("step {}", i + 1))), Some(step.span()));
                    if let Some(expected) = expected {
                        d = d.expected(expected);
                    }
                    let text = value.to_string();
                    let per_task =
                        value.as_table().is_some_and(|t| t.keys().any(|k| steps::numbers(k) != Numbers::None));
                    if !per_task && (text.contains("${task}") || text.contains("${worker}")) {
                        d = d.help(format!(
                            "`${{task}}` and `${{worker}}` stand for a task's numbers in {} steps only \
                             (`${{task}}` in {} steps too)",
                            steps::kinds_with(Numbers::TaskAndWorker, "and"),
                            steps::kinds_with(Numbers::Task, "and")
                        ));
                    } else if value != *step.get_ref() {
                        d = d.help(format!("after substituting this cell's values: {value}"));
                    }
                    d
                })?;
            if steps::numbers(parsed.kind()) == Numbers::Task && value.to_string().contains("${worker}") {
                return Err(self
                    .error(
                        format!(
                            "{}: `${{worker}}` is not known in a {} step",
                            context(&format!("step {}", i + 1)),
                            steps::kinds_with(Numbers::Task, "or")
                        ),
                        Some(step.span()),
                    )
                    .expected("`${task}`, the task's number, or an axis")
                    .help(format!(
                        "`${{worker}}` stands for a worker's number in {} steps only",
                        steps::kinds_with(Numbers::TaskAndWorker, "and")
                    )));
            }
            let parsed = self.redis_url(parsed, step.span())?;
            self.check_loopback_path(&parsed, step.span(), &context(&format!("step {}", i + 1)))?;
            steps.push(parsed);
        }
        let mut metrics: Vec<_> = self.metrics(name, &w.metrics)?.into_iter().map(|(source, _)| source).collect();
        for (source, (key, _)) in metrics.iter().zip(&w.metrics) {
            let (kind, needed) = match source.from {
                Stream::Call => ("call", steps.iter().any(|s| matches!(s, Step::Call(_)))),
                _ => ("exec", steps.iter().any(|s| matches!(s, Step::Exec(_)))),
            };
            if !needed {
                return Err(self
                    .error(
                        format!("workload `{name}` declares metric `{}` but has no `{kind}` step to read it from", key.get_ref()),
                        Some(key.span()),
                    )
                    .expected(format!("{} `{kind}` step that reports the metric", if kind == "exec" { "an" } else { "a" }))
                    .help("custom metrics are read from what `exec` steps' programs write to stdout or stderr (`from`), or recorded by `call` steps' functions (`from = \"call\"`)"));
            }
        }
        if let Some(key) = w.instructions.as_ref().filter(|i| *i.get_ref()) {
            steps = self.counted(name, steps, key.span())?;
            metrics.extend(crate::experiment::instructions::sources());
        }
        let stores: Vec<&SharedStore> =
            steps.iter().filter_map(|s| if let Step::Shared { store, .. } = s { Some(store) } else { None }).collect();
        if stores.windows(2).any(|w| w[0] != w[1]) {
            return Err(self
                .error(
                    format!("workload `{name}`: its `shared` steps keep the counter in different stores"),
                    Some(w.steps.span()),
                )
                .expected("one store for every `shared` step of a workload"));
        }
        let mut servers: Vec<&String> =
            steps.iter().filter_map(|s| if let Step::Redis { url, .. } = s { Some(url) } else { None }).collect();
        servers.dedup();
        if servers.len() > 1 {
            return Err(self
                .error(format!("workload `{name}`: its `redis` steps go to different servers"), Some(w.steps.span()))
                .expected("one Redis server for every `redis` step of a workload"));
        }
        let search = open.as_ref().and_then(|o| o.search.clone()).map(|search| match search.bound {
            Bound::Tasks(0) if open.as_ref().is_some_and(|o| o.tasks.is_none()) => {
                Search { bound: Bound::Tasks(tasks), ..search }
            }
            _ => search,
        });
        Ok((Workload { name: name.to_owned(), tasks, steps, arrival: open.map(|o| o.arrival), metrics }, search))
    }

    /// An `http` step to the loopback server must ask for a path it answers, `/wait/DURATION/bytes/SIZE`.
    pub(super) fn check_loopback_path(&self, step: &Step, span: Range<usize>, context: &str) -> Result<(), Diagnostic> {
        let Step::Http(http) = step else { return Ok(()) };
        let Some(&(_, port)) = self.ports.iter().find(|(name, _)| name == services::LOOPBACK) else { return Ok(()) };
        let Some(path) = services::loopback_target(&http.url, port) else { return Ok(()) };
        let Err(why) = services::loopback_path(path) else { return Ok(()) };
        let mut error = self
            .error(format!("{context}: {why}"), Some(span))
            .expected(format!("a path `{}` such as `/wait/5ms/bytes/1KiB`", services::LOOPBACK_PATH));
        error = if path.split('?').next().is_some_and(|p| p.contains("${")) {
            error.help("the path says what every request asks of the server; `${task}` may stand in the query only")
        } else {
            error.help("a duration and a size as the file writes them elsewhere, such as `250us` and `64KiB`; a query after `?` is ignored")
        };
        Err(error)
    }

    /// A `shared` step with `store = "redis"` and no `url` uses the service `redis`.
    pub(super) fn redis_url(&self, step: Step, span: Range<usize>) -> Result<Step, Diagnostic> {
        match step {
            Step::Shared { hold_nanos, store: SharedStore::Redis { url }, lock } if url.is_empty() => {
                let port = self.ports.iter().find(|(name, _)| name == "redis").map(|(_, port)| *port).ok_or_else(|| {
                    self.error("a `shared` step keeps its counter in Redis, but the file has no [services.redis] and the step no `url`", Some(span))
                        .help("add a [services.redis] table that starts redis-server on ${port}, or give the step url = \"redis://HOST:PORT/\"")
                })?;
                Ok(Step::Shared { hold_nanos, store: SharedStore::Redis { url: services::redis_url(port) }, lock })
            }
            Step::Redis { url, command, connect } if url.is_empty() => {
                let port = self.ports.iter().find(|(name, _)| name == "redis").map(|(_, port)| *port).ok_or_else(|| {
                    self.error("a `redis` step has no `url`, and the file has no [services.redis] to send it to", Some(span))
                        .help("add a [services.redis] table that starts redis-server on ${port}, or write { redis = { command = [...], url = \"redis://HOST:PORT/\" } }")
                })?;
                Ok(Step::Redis { url: services::redis_url(port), command, connect })
            }
            other => Ok(other),
        }
    }

    /// Replaces `${axis}` in every string of `value` by the cell's value of that axis. A string that is
    /// exactly one reference takes the axis value's type (so `tasks = "${n}"` can be an integer).
    pub(super) fn substitute(
        &self,
        value: &Spanned<toml::Value>,
        cell: &Cell,
        workload: &str,
    ) -> Result<toml::Value, Diagnostic> {
        crate::experiment::substitute::check_values(value.get_ref(), cell, false).map_err(|(message, instead)| {
            self.error(format!("workload `{workload}`: {message}"), Some(value.span())).expected(instead)
        })?;
        substitute_value(value.get_ref(), cell).map_err(|unknown| {
            if unknown.starts_with("services.") {
                let known: Vec<String> =
                    self.ports.iter().map(|(n, _)| format!("${{{}}}", services::port_reference(n))).collect();
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                let expected = if known.is_empty() {
                    "a service of the file, but it has no [services.NAME] table".to_owned()
                } else {
                    format!("one of {}", quote_list(&known))
                };
                return self
                    .error(format!("`${{{unknown}}}` in workload `{workload}` names no service"), Some(value.span()))
                    .expected(expected)
                    .did_you_mean(&format!("${{{unknown}}}"), known.iter().copied());
            }
            let axes: Vec<&str> =
                cell.keys().map(|k| &**k).filter(|k| !k.starts_with("services.") && *k != "task").collect();
            self.error(format!("`${{{unknown}}}` in workload `{workload}` names no axis"), Some(value.span()))
                .expected(format!("one of this cell's axes: {}", quote_list(&axes)))
                .did_you_mean(&unknown, axes.iter().copied())
        })
    }
}

/// The Redis servers the `shared` steps of `steps` keep their counter in.
pub(super) fn redis_urls(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Shared { store: SharedStore::Redis { url }, .. } | Step::Redis { url, .. } => Some(url.clone()),
            _ => None,
        })
        .collect()
}
