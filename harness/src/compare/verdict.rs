//! The verdict on a change from its interval, the smallest change a comparison could have detected, and the
//! runs an undecided one would need. Shared by both ways to compare; every interval here is of the relative
//! change `current / baseline - 1`.

use serde::Serialize;

use super::Direction;
use crate::experiment::gate::Threshold;
use crate::stats::paired::normal_quantile;

/// The verdict on one metric of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Regressed,
    Inconclusive,
    Improved,
    Unchanged,
}

/// Why a verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// The whole interval lies beyond the limit (threshold, widened for load, and floor).
    Beyond,
    /// The whole interval lies within the limit both ways: no change as large as the limit.
    Within,
    /// The interval reaches both within and beyond the limit.
    Straddles,
    /// The count of runs allows no interval of the confidence asked for.
    TooFewRuns,
    /// Two folders: the interval lies beyond the limit, but the Mann-Whitney test finds no significant
    /// difference.
    NotSignificant,
    /// The baseline's median is zero: judged on the absolute change, against the floor.
    FromZero,
    /// Two folders, a time whose median moved beyond the limit but whose fastest run did not: other work may
    /// have slowed some runs, and a slower program would have slowed them all.
    FastestWithin,
    /// Two folders, a time beyond the limit as measured but not relative to the speed anchors, which moved
    /// significantly the same way: the machine's speed changed.
    MachineSpeed,
}

/// The verdict on a change whose interval is `(low, high)` under `limit`: regressed or improved when the
/// whole interval lies beyond it the bad or the good way, unchanged when it lies wholly within it both ways,
/// inconclusive otherwise.
pub(super) fn decide(direction: Direction, (low, high): (f64, f64), limit: Threshold) -> (Verdict, Reason) {
    if low.is_nan() || high.is_nan() {
        return (Verdict::Inconclusive, Reason::TooFewRuns);
    }
    // In "worse" terms: how far the interval goes the bad way, and the limits for worse and better.
    let (worse_low, worse_high, worse, better) = match direction {
        Direction::LowerIsBetter => (low, high, limit.increase, limit.decrease),
        Direction::HigherIsBetter => (-high, -low, limit.decrease, limit.increase),
    };
    if worse_low > worse {
        (Verdict::Regressed, Reason::Beyond)
    } else if worse_high < -better {
        (Verdict::Improved, Reason::Beyond)
    } else if worse_low >= -better && worse_high <= worse {
        (Verdict::Unchanged, Reason::Within)
    } else if low.is_infinite() && high.is_infinite() {
        (Verdict::Inconclusive, Reason::TooFewRuns)
    } else {
        (Verdict::Inconclusive, Reason::Straddles)
    }
}

/// The factor from the half-width of a `1 - alpha` interval to the distance at which a change is detected
/// 4 times in 5: `(z(1 - alpha / 2) + z(0.8)) / z(1 - alpha / 2)`.
fn power_factor(alpha: f64) -> f64 {
    let z = normal_quantile(1.0 - alpha / 2.0);
    (z + normal_quantile(0.8)) / z
}

/// The interval as a scale: the transform the interval is symmetric in (the logarithm of the ratio when
/// paired, the relative change itself with two folders), and its inverse.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scale {
    Log,
    Linear,
}

impl Scale {
    fn to(self, change: f64) -> f64 {
        match self {
            Scale::Log => (1.0 + change).ln(),
            Scale::Linear => change,
        }
    }

    fn from(self, x: f64) -> f64 {
        match self {
            Scale::Log => x.exp() - 1.0,
            Scale::Linear => x,
        }
    }
}

/// The smallest change the bad way that a comparison with this interval would detect 4 times in 5: the limit
/// plus the interval's half-width, scaled for that power. Positive where lower is better, negative where
/// higher is; `None` for an interval without finite bounds.
pub(super) fn detectable(
    direction: Direction,
    (low, high): (f64, f64),
    limit: Threshold,
    alpha: f64,
    scale: Scale,
) -> Option<f64> {
    let (low, high) = (scale.to(low), scale.to(high));
    let half = (high - low) / 2.0;
    if !half.is_finite() {
        return None;
    }
    let reach = half * power_factor(alpha);
    Some(match direction {
        Direction::LowerIsBetter => scale.from(scale.to(limit.increase) + reach),
        Direction::HigherIsBetter => scale.from(scale.to(-limit.decrease) - reach),
    })
}

