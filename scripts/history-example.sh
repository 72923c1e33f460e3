#!/usr/bin/env bash
# The history's walk-through (docs/ci.md, "A history over commits"): a git repository of a small C program
# and its experiment, 20 commits, each built and run with `harness run --history`, as a CI job would on
# every push. Commit 6 makes the program faster (80% of the work), commit 13 slower again (back to all of
# it, +25%). Then `harness history report` and `harness history check`, which fails on commit 13.
#
#   scripts/history-example.sh [DIR]   # default: a new scratch folder
#
# The experiment runs each build twice: timed (`run_s`) and under Valgrind (`instructions`), where
# Valgrind is installed. HARNESS names the harness to use (default: target/release/harness, built here).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(mktemp -d)}"
if [ -z "${HARNESS:-}" ]; then
    (cd "$root" && cargo build --release --workspace --quiet)
    HARNESS="$root/target/release/harness"
fi
# Both may be given relative to where the script is started: the script works in DIR/repo.
HARNESS="$(realpath "$HARNESS")"
if [ -e "$dir/repo" ]; then
    echo "$dir already holds an example history: give a new folder" >&2
    exit 2
fi
mkdir -p "$dir/repo"
dir="$(realpath "$dir")"
cd "$dir/repo"
git init -q -b main
git config user.name "Example"
git config user.email "example@example.invalid"

counted=""
if command -v valgrind >/dev/null; then
    counted='
[workloads.counted]
description = "The same program under Valgrind: its instructions"
tasks = 1
steps = [{ exec = ["./app"] }]
instructions = true
'
fi
cat > bench.toml <<TOML
[experiment]
name = "example"
description = "A program that hashes numbers, measured at every commit"
repetitions = 5
warmup = 1

[workloads.timed]
description = "The program, timed"
tasks = 1
steps = [{ exec = ["./app"] }]
$counted
[matrix]
executor = ["sync"]
workload = [$( [ -n "$counted" ] && echo '"timed", "counted"' || echo '"timed"')]

[ci]
history = "../history.sqlite"
metrics = ["run_s"$( [ -n "$counted" ] && echo ', "instructions"')]
TOML

for commit in $(seq 1 20); do
    work=4000000
    if [ "$commit" -ge 6 ] && [ "$commit" -lt 13 ]; then work=3200000; fi
    cat > app.c <<C
#include <stdio.h>
/* Commit $commit. */
int main(void) {
    volatile unsigned long x = 0;
    for (long i = 0; i < $work; i++) x += (unsigned long)i * 2654435761u;
    printf("%lu\n", x);
    return 0;
}
C
    cc -O1 -o app app.c
    git add bench.toml app.c
    git commit -q -m "commit $commit"
    if ! "$HARNESS" run bench.toml --quiet --out "$dir/results" >/dev/null 2>"$dir/run-$commit.log"; then
        echo "commit $commit: harness run failed; its output:" >&2
        cat "$dir/run-$commit.log" >&2
        exit 1
    fi
    echo "commit $commit ($(git rev-parse --short HEAD)): measured" >&2
done

"$HARNESS" history report "$dir/history.sqlite" --out "$dir/report"
set +e
"$HARNESS" history check "$dir/history.sqlite"
echo "history check exited with $?" >&2
