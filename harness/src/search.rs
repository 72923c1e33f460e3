//! The search for the highest rate within a latency objective (`arrival = { rate = "search", ... }`), as
//! the peak-performance search of `MLPerf`'s `LoadGen` does it: from the lowest rate, double while the probes pass,
//! then bisect between the highest rate that passed and the lowest that did not, until they are within the
//! precision asked; then probe the rate found again, `confirm` times. Each probe is a real run of the cell
//! at that rate, judged on the response-time percentiles of every task of the run.
//!
//! The state of a search is its list of probes and nothing else: [`next`] gives the next rate from the
//! probes so far, and [`bracket`] gives the rate found from them, so `summary.csv` finds from `runs.csv`
//! alone the same rate the run found. A leaf: it imports nothing of the crate.

/// The percentiles an objective may name: the response-time columns of `runs.csv`, in their order.
pub(crate) const PERCENTILES: [&str; 5] = ["mean", "p50", "p90", "p99", "max"];

/// Most probes of one cell's search: doubling from the lowest bound to the highest takes at most 30
/// (the bounds are at most 2^30 apart), bisecting to the finest precision 17 more, the confirmations 10;
/// a confirmation that fails starts the bisection again, up to this.
pub(crate) const MAX_PROBES: usize = 100;

/// How far behind its schedule a probe may start its tasks and still count as offered at its rate: the
/// rate its tasks started at (up to the last one) at least this share of the rate asked.
pub(crate) const OFFERED_SHARE: f64 = 0.9;

/// A cell's search, as the experiment file asks for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Search {
    /// Each percentile of the objective (an index into [`PERCENTILES`]) with its bound, in seconds: a
    /// probe passes when every one holds.
    pub objective: Vec<(usize, f64)>,
    /// The first rate probed, tasks per second.
    pub lowest: f64,
    /// The highest rate probed: when it passes, the search ends there.
    pub highest: f64,
    /// The bisection stops when the fail side is within this share above the pass side.
    pub precision: f64,
    /// How many more times the rate found is probed before it is reported.
    pub confirm: u32,
    /// How many tasks a probe has: a fixed count, or those due in a duration at the probe's rate.
    pub bound: Bound,
}

impl Search {
    /// The objective as a reader says it: `p99 within 10ms`, its bounds joined by commas.
    pub(crate) fn objective_text(&self) -> String {
        let bound = |&(k, seconds): &(usize, f64)| {
            format!(
                "{} within {}",
                PERCENTILES[k],
                crate::fmt::format_duration(std::time::Duration::from_secs_f64(seconds))
            )
        };
        self.objective.iter().map(bound).collect::<Vec<_>>().join(", ")
    }
}

/// The task count of a probe.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Bound {
    Tasks(u64),
    /// Seconds of arrivals: `rate x duration` tasks, at least one.
    Duration(f64),
}

impl Bound {
    pub(crate) fn tasks(self, rate: f64) -> u64 {
        match self {
            Self::Tasks(n) => n,
            Self::Duration(s) => ((s * rate).round() as u64).max(1),
        }
    }
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Offered at its rate, and within the objective.
    Pass,
    /// Beyond the objective, or the run did not end `ok`.
    Fail,
    /// Within the objective, but the rate was not offered: tasks were dropped, or started so far behind
    /// their schedule that the rate they arrived at was below [`OFFERED_SHARE`] of the one asked. Never a
    /// pass.
    NotOffered,
}

impl Verdict {
    pub(crate) const NAMES: [&'static str; 3] = ["pass", "fail", "not_offered"];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pass => Self::NAMES[0],
            Self::Fail => Self::NAMES[1],
            Self::NotOffered => Self::NAMES[2],
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "pass" => Some(Self::Pass),
            "fail" => Some(Self::Fail),
            "not_offered" => Some(Self::NotOffered),
            _ => None,
        }
    }
}

