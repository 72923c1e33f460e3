#!/usr/bin/env bash
# Compares the run_s the harness reports for CPU-bound work with the same work timed by a standalone
# program (harness/examples/standalone_compute.rs). The two alternate, one run per fresh process each, so
# that whatever the machine does meanwhile falls on both alike. docs/measurement.md explains the result.
#
#   cargo build --release --workspace && cargo build --release --example standalone_compute
#   scripts/accuracy.sh [PAIRS]
set -euo pipefail

pairs=${1:-40}
root=$(cd "$(dirname "$0")/.." && pwd)
harness=$root/target/release/harness
standalone=$root/target/release/examples/standalone_compute
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One measured run per harness invocation: the work of experiments/accuracy.toml, 4,000 tasks x 1 MiB.
sed -e 's/^repetitions = .*/repetitions = 1/' -e 's/^warmup = .*/warmup = 0/' \
    "$root/experiments/accuracy.toml" > "$work/one.toml"

# How busy the rest of the machine was meanwhile.
source "$root/scripts/cpu-share.sh"
others_start "$work"

for _ in $(seq "$pairs"); do
    alone=$("$standalone" 4000 1048576 7 1 | awk '$1 == "median_s" { print $2 }')
    "$harness" run --quiet --out "$work/results" "$work/one.toml" > /dev/null
    inside=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "run_s") c = i } NR == 2 { print $c }' \
        "$work/results/accuracy/latest/runs.csv")
    echo "$alone $inside"
done > "$work/pairs"

others_share "$work"

column_stats() {
    cut -d' ' -f"$1" "$work/pairs" | sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.6f %.6f\n", m, v[1] }'
}
read -r alone_median alone_min < <(column_stats 1)
read -r inside_median inside_min < <(column_stats 2)
awk -v am="$alone_median" -v an="$alone_min" -v im="$inside_median" -v in_="$inside_min" -v n="$pairs" \
    -v others="$others" 'BEGIN {
    printf "pairs                 %d\n", n
    printf "other processes used  %.0f%% of the CPU time meanwhile\n", others * 100
    printf "standalone   median %.6f s   min %.6f s\n", am, an
    printf "harness run_s median %.6f s   min %.6f s\n", im, in_
    printf "difference   median %+.2f%%     min %+.2f%%\n", (im / am - 1) * 100, (in_ / an - 1) * 100 }'
echo "pairs (standalone, harness run_s) in order:"
tr '\n' ';' < "$work/pairs"
echo