/// About how many runs would decide an inconclusive change, were its estimate right: the interval narrows
/// as one over the square root of the count, until it lies wholly on one side of the nearer edge of the
/// limit. `None` when the estimate sits on an edge.
pub(super) fn needed(n: usize, estimate: f64, (low, high): (f64, f64), limit: Threshold, scale: Scale) -> Option<u64> {
    let (estimate, low, high) = (scale.to(estimate), scale.to(low), scale.to(high));
    let (up, down) = (scale.to(limit.increase), scale.to(-limit.decrease));
    let half = (high - low) / 2.0;
    let distance = if estimate > up {
        estimate - up
    } else if estimate < down {
        down - estimate
    } else {
        (up - estimate).min(estimate - down)
    };
    if !half.is_finite() || distance <= 1e-9 * half.abs().max(1.0) {
        return None;
    }
    let ratio = half / distance;
    let runs = (n.max(1) as f64 * ratio * ratio - 1e-9).ceil();
    (runs.is_finite() && runs < 1e12).then_some(runs.max(n as f64 + 1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: Threshold = Threshold { increase: 0.1, decrease: 0.1 };

    #[test]
    fn four_verdicts() {
        let lower = Direction::LowerIsBetter;
        assert_eq!(decide(lower, (0.12, 0.2), TEN), (Verdict::Regressed, Reason::Beyond));
        assert_eq!(decide(lower, (-0.2, -0.12), TEN), (Verdict::Improved, Reason::Beyond));
        assert_eq!(decide(lower, (-0.05, 0.08), TEN), (Verdict::Unchanged, Reason::Within));
        assert_eq!(decide(lower, (0.05, 0.15), TEN), (Verdict::Inconclusive, Reason::Straddles));
        assert_eq!(decide(lower, (-0.3, 0.3), TEN), (Verdict::Inconclusive, Reason::Straddles));
        assert_eq!(decide(lower, (f64::NEG_INFINITY, f64::INFINITY), TEN), (Verdict::Inconclusive, Reason::TooFewRuns));
        // An overflow is a change beyond any limit.
        assert_eq!(decide(lower, (1e300, f64::INFINITY), TEN), (Verdict::Regressed, Reason::Beyond));
        // Higher is better: the same interval means the opposite.
        assert_eq!(decide(Direction::HigherIsBetter, (0.12, 0.2), TEN), (Verdict::Improved, Reason::Beyond));
    }

    #[test]
    fn what_a_comparison_could_have_seen() {
        // An interval of +-4% about +2% at 95%: a change of about 10% + 4% x 1.43 would be detected.
        let d = detectable(Direction::LowerIsBetter, (-0.02, 0.06), TEN, 0.05, Scale::Linear).unwrap();
        assert!((d - (0.1 + 0.04 * 2.8016 / 1.96)).abs() < 1e-3, "{d}");
        let d = detectable(Direction::HigherIsBetter, (-0.02, 0.06), TEN, 0.05, Scale::Linear).unwrap();
        assert!(d < -0.1, "{d}");
        assert_eq!(detectable(Direction::LowerIsBetter, (f64::NEG_INFINITY, 0.0), TEN, 0.05, Scale::Log), None);
    }

    #[test]
    fn runs_needed_shrink_the_interval_to_the_nearer_edge() {
        // +12% with a half-width of 4%: the interval must shrink to 2%, four times the runs.
        assert_eq!(needed(10, 0.12, (0.08, 0.16), TEN, Scale::Linear), Some(40));
        // Right on the edge: no count decides it.
        assert_eq!(needed(10, 0.1, (0.05, 0.15), TEN, Scale::Linear), None);
    }
}
