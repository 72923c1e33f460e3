//! E-divisive means: change points of a series, without a model of its distribution (Matteson and James,
//! "A Nonparametric Approach for Multiple Change Point Analysis of Multivariate Data", JASA 2014; the
//! detector of `MongoDB`'s signal-processing-algorithms and of Otava, formerly Hunter).
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
        let mut as_large = 0usize;
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

/// The split of `x` with the largest `Q`, at least `min` values on each side. As in Matteson and James,
/// the values after a split `τ` are those up to an end `κ` of any length (at least `min`), not only up
/// to the end of the segment, so that a level that changed and changed back is found as two changes.
/// In O(n²): the sums of distances come from prefix sums of the distance matrix.
// The names are the paper's: the series x, its length n, the sizes m and k of the two sides.
#[allow(clippy::many_single_char_names)]
fn split(x: &[f64], min: usize) -> Option<(usize, f64)> {
    let n = x.len();
    if n < 2 * min {
        return None;
    }
    // prefix[i][k]: the sum of |x[i] - x[j]| over j < k.
    let prefix: Vec<Vec<f64>> = x
        .iter()
        .map(|a| {
            std::iter::once(0.0)
                .chain(x.iter().scan(0.0, |sum, b| {
                    *sum += (a - b).abs();
                    Some(*sum)
                }))
                .collect()
        })
        .collect();
    // Between a value and those of x[from..to].
    let to_range = |i: usize, from: usize, to: usize| prefix[i][to] - prefix[i][from];
    let mut best: Option<(usize, f64)> = None;
    // The sum of distances within x[..tau], kept as tau grows.
    let mut left = (1..min).map(|i| to_range(i, 0, i)).sum::<f64>();
    for tau in min..=n - min {
        if tau > min {
            left += to_range(tau - 1, 0, tau - 1);
        }
        let m = tau as f64;
        let (mut right, mut between) = (0.0, 0.0);
        for end in tau..n {
            // x[end] joins the values after the split.
            right += to_range(end, tau, end);
            between += to_range(end, 0, tau);
            let k = (end + 1 - tau) as f64;
            if end + 1 - tau < min {
                continue;
            }
            let energy = 2.0 * between / (m * k) - 2.0 * left / (m * (m - 1.0)) - 2.0 * right / (k * (k - 1.0));
            let q = m * k / (m + k) * energy;
            if best.is_none_or(|(_, b)| q > b) {
                best = Some((tau, q));
            }
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

    /// The split statistic computed straight from its definition: the values before `tau`, and those from
    /// it to `end`.
    #[allow(clippy::many_single_char_names)]
    fn q_by_definition(x: &[f64], tau: usize, end: usize) -> f64 {
        let (a, b) = (&x[..tau], &x[tau..end]);
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
        let by_definition = (3..=14)
            .flat_map(|t| (t + 3..=17).map(move |e| (t, e)))
            .map(|(t, e)| (t, q_by_definition(&x, t, e)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
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
    fn a_level_that_changes_and_changes_back_is_two_changes() {
        // The instruction counts of 20 commits: one level, a lower one from 6, the first again from 13.
        let mut x = vec![24.1; 20];
        for v in &mut x[5..12] {
            *v = 19.3;
        }
        let found: Vec<usize> = detect(&x, &Options::default()).iter().map(|c| c.index).collect();
        assert_eq!(found, [5, 12]);
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

    /// The detector's false-alarm and detection rates on synthetic series, for docs/ci.md:
    /// `cargo test -p harness --lib detector_rates -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, printed for the docs"]
    fn detector_rates() {
        let trials = 400;
        for n in [20, 50] {
            let alarms = (0..trials)
                .filter(|&t| !detect(&noise(n, 10_000 + t), &Options { seed: t, ..Options::default() }).is_empty())
                .count();
            println!("n={n} noise: false alarms {alarms} of {trials} ({:.1}%)", 100.0 * alarms as f64 / trials as f64);
            for step in [1.0, 2.0, 3.0] {
                let at = n * 2 / 3;
                let (mut found, mut exact) = (0, 0);
                for t in 0..trials {
                    let mut x = noise(n, 20_000 + t);
                    for v in &mut x[at..] {
                        *v += step;
                    }
                    let points = detect(&x, &Options { seed: t, ..Options::default() });
                    found += usize::from(points.iter().any(|c| c.index.abs_diff(at) <= 2));
                    exact += usize::from(points.iter().any(|c| c.index == at));
                }
                println!(
                    "n={n} step of {step} sd at {at}: found within 2 {:.1}%, at the index {:.1}%",
                    100.0 * found as f64 / trials as f64,
                    100.0 * exact as f64 / trials as f64
                );
            }
            // A creep of 3 standard deviations over the middle third.
            let found = (0..trials)
                .filter(|&t| {
                    let mut x = noise(n, 30_000 + t);
                    let (start, end) = (n / 3, 2 * n / 3);
                    for (i, v) in x.iter_mut().enumerate() {
                        *v += 3.0 * ((i as f64 - start as f64) / (end - start) as f64).clamp(0.0, 1.0);
                    }
                    detect(&x, &Options { seed: t, ..Options::default() })
                        .iter()
                        .any(|c| (start..=end).contains(&c.index))
                })
                .count();
            println!(
                "n={n} creep of 3 sd over the middle third: found within it {:.1}%",
                100.0 * found as f64 / trials as f64
            );
        }
    }
}
