//! E-divisive means: change points of a series, without a model of its distribution (Matteson and James,
//! "A Nonparametric Approach for Multiple Change Point Analysis of Multivariate Data", JASA 2014; the
//! detector of MongoDB's signal-processing-algorithms and of Otava, formerly Hunter).
//!
//! The energy distance between the values before a split and after it,
//!
//! ```text
//! Q(τ) = m·k/(m+k) · ( 2/(m·k) Σ|xᵢ − yⱼ| − 1/C(m,2) Σ|xᵢ − xₗ| − 1/C(k,2) Σ|yⱼ − yₗ| )
//! ```
//!
//! (with `m` values before and `k` after), is largest where the series changed. The best split of every
//! segment found so far is a candidate; the largest one is tested by permutation: the values of each
//! segment are shuffled within it, and the candidate counts when fewer than `alpha` of the shuffles reach
//! a split as large (`p = (r + 1) / (R + 1)`, `r` of `R` shuffles as large). Then the segments are split
//! again, until a candidate fails. On a series with no change, a change point is found with probability at
//! most `alpha`: the shuffles are as likely as the series itself. The shuffles are seeded, so the same
//! series gives the same change points everywhere.

use crate::stats::Rng;

/// The detector's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// The significance level of each change point.
    pub alpha: f64,
    /// Shuffles per test.
    pub permutations: usize,
    /// The fewest values on each side of a change point.
    pub min_size: usize,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self { alpha: 0.05, permutations: 199, min_size: 3, seed: 0 }
    }
}

/// A change point: the series changed between `index - 1` and `index`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ChangePoint {
    /// The first value of the new level.
    pub index: usize,
    /// The permutation test's p-value.
    pub p: f64,
}

/// The change points of `values`, in order of index.
pub(crate) fn detect(values: &[f64], options: &Options) -> Vec<ChangePoint> {
    let min = options.min_size.max(2);
    let mut found: Vec<ChangePoint> = Vec::new();
    let mut rng = Rng::new(options.seed);
    let mut shuffled = values.to_vec();
    loop {
        let bounds = bounds(values.len(), &found);
        let Some((index, q)) = best(values, &bounds, min) else { break };
        let mut as_large = 0;
        for _ in 0..options.permutations {
            shuffled.copy_from_slice(values);
            for pair in bounds.windows(2) {
                shuffle(&mut shuffled[pair[0]..pair[1]], &mut rng);
            }
            if best(&shuffled, &bounds, min).is_some_and(|(_, shuffled_q)| shuffled_q >= q) {
                as_large += 1;
            }
        }
        let p = (as_large + 1) as f64 / (options.permutations + 1) as f64;
        if p > options.alpha {
            break;
        }
        found.push(ChangePoint { index, p });
        found.sort_by_key(|c| c.index);
    }
    found
}

/// The segments' bounds: 0, each change point, the length.
fn bounds(len: usize, found: &[ChangePoint]) -> Vec<usize> {
    std::iter::once(0).chain(found.iter().map(|c| c.index)).chain(std::iter::once(len)).collect()
}

