#!/usr/bin/env bash
# The cost of one isolated run: the marginal wall time of one more run of an empty workload (`sync`,
# `tasks = 0`, no warmup), (wall of 600 runs - wall of 30) / 570, against the same figure for
# `hyperfine -N --runs N true`. Which of the two goes first changes from round to round. Prints each side's
# median and the ratio harness / hyperfine of each round: median, quartiles and range (target: 0.5 at most).
# With `exec` as a second argument, the harness's runs go through `harness __exec` (`--spawn exec`).
# With BASELINE=PATH, another build is timed in the same rounds (see bench-lib.sh). docs/measurement.md
# ("Against the raw primitives") shows and explains a result.
#
#   scripts/bench-per-run.sh [ROUNDS] [exec]        # default 10 rounds; needs hyperfine
set -euo pipefail

rounds=${1:-10}
spawn=${2:-}
command -v hyperfine > /dev/null || { echo "bench-per-run.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
source "$(dirname "$0")/bench-lib.sh"
bench_start

experiment empty_30 30 0 '[]' sync
experiment empty_600 600 0 '[]' sync
harness_wall_s() { wall_s "$1" run --quiet ${spawn:+--spawn "$spawn"} --out "$work/results" "$work/$2.toml"; }
# The cost of one more run of one side: hyperfine's, this build's or the baseline's.
side() {
    case $1 in
        hyperfine) per_run "$(wall_s hyperfine -N --runs 30 true)" "$(wall_s hyperfine -N --runs 600 true)" ;;
        ours) per_run "$(harness_wall_s "$harness" empty_30)" "$(harness_wall_s "$harness" empty_600)" ;;
        base) per_run "$(harness_wall_s "$BASELINE" empty_30)" "$(harness_wall_s "$BASELINE" empty_600)" ;;
    esac
}
alternate "$rounds" per_run hyperfine > "$work/pairs"

bench_load
ratios "$work/pairs" "per_run|cost of one more run, (600 runs - 30) / 570|hyperfine -N true|harness${spawn:+ --spawn $spawn}, empty workload|ms"
