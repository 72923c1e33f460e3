//! Rate searches in `summary.csv`: for each cell whose runs are the probes of a search
//! ([`crate::search`]), the rate found and its confidence, from the rows of `runs.csv` alone (each probe's
//! rate in `offered_per_s` and its verdict in `probe`): the same bracket the run found.

use super::Run;
use crate::search::{Bracket, Probe, Verdict, bracket};

/// What `summary.csv` says of a cell's search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchSummary {
    /// The highest rate whose every probe passed, below the lowest that did not: the rate found; `None`
    /// when not even the lowest rate passed.
    pub found_per_s: Option<f64>,
    /// The lowest rate with a probe that did not pass: the other side of the bracket; `None` when every
    /// probe passed (the search reached its highest rate).
    pub failed_per_s: Option<f64>,
    /// The probes run.
    pub probes: usize,
    /// The probes at the rate found, all passes: one, and the confirmations.
    pub found_runs: usize,
    /// The probes within the objective whose rate was not offered.
    pub not_offered: usize,
}

/// The probes among `runs`, in the order they ran.
pub(crate) fn probes(runs: &[&Run]) -> Vec<Probe> {
    let mut probes: Vec<(u32, Probe)> = runs.iter().filter_map(|r| Some((r.repetition, r.probe?))).collect();
    probes.sort_by_key(|(repetition, _)| *repetition);
    probes.into_iter().map(|(_, p)| p).collect()
}

/// The rate whose runs describe a searching cell in its statistics: the rate found, or, when none was,
/// the lowest probed. `None` for a cell without probes.
pub(crate) fn described_rate(probes: &[Probe]) -> Option<f64> {
    let lowest = probes.iter().map(|p| p.rate).reduce(f64::min)?;
    Some(bracket(probes).pass.unwrap_or(lowest))
}

/// The search of a cell's runs, `None` when they are no probes.
pub(crate) fn summarize(runs: &[&Run]) -> Option<SearchSummary> {
    let probes = probes(runs);
    if probes.is_empty() {
        return None;
    }
    let Bracket { pass, fail } = bracket(&probes);
    Some(SearchSummary {
        found_per_s: pass,
        failed_per_s: fail,
        probes: probes.len(),
        found_runs: pass.map_or(0, |rate| probes.iter().filter(|p| p.at(rate)).count()),
        not_offered: probes.iter().filter(|p| p.verdict == Verdict::NotOffered).count(),
    })
}
