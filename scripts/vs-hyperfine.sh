#!/usr/bin/env bash
# Times one command two ways, interleaved: with the harness (`sync`, one task per run, the command as an
# `exec` step) and with `hyperfine -N` (no shell). Both start the program directly and wait for it; the
# harness also reads and hashes its standard output, hyperfine sends it to /dev/null. Prints both medians
# and their ratio. docs/measurement.md has the figures.
#
#   cargo build --release --workspace
#   scripts/vs-hyperfine.sh [ROUNDS] [RUNS_PER_ROUND]     # default 40 rounds of 3 runs each
#
# The command is gzip -9 over a file of seeded text, sized for 20 to 50 ms of CPU work.
set -euo pipefail

# Short rounds: on a shared machine the load changes from second to second, and both tools must see alike.
rounds=${1:-40}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
harness=$root/target/release/harness
command -v hyperfine > /dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$harness" ] || { echo "build the harness first: cargo build --release --workspace" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seq -f "%g line of the input, the same on every machine" 1 60000 > "$work/input.txt"
cat > "$work/one.toml" <<TOML
[experiment]
name = "one"
repetitions = $runs
warmup = 1

[workloads.gzip]
tasks = 1
steps = [{ exec = ["gzip", "-c", "-9", "$work/input.txt"] }]

[matrix]
executor = ["sync"]
TOML

: > "$work/harness.txt"
: > "$work/hyperfine.txt"
for _ in $(seq "$rounds"); do
    "$harness" run --quiet --out "$work/results" "$work/one.toml" > /dev/null
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "run_s") c = i } NR > 1 { print $c }' \
        "$work/results/one/latest/runs.csv" >> "$work/harness.txt"
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/h.json" "gzip -c -9 $work/input.txt" > /dev/null 2>&1
    python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["results"][0]["times"]]' \
        "$work/h.json" >> "$work/hyperfine.txt"
done

stats() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        q1 = v[int(NR / 4) + 1]; q3 = v[int(3 * NR / 4)]
        printf "%.6f %.6f %.6f %.6f %d\n", m, q1, q3, v[1], NR }'
}
read -r hm hq1 hq3 hmin hn < <(stats "$work/harness.txt")
read -r fm fq1 fq3 fmin fn < <(stats "$work/hyperfine.txt")
awk -v hm="$hm" -v hq1="$hq1" -v hq3="$hq3" -v hmin="$hmin" -v hn="$hn" \
    -v fm="$fm" -v fq1="$fq1" -v fq3="$fq3" -v fmin="$fmin" -v fn="$fn" 'BEGIN {
    printf "harness sync run_s  median %.2f ms  (quartiles %.2f to %.2f, min %.2f, %d runs)\n", hm * 1e3, hq1 * 1e3, hq3 * 1e3, hmin * 1e3, hn
    printf "hyperfine -N        median %.2f ms  (quartiles %.2f to %.2f, min %.2f, %d runs)\n", fm * 1e3, fq1 * 1e3, fq3 * 1e3, fmin * 1e3, fn
    printf "ratio harness / hyperfine  median %.4f (%+.2f%%), min %.4f (%+.2f%%)\n", hm / fm, (hm / fm - 1) * 100, hmin / fmin, (hmin / fmin - 1) * 100 }'
