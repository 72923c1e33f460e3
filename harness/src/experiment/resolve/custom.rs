//! Custom metrics: `[workloads.NAME.metrics]`, numbers a workload's programs print. Each becomes a column
//! of `runs.csv` and a metric of the experiment's catalog ([`Catalog::declare`]), with the direction the
//! file declares.

use indexmap::IndexMap;
use toml::Spanned;

use harness_sdk::protocol::{MetricSource, Reported, Stream};

use super::Resolver;
use crate::diagnostic::Diagnostic;
use crate::experiment::plan::{Aggregate, CustomMetric};
use crate::experiment::quote_list;
use crate::experiment::raw::{MetricsOnly, RawFile, RawMetric};
use crate::metrics::{Catalog, Direction};

const FROM: &[&str] = &["stdout", "stderr", "call"];
const AGGREGATES: &[&str] = &["mean", "sum", "min", "max", "last"];
const BETTER: &[&str] = &["higher", "lower"];

impl Aggregate {
    pub(super) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "mean" => Self::Mean,
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "last" => Self::Last,
            _ => return None,
        })
    }

    /// The run's value of a metric from every number its tasks reported.
    pub(crate) fn of(self, reported: &Reported) -> f64 {
        match self {
            Self::Mean => reported.sum / reported.count.max(1) as f64,
            Self::Sum => reported.sum,
            Self::Min => reported.min,
            Self::Max => reported.max,
            Self::Last => reported.last,
        }
    }
}

fn direction(text: &str) -> Option<Direction> {
    match text {
        "higher" => Some(Direction::HigherIsBetter),
        "lower" => Some(Direction::LowerIsBetter),
        _ => None,
    }
}

impl Resolver<'_> {
    /// The custom metrics of every workload, each once. A name declared by two workloads must mean the
    /// same in both.
    pub(in crate::experiment) fn custom_metrics(&self, file: &RawFile) -> Result<Vec<CustomMetric>, Diagnostic> {
        let mut all: Vec<CustomMetric> = Vec::new();
        for (workload, raw) in &file.workloads {
            let raw = raw.get_ref();
            // `instructions = true` declares the counts, named at the key.
            let counted = raw.instructions.iter().filter(|i| *i.get_ref()).flat_map(|i| {
                crate::experiment::instructions::COUNTS.iter().map(|(name, _)| {
                    let metric = CustomMetric {
                        name: (*name).to_owned(),
                        aggregate: Aggregate::Sum,
                        direction: crate::experiment::instructions::DIRECTION,
                    };
                    (metric, Spanned::new(i.span(), (*name).to_owned()))
                })
            });
            let declared = self
                .metrics(workload.get_ref(), &raw.metrics)?
                .into_iter()
                .zip(&raw.metrics)
                .map(|((_, metric), (name, _))| (metric, name.clone()));
            for (metric, name) in declared.chain(counted) {
                match all.iter().find(|m| m.name == metric.name) {
                    Some(earlier) if *earlier != metric => {
                        return Err(self
                            .error(format!("metric `{}` is declared twice, differently", metric.name), Some(name.span()))
                            .expected("the same `aggregate` and `better` wherever a metric is declared: it is one column of runs.csv"));
                    }
                    Some(_) => {}
                    None => all.push(metric),
                }
            }
        }
        Ok(all)
    }

    /// Checks the custom metrics of one workload.
    pub(super) fn metrics(
        &self,
        workload: &str,
        metrics: &IndexMap<Spanned<String>, Spanned<RawMetric>>,
    ) -> Result<Vec<(MetricSource, CustomMetric)>, Diagnostic> {
        let mut out = Vec::new();
        for (name, metric) in metrics {
            let text = name.get_ref();
            let well_formed = text.starts_with(|c: char| c.is_ascii_lowercase())
                && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !well_formed {
                return Err(self
                    .error(
                        format!("metric name `{text}` of workload `{workload}` is not a column name"),
                        Some(name.span()),
                    )
                    .expected("lower-case letters, digits and `_`, starting with a letter"));
            }
            let reserved = crate::metrics::reserved_columns();
            if let Some(service) = crate::metrics::service_of(text) {
                return Err(self
                    .error(
                        format!("metric `{text}` of workload `{workload}` is named like a column the harness writes for a service `{service}`"),
                        Some(name.span()),
                    )
                    .expected(format!(
                        "a name not of the form of a service's columns, {}",
                        quote_list(&crate::metrics::service_columns("NAME").each_ref().map(String::as_str))
                    ))
                    .help(format!("rename it, for example `{text}_custom`")));
            }
            if reserved.contains(&text.as_str()) || crate::metrics::CATALOG.iter().any(|m| m.name == text.as_str()) {
                return Err(self
                    .error(format!("metric `{text}` of workload `{workload}` has the name of a metric or column the harness writes"), Some(name.span()))
                    .expected("another name")
                    .help(format!("rename it, for example `{text}_custom`")));
            }
            let span = metric.span();
            let metric = metric.get_ref();
            let choice = |value: &Option<Spanned<String>>, key: &str, choices: &[&str], default: &str| match value {
                None => Ok(default.to_owned()),
                Some(v) if choices.contains(&v.get_ref().as_str()) => Ok(v.get_ref().clone()),
                Some(v) => Err(self
                    .error(format!("metric `{text}`: `{key}` is \"{}\"", v.get_ref()), Some(v.span()))
                    .expected(format!("one of {}", quote_list(choices)))
                    .did_you_mean(v.get_ref(), choices.iter().copied())),
            };
            let from = choice(&metric.from, "from", FROM, "stdout")?;
            let aggregate = choice(&metric.aggregate, "aggregate", AGGREGATES, "mean")?;
            let better = choice(&Some(metric.better.clone()), "better", BETTER, "lower")?;
            let stream = match from.as_str() {
                "stderr" => Stream::Stderr,
                "call" => Stream::Call,
                _ => Stream::Stdout,
            };
            let regex = match (&metric.regex, stream) {
                (None, Stream::Call) => String::new(),
                (Some(regex), Stream::Call) => {
                    return Err(self
                        .error(
                            format!("metric `{text}` has a regex but is recorded by `call` steps"),
                            Some(regex.span()),
                        )
                        .expected("no `regex` with `from = \"call\"`: a function records the number by name"));
                }
                (None, _) => {
                    return Err(self.error(format!("metric `{text}` has no `regex`"), Some(span)).expected(format!(
                        "`regex`, to find the number in the programs' {from}, such as 'ratio: ([0-9.]+)'"
                    )));
                }
                (Some(regex), _) => {
                    self.check_regex(text, regex)?;
                    regex.get_ref().clone()
                }
            };
            out.push((
                MetricSource { name: text.clone(), regex, from: stream },
                CustomMetric {
                    name: text.clone(),
                    aggregate: Aggregate::parse(&aggregate).expect("checked"),
                    direction: direction(&better).expect("checked"),
                },
            ));
        }
        Ok(out)
    }

    /// A metric's regex must parse and have one group.
    pub(super) fn check_regex(&self, text: &str, regex: &Spanned<String>) -> Result<(), Diagnostic> {
        let groups = regex::Regex::new(regex.get_ref()).map(|r| r.captures_len() - 1).map_err(|e| {
            let why = e.to_string();
            self.error(
                format!(
                    "metric `{text}`: the regex does not parse: {}",
                    why.lines().last().unwrap_or_default().trim().trim_start_matches("error: ")
                ),
                Some(regex.span()),
            )
            .expected("a regular expression with one group, such as 'ratio: ([0-9.]+)'")
        })?;
        if groups != 1 {
            return Err(self
                .error(format!("metric `{text}`: the regex has {groups} groups"), Some(regex.span()))
                .expected("one group `(...)` around the number, such as 'ratio: ([0-9.]+)'")
                .help("make other groups non-capturing: `(?:...)`"));
        }
        Ok(())
    }
}

