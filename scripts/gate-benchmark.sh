#!/usr/bin/env bash
# The benchmark of the CI gate in docs/ci.md: a baseline of experiments/quickstart.toml, RERUNS reruns of the
# same code against it, and two variants whose CPU workload does 1.5 times the work (once with the same peak
# memory, once with more). Prints one line per comparison: the exit code of `harness run --baseline`, other
# processes' share of the CPU, the machine's speed change (the speed anchor), and the regressions found.
#
#   scripts/gate-benchmark.sh [RERUNS]        # default 10; about 30 s per run of the quickstart
set -euo pipefail

reruns="${1:-10}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release --workspace --quiet
harness="$root/target/release/harness"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# One line per comparison, from the run's compare.json and environment.json.
describe() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
label, code, folder = sys.argv[1], sys.argv[2], sys.argv[3]
compare = json.load(open(f"{folder}/compare.json"))
environment = json.load(open(f"{folder}/environment.json"))
others = (environment.get("machine_load") or {}).get("others_cpu_share")
speed = compare.get("machine_speed")
regressed = [c for c in compare["changes"] if c["verdict"] == "regressed"]
kept = [c for c in compare["changes"] if c["reason"] in ("machine_speed", "fastest_within")]
def short(c):
    return f'{c["cell"]} {c["metric"]} {100 * (c["change"] or 0):+.0f}%'
print(f"{label:<22} exit {code}  others {100 * others if others is not None else float('nan'):4.1f}%  "
      f"machine {100 * speed if speed is not None else float('nan'):+5.1f}%  "
      f"regressions {len(regressed):2}  kept by fastest run or anchor {len(kept):2}"
      + ("".join(f"\n    regressed: {short(c)}" for c in regressed[:4])))
EOF
}

run() {
    local label="$1" file="$2" code=0
    "$harness" run "$file" --quiet --out "$scratch/out" --baseline "$baseline" > "$scratch/path" 2> "$scratch/err" || code=$?
    describe "$label" "$code" "$(tail -1 "$scratch/path")"
}

"$harness" run experiments/quickstart.toml --quiet --out "$scratch/out" > "$scratch/path"
baseline="$(tail -1 "$scratch/path")"
echo "baseline: others $(python3 -c "import json,sys; print(round(100 * json.load(open(sys.argv[1]))['machine_load']['others_cpu_share'], 1))" "$baseline/environment.json")%"

for i in $(seq 1 "$reruns"); do
    run "unchanged rerun $i" experiments/quickstart.toml
done

# The CPU workload 1.5 times the work: 4 MiB then 2 MiB more (the same peak memory), and 6 MiB (more memory).
sed 's/steps = \[{ compute = "4MiB" }\]/steps = [{ compute = "4MiB" }, { compute = "2MiB" }]/' \
    experiments/quickstart.toml > "$scratch/quickstart-cpu-1.5x-time.toml"
sed 's/compute = "4MiB"/compute = "6MiB"/' experiments/quickstart.toml > "$scratch/quickstart-cpu-1.5x.toml"
grep -q '"2MiB"' "$scratch/quickstart-cpu-1.5x-time.toml" && grep -q '"6MiB"' "$scratch/quickstart-cpu-1.5x.toml"
run "4 MiB + 2 MiB (1.5x)" "$scratch/quickstart-cpu-1.5x-time.toml"
run "6 MiB (1.5x)" "$scratch/quickstart-cpu-1.5x.toml"
