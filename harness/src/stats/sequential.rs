//! When a comparison may look at its data, and at what confidence, so that stopping on the data does not
//! raise the rate of false verdicts.
//!
//! An experiment with `repetitions = { min, max }` runs rounds until every comparison is decided. It looks
//! at its data after the rounds of [`looks`]: `min` (or the first count that can decide anything), then
//! half as many rounds again each time, and `max`.
//! Look `k`, after `n_k` rounds, spends `alpha (n_k - n_(k-1)) / max` of the error rate: a linear
//! alpha-spending function of the information `n / max` (Lan and `DeMets`, "Discrete sequential boundaries for
//! clinical trials", Biometrika 70, 1983). Each look's interval has that confidence, and by the union bound
//! the chance that any interval of any look misses the true change is at most the sum, `alpha n_K / max <=
//! alpha`: the verdicts drawn at whichever look the experiment stopped keep their stated error rate. With
//! a fixed count (`min = max`) there is one look, at the whole `alpha`.
//!
//! The union bound ignores how much consecutive looks share, so it is conservative: a look's interval is
//! wider than a single test's at the same count (at `max` = 60 with looks from 9 on, 99.0% instead of
//! 95%). That is the price of being allowed to stop early, and it is small against the rounds saved.

/// The error rate of every comparison: 5%, spent over the looks of a range.
pub(crate) const ALPHA: f64 = 0.05;

/// The rounds after which a comparison looks at its data, from `min` to `max` (each at least 1). The first
/// look is at `min`, or later where `min` rounds are too few for any interval at that look's share of the
/// error rate (`n` differences give none below a confidence of `1 - 2^(1 - n)`): a look that cannot decide
/// would spend its share for nothing.
pub(crate) fn looks(min: u32, max: u32) -> Vec<u32> {
    let (min, max) = (min.max(1), max.max(1));
    let mut looks = Vec::new();
    let decidable = |n: u32| 2.0 * 0.5f64.powi(n.min(1000) as i32) <= ALPHA * f64::from(n) / f64::from(max);
    let mut n = min.min(max);
    while n < max && !decidable(n) {
        n += 1;
    }
    loop {
        looks.push(n);
        if n >= max {
            return looks;
        }
        // Half as many rounds again, at least one more, never past `max`.
        n = (n + n.div_ceil(2)).max(n + 1).min(max);
    }
}

/// The error rate a look after `rounds` rounds may spend, of `alpha` for a run of `min` to `max` rounds: its
/// share of the information since the previous look. A count of rounds that is not a planned look (an
/// interrupted run) spends the share since the look before it.
pub(crate) fn alpha_at(rounds: u32, min: u32, max: u32, alpha: f64) -> f64 {
    // A fixed count looks once, whatever part of it a shard holds.
    if min >= max {
        return alpha;
    }
    let max = max.max(1);
    let rounds = rounds.min(max);
    let previous = looks(min, max).into_iter().take_while(|&n| n < rounds).last().unwrap_or(0);
    alpha * f64::from(rounds - previous) / f64::from(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_grow_by_half_and_end_at_max() {
        assert_eq!(looks(5, 60), [9, 14, 21, 32, 48, 60]);
        assert_eq!(looks(10, 60), [10, 15, 23, 35, 53, 60]);
        assert_eq!(looks(5, 5), [5]);
        assert_eq!(looks(10, 12), [10, 12]);
        // Every look but a fixed count's can decide something.
        for (min, max) in [(5, 60), (2, 100), (6, 30)] {
            let first = looks(min, max)[0];
            assert!(2.0 * 0.5f64.powi(first as i32) <= alpha_at(first, min, max, ALPHA), "{min}..{max}");
        }
    }

    #[test]
    fn the_looks_spend_alpha_and_no_more() {
        for (min, max) in [(5, 60), (5, 5), (2, 100), (7, 9)] {
            let spent: f64 = looks(min, max).iter().map(|&n| alpha_at(n, min, max, 0.05)).sum();
            assert!((spent - 0.05).abs() < 1e-12, "{min}..{max}: {spent}");
        }
        // One look: the whole alpha, also for a shard that holds part of the rounds.
        assert!((alpha_at(5, 5, 5, 0.05) - 0.05).abs() < 1e-15);
        assert!((alpha_at(3, 6, 6, 0.05) - 0.05).abs() < 1e-15);
        // A run stopped between looks spends the share since the last look.
        assert!((alpha_at(12, 5, 60, 0.05) - 0.05 * 3.0 / 60.0).abs() < 1e-15);
    }
}
