#!/usr/bin/env bash
# Instruction counts against wall time (docs/ci.md, "Instruction counts against the clock"): the run-to-run
# spread of one program's `run_s` and of its `instructions`, on a quiet machine and on one kept busy by two
# CPU hogs (`yes > /dev/null`, two of them), in interleaved rounds: quiet, busy, quiet, busy, ...
#
#   scripts/count-spread.sh [ROUNDS] [REPETITIONS]   # default: 3 rounds of 10 repetitions a load
#
# Prints one line per round (the coefficient of variation and the spread, max/min - 1, of each metric, and
# how much longer a counted run took than a timed one), then the medians and ranges over the rounds.
# HARNESS names the harness to use (default: target/release/harness, built here).
set -euo pipefail

rounds="${1:-3}"
repetitions="${2:-10}"
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${HARNESS:-}" ]; then
    (cd "$root" && cargo build --release --workspace --quiet)
    HARNESS="$root/target/release/harness"
fi
# It may be given relative to where the script is started: the script works in a folder of its own.
HARNESS="$(realpath "$HARNESS")"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
scratch="$(mktemp -d)"
cd "$scratch"
cat > app.c <<'C'
#include <stdio.h>
int main(void) {
    volatile unsigned long x = 0;
    for (long i = 0; i < 4000000; i++) x += (unsigned long)i * 2654435761u;
    printf("%lu\n", x);
    return 0;
}
C
cc -O1 -o app app.c
cat > spread.toml <<TOML
[experiment]
name = "spread"
repetitions = $repetitions
warmup = 1

[workloads.timed]
tasks = 1
steps = [{ exec = ["./app"] }]

[workloads.counted]
tasks = 1
steps = [{ exec = ["./app"] }]
instructions = true

[matrix]
executor = ["sync"]
workload = ["timed", "counted"]
TOML

hogs=()
stop_hogs() {
    for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
    hogs=()
}
trap stop_hogs EXIT

for round in $(seq 1 "$rounds"); do
    for load in quiet busy; do
        if [ "$load" = busy ]; then
            yes > /dev/null & hogs+=($!)
            yes > /dev/null & hogs+=($!)
        fi
        dir="$("$HARNESS" run spread.toml --quiet --out results 2>/dev/null | tail -1)"
        stop_hogs
        python3 - "$dir/runs.csv" "$load" "$round" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "ok"]
def values(workload, metric):
    return [float(r[metric]) for r in rows if r["workload"] == workload]
def spread(v):
    return statistics.pstdev(v) / statistics.mean(v), max(v) / min(v) - 1
wall = values("timed", "run_s")
count = values("counted", "instructions")
slow = statistics.median(values("counted", "run_s")) / statistics.median(wall)
(wc, ws), (cc, cs) = spread(wall), spread(count)
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{wc:.6f}\t{ws:.6f}\t{cc:.9f}\t{cs:.9f}\t{slow:.1f}\t{statistics.median(wall):.6f}\t{statistics.median(count):.0f}")
PY
    done
done | tee spread.tsv | awk 'BEGIN { print "load\tround\trun_s cv\trun_s max/min-1\tinstructions cv\tinstructions max/min-1\tcounted/timed\trun_s median\tinstructions median" } { print }'

python3 - spread.tsv <<'PY'
import statistics, sys
lines = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
for load in ("quiet", "busy"):
    rows = [l for l in lines if l[0] == load]
    for column, name in ((2, "run_s cv"), (4, "instructions cv"), (6, "counted/timed")):
        values = sorted(float(r[column]) for r in rows)
        print(f"{load}: {name}: median {statistics.median(values):.3g} (from {values[0]:.3g} to {values[-1]:.3g})")
PY
echo "files in $scratch" >&2
