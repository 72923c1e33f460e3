#!/usr/bin/env bash
# One connection to a stock redis-server, `INCR counter` one command at a time, by six clients taking turns:
# `redis-benchmark -P 1 -c 1`, the harness's event loop (`async`, `current_thread`) and `sync`, and three
# clients with nothing of the harness: a tokio `current_thread` client (examples/bare_redis_client.rs), a
# bare epoll loop (examples/bare_epoll_client.rs), and the same loop making after each send the two
# `epoll_ctl` calls that redis-benchmark's event loop makes (`--rearm`). Every round runs each client once,
# the order rotating from round to round; each ratio is a client's rate over redis-benchmark's in the same
# round, and the script prints its median over the rounds with the quartiles.
#
# At one connection the client and the server wait for each other. Across two CPUs every request and every
# reply wakes an idle CPU, and on a virtual machine that wake-up is most of a round trip: the bare clients
# tell how much of what a client reaches there is its own cost and how much the moment it goes to sleep.
# docs/measurement.md has the figures.
#
#   cargo build --release --workspace
#   cargo build --release -p harness-sdk --features tokio --examples
#   scripts/bench-one-connection.sh [ROUNDS]      # default 15
#
# PLACEMENT=same|apart|free as in scripts/bench-load.sh (both on CPU 0; redis-server on CPU 1 and the clients
# on CPU 0; the kernel's choice). COMMANDS (default 30000) per client and round. CLIENTS picks some of
# "redis-benchmark async sync tokio epoll epoll-rearm" (redis-benchmark is always measured: the ratios are
# over it). RATES=FILE keeps every round's rates. Installs redis-server and redis-tools with apt-get when they
# are missing.
set -euo pipefail

rounds=${1:-15}
commands=${COMMANDS:-30000}
root=$(cd "$(dirname "$0")/.." && pwd)
release=$root/target/release
source "$root/scripts/bench-lib.sh"
bench_placement
[ -x "$release/harness" ] || { echo "build the harness first: cargo build --release --workspace" >&2; exit 1; }
for example in bare_redis_client bare_epoll_client; do
    [ -x "$release/examples/$example" ] || { echo "build the bare clients first: cargo build --release -p harness-sdk --features tokio --examples" >&2; exit 1; }
done
clients=(redis-benchmark)
for client in ${CLIENTS:-async sync tokio epoll epoll-rearm}; do
    case $client in
        redis-benchmark) ;;
        async | sync | tokio | epoll | epoll-rearm)
            [[ " ${clients[*]} " == *" $client "* ]] || clients+=("$client") ;;
        *) echo "CLIENTS: unknown client \`$client\`; expected some of async sync tokio epoll epoll-rearm" >&2; exit 2 ;;
    esac
done
missing=()
command -v redis-server > /dev/null || missing+=(redis-server)
command -v redis-benchmark > /dev/null || missing+=(redis-tools)
command -v python3 > /dev/null || missing+=(python3)
[ "$placement" = free ] || command -v taskset > /dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]}" >&2
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi

work=$(mktemp -d)
server=""
cleanup() {
    [ -z "$server" ] || { kill -TERM "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${server_on[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no > "$work/redis.log" &
server=$!
for _ in $(seq 100); do
    redis-cli -p "$port" ping > /dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$port" ping > /dev/null 2>&1 || { echo "redis-server did not answer within 10 s:" >&2; cat "$work/redis.log" >&2; exit 1; }

for executor in async sync; do
    options=""
    [ "$executor" = sync ] || options='[executors.async]
flavor = "current_thread"
concurrency = 1'
    cat > "$work/$executor.toml" <<TOML
[experiment]
name = "$executor"
repetitions = 1
warmup = 0

[workloads.w]
tasks = $commands
steps = [{ redis = { command = ["INCR", "counter"], url = "redis://127.0.0.1:$port/" } }]

[matrix]
executor = ["$executor"]
workers = [1]

$options
TOML
done

# The rate of one client, commands per second.
rate() { # CLIENT
    case $1 in
        redis-benchmark) "${client_on[@]}" redis-benchmark -p "$port" -P 1 -c 1 -n "$commands" --csv INCR counter |
            awk -F, 'NR == 2 { gsub(/"/, "", $2); print $2 }' ;;
        async | sync) "${client_on[@]}" "$release/harness" run --quiet --out "$work/results" "$work/$1.toml" > /dev/null
            awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i } NR > 1 { print $c["throughput_per_s"] }' \
                "$work/results/$1/latest/runs.csv" ;;
        tokio) "${client_on[@]}" "$release/examples/bare_redis_client" "$port" "$commands" ;;
        epoll) "${client_on[@]}" "$release/examples/bare_epoll_client" "$port" "$commands" ;;
        epoll-rearm) "${client_on[@]}" "$release/examples/bare_epoll_client" "$port" "$commands" --rearm ;;
    esac
}

echo "$(redis-benchmark --version 2>/dev/null || redis-server --version | cut -d' ' -f1-3), $(nproc) CPUs, placement $placement, $rounds rounds of $commands commands" >&2
: > "$work/rates.txt"
for round in $(seq "$rounds"); do
    declare -A got=()
    for k in "${!clients[@]}"; do
        client=${clients[$(((k + round) % ${#clients[@]}))]}
        got[$client]=$(rate "$client")
    done
    line="$round"
    for client in "${clients[@]}"; do line+=" ${got[$client]}"; done
    echo "$line" >> "$work/rates.txt"
    [ -z "${RATES:-}" ] || cp "$work/rates.txt" "$RATES"
    echo "round $round of $rounds done" >&2
done

python3 - "$work/rates.txt" "${clients[@]}" <<'PY'
import statistics, sys
names = {
    "redis-benchmark": "`redis-benchmark -P 1 -c 1`",
    "async": "harness, `async` (`current_thread`)",
    "sync": "harness, `sync`",
    "tokio": "bare tokio client",
    "epoll": "bare epoll loop",
    "epoll-rearm": "bare epoll loop, `--rearm`",
}
rows = [[float(x) for x in line.split()[1:]] for line in open(sys.argv[1]) if line.strip()]
print("| client | commands/s (median) | over redis-benchmark, same round: median (quartiles) |")
print("| --- | --- | --- |")
for i, name in enumerate(sys.argv[2:]):
    rates = [row[i] for row in rows]
    ratios = [row[i] / row[0] for row in rows]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(f"| {names[name]} | {statistics.median(rates):.0f} | {statistics.median(ratios):.3f} ({q[0]:.3f} to {q[2]:.3f}) |")
PY