/// One probe: the rate it offered and its verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Probe {
    pub rate: f64,
    pub verdict: Verdict,
}

/// What a run of a probe measured, for its verdict.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured<'a> {
    /// The response-time columns, in the order of [`PERCENTILES`].
    pub response: [f64; 5],
    pub tasks: u64,
    pub dropped: u64,
    /// How long after it was due the last task started.
    pub last_start_lag_s: f64,
    /// When the last task was due, from the schedule's start.
    pub last_due_s: f64,
    pub objective: &'a [(usize, f64)],
}

/// The verdict of a probe whose run ended `ok` (any other run fails).
pub(crate) fn verdict(m: &Measured<'_>) -> Verdict {
    if m.objective.iter().any(|&(k, bound)| m.response[k] > bound) {
        return Verdict::Fail;
    }
    // The rate the tasks started at, up to the last one, against the schedule's own.
    let behind = m.tasks >= 2 && m.last_start_lag_s > (1.0 / OFFERED_SHARE - 1.0) * m.last_due_s;
    if m.dropped > 0 || behind { Verdict::NotOffered } else { Verdict::Pass }
}

/// The rates to draw a probe's rate to: those `runs.csv` writes (three decimals), so the runs of a rate and
/// the rate read back are the same number.
pub(crate) fn round(rate: f64) -> f64 {
    (rate * 1000.0).round() / 1000.0
}

impl Probe {
    /// Whether the probe ran at `rate`: the same to the thousandth of a task per second, as written.
    pub(crate) fn at(&self, rate: f64) -> bool {
        let milli = |r: f64| (r * 1000.0).round() as i64;
        milli(self.rate) == milli(rate)
    }
}

/// The result of a search so far: the highest rate whose every probe passed, below the lowest rate that
/// had a probe that did not.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Bracket {
    /// The rate found: `None` when no rate passed.
    pub pass: Option<f64>,
    /// The lowest rate with a probe that did not pass: `None` when every probe passed (the highest bound
    /// passed, or the search stopped before a failure).
    pub fail: Option<f64>,
}

/// The bracket of `probes`.
pub(crate) fn bracket(probes: &[Probe]) -> Bracket {
    let fail = probes.iter().filter(|p| p.verdict != Verdict::Pass).map(|p| p.rate).reduce(f64::min);
    let pass = probes
        .iter()
        .map(|p| p.rate)
        .filter(|&r| fail.is_none_or(|f| r < f))
        .filter(|&r| probes.iter().filter(|p| p.at(r)).all(|p| p.verdict == Verdict::Pass))
        .reduce(f64::max);
    Bracket { pass, fail }
}

