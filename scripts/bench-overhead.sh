#!/usr/bin/env bash
# What the harness adds to what it measures: each built-in executor against a plain program doing the same
# (harness/examples/plain_{tokio,rayon,hashing}.rs), and the per-run cost of isolation against hyperfine's.
# Every pair runs alternately, one fresh process each, ROUNDS rounds, in this one process tree, so that what
# the machine does meanwhile falls on both alike. Prints each pair's medians (with min and max) and the
# ratio of each round (its median, quartiles and range); then the memory of one cell of 1,000,000 tasks
# under each executor: the run's peak_memory_bytes (ru_maxrss of its largest process, no cgroup) and the
# harness's own peak (VmHWM).
# docs/measurement.md ("What the harness itself costs") shows and explains a result. bench-waits.sh,
# bench-speedup.sh and bench-per-run.sh measure one figure each, in more rounds.
#
#   scripts/bench-overhead.sh [ROUNDS]        # default 10; needs hyperfine
set -euo pipefail

rounds=${1:-10}
command -v hyperfine > /dev/null || { echo "bench-overhead.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
source "$(dirname "$0")/bench-lib.sh"
bench_start

experiment async_waits 1 10000 '[{ sleep = "10ms" }]' async 'flavor = "current_thread"'
experiment async_empty 1 100000 '[]' async 'flavor = "current_thread"'
experiment threaded_waits 1 1000 '[{ sleep = "10ms" }]' threaded 'workers = 100'
experiment hash_sync 1 256 '[{ compute = "4MiB" }]' sync
experiment hash_threaded 1 256 '[{ compute = "4MiB" }]' threaded 'workers = 2'
experiment hash_multiprocess 1 256 '[{ compute = "4MiB" }]' multiprocess 'workers = 2'
experiment empty_30 30 0 '[]' sync
experiment empty_600 600 0 '[]' sync

for round in $(seq "$rounds"); do
    echo "async_waits $(anchor_run_s "$examples/plain_tokio" 10000 10000000) $(harness_run_s async_waits)"
    echo "async_empty $(anchor_run_s "$examples/plain_tokio" 100000 0) $(harness_run_s async_empty)"
    echo "threaded_waits $(anchor_run_s "$examples/plain_rayon" 100 1000 10000000) $(harness_run_s threaded_waits)"
    # Each of the five, the fastest of 3 turns in the round: a run of 40 to 100 ms that the host slowed
    # down (it takes CPU time away at random) would make the speedup of its round mean nothing.
    one=; sync=; two=; threaded=; multiprocess=
    for _ in 1 2 3; do
        one=$(fastest "$one" "$(anchor_run_s "$examples/plain_hashing" 1 256 4194304 1)")
        sync=$(fastest "$sync" "$(harness_run_s hash_sync)")
        two=$(fastest "$two" "$(anchor_run_s "$examples/plain_hashing" 2 256 4194304 1)")
        threaded=$(fastest "$threaded" "$(harness_run_s hash_threaded)")
        multiprocess=$(fastest "$multiprocess" "$(harness_run_s hash_multiprocess)")
    done
    echo "speedup_threaded $(echo "$one / $two" | bc -l) $(echo "$sync / $threaded" | bc -l)"
    echo "speedup_multiprocess $(echo "$one / $two" | bc -l) $(echo "$sync / $multiprocess" | bc -l)"
    # Alternate which of the pair goes first, so neither always runs on the cache the other left.
    if (( round % 2 )); then
        h30=$(wall_s hyperfine -N --runs 30 true); h600=$(wall_s hyperfine -N --runs 600 true)
        e30=$(wall_s "$harness" run --quiet --out "$work/results" "$work/empty_30.toml")
        e600=$(wall_s "$harness" run --quiet --out "$work/results" "$work/empty_600.toml")
    else
        e30=$(wall_s "$harness" run --quiet --out "$work/results" "$work/empty_30.toml")
        e600=$(wall_s "$harness" run --quiet --out "$work/results" "$work/empty_600.toml")
        h30=$(wall_s hyperfine -N --runs 30 true); h600=$(wall_s hyperfine -N --runs 600 true)
    fi
    echo "per_run $(per_run "$h30" "$h600") $(per_run "$e30" "$e600")"
    # The same runs through `harness __exec` (the path of plugins that start a thread when they load).
    x30=$(wall_s "$harness" run --quiet --spawn exec --out "$work/results" "$work/empty_30.toml")
    x600=$(wall_s "$harness" run --quiet --spawn exec --out "$work/results" "$work/empty_600.toml")
    echo "per_run_exec $(per_run "$h30" "$h600") $(per_run "$x30" "$x600")"
    rm -rf "$work/results"
done > "$work/pairs"

bench_load
ratios "$work/pairs" "
async_waits|run_s, 10,000 tasks x sleep 10 ms|plain tokio|async current_thread|s
async_empty|run_s, 100,000 empty tasks|plain tokio|async current_thread|s
threaded_waits|run_s, 1,000 tasks x sleep 10 ms|plain rayon, 100 threads|threaded, 100 workers|s
speedup_threaded|speedup over one thread, 256 x 4 MiB|plain, 2 threads|threaded, 2 workers|x
speedup_multiprocess|speedup over one thread, 256 x 4 MiB|plain, 2 threads|multiprocess, 2 workers|x
per_run|cost of one more run, (600 runs - 30) / 570|hyperfine -N true|harness, empty workload|ms
per_run_exec|the same, \`--spawn exec\`|hyperfine -N true|harness, empty workload|ms"

# Memory: 1,000,000 tasks hashing 64 bytes in one cell under each executor, without a cgroup so that
# peak_memory_bytes is the largest process's ru_maxrss; the harness's own VmHWM is read while it runs.
cat > "$work/million.toml" <<EOF
[experiment]
name = "million"
repetitions = 1
warmup = 0
timeout = "10m"

[workloads.w]
tasks = 1000000
steps = [{ compute = "64B" }]

[matrix]
include = [
    { executor = "sync" },
    { executor = "threaded", workers = 2 },
    { executor = "threaded", workers = 100 },
    { executor = "async", flavor = "current_thread" },
    { executor = "async", flavor = "multi_thread", workers = 2 },
    { executor = "multiprocess", workers = 2 },
]
EOF
HARNESS_CGROUP=off "$harness" run --quiet --out "$work/results" "$work/million.toml" > /dev/null &
pid=$!
hwm=0
while kill -0 "$pid" 2> /dev/null; do
    now=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status" 2> /dev/null || true)
    [[ -n $now ]] && hwm=$now
    sleep 0.05
done
wait "$pid"
echo
echo "1,000,000 tasks x compute 64 B, one cell each (no cgroup: peak_memory_bytes is ru_maxrss):"
echo
echo "| executor | status | run_s | peak_memory_bytes |"
echo "| --- | --- | --- | --- |"
python3 - "$work/results/million/latest/runs.csv" <<'EOF'
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    workers = row.get("workers", "")
    executor = " ".join(x for x in (row["executor"], row.get("flavor", ""), workers and f"{workers} workers") if x)
    print(f'| {executor} | {row["status"]} | {float(row["run_s"]):.3f} s | {int(row["peak_memory_bytes"]) / 2**20:.1f} MiB |')
EOF
echo
echo "the harness's own peak resident memory (VmHWM): $((hwm / 1024)) MiB"
