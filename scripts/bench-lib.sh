# Sourced by the scripts that time the harness against a plain program (bench-overhead.sh, bench-waits.sh,
# bench-speedup.sh, bench-per-run.sh): building, one-cell experiment files, reading a run's run_s, timing a
# command, and the table of ratios with their spread; and where the load scripts (bench-load.sh,
# bench-one-connection.sh) place servers and clients. Call `bench_start` first; it sets `root`, `harness`,
# `examples` and `work` (a folder removed on exit), and notes the machine's load for `bench_load`.
#
# With BASELINE=PATH, a `harness` binary of another build with its executor plugins beside it (say a copy
# of target/release of the commit before a change), the scripts of one figure time it too, in the same
# rounds, and print its ratio next to this build's: a change's before and after under the same load.

# Where the servers and clients of a load run: PLACEMENT=same puts both on CPU 0 alone, apart the servers on
# CPU 1 and the clients on CPU 0, free (the default) leaves it to the kernel. Sets `placement` and the
# commands to prefix, `client_on` and `server_on` (arrays); exits 2 on a placement it does not know.
bench_placement() {
    placement=${PLACEMENT:-free}
    case $placement in
        free) client_on=(); server_on=() ;;
        same) client_on=(taskset -c 0); server_on=(taskset -c 0) ;;
        apart) client_on=(taskset -c 0); server_on=(taskset -c 1) ;;
        *) echo "PLACEMENT=$placement: expected free, same or apart" >&2; exit 2 ;;
    esac
    [ "$placement" != apart ] || [ "$(nproc)" -ge 2 ] || { echo "PLACEMENT=apart needs two CPUs; this machine has $(nproc)" >&2; exit 2; }
}

bench_start() {
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cd "$root"
    # One build of everything, examples included: two builds would resolve features apart (the examples'
    # dev-dependencies) and each would rebuild the harness the other built.
    cargo build --release --workspace --lib --bins --examples --quiet
    harness=$root/target/release/harness
    examples=$root/target/release/examples
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # How busy the rest of the machine was meanwhile.
    source "$root/scripts/cpu-share.sh"
    others_start "$work"
    load_before=$(cut -d' ' -f1 /proc/loadavg)
}

# The machine's load while the script measured: call in the script's own shell, never in $(...).
bench_load() {
    others_share "$work"
    echo "other processes used $(printf %.0f "$(echo "100 * $others" | bc -l)")% of the machine's CPU time" \
        "meanwhile; load average $load_before at the start, $(cut -d' ' -f1 /proc/loadavg) at the end" \
        "($(nproc) CPUs)"
}

# experiment NAME REPETITIONS TASKS STEPS EXECUTOR [OPTIONS]: a one-cell experiment file, no warmup.
experiment() {
    cat > "$work/$1.toml" <<EOF
[experiment]
name = "$1"
repetitions = $2
warmup = 0
seed = 1

[workloads.w]
tasks = $3
steps = $4

[matrix]
include = [{ executor = "$5"${6:+, $6} }]
EOF
}

# The run_s of one harness run of experiment NAME, by the harness binary BIN (default: this build's).
harness_run_s() {
    "${2:-$harness}" run --quiet --out "$work/results" "$work/$1.toml" > /dev/null
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "run_s") c = i } NR == 2 { print $c }' \
        "$work/results/$1/latest/runs.csv"
}
# The run_s a plain program prints.
anchor_run_s() { "$@" | awk '$1 == "run_s" { print $2 }'; }
# Seconds of wall time of a command, its output discarded.
wall_s() {
    local start end
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s%N)
    echo "($end - $start) / 1000000000" | bc -l
}
# The smaller of two numbers, the first of which may be empty.
fastest() { if [[ -z $1 ]] || (( $(echo "$2 < $1" | bc -l) )); then echo "$2"; else echo "$1"; fi; }
# The marginal cost of one run: (wall of 600 runs - wall of 30) / 570.
per_run() { echo "($2 - $1) / 570" | bc -l; }

# ROUNDS rounds of one measure of each side (the anchor first, then this build, then `base` when BASELINE
# is set), each round starting with another side so that none always runs after the same one; `side NAME`
# measures one. Prints a line per round, `LABEL anchor ours base`, for `ratios`.
alternate() {
    local rounds=$1 label=$2 anchor=$3
    local sides=("$anchor" ours ${BASELINE:+base})
    for round in $(seq "$rounds"); do
        declare -A took=()
        for i in "${!sides[@]}"; do
            local s=${sides[(i + round) % ${#sides[@]}]}
            took[$s]=$(side "$s")
        done
        echo "$label ${took[$anchor]} ${took[ours]} ${took[base]:-}"
        rm -rf "$work/results"
    done
}

# ratios FILE WHAT: FILE has lines `NAME ANCHOR OURS [BASELINE]`, one a round. For each NAME, the anchor's
# and the harness's median with their range, and the ratio OURS / ANCHOR of each round: its median,
# quartiles and range; then the same of the baseline build, when there is one. WHAT, lines of
# `NAME|figure|anchor|ours|unit`, names them (unit: s, ms or x), in order.
ratios() {
    python3 - "$1" "$2" <<'EOF'
import statistics, sys
rows, what = {}, {}
for line in open(sys.argv[1]):
    name, anchor, *sides = line.split()
    rows.setdefault(name, []).append((float(anchor), *map(float, sides)))
for line in sys.argv[2].strip().splitlines():
    name, figure, anchor, ours, unit = line.split("|")
    what[name] = (figure, anchor, ours, unit)
def show(values, unit):
    scale = 1000 if unit == "ms" else 1
    suffix = {"s": " s", "ms": " ms", "x": ""}[unit]
    v = sorted(x * scale for x in values)
    return f"{statistics.median(v):.4g}{suffix} ({v[0]:.4g} to {v[-1]:.4g})"
def quartiles(v):
    if len(v) < 4:
        return v[0], v[-1]
    q = statistics.quantiles(v, n=4)
    return q[0], q[2]
print("| figure | anchor | median (min to max) | harness | median (min to max) | ratio of each round: median | quartiles | min to max | rounds |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for name, (figure, anchor, ours, unit) in what.items():
    if name not in rows:
        continue
    a = [row[0] for row in rows[name]]
    for side, label in [(1, ours), (2, f"{ours}, baseline")]:
        if any(len(row) <= side for row in rows[name]):
            continue
        o = [row[side] for row in rows[name]]
        r = sorted(row[side] / row[0] for row in rows[name])
        q1, q3 = quartiles(r)
        print(f"| {figure} | {anchor} | {show(a, unit)} | {label} | {show(o, unit)} | {statistics.median(r):.3f} "
              f"| {q1:.3f} to {q3:.3f} | {r[0]:.3f} to {r[-1]:.3f} | {len(r)} |")
EOF
}
