#!/usr/bin/env bash
# Processes and threads on CPU work: the speedup of 2 workers over `sync` hashing 256 x 4 MiB (the
# `compute` step), under `threaded` and `multiprocess`, against the speedup of a plain program doing the
# same hashing on two threads over one (harness/examples/plain_hashing.rs: the same bytes, keys and hash).
# Each round takes the fastest of TURNS turns of each of the five (plain with one and two threads, `sync`,
# `threaded`, `multiprocess`; and the three of the BASELINE build, see bench-lib.sh), which alternate
# within each turn: a run of 40 to 100 ms that the host slowed would make its round's speedup mean nothing. Prints each speedup's median and the ratio harness /
# plain of each round: median, quartiles and range (target: 0.95 at least). docs/measurement.md
# ("Against the raw primitives") shows and explains a result.
#
#   scripts/bench-speedup.sh [ROUNDS] [TURNS]        # default 10 rounds of 3 turns
set -euo pipefail

rounds=${1:-10}
turns=${2:-3}
source "$(dirname "$0")/bench-lib.sh"
bench_start

experiment hash_sync 1 256 '[{ compute = "4MiB" }]' sync
experiment hash_threaded 1 256 '[{ compute = "4MiB" }]' threaded 'workers = 2'
experiment hash_multiprocess 1 256 '[{ compute = "4MiB" }]' multiprocess 'workers = 2'

# One run of one of the sides, its run_s.
side() {
    case $1 in
        one) anchor_run_s "$examples/plain_hashing" 1 256 4194304 1 ;;
        two) anchor_run_s "$examples/plain_hashing" 2 256 4194304 1 ;;
        base_*) harness_run_s "hash_${1#base_}" "$BASELINE" ;;
        *) harness_run_s "hash_$1" ;;
    esac
}
sides=(one sync two threaded multiprocess ${BASELINE:+base_sync base_threaded base_multiprocess})
for round in $(seq "$rounds"); do
    declare -A best=()
    for turn in $(seq "$turns"); do
        # Each turn starts with another side, so that none always runs after the same one.
        for i in "${!sides[@]}"; do
            s=${sides[(i + turn + round) % ${#sides[@]}]}
            best[$s]=$(fastest "${best[$s]:-}" "$(side "$s")")
        done
    done
    plain=$(echo "${best[one]} / ${best[two]}" | bc -l)
    for executor in threaded multiprocess; do
        base=${BASELINE:+$(echo "${best[base_sync]} / ${best[base_$executor]}" | bc -l)}
        echo "speedup_$executor $plain $(echo "${best[sync]} / ${best[$executor]}" | bc -l) $base"
    done
    echo "one_thread ${best[one]} ${best[sync]} ${best[base_sync]:-}"
    rm -rf "$work/results"
done > "$work/pairs"

bench_load
ratios "$work/pairs" "
speedup_threaded|speedup over one thread, 256 x 4 MiB|plain, 2 threads|threaded, 2 workers|x
speedup_multiprocess|speedup over one thread, 256 x 4 MiB|plain, 2 threads|multiprocess, 2 workers|x
one_thread|run_s, one thread, 256 x 4 MiB|plain, 1 thread|sync|s"