/// The best split of any segment of `values` between `bounds`, and its statistic.
fn best(values: &[f64], bounds: &[usize], min: usize) -> Option<(usize, f64)> {
    bounds
        .windows(2)
        .filter_map(|pair| split(&values[pair[0]..pair[1]], min).map(|(i, q)| (pair[0] + i, q)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The split of `x` with the largest `Q`, at least `min` values on each side: in O(n²), the sums of
/// distances within the left part, within the right part and between them updated as the split moves.
fn split(x: &[f64], min: usize) -> Option<(usize, f64)> {
    let n = x.len();
    if n < 2 * min {
        return None;
    }
    let d = |i: usize, j: usize| (x[i] - x[j]).abs();
    // The split at `min`: left is x[..min], right x[min..].
    let (mut left, mut right, mut between) = (0.0, 0.0, 0.0);
    for i in 0..n {
        for j in i + 1..n {
            match (i < min, j < min) {
                (true, true) => left += d(i, j),
                (false, false) => right += d(i, j),
                _ => between += d(i, j),
            }
        }
    }
    let mut best: Option<(usize, f64)> = None;
    for tau in min..=n - min {
        if tau > min {
            // x[tau - 1] moves from the right part to the left.
            let moved = tau - 1;
            let to_left: f64 = (0..moved).map(|i| d(i, moved)).sum();
            let to_right: f64 = (moved + 1..n).map(|j| d(moved, j)).sum();
            left += to_left;
            right -= to_right;
            between += to_right - to_left;
        }
        let (m, k) = (tau as f64, (n - tau) as f64);
        let energy = 2.0 * between / (m * k) - 2.0 * left / (m * (m - 1.0)) - 2.0 * right / (k * (k - 1.0));
        let q = m * k / (m + k) * energy;
        if best.is_none_or(|(_, b)| q > b) {
            best = Some((tau, q));
        }
    }
    best
}

/// Fisher-Yates.
fn shuffle(values: &mut [f64], rng: &mut Rng) {
    for i in (1..values.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        values.swap(i, j);
    }
}

/// Standard normal draws (Box-Muller), for the synthetic series of the tests and of the detector's
/// measured rates.
#[cfg(test)]
pub(crate) fn normal(rng: &mut Rng) -> f64 {
    let unit = |rng: &mut Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (a, b) = (unit(rng), unit(rng));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| 10.0 + normal(&mut rng)).collect()
    }

    /// The split statistic computed straight from its definition.
    fn q_by_definition(x: &[f64], tau: usize) -> f64 {
        let (a, b) = x.split_at(tau);
        let (m, k) = (a.len() as f64, b.len() as f64);
        let mean_between = a.iter().flat_map(|p| b.iter().map(move |q| (p - q).abs())).sum::<f64>() / (m * k);
        let within = |s: &[f64]| {
            let n = s.len() as f64;
            let mut sum = 0.0;
            for i in 0..s.len() {
                for j in i + 1..s.len() {
                    sum += (s[i] - s[j]).abs();
                }
            }
            sum / (n * (n - 1.0) / 2.0)
        };
        m * k / (m + k) * (2.0 * mean_between - within(a) - within(b))
    }

    #[test]
    fn the_moving_sums_are_the_definition() {
        let x = noise(17, 3);
        let (tau, q) = split(&x, 3).unwrap();
        let by_definition = (3..=14).map(|t| (t, q_by_definition(&x, t))).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(tau, by_definition.0);
        assert!((q - by_definition.1).abs() < 1e-9, "{q} != {}", by_definition.1);
    }

    #[test]
    fn a_step_is_found_where_it_is() {
        let mut extra = 0;
        for seed in 0..10 {
            let mut x = noise(30, seed);
            for v in &mut x[18..] {
                *v += 3.0;
            }
            let found = detect(&x, &Options { seed, ..Options::default() });
            // At the step or next to it: noise of a standard deviation may move it by one.
            let at_step = found.iter().filter(|c| (17..=19).contains(&c.index)).count();
            assert_eq!(at_step, 1, "seed {seed}: {found:?}");
            // Each level is tested again, at the 5% level: now and then a false change point within one.
            extra += found.len() - 1;
        }
        assert!(extra <= 2, "{extra} change points besides the step in 10 series");
    }

    #[test]
    fn two_steps_are_both_found() {
        let mut x = noise(45, 7);
        for v in &mut x[15..30] {
            *v += 4.0;
        }
        let found: Vec<usize> = detect(&x, &Options::default()).iter().map(|c| c.index).collect();
        assert_eq!(found, [15, 30]);
    }

    #[test]
    fn a_slow_creep_is_found_within_it() {
        // Flat, then up by 5 standard deviations over 20 values, then flat.
        let mut x = noise(60, 11);
        for (i, v) in x.iter_mut().enumerate() {
            *v += 5.0 * ((i as f64 - 20.0) / 20.0).clamp(0.0, 1.0);
        }
        let found = detect(&x, &Options::default());
        assert!(!found.is_empty(), "{found:?}");
        assert!(found.iter().all(|c| (18..=42).contains(&c.index)), "{found:?}");
    }

    #[test]
    fn pure_noise_has_no_change_point_at_the_stated_level() {
        // Each series of pure noise shows a change point with probability at most alpha, 5%: of 100, the
        // count is binomial with mean at most 5; more than 12 is a chance of 1 in 1000.
        let alarms = (0..100)
            .filter(|&seed| !detect(&noise(30, 1000 + seed), &Options { seed, ..Options::default() }).is_empty())
            .count();
        assert!(alarms <= 12, "{alarms} of 100 series of noise had a change point");
        assert!(detect(&noise(30, 5), &Options::default()).is_empty());
    }

    #[test]
    fn a_series_too_short_or_flat_has_none() {
        assert!(detect(&[1.0, 2.0, 3.0, 4.0, 5.0], &Options::default()).is_empty());
        assert!(detect(&[2.0; 40], &Options::default()).is_empty());
    }

    #[test]
    fn the_same_series_gives_the_same_change_points() {
        let mut x = noise(30, 2);
        for v in &mut x[10..] {
            *v += 1.5;
        }
        assert_eq!(detect(&x, &Options::default()), detect(&x, &Options::default()));
    }
}
