//! Descriptive statistics of one metric of one cell: the numbers a reviewer asks for.
//!
//! - Quantiles interpolate linearly between order statistics (Hyndman and Fan's type 7, the default of R
//!   and `NumPy`), so the median of an even count is the mean of the two middle values.
//! - The standard deviation is the sample one (n - 1); the coefficient of variation is stddev / |mean|.
//! - The 95% confidence interval of the median is a percentile bootstrap: `RESAMPLES` resamples with
//!   replacement, drawn by a generator seeded by the caller, so the same data and seed always give the
//!   same interval. Each resample's median is drawn directly, in constant time (`bootstrap_median`).
//! - Outliers are Tukey's: outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR]. They are reported, never dropped; with
//!   fewer than four values there are no meaningful quartiles and none are reported.
//!
//! Everything here is pure: no I/O, no clock, no global state. `paired` has the statistics of paired
//! differences, `sequential` when a comparison that stops on its data may look at it.

pub(crate) mod paired;
pub(crate) mod sequential;

/// Bootstrap resamples per interval.
pub(crate) const RESAMPLES: usize = 2000;
/// The confidence of the interval.
pub(crate) const CONFIDENCE: f64 = 0.95;

/// Statistics of a non-empty sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub stddev: f64,
    /// `None` when the mean is zero.
    pub cv: Option<f64>,
    pub min: f64,
    pub max: f64,
    /// The bootstrap confidence interval of the median.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Indices into the sample of the values outside Tukey's fences, in sample order.
    pub outliers: Vec<usize>,
}

impl Stats {
    /// Describes `values` (in the order they were measured); `None` when there are none or one is not
    /// finite. `seed` drives the bootstrap.
    pub fn of(values: &[f64], seed: u64) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let stddev =
            if n > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        let median = quantile(&sorted, 0.5);
        let (ci_low, ci_high) = bootstrap_median(&sorted, seed);
        Some(Self {
            n,
            mean,
            median,
            stddev,
            cv: (mean != 0.0).then(|| stddev / mean.abs()),
            min: sorted[0],
            max: sorted[n - 1],
            ci_low,
            ci_high,
            outliers: tukey_outliers(values, &sorted),
        })
    }
}

/// The `q` quantile (0 to 1) of sorted, non-empty `sorted`, interpolating linearly (type 7).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    // Equal neighbours (infinite ones too, whose difference is not a number) are the quantile themselves.
    if sorted[below].total_cmp(&sorted[above]).is_eq() {
        return sorted[below];
    }
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

/// The percentile-bootstrap interval of the median of sorted `sorted`.
///
/// A resample draws n indices uniformly, and its median is the mean of its order statistics at ranks
/// `(n - 1) / 2` and `n / 2` (0-based): as `sorted` is sorted, those are the values at the same order
/// statistics of the indices drawn. The k-th smallest of n uniform draws on [0, 1) follows Beta(k, n - k +
/// 1), and the next one is the least of the n - k others, uniform above it; an index is `n` times a draw,
/// rounded down. So each resample's median is drawn directly, in constant time, with the same
/// distribution as drawing n indices and counting them: the summary of a cell of a thousand runs no
/// longer costs a thousand draws per resample.
fn bootstrap_median(sorted: &[f64], seed: u64) -> (f64, f64) {
    let n = sorted.len();
    // Every resample of a constant sample is that sample (one value, or a column such as `tasks`).
    if n == 1 || sorted[0].total_cmp(&sorted[n - 1]).is_eq() {
        return (sorted[0], sorted[0]);
    }
    let mut rng = Rng::new(seed);
    // 1-based ranks of the two middle order statistics.
    let rank = (n - 1) / 2 + 1;
    let index = |u: f64| ((u * n as f64) as usize).min(n - 1);
    let mut medians = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let low = rng.beta(rank as f64, (n - rank + 1) as f64);
        let high = if n % 2 == 1 {
            low
        } else {
            // The least of the n - rank draws above `low`.
            low + (1.0 - low) * (1.0 - rng.unit().powf(1.0 / (n - rank) as f64))
        };
        let (low, high) = (sorted[index(low)], sorted[index(high)]);
        medians.push(low + (high - low) / 2.0);
    }
    medians.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    (quantile(&medians, tail), quantile(&medians, 1.0 - tail))
}

