//! The records of a history as series: one per experiment, cell and metric, and, unless told otherwise,
//! per experiment file and machine, since only results measured alike are comparable. A series has one
//! point per commit (the runs of every result of that commit pooled), oldest first; a result without a
//! commit is a point of its own, placed by its time. Its change points are found on the points' medians
//! ([`super::changes`]).

use std::collections::BTreeMap;

use super::changes::{self, ChangePoint};
use super::record::Record;
use crate::metrics::Direction;
use crate::stats::{Rng, Stats, bootstrap_change, median};

/// Which records to read, and what makes two of them comparable.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub experiment: Option<String>,
    pub branch: Option<String>,
    /// Results of different machines in one series.
    pub across_machines: bool,
    /// Results of different versions of the experiment file in one series.
    pub across_files: bool,
}

/// What a series is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub experiment: String,
    pub cell: String,
    pub metric: String,
    /// `None` when the series is across files.
    pub file_hash: Option<String>,
    /// `None` when the series is across machines.
    pub machine: Option<String>,
}

/// One commit's results of a series.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub commit: Option<String>,
    /// The time of its first result.
    pub time: String,
    pub values: Vec<f64>,
    pub stats: Stats,
}

impl Point {
    /// The commit, shortened, or else the time.
    pub(crate) fn label(&self) -> String {
        match &self.commit {
            Some(commit) => commit.chars().take(10).collect(),
            None => self.time.clone(),
        }
    }
}

/// A change of a series: where, by how much, with what confidence.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// The index of the point where the new level starts.
    pub index: usize,
    /// The level (the median of the points' medians) of the segment before it, and after it.
    pub before: f64,
    pub after: f64,
    /// The relative change of the level, and its 95% bootstrap interval (over the segments' points).
    pub relative: f64,
    pub interval: (f64, f64),
    /// The detector's p-value: the confidence is `1 - p`.
    pub p: f64,
    /// The change goes the worse way, and beyond the metric's threshold that way.
    pub worse: bool,
    pub better: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub key: Key,
    pub direction: Direction,
    /// The increase and the decrease that count, from the newest result's `[ci]`.
    pub threshold: (f64, f64),
    /// The machines its points were measured on.
    pub machines: Vec<String>,
    pub points: Vec<Point>,
    pub changes: Vec<Change>,
}

impl Series {
    /// The latest change, when it is the last change point of the series and goes the worse way: the
    /// newest results are worse than the level before them.
    pub(crate) fn regression(&self) -> Option<&Change> {
        self.changes.last().filter(|c| c.worse)
    }
}

/// The series of `records` that `filter` keeps, each with its change points.
pub(crate) fn series(records: &[Record], filter: &Filter, options: &changes::Options) -> Vec<Series> {
    let mut by_key: BTreeMap<Key, Series> = BTreeMap::new();
    let kept = records.iter().filter(|r| {
        filter.experiment.as_ref().is_none_or(|e| *e == r.experiment)
            && filter.branch.as_ref().is_none_or(|b| Some(b) == r.checkout.branch.as_ref())
    });
    for record in kept {
        for m in &record.measurements {
            let key = Key {
                experiment: record.experiment.clone(),
                cell: m.cell.clone(),
                metric: m.metric.clone(),
                file_hash: (!filter.across_files).then(|| record.file_hash.clone()),
                machine: (!filter.across_machines).then(|| record.machine.clone()),
            };
            let series = by_key.entry(key.clone()).or_insert_with(|| Series {
                key,
                direction: m.direction,
                threshold: m.threshold,
                machines: Vec::new(),
                points: Vec::new(),
                changes: Vec::new(),
            });
            (series.direction, series.threshold) = (m.direction, m.threshold);
            if !series.machines.contains(&record.machine_description) {
                series.machines.push(record.machine_description.clone());
            }
            let same_commit = |p: &&mut Point| record.checkout.commit.is_some() && p.commit == record.checkout.commit;
            match series.points.iter_mut().find(same_commit) {
                Some(point) => point.values.extend(&m.values),
                None if m.values.is_empty() => {}
                None => series.points.push(Point {
                    commit: record.checkout.commit.clone(),
                    time: record.time.clone(),
                    values: m.values.clone(),
                    stats: Stats::of(&m.values, 0).expect("values"),
                }),
            }
        }
    }
    let mut all: Vec<Series> = by_key.into_values().collect();
    for series in &mut all {
        for point in &mut series.points {
            point.stats = Stats::of(&point.values, 0).expect("values");
        }
        let medians: Vec<f64> = series.points.iter().map(|p| p.stats.median).collect();
        let found = changes::detect(&medians, options);
        series.changes = describe(&medians, &found, series.direction, series.threshold, options.seed);
    }
    all
}

