//! Statistics of paired differences: Wilcoxon's signed-rank test and the Hodges-Lehmann estimate with its
//! exact confidence interval (Hollander, Wolfe and Chicken, *Nonparametric Statistical Methods*, 3rd ed.,
//! sections 3.1 to 3.3).
//!
//! A paired comparison runs the two sides of a pair back to back, in an order drawn at random for each
//! round; the difference of the two (of their logarithms, for a ratio) is one observation. The random
//! order makes the two sides exchangeable when nothing changed, so the differences are symmetric about
//! zero whatever the machine did during the round: the signed-rank test is then exact, and so is the
//! interval below under a shift of the differences, without assuming any distribution of the noise.
//!
//! - The estimate is the median of the Walsh averages `(d_i + d_j) / 2`, `i <= j` (the pseudo-median).
//! - The `1 - alpha` interval is `[W_(k), W_(M + 1 - k)]` of the `M = n (n + 1) / 2` sorted Walsh
//!   averages, `k` the largest count with `P(T+ <= k - 1) <= alpha / 2` under the null distribution of
//!   the signed-rank statistic `T+`, computed exactly by counting the subsets of `1..=n` of each sum.
//! - Beyond [`WALSH_MAX`] differences (`M` would pass two million averages) the interval is the sign
//!   test's, from order statistics of the differences themselves: exact for the median, and the estimate
//!   is the median.

/// The most differences the Walsh averages are formed of; beyond, the sign test's interval.
pub(crate) const WALSH_MAX: usize = 2000;

/// The most differences whose null distribution is counted exactly; beyond, the normal approximation.
const EXACT_MAX: usize = 400;

/// An estimate of the centre of the differences with its interval; a bound is infinite when `n` is too
/// small for any interval of the asked confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// How many subsets of `1..=n` have each sum from 0 to `n (n + 1) / 2`, as fractions of `2^n`: the null
/// distribution of the signed-rank statistic `T+`.
fn null_distribution(n: usize) -> Vec<f64> {
    let total = n * (n + 1) / 2;
    let mut p = vec![0.0; total + 1];
    p[0] = 1.0;
    for rank in 1..=n {
        // Each rank is in the positive set or not, with probability one half.
        for sum in (0..=rank * (rank + 1) / 2).rev() {
            let with = if sum >= rank { p[sum - rank] } else { 0.0 };
            p[sum] = f64::midpoint(p[sum], with);
        }
    }
    p
}