/// Indices of the values outside Tukey's fences (1.5 IQR beyond the quartiles).
fn tukey_outliers(values: &[f64], sorted: &[f64]) -> Vec<usize> {
    if values.len() < 4 {
        return Vec::new();
    }
    let (q1, q3) = (quantile(sorted, 0.25), quantile(sorted, 0.75));
    let reach = 1.5 * (q3 - q1);
    let (low, high) = (q1 - reach, q3 + reach);
    values.iter().enumerate().filter(|(_, v)| **v < low || **v > high).map(|(i, _)| i).collect()
}

/// splitmix64: small, fast, and the same sequence on every platform for a seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator for one named stream of `seed`, independent of the order streams are used in.
    pub(crate) fn for_stream(seed: u64, name: &str) -> Self {
        // FNV-1a of the name, mixed into the seed.
        let hash =
            name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let mut rng = Self(seed ^ hash);
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in (0, 1], uniformly: 53 random bits, never 0 (its logarithm is finite).
    pub(crate) fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal number (Box and Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A Gamma(`shape`, 1) number for `shape` >= 1 (Marsaglia and Tsang's method).
    fn gamma(&mut self, shape: f64) -> f64 {
        let offset = shape - 1.0 / 3.0;
        let scale = 1.0 / (9.0 * offset).sqrt();
        loop {
            let normal = self.normal();
            let cube = (1.0 + scale * normal).powi(3);
            if cube <= 0.0 {
                continue;
            }
            let unit = self.unit();
            let squared = normal * normal;
            if unit < 1.0 - 0.0331 * squared * squared || unit.ln() < 0.5 * squared + offset * (1.0 - cube + cube.ln())
            {
                return offset * cube;
            }
        }
    }

    /// A Beta(`a`, `b`) number for `a`, `b` >= 1, as the share of one Gamma number in the sum of two.
    pub(crate) fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        x / (x + self.gamma(b))
    }

    /// A number in `0..bound` (`bound` > 0), by multiply-and-shift: no division, negligible bias.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

/// Percentile-bootstrap `1 - alpha` interval of the relative change of the median, resampling both sides.
pub(crate) fn bootstrap_change(
    baseline: &[f64],
    current: &[f64],
    resamples: usize,
    alpha: f64,
    rng: &mut Rng,
) -> (f64, f64) {
    let mut resample = |values: &[f64]| {
        let drawn: Vec<f64> = (0..values.len()).map(|_| values[rng.below(values.len() as u64) as usize]).collect();
        median(&drawn)
    };
    let mut changes: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let (a, b) = (resample(baseline), resample(current));
            (a != 0.0).then(|| b / a - 1.0)
        })
        .collect();
    if changes.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    changes.sort_by(f64::total_cmp);
    (quantile(&changes, alpha / 2.0), quantile(&changes, 1.0 - alpha / 2.0))
}