/// Each change point with its levels, its change and whether that is worse or better beyond the threshold.
fn describe(
    medians: &[f64],
    found: &[ChangePoint],
    direction: Direction,
    threshold: (f64, f64),
    seed: u64,
) -> Vec<Change> {
    let bounds: Vec<usize> =
        std::iter::once(0).chain(found.iter().map(|c| c.index)).chain(std::iter::once(medians.len())).collect();
    found
        .iter()
        .enumerate()
        .map(|(i, point)| {
            let (before, after) = (&medians[bounds[i]..bounds[i + 1]], &medians[bounds[i + 1]..bounds[i + 2]]);
            let (level_before, level_after) = (median(before), median(after));
            let relative = if level_before == 0.0 { 0.0 } else { level_after / level_before - 1.0 };
            let mut rng = Rng::for_stream(seed, &format!("change {}", point.index));
            let interval =
                bootstrap_change(before, after, crate::stats::RESAMPLES, 1.0 - crate::stats::CONFIDENCE, &mut rng);
            let (increase, decrease) = threshold;
            let (up, down) = (relative > increase, relative < -decrease);
            let (worse, better) = match direction {
                Direction::LowerIsBetter => (up, down),
                Direction::HigherIsBetter => (down, up),
            };
            Change {
                index: point.index,
                before: level_before,
                after: level_after,
                relative,
                interval,
                p: point.p,
                worse,
                better,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::checkout::Checkout;
    use crate::history::record::Measurement;

    /// A record of one cell's metric at `commit`, on `machine`, with `values`.
    fn record(commit: &str, machine: &str, direction: Direction, values: &[f64]) -> Record {
        Record {
            experiment: "e".to_owned(),
            file_hash: "f".to_owned(),
            machine: machine.to_owned(),
            machine_description: machine.to_owned(),
            checkout: Checkout { commit: Some(commit.to_owned()), branch: Some("main".to_owned()) },
            time: format!("2026-01-01T00:00:{commit}Z"),
            digest: format!("{commit}{machine}{}", values.len()),
            source: String::new(),
            measurements: vec![Measurement {
                cell: "c".to_owned(),
                metric: "m".to_owned(),
                direction,
                threshold: (0.05, 0.05),
                values: values.to_vec(),
            }],
        }
    }

    #[test]
    fn a_fall_of_what_is_better_higher_is_worse_and_results_of_a_commit_are_one_point() {
        let mut records: Vec<Record> = (10..30)
            .map(|i| {
                let level = if i >= 20 { 80.0 } else { 100.0 };
                record(&i.to_string(), "a", Direction::HigherIsBetter, &[level, level + 1.0, level - 1.0])
            })
            .collect();
        // A second result of the last commit: pooled into its point.
        records.push(record("29", "a", Direction::HigherIsBetter, &[80.0, 80.5]));
        let all = series(&records, &Filter::default(), &changes::Options::default());
        let [one] = all.as_slice() else { panic!("{all:?}") };
        assert_eq!(one.points.len(), 20);
        assert_eq!(one.points[19].values.len(), 5);
        let change = one.regression().expect("a fall of a higher-is-better metric is worse");
        assert_eq!(change.index, 10);
        assert!((change.relative + 0.2).abs() < 1e-9, "{change:?}");
        assert!(change.worse && !change.better);
    }

    #[test]
    fn machines_are_series_of_their_own_unless_joined() {
        let records: Vec<Record> = (10..30)
            .map(|i| {
                let (machine, level) = if i >= 20 { ("slow", 200.0) } else { ("fast", 100.0) };
                record(&i.to_string(), machine, Direction::LowerIsBetter, &[level])
            })
            .collect();
        let apart = series(&records, &Filter::default(), &changes::Options::default());
        assert_eq!(apart.len(), 2);
        assert!(apart.iter().all(|s| s.changes.is_empty()));
        let joined =
            series(&records, &Filter { across_machines: true, ..Filter::default() }, &changes::Options::default());
        assert_eq!(joined.len(), 1);
        assert_eq!(joined[0].machines, ["fast", "slow"]);
        assert_eq!(joined[0].regression().map(|c| c.index), Some(10));
    }
}
