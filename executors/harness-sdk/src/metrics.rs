//! Custom metrics: numbers a workload's programs print, found with the regular expressions the experiment
//! declares ([`MetricSource`]), and added to the run's [`Tally`](crate::workload::Tally) by name.

use std::io;

use regex::Regex;

use crate::exec::Finished;
use crate::protocol::{MetricSource, Stream};

/// The compiled regular expressions of a workload's custom metrics.
#[derive(Debug, Default)]
pub(crate) struct Patterns {
    metrics: Vec<(MetricSource, Regex)>,
}

impl Patterns {
    pub(crate) fn new(sources: &[MetricSource]) -> io::Result<Self> {
        let metrics = sources
            .iter()
            .map(|source| {
                if source.from == Stream::Call {
                    return Ok((source.clone(), Regex::new("$^").expect("a valid regex")));
                }
                Regex::new(&source.regex).map(|regex| (source.clone(), regex)).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("metric `{}`: bad regex: {e}", source.name))
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(Self { metrics })
    }

    /// The name of metric `index`.
    pub(crate) fn name(&self, index: usize) -> &str {
        &self.metrics[index].0.name
    }

    /// The index of the metric `name` that step functions record.
    pub(crate) fn recorded(&self, name: &str) -> Option<usize> {
        self.metrics.iter().position(|(source, _)| source.from == Stream::Call && source.name == name)
    }

    /// Whether some metric reads programs' standard output.
    pub(crate) fn read_stdout(&self) -> bool {
        self.metrics.iter().any(|(source, _)| source.from == Stream::Stdout)
    }

    /// Whether some metric reads programs' standard error.
    pub(crate) fn read_stderr(&self) -> bool {
        self.metrics.iter().any(|(source, _)| source.from == Stream::Stderr)
    }

    /// Adds to `reports` the number of every match of every metric in what a program wrote, as (metric,
    /// number); a match that is not a number fails the task.
    pub(crate) fn find(&self, task: u64, finished: &Finished, reports: &mut Vec<(usize, f64)>) -> io::Result<()> {
        for (index, (source, regex)) in self.metrics.iter().enumerate() {
            let bytes = match source.from {
                Stream::Stdout => finished.stdout.whole("standard output"),
                Stream::Stderr => finished.stderr.whole("standard error"),
                Stream::Call => continue,
            }
            .map_err(|e| io::Error::other(format!("task {task}: metric `{}`: {e}", source.name)))?;
            let text = String::from_utf8_lossy(bytes);
            for captures in regex.captures_iter(&text) {
                let Some(found) = captures.get(1).or_else(|| captures.get(0)) else { continue };
                let number = found.as_str().trim().parse::<f64>().map_err(|_| {
                    io::Error::other(format!(
                        "task {task}: metric `{}` matched `{}`, which is not a number",
                        source.name,
                        found.as_str()
                    ))
                })?;
                let number = finite(&source.name, number, found.as_str().trim())
                    .map_err(|e| io::Error::other(format!("task {task}: {e}")))?;
                reports.push((index, number));
            }
        }
        Ok(())
    }
}

/// `number`, reported for metric `metric` as `written`, when it is finite: a `NaN` or an infinity (`inf`,
/// or `1e400`, past the largest `f64`) has no mean, no median and no JSON, and would end the run as a
/// malformed report without saying whose number it was. The error is to be prefixed with the task.
pub(crate) fn finite(metric: &str, number: f64, written: &str) -> Result<f64, String> {
    if number.is_finite() {
        return Ok(number);
    }
    Err(format!(
        "metric `{metric}` got `{written}`, which is not a finite number (a metric's value lies between -{max:e} and {max:e})",
        max = f64::MAX
    ))
}

/// The error of a metric whose sum over a run's tasks passed the largest finite number.
pub(crate) fn overflowed(metric: &str, reported: &crate::protocol::Reported) -> io::Error {
    io::Error::other(format!(
        "metric `{metric}`: the sum of the {} numbers tasks reported (up to {:e}, the last by task {}) passed the largest finite number, {:e}: report it in a larger unit",
        reported.count,
        reported.max.abs().max(reported.min.abs()),
        reported.last_task,
        f64::MAX
    ))
}