/// Two-sided p-value of the Mann-Whitney U test: exact when there are no ties and the samples are small,
/// else the normal approximation with tie correction and continuity correction.
// The names are the textbook's: samples a and b, sizes n1 and n2, statistic u, tie counts t.
#[allow(clippy::many_single_char_names)]
pub(crate) fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let mut all: Vec<(f64, usize)> = a.iter().map(|&v| (v, 0)).chain(b.iter().map(|&v| (v, 1))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Average ranks over ties.
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        // Ties are values that are exactly equal, as the test defines them.
        while j + 1 < n && all[j + 1].0.total_cmp(&all[i].0).is_eq() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += rank * all[i..=j].iter().filter(|x| x.1 == 0).count() as f64;
        i = j + 1;
    }
    let u_a = rank_sum_a - (n1 * (n1 + 1)) as f64 / 2.0;
    let u = u_a.min((n1 * n2) as f64 - u_a);
    if tie_term == 0.0 && n1 * n2 <= 10_000 {
        let u = u.round() as usize;
        let counts = u_distribution(n1, n2);
        let total: f64 = counts.iter().sum();
        let tail: f64 = counts[..=u].iter().sum::<f64>() / total;
        return (2.0 * tail).min(1.0);
    }
    let (n1, n2, nf) = (n1 as f64, n2 as f64, n as f64);
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((u_a - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    (2.0 * normal_tail(z)).min(1.0)
}

/// How many arrangements of `n1` and `n2` distinct values give each U from 0 to n1 * n2.
fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // counts[i][j][u]: arrangements of i values of the first sample and j of the second with statistic u,
    // built by adding the largest value to one sample or the other.
    let max = n1 * n2;
    let mut previous: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
    for row in &mut previous {
        row[0] = 1.0;
    }
    for _ in 1..=n1 {
        let mut current: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
        current[0][0] = 1.0;
        for j in 1..=n2 {
            for u in 0..=max {
                // The largest value belongs to the first sample: it beats all j of the second.
                let from_first = if u >= j { previous[j][u - j] } else { 0.0 };
                let from_second = current[j - 1][u];
                current[j][u] = from_first + from_second;
            }
        }
        previous = current;
    }
    previous.swap_remove(n2)
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
fn normal_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

#[cfg(test)]
// The values compared exactly are exactly representable, or copied rather than computed.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use proptest::prelude::{Strategy, any, prop, prop_assert, prop_assert_eq, proptest};

    #[test]
    fn a_small_sample() {
        let s = Stats::of(&[3.0, 1.0, 2.0, 4.0], 7).unwrap();
        assert_eq!((s.n, s.min, s.max, s.mean, s.median), (4, 1.0, 4.0, 2.5, 2.5));
        assert!((s.stddev - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert!((s.cv.unwrap() - 0.516_397_779_494_322_2).abs() < 1e-12);
        assert!(s.outliers.is_empty());
    }

    #[test]
    fn one_value_has_no_spread() {
        let s = Stats::of(&[5.0], 1).unwrap();
        assert_eq!((s.stddev, s.ci_low, s.ci_high, s.cv), (0.0, 5.0, 5.0, Some(0.0)));
        assert_eq!(Stats::of(&[0.0, 0.0], 1).unwrap().cv, None);
        assert_eq!(Stats::of(&[], 1), None);
        assert_eq!(Stats::of(&[1.0, f64::NAN], 1), None);
    }

    #[test]
    fn quantiles_interpolate_like_r_type_7() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(quantile(&sorted, 0.0), 1.0);
        assert_eq!(quantile(&sorted, 0.25), 2.0);
        assert_eq!(quantile(&sorted, 0.5), 3.0);
        assert!((quantile(&sorted, 0.9) - 7.6).abs() < 1e-12);
        assert_eq!(quantile(&sorted, 1.0), 10.0);
    }

    #[test]
    fn a_far_value_is_an_outlier_and_stays_in_the_sample() {
        let values = [10.0, 10.2, 9.9, 10.1, 10.0, 30.0, 9.8];
        let s = Stats::of(&values, 3).unwrap();
        assert_eq!(s.outliers, vec![5]);
        assert_eq!((s.n, s.max), (7, 30.0));
    }

    /// The interval of the median drawn directly agrees with resampling n indices and counting them, the
    /// definition, to within the noise of 2,000 resamples: a few order statistics either way.
    #[test]
    fn the_median_drawn_directly_is_the_median_of_resampled_indices() {
        fn by_resampling(sorted: &[f64], seed: u64) -> (f64, f64) {
            let n = sorted.len();
            let mut rng = Rng::new(seed);
            let mut medians: Vec<f64> = (0..RESAMPLES)
                .map(|_| {
                    let mut drawn: Vec<f64> = (0..n).map(|_| sorted[rng.below(n as u64) as usize]).collect();
                    drawn.sort_by(f64::total_cmp);
                    quantile(&drawn, 0.5)
                })
                .collect();
            medians.sort_by(f64::total_cmp);
            (quantile(&medians, 0.025), quantile(&medians, 0.975))
        }
        for n in [2usize, 3, 8, 31, 200, 601] {
            // Squares: unevenly spaced, so that a wrong rank shows as a wrong value.
            let sorted: Vec<f64> = (0..n).map(|i| (i * i) as f64).collect();
            let rank_of = |v: f64| sorted.iter().position(|&x| x >= v).unwrap_or(n) as f64;
            let (low, high) = bootstrap_median(&sorted, 7);
            let (want_low, want_high) = by_resampling(&sorted, 11);
            let slack = 2.0 + (n as f64).sqrt() * 0.25;
            assert!((rank_of(low) - rank_of(want_low)).abs() <= slack, "n {n}: {low} against {want_low}");
            assert!((rank_of(high) - rank_of(want_high)).abs() <= slack, "n {n}: {high} against {want_high}");
        }
    }

    #[test]
    fn beta_numbers_have_the_beta_mean() {
        let mut rng = Rng::new(3);
        for (a, b) in [(1.0, 1.0), (1.0, 5.0), (50.0, 51.0), (300.0, 301.0)] {
            let mean = (0..20_000).map(|_| rng.beta(a, b)).sum::<f64>() / 20_000.0;
            let want = a / (a + b);
            assert!((mean - want).abs() < 0.01, "Beta({a}, {b}): mean {mean}, want {want}");
        }
    }

    #[test]
    fn the_interval_is_known_for_a_fixed_seed() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Stats::of(&values, 42).unwrap();
        assert!(s.ci_low < 10.5 && 10.5 < s.ci_high, "{s:?}");
        assert!(s.ci_low >= 6.0 && s.ci_high <= 15.0, "{s:?}");
        assert_eq!(Stats::of(&values, 42).unwrap(), s);
    }

    #[test]
    fn streams_differ_by_name_and_repeat_by_seed() {
        let first = |seed, name| Rng::for_stream(seed, name).next_u64();
        assert_eq!(first(1, "a"), first(1, "a"));
        assert_ne!(first(1, "a"), first(1, "b"));
        assert_ne!(first(1, "a"), first(2, "a"));
    }

    fn samples() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(-1e6f64..1e6, 1..40)
    }

    proptest! {
        #[test]
        fn the_median_and_mean_lie_between_min_and_max(values in samples(), seed in any::<u64>()) {
            let s = Stats::of(&values, seed).unwrap();
            prop_assert!(s.min <= s.median && s.median <= s.max);
            // The mean of values within [min, max] can round just past them.
            let slack = 1e-9 * s.max.abs().max(s.min.abs()).max(1.0);
            prop_assert!(s.min - slack <= s.mean && s.mean <= s.max + slack);
            prop_assert!(s.stddev >= 0.0);
        }

        #[test]
        fn the_interval_contains_the_median_and_lies_in_the_sample(values in samples(), seed in any::<u64>()) {
            let s = Stats::of(&values, seed).unwrap();
            prop_assert!(s.min <= s.ci_low && s.ci_low <= s.median, "{:?}", s);
            prop_assert!(s.median <= s.ci_high && s.ci_high <= s.max, "{:?}", s);
        }

        #[test]
        fn the_bootstrap_is_reproducible_for_a_seed(values in samples(), seed in any::<u64>()) {
            prop_assert_eq!(Stats::of(&values, seed), Stats::of(&values, seed));
        }

        #[test]
        fn order_does_not_matter_but_outliers_follow_the_values(mut values in samples(), seed in any::<u64>()) {
            let before = Stats::of(&values, seed).unwrap();
            let flagged: Vec<f64> = before.outliers.iter().map(|&i| values[i]).collect();
            values.reverse();
            let after = Stats::of(&values, seed).unwrap();
            prop_assert_eq!((before.median, before.ci_low, before.ci_high), (after.median, after.ci_low, after.ci_high));
            let mut again: Vec<f64> = after.outliers.iter().map(|&i| values[i]).collect();
            again.reverse();
            prop_assert_eq!(flagged, again);
        }

        #[test]
        fn below_stays_below(seed in any::<u64>(), bound in 1u64..1000) {
            let mut rng = Rng::new(seed);
            for _ in 0..100 {
                prop_assert!(rng.below(bound) < bound);
            }
        }
    }

    #[test]
    fn mann_whitney_matches_known_values() {
        // Complete separation of 5 and 5: the exact two-sided p is 2 / C(10, 5) = 2 / 252.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // Identical samples: no evidence at all.
        assert!(mann_whitney_p(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]) > 0.99);
        // 3 against 3 can never reach 5%: the smallest two-sided p is 2 / 20.
        assert!(mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) >= 0.1 - 1e-12);
    }
    #[test]
    fn the_u_distribution_sums_to_the_arrangements() {
        let counts = u_distribution(4, 3);
        assert_eq!(counts.iter().sum::<f64>(), 35.0);
        assert_eq!(counts.len(), 13);
        assert_eq!(counts[0], 1.0);
        assert_eq!(counts[12], 1.0);
    }
    #[test]
    fn normal_tail_is_accurate() {
        assert!((normal_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_tail(0.0) - 0.5).abs() < 1e-6);
    }

    proptest::proptest! {
        #[test]
        fn p_values_are_probabilities(a in proptest::collection::vec(0.0f64..10.0, 1..12), b in proptest::collection::vec(0.0f64..10.0, 1..12)) {
            let p = mann_whitney_p(&a, &b);
            proptest::prop_assert!((0.0..=1.0).contains(&p));
            // The test is symmetric in its samples.
            proptest::prop_assert!((p - mann_whitney_p(&b, &a)).abs() < 1e-9);
        }
    }
}
