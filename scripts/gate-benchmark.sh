#!/usr/bin/env bash
# The gate's own benchmark (docs/ci.md, "The gate's operating characteristic"): how often it cries wolf on
# unchanged code and how often it catches a slowdown, on this machine, quiet and with one core kept busy.
#
# For each load (quiet, busy) and each mode (paired: `[ci] baseline`; folders: `--baseline DIR`), RUNS runs
# of a small experiment of two cells (CPU work: 10 tasks hashing 10 MiB each; waits: 5 tasks sleeping 2 ms
# each, one after another) whose changed side is slower by a factor of 1 (A/A), 1.05, 1.10 and 1.5, both
# cells at once. Paired runs have `repetitions = { min = 6, max = 60 }`, runs compared with a folder 30
# repetitions; every run gates `run_s` at the default 5%.
# The busy load is a shell busy loop the script starts and stops around the runs.
#
#   scripts/gate-benchmark.sh [RUNS] [LOADS] [MODES]   # default: 20 "quiet busy" "paired folders"
#
# One line per run goes to standard error; the table of counts goes to standard output, and every line to
# gate-benchmark.tsv in the scratch folder it names.
set -euo pipefail

runs="${1:-20}"
loads="${2:-quiet busy}"
modes="${3:-paired folders}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --workspace --quiet
harness="$root/target/release/harness"

scratch="$(mktemp -d)"
busy_pid=""
stop_busy() {
    if [ -n "$busy_pid" ]; then
        kill "$busy_pid" 2>/dev/null || true
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=""
    fi
}
trap 'stop_busy' EXIT

# The factor as sizes and durations: 10 MiB of hashing and a 2 ms wait, times the factor.
work() { python3 -c "print(f'{round(10 * 1024 * $1)}KiB')"; }
wait_for() { python3 -c "print(f'{round(2000 * $1)}us')"; }

# An experiment file: `paired` compares version=head with version=base in one run; `folders` runs one side,
# the base or the changed one, for `--baseline`.
experiment() {
    local mode="$1" base_work="$2" base_wait="$3" head_work="$4" head_wait="$5"
    # A range stops when its paired comparisons are decided; a comparison of two folders is made once the
    # run is done, so that mode runs a fixed count.
    local repetitions="{ min = 6, max = 60 }"
    [ "$mode" = folders ] && repetitions=30
    # Paired, the sizes are each version's `include` values; two folders match cells by their axis values,
    # so there the sizes are written into the steps.
    local work='${work}' wait='${wait}'
    [ "$mode" = folders ] && work="$head_work" && wait="$head_wait"
    cat <<EOF
[experiment]
name = "gate-$mode"
repetitions = $repetitions
warmup = 1

[workloads.cpu]
tasks = 10
steps = [{ compute = "$work" }]

[workloads.wait]
tasks = 5
steps = [{ sleep = "$wait" }]

[matrix]
executor = ["sync"]
workload = ["cpu", "wait"]
EOF
    if [ "$mode" = paired ]; then
        cat <<EOF
version = ["base", "head"]
include = [
    { version = "base", work = "$base_work", wait = "$base_wait" },
    { version = "head", work = "$head_work", wait = "$head_wait" },
]

[ci]
baseline = { version = "base" }
metrics = ["run_s"]
EOF
    else
        printf '\n[ci]\nmetrics = ["run_s"]\n'
    fi
}

# One line per run: load, mode, factor, run, exit code, the verdict and rounds of each cell, others' share.
describe() {
    python3 - "$@" <<'EOF'
import json, sys
load, mode, factor, run, code, folder = sys.argv[1:7]
compare = json.load(open(f"{folder}/compare.json"))
environment = json.load(open(f"{folder}/environment.json"))
# Experiments shorter than a second record no load.
others = (environment.get("machine_load") or {}).get("others_cpu_share")
stopped = {s["cell"]: s["rounds"] for s in (environment.get("rounds") or {}).get("stopped", [])}
out = [load, mode, factor, run, code]
for workload in ("cpu", "wait"):
    change = next(c for c in compare["changes"] if f"workload={workload}" in c["cell"] and c["metric"] == "run_s")
    rounds = max((r for cell, r in stopped.items() if f"workload={workload}" in cell), default=change["current_n"])
    detectable = change.get("detectable")
    out += [change["verdict"], str(rounds), f'{100 * (change["change"] or 0):+.1f}',
            f"{100 * detectable:+.1f}" if detectable is not None else "-"]
out.append(f"{100 * others:.0f}" if others is not None else "-")
print("\t".join(out))
EOF
}