/// `k` of the `1 - alpha` interval for `n` differences: the largest count with `P(T+ <= k - 1) <= alpha / 2`.
/// Zero means no interval of that confidence exists with `n` differences.
pub(crate) fn critical_count(n: usize, alpha: f64) -> usize {
    if n == 0 {
        return 0;
    }
    if n <= EXACT_MAX {
        let p = null_distribution(n);
        let mut cumulative = 0.0;
        for (k, mass) in p.iter().enumerate() {
            // P(T+ <= k - 1) is `cumulative` before adding `mass`; stop at the first k past alpha / 2.
            if cumulative + mass > alpha / 2.0 {
                return k;
            }
            cumulative += mass;
        }
        return p.len();
    }
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    let sd = (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt();
    let z = normal_quantile(1.0 - alpha / 2.0);
    (mean - z * sd + 0.5).floor().max(0.0) as usize
}

/// The two-sided p-value of Wilcoxon's signed-rank test of `differences` against zero. Zeros are left out
/// (Wilcoxon's way); equal magnitudes share their average rank, and then, or beyond [`EXACT_MAX`], the
/// normal approximation with the tie correction is used.
pub(crate) fn signed_rank_p(differences: &[f64]) -> f64 {
    let mut nonzero: Vec<f64> = differences.iter().copied().filter(|d| *d != 0.0 && !d.is_nan()).collect();
    let n = nonzero.len();
    if n == 0 {
        return 1.0;
    }
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let (mut t_plus, mut tie_term, mut i) = (0.0, 0.0, 0);
    while i < n {
        let mut j = i;
        while j + 1 < n && nonzero[j + 1].abs().total_cmp(&nonzero[i].abs()).is_eq() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        t_plus += rank * nonzero[i..=j].iter().filter(|d| **d > 0.0).count() as f64;
        i = j + 1;
    }
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    if tie_term == 0.0 && n <= EXACT_MAX {
        let p = null_distribution(n);
        let t = t_plus.round() as usize;
        let t = t.min(p.len() - 1 - t);
        let tail: f64 = p[..=t].iter().sum();
        return (2.0 * tail).min(1.0);
    }
    let variance = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((t_plus - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    (2.0 * super::normal_tail(z)).min(1.0)
}

/// The Hodges-Lehmann estimate of the centre of `differences` and its `1 - alpha` interval (see the
/// module's documentation); `None` without differences or with one that is not a number.
pub(crate) fn hodges_lehmann(differences: &[f64], alpha: f64) -> Option<Interval> {
    let n = differences.len();
    if n == 0 || differences.iter().any(|d| d.is_nan()) {
        return None;
    }
    let mut sorted = differences.to_vec();
    sorted.sort_by(f64::total_cmp);
    if n > WALSH_MAX {
        return Some(sign_interval(&sorted, alpha));
    }
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push(sorted[i] / 2.0 + sorted[j] / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    let estimate = super::quantile(&walsh, 0.5);
    let k = critical_count(n, alpha);
    let (low, high) = if k == 0 || k > walsh.len() / 2 {
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        (walsh[k - 1], walsh[walsh.len() - k])
    };
    Some(Interval { estimate, low: low.min(estimate), high: high.max(estimate) })
}

/// The sign test's interval of the median of sorted `sorted`: order statistics `(k, n + 1 - k)` with `k`
/// from the binomial distribution (its normal approximation: only used for thousands of differences).
fn sign_interval(sorted: &[f64], alpha: f64) -> Interval {
    let n = sorted.len() as f64;
    let z = normal_quantile(1.0 - alpha / 2.0);
    let k = ((n - z * n.sqrt()) / 2.0).floor().max(0.0) as usize;
    let estimate = super::quantile(sorted, 0.5);
    if k == 0 {
        return Interval { estimate, low: f64::NEG_INFINITY, high: f64::INFINITY };
    }
    Interval { estimate, low: sorted[k - 1], high: sorted[sorted.len() - k] }
}

/// The `p` quantile of the standard normal distribution (Acklam's rational approximation, relative error
/// below 1.2e-9), for `p` in (0, 1).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
// Probabilities compared exactly are sums of powers of two.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::stats::Rng;

    #[test]
    fn the_null_distribution_counts_subsets() {
        // Subsets of {1, 2, 3}: sums 0, 1, 2, 3, 3, 4, 5, 6.
        let p = null_distribution(3);
        let counts: Vec<f64> = p.iter().map(|x| x * 8.0).collect();
        assert_eq!(counts, [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0]);
        assert!((null_distribution(20).iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn critical_counts_match_the_tables() {
        // Hollander and Wolfe, table A.4 (lower critical values of T+, two-sided 0.05): n = 6 gives 1
        // (P(T+ <= 0) = 1/64 <= 0.025), n = 10 gives 9, n = 20 gives 53 (k = value + 1).
        assert_eq!(critical_count(5, 0.05), 0);
        assert_eq!(critical_count(6, 0.05), 1);
        assert_eq!(critical_count(10, 0.05), 9);
        assert_eq!(critical_count(20, 0.05), 53);
        // The normal approximation agrees with the exact count where both apply.
        let nf = 300.0f64;
        let approx = (nf * (nf + 1.0) / 4.0 - 1.959_964 * (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt() + 0.5)
            .floor() as usize;
        assert!(critical_count(300, 0.05).abs_diff(approx) <= 2, "{} {approx}", critical_count(300, 0.05));
    }

    #[test]
    fn signed_rank_p_values_are_exact_without_ties() {
        // Five positive differences: T+ = 15, the most extreme of 32 arrangements, twice.
        assert_eq!(signed_rank_p(&[1.0, 2.0, 3.0, 4.0, 5.0]), 2.0 / 32.0);
        assert_eq!(signed_rank_p(&[0.0, 0.0]), 1.0);
        // Symmetric about zero: no evidence.
        assert!(signed_rank_p(&[-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]) > 0.9);
        // With ties the normal approximation, still a probability.
        let p = signed_rank_p(&[1.0, 1.0, 1.0, 2.0, 2.0, -1.0, 3.0, 3.0, 3.0, 3.0]);
        assert!(p > 0.0 && p < 0.05, "{p}");
    }

    #[test]
    fn the_hodges_lehmann_interval_brackets_a_shift() {
        let d = [0.11, 0.09, 0.1, 0.12, 0.08, 0.1, 0.105, 0.095, 0.1, 0.1];
        let i = hodges_lehmann(&d, 0.05).unwrap();
        assert!((i.estimate - 0.1).abs() < 0.005, "{i:?}");
        assert!(i.low > 0.08 && i.high < 0.12 && i.low < 0.1 && i.high > 0.1, "{i:?}");
        // Five differences give no 95% interval: the bounds are infinite.
        let i = hodges_lehmann(&d[..5], 0.05).unwrap();
        assert!(i.low.is_infinite() && i.high.is_infinite());
        assert_eq!(hodges_lehmann(&[], 0.05), None);
        // Thousands of differences take the sign test's interval.
        let mut rng = Rng::new(3);
        let many: Vec<f64> = (0..5000).map(|_| 0.5 + (rng.below(1000) as f64 - 500.0) / 1e4).collect();
        let i = hodges_lehmann(&many, 0.05).unwrap();
        assert!(i.low < 0.5 && 0.5 < i.high && i.high - i.low < 0.01, "{i:?}");
    }

    #[test]
    fn the_interval_covers_the_centre_as_often_as_it_says() {
        // Symmetric noise of three shapes about a shift of 0.2: a 90% interval covers it about 90% of the
        // time (at least, since the count is discrete).
        let mut rng = Rng::new(11);
        let mut uniform = || (rng.below(1 << 20) as f64 + 0.5) / f64::from(1 << 20);
        let trials = 2000u32;
        let mut covered = 0;
        for trial in 0..trials {
            let d: Vec<f64> = (0..12)
                .map(|_| {
                    let u = uniform();
                    let noise = match trial % 3 {
                        0 => u - 0.5,
                        1 => normal_quantile(u),
                        _ => (u / (1.0 - u)).ln(),
                    };
                    0.2 + noise
                })
                .collect();
            let i = hodges_lehmann(&d, 0.1).unwrap();
            covered += u32::from(i.low <= 0.2 && 0.2 <= i.high);
        }
        let rate = f64::from(covered) / f64::from(trials);
        assert!((0.88..=0.95).contains(&rate), "{rate}");
    }

    #[test]
    fn normal_quantiles_are_accurate() {
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090_232_306).abs() < 1e-8);
        for z in [0.3, 1.0, 2.5, 4.0] {
            assert!((super::super::normal_tail(normal_quantile(1.0 - 0.1 * z / 4.0)) - 0.1 * z / 4.0).abs() < 1e-6);
        }
    }
}
