#!/usr/bin/env python3
"""Checks a paired comparison's numbers against an independent computation.

Reads a paired result folder (an experiment with `[ci] baseline`): its runs.csv, and the compare.json that
`harness run` or `harness compare DIR` wrote. For every change of a time, it recomputes from the rows alone,
with code that shares nothing with the harness:

- the rounds where both sides ended ok, and each round's log-ratio;
- the two-sided p-value of Wilcoxon's signed-rank test, by enumerating every assignment of signs to the ranks
  (exact; up to 20 rounds, else by the normal approximation);
- the Hodges-Lehmann estimate (the median of the Walsh averages) and its interval at the confidence
  compare.json states, whose order statistic comes from the same enumeration;

and prints both side by side. With scipy installed, its `wilcoxon` p-value is printed too.

    scripts/check-paired.py RESULT_FOLDER
"""

import csv
import itertools
import json
import math
import statistics
import sys


def null_counts(n):
    """How many of the 2^n sign assignments give each T+ (enumerated when small)."""
    total = n * (n + 1) // 2
    counts = [0] * (total + 1)
    if n <= 20:
        for signs in itertools.product((0, 1), repeat=n):
            counts[sum(rank for rank, s in zip(range(1, n + 1), signs) if s)] += 1
        return counts
    # Beyond 20 rounds, by dynamic programming over the ranks: still no code of the harness's.
    counts[0] = 1
    for rank in range(1, n + 1):
        for t in range(total, rank - 1, -1):
            counts[t] += counts[t - rank]
    return counts


def signed_rank_p(d):
    nonzero = [x for x in d if x != 0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ranked = sorted(nonzero, key=abs)
    t_plus = sum(i + 1 for i, x in enumerate(ranked) if x > 0)
    counts = null_counts(n)
    total = 2**n
    low = sum(counts[: min(t_plus, len(counts) - 1 - t_plus) + 1])
    return min(1.0, 2 * low / total)


def hodges_lehmann(d, confidence):
    n = len(d)
    walsh = sorted((d[i] + d[j]) / 2 for i in range(n) for j in range(i, n))
    estimate = statistics.median(walsh)
    counts = null_counts(n)
    total = 2**n
    alpha = 1 - confidence
    k, cumulative = 0, 0
    while k < len(counts) and (cumulative + counts[k]) / total <= alpha / 2:
        cumulative += counts[k]
        k += 1
    if k == 0:
        return estimate, -math.inf, math.inf
    return estimate, walsh[k - 1], walsh[len(walsh) - k]


def main(folder):
    compare = json.load(open(f"{folder}/compare.json"))
    mode = compare["mode"]
    if mode.get("kind") != "paired":
        sys.exit(f"{folder} holds no paired comparison")
    axis = mode["axis"]
    rows = list(csv.DictReader(open(f"{folder}/runs.csv")))
    try:
        import scipy.stats as scipy_stats
    except ImportError:
        scipy_stats = None
    print(f"{'cell':<48} {'metric':<10} {'n':>3}  {'p (harness)':>11} {'p (here)':>9}"
          f"{'  p (scipy)' if scipy_stats else ''}  {'ratio [CI] (harness)':>28}  {'ratio [CI] (here)':>28}")
    for change in compare["changes"]:
        metric = change["metric"]
        if change.get("judged_by") or not metric.endswith("_s") or change["change"] is None:
            continue
        def side(cell):
            pairs = dict(p.split("=", 1) for p in cell.split(" "))
            out = {}
            for r in rows:
                if r["status"] != "ok" or not r[metric]:
                    continue
                if all(r.get(k, "") == v for k, v in pairs.items()):
                    out[int(r["repetition"])] = float(r[metric])
            return out
        base, head = side(change["baseline_cell"]), side(change["cell"])
        rounds = sorted(set(base) & set(head))
        d = [math.log(head[r] / base[r]) for r in rounds]
        p = signed_rank_p(d)
        estimate, low, high = hodges_lehmann(d, change["confidence"])
        scipy_p = ""
        if scipy_stats:
            scipy_p = f"  {scipy_stats.wilcoxon(d, method='exact' if len(d) <= 50 else 'auto').pvalue:9.4f}"
        ratio = lambda x: math.exp(x) if math.isfinite(x) else x
        ci = change["change_ci"]
        harness_text = f"{1 + change['change']:.4f} [{1 + ci[0]:.4f}, {1 + ci[1]:.4f}]"
        here_text = f"{ratio(estimate):.4f} [{ratio(low):.4f}, {ratio(high):.4f}]"
        print(f"{change['cell']:<48} {metric:<10} {len(d):>3}  {change['p_value']:>11.4f} {p:>9.4f}{scipy_p}"
              f"  {harness_text:>28}  {here_text:>28}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