echo -e "load\tmode\tfactor\trun\texit\tcpu\tcpu_rounds\tcpu_change\tcpu_detectable\twait\twait_rounds\twait_change\twait_detectable\tothers" \
    > "$scratch/gate-benchmark.tsv"
base_work="$(work 1)"
base_wait="$(wait_for 1)"
for load in $loads; do
    if [ "$load" = busy ]; then
        sh -c 'while :; do :; done' &
        busy_pid=$!
    fi
    for mode in $modes; do
        baseline=""
        if [ "$mode" = folders ]; then
            experiment folders "$base_work" "$base_wait" "$base_work" "$base_wait" > "$scratch/base.toml"
            "$harness" run "$scratch/base.toml" --quiet --out "$scratch/out" > "$scratch/path" 2>/dev/null
            baseline="$(tail -1 "$scratch/path")"
        fi
        for factor in 1 1.05 1.10 1.5; do
            experiment "$mode" "$base_work" "$base_wait" "$(work "$factor")" "$(wait_for "$factor")" > "$scratch/run.toml"
            for run in $(seq 1 "$runs"); do
                code=0
                if [ -n "$baseline" ]; then
                    "$harness" run "$scratch/run.toml" --quiet --out "$scratch/out" --baseline "$baseline" \
                        > "$scratch/path" 2>/dev/null || code=$?
                else
                    "$harness" run "$scratch/run.toml" --quiet --out "$scratch/out" > "$scratch/path" 2>/dev/null || code=$?
                fi
                folder="$(tail -1 "$scratch/path")"
                if [ ! -f "$folder/compare.json" ]; then
                    echo "$load $mode $factor run $run: exit $code and no comparison" >&2
                    continue
                fi
                line="$(describe "$load" "$mode" "$factor" "$run" "$code" "$folder")"
                echo "$line" >> "$scratch/gate-benchmark.tsv"
                echo "$line" >&2
                rm -rf "$folder"
            done
        done
    done
    stop_busy
done

# The table: per load, mode and factor, how many runs regressed (a false alarm at 1, a detection above),
# were inconclusive or unchanged, per cell, and the rounds a decision took (median and range).
python3 - "$scratch/gate-benchmark.tsv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("| load | mode | slowdown | cell | regressed | improved | inconclusive | unchanged | rounds (median, range) | detectable (median) | others' CPU |")
print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |")
groups = {}
for r in rows:
    groups.setdefault((r["load"], r["mode"], r["factor"]), []).append(r)
for (load, mode, factor), group in groups.items():
    others = sorted(int(r["others"]) for r in group if r["others"] != "-")
    load_text = f"{others[len(others) // 2]}% ({others[0]}-{others[-1]}%)" if others else "-"
    for cell in ("cpu", "wait"):
        verdicts = [r[cell] for r in group]
        rounds = sorted(int(r[f"{cell}_rounds"]) for r in group)
        seen = [float(r[f"{cell}_detectable"]) for r in group if r[f"{cell}_detectable"] != "-"]
        seen_text = f"{statistics.median(seen):+.1f}%" if seen else "-"
        count = lambda v: sum(1 for x in verdicts if x == v)
        print(f"| {load} | {mode} | {factor}x | {cell} | {count('regressed')} | {count('improved')} | "
              f"{count('inconclusive')} | {count('unchanged')} | {statistics.median(rounds):g} ({rounds[0]}-{rounds[-1]}) | "
              f"{seen_text} | {load_text} |")
EOF
echo "every run: $scratch/gate-benchmark.tsv" >&2
