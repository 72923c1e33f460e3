#!/usr/bin/env bash
# The event loop on many waits: the run_s of 10,000 tasks each sleeping 10 ms under `async` with
# `flavor = "current_thread"`, against a plain tokio current_thread program that spawns 10,000
# `tokio::time::sleep(10ms)` and joins them (harness/examples/plain_tokio.rs; its run_s, like the
# executor's, leaves out the runtime's start). The two alternate, one fresh process each, which goes first
# changing from round to round, so that what the machine does meanwhile falls on both alike. Prints each
# side's median and the ratio harness / plain of each round: median, quartiles and range (target: 1.05 at
# most). docs/measurement.md ("Against the raw primitives") shows and explains a result.
#
#   scripts/bench-waits.sh [ROUNDS]        # default 20; builds the release workspace and the examples
set -euo pipefail

rounds=${1:-20}
source "$(dirname "$0")/bench-lib.sh"
bench_start

experiment async_waits 1 10000 '[{ sleep = "10ms" }]' async 'flavor = "current_thread"'

# One side of a round: the plain program's run_s, or a harness build's (the baseline's with `base`).
side() {
    case $1 in
        plain) anchor_run_s "$examples/plain_tokio" 10000 10000000 ;;
        ours) harness_run_s async_waits ;;
        base) harness_run_s async_waits "$BASELINE" ;;
    esac
}
alternate "$rounds" async_waits plain > "$work/pairs"

bench_load
ratios "$work/pairs" "async_waits|run_s, 10,000 tasks x sleep 10 ms|plain tokio, current_thread|async, current_thread|s"