/// The catalog of an experiment whose custom metrics are `metrics`.
pub(in crate::experiment) fn catalog(metrics: &[CustomMetric]) -> Catalog {
    let mut catalog = Catalog::default();
    for metric in metrics {
        catalog.declare(&metric.name, metric.direction);
    }
    catalog
}

/// The catalog of the custom metrics a file's workloads declare, as far as they can be read: for reading a
/// result folder back, where the file was checked when it ran.
pub(in crate::experiment) fn read_back(workloads: &IndexMap<String, MetricsOnly>) -> Catalog {
    let mut catalog = Catalog::default();
    for workload in workloads.values() {
        for (name, metric) in &workload.metrics {
            if let Some(direction) = direction(metric.get_ref().better.get_ref()) {
                catalog.declare(name.get_ref(), direction);
            }
        }
        if workload.instructions == Some(true) {
            for (name, _) in crate::experiment::instructions::COUNTS {
                catalog.declare(name, crate::experiment::instructions::DIRECTION);
            }
        }
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn aggregates_take_what_the_tasks_reported() {
        let mut reported = Reported::one(3, 2.0);
        reported.merge(&Reported::one(1, 6.0));
        reported.merge(&Reported::one(2, 1.0));
        let of = |text| Aggregate::parse(text).unwrap().of(&reported);
        // `last` is the number of the highest-numbered task, whatever the order the reports came in.
        for (aggregate, expected) in [("mean", 3.0), ("sum", 9.0), ("min", 1.0), ("max", 6.0), ("last", 2.0)] {
            assert!((of(aggregate) - expected).abs() < 1e-12, "{aggregate}: {}", of(aggregate));
        }
        assert!(Aggregate::parse("median").is_none());
    }
}