/// The rate to probe next, `None` when the search is over.
pub(crate) fn next(search: &Search, probes: &[Probe]) -> Option<f64> {
    if probes.len() >= MAX_PROBES {
        return None;
    }
    let confirmed = |rate: f64| {
        let times = probes.iter().filter(|p| p.at(rate)).count();
        (times <= search.confirm as usize).then_some(rate)
    };
    match bracket(probes) {
        Bracket { pass: None, fail: None } => Some(round(search.lowest)),
        // Not even the lowest rate passed.
        Bracket { pass: None, fail: Some(_) } => None,
        Bracket { pass: Some(pass), fail: None } if pass >= search.highest => confirmed(pass),
        Bracket { pass: Some(pass), fail: None } => Some(round((pass * 2.0).min(search.highest))),
        Bracket { pass: Some(pass), fail: Some(fail) } => {
            let middle = round(f64::midpoint(pass, fail));
            if fail - pass > search.precision * pass && middle > pass && middle < fail {
                Some(middle)
            } else {
                confirmed(pass)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(lowest: f64, highest: f64) -> Search {
        Search { objective: vec![(3, 0.01)], lowest, highest, precision: 0.05, confirm: 2, bound: Bound::Duration(1.0) }
    }

    /// Runs a search against a system that passes every rate up to `capacity`.
    fn against(s: &Search, capacity: f64) -> Vec<Probe> {
        let mut probes = Vec::new();
        while let Some(rate) = next(s, &probes) {
            let verdict = if rate <= capacity { Verdict::Pass } else { Verdict::Fail };
            probes.push(Probe { rate, verdict });
        }
        probes
    }

    #[test]
    fn doubling_then_bisection_lands_within_the_precision_below_the_capacity() {
        let s = search(1.0, 100_000.0);
        let probes = against(&s, 75.0);
        let b = bracket(&probes);
        let (pass, fail) = (b.pass.unwrap(), b.fail.unwrap());
        assert!(pass <= 75.0 && fail > 75.0, "{b:?}");
        assert!(fail - pass <= 0.05 * pass, "{b:?}");
        // Doubling 1, 2, ..., 128, then the bisection, then two confirmations of the rate found.
        assert_eq!(
            &probes.iter().take(8).map(|p| p.rate).collect::<Vec<_>>(),
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]
        );
        assert_eq!(probes.iter().filter(|p| p.at(pass)).count(), 3);
    }

    #[test]
    fn a_highest_rate_that_passes_ends_the_search_there() {
        let s = search(10.0, 50.0);
        let b = bracket(&against(&s, 1e9));
        assert_eq!(b, Bracket { pass: Some(50.0), fail: None });
    }

    #[test]
    fn a_lowest_rate_that_fails_finds_nothing() {
        let s = search(10.0, 50.0);
        let probes = against(&s, 1.0);
        assert_eq!(probes.len(), 1);
        assert_eq!(bracket(&probes), Bracket { pass: None, fail: Some(10.0) });
    }

    #[test]
    fn a_confirmation_that_fails_moves_the_bracket_down() {
        let s = search(1.0, 100.0);
        let probes = [
            Probe { rate: 1.0, verdict: Verdict::Pass },
            Probe { rate: 2.0, verdict: Verdict::Pass },
            Probe { rate: 4.0, verdict: Verdict::Fail },
            Probe { rate: 3.0, verdict: Verdict::Pass },
            Probe { rate: 3.0, verdict: Verdict::NotOffered },
        ];
        assert_eq!(bracket(&probes), Bracket { pass: Some(2.0), fail: Some(3.0) });
        assert_eq!(next(&s, &probes), Some(2.5));
    }

    #[test]
    fn a_probe_within_the_objective_that_was_not_offered_is_no_pass() {
        let objective = [(3, 0.01)];
        let m = |p99: f64, dropped: u64, lag: f64| Measured {
            response: [0.0, 0.0, 0.0, p99, p99],
            tasks: 100,
            dropped,
            last_start_lag_s: lag,
            last_due_s: 1.0,
            objective: &objective,
        };
        assert_eq!(verdict(&m(0.005, 0, 0.0)), Verdict::Pass);
        assert_eq!(verdict(&m(0.02, 0, 0.0)), Verdict::Fail);
        assert_eq!(verdict(&m(0.005, 1, 0.0)), Verdict::NotOffered);
        assert_eq!(verdict(&m(0.005, 0, 0.2)), Verdict::NotOffered);
    }

    #[test]
    fn every_search_ends_and_its_bracket_holds_its_probes() {
        let mut rng = 0x9e37_79b9_u64;
        for _ in 0..200 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let capacity = (rng >> 40) as f64 / 100.0;
            let s = search(0.5, 20_000.0);
            let probes = against(&s, capacity);
            assert!(probes.len() < MAX_PROBES);
            let b = bracket(&probes);
            if let (Some(pass), Some(fail)) = (b.pass, b.fail) {
                assert!(pass < fail);
            }
            for p in &probes {
                let on_pass_side = b.pass.is_some_and(|pass| p.rate <= pass);
                assert!(!on_pass_side || p.verdict == Verdict::Pass);
            }
        }
    }
}
